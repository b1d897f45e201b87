//! One writer per library: the lock every writer of a data folder holds.
//!
//! Indexing appends store rows after the last committed row the catalog
//! knows of; two writers at once would append at the same offsets. So every
//! writer (`strata index`, the window's indexer, any future import) first
//! takes an exclusive lock on `<data folder>/writer.lock` and keeps it until
//! it is done. The lock is the operating system's advisory file lock
//! (`std::fs::File::lock`: `flock` on Unix, `LockFileEx` on Windows), so the
//! OS drops it when the process dies, even by `kill -9`: a lock is never
//! stale. The holder writes its pid into the file for messages and banners.
//!
//! Readers (search, the map, the probe, the window's browsing) never take
//! it: SQLite's WAL and the append-only store let them read while a writer
//! commits. This module only locks; it does not know what the writer writes.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::storage::data_dir::DataDir;

/// How often a cancellable wait asks again for the lock (and its caller whether to go on waiting).
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Held while a process writes the library in a data folder; released by the OS when the process dies.
#[derive(Debug)]
pub struct WriterLock {
    /// The open lock file; closing it (on drop or process death) releases the lock.
    _file: File,
}

/// Whether to wait for another writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Block until the other writer is done.
    Wait,
    /// Fail at once with [`LockError::Busy`].
    NoWait,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it (and `NoWait` was asked for).
    #[error("another Strata{} is indexing this library; try again when it has finished", pid_text(*.pid))]
    Busy {
        /// Its pid, when it could be read from the lock file.
        pid: Option<u32>,
    },
    /// The lock file could not be created, opened or locked.
    #[error("could not lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// ` (pid N)` when the pid is known, for messages.
fn pid_text(pid: Option<u32>) -> String {
    pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
}

impl WriterLock {
    /// Takes the exclusive lock on the data folder's [`DataDir::writer_lock_path`], calling `on_wait(holder_pid)` once before blocking.
    pub fn acquire(data_dir: &DataDir, wait: LockWait, on_wait: &mut dyn FnMut(Option<u32>)) -> Result<WriterLock, LockError> {
        let path = data_dir.writer_lock_path();
        let file = open_lock_file(data_dir)?;
        if try_lock(&file, &path)? {
            return Self::held(file, &path);
        }
        let pid = read_pid(&path);
        if wait == LockWait::NoWait {
            return Err(LockError::Busy { pid });
        }
        on_wait(pid);
        file.lock().map_err(|source| LockError::Io { path: path.clone(), source })?;
        Self::held(file, &path)
    }

    /// Like [`WriterLock::acquire`] with [`LockWait::Wait`], but asks `keep_waiting()` every 200 ms
    /// while another writer holds the lock and gives up (`Ok(None)`) when it says no: a
    /// waiting indexer can be cancelled, and can watch the other writer's commits meanwhile.
    pub fn acquire_unless(
        data_dir: &DataDir,
        on_wait: &mut dyn FnMut(Option<u32>),
        keep_waiting: &mut dyn FnMut() -> bool,
    ) -> Result<Option<WriterLock>, LockError> {
        let path = data_dir.writer_lock_path();
        let file = open_lock_file(data_dir)?;
        let mut told = false;
        loop {
            if try_lock(&file, &path)? {
                return Self::held(file, &path).map(Some);
            }
            if !told {
                told = true;
                on_wait(read_pid(&path));
            }
            if !keep_waiting() {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Takes it only if free.
    pub fn try_acquire(data_dir: &DataDir) -> Result<Option<WriterLock>, LockError> {
        let path = data_dir.writer_lock_path();
        let file = open_lock_file(data_dir)?;
        if try_lock(&file, &path)? { Self::held(file, &path).map(Some) } else { Ok(None) }
    }

    /// The pid of the process holding the lock now, if any (for banners).
    pub fn holder(data_dir: &DataDir) -> Option<u32> {
        let path = data_dir.writer_lock_path();
        let file = File::open(&path).ok()?;
        // A shared probe: if it can be had, nobody writes. It is dropped at
        // once, and being shared it never makes a reader look like a writer to another prober.
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => read_pid(&path),
            Err(TryLockError::Error(_)) => None,
        }
    }

    /// Records this process as the holder; the lock is already taken.
    fn held(mut file: File, path: &Path) -> Result<WriterLock, LockError> {
        let io = |source| LockError::Io { path: path.to_path_buf(), source };
        // The pid is only for messages: a stale one left by a killed holder
        // is overwritten here, and one that fails to write only loses the pid.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(WriterLock { _file: file })
    }
}

/// Opens (creating) the lock file without truncating it: a waiting process
/// must not erase the pid its holder wrote.
fn open_lock_file(data_dir: &DataDir) -> Result<File, LockError> {
    let path = data_dir.writer_lock_path();
    std::fs::create_dir_all(data_dir.root()).map_err(|source| LockError::Io { path: path.clone(), source })?;
    OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(|source| LockError::Io { path, source })
}

/// `Ok(true)` when the lock was taken, `Ok(false)` when another holds it.
fn try_lock(file: &File, path: &Path) -> Result<bool, LockError> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(source)) => Err(LockError::Io { path: path.to_path_buf(), source }),
    }
}

/// The pid the holder wrote, if the file holds one (it may be mid-write or, on Windows, unreadable).
fn read_pid(path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // flock locks belong to an open file, so two opens in one process
    // contend like two processes would.

    #[test]
    fn a_second_writer_is_refused_or_told_while_the_first_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::at(tmp.path().join("data"));
        let first = WriterLock::acquire(&data, LockWait::NoWait, &mut |_| panic!("the lock was free")).unwrap();
        assert_eq!(WriterLock::holder(&data), Some(std::process::id()));
        assert!(WriterLock::try_acquire(&data).unwrap().is_none());
        match WriterLock::acquire(&data, LockWait::NoWait, &mut |_| {}) {
            Err(LockError::Busy { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Busy, got {other:?}"),
        }
        let busy = LockError::Busy { pid: Some(42) }.to_string();
        assert_eq!(busy, "another Strata (pid 42) is indexing this library; try again when it has finished");

        // A cancellable wait reports the holder once and gives up when told.
        let mut told = Vec::new();
        let mut asked = 0;
        let waited = WriterLock::acquire_unless(&data, &mut |pid| told.push(pid), &mut || {
            asked += 1;
            asked < 3
        })
        .unwrap();
        assert!(waited.is_none());
        assert_eq!((told, asked), (vec![Some(std::process::id())], 3));

        drop(first);
        assert_eq!(WriterLock::holder(&data), None);
        let second = WriterLock::try_acquire(&data).unwrap();
        assert!(second.is_some());
    }

    #[test]
    fn a_blocked_writer_takes_the_lock_when_the_holder_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::at(tmp.path());
        let first = WriterLock::try_acquire(&data_dir).unwrap().unwrap();
        let (told_sender, told) = crossbeam_channel::bounded(1);
        let root = data_dir.clone();
        let waiter = std::thread::Builder::new()
            .name("second-writer".into())
            .spawn(move || {
                WriterLock::acquire(&root, LockWait::Wait, &mut |pid| told_sender.send(pid).unwrap()).map(|_| std::process::id())
            })
            .unwrap();
        // The waiter says it waits before it blocks; only then is the first lock dropped.
        assert_eq!(told.recv().unwrap(), Some(std::process::id()));
        drop(first);
        assert_eq!(waiter.join().unwrap().unwrap(), std::process::id());
    }
}

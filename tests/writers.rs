//! One writer per library, readers always: concurrent `strata index` runs on
//! one data folder, a writer killed with `kill -9` while another waits, and
//! a write failure (a file-size limit standing in for a full disk) in the
//! middle of a run, and the window while another process indexes. The
//! indexing tests end by comparing with a sequential run.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use strata::storage::catalog::Catalog;
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use strata::storage::writer_lock::WriterLock;
use strata::ui::{Settings, StrataApp};
use support::*;

/// What a waiting writer prints (after its optional ` (pid N)`).
const WAITING: &str = "is indexing this library; waiting…";

/// `tracks` WAV files in `dir`, each a different tone (`first` numbers them
/// apart across folders), every other one with a pulse.
fn write_folder(dir: &Path, first: usize, tracks: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let rate = 22_050;
    for i in first..first + tracks {
        let mut signal = tone(90.0 * (1.0 + i as f32 * 0.21), rate, 9.0);
        if i % 2 == 1 {
            let period = rate as usize * 60 / (70 + 7 * i);
            for (n, s) in signal.iter_mut().enumerate() {
                if n % period < 400 {
                    *s += 0.4 * (1.0 - (n % period) as f32 / 400.0) * ((n as f32 * 0.9).sin());
                }
            }
        }
        write_wav(&dir.join(format!("{i:02} Track.wav")), &signal, 1, rate);
    }
    dir.to_path_buf()
}

fn index_command(data: &Path, music: &Path, extra: &[&str]) -> Command {
    let mut command = strata_bin();
    command.arg("--data-dir").arg(data).args(["index", "--json", "--jobs", "1"]).args(extra).arg(music);
    command
}

fn index(data: &Path, music: &Path) -> serde_json::Value {
    let output = index_command(data, music, &[]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A running `strata index`, killed if the test ends early: a writer frozen
/// with SIGSTOP must not outlive a failed test.
struct Running(Option<Child>);

impl Running {
    /// Waits for it to end and collects its output.
    fn finish(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().unwrap()
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_index(data: &Path, music: &Path) -> Running {
    Running(Some(index_command(data, music, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()))
}

/// The child's stderr, line by line, from a named reader thread.
fn stderr_lines(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = bounded(256);
    std::thread::Builder::new()
        .name("child-stderr".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    lines
}

/// Waits for the first line containing `text`; panics with what came instead.
fn wait_for_line(lines: &Receiver<String>, text: &str) -> String {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.contains(text) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line with {text:?} ({e}); stderr so far: {seen:#?}"),
        }
    }
}

fn strata_output(data: &Path, args: &[&str]) -> Output {
    strata_bin().arg("--data-dir").arg(data).args(args).output().unwrap()
}

/// `strata neighbours --all --json`, one line per track, sorted by query.
fn neighbours(data: &Path) -> Vec<serde_json::Value> {
    let output = strata_output(data, &["neighbours", "--all", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    lines.sort_by(|a, b| a["query"].as_str().cmp(&b["query"].as_str()));
    lines
}

fn assert_same_vectors(expected: &Path, actual: &Path) {
    let (expected, actual) = (vectors_by_path(expected), vectors_by_path(actual));
    assert_eq!(expected.iter().map(|(p, _)| p).collect::<Vec<_>>(), actual.iter().map(|(p, _)| p).collect::<Vec<_>>());
    for ((path, a), (_, b)) in expected.iter().zip(&actual) {
        for (la, lb) in a.iter().zip(b) {
            let diff = la.iter().zip(lb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-2, "{}: vectors differ by {diff}", path.display());
        }
    }
}

/// Tracks committed so far, polled read-only (0 until the writer has made
/// the catalog): `Catalog::open` would create or migrate it, racing the writer.
fn committed_tracks(data: &Path) -> usize {
    let Ok(connection) =
        rusqlite::Connection::open_with_flags(DataDir::at(data).catalog_path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    let _ = connection.busy_timeout(Duration::from_secs(10));
    connection.query_row("SELECT COUNT(*) FROM analyses WHERE status = 'done'", [], |r| r.get::<_, i64>(0)).map_or(0, |n| n as usize)
}

/// One analysis per file, each on its own store row.
fn assert_no_duplicates(data: &Path, expected_tracks: usize) {
    let catalog = Catalog::open(&DataDir::at(data).catalog_path()).unwrap();
    let analysed = catalog.analysed_tracks("musicnn").unwrap();
    let mut paths: Vec<&Path> = analysed.iter().map(|(t, _)| t.path.as_path()).collect();
    let mut rows: Vec<u64> = analysed.iter().map(|(_, a)| a.store_row).collect();
    paths.sort();
    paths.dedup();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!((paths.len(), rows.len(), analysed.len()), (expected_tracks, expected_tracks, expected_tracks));
    assert_eq!(catalog.track_paths().unwrap().len(), expected_tracks, "a catalog row without its analysis");
    assert!(catalog.failures("musicnn").unwrap().is_empty());
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal} failed");
}

#[test]
fn two_writers_at_once_end_with_the_neighbours_of_a_sequential_run() {
    let tmp = tempfile::tempdir().unwrap();
    let folders = [write_folder(&tmp.path().join("a"), 0, 6), write_folder(&tmp.path().join("b"), 6, 6)];
    let data = tmp.path().join("data");

    // Both start at the same moment; the lock lets one through and the other waits.
    let children: Vec<Running> = folders.iter().map(|music| spawn_index(&data, music)).collect();
    let outputs: Vec<Output> = children.into_iter().map(Running::finish).collect();
    for output in &outputs {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(summary["indexed"], 6, "{summary}");
    }
    let waited: Vec<bool> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).contains(WAITING)).collect();

    // The same two runs one after the other, the one that went first first.
    let reference = tmp.path().join("reference");
    let second = waited.iter().position(|&w| w).unwrap_or(1);
    index(&reference, &folders[1 - second]);
    index(&reference, &folders[second]);
    let expected = neighbours(&reference);
    assert_eq!(expected.len(), 12);
    assert_eq!(neighbours(&data), expected);
    assert_same_vectors(&reference, &data);
    assert_no_duplicates(&data, 12);
    assert_eq!(waited.iter().filter(|&&w| w).count(), 1, "exactly one writer waits: {waited:?}");

    // While another process holds the lock, --no-wait fails at once and writes nothing.
    let more = write_folder(&tmp.path().join("c"), 12, 2);
    let lock = WriterLock::try_acquire(&DataDir::at(&data)).unwrap().expect("nobody writes now");
    let refused = index_command(&data, &more, &["--no-wait"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains(&format!("another Strata (pid {}) is indexing this library", std::process::id())), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Without it the run waits, says so, and goes on when the lock is let go.
    let mut waiting = spawn_index(&data, &more);
    let lines = stderr_lines(&mut waiting);
    let line = wait_for_line(&lines, WAITING);
    assert!(line.contains(&format!("(pid {})", std::process::id())), "{line}");
    assert_eq!(committed_tracks(&data), 12, "a waiting writer wrote");
    drop(lock);
    let output = waiting.finish();
    assert!(output.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_no_duplicates(&data, 14);
}

#[test]
fn a_writer_killed_while_another_waits_hands_over_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let first = write_folder(&tmp.path().join("a"), 0, 60);
    let second = write_folder(&tmp.path().join("b"), 60, 6);
    let data = tmp.path().join("data");

    // Writer 1 runs until its first commit, then is frozen holding the lock,
    // so that writer 2 surely waits and the readers surely read mid-run.
    let mut writer_1 = spawn_index(&data, &first);
    let mut polls = 0;
    while committed_tracks(&data) == 0 {
        assert!(writer_1.try_wait().unwrap().is_none(), "writer 1 ended before its first commit");
        polls += 1;
        assert!(polls < 6_000, "writer 1 committed nothing in 10 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&writer_1, "-STOP");
    let committed_by_1 = committed_tracks(&data);
    assert!(committed_by_1 < 60, "writer 1 finished before it could be stopped: give it more files");

    let mut writer_2 = spawn_index(&data, &second);
    let lines = stderr_lines(&mut writer_2);
    let line = wait_for_line(&lines, WAITING);
    assert!(line.contains(&format!("(pid {})", writer_1.id())), "{line}");

    // Readers never wait for writers.
    let during = neighbours(&data);
    assert_eq!(during.len(), committed_by_1);
    let query = during[0]["query"].as_str().unwrap().to_string();
    let similar = strata_output(&data, &["similar", &query, "--json"]);
    assert!(similar.status.success(), "{}", String::from_utf8_lossy(&similar.stderr));

    signal(&writer_1, "-KILL");
    assert!(!writer_1.wait().unwrap().success());
    let output = writer_2.finish();
    assert!(output.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["indexed"], 6, "{summary}");
    // Writer 1's folder again: it does only what the killed run did not commit.
    let resumed = index(&data, &first);
    assert_eq!(
        (resumed["indexed"].as_u64(), resumed["unchanged"].as_u64()),
        (Some(60 - committed_by_1 as u64), Some(committed_by_1 as u64))
    );

    let reference = tmp.path().join("reference");
    index(&reference, &first);
    index(&reference, &second);
    assert_same_vectors(&reference, &data);
    assert_no_duplicates(&data, 66);
}

fn library_len(app: &StrataApp) -> usize {
    app.library().map_or(0, |l| l.snapshot.len())
}

#[test]
fn the_window_browses_while_another_process_indexes_then_rescans() {
    let tmp = tempfile::tempdir().unwrap();
    let own = write_folder(&tmp.path().join("a"), 0, 6);
    let other = write_folder(&tmp.path().join("b"), 6, 30);
    let data = tmp.path().join("data");
    index(&data, &own);

    // Another process indexes, frozen while it holds the lock (before its
    // first commit), so that the window surely finds the library taken.
    let mut writer = spawn_index(&data, &other);
    let mut polls = 0;
    while WriterLock::holder(&DataDir::at(&data)) != Some(writer.id()) {
        assert!(writer.try_wait().unwrap().is_none(), "the other writer ended early");
        polls += 1;
        assert!(polls < 6_000, "the other writer never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&writer, "-STOP");
    let committed_before = committed_tracks(&data);

    let data_dir = DataDir::resolve(Some(&data)).unwrap();
    let mut harness =
        Harness::builder().with_size([1440.0, 900.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    // The start-up rescan waits; the window browses what is committed and says why it does not index.
    support::step_until(&mut harness, "the banner", |app| app.writer_banner().is_some() && library_len(app) == committed_before);
    let banner = harness.state().writer_banner().unwrap();
    assert!(banner.contains(&format!("Another Strata (pid {}) is indexing this library", writer.id())), "{banner}");
    assert!(harness.query_by_label_contains("browsing read-only").is_some());

    // The other writer commits more; the waiting window shows it.
    signal(&writer, "-CONT");
    let mut polls = 0;
    while committed_tracks(&data) == committed_before {
        polls += 1;
        assert!(polls < 6_000, "the other writer committed nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&writer, "-STOP");
    let committed_meanwhile = committed_tracks(&data);
    support::step_until(&mut harness, "the other writer's commits", |app| library_len(app) == committed_meanwhile);
    assert!(harness.state().writer_banner().is_some());

    // A file added to the window's own folder now is left to the window's
    // rescan, which starts when the other writer lets go.
    write_folder(&own, 36, 1);
    signal(&writer, "-CONT");
    assert!(writer.wait().unwrap().success());
    support::step_until(&mut harness, "its own rescan", |app| library_len(app) == 37 && !app.is_busy());
    assert!(harness.state().writer_banner().is_none());
    assert_no_duplicates(&data, 37);
}

#[cfg(unix)]
#[test]
fn a_write_failure_mid_run_stops_cleanly_and_the_next_run_finishes() {
    use std::os::unix::process::CommandExt;

    let tmp = tempfile::tempdir().unwrap();
    let music = write_folder(&tmp.path().join("music"), 0, 32);
    let data = tmp.path().join("data");
    index(&data, &music);
    write_folder(&music, 32, 24);
    let reference = tmp.path().join("reference");
    index(&reference, &music);

    // No file may grow past the largest store file's present size: the run
    // analyses the new tracks and fails when it writes their vectors. (The
    // catalog's WAL, timed by commits, would fail at a moment that varies.)
    let store_files = walk(&data.join("vectors"));
    let limit_bytes = store_files.iter().map(|p| std::fs::metadata(p).unwrap().len()).max().unwrap() + 1;
    // SQLite's shared-memory file needs 32 KiB; a smaller limit fails the run on opening the catalog.
    assert!(limit_bytes > 40_000, "too few tracks for a {limit_bytes}-byte limit");
    let mut command = index_command(&data, &music, &[]);
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
    #[allow(unsafe_code, reason = "pre_exec is unsafe: it runs in the forked child before exec")]
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: limit_bytes as libc::rlim_t, rlim_max: limit_bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A process killed by SIGXFSZ would have no exit code.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the vector store") && stderr.contains("file-size limit"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The catalog still points only at whole vectors: the snapshot opens, every vector is finite.
    let snapshot = LibrarySnapshot::load(&DataDir::at(&data), "musicnn").unwrap();
    assert_eq!(snapshot.len(), 32);
    for layer in 0..snapshot.layer_names().len() {
        assert!(snapshot.layer_matrix(layer).iter().all(|v| v.is_finite()));
    }
    drop(snapshot);
    assert_no_duplicates(&data, 32);

    let resumed = index(&data, &music);
    assert_eq!((resumed["indexed"].as_u64(), resumed["unchanged"].as_u64()), (Some(24), Some(32)));
    assert_same_vectors(&reference, &data);
    assert_no_duplicates(&data, 56);
}

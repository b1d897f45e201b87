//! The one way to write a library: the writer lock, the catalog and the store, committed in order.
//!
//! [`LibraryWriter::open`] takes the data folder's [`WriterLock`] (held until
//! the writer is dropped) and opens the catalog; [`LibraryWriter::for_model`]
//! then opens one model's store after the rows the catalog says are
//! committed, giving a [`TrackWriter`]. Tracks are staged — a finished track's
//! vectors are appended to the store at once, with their owner key and
//! checksum; a failure waits in memory — and [`TrackWriter::commit`] makes a
//! batch durable: the store is fsynced first, then one catalog transaction
//! points at the rows. On failure nothing of the batch becomes visible: the
//! catalog keeps pointing only at rows synced before, and the store drops the
//! rest when it is next opened. This module decides nothing about what to
//! analyse; the indexer does.

use std::path::{Path, PathBuf};

use crate::analysis::descriptors::Descriptors;
use crate::model::ModelManifest;
use crate::storage::catalog::{Catalog, FileStamp, TrackTags, path_bytes};
use crate::storage::data_dir::DataDir;
use crate::storage::store::{AppendedRows, StoreLayout, StoreWriter, owner_key};
use crate::storage::writer_lock::{LockError, LockWait, WriterLock};

/// Why a library could not be written. Messages name a full disk plainly.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The writer lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The catalog file could not be opened.
    #[error("cannot open the catalog {} (is the disk full or read-only?): {error}", path.display())]
    OpenCatalog {
        /// The catalog file.
        path: PathBuf,
        /// What SQLite said.
        error: rusqlite::Error,
    },
    /// Writing store or catalog files failed.
    #[error("cannot write {what} in {}: {} ({error})", place.display(), write_cause(error))]
    Write {
        /// What was being written.
        what: &'static str,
        /// Where.
        place: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The catalog transaction of a batch did not commit.
    #[error("cannot write the catalog (is the disk full?): {0}")]
    CommitCatalog(rusqlite::Error),
    /// Another catalog statement failed.
    #[error(transparent)]
    Catalog(#[from] rusqlite::Error),
    /// The data folder could not be created.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The plain reason for a failed write.
fn write_cause(error: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => "the disk is full or a file-size limit was reached",
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => "Strata may not write there",
        _ => "a write failed",
    }
}

/// The writer of one data folder: holds its lock and its catalog.
pub struct LibraryWriter {
    data_dir: DataDir,
    catalog: Catalog,
    /// Held until the writer is dropped: the store appends after the rows the
    /// catalog says are committed, so no other writer may read that count meanwhile.
    _lock: WriterLock,
}

impl LibraryWriter {
    /// Takes the writer lock (`on_wait(holder_pid)` is called once if another
    /// process holds it) and opens the catalog, creating the data folder.
    /// With [`LockWait::Wait`], `keep_waiting()` is asked every 200 ms while
    /// waiting; `Ok(None)` when it says no.
    pub fn open(
        data_dir: &DataDir,
        wait: LockWait,
        on_wait: &mut dyn FnMut(Option<u32>),
        keep_waiting: &mut dyn FnMut() -> bool,
    ) -> Result<Option<Self>, WriterError> {
        let lock = match wait {
            LockWait::NoWait => WriterLock::acquire(data_dir, LockWait::NoWait, on_wait)?,
            LockWait::Wait => match WriterLock::acquire_unless(data_dir, on_wait, keep_waiting)? {
                Some(lock) => lock,
                None => return Ok(None),
            },
        };
        std::fs::create_dir_all(data_dir.root())?;
        let path = data_dir.catalog_path();
        let catalog = Catalog::open(&path).map_err(|error| WriterError::OpenCatalog { path, error })?;
        Ok(Some(Self { data_dir: data_dir.clone(), catalog, _lock: lock }))
    }

    /// The catalog, for the decisions made before writing.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Adds a library root.
    pub fn add_root(&self, root: &Path) -> Result<(), WriterError> {
        Ok(self.catalog.add_root(root)?)
    }

    /// Forgets tracks whose files are gone.
    pub fn remove_tracks(&mut self, track_ids: &[i64]) -> Result<(), WriterError> {
        Ok(self.catalog.remove_tracks(track_ids)?)
    }

    /// Writes tags read again for unchanged files (their analyses and
    /// descriptors are kept), in one transaction.
    pub fn refresh_tags(&mut self, files: &[(PathBuf, FileStamp, TrackTags)]) -> Result<(), WriterError> {
        let batch = self.catalog.batch()?;
        for (path, stamp, tags) in files {
            batch.upsert_track(path, *stamp, tags, None, None)?;
        }
        Ok(batch.commit()?)
    }

    /// Opens `manifest`'s store after the rows the catalog says are committed (dropping any
    /// later rows an interrupted run left), to stage tracks analysed with `sampling`.
    pub fn for_model(self, manifest: &ModelManifest, sampling: &str) -> Result<TrackWriter, WriterError> {
        let layout = StoreLayout::for_model(&self.data_dir, manifest);
        let (committed_rows, committed_window_rows) = self.catalog.committed_rows(&manifest.name)?;
        let store = StoreWriter::open(&layout, committed_rows, committed_window_rows)?;
        Ok(TrackWriter { library: self, store, layout, manifest: manifest.clone(), sampling: sampling.to_string(), staged: Vec::new() })
    }
}

/// A track analysed without trouble, as the catalog records it.
#[derive(Debug, Clone)]
pub struct AnalysedTrack {
    /// Its path, as reached from the root.
    pub path: PathBuf,
    /// Size and modification time when it was read.
    pub stamp: FileStamp,
    /// Its tags.
    pub tags: TrackTags,
    /// Whole-track duration.
    pub duration_s: f64,
    /// Its descriptors.
    pub descriptors: Descriptors,
    /// Start of each stored passage window.
    pub window_starts_s: Vec<f32>,
    /// Problems that did not stop its analysis.
    pub warnings: Vec<String>,
}

/// A track waiting for its batch commit.
enum Staged {
    Done { track: AnalysedTrack, rows: AppendedRows },
    Failed { path: PathBuf, stamp: FileStamp, tags: TrackTags, reason: String },
}

/// Stages and commits one model's tracks; owns the commit protocol.
pub struct TrackWriter {
    library: LibraryWriter,
    store: StoreWriter,
    layout: StoreLayout,
    manifest: ModelManifest,
    sampling: String,
    staged: Vec<Staged>,
}

impl TrackWriter {
    /// The store's shape.
    pub fn layout(&self) -> &StoreLayout {
        &self.layout
    }

    /// Tracks staged since the last commit.
    pub fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Appends `track`'s vectors (a vector per layer, the passage layer's
    /// windows) to the store, recorded as its own; not durable until [`TrackWriter::commit`].
    pub fn stage_track(&mut self, track: AnalysedTrack, layer_vectors: &[Vec<f32>], window_vectors: &[&[f32]]) -> Result<(), WriterError> {
        let owner = owner_key(&path_bytes(&track.path));
        let rows = self.store.append(owner, layer_vectors, window_vectors).map_err(|error| self.store_error(error))?;
        self.staged.push(Staged::Done { track, rows });
        Ok(())
    }

    /// Records that a file could not be analysed, and why.
    pub fn stage_failure(&mut self, path: PathBuf, stamp: FileStamp, tags: TrackTags, reason: String) {
        self.staged.push(Staged::Failed { path, stamp, tags, reason });
    }

    /// Makes the staged tracks durable: vectors first (fsync), then one
    /// catalog transaction. On failure nothing of the batch becomes visible.
    pub fn commit(&mut self) -> Result<(), WriterError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        self.store.sync().map_err(|error| self.store_error(error))?;
        let (name, version, sampling) = (&self.manifest.name, self.manifest.version, self.sampling.as_str());
        let batch = self.library.catalog.batch()?;
        for item in self.staged.drain(..) {
            match item {
                Staged::Done { track, rows } => {
                    let id = batch.upsert_track(&track.path, track.stamp, &track.tags, Some(track.duration_s), Some(&track.descriptors))?;
                    batch.record_done(id, name, version, sampling, track.stamp, &rows, &track.window_starts_s)?;
                    batch.record_warnings(id, name, &track.warnings)?;
                }
                Staged::Failed { path, stamp, tags, reason } => {
                    let id = batch.upsert_track(&path, stamp, &tags, None, None)?;
                    batch.record_failed(id, name, version, sampling, stamp, &reason)?;
                }
            }
        }
        batch.commit().map_err(WriterError::CommitCatalog)
    }

    fn store_error(&self, error: std::io::Error) -> WriterError {
        WriterError::Write { what: "the vector store", place: self.layout.dir.clone(), error }
    }
}

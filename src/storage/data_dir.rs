//! Where Strata keeps what it learns about a library.
//!
//! One folder holds the catalog, the vector store, the probe tables and
//! user-installed models: `--data-dir`, else `STRATA_DATA_DIR`, else the
//! platform data directory from `directories` (e.g. `~/.local/share/strata`).
//! [`DataDir`] is the one owner of every path inside it: modules receive a
//! `&DataDir` and ask it, so no file name is spelled twice. Strata never
//! writes into the user's music folders.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The resolved data folder, and the paths of everything Strata keeps in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves the data folder from an explicit path, the environment, or the platform default.
    pub fn resolve(explicit: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(path) = explicit {
            return Ok(Self::at(path));
        }
        if let Some(path) = std::env::var_os("STRATA_DATA_DIR").filter(|p| !p.is_empty()) {
            return Ok(Self { root: PathBuf::from(path) });
        }
        let dirs = directories::ProjectDirs::from("org", "Strata", "strata")
            .ok_or_else(|| anyhow::anyhow!("no home directory found; pass --data-dir or set STRATA_DATA_DIR"))?;
        Ok(Self { root: dirs.data_dir().to_path_buf() })
    }

    /// The data folder at `root`, as given.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite catalog ([`crate::storage::catalog`]).
    pub fn catalog_path(&self) -> PathBuf {
        self.root.join("catalog.sqlite")
    }

    /// The catalog's write-ahead log, where commits land until a checkpoint.
    pub fn catalog_wal_path(&self) -> PathBuf {
        self.root.join("catalog.sqlite-wal")
    }

    /// The vector store's folder, one subfolder per model ([`crate::storage::store`]).
    pub fn vectors_dir(&self) -> PathBuf {
        self.root.join("vectors")
    }

    /// The store folder of the model called `model`.
    pub fn model_store_dir(&self, model: &str) -> PathBuf {
        self.vectors_dir().join(model)
    }

    /// The probe table kept for `model` ([`crate::insight::library_probe`]).
    pub fn probe_cache_path(&self, model: &str) -> PathBuf {
        self.root.join(format!("probe-{model}.json"))
    }

    /// Where user-installed model folders live.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// The folder of the model `name` installed by `strata models install` ([`crate::model::install`]).
    pub fn installed_model_dir(&self, name: &str) -> PathBuf {
        self.models_dir().join(name)
    }

    /// Where installs build a model folder before renaming it into place, and hold their locks;
    /// a dot folder, so model discovery never sees a half-built model.
    pub fn model_staging_dir(&self) -> PathBuf {
        self.models_dir().join(".staging")
    }

    /// The folder one install process builds `name` in.
    pub fn model_install_staging_dir(&self, name: &str, pid: u32) -> PathBuf {
        self.model_staging_dir().join(format!("{name}-{pid}"))
    }

    /// The lock an install or removal of `name` holds.
    pub fn model_install_lock_path(&self, name: &str) -> PathBuf {
        self.model_staging_dir().join(format!("{name}.lock"))
    }

    /// Where checkpoints are downloaded ([`crate::model::install::hub`]), kept until their install succeeds.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// The download folder of hub repository `repo` at `revision`: `owner--name@revision`.
    pub fn checkpoint_download_dir(&self, repo: &str, revision: &str) -> PathBuf {
        self.downloads_dir().join(format!("{}@{revision}", repo.replace('/', "--")))
    }

    /// The folders searched for models, this folder's [`DataDir::models_dir`] among them ([`crate::model::model_search_dirs`]).
    pub fn model_search_dirs(&self) -> Vec<PathBuf> {
        crate::model::model_search_dirs(Some(&self.models_dir()))
    }

    /// The identification features of the library's files ([`crate::versions::cache`]).
    pub fn versions_cache_path(&self) -> PathBuf {
        self.root.join("versions-features.bin")
    }

    /// The other recordings last found in the library ([`crate::versions::found`]).
    pub fn versions_found_path(&self) -> PathBuf {
        self.root.join("versions-found.bin")
    }

    /// The search head of `layer` of `model` under the normalisation called
    /// `normalization`, fitted once and mapped after ([`crate::search::head_cache`]).
    pub fn search_head_path(&self, model: &str, layer: usize, normalization: &str) -> PathBuf {
        self.root.join("search-heads").join(model).join(format!("layer-{layer:02}-{normalization}.head"))
    }

    /// The lock every writer holds ([`crate::storage::writer_lock`]).
    pub fn writer_lock_path(&self) -> PathBuf {
        self.root.join("writer.lock")
    }
}

/// Replaces the file at `path` with `bytes` whole: written beside it under a
/// name of this process's own, synced, then renamed over it, so a reader (or
/// a process killed halfway) sees the old file or the new one, and two
/// processes writing at once each rename a complete file (the last one wins).
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_file_with(path, |out| out.write_all(bytes))
}

/// [`replace_file`] with the bytes streamed by `write`, for files too large
/// to hold twice in memory.
pub fn replace_file_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(format!(".{}-{}.tmp", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)));
    let temporary = path.with_file_name(name);
    let written = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    if written.is_ok() {
        remove_stale_temporaries(path);
    }
    written
}

/// How old a temporary of [`replace_file`] must be to count as left by a
/// process killed between writing and renaming (a write takes seconds).
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporaries of `path` ([`replace_file`]'s `NAME.PID-N.tmp`)
/// older than [`STALE_TEMPORARY`]: nothing else would, and each is as large
/// as the file. Failures are ignored; the next replacement tries again.
fn remove_stale_temporaries(path: &Path) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return };
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(middle) = file_name.to_str().and_then(|n| n.strip_prefix(name)?.strip_prefix('.')?.strip_suffix(".tmp")) else {
            continue;
        };
        let ours = middle
            .split_once('-')
            .is_some_and(|(pid, n)| [pid, n].iter().all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())));
        let old =
            entry.metadata().and_then(|m| m.modified()).ok().and_then(|at| at.elapsed().ok()).is_some_and(|age| age > STALE_TEMPORARY);
        if ours && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_removes_temporaries_a_killed_process_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.json");
        let aged = |name: &str, age_s: u64| {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age_s)).unwrap();
        };
        aged("probe.json.4242-0.tmp", 7200);
        aged("probe.json.4243-1.tmp", 10);
        aged("other.json.4242-0.tmp", 7200);
        aged("probe.json.notes.tmp", 7200);
        replace_file(&path, b"{}").unwrap();
        let left = |name: &str| dir.path().join(name).exists();
        assert!(!left("probe.json.4242-0.tmp"), "an hour-old temporary of the file is removed");
        assert!(left("probe.json.4243-1.tmp"), "one being written now is not");
        assert!(left("other.json.4242-0.tmp") && left("probe.json.notes.tmp"), "nor another file's or another name");
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
    }

    #[test]
    fn every_path_lies_in_the_data_folder_where_earlier_versions_kept_it() {
        let data_dir = DataDir::at("/data");
        let names = [
            data_dir.catalog_path(),
            data_dir.catalog_wal_path(),
            data_dir.model_store_dir("musicnn"),
            data_dir.probe_cache_path("musicnn"),
            data_dir.models_dir(),
            data_dir.writer_lock_path(),
            data_dir.versions_cache_path(),
            data_dir.versions_found_path(),
            data_dir.checkpoint_download_dir("m-a-p/MERT-v1-95M", "12af"),
            data_dir.model_install_staging_dir("mert-v1-95m", 7),
            data_dir.search_head_path("mert-v1-95m", 3, "center"),
        ];
        let names: Vec<_> = names.iter().map(|p| p.strip_prefix("/data").unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(
            names,
            [
                "catalog.sqlite",
                "catalog.sqlite-wal",
                "vectors/musicnn",
                "probe-musicnn.json",
                "models",
                "writer.lock",
                "versions-features.bin",
                "versions-found.bin",
                "downloads/m-a-p--MERT-v1-95M@12af",
                "models/.staging/mert-v1-95m-7",
                "search-heads/mert-v1-95m/layer-03-center.head"
            ]
        );
        assert_eq!(DataDir::resolve(Some(Path::new("/data"))).unwrap(), data_dir);
    }

    #[test]
    fn a_replaced_file_holds_the_new_bytes_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("file.bin");
        replace_file(&path, b"old").unwrap();
        replace_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }
}

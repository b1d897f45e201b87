//! Where Strata keeps what it learns about a library.
//!
//! One folder holds the catalog, the vector store, the probe tables and
//! user-installed models: `--data-dir`, else `STRATA_DATA_DIR`, else the
//! platform data directory from `directories` (e.g. `~/.local/share/strata`).
//! [`DataDir`] is the one owner of every path inside it: modules receive a
//! `&DataDir` and ask it, so no file name is spelled twice. Strata never
//! writes into the user's music folders.

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

    /// The folders searched for models, this folder's [`DataDir::models_dir`] among them ([`crate::model::model_search_dirs`]).
    pub fn model_search_dirs(&self) -> Vec<PathBuf> {
        crate::model::model_search_dirs(Some(&self.models_dir()))
    }

    /// The identification features of the library's files ([`crate::versions::cache`]).
    pub fn versions_cache_path(&self) -> PathBuf {
        self.root.join("versions-features.bin")
    }

    /// The lock every writer holds ([`crate::storage::writer_lock`]).
    pub fn writer_lock_path(&self) -> PathBuf {
        self.root.join("writer.lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        let names: Vec<_> = names.iter().map(|p| p.strip_prefix("/data").unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["catalog.sqlite", "catalog.sqlite-wal", "vectors/musicnn", "probe-musicnn.json", "models", "writer.lock"]);
        assert_eq!(DataDir::resolve(Some(Path::new("/data"))).unwrap(), data_dir);
    }
}

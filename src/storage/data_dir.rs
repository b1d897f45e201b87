//! Where Strata keeps what it learns about a library.
//!
//! One folder holds the catalog, the vector store and user-installed models:
//! `--data-dir`, else `STRATA_DATA_DIR`, else the platform data directory
//! from `directories` (e.g. `~/.local/share/strata`). Strata never writes into
//! the user's music folders.

use std::path::{Path, PathBuf};

/// The resolved data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves the data folder from an explicit path, the environment, or the platform default.
    pub fn resolve(explicit: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(path) = explicit {
            return Ok(Self { root: path.to_path_buf() });
        }
        if let Some(path) = std::env::var_os("STRATA_DATA_DIR").filter(|p| !p.is_empty()) {
            return Ok(Self { root: PathBuf::from(path) });
        }
        let dirs = directories::ProjectDirs::from("org", "Strata", "strata")
            .ok_or_else(|| anyhow::anyhow!("no home directory found; pass --data-dir or set STRATA_DATA_DIR"))?;
        Ok(Self { root: dirs.data_dir().to_path_buf() })
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where user-installed model folders live.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }
}

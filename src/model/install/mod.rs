//! Installing optional models (MERT-v1) from the Hugging Face hub or from a
//! checkpoint the user downloaded, converted to ONNX Runtime's layout in Rust.
//!
//! Install = acquire the checkpoint ([`hub`] or `--from`), read it
//! ([`checkpoint`]), check it against the architecture ([`config`]), write the
//! committed architecture-only graphs' weights and the manifest ([`convert`])
//! into a staging folder, check the variants' drift, then rename the folder
//! into place. Nothing else in Strata opens a network connection.
//!
//! Every path comes from [`DataDir`]: the model lands in
//! `models/<name>/`, is built in `models/.staging/<name>-<pid>/` (a dot folder
//! model discovery skips), and an install or removal of one name holds
//! `models/.staging/<name>.lock`, so two installs of the same model cannot
//! interleave. A failure or cancel deletes the staging folder; downloads stay
//! in `downloads/` (resumable) until an install from them succeeds.

pub mod catalogue;
pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod drift;
pub mod hub;

pub use catalogue::{InstallableModel, find, installable};

use crate::storage::data_dir::DataDir;
use convert::ConvertReport;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Why an install or a removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// No installable model has that name.
    #[error("no installable model called '{name}' (installable: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// The model is already installed.
    #[error("{name} is already installed in {}; `strata models remove {name}` first to install it again", .dir.display())]
    AlreadyInstalled {
        /// Its name.
        name: String,
        /// Its folder.
        dir: PathBuf,
    },
    /// Nothing called that is installed in the data folder.
    #[error("no model called '{name}' is installed in {} (installed there: {installed})", .dir.display())]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// The data folder's models folder.
        dir: PathBuf,
        /// The names that are installed there, or "none".
        installed: String,
    },
    /// The model ships with Strata (outside the data folder) and is not removed.
    #[error("{name} ships with Strata ({}) and cannot be removed", .dir.display())]
    Shipped {
        /// Its name.
        name: String,
        /// Where it is.
        dir: PathBuf,
    },
    /// Another process is installing or removing the same model.
    #[error("another install or removal of {name} is running (it holds {}); wait for it to finish", .lock.display())]
    Busy {
        /// The model.
        name: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// The download failed.
    #[error(transparent)]
    Hub(hub::HubError),
    /// `--from` points at nothing usable.
    #[error("{}: {reason}", .path.display())]
    Source {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint could not be read, or is not the architecture Strata's graphs implement.
    #[error("the checkpoint in {} cannot be installed: {reason}", .path.display())]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Converting the weights failed.
    #[error("converting the weights failed: {0}")]
    Convert(String),
    /// `cancel` was set; nothing was installed.
    #[error("install cancelled; nothing was installed (downloaded parts are kept to resume)")]
    Cancelled,
    /// A file or folder could not be written or removed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl From<hub::HubError> for InstallError {
    fn from(error: hub::HubError) -> Self {
        match error {
            hub::HubError::Cancelled => Self::Cancelled,
            other => Self::Hub(other),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io { path: path.to_path_buf(), source }
}

/// What an install is doing now, shared with the window or the progress bar; `cancel` stops it.
#[derive(Debug, Default)]
pub struct InstallProgress {
    /// The current stage, in words ("downloading model.safetensors", "converting", "checking int8").
    pub stage: Mutex<String>,
    /// Bytes (or steps) done in this stage.
    pub done: AtomicU64,
    /// Bytes (or steps) in this stage; 0 when unknown.
    pub total: AtomicU64,
    /// Set to stop the install; it then cleans up and returns an error.
    pub cancel: AtomicBool,
}

impl InstallProgress {
    /// Starts a stage: names it and zeroes its counts.
    pub fn set_stage(&self, stage: &str) {
        if let Ok(mut current) = self.stage.lock() {
            stage.clone_into(&mut current);
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
    }

    /// The current stage's name.
    pub fn stage(&self) -> String {
        self.stage.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn check_cancel(&self) -> Result<(), InstallError> {
        if self.cancel.load(Ordering::Relaxed) { Err(InstallError::Cancelled) } else { Ok(()) }
    }
}

/// Where the checkpoint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The Hugging Face hub (or `HF_ENDPOINT`), at the model's pinned revision.
    Hub,
    /// A checkpoint folder (`config.json` and a weights file) or a weights file with `config.json` beside it.
    Path(PathBuf),
}

/// What an install did.
#[derive(Debug)]
pub struct InstallReport {
    /// The installed model's folder.
    pub dir: PathBuf,
    /// The variants written, checked and kept.
    pub convert: ConvertReport,
    /// Bytes downloaded by this install (0 with `--from` or a finished earlier download).
    pub downloaded_bytes: u64,
    /// Wall time of the whole install.
    pub seconds: f64,
}

/// The checkpoint an install converts: where it is and where it came from.
#[derive(Debug)]
struct Acquired {
    /// The folder or file handed to the checkpoint reader.
    path: PathBuf,
    /// The download folder to delete once installed (hub installs only).
    download_dir: Option<PathBuf>,
    /// What `install.json` records as the source.
    source: serde_json::Value,
    downloaded_bytes: u64,
}

/// Installs `model` from `source` into the data folder's models folder.
pub fn install(
    data_dir: &DataDir,
    model: &InstallableModel,
    source: &Source,
    progress: &InstallProgress,
) -> Result<InstallReport, InstallError> {
    let started = std::time::Instant::now();
    let _lock = InstallLock::acquire(data_dir, model.name)?;
    let target = data_dir.installed_model_dir(model.name);
    if target.exists() {
        return Err(InstallError::AlreadyInstalled { name: model.name.into(), dir: target });
    }
    remove_stale_staging(data_dir, model.name)?;
    progress.check_cancel()?;
    let acquired = acquire(data_dir, model, source, progress)?;
    progress.check_cancel()?;
    let staging = Staging::create(data_dir.model_install_staging_dir(model.name, std::process::id()))?;
    let convert = build(model, &acquired, staging.path(), progress)?;
    progress.check_cancel()?;
    std::fs::rename(staging.path(), &target).map_err(io_error(&target))?;
    staging.disarm();
    if let Some(download_dir) = &acquired.download_dir {
        // Installed: the checkpoint is not needed again (a failed cleanup only costs disk).
        if let Err(e) = std::fs::remove_dir_all(download_dir) {
            log::warn!("{}: {e}", download_dir.display());
        }
    }
    Ok(InstallReport { dir: target, convert, downloaded_bytes: acquired.downloaded_bytes, seconds: started.elapsed().as_secs_f64() })
}

/// The checkpoint from the hub (downloaded or resumed) or from the user's path.
fn acquire(data_dir: &DataDir, model: &InstallableModel, source: &Source, progress: &InstallProgress) -> Result<Acquired, InstallError> {
    match source {
        Source::Hub => {
            let hub = hub::Hub::from_env()?;
            let download_dir = data_dir.checkpoint_download_dir(model.hf_repo, model.revision);
            let downloaded = hub.download_checkpoint(&download_dir, model.hf_repo, model.revision, progress)?;
            let source = serde_json::json!({
                "hub": hub.endpoint(),
                "repo": model.hf_repo,
                "revision": model.revision,
                "commit": downloaded.commit,
                "weights": downloaded.weights.file_name().map(|n| n.to_string_lossy().into_owned()),
            });
            Ok(Acquired { path: downloaded.dir, download_dir: Some(download_dir), source, downloaded_bytes: downloaded.fetched_bytes })
        }
        Source::Path(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let folder = if path.is_dir() { path.clone() } else { path.parent().map(Path::to_path_buf).unwrap_or_default() };
            if !path.exists() {
                return Err(InstallError::Source { path, reason: "no such file or folder".into() });
            }
            if path.is_dir() && !catalogue::WEIGHT_FILES.iter().any(|f| folder.join(f).is_file()) {
                let reason = format!("no {} in this folder", catalogue::WEIGHT_FILES.join(" or "));
                return Err(InstallError::Source { path, reason });
            }
            if !folder.join(catalogue::CONFIG_FILE).is_file() {
                let reason = format!("no {} beside the weights; it is needed to check the architecture", catalogue::CONFIG_FILE);
                return Err(InstallError::Source { path, reason });
            }
            let source = serde_json::json!({"path": path.display().to_string()});
            Ok(Acquired { path, download_dir: None, source, downloaded_bytes: 0 })
        }
    }
}

/// Reads and checks the checkpoint, converts it into `staging`, and records what was installed there.
fn build(model: &InstallableModel, acquired: &Acquired, staging: &Path, progress: &InstallProgress) -> Result<ConvertReport, InstallError> {
    let refuse = |reason: String| InstallError::Checkpoint { path: acquired.path.clone(), reason };
    progress.set_stage("reading the checkpoint");
    let arch = convert::architecture(model.name).map_err(InstallError::Convert)?;
    let ckpt = checkpoint::Checkpoint::open(&acquired.path).map_err(|e| refuse(e.to_string()))?;
    let config_path = ckpt.config_path().ok_or_else(|| refuse(format!("no {} beside the weights", catalogue::CONFIG_FILE)))?;
    // The weights decide the feature extractor's norm and bias where config.json describes them differently (MERT-v1-330M).
    let found = config::infer_from_tensors(&config::read_config(config_path).map_err(refuse)?, &ckpt);
    config::check_config(&found, arch.config()).map_err(refuse)?;
    config::check_tensors(&ckpt, &arch.expected_tensors(), arch.ignored_prefixes()).map_err(refuse)?;
    progress.check_cancel()?;
    let report = convert::convert(&arch, &ckpt, staging, progress).map_err(|reason| match progress.check_cancel() {
        Err(cancelled) => cancelled,
        Ok(()) => InstallError::Convert(reason),
    })?;
    let license_path = staging.join("LICENSE");
    std::fs::write(&license_path, format!("{}\n", model.license_notice())).map_err(io_error(&license_path))?;
    let variants: Vec<serde_json::Value> = report
        .variants
        .iter()
        .map(|v| {
            serde_json::json!({"name": v.name, "kept": v.kept, "min_layer_cosine": v.min_layer_cosine, "bytes": v.bytes, "reason": v.reason})
        })
        .collect();
    let record = serde_json::json!({
        "model": model.name,
        "source": acquired.source,
        "checkpoint_format": ckpt.format().label(),
        "strata_version": env!("CARGO_PKG_VERSION"),
        "installed_unix_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "variants": variants,
        "default_cpu": report.default_cpu,
    });
    let record_path = staging.join("install.json");
    let text = serde_json::to_string_pretty(&record).map_err(|e| InstallError::Convert(e.to_string()))?;
    std::fs::write(&record_path, text).map_err(io_error(&record_path))?;
    Ok(report)
}

/// Deletes the installed model `name` from the data folder's models folder.
pub fn remove(data_dir: &DataDir, name: &str) -> Result<(), InstallError> {
    let models_dir = data_dir.models_dir();
    let is_folder_name = !name.is_empty() && !name.starts_with('.') && Path::new(name).file_name() == Some(name.as_ref());
    let dir = data_dir.installed_model_dir(name);
    if !is_folder_name || !dir.join("manifest.toml").is_file() {
        let shipped = crate::model::discover_models(&data_dir.model_search_dirs()).into_iter().flatten().find(|m| m.name() == name);
        if let Some(shipped) = shipped.filter(|m| !m.dir.starts_with(&models_dir)) {
            return Err(InstallError::Shipped { name: name.into(), dir: shipped.dir });
        }
        let installed = installed_names(data_dir);
        let installed = if installed.is_empty() { "none".to_string() } else { installed.join(", ") };
        return Err(InstallError::NotInstalled { name: name.into(), dir: models_dir, installed });
    }
    let _lock = InstallLock::acquire(data_dir, name)?;
    // Moved aside first, so a removal cut short never leaves a half-deleted model that discovery would load.
    let doomed = data_dir.model_install_staging_dir(name, std::process::id());
    std::fs::rename(&dir, &doomed).map_err(io_error(&dir))?;
    std::fs::remove_dir_all(&doomed).map_err(io_error(&doomed))
}

/// Whether `name` is installed in the data folder.
pub fn is_installed(data_dir: &DataDir, name: &str) -> bool {
    data_dir.installed_model_dir(name).join("manifest.toml").is_file()
}

/// The names of the models installed in the data folder (installed here or copied in), sorted.
fn installed_names(data_dir: &DataDir) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.models_dir()) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("manifest.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Staging folders of `name` left by installs that died (the lock is held, so none is live).
fn remove_stale_staging(data_dir: &DataDir, name: &str) -> Result<(), InstallError> {
    let staging_root = data_dir.model_staging_dir();
    let Ok(entries) = std::fs::read_dir(&staging_root) else { return Ok(()) };
    let prefix = format!("{name}-");
    for entry in entries.filter_map(Result::ok) {
        let is_ours = entry.file_name().to_str().is_some_and(|n| n.strip_prefix(&prefix).is_some_and(|pid| pid.parse::<u32>().is_ok()));
        if is_ours && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

/// The per-model lock file, held (an OS file lock) while installing or removing it; released on drop, also when the process dies.
#[derive(Debug)]
struct InstallLock {
    _file: std::fs::File,
}

impl InstallLock {
    fn acquire(data_dir: &DataDir, name: &str) -> Result<Self, InstallError> {
        let staging_root = data_dir.model_staging_dir();
        std::fs::create_dir_all(&staging_root).map_err(io_error(&staging_root))?;
        let path = data_dir.model_install_lock_path(name);
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(InstallError::Busy { name: name.into(), lock: path }),
            Err(std::fs::TryLockError::Error(source)) => Err(InstallError::Io { path, source }),
        }
    }
}

/// A staging folder deleted on drop unless the install renamed it into place.
#[derive(Debug)]
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Staging {
    fn create(path: PathBuf) -> Result<Self, InstallError> {
        std::fs::create_dir_all(&path).map_err(io_error(&path))?;
        Ok(Self { path, keep: false })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn disarm(mut self) {
        self.keep = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = std::fs::remove_dir_all(&self.path)
        {
            log::warn!("could not remove the staging folder {}: {e}", self.path.display());
        }
    }
}

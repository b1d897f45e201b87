//! Installing optional models (MERT-v1) from the Hugging Face hub or from a
//! checkpoint the user downloaded, converted to ONNX Runtime's layout in Rust.
//!
//! Install = acquire the checkpoint ([`hub`] or `--from`), read it
//! ([`checkpoint`]), check it against the architecture ([`config`]), write the
//! committed architecture-only graphs' weights and the manifest ([`convert`])
//! into a staging folder, check the variants' drift, then rename the folder
//! into place. Nothing else in Strata opens a network connection.
//!
//! SKELETON (lead, session 27): the owners named in each file replace it.

pub mod catalogue;
pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod drift;
pub mod hub;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Why an install or a removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Placeholder until the orchestrator lands.
    #[error("{0}")]
    Other(String),
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

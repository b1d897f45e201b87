//! Finding and starting ONNX Runtime, and choosing an execution provider.
//!
//! Strata loads `libonnxruntime` at run time (ort's `load-dynamic`), so the
//! binary builds and starts without it and can say exactly what is missing.
//! This module owns that search, the one-time initialisation and the list of
//! providers the loaded library offers. It knows nothing about models.
#![allow(unsafe_code, reason = "asks the dynamically loaded ONNX Runtime for its providers through its C API")]

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The ONNX Runtime release the set-up script fetches (PyPI `onnxruntime` wheel).
pub const ORT_VERSION: &str = "1.31.1";

/// File name of the shared library on this platform.
#[cfg(target_os = "linux")]
pub const ORT_LIBRARY_NAME: &str = "libonnxruntime.so";
/// File name of the shared library on this platform.
#[cfg(target_os = "macos")]
pub const ORT_LIBRARY_NAME: &str = "libonnxruntime.dylib";
/// File name of the shared library on this platform.
#[cfg(target_os = "windows")]
pub const ORT_LIBRARY_NAME: &str = "onnxruntime.dll";

/// Why ONNX Runtime could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No library file was found in any of the searched places.
    #[error(
        "ONNX Runtime library not found (looked in: {searched}).\n\
         Fix: run `make onnxruntime` in the Strata source folder, or set ORT_DYLIB_PATH to the path of {name} {version}."
    )]
    NotFound {
        /// The places that were searched, joined for display.
        searched: String,
        /// The expected file name.
        name: &'static str,
        /// The expected version.
        version: &'static str,
    },
    /// A library was found but could not be loaded or initialised.
    #[error("ONNX Runtime at {path} could not be loaded: {reason}")]
    LoadFailed {
        /// The library that failed.
        path: PathBuf,
        /// ONNX Runtime's or the loader's explanation.
        reason: String,
    },
}

/// The loaded runtime: where it came from and which providers it offers.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The library file that was loaded.
    pub library_path: PathBuf,
    /// Execution providers compiled into the loaded library, e.g. `CUDAExecutionProvider`.
    pub available_providers: Vec<String>,
}

impl RuntimeInfo {
    /// Whether the CUDA provider is compiled into the loaded library.
    pub fn has_cuda(&self) -> bool {
        self.available_providers.iter().any(|p| p == "CUDAExecutionProvider")
    }
}

/// The process-wide runtime; the environment is kept alive for the process's lifetime.
struct LoadedRuntime {
    info: RuntimeInfo,
    environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<Result<LoadedRuntime, RuntimeError>> = OnceLock::new();

/// Candidate library paths, most specific first.
///
/// `ORT_DYLIB_PATH`, when set, is the only candidate (an explicit choice is
/// never silently replaced). Otherwise: the executable's folder and its
/// packaged `../lib/strata`, then the source tree's cache that
/// `make onnxruntime` fills (GPU build first, so fetching it is all a
/// developer must do to use CUDA).
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    let mut candidates = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        candidates.push(exe_dir.join(ORT_LIBRARY_NAME));
        candidates.push(exe_dir.join("../lib/strata").join(ORT_LIBRARY_NAME));
    }
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache");
    candidates.push(cache.join(format!("onnxruntime-gpu-{ORT_VERSION}")).join(ORT_LIBRARY_NAME));
    candidates.push(cache.join(format!("onnxruntime-{ORT_VERSION}")).join(ORT_LIBRARY_NAME));
    candidates
}

/// Loads ONNX Runtime once per process and returns what was loaded.
///
/// Later calls return the first outcome, so every caller sees the same
/// library; a failure is reported every time it is asked for.
pub fn init() -> Result<&'static RuntimeInfo, &'static RuntimeError> {
    loaded().map(|l| &l.info)
}

/// The process's ONNX Runtime environment, loading the library first if needed.
pub fn environment() -> Result<&'static ort::environment::Environment, &'static RuntimeError> {
    loaded().map(|l| &l.environment)
}

fn loaded() -> Result<&'static LoadedRuntime, &'static RuntimeError> {
    RUNTIME.get_or_init(load_first_candidate).as_ref()
}

fn load_first_candidate() -> Result<LoadedRuntime, RuntimeError> {
    let candidates = library_candidates();
    let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
        return Err(RuntimeError::NotFound {
            searched: candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            name: ORT_LIBRARY_NAME,
            version: ORT_VERSION,
        });
    };
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::LoadFailed { path: path.clone(), reason: e.to_string() })?;
    let environment = builder
        .with_name("strata")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::LoadFailed { path: path.clone(), reason: e.to_string() })?;
    let available_providers = available_providers();
    log::debug!("ONNX Runtime loaded from {} (providers: {})", path.display(), available_providers.join(", "));
    Ok(LoadedRuntime { info: RuntimeInfo { library_path: path, available_providers }, environment })
}

/// Asks the loaded library which execution providers it was built with.
fn available_providers() -> Vec<String> {
    let api = ort::api();
    let mut names: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut count: std::ffi::c_int = 0;
    // SAFETY: the runtime is loaded (init_from succeeded); the API fills `names`
    // with `count` NUL-terminated strings that we release with its own call.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut names, &mut count);
        if !status.0.is_null() || names.is_null() {
            if !status.0.is_null() {
                (api.ReleaseStatus)(status.0);
            }
            return Vec::new();
        }
        let providers = (0..count as isize)
            .filter_map(|i| {
                let name = *names.offset(i);
                (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
            })
            .collect();
        let status = (api.ReleaseAvailableProviders)(names, count);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
        }
        providers
    }
}

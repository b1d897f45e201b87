//! Embedding models: their manifests, discovery, and running them.
//!
//! A model is a folder `<name>/` holding `model.onnx` and `manifest.toml`
//! (DESIGN.md's contract); an installed model may instead hold several
//! graph variants (fp32, fused, int8, fp16) that its manifest lists. This
//! module reads manifests, finds model folders, picks the variant for the
//! execution provider, opens ONNX Runtime sessions on the best provider, and
//! turns windows of raw mono audio into one pooled vector per layer. It does
//! not decode audio or touch the store.

pub mod install;
pub mod onnx_runtime;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The model Strata uses when none is named.
pub const DEFAULT_MODEL: &str = "musicnn";

/// Errors from reading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The manifest is missing or malformed.
    #[error("model manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No model of that name was found.
    #[error("no model named '{name}' (found: {found}); model folders are searched in: {searched}")]
    NotFound {
        /// The requested name.
        name: String,
        /// The names that do exist.
        found: String,
        /// Where folders were searched.
        searched: String,
    },
    /// ONNX Runtime is not available.
    #[error(transparent)]
    Runtime(#[from] &'static onnx_runtime::RuntimeError),
    /// ONNX Runtime rejected the model or failed while running it.
    #[error("model '{model}': {reason}")]
    Inference {
        /// The model's name.
        model: String,
        /// ONNX Runtime's explanation.
        reason: String,
    },
}

/// How one ONNX output's time (patch/frame) axis becomes one vector per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the time axis.
    Mean,
    /// Maximum over the time axis.
    Max,
    /// The output is already one vector per window.
    None,
}

/// Per-window input normalisation done in Rust before the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Raw samples.
    #[default]
    None,
    /// Zero mean and unit variance per window (MERT's preprocessing, eps 1e-7).
    ZeroMeanUnitVar,
}

/// One layer (representation) a model exposes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Layer id shown to users and used in the store, e.g. `penultimate` or `layer_7`.
    pub name: String,
    /// ONNX output that holds it.
    pub output: String,
    /// Index along axis 1 when the output stacks several layers.
    #[serde(default)]
    pub index: Option<usize>,
    /// Vector dimension.
    pub dim: usize,
    /// How the time axis is pooled.
    pub pool: Pooling,
    /// What the layer holds, in words.
    #[serde(default)]
    pub description: String,
}

/// The parsed `manifest.toml` of a model folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Folder name and id.
    pub name: String,
    /// Name shown to users.
    pub display_name: String,
    /// One sentence on what the model is.
    #[serde(default)]
    pub description: String,
    /// Licence of the weights.
    pub license: String,
    /// File beside the manifest with the licence text.
    #[serde(default)]
    pub license_file: Option<String>,
    /// Bumped when `model.onnx` changes; stored vectors of older versions are re-analysed.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Sample rate the graph expects.
    pub sample_rate_hz: u32,
    /// Name of the `[batch, samples]` f32 input.
    pub input_name: String,
    /// Seconds of audio per inference window.
    pub window_s: f64,
    /// Seconds between window starts.
    pub hop_s: f64,
    /// Per-window input normalisation.
    #[serde(default)]
    pub normalize: Normalization,
    /// Windows per inference call on the CPU (batching helps small models only).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Output holding tag scores, if the model predicts tags.
    #[serde(default)]
    pub tag_output: Option<String>,
    /// File with one tag label per line, in output order.
    #[serde(default)]
    pub tags_file: Option<String>,
    /// Layer whose per-window vectors are stored for passage matching (default: the last).
    #[serde(default)]
    pub passage_layer: Option<String>,
    /// The layers, from low level to high level.
    pub layers: Vec<LayerSpec>,
    /// Graph variants install wrote and checked; empty: the folder's `model.onnx` only.
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
    /// Variant run on the CPU when none is asked for (none: `model.onnx`).
    #[serde(default)]
    pub default_cpu: Option<String>,
    /// Variant run on CUDA when none is asked for (none: fp16 when checked, else the CPU's).
    #[serde(default)]
    pub default_cuda: Option<String>,
}

/// One graph of a model, as install converted and checked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSpec {
    /// `fp32`, `fused` (fp32 with ONNX Runtime's fused operators), `int8` (dynamic) or `fp16`.
    pub name: String,
    /// Graph file beside the manifest (its weights file, if any, beside it).
    pub file: String,
    /// Providers it may run on (`cpu`, `cuda`); empty: any.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Lowest per-layer cosine against fp32 on the built-in test signal, measured at install.
    #[serde(default)]
    pub min_layer_cosine: Option<f64>,
    /// Whether that drift check ran and passed.
    #[serde(default)]
    pub checked: bool,
}

/// Variant names a manifest may use (each has a stored version, see [`ModelManifest::stored_version`]).
const VARIANT_NAMES: [&str; 4] = ["fp32", "fused", "int8", "fp16"];

/// Stored versions of the int8 and fp16 variants are offset by multiples of this, above any manifest version.
const VARIANT_VERSION_STEP: u32 = 1_000_000;

impl VariantSpec {
    /// Whether the manifest lets this variant run on `provider`.
    pub fn runs_on(&self, provider: Provider) -> bool {
        self.providers.is_empty() || self.providers.iter().any(|p| p.eq_ignore_ascii_case(provider.id()))
    }
}

fn default_version() -> u32 {
    1
}

fn default_batch_size() -> usize {
    1
}

impl ModelManifest {
    /// Samples in one inference window at the model's rate.
    pub fn window_samples(&self) -> usize {
        (self.window_s * f64::from(self.sample_rate_hz)).round() as usize
    }

    /// Samples between window starts at the model's rate.
    pub fn hop_samples(&self) -> usize {
        ((self.hop_s * f64::from(self.sample_rate_hz)).round() as usize).max(1)
    }

    /// Index of the layer kept per window for passage matching.
    pub fn passage_layer_index(&self) -> usize {
        self.passage_layer.as_deref().and_then(|name| self.layer_index(name)).unwrap_or(self.layers.len() - 1)
    }

    /// Index of the layer with this name.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }

    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&VariantSpec> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The model version analyses made with `variant` (none: `model.onnx`) are recorded under.
    ///
    /// fp32 and fused compute the same numbers up to rounding and share the
    /// manifest's version; int8 and fp16 drift measurably (up to 1 % cosine),
    /// so each has its own, and switching to or from them re-analyses the
    /// library rather than mixing its vectors with fp32's.
    pub fn stored_version(&self, variant: Option<&str>) -> u32 {
        let class = match variant {
            Some("int8") => 1,
            Some("fp16") => 2,
            _ => 0,
        };
        self.version + class * VARIANT_VERSION_STEP
    }

    /// Whether `stored` is the version of this model run as one of its variants (or as `model.onnx`).
    pub fn is_stored_version(&self, stored: u32) -> bool {
        stored == self.stored_version(None) || self.variants.iter().any(|v| stored == self.stored_version(Some(&v.name)))
    }

    /// The variant to run on `provider`: `requested` when given (an error if
    /// the manifest lacks it or keeps it off that provider), else the
    /// provider's default. `None` means the folder's `model.onnx`, or when the
    /// manifest lists variants but no default, the first that runs there.
    pub fn choose_variant(&self, requested: Option<&str>, provider: Provider) -> Result<Option<&VariantSpec>, String> {
        if let Some(name) = requested {
            let variant = self.variant(name).ok_or_else(|| {
                let names: Vec<&str> = self.variants.iter().map(|v| v.name.as_str()).collect();
                let has = if names.is_empty() { "none; it has only model.onnx".to_string() } else { names.join(", ") };
                format!("model '{}' has no variant '{name}' (variants: {has})", self.name)
            })?;
            if !variant.runs_on(provider) {
                return Err(format!(
                    "variant '{name}' of model '{}' does not run on {provider} (only on {})",
                    self.name,
                    variant.providers.join(", ")
                ));
            }
            return Ok(Some(variant));
        }
        let candidates: Vec<Option<&VariantSpec>> = match provider {
            Provider::Cuda => vec![
                self.default_cuda.as_deref().and_then(|n| self.variant(n)),
                self.variant("fp16").filter(|v| v.checked),
                self.default_cpu.as_deref().and_then(|n| self.variant(n)),
            ],
            Provider::Cpu => vec![self.default_cpu.as_deref().and_then(|n| self.variant(n))],
        };
        Ok(candidates.into_iter().flatten().find(|v| v.runs_on(provider)))
    }

    fn validate(&self) -> Result<(), String> {
        if self.layers.is_empty() {
            return Err("no [[layers]]".into());
        }
        if self.sample_rate_hz == 0 || self.window_s <= 0.0 || self.hop_s <= 0.0 {
            return Err("sample_rate_hz, window_s and hop_s must be positive".into());
        }
        if let Some(layer) = self.layers.iter().find(|l| l.dim == 0) {
            return Err(format!("layer '{}' has dim 0", layer.name));
        }
        if let Some(name) = &self.passage_layer
            && self.layer_index(name).is_none()
        {
            return Err(format!("passage_layer '{name}' is not a layer"));
        }
        if self.version >= VARIANT_VERSION_STEP {
            return Err(format!("version must be below {VARIANT_VERSION_STEP}"));
        }
        for (index, variant) in self.variants.iter().enumerate() {
            if !VARIANT_NAMES.contains(&variant.name.as_str()) {
                return Err(format!("variant '{}' is none of {}", variant.name, VARIANT_NAMES.join(", ")));
            }
            if self.variants[..index].iter().any(|v| v.name == variant.name) {
                return Err(format!("variant '{}' is listed twice", variant.name));
            }
            // A plain file name: a manifest never points outside its folder.
            if !matches!(Path::new(&variant.file).components().collect::<Vec<_>>().as_slice(), [std::path::Component::Normal(_)]) {
                return Err(format!("variant '{}': file '{}' is not a file name", variant.name, variant.file));
            }
            if let Some(provider) = variant.providers.iter().find(|p| !["cpu", "cuda"].contains(&p.to_ascii_lowercase().as_str())) {
                return Err(format!("variant '{}': provider '{provider}' is neither cpu nor cuda", variant.name));
            }
        }
        for default in [&self.default_cpu, &self.default_cuda].into_iter().flatten() {
            if self.variant(default).is_none() {
                return Err(format!("default variant '{default}' is not among [[variants]]"));
            }
        }
        Ok(())
    }
}

/// A model folder found on disk.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The folder holding `model.onnx` and `manifest.toml`.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: ModelManifest,
    /// Tag labels, when the model predicts tags.
    pub tags: Vec<String>,
}

impl ModelInfo {
    /// Reads a model folder's manifest and tag labels.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let manifest_path = dir.join("manifest.toml");
        let manifest_error = |reason: String| ModelError::Manifest { path: manifest_path.clone(), reason };
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| manifest_error(e.to_string()))?;
        let manifest: ModelManifest = toml::from_str(&text).map_err(|e| manifest_error(e.to_string()))?;
        manifest.validate().map_err(manifest_error)?;
        // A missing variant file is reported when that variant is opened.
        if manifest.variants.is_empty() && !dir.join("model.onnx").is_file() {
            return Err(manifest_error("model.onnx is missing beside it".into()));
        }
        let tags = match &manifest.tags_file {
            Some(file) => std::fs::read_to_string(dir.join(file))
                .map_err(|e| manifest_error(format!("tags file {file}: {e}")))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            None => Vec::new(),
        };
        Ok(Self { dir: dir.to_path_buf(), manifest, tags })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Index of the layer holding tag scores, when the model predicts tags.
    pub fn tag_layer_index(&self) -> Option<usize> {
        let output = self.manifest.tag_output.as_ref()?;
        self.manifest.layers.iter().position(|l| &l.output == output)
    }

    /// The `top` highest-scoring tags for a vector of the tag layer, best first.
    pub fn top_tags(&self, tag_scores: &[f32], top: usize) -> Vec<(String, f32)> {
        let mut ranked: Vec<(String, f32)> = self.tags.iter().cloned().zip(tag_scores.iter().copied()).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(top);
        ranked
    }
}

/// Folders searched for models, in order: `STRATA_MODELS_DIR`, the user's
/// data directory, the packaged `../share/strata/models` beside the
/// executable, `models/` beside the executable, and the source tree's `models/`.
pub fn model_search_dirs(user_models_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("STRATA_MODELS_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = user_models_dir {
        dirs.push(dir.to_path_buf());
    }
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir.join("../share/strata/models"));
        dirs.push(exe_dir.join("models"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    dirs
}

/// Every model folder in `search_dirs`; a later folder never shadows an
/// earlier model of the same name. Broken folders come back as errors so
/// they can be reported without hiding the good ones.
pub fn discover_models(search_dirs: &[PathBuf]) -> Vec<Result<ModelInfo, ModelError>> {
    let mut found: Vec<Result<ModelInfo, ModelError>> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for dir in search_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut model_dirs: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("manifest.toml").is_file()).collect();
        model_dirs.sort();
        for model_dir in model_dirs {
            let result = ModelInfo::load(&model_dir);
            if let Ok(info) = &result
                && !names.insert(info.name().to_string())
            {
                continue;
            }
            found.push(result);
        }
    }
    found
}

/// Finds the model called `name` in `search_dirs`.
pub fn find_model(name: &str, search_dirs: &[PathBuf]) -> Result<ModelInfo, ModelError> {
    let models = discover_models(search_dirs);
    let mut names = Vec::new();
    for model in models {
        match model {
            Ok(info) if info.name() == name => return Ok(info),
            Ok(info) => names.push(info.name().to_string()),
            Err(ModelError::Manifest { path, reason }) if path.parent().and_then(Path::file_name) == Some(name.as_ref()) => {
                return Err(ModelError::Manifest { path, reason });
            }
            Err(_) => {}
        }
    }
    Err(ModelError::NotFound {
        name: name.to_string(),
        found: if names.is_empty() { "none".into() } else { names.join(", ") },
        searched: search_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

/// Which execution provider to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
pub enum ProviderPreference {
    /// CUDA when the library has it and a GPU answers, else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA, or an error.
    Cuda,
}

/// The execution provider a session actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
}

impl Provider {
    /// The provider's name in manifests: `cpu` or `cuda`.
    pub fn id(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::Cpu => "CPU",
            Provider::Cuda => "CUDA",
        })
    }
}

/// How a session is opened.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Provider to ask for.
    pub provider: ProviderPreference,
    /// ONNX Runtime intra-op threads (CPU provider).
    pub intra_threads: usize,
    /// Graph variant to run (`--model-variant`); none: the manifest's default for the provider.
    pub variant: Option<String>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { provider: ProviderPreference::Auto, intra_threads: cores, variant: None }
    }
}

/// One analysed window: a pooled vector per layer, in manifest layer order.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEmbedding {
    /// `layer_vectors[layer]` has that layer's `dim` values.
    pub layer_vectors: Vec<Vec<f32>>,
}

/// An open model, ready to embed windows of audio.
pub struct ModelSession {
    info: ModelInfo,
    session: ort::session::Session,
    provider: Provider,
    variant: Option<String>,
    outputs_needed: Vec<String>,
}

impl ModelSession {
    /// Opens `info`'s model on the preferred provider, running the variant
    /// `options` asks for or the manifest's default for that provider, and
    /// falling back to the CPU (and its default) with one log line when CUDA
    /// is absent or fails.
    pub fn open(info: &ModelInfo, options: SessionOptions) -> Result<Self, ModelError> {
        let requested = options.variant.as_deref();
        let graph = |provider: Provider| -> Result<(Option<String>, PathBuf), String> {
            let variant = info.manifest.choose_variant(requested, provider)?;
            match variant {
                Some(variant) => Ok((Some(variant.name.clone()), info.dir.join(&variant.file))),
                None if info.dir.join("model.onnx").is_file() => Ok((None, info.dir.join("model.onnx"))),
                // Installed folders may hold variants only.
                None => match info.manifest.variants.iter().find(|v| v.runs_on(provider)) {
                    Some(first) => Ok((Some(first.name.clone()), info.dir.join(&first.file))),
                    None => Err(format!("no model.onnx and no variant that runs on {provider}")),
                },
            }
        };
        // An explicit variant kept off CUDA runs on the CPU without trying the GPU.
        let cuda_allowed = requested.and_then(|name| info.manifest.variant(name)).is_none_or(|v| v.runs_on(Provider::Cuda));
        Self::open_graph_with(info, &options, cuda_allowed, graph)
    }

    /// Opens one graph file of `info`'s folder (a variant being checked), on
    /// the preferred provider with the same CPU fallback as [`Self::open`].
    pub fn open_file(info: &ModelInfo, file: &str, options: SessionOptions) -> Result<Self, ModelError> {
        let variant = info.manifest.variants.iter().find(|v| v.file == file).map(|v| v.name.clone());
        Self::open_graph_with(info, &options, true, |_| Ok((variant.clone(), info.dir.join(file))))
    }

    fn open_graph_with(
        info: &ModelInfo,
        options: &SessionOptions,
        cuda_allowed: bool,
        graph: impl Fn(Provider) -> Result<(Option<String>, PathBuf), String>,
    ) -> Result<Self, ModelError> {
        let runtime = onnx_runtime::init()?;
        let inference_error = |reason: String| ModelError::Inference { model: info.name().to_string(), reason };
        let want_cuda = match options.provider {
            ProviderPreference::Cpu => false,
            ProviderPreference::Cuda => true,
            ProviderPreference::Auto => runtime.has_cuda() && cuda_allowed,
        };
        let mut attempt_cuda = want_cuda;
        loop {
            let provider = if attempt_cuda { Provider::Cuda } else { Provider::Cpu };
            let attempt = graph(provider).and_then(|(variant, path)| {
                if !path.is_file() {
                    let which = variant.as_deref().map(|name| format!("variant '{name}': ")).unwrap_or_default();
                    return Err(format!("{which}the graph {} is missing (reinstall the model)", path.display()));
                }
                Self::build_session(&path, options, attempt_cuda).map(|session| (variant, session))
            });
            match attempt {
                Ok((variant, session)) => {
                    let mut outputs_needed: Vec<String> = info.manifest.layers.iter().map(|l| l.output.clone()).collect();
                    outputs_needed.sort();
                    outputs_needed.dedup();
                    for output in &outputs_needed {
                        if !session.outputs().iter().any(|o| o.name() == output) {
                            return Err(inference_error(format!("the ONNX graph has no output '{output}'")));
                        }
                    }
                    if let Some(name) = &variant {
                        log::debug!("model '{}' runs variant '{name}' on {provider}", info.name());
                    }
                    return Ok(Self { info: info.clone(), session, provider, variant, outputs_needed });
                }
                Err(reason) if attempt_cuda && options.provider == ProviderPreference::Auto => {
                    log::warn!("CUDA unavailable for model '{}' ({reason}); using the CPU", info.name());
                    attempt_cuda = false;
                }
                Err(reason) => return Err(inference_error(reason)),
            }
        }
    }

    fn build_session(model_path: &Path, options: &SessionOptions, cuda: bool) -> Result<ort::session::Session, String> {
        use ort::session::builder::GraphOptimizationLevel;
        let environment = onnx_runtime::environment().map_err(|e| e.to_string())?;
        let mut builder = ort::session::Session::builder(environment)
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| e.to_string())?
            .with_intra_threads(options.intra_threads.max(1))
            .map_err(|e| e.to_string())?;
        if cuda {
            builder = builder.with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()]).map_err(|e| e.to_string())?;
        }
        builder.commit_from_file(model_path).map_err(|e| e.to_string())
    }

    /// The model this session runs.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The provider the session runs on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The manifest variant the session runs; `None`: the folder's `model.onnx`.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// The model version this session's vectors are recorded under ([`ModelManifest::stored_version`]).
    pub fn stored_version(&self) -> u32 {
        self.info.manifest.stored_version(self.variant())
    }

    /// Embeds equal-length windows of mono audio at the model's rate in one
    /// batch. Windows must not be zero-padded to a common length (padding
    /// changes normalised features); call once per length instead.
    pub fn embed(&mut self, windows: &[&[f32]]) -> Result<Vec<WindowEmbedding>, ModelError> {
        let Some(first) = windows.first() else { return Ok(Vec::new()) };
        let samples = first.len();
        if windows.iter().any(|w| w.len() != samples) {
            return Err(self.error("windows in one batch must have equal length".into()));
        }
        let mut batch = Vec::with_capacity(windows.len() * samples);
        for window in windows {
            let start = batch.len();
            batch.extend_from_slice(window);
            if self.info.manifest.normalize == Normalization::ZeroMeanUnitVar {
                normalize_zero_mean_unit_var(&mut batch[start..]);
            }
        }
        let input =
            ort::value::TensorRef::from_array_view(([windows.len(), samples], batch.as_slice())).map_err(|e| self.error(e.to_string()))?;
        let mut selector = ort::session::OutputSelector::no_default();
        for output in &self.outputs_needed {
            selector = selector.with(output.clone());
        }
        let run_options = ort::session::RunOptions::new().map_err(|e| self.error(e.to_string()))?.with_outputs(selector);
        let input_name = self.info.manifest.input_name.clone();
        let model_name = self.info.name().to_string();
        let outputs = self
            .session
            .run_with_options(ort::inputs![input_name => input], &run_options)
            .map_err(|e| ModelError::Inference { model: model_name.clone(), reason: e.to_string() })?;

        let mut embeddings = vec![WindowEmbedding { layer_vectors: Vec::with_capacity(self.info.manifest.layers.len()) }; windows.len()];
        for layer in &self.info.manifest.layers {
            let value = outputs
                .get(&layer.output)
                .ok_or_else(|| ModelError::Inference { model: model_name.clone(), reason: format!("output '{}' missing", layer.output) })?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| ModelError::Inference { model: model_name.clone(), reason: e.to_string() })?;
            let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            for (window_index, embedding) in embeddings.iter_mut().enumerate() {
                let vector = pool_layer(layer, &dims, data, window_index)
                    .map_err(|reason| ModelError::Inference { model: model_name.clone(), reason })?;
                embedding.layer_vectors.push(vector);
            }
        }
        Ok(embeddings)
    }

    fn error(&self, reason: String) -> ModelError {
        ModelError::Inference { model: self.info.name().to_string(), reason }
    }
}

/// Extracts and pools one layer's vector for one batch item.
///
/// `dims` is the output shape `[batch, (stack,) (time,) dim]`: a stacked
/// output is indexed on axis 1 first; what remains is `[time, dim]` pooled
/// per the manifest, or `[dim]`. A window that yields zero time steps (too
/// short for one patch) gives a zero vector.
fn pool_layer(layer: &LayerSpec, dims: &[usize], data: &[f32], batch_index: usize) -> Result<Vec<f32>, String> {
    let shape_error = || format!("output '{}' has unexpected shape {dims:?} for layer '{}'", layer.output, layer.name);
    let (&batch, rest) = dims.split_first().ok_or_else(shape_error)?;
    if batch_index >= batch {
        return Err(shape_error());
    }
    let item_len: usize = rest.iter().product();
    let mut item = &data[batch_index * item_len..(batch_index + 1) * item_len];
    let mut rest = rest;
    if let Some(index) = layer.index {
        let (&stack, inner) = rest.split_first().ok_or_else(shape_error)?;
        if index >= stack {
            return Err(shape_error());
        }
        let inner_len: usize = inner.iter().product();
        item = &item[index * inner_len..(index + 1) * inner_len];
        rest = inner;
    }
    match (layer.pool, rest) {
        (Pooling::None, [dim]) if *dim == layer.dim => Ok(item.to_vec()),
        (Pooling::Mean | Pooling::Max, [steps, dim]) if *dim == layer.dim => {
            let mut pooled = vec![0.0f32; *dim];
            if *steps == 0 {
                return Ok(pooled);
            }
            if layer.pool == Pooling::Max {
                pooled.fill(f32::NEG_INFINITY);
            }
            for step in item.chunks_exact(*dim) {
                for (acc, &v) in pooled.iter_mut().zip(step) {
                    if layer.pool == Pooling::Max {
                        *acc = acc.max(v);
                    } else {
                        *acc += v;
                    }
                }
            }
            if layer.pool == Pooling::Mean {
                let scale = 1.0 / *steps as f32;
                pooled.iter_mut().for_each(|v| *v *= scale);
            }
            Ok(pooled)
        }
        _ => Err(shape_error()),
    }
}

/// Normalises a window in place to zero mean and unit variance (eps 1e-7).
pub fn normalize_zero_mean_unit_var(window: &mut [f32]) {
    if window.is_empty() {
        return;
    }
    let n = window.len() as f64;
    let mean = window.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = window.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let scale = 1.0 / (variance + 1e-7).sqrt();
    for v in window.iter_mut() {
        *v = ((f64::from(*v) - mean) * scale) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pool: Pooling, index: Option<usize>, dim: usize) -> LayerSpec {
        LayerSpec { name: "l".into(), output: "o".into(), index, dim, pool, description: String::new() }
    }

    #[test]
    fn mean_pools_time_axis_per_batch_item() {
        // batch 2, time 2, dim 2
        let data = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        let dims = [2, 2, 2];
        assert_eq!(pool_layer(&layer(Pooling::Mean, None, 2), &dims, &data, 0).unwrap(), vec![2.0, 3.0]);
        assert_eq!(pool_layer(&layer(Pooling::Max, None, 2), &dims, &data, 1).unwrap(), vec![30.0, 40.0]);
    }

    #[test]
    fn stacked_output_selects_layer_then_pools() {
        // batch 1, stack 2, dim 3
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(pool_layer(&layer(Pooling::None, Some(1), 3), &[1, 2, 3], &data, 0).unwrap(), vec![4.0, 5.0, 6.0]);
        assert!(pool_layer(&layer(Pooling::None, Some(2), 3), &[1, 2, 3], &data, 0).is_err());
    }

    #[test]
    fn zero_patches_give_zero_vector_and_wrong_dim_is_error() {
        assert_eq!(pool_layer(&layer(Pooling::Mean, None, 2), &[1, 0, 2], &[], 0).unwrap(), vec![0.0, 0.0]);
        assert!(pool_layer(&layer(Pooling::Mean, None, 3), &[1, 1, 2], &[1.0, 2.0], 0).is_err());
    }

    #[test]
    fn normalisation_gives_zero_mean_unit_variance() {
        let mut w: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.1).sin() * 3.0 + 1.0).collect();
        normalize_zero_mean_unit_var(&mut w);
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3);
    }
}

//! Writing a checkpoint's weights in the layout the committed architecture-only graphs expect.
//!
//! `assets/models/<name>/` holds, per model, every variant's ONNX graph with
//! its weights moved to external data (fp32, fused fp32, int8, fp16), the
//! manifest, and `recipe.json` saying how each external initializer is made
//! from checkpoint tensors (`models/export_mert.py --arch-only` found each
//! transform by value). They are embedded in the binary, so an install needs
//! no file beside Strata. [`convert`] copies the graphs, streams each weights
//! file one tensor at a time (peak memory ≈ the largest tensor), writes
//! `manifest.toml`, then keeps a variant only where it matches fp32 on the
//! built-in test signal.
//!
//! Owner: H-C.

mod recipe;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use recipe::{Recipe, VariantRecipe};

use super::InstallProgress;
use super::checkpoint::Checkpoint;
use super::config::{ArchConfig, ExpectedTensor};
use super::drift;
use crate::model::{ModelManifest, ProviderPreference, SessionOptions, VariantSpec};

/// Lowest per-layer cosine against fp32 for int8 and fp16 (issue 19).
pub const MIN_LOSSY_COSINE: f64 = 0.99;

/// Lowest per-layer cosine against fp32 for the fused graph: the same arithmetic up to rounding, so
/// anything lower is a conversion fault, not precision.
pub const MIN_FUSED_COSINE: f64 = 0.9999;

/// The variant every other is compared with.
const REFERENCE_VARIANT: &str = "fp32";

/// One model's embedded files.
struct Assets {
    name: &'static str,
    recipe: &'static str,
    manifest: &'static str,
    graphs: [(&'static str, &'static [u8]); 4],
}

macro_rules! assets {
    ($name:literal) => {
        Assets {
            name: $name,
            recipe: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/", $name, "/recipe.json")),
            manifest: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/", $name, "/manifest.toml")),
            graphs: [
                ("model.onnx", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/", $name, "/model.onnx"))),
                ("model.fused.onnx", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/", $name, "/model.fused.onnx"))),
                ("model.int8.onnx", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/", $name, "/model.int8.onnx"))),
                ("model.fp16.onnx", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/", $name, "/model.fp16.onnx"))),
            ],
        }
    };
}

static ASSETS: [Assets; 3] = [assets!("mert-v1-95m"), assets!("mert-v1-330m"), assets!("mert-tiny")];

/// One installable model's committed graphs (per variant) + recipe, embedded in the binary.
#[derive(Debug, Clone)]
pub struct Architecture {
    recipe: Recipe,
    manifest: &'static str,
    graphs: &'static [(&'static str, &'static [u8]); 4],
}

/// The architecture of `model_name`: `mert-v1-95m`, `mert-v1-330m`, or the hidden test model `mert-tiny`.
pub fn architecture(model_name: &str) -> Result<Architecture, String> {
    let assets = ASSETS.iter().find(|a| a.name == model_name).ok_or_else(|| {
        let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        format!("no architecture for model '{model_name}' (known: {})", names.join(", "))
    })?;
    let recipe: Recipe =
        serde_json::from_str(assets.recipe).map_err(|e| format!("the recipe of {model_name} built into Strata is unreadable: {e}"))?;
    Ok(Architecture { recipe, manifest: assets.manifest, graphs: &assets.graphs })
}

impl Architecture {
    /// The model's folder name.
    pub fn name(&self) -> &str {
        &self.recipe.name
    }

    /// What a checkpoint's config.json must say.
    pub fn config(&self) -> &ArchConfig {
        &self.recipe.config
    }

    /// Every encoder tensor a checkpoint must hold, with its shape (HF names, weight norm unfolded).
    pub fn expected_tensors(&self) -> Vec<ExpectedTensor> {
        self.recipe.expected_tensors.iter().map(|t| ExpectedTensor { name: t.name.clone(), shape: t.shape.clone() }).collect()
    }

    /// Prefixes of checkpoint tensors the encoder does not use (pre-training heads, the masking embedding).
    pub fn ignored_prefixes(&self) -> &[String] {
        &self.recipe.ignored_prefixes
    }

    /// The variants' names, fp32 first.
    pub fn variant_names(&self) -> Vec<&str> {
        self.recipe.variants.iter().map(|v| v.name.as_str()).collect()
    }

    fn graph(&self, file: &str) -> Result<&'static [u8], String> {
        self.graphs.iter().find(|(name, _)| *name == file).map(|(_, bytes)| *bytes).ok_or_else(|| format!("no graph {file} built in"))
    }
}

/// What became of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantReport {
    /// `fp32`, `fused`, `int8` or `fp16`.
    pub name: String,
    /// Whether it was installed.
    pub kept: bool,
    /// Its lowest per-layer cosine against fp32 on the test signal, where that was measured.
    pub min_layer_cosine: Option<f64>,
    /// Graph + weights bytes written (0 when never written).
    pub bytes: u64,
    /// Why it was dropped or left unchecked.
    pub reason: Option<String>,
    /// Its run time on the test signal relative to fp32's on the same provider (fastest of a few runs), where measured.
    pub seconds_vs_fp32: Option<f64>,
}

/// What [`convert`] wrote and kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    /// Every variant of the architecture, fp32 first.
    pub variants: Vec<VariantReport>,
    /// The kept variant that ran fastest on the CPU.
    pub default_cpu: String,
}

/// Writes every variant's graph + weights and manifest.toml into `staging`, runs each variant on the built-in test
/// signal and keeps int8/fp16 only where every layer's cosine against fp32 is ≥ 0.99; checks `progress.cancel`
/// between steps.
///
/// fp16 runs only on CUDA, so it is written and checked only where ONNX Runtime offers CUDA; elsewhere it is left
/// out (an unchecked variant would never be chosen, and it would cost half the fp32 size on disk).
pub fn convert(arch: &Architecture, ckpt: &Checkpoint, staging: &Path, progress: &InstallProgress) -> Result<ConvertReport, String> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    std::fs::create_dir_all(staging).map_err(|e| io(staging, e))?;
    let cuda = crate::model::onnx_runtime::init().is_ok_and(|r| r.has_cuda());
    let runs_here = |v: &VariantRecipe| cuda || v.providers.iter().any(|p| p == "cpu");
    let written: Vec<&VariantRecipe> = arch.recipe.variants.iter().filter(|v| runs_here(v)).collect();
    if written.first().is_none_or(|v| v.name != REFERENCE_VARIANT) {
        return Err(format!("the recipe of {} does not start with its {REFERENCE_VARIANT} variant", arch.name()));
    }

    set_stage(progress, "converting weights", written.iter().map(|v| v.tensors.len() as u64).sum());
    let mut reports = Vec::new();
    for variant in &written {
        let bytes = write_variant_files(arch, variant, ckpt, staging, progress)?;
        reports.push(VariantReport {
            name: variant.name.clone(),
            kept: true,
            min_layer_cosine: None,
            bytes,
            reason: None,
            seconds_vs_fp32: None,
        });
    }
    let mut manifest: ModelManifest =
        toml::from_str(arch.manifest).map_err(|e| format!("the manifest of {} built into Strata is unreadable: {e}", arch.name()))?;
    manifest.variants = written.iter().map(|v| variant_spec(v, None)).collect();
    write_manifest(staging, &manifest)?;

    reports[0].seconds_vs_fp32 = Some(1.0);
    for (variant, report) in written.iter().zip(&mut reports).skip(1) {
        check_cancel(progress)?;
        set_stage(progress, &format!("checking {}", variant.name), 0);
        let on_cuda = !variant.providers.iter().any(|p| p == "cpu");
        let options = SessionOptions {
            provider: if on_cuda { ProviderPreference::Cuda } else { ProviderPreference::Cpu },
            ..SessionOptions::default()
        };
        let reference = arch.recipe.variants[0].file.as_str();
        let floor = if variant.name == "fused" { MIN_FUSED_COSINE } else { MIN_LOSSY_COSINE };
        match drift::compare_variants(staging, &manifest, reference, &variant.file, options) {
            Ok(drift) => {
                report.min_layer_cosine = Some(drift.min_cosine());
                report.seconds_vs_fp32 = Some(drift.candidate_seconds / drift.reference_seconds.max(f64::MIN_POSITIVE));
                if drift.min_cosine() < floor {
                    report.reason =
                        Some(format!("a layer's cosine against fp32 on the test signal is {:.5} < {floor}", drift.min_cosine()));
                }
            }
            Err(e) => report.reason = Some(format!("its check against fp32 failed: {e}")),
        }
        if report.reason.is_some() {
            report.kept = false;
            for file in [&variant.file, &variant.weights] {
                let path = staging.join(file);
                std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
            }
        }
    }
    check_cancel(progress)?;

    let default_cpu = written
        .iter()
        .zip(&reports)
        .filter(|(variant, report)| report.kept && variant.providers.iter().any(|p| p == "cpu"))
        .filter_map(|(_, report)| Some((report.name.as_str(), report.seconds_vs_fp32?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(REFERENCE_VARIANT, |(name, _)| name)
        .to_string();
    manifest.variants = written
        .iter()
        .zip(&reports)
        .filter(|(_, report)| report.kept)
        .map(|(variant, report)| variant_spec(variant, Some(report)))
        .collect();
    manifest.default_cpu = Some(default_cpu.clone());
    manifest.default_cuda = manifest.variant("fp16").map(|v| v.name.clone());
    write_manifest(staging, &manifest)?;

    for variant in arch.recipe.variants.iter().filter(|v| !runs_here(v)) {
        reports.push(VariantReport {
            name: variant.name.clone(),
            kept: false,
            min_layer_cosine: None,
            bytes: 0,
            reason: Some("runs only on CUDA, which this ONNX Runtime does not offer".into()),
            seconds_vs_fp32: None,
        });
    }
    Ok(ConvertReport { variants: reports, default_cpu })
}

fn variant_spec(variant: &VariantRecipe, report: Option<&VariantReport>) -> VariantSpec {
    let reference = variant.name == REFERENCE_VARIANT;
    VariantSpec {
        name: variant.name.clone(),
        file: variant.file.clone(),
        providers: variant.providers.clone(),
        min_layer_cosine: if reference { Some(1.0) } else { report.and_then(|r| r.min_layer_cosine) },
        checked: reference || report.is_some_and(|r| r.kept && r.min_layer_cosine.is_some()),
    }
}

/// Writes one variant's graph and weights file into `dir` without checking them (convert does both); returns the
/// bytes written. fp16 can be written this way without CUDA, e.g. to check its weights on the CPU.
pub fn write_variant(arch: &Architecture, variant: &str, ckpt: &Checkpoint, dir: &Path, progress: &InstallProgress) -> Result<u64, String> {
    let recipe =
        arch.recipe.variants.iter().find(|v| v.name == variant).ok_or_else(|| format!("{} has no variant {variant}", arch.name()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    set_stage(progress, &format!("converting weights ({variant})"), recipe.tensors.len() as u64);
    write_variant_files(arch, recipe, ckpt, dir, progress)
}

/// Copies the variant's graph and writes its weights file at the offsets the graph names; returns the bytes written.
fn write_variant_files(
    arch: &Architecture,
    variant: &VariantRecipe,
    ckpt: &Checkpoint,
    staging: &Path,
    progress: &InstallProgress,
) -> Result<u64, String> {
    let graph = arch.graph(&variant.file)?;
    let graph_path = staging.join(&variant.file);
    std::fs::write(&graph_path, graph).map_err(|e| format!("{}: {e}", graph_path.display()))?;
    let weights_path = staging.join(&variant.weights);
    let write_error = |e: std::io::Error| format!("{}: {e}", weights_path.display());
    let mut out = BufWriter::new(File::create(&weights_path).map_err(write_error)?);
    let mut position = 0u64;
    let mut scales = HashMap::new();
    for tensor in &variant.tensors {
        check_cancel(progress)?;
        let bytes = tensor.bytes(ckpt, &mut scales).map_err(|e| format!("{} variant: {e}", variant.name))?;
        let padding = tensor.offset.checked_sub(position).ok_or_else(|| format!("{}: tensors overlap in the recipe", tensor.name))?;
        out.write_all(&vec![0u8; padding as usize]).map_err(write_error)?;
        out.write_all(&bytes).map_err(write_error)?;
        position = tensor.offset + tensor.length;
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    out.into_inner().map_err(|e| write_error(e.into_error()))?.sync_all().map_err(write_error)?;
    if position != variant.weights_bytes {
        return Err(format!("{}: wrote {position} bytes, the recipe says {}", variant.weights, variant.weights_bytes));
    }
    Ok(graph.len() as u64 + position)
}

fn write_manifest(staging: &Path, manifest: &ModelManifest) -> Result<(), String> {
    let text = toml::to_string(manifest).map_err(|e| format!("manifest of {}: {e}", manifest.name))?;
    let path = staging.join("manifest.toml");
    let header = "# Written by Strata's model installer from the model's checkpoint (src/model/install/convert.rs).\n";
    std::fs::write(&path, format!("{header}{text}")).map_err(|e| format!("{}: {e}", path.display()))
}

fn set_stage(progress: &InstallProgress, stage: &str, total: u64) {
    if let Ok(mut current) = progress.stage.lock() {
        stage.clone_into(&mut current);
    }
    progress.done.store(0, Ordering::Relaxed);
    progress.total.store(total, Ordering::Relaxed);
}

fn check_cancel(progress: &InstallProgress) -> Result<(), String> {
    if progress.cancel.load(Ordering::Relaxed) { Err("cancelled".into()) } else { Ok(()) }
}

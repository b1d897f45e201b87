//! Converting a checkpoint in Rust (issue 19): the random-init tiny MERT
//! checkpoint that `models/export_mert.py --tiny --write-checkpoint` saved in
//! both formats, converted into the committed architecture-only graphs, must
//! reproduce PyTorch's own (eager) outputs for the reference input.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use strata::model::install::InstallProgress;
use strata::model::install::checkpoint::{Checkpoint, CheckpointFormat};
use strata::model::install::config::{check_config, check_tensors, read_config};
use strata::model::install::convert::{architecture, convert, write_variant};
use strata::model::install::drift::compare_variants;
use strata::model::{ModelInfo, ModelSession, ProviderPreference, SessionOptions};
use support::{cosine_with_reference, mert_reference_input};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mert-tiny-checkpoint")
}

fn pytorch_layer_means() -> Vec<Vec<f64>> {
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap()).unwrap();
    reference["layer_means"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect()
}

fn per_layer_cosines(dir: &Path, variant: &str) -> Vec<f64> {
    let info = ModelInfo::load(dir).unwrap();
    let options = SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: Some(variant.into()) };
    let mut session = ModelSession::open(&info, options).unwrap();
    let out = session.embed(&[&mert_reference_input()]).unwrap();
    let expected = pytorch_layer_means();
    assert_eq!(out[0].layer_vectors.len(), expected.len(), "one vector per hidden state");
    out[0].layer_vectors.iter().zip(&expected).map(|(got, want)| cosine_with_reference(got, want)).collect()
}

fn convert_and_compare(checkpoint_path: &Path, format: CheckpointFormat) {
    let ckpt = Checkpoint::open(checkpoint_path).unwrap();
    assert_eq!(ckpt.format(), format);
    let arch = architecture("mert-tiny").unwrap();
    // What install checks before converting.
    check_config(&read_config(ckpt.config_path().unwrap()).unwrap(), arch.config()).unwrap();
    check_tensors(&ckpt, &arch.expected_tensors(), arch.ignored_prefixes()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("mert-tiny");
    let progress = InstallProgress::default();
    let report = convert(&arch, &ckpt, &staging, &progress).unwrap();
    let kept: Vec<&str> = report.variants.iter().filter(|v| v.kept).map(|v| v.name.as_str()).collect();
    assert_eq!(&kept[..3], ["fp32", "fused", "int8"], "{report:?}");
    assert!(report.variants.iter().filter(|v| v.kept).all(|v| v.bytes > 0));
    assert!(kept.contains(&report.default_cpu.as_str()));

    for (variant, floor) in [("fp32", 0.9999), ("fused", 0.9999), ("int8", 0.99)] {
        let cosines = per_layer_cosines(&staging, variant);
        assert!(cosines.iter().all(|&c| c >= floor), "{format:?} {variant}: per-layer cosine against PyTorch {cosines:?} (< {floor})");
    }

    // fp16 is for CUDA, but ONNX Runtime's CPU provider runs its graph too: its weights are checked here
    // against fp32 even where convert left it out for want of CUDA.
    write_variant(&arch, "fp16", &ckpt, &staging, &progress).unwrap();
    let info = ModelInfo::load(&staging).unwrap();
    let options = SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: None };
    let drift = compare_variants(&staging, &info.manifest, "model.onnx", "model.fp16.onnx", options).unwrap();
    assert!(drift.min_cosine() >= 0.99, "{format:?} fp16 against fp32: {:?}", drift.cosines);
}

#[test]
fn safetensors_checkpoint_converts_to_graphs_that_match_pytorch() {
    convert_and_compare(&fixture(), CheckpointFormat::Safetensors);
}

#[test]
fn pytorch_bin_checkpoint_converts_to_graphs_that_match_pytorch() {
    convert_and_compare(&fixture().join("pytorch_model.bin"), CheckpointFormat::PytorchZip);
}

#[test]
fn cancelled_conversion_stops_with_an_error() {
    let ckpt = Checkpoint::open(&fixture()).unwrap();
    let arch = architecture("mert-tiny").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let progress = InstallProgress::default();
    progress.cancel.store(true, Ordering::Relaxed);
    let err = convert(&arch, &ckpt, dir.path(), &progress).unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    assert!(!dir.path().join("manifest.toml").exists());
}

#[test]
fn every_architecture_is_built_in_with_its_variants() {
    for (name, hidden, layers) in [("mert-v1-95m", 768, 12), ("mert-v1-330m", 1024, 24), ("mert-tiny", 32, 2)] {
        let arch = architecture(name).unwrap();
        assert_eq!((arch.config().hidden_size, arch.config().num_hidden_layers), (hidden, layers));
        assert_eq!(arch.variant_names(), ["fp32", "fused", "int8", "fp16"]);
        assert!(arch.expected_tensors().iter().any(|t| t.name == "encoder.pos_conv_embed.conv.weight_g"));
    }
    assert!(architecture("mert-v2").unwrap_err().contains("mert-v1-95m"));
}

//! Graph variants of one model: which file a session runs (the manifest's
//! default, a `--model-variant` override, a missing file), the drift check
//! install keeps lossy variants by, and a variant change re-analysing the
//! library instead of mixing its vectors. Built on the tiny MERT fixture,
//! copied under two variant names.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::{Path, PathBuf};

use strata::model::install::drift::compare_variants;
use strata::model::{ModelInfo, ModelSession, ProviderPreference, SessionOptions};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mert-tiny")
}

/// A `mert-tiny` folder in `models_dir` with the fixture graph as `model.fp32.onnx` and
/// `model.int8.onnx` (no `model.onnx`), `default_cpu` naming the CPU's default when given.
fn variant_model(models_dir: &Path, default_cpu: Option<&str>) -> PathBuf {
    let dir = models_dir.join("mert-tiny");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["model.fp32.onnx", "model.int8.onnx"] {
        std::fs::copy(fixture_dir().join("model.onnx"), dir.join(file)).unwrap();
    }
    let fixture = std::fs::read_to_string(fixture_dir().join("manifest.toml")).unwrap();
    // Top-level keys go before the first table.
    let (top, tables) = fixture.split_once("[[layers]]").unwrap();
    let default = default_cpu.map(|name| format!("default_cpu = \"{name}\"\n")).unwrap_or_default();
    let variants = "\n[[variants]]\nname = \"fp32\"\nfile = \"model.fp32.onnx\"\nproviders = [\"cpu\", \"cuda\"]\nchecked = true\n\
                    \n[[variants]]\nname = \"int8\"\nfile = \"model.int8.onnx\"\nproviders = [\"cpu\"]\nmin_layer_cosine = 0.995\nchecked = true\n";
    std::fs::write(dir.join("manifest.toml"), format!("{top}{default}\n[[layers]]{tables}{variants}")).unwrap();
    dir
}

fn cpu(variant: Option<&str>) -> SessionOptions {
    SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: variant.map(String::from) }
}

#[test]
fn the_manifest_default_runs_unless_a_variant_is_asked_for() {
    let models = tempfile::tempdir().unwrap();
    let info = ModelInfo::load(&variant_model(models.path(), Some("int8"))).unwrap();
    assert!(!info.dir.join("model.onnx").exists(), "an installed folder may hold variants only");

    let session = ModelSession::open(&info, cpu(None)).unwrap();
    assert_eq!(session.variant(), Some("int8"));
    // int8's vectors are recorded apart from fp32's, so a change of variant re-analyses.
    assert_ne!(session.stored_version(), info.manifest.version);

    let session = ModelSession::open(&info, cpu(Some("fp32"))).unwrap();
    assert_eq!(session.variant(), Some("fp32"));
    assert_eq!(session.stored_version(), info.manifest.version);

    let error = ModelSession::open(&info, cpu(Some("fp16"))).err().unwrap().to_string();
    assert!(error.contains("no variant 'fp16'") && error.contains("fp32, int8"), "{error}");
}

#[test]
fn without_a_default_the_first_variant_for_the_provider_runs() {
    let models = tempfile::tempdir().unwrap();
    let info = ModelInfo::load(&variant_model(models.path(), None)).unwrap();
    assert_eq!(ModelSession::open(&info, cpu(None)).unwrap().variant(), Some("fp32"));
    // With model.onnx beside them, a manifest without a default keeps running it.
    std::fs::copy(fixture_dir().join("model.onnx"), info.dir.join("model.onnx")).unwrap();
    assert_eq!(ModelSession::open(&info, cpu(None)).unwrap().variant(), None);
}

#[test]
fn a_missing_variant_file_says_which_and_a_bad_manifest_is_refused() {
    let models = tempfile::tempdir().unwrap();
    let dir = variant_model(models.path(), Some("int8"));
    std::fs::remove_file(dir.join("model.int8.onnx")).unwrap();
    let info = ModelInfo::load(&dir).unwrap();
    let error = ModelSession::open(&info, cpu(None)).err().unwrap().to_string();
    assert!(error.contains("variant 'int8'") && error.contains("model.int8.onnx") && error.contains("missing"), "{error}");
    // The other variant still runs.
    assert_eq!(ModelSession::open(&info, cpu(Some("fp32"))).unwrap().variant(), Some("fp32"));

    let manifest = std::fs::read_to_string(dir.join("manifest.toml")).unwrap();
    std::fs::write(dir.join("manifest.toml"), manifest.replace("default_cpu = \"int8\"", "default_cpu = \"int4\"")).unwrap();
    let error = ModelInfo::load(&dir).err().unwrap().to_string();
    assert!(error.contains("default variant 'int4'"), "{error}");
}

/// Scales every float of the initializer `name` in an ONNX file by a seeded factor in [0.8, 1.2], in place.
fn perturb_initializer(onnx: &Path, name: &str) {
    let mut bytes = std::fs::read(onnx).unwrap();
    // TensorProto: name (field 8) then raw_data (field 9, a varint length) as the exporter writes them.
    let mut key = vec![0x42, u8::try_from(name.len()).unwrap()];
    key.extend_from_slice(name.as_bytes());
    key.push(0x4a);
    let at = bytes.windows(key.len()).position(|w| w == key.as_slice()).unwrap() + key.len();
    let (mut len, mut shift, mut pos) = (0usize, 0, at);
    loop {
        len |= usize::from(bytes[pos] & 0x7f) << shift;
        shift += 7;
        pos += 1;
        if bytes[pos - 1] & 0x80 == 0 {
            break;
        }
    }
    let mut rng = strata::prng::SplitMix64(7);
    for chunk in bytes[pos..pos + len].chunks_exact_mut(4) {
        let value = f32::from_le_bytes(chunk.try_into().unwrap()) * (1.0 + 0.2 * rng.symmetric_unit());
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    std::fs::write(onnx, bytes).unwrap();
}

#[test]
fn drift_is_one_for_the_same_graph_and_lower_for_perturbed_weights() {
    let models = tempfile::tempdir().unwrap();
    let dir = variant_model(models.path(), None);
    let info = ModelInfo::load(&dir).unwrap();

    let same = compare_variants(&dir, &info.manifest, "model.fp32.onnx", "model.int8.onnx", cpu(None)).unwrap();
    assert_eq!(same.cosines.len(), info.manifest.layers.len());
    assert!(same.cosines.iter().all(|c| (1.0 - c).abs() < 1e-9), "{:?}", same.cosines);
    assert!(same.candidate_seconds > 0.0 && same.reference_seconds > 0.0);

    perturb_initializer(&dir.join("model.int8.onnx"), "encoder.pos_conv_embed.conv.weight");
    let drifted = compare_variants(&dir, &info.manifest, "model.fp32.onnx", "model.int8.onnx", cpu(None)).unwrap();
    // The positional conv feeds every layer.
    assert!(drifted.cosines.iter().all(|c| *c < 1.0 - 1e-6), "{:?}", drifted.cosines);
    assert!(drifted.min_cosine() < 0.9999 && drifted.min_cosine() > -1.0, "{:?}", drifted.cosines);

    let error = compare_variants(&dir, &info.manifest, "model.fp32.onnx", "model.fp16.onnx", cpu(None)).unwrap_err();
    assert!(error.contains("model.fp16.onnx") && error.contains("missing"), "{error}");
}

#[test]
fn indexing_with_another_variant_re_analyses_the_library() {
    let temp = tempfile::tempdir().unwrap();
    let music = support::make_library(temp.path(), 2);
    let data = temp.path().join("data");
    variant_model(&data.join("models"), Some("fp32"));
    let index = |extra: &[&str]| {
        let output = support::strata_bin()
            .args(["--data-dir", data.to_str().unwrap(), "--provider", "cpu"])
            .args(extra)
            .args(["index", "--model", "mert-tiny", "--jobs", "1", "--json", music.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (summary["indexed"].as_u64().unwrap(), summary["unchanged"].as_u64().unwrap())
    };
    assert_eq!(index(&[]), (2, 0));
    // Naming the default changes nothing; a lossy variant records its own version.
    assert_eq!(index(&["--model-variant", "fp32"]), (0, 2));
    assert_eq!(index(&["--model-variant", "int8"]), (2, 0));
    assert_eq!(index(&["--model-variant", "int8"]), (0, 2));
    // The store check counts int8's analyses as the current model's, not as an older version.
    let output = support::strata_bin().args(["--data-dir", data.to_str().unwrap(), "check", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["report"]["models"][0]["other_version"], 0, "{report}");
}

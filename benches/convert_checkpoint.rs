//! Converts a MERT checkpoint with Strata's installer code and compares each
//! written variant with PyTorch: the bench behind issue 19's conversion
//! numbers (time with `/usr/bin/time -v` for peak memory).
//!
//! `cargo bench --bench convert_checkpoint -- MODEL CHECKPOINT OUT_DIR`
//! (MODEL: mert-v1-95m, mert-v1-330m or mert-tiny). When CHECKPOINT's folder
//! holds the `reference.json` that `models/export_mert.py --write-checkpoint`
//! writes (PyTorch eager layer means of the closed-form input), prints every
//! kept variant's per-layer cosine against it.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use strata::model::install::InstallProgress;
use strata::model::install::checkpoint::Checkpoint;
use strata::model::install::config::{check_config, check_tensors, read_config};
use strata::model::install::convert::{architecture, convert, write_variant};
use strata::model::install::drift::compare_variants;
use strata::model::{ModelInfo, ModelSession, ProviderPreference, SessionOptions};
use support::{cosine_with_reference, mert_reference_input};

fn main() -> anyhow::Result<()> {
    // `cargo bench` adds `--bench` to a harness-less bench's arguments.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [model, checkpoint, out] = args.as_slice() else {
        bail!("usage: convert_checkpoint MODEL CHECKPOINT OUT_DIR");
    };
    let started = Instant::now();
    let arch = architecture(model).map_err(anyhow::Error::msg)?;
    let ckpt = Checkpoint::open(Path::new(checkpoint))?;
    if let Some(config) = ckpt.config_path() {
        check_config(&read_config(config).map_err(anyhow::Error::msg)?, arch.config()).map_err(anyhow::Error::msg)?;
    }
    check_tensors(&ckpt, &arch.expected_tensors(), arch.ignored_prefixes()).map_err(anyhow::Error::msg)?;
    let out = PathBuf::from(out);
    let progress = Arc::new(InstallProgress::default());
    let watcher = watch_memory(Arc::clone(&progress))?;
    let report = convert(&arch, &ckpt, &out, &progress).map_err(anyhow::Error::msg)?;
    progress.cancel.store(true, Ordering::Relaxed); // stops the watcher; convert has returned
    let memory = watcher.join().map_err(|_| anyhow::anyhow!("memory watcher panicked"))?;
    println!("converted {model} ({:?}) in {:.1} s; CPU default: {}", ckpt.format(), started.elapsed().as_secs_f64(), report.default_cpu);
    println!(
        "  writing the weights took {:.1} s, peak RSS then {:.0} MB (anonymous {:.0} MB; the rest is the mapped checkpoint); \
         peak RSS of the whole conversion (drift checks included) {:.0} MB",
        memory.writing_s,
        memory.writing_rss_kb as f64 / 1e3,
        memory.writing_anon_kb as f64 / 1e3,
        memory.convert_rss_kb as f64 / 1e3
    );
    for v in &report.variants {
        println!(
            "  {:5} kept {:5} min cosine vs fp32 {:>8} time vs fp32 {:>5} {:>7.1} MB {}",
            v.name,
            v.kept,
            v.min_layer_cosine.map_or("-".into(), |c| format!("{c:.5}")),
            v.seconds_vs_fp32.map_or("-".into(), |r| format!("{r:.2}")),
            v.bytes as f64 / 1e6,
            v.reason.as_deref().unwrap_or("")
        );
    }

    let checkpoint = Path::new(checkpoint);
    let folder = if checkpoint.is_dir() { Some(checkpoint) } else { checkpoint.parent() };
    let Some(reference_path) = folder.map(|dir| dir.join("reference.json")).filter(|p| p.is_file()) else {
        return Ok(());
    };
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&reference_path)?)?;
    let expected: Vec<Vec<f64>> = serde_json::from_value(reference["layer_means"].clone()).context("reference.json: layer_means")?;
    let info = ModelInfo::load(&out)?;
    // fp16 is for CUDA; where convert left it out, it is written here and run on the CPU provider, which runs it too.
    let fp16_written = report.variants.iter().any(|v| v.name == "fp16" && v.kept);
    if !fp16_written {
        write_variant(&arch, "fp16", &ckpt, &out, &InstallProgress::default()).map_err(anyhow::Error::msg)?;
    }
    let files: Vec<(&str, String)> = report
        .variants
        .iter()
        .filter(|v| v.kept || v.name == "fp16")
        .map(|v| (v.name.as_str(), if v.name == "fp32" { "model.onnx".to_string() } else { format!("model.{}.onnx", v.name) }))
        .collect();
    for (name, file) in files {
        let options = SessionOptions { provider: ProviderPreference::Cpu, ..SessionOptions::default() };
        let embedded = ModelSession::open_file(&info, &file, options)?.embed(&[&mert_reference_input()])?;
        let cosines: Vec<String> =
            embedded[0].layer_vectors.iter().zip(&expected).map(|(got, want)| format!("{:.6}", cosine_with_reference(got, want))).collect();
        println!("  {name:5} per-layer cosine vs PyTorch eager (CPU): {}", cosines.join(" "));
    }
    if !fp16_written {
        let drift = compare_variants(&out, &info.manifest, "model.onnx", "model.fp16.onnx", SessionOptions::default())
            .map_err(anyhow::Error::msg)?;
        println!(
            "  fp16 on the CPU against fp32, test signal: min cosine {:.5}, time vs fp32 {:.2}",
            drift.min_cosine(),
            drift.candidate_seconds / drift.reference_seconds
        );
    }
    Ok(())
}

/// Peak resident memory while `convert` ran, and while it wrote weights.
#[derive(Debug, Default)]
struct Memory {
    writing_s: f64,
    writing_rss_kb: u64,
    writing_anon_kb: u64,
    convert_rss_kb: u64,
}

/// Samples this process's resident memory every 5 ms until `cancel` is set; the stage "converting weights" is
/// the writing of weights files.
fn watch_memory(progress: Arc<InstallProgress>) -> anyhow::Result<std::thread::JoinHandle<Memory>> {
    let read_kb = |status: &str, key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(std::thread::Builder::new().name("memory-watch".into()).spawn(move || {
        let (mut memory, mut first, mut last) = (Memory::default(), None, Instant::now());
        while !progress.cancel.load(Ordering::Relaxed) {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let rss_kb = read_kb(&status, "VmRSS:");
            memory.convert_rss_kb = memory.convert_rss_kb.max(rss_kb);
            if progress.stage.lock().is_ok_and(|s| s.starts_with("converting")) {
                memory.writing_rss_kb = memory.writing_rss_kb.max(rss_kb);
                memory.writing_anon_kb = memory.writing_anon_kb.max(read_kb(&status, "RssAnon:"));
                first.get_or_insert_with(Instant::now);
                last = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        memory.writing_s = first.map_or(0.0, |f| (last - f).as_secs_f64());
        memory
    })?)
}

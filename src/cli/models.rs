//! `strata tag` and `strata models`: what the models hear in files, and which models there are.

use crate::analysis::{TrackEmbedding, embed_audio};
use crate::audio::decode_mono;
use crate::model::onnx_runtime;
use crate::model::{self, ModelSession, SessionOptions};
use crate::storage::data_dir::DataDir;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One file's tagging result, as printed with `--json`.
#[derive(Debug, Serialize)]
pub(super) struct TagReport {
    path: String,
    duration_s: f64,
    windows: usize,
    tags: Vec<(String, f32)>,
    layers: std::collections::BTreeMap<String, Vec<f32>>,
}

pub(super) fn tag(
    data_dir: &DataDir,
    files: &[PathBuf],
    model_name: &str,
    top: usize,
    json: bool,
    options: SessionOptions,
) -> anyhow::Result<i32> {
    let info = model::find_model(model_name, &data_dir.model_search_dirs())?;
    let mut session = ModelSession::open(&info, options)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut processed = 0;
    for file in files {
        match tag_file(&mut session, file, top) {
            Ok(report) => {
                processed += 1;
                if json {
                    writeln!(out, "{}", serde_json::to_string(&report)?)?;
                } else {
                    let tags: Vec<String> = report.tags.iter().map(|(t, s)| format!("{t} ({s:.2})")).collect();
                    writeln!(out, "{}: {}", file.display(), tags.join(", "))?;
                }
            }
            Err(reason) => {
                if json {
                    writeln!(out, "{}", serde_json::json!({"path": file.display().to_string(), "error": reason}))?;
                } else {
                    writeln!(out, "{}: skipped: {reason}", file.display())?;
                }
            }
        }
    }
    Ok(if processed == 0 { 1 } else { 0 })
}

pub(super) fn tag_file(session: &mut ModelSession, file: &Path, top: usize) -> Result<TagReport, String> {
    let manifest = session.info().manifest.clone();
    let audio = decode_mono(file, Some(manifest.sample_rate_hz)).map_err(|e| e.to_string())?;
    let mut track = TrackEmbedding::default();
    embed_audio(session, &audio, 0.0, &mut track).map_err(|e| e.to_string())?;
    let Some(pooled) = track.pooled_layers() else {
        return Err(format!(
            "too short: {:.2} s is less than one {} window ({} s)",
            audio.duration_s(),
            manifest.display_name,
            manifest.window_s
        ));
    };
    let tags = match session.info().tag_layer_index() {
        Some(layer) => session.info().top_tags(&pooled[layer], top),
        None => Vec::new(),
    };
    let layers = manifest.layers.iter().map(|l| l.name.clone()).zip(pooled).collect();
    Ok(TagReport { path: file.display().to_string(), duration_s: audio.duration_s(), windows: track.windows.len(), tags, layers })
}

#[derive(Debug, Serialize)]
pub(super) struct ModelReport {
    name: String,
    display_name: String,
    dir: String,
    license: String,
    sample_rate_hz: u32,
    window_s: f64,
    layers: Vec<model::LayerSpec>,
    provider: Option<String>,
    error: Option<String>,
}

pub(super) fn models(data_dir: &DataDir, json: bool, options: SessionOptions) -> anyhow::Result<i32> {
    let runtime = onnx_runtime::init();
    let mut reports = Vec::new();
    let mut broken = Vec::new();
    for found in model::discover_models(&data_dir.model_search_dirs()) {
        match found {
            Ok(info) => {
                let (provider, error) = match runtime {
                    Ok(_) => match ModelSession::open(&info, options.clone()) {
                        Ok(session) => (Some(session.provider().to_string()), None),
                        Err(e) => (None, Some(e.to_string())),
                    },
                    Err(_) => (None, Some("ONNX Runtime not loaded".into())),
                };
                reports.push(ModelReport {
                    name: info.manifest.name.clone(),
                    display_name: info.manifest.display_name.clone(),
                    dir: info.dir.display().to_string(),
                    license: info.manifest.license.clone(),
                    sample_rate_hz: info.manifest.sample_rate_hz,
                    window_s: info.manifest.window_s,
                    layers: info.manifest.layers.clone(),
                    provider,
                    error,
                });
            }
            Err(e) => broken.push(e.to_string()),
        }
    }
    if json {
        let runtime_json = match runtime {
            Ok(info) => serde_json::json!({"library": info.library_path.display().to_string(), "providers": info.available_providers}),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        let doc = serde_json::json!({"runtime": runtime_json, "models": reports, "broken": broken});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    match runtime {
        Ok(info) => println!("ONNX Runtime: {} (providers: {})", info.library_path.display(), info.available_providers.join(", ")),
        Err(e) => println!("ONNX Runtime: not available\n  {e}"),
    }
    if reports.is_empty() {
        println!(
            "No models found (searched: {}).",
            data_dir.model_search_dirs().iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    for report in &reports {
        println!("\n{} — {}  [{}]", report.name, report.display_name, report.license);
        println!("  folder: {}", report.dir);
        println!("  input: {} Hz, {} s windows", report.sample_rate_hz, report.window_s);
        match (&report.provider, &report.error) {
            (Some(provider), _) => println!("  runs on: {provider}"),
            (None, Some(error)) => println!("  cannot run: {error}"),
            (None, None) => {}
        }
        println!("  layers:");
        for layer in &report.layers {
            println!("    {:<14} {:>5} dims  {}", layer.name, layer.dim, layer.description);
        }
        println!(
            "    {:<14} {:>5} dims  {}",
            crate::analysis::tonal::LAYER_NAME,
            crate::analysis::tonal::DIM,
            crate::analysis::tonal::DESCRIPTION
        );
    }
    for error in &broken {
        println!("\nbroken model folder: {error}");
    }
    Ok(0)
}

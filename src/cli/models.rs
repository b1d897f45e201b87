//! `strata tag` and `strata models`: what the models hear in files, which models
//! there are, and installing or removing the optional ones ([`crate::model::install`]).

use super::ModelsAction;
use crate::analysis::{Excerpt, MIN_TRACK_S, embed_excerpts};
use crate::audio::decode_mono;
use crate::model::install::{self, InstallProgress, InstallableModel, Source};
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
    let duration_s = audio.duration_s();
    // As indexing does: a track shorter than one window is repeated to fill one.
    let track = embed_excerpts(session, &[Excerpt { start_s: 0.0, audio }], None).map_err(|e| e.to_string())?;
    let Some(pooled) = track.pooled_layers() else {
        return Err(format!("too short: {duration_s:.2} s (tracks of at least {MIN_TRACK_S} s are analysed)"));
    };
    let tags = match session.info().tag_layer_index() {
        Some(layer) => session.info().top_tags(&pooled[layer], top),
        None => Vec::new(),
    };
    let layers = manifest.layers.iter().map(|l| l.name.clone()).zip(pooled).collect();
    Ok(TagReport { path: file.display().to_string(), duration_s, windows: track.windows.len(), tags, layers })
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

pub(super) fn models(data_dir: &DataDir, action: Option<ModelsAction>, json: bool, options: SessionOptions) -> anyhow::Result<i32> {
    match action {
        Some(ModelsAction::Install { name, from, accept_licence }) => install_command(data_dir, &name, from, accept_licence, json),
        Some(ModelsAction::Remove { name }) => remove_command(data_dir, &name, json),
        None => list_models(data_dir, json, options),
    }
}

fn list_models(data_dir: &DataDir, json: bool, options: SessionOptions) -> anyhow::Result<i32> {
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
        let installable: Vec<_> = not_installed(&reports)
            .map(|m| {
                serde_json::json!({"name": m.name, "display_name": m.display_name, "license": m.license,
                    "download_bytes": m.download_bytes, "layers": m.layers, "hf_repo": m.hf_repo, "revision": m.revision})
            })
            .collect();
        let doc = serde_json::json!({"runtime": runtime_json, "models": reports, "broken": broken, "installable": installable});
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
    let installable: Vec<_> = not_installed(&reports).collect();
    if !installable.is_empty() {
        println!("\nInstallable (strata models install NAME):");
        for model in installable {
            let megabytes = model.download_bytes / 1_000_000;
            println!(
                "  {:<14} {}, {} layers, about {megabytes} MB to download, {}",
                model.name, model.display_name, model.layers, model.license
            );
        }
    }
    Ok(0)
}

/// Installable models (hidden ones left out) that no model folder found provides.
fn not_installed(found: &[ModelReport]) -> impl Iterator<Item = &'static InstallableModel> + '_ {
    install::installable().iter().filter(|m| !m.hidden && !found.iter().any(|r| r.name == m.name))
}

fn install_command(data_dir: &DataDir, name: &str, from: Option<PathBuf>, accept_licence: bool, json: bool) -> anyhow::Result<i32> {
    let Some(model) = install::find(name) else {
        let known: Vec<&str> = install::installable().iter().filter(|m| !m.hidden).map(|m| m.name).collect();
        return Err(install::InstallError::Unknown { name: name.into(), known: known.join(", ") }.into());
    };
    if install::is_installed(data_dir, model.name) {
        let dir = data_dir.installed_model_dir(model.name);
        return Err(install::InstallError::AlreadyInstalled { name: model.name.into(), dir }.into());
    }
    eprintln!("{}", model.license_notice());
    if !accept_licence && !ask_consent()? {
        return Ok(1);
    }
    let progress = std::sync::Arc::new(InstallProgress::default());
    let on_interrupt = std::sync::Arc::clone(&progress);
    ctrlc::set_handler(move || {
        if on_interrupt.cancel.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // A second Ctrl-C: the user wants out now (the next install cleans up).
            std::process::exit(130);
        }
        eprintln!("\ncancelling…");
    })?;
    let source = from.map_or(Source::Hub, Source::Path);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        let bar =
            std::thread::Builder::new().name("install-progress".into()).spawn_scoped(scope, || show_progress(&progress, &finished))?;
        let outcome = install::install(data_dir, model, &source, &progress);
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = bar.join();
        anyhow::Ok(outcome)
    })?;
    let report = outcome?;
    if json {
        let variants: Vec<_> = report
            .convert
            .variants
            .iter()
            .map(|v| serde_json::json!({"name": v.name, "kept": v.kept, "min_layer_cosine": v.min_layer_cosine, "bytes": v.bytes, "reason": v.reason}))
            .collect();
        let doc = serde_json::json!({"name": model.name, "dir": report.dir.display().to_string(), "downloaded_bytes": report.downloaded_bytes,
            "seconds": report.seconds, "variants": variants, "default_cpu": report.convert.default_cpu});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!("Installed {} in {} ({:.1} s).", model.display_name, report.dir.display(), report.seconds);
    for variant in &report.convert.variants {
        let drift = variant.min_layer_cosine.map(|c| format!(", lowest layer cosine to fp32 {c:.4}")).unwrap_or_default();
        match (&variant.kept, &variant.reason) {
            (true, _) => println!("  {:<6} kept ({:.0} MB{drift})", variant.name, variant.bytes as f64 / 1e6),
            (false, reason) => println!("  {:<6} left out: {}", variant.name, reason.as_deref().unwrap_or("not kept")),
        }
    }
    println!("  default on the CPU: {}", report.convert.default_cpu);
    Ok(0)
}

/// Asks on the terminal whether the licence is accepted; refuses without a terminal to ask on.
fn ask_consent() -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("not installed: the licence must be accepted; run this in a terminal to answer, or pass --accept-licence");
    }
    eprint!("Accept this licence and install? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let accepted = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !accepted {
        eprintln!("Not installed: the licence was not accepted.");
    }
    Ok(accepted)
}

/// Draws the install's progress on stderr (hidden when stderr is not a terminal) until `finished`.
fn show_progress(progress: &InstallProgress, finished: &std::sync::atomic::AtomicBool) {
    use std::sync::atomic::Ordering;
    // Downloads count bytes; the other stages count steps (tensors, variants).
    let style = |counts: &str| {
        indicatif::ProgressStyle::with_template(&format!("{{msg:28}} [{{bar:30}}] {counts}")).map(|s| s.progress_chars("=> ")).ok()
    };
    let bytes_style = style("{bytes}/{total_bytes} {bytes_per_sec} {eta}");
    let steps_style = style("{pos}/{len}");
    let bar = indicatif::ProgressBar::new(0);
    let mut shown_stage = None;
    while !finished.load(Ordering::Relaxed) {
        let stage = progress.stage();
        if shown_stage.as_ref() != Some(&stage) {
            let next_style = if stage.starts_with("downloading") { &bytes_style } else { &steps_style };
            if let Some(next_style) = next_style {
                bar.set_style(next_style.clone());
            }
            bar.set_message(stage.clone());
            shown_stage = Some(stage);
        }
        bar.set_length(progress.total.load(Ordering::Relaxed));
        bar.set_position(progress.done.load(Ordering::Relaxed));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

fn remove_command(data_dir: &DataDir, name: &str, json: bool) -> anyhow::Result<i32> {
    install::remove(data_dir, name)?;
    if json {
        println!("{}", serde_json::json!({"removed": name}));
    } else {
        println!("Removed {name} from {}.", data_dir.models_dir().display());
    }
    Ok(0)
}

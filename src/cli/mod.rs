//! The command line: every capability of the window, for scripts and tests.
//!
//! Parses arguments (clap), runs one command, prints for people or, with
//! `--json`, for machines. Owns no logic of its own beyond formatting.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::analysis::descriptors::Descriptor;
use crate::analysis::{Sampling, TrackEmbedding, embed_audio};
use crate::audio::decode_mono;
use crate::indexer::{self, IndexEvent, IndexOptions};
use crate::insight::aspects::{ASPECTS, aspect_by_name, resolve_aspects};
use crate::insight::best_mix;
use crate::insight::eval::{Evaluation, evaluate_rankings};
use crate::insight::label_source;
use crate::insight::library_probe;
use crate::insight::probe::ProbeOptions;
use crate::map;
use crate::model::onnx_runtime;
use crate::model::{self, ModelSession, ProviderPreference, SessionOptions};
use crate::search::layer_index::Pruning;
use crate::search::{Exclusion, Facet, SearchEngine, best_passage, is_excluded};
use crate::storage::data_dir::DataDir;
use crate::storage::snapshot::LibrarySnapshot;
use crate::storage::store_check;
use crate::storage::writer_lock::{LockWait, WriterLock};
use std::sync::Arc;

/// `strata` with no command opens the window.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Explore a music library through the layers of audio-embedding models")]
pub struct Cli {
    /// Folder for the catalog and vector store (default: the platform data dir; env STRATA_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Execution provider for models.
    #[arg(long, global = true, value_enum, default_value_t = ProviderPreference::Auto)]
    pub provider: ProviderPreference,
    /// More log output: -v shows Strata's debug messages and the libraries' warnings, -vv everything (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command; none opens the window.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print each file's top tags from the default model (MusicNN).
    Tag {
        /// Audio files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Model to use.
        #[arg(long, default_value = model::DEFAULT_MODEL)]
        model: String,
        /// How many tags to print per file.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Print JSON Lines with every layer's pooled vector.
        #[arg(long)]
        json: bool,
    },
    /// Index music folders: decode, embed and describe every track (incremental).
    Index {
        /// Music folders (added to the library's roots).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Model to use.
        #[arg(long, default_value = model::DEFAULT_MODEL)]
        model: String,
        /// Decode worker threads (default: half the cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Analyse every second of every track instead of excerpts spread over it.
        #[arg(long, conflicts_with_all = ["excerpts", "excerpt_seconds"])]
        full: bool,
        /// Excerpts spread over each track (default: Strata's default sampling).
        #[arg(long, value_name = "N")]
        excerpts: Option<usize>,
        /// Seconds per excerpt (default: Strata's default sampling).
        #[arg(long, value_name = "S")]
        excerpt_seconds: Option<f64>,
        /// Retry files that failed before even if they have not changed.
        #[arg(long)]
        retry_failed: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Fail instead of waiting when another Strata is indexing this library.
        #[arg(long)]
        no_wait: bool,
    },
    /// The tracks most similar to TRACK (a path or a catalog id).
    Similar {
        /// Query track: its path as indexed, or its catalog id.
        track: String,
        /// Ranking options.
        #[command(flatten)]
        query: QueryArgs,
        /// Also find the best-matching pair of passages for each result.
        #[arg(long)]
        passages: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Nearest neighbours of every indexed track, as JSON Lines.
    Neighbours {
        /// Every track (the only mode).
        #[arg(long, required = true)]
        all: bool,
        /// Ranking options.
        #[command(flatten)]
        query: QueryArgs,
        /// JSON Lines output (the only format; accepted for symmetry).
        #[arg(long)]
        json: bool,
    },
    /// Probe every layer: how well it predicts each descriptor (Ridge, k-fold CV R²).
    Probe {
        /// Model.
        #[arg(long, default_value = model::DEFAULT_MODEL)]
        model: String,
        /// Cross-validation folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retrieval quality against labels, per layer and for the aspect mix, beside random ranking.
    Eval {
        /// Label: composer, album, artist, genre, work (tags) or any column of --labels.
        #[arg(long, default_value = "composer")]
        label: String,
        /// CSV with a `path` column and label columns (paths relative to the library root).
        #[arg(long, value_name = "FILE")]
        labels: Option<PathBuf>,
        /// Ranking options.
        #[command(flatten)]
        query: QueryArgs,
        /// Also try every set of the layers the aspects use and report the
        /// best: chosen within one random half of the tracks and scored on
        /// the other half's queries, and (flattering) in-sample.
        #[arg(long)]
        best_mix: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Project the library to 2D (PCA or t-SNE) and write CSV, or a PNG scatter coloured by composer.
    Map {
        /// Output file: `.csv` (path, x, y, composer, album) or `.png`.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Projection method.
        #[arg(long, value_enum, default_value_t = map::Method::Pca)]
        method: map::Method,
        /// Ranking options (`--layer` or `--aspect` choose what is projected).
        #[command(flatten)]
        query: QueryArgs,
    },
    /// List the models found, their layers and the execution provider each will use.
    Models {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify the catalog against the vector store: every indexed track has
    /// its own, intact, finite rows. Exits 1 when something is damaged (0 once --repair re-queued it).
    Check {
        /// Re-queue damaged tracks (waiting for any running indexer): the next `strata index` re-analyses them.
        #[arg(long)]
        repair: bool,
        /// With --repair, also re-queue tracks an older Strata wrote without row records (they cannot be verified).
        #[arg(long, requires = "repair")]
        requeue_unverified: bool,
        /// Check only this model (default: every model the catalog has analyses for).
        #[arg(long)]
        model: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options shared by the commands that rank tracks.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Aspect weights, e.g. `--aspect brightness=0.7 --aspect rhythm=0.3` (layers chosen by the probe).
    #[arg(long = "aspect", value_name = "NAME=W")]
    pub aspects: Vec<String>,
    /// Compare on these raw layers (index or name), equally weighted.
    #[arg(long = "layer", value_name = "N|NAME")]
    pub layers: Vec<String>,
    /// Model.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    pub model: String,
    /// Leave out tracks from the query's album.
    #[arg(long)]
    pub exclude_album: bool,
    /// Leave out tracks of the query's work (work tag, else album).
    #[arg(long)]
    pub exclude_work: bool,
    /// Per-layer mean-centring: on unless `--no-center` is given.
    #[arg(long = "no-center", action = clap::ArgAction::SetFalse, help = "Turn off per-layer mean-centring")]
    pub center: bool,
}

/// Runs a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let data_dir = DataDir::resolve(cli.data_dir.as_deref())?;
    let options = SessionOptions { provider: cli.provider, ..SessionOptions::default() };
    match cli.command {
        None => Ok(0),
        Some(Command::Tag { files, model, top, json }) => tag(&data_dir, &files, &model, top, json, options),
        Some(Command::Models { json }) => models(&data_dir, json, options),
        Some(Command::Check { repair, requeue_unverified, model, json }) => {
            check(&data_dir, repair, requeue_unverified, model.as_deref(), json)
        }
        Some(Command::Similar { track, query, passages, json }) => similar(&data_dir, &track, &query, passages, json),
        Some(Command::Neighbours { query, .. }) => neighbours(&data_dir, &query),
        Some(Command::Map { out, method, query }) => map_command(&data_dir, &out, method, &query),
        Some(Command::Probe { model, folds, json }) => probe_command(&data_dir, &model, folds, json),
        Some(Command::Eval { label, labels, query, best_mix, json }) => {
            eval_command(&data_dir, &label, labels.as_deref(), &query, best_mix, json)
        }
        Some(Command::Index { dirs, model, jobs, full, excerpts, excerpt_seconds, retry_failed, json, no_wait }) => {
            let mut index_options = IndexOptions::new(dirs);
            index_options.wait_for_writer = !no_wait;
            index_options.model = model;
            index_options.retry_failed = retry_failed;
            index_options.provider = cli.provider;
            if let Some(jobs) = jobs {
                index_options.jobs = jobs.max(1);
            }
            index_options.sampling = if full {
                Sampling::Full
            } else {
                let excerpt_s = excerpt_seconds.unwrap_or(Sampling::DEFAULT_EXCERPT_S);
                if !excerpt_s.is_finite() || excerpt_s <= 0.0 {
                    anyhow::bail!("--excerpt-seconds must be a positive number of seconds");
                }
                Sampling::Spread { excerpts: excerpts.unwrap_or(Sampling::DEFAULT_EXCERPTS).max(1), excerpt_s }
            };
            index(&data_dir, index_options, json)
        }
    }
}

/// One file's tagging result, as printed with `--json`.
#[derive(Debug, Serialize)]
struct TagReport {
    path: String,
    duration_s: f64,
    windows: usize,
    tags: Vec<(String, f32)>,
    layers: std::collections::BTreeMap<String, Vec<f32>>,
}

fn tag(data_dir: &DataDir, files: &[PathBuf], model_name: &str, top: usize, json: bool, options: SessionOptions) -> anyhow::Result<i32> {
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

fn tag_file(session: &mut ModelSession, file: &Path, top: usize) -> Result<TagReport, String> {
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
struct ModelReport {
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

/// Examples listed per problem kind before "and N more".
const CHECK_EXAMPLES: usize = 5;

fn check(data_dir: &DataDir, repair: bool, requeue_unverified: bool, model_name: Option<&str>, json: bool) -> anyhow::Result<i32> {
    // Repair checks under the writer lock, so no indexer commits between the check and the re-queue.
    let lock = if repair {
        let mut on_wait = |pid: Option<u32>| {
            let holder = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
            eprintln!("another Strata{holder} is indexing this library; waiting for it to finish…");
        };
        Some(WriterLock::acquire(data_dir, LockWait::Wait, &mut on_wait)?)
    } else {
        None
    };
    let report = store_check::check_store(data_dir, model_name)?;
    let requeued = match &lock {
        Some(lock) => Some(store_check::requeue_damaged(data_dir, &report, requeue_unverified, lock)?),
        None => None,
    };
    drop(lock);
    // Re-queuing cures damaged rows; a damaged catalog file it cannot cure.
    let damaged_left = !report.catalog_problems.is_empty() || (requeued.is_none() && !report.is_clean());
    if json {
        let doc = serde_json::json!({"clean": report.is_clean(), "report": report, "requeued": requeued});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(if damaged_left { 1 } else { 0 });
    }
    for model in &report.models {
        if let Some(reason) = &model.not_checked {
            println!("{}: not checked: {reason}", model.model);
            continue;
        }
        println!(
            "{}: {} tracks, {} verified, {} damaged, {} unverifiable.",
            model.model,
            model.tracks,
            model.verified,
            model.damaged.len(),
            model.unverified
        );
        for (&problem, &count) in &model.problem_counts {
            println!("  {count} × {} ({})", problem.name(), problem.describe());
            let examples: Vec<_> = model.damaged.iter().filter(|d| d.problems.contains(&problem)).collect();
            for damaged in examples.iter().take(CHECK_EXAMPLES) {
                println!("      {} (id {})", damaged.path.display(), damaged.track_id);
            }
            if examples.len() > CHECK_EXAMPLES {
                println!("      … and {} more", examples.len() - CHECK_EXAMPLES);
            }
        }
        if model.unverified > 0 {
            println!(
                "  {} tracks were written by an older Strata without row records and cannot be verified \
                 (`strata check --repair --requeue-unverified` has them re-analysed).",
                model.unverified
            );
        }
        if model.other_version > 0 {
            println!(
                "  {} tracks were analysed by another model or analysis version; the next `strata index` redoes them.",
                model.other_version
            );
        }
    }
    if report.catalog_problems.is_empty() {
        println!("catalog: SQLite integrity check ok.");
    } else {
        println!(
            "catalog: SQLite integrity check failed (re-queuing cannot fix this; restore catalog.sqlite from a backup or index again into an empty data folder):"
        );
        for line in report.catalog_problems.iter().take(CHECK_EXAMPLES * 2) {
            println!("  {line}");
        }
    }
    match requeued {
        Some(n) => println!("{n} tracks will be re-analysed by the next `strata index`."),
        None if report.damaged_tracks() > 0 => {
            println!("The store is damaged ({} tracks): run `strata check --repair`, then `strata index`.", report.damaged_tracks())
        }
        None => {}
    }
    Ok(if damaged_left { 1 } else { 0 })
}

fn models(data_dir: &DataDir, json: bool, options: SessionOptions) -> anyhow::Result<i32> {
    let runtime = onnx_runtime::init();
    let mut reports = Vec::new();
    let mut broken = Vec::new();
    for found in model::discover_models(&data_dir.model_search_dirs()) {
        match found {
            Ok(info) => {
                let (provider, error) = match runtime {
                    Ok(_) => match ModelSession::open(&info, options) {
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

fn index(data_dir: &DataDir, options: IndexOptions, json: bool) -> anyhow::Result<i32> {
    let handle = indexer::start(data_dir.clone(), options)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} tracks  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut summary = None;
    for event in handle.events.iter() {
        match event {
            IndexEvent::Started { to_analyse, unchanged, removed } => {
                bar.set_length(to_analyse as u64);
                bar.println(format!("{to_analyse} to analyse, {unchanged} unchanged, {removed} removed"));
            }
            IndexEvent::Progress(p) => {
                bar.set_position(p.done as u64);
                let eta = p.eta_s().map_or_else(|| "?".into(), format_duration);
                bar.set_message(format!(
                    "{:.2} h audio  {:.2} tracks/s  ETA {eta}  {}",
                    p.audio_s / 3600.0,
                    p.tracks_per_s(),
                    p.current.as_deref().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                ));
            }
            IndexEvent::TrackFailed(failure) => bar.println(format!("failed: {}: {}", failure.path.display(), failure.reason)),
            IndexEvent::Finished(s) => summary = Some(s),
            IndexEvent::Error(message) => {
                bar.finish_and_clear();
                anyhow::bail!(message);
            }
            IndexEvent::WaitingForWriter { pid } => {
                // On stderr even with --json: the run is not stuck, it waits its turn.
                let holder = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
                bar.suspend(|| eprintln!("another Strata{holder} is indexing this library; waiting…"));
            }
            IndexEvent::TrackDone { path, warnings } => {
                if !warnings.is_empty() {
                    bar.println(format!("warning: {}: {}", path.display(), warnings.join("; ")));
                }
            }
            IndexEvent::Committed => {}
        }
    }
    bar.finish_and_clear();
    let summary = summary.ok_or_else(|| anyhow::anyhow!("the indexer stopped without a summary"))?;
    if json {
        let listed = |entries: &[crate::storage::catalog::Failure]| -> Vec<serde_json::Value> {
            entries.iter().map(|f| serde_json::json!({"path": f.path.display().to_string(), "reason": f.reason})).collect()
        };
        println!(
            "{}",
            serde_json::json!({
                "indexed": summary.indexed, "unchanged": summary.unchanged, "removed": summary.removed,
                "failed": listed(&summary.failed), "audio_s": summary.audio_s, "elapsed_s": summary.elapsed_s,
                "skipped": listed(&summary.skipped), "unreadable_dirs": listed(&summary.unreadable_dirs),
                "warnings": listed(&summary.warnings), "found": summary.found, "not_analysed": summary.not_analysed,
            })
        );
    } else {
        println!(
            "Found {} files: {} indexed ({:.2} h of audio, {} with warnings), {} unchanged, {} failed, {} skipped{}; {} removed; {}.",
            summary.found,
            summary.indexed,
            summary.audio_s / 3600.0,
            summary.warnings.len(),
            summary.unchanged,
            summary.failed.len(),
            summary.skipped.len(),
            if summary.not_analysed > 0 { format!(", {} not analysed (cancelled)", summary.not_analysed) } else { String::new() },
            summary.removed,
            format_duration(summary.elapsed_s),
        );
        for failure in &summary.failed {
            println!("  failed: {}: {}", failure.path.display(), failure.reason);
        }
        for warning in &summary.warnings {
            println!("  warning: {}: {}", warning.path.display(), warning.reason);
        }
        for skipped in &summary.skipped {
            println!("  skipped: {}: {}", skipped.path.display(), skipped.reason);
        }
        for dir in &summary.unreadable_dirs {
            println!("  unreadable folder: {}: {}", dir.path.display(), dir.reason);
        }
    }
    Ok(0)
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 { format!("{}h{:02}m", s / 3600, (s % 3600) / 60) } else { format!("{}m{:02}s", s / 60, s % 60) }
}

/// Loads `model`'s snapshot, saying on stderr when damaged tracks were left out.
fn load_snapshot(data_dir: &DataDir, model: &str) -> anyhow::Result<LibrarySnapshot> {
    let snapshot = LibrarySnapshot::load(data_dir, model)?;
    if let Some(message) = snapshot.damage.message() {
        eprintln!("strata: {message}");
    }
    Ok(snapshot)
}

/// A snapshot with its search engine and the facets and weights a query asked for.
struct PreparedSearch {
    engine: SearchEngine,
    facets: Vec<Facet>,
    weights: Vec<f32>,
    exclusion: Exclusion,
}

/// Loads the snapshot and resolves the query options. `pruning`: search
/// heads pay for their fitting over many queries that each want a few results.
fn prepare_search(data_dir: &DataDir, args: &QueryArgs, pruning: Pruning) -> anyhow::Result<PreparedSearch> {
    let snapshot = Arc::new(load_snapshot(data_dir, &args.model)?);
    if snapshot.is_empty() {
        anyhow::bail!("no tracks are indexed for model '{}'", args.model);
    }
    let manifest = &snapshot.model.manifest;
    let layer_names = snapshot.layer_names();
    let mut facets = Vec::new();
    let mut weights = Vec::new();
    for layer in &args.layers {
        let index = layer
            .parse::<usize>()
            .ok()
            .filter(|&i| i < layer_names.len())
            .or_else(|| snapshot.layer_index(layer))
            .ok_or_else(|| anyhow::anyhow!("no layer '{layer}' (layers: {})", layer_names.join(", ")))?;
        facets.push(Facet { name: layer_names[index].clone(), layer: index });
        weights.push(1.0);
    }
    if !args.aspects.is_empty() || args.layers.is_empty() {
        let resolved = resolve_aspects(&library_probe::probe_or_compute(data_dir, &snapshot));
        let requested: Vec<(String, f32)> = if args.aspects.is_empty() {
            resolved.iter().map(|a| (a.name.clone(), 1.0)).collect()
        } else {
            args.aspects.iter().map(|spec| parse_weight(spec)).collect::<anyhow::Result<_>>()?
        };
        for (name, weight) in requested {
            let Some(aspect) = resolved.iter().find(|a| a.name == name) else {
                if aspect_by_name(&name).is_none() {
                    let known: Vec<&str> = ASPECTS.iter().map(|a| a.name).collect();
                    anyhow::bail!("no aspect '{name}' (aspects: {})", known.join(", "));
                }
                anyhow::bail!("aspect '{name}' has no probe evidence on this library yet (too few analysed tracks)");
            };
            facets.push(Facet { name: aspect.name.clone(), layer: aspect.layer });
            weights.push(weight);
        }
    }
    if facets.is_empty() {
        // Too few tracks to probe: compare on the passage layer alone.
        let layer = manifest.passage_layer_index();
        facets.push(Facet { name: manifest.layers[layer].name.clone(), layer });
        weights.push(1.0);
    }
    let exclusion = Exclusion { same_album: args.exclude_album, same_work: args.exclude_work };
    Ok(PreparedSearch { engine: SearchEngine::with_pruning(snapshot, args.center, pruning), facets, weights, exclusion })
}

fn parse_weight(spec: &str) -> anyhow::Result<(String, f32)> {
    let (name, weight) = spec.split_once('=').unwrap_or((spec, "1"));
    let weight: f32 = weight.trim().parse().map_err(|_| anyhow::anyhow!("bad weight in '{spec}' (use NAME=0.5)"))?;
    if !weight.is_finite() || weight < 0.0 {
        anyhow::bail!("weights must be zero or positive: '{spec}'");
    }
    Ok((name.trim().to_lowercase(), weight))
}

fn similar(data_dir: &DataDir, track: &str, args: &QueryArgs, passages: bool, json: bool) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let query = snapshot.find(track).ok_or_else(|| anyhow::anyhow!("'{track}' is not an indexed track (give its path or catalog id)"))?;
    let scores = prepared.engine.query(query, &prepared.facets);
    let excluded = prepared.engine.exclusion_filter(query, prepared.exclusion);
    let results = scores.rank(&prepared.weights, args.k, &excluded);
    let query_track = &snapshot.tracks[query];
    if json {
        let items: Vec<_> = results
            .iter()
            .map(|r| {
                let t = &snapshot.tracks[r.track];
                let facets: serde_json::Map<String, serde_json::Value> =
                    prepared.facets.iter().zip(&r.facet_scores).map(|(f, s)| (f.name.clone(), serde_json::json!(s))).collect();
                let mut item = serde_json::json!({"path": t.path.display().to_string(), "id": t.id, "title": t.display_title(),
                    "composer": t.tags.composer, "album": t.tags.album, "score": r.score, "facets": facets});
                if passages && let Some(p) = best_passage(&snapshot, query, r.track) {
                    item["passage"] = serde_json::json!(p);
                }
                item
            })
            .collect();
        let facets: Vec<_> = prepared
            .facets
            .iter()
            .zip(&prepared.weights)
            .map(|(f, w)| serde_json::json!({"name": f.name, "layer": snapshot.layer_names()[f.layer], "weight": w}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"query": query_track.path.display().to_string(), "facets": facets, "results": items})
            )?
        );
        return Ok(0);
    }
    println!("Similar to {} — {}", query_track.display_title(), query_track.tags.composer.as_deref().unwrap_or("?"));
    let facet_names: Vec<String> = prepared
        .facets
        .iter()
        .zip(&prepared.weights)
        .map(|(f, w)| format!("{}@{} ×{w}", f.name, snapshot.layer_names()[f.layer]))
        .collect();
    println!("compared on: {}", facet_names.join(", "));
    for (rank, r) in results.iter().enumerate() {
        let t = &snapshot.tracks[r.track];
        let breakdown: Vec<String> = prepared.facets.iter().zip(&r.facet_scores).map(|(f, s)| format!("{}={s:.2}", f.name)).collect();
        println!(
            "{:>3}. {:.3}  {} — {}  [{}]",
            rank + 1,
            r.score,
            t.display_title(),
            t.tags.composer.as_deref().unwrap_or("?"),
            breakdown.join(" ")
        );
        if passages && let Some(p) = best_passage(&snapshot, query, r.track) {
            println!("       passage: query {:.1} s ↔ result {:.1} s (cos {:.2})", p.query_start_s, p.result_start_s, p.similarity);
        }
    }
    Ok(0)
}

fn neighbours(data_dir: &DataDir, args: &QueryArgs) -> anyhow::Result<i32> {
    let mut prepared = prepare_search(data_dir, args, Pruning::Auto)?;
    let snapshot = prepared.engine.snapshot().clone();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for query in 0..snapshot.len() {
        let scores = prepared.engine.query(query, &prepared.facets);
        let excluded = prepared.engine.exclusion_filter(query, prepared.exclusion);
        let results: Vec<String> =
            scores.rank(&prepared.weights, args.k, &excluded).iter().map(|r| snapshot.tracks[r.track].path.display().to_string()).collect();
        let line = serde_json::json!({"query": snapshot.tracks[query].path.display().to_string(), "results": results});
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(0)
}

fn probe_command(data_dir: &DataDir, model_name: &str, folds: usize, json: bool) -> anyhow::Result<i32> {
    let snapshot = load_snapshot(data_dir, model_name)?;
    let options = ProbeOptions { folds: folds.max(2), ..ProbeOptions::default() };
    let table = match library_probe::load_probe(data_dir, &snapshot, options.folds) {
        Some(table) => table,
        None => {
            let bar = indicatif::ProgressBar::new(snapshot.layer_names().len() as u64);
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let table = library_probe::run_probe(&snapshot, &options, &mut |done, _| bar.set_position(done as u64));
            bar.finish_and_clear();
            library_probe::save_probe(data_dir, &snapshot, &table)?;
            table
        }
    };
    let resolved = resolve_aspects(&table);
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"model": model_name, "probe": table, "aspects": resolved}))?);
        return Ok(0);
    }
    println!(
        "Probe R² ({}-fold CV Ridge, {} tracks, model {model_name}); * marks the best layer per descriptor",
        table.folds, table.tracks
    );
    print!("{:<14}", "layer");
    for target in &table.targets {
        print!(" {:>9}", short_descriptor(target));
    }
    println!();
    for (l, layer) in table.layers.iter().enumerate() {
        print!("{layer:<14}");
        for t in 0..table.targets.len() {
            let value = table.cell(l, t);
            let best = table.best_layer(t).is_some_and(|(b, _)| b == l);
            let text = if value.is_finite() { format!("{value:.3}") } else { "n/a".into() };
            print!(" {:>8}{}", text, if best { "*" } else { " " });
        }
        println!();
    }
    println!("\nAspects → layers:");
    for aspect in &resolved {
        println!("  {:<12} {:<14} R² {:.3}", aspect.name, aspect.layer_name, aspect.r2);
    }
    Ok(0)
}

/// The descriptor's short label from its table; a key Strata does not know, cut to the column.
fn short_descriptor(key: &str) -> String {
    Descriptor::from_key(key).map_or_else(|| key.chars().take(9).collect(), |d| d.short_label().to_string())
}

fn eval_command(
    data_dir: &DataDir,
    label: &str,
    labels_csv: Option<&Path>,
    args: &QueryArgs,
    best_mix: bool,
    json: bool,
) -> anyhow::Result<i32> {
    // Evaluation ranks every track for every query: heads would only add work.
    let mut prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let labels = label_source::track_labels(&snapshot.tracks, label, labels_csv)?;
    if labels.iter().all(Option::is_none) {
        anyhow::bail!("no track has a '{label}' label");
    }
    let exclusion = prepared.exclusion;
    let rank_all = |engine: &mut SearchEngine, facets: &[Facet], weights: &[f32]| -> Vec<Vec<usize>> {
        (0..snapshot.len())
            .map(|q| {
                let scores = engine.query(q, facets);
                scores.rank(weights, snapshot.len(), &|_| false).iter().map(|r| r.track).collect()
            })
            .collect()
    };
    // With a labels file that has a `work` column, "same work" means that ground truth.
    let csv_works = match labels_csv {
        Some(csv) if exclusion.same_work => label_source::track_labels(&snapshot.tracks, "work", Some(csv)).ok(),
        _ => None,
    };
    let exclude = |q: usize, c: usize| match &csv_works {
        Some(works) => {
            (works[q].is_some() && works[q] == works[c]) || is_excluded(&snapshot.tracks, q, c, Exclusion { same_work: false, ..exclusion })
        }
        None => is_excluded(&snapshot.tracks, q, c, exclusion),
    };
    let mut rows = Vec::new();
    for (layer, name) in snapshot.layer_names().into_iter().enumerate() {
        let facet = [Facet { name: name.clone(), layer }];
        let rankings = rank_all(&mut prepared.engine, &facet, &[1.0]);
        rows.push((name, evaluate_rankings(&rankings, &labels, args.k, &exclude)));
    }
    let mix_name = prepared.facets.iter().zip(&prepared.weights).map(|(f, w)| format!("{}={w}", f.name)).collect::<Vec<_>>().join(",");
    let rankings = rank_all(&mut prepared.engine, &prepared.facets.clone(), &prepared.weights.clone());
    rows.push((format!("mix[{mix_name}]"), evaluate_rankings(&rankings, &labels, args.k, &exclude)));
    let mut mix_note = None;
    if best_mix {
        let resolved = resolve_aspects(&library_probe::probe_or_compute(data_dir, &snapshot));
        let candidates = best_mix::mix_candidates(&resolved);
        if candidates.is_empty() {
            mix_note = Some("--best-mix: no aspect has probe evidence on this library yet (too few analysed tracks).".to_string());
        } else {
            let rank = |facets: &[Facet]| rank_all(&mut prepared.engine, facets, &vec![1.0; facets.len()]);
            rows.extend(best_mix::best_mix_rows(&candidates, rank, &labels, args.k, &exclude, &snapshot.layer_names()));
            mix_note = Some(format!(
                "{} mixes tried: every set of the layers the aspects use, weight 1 each. \"held out\" ranks the queries of each random\n\
                 half by the mix chosen within the other half (no pair it scores was used to choose); \"in-sample\" chooses and scores\n\
                 on the same labels.",
                candidates.len()
            ));
        }
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(n, e)| serde_json::json!({"name": n, "metrics": e.metrics, "random": e.random, "precision_at_k_ci95": e.precision_interval}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"label": label, "k": args.k, "centered": args.center, "rows": items}))?
        );
        return Ok(0);
    }
    let k = args.k;
    println!("Retrieval by '{label}' (k = {k}, {} tracks, centring {})", snapshot.len(), if args.center { "on" } else { "off" });
    // As wide as the longest name (an aspect mix lists its weights), so the columns line up.
    let width = rows.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0).max(26);
    println!(
        "{:<width$} {:>7} {:>14} {:>7} {:>7} {:>7} {:>7}",
        "ranking",
        format!("P@{k}"),
        "95 % interval",
        format!("mAP@{k}"),
        format!("nDCG@{k}"),
        "MRR",
        format!("Hit@{k}")
    );
    for (name, Evaluation { metrics: m, precision_interval: (lo, hi), .. }) in &rows {
        let interval = format!("[{lo:.3}, {hi:.3}]");
        println!(
            "{:<width$} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            name, m.precision_at_k, interval, m.map_at_k, m.ndcg_at_k, m.mrr, m.hit_rate_at_k
        );
    }
    if let Some((_, Evaluation { random: r, .. })) = rows.first() {
        println!(
            "{:<width$} {:>7.3} {:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            "random (exact expectation)", r.precision_at_k, "", r.map_at_k, r.ndcg_at_k, r.mrr, r.hit_rate_at_k
        );
    }
    println!(
        "({} queries; the interval resamples them: rankings whose intervals overlap a lot may not differ)",
        rows.first().map_or(0, |(_, e)| e.metrics.queries)
    );
    if let Some(note) = mix_note {
        println!("{note}");
    }
    Ok(0)
}

fn map_command(data_dir: &DataDir, out: &Path, method: map::Method, args: &QueryArgs) -> anyhow::Result<i32> {
    let prepared = prepare_search(data_dir, args, Pruning::Never)?;
    let snapshot = prepared.engine.snapshot().clone();
    let parts: Vec<(usize, f32)> = prepared.facets.iter().map(|f| f.layer).zip(prepared.weights.iter().copied()).collect();
    let source = match parts.as_slice() {
        [(layer, _)] => map::MapSource::Layer(*layer),
        _ => map::MapSource::Mix(parts),
    };
    let features = map::source_features(&snapshot, &source);
    let started = std::time::Instant::now();
    let points = map::project(&features, method, 42, &mut |_, _| {}, &|| false)?.points;
    let preserved = map::neighbourhood_preservation(&features, &points, 10.min(snapshot.len().saturating_sub(1)));
    eprintln!(
        "{} tracks projected with {method:?} in {:.2} s; {:.1} % of each track's 10 nearest neighbours stay among its 10 nearest on the map",
        snapshot.len(),
        started.elapsed().as_secs_f64(),
        preserved * 100.0
    );
    let is_png = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        let labels: Vec<String> =
            snapshot.tracks.iter().map(|t| t.tags.composer.clone().unwrap_or_else(|| "(no composer)".into())).collect();
        let names: Vec<String> = prepared.facets.iter().map(|f| format!("{}@{}", f.name, snapshot.layer_names()[f.layer])).collect();
        let title = format!("{} · {method:?} · {}", snapshot.model.manifest.display_name, names.join(" + "));
        crate::map::render::render_png(&points, &labels, &title, out)?;
    } else {
        let mut writer = csv::Writer::from_path(out)?;
        writer.write_record(["path", "x", "y", "composer", "album"])?;
        for (track, point) in snapshot.tracks.iter().zip(&points) {
            writer.write_record([
                track.path.display().to_string(),
                point[0].to_string(),
                point[1].to_string(),
                track.tags.composer.clone().unwrap_or_default(),
                track.tags.album.clone().unwrap_or_default(),
            ])?;
        }
        writer.flush()?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_args(args: &[&str]) -> QueryArgs {
        match Cli::try_parse_from(["strata", "eval", "--label", "album"].iter().chain(args)).map(|cli| cli.command) {
            Ok(Some(Command::Eval { query, .. })) => query,
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn centring_is_on_unless_no_center_is_given() {
        assert!(query_args(&[]).center);
        assert!(!query_args(&["--no-center"]).center);
    }
}

//! The command line: every capability of the window, for scripts and tests.
//!
//! Parses arguments (clap), runs one command, prints for people or, with
//! `--json`, for machines. Owns no logic of its own beyond formatting.

mod insight;
mod journey;
mod library;
mod models;
mod search;
mod synth;
mod versions;
mod works;
mod works_search;

use insight::{eval_command, map_command, probe_command};
use library::{check, index};
use models::{models, tag};
use search::{neighbours, prepare_search, similar};
use std::path::PathBuf;
use versions::{VersionsRequest, align_command, versions};

use clap::{Parser, Subcommand};

use crate::analysis::Sampling;
use crate::indexer::IndexOptions;
use crate::map;
use crate::model::{self, ProviderPreference, SessionOptions};
use crate::search::Normalization;
use crate::storage::data_dir::DataDir;
use crate::storage::snapshot::LibrarySnapshot;
use crate::works::similarity::Unit;

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
    /// Graph variant of the model to run (fp32, fused, int8, fp16; default: the model's choice for the provider).
    #[arg(long, global = true, value_name = "NAME")]
    pub model_variant: Option<String>,
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
    /// Works inferred from tags and titles (id, source, tracks); with an action, correct them.
    Works {
        /// A correction; none lists the works.
        #[command(subcommand)]
        action: Option<WorksAction>,
        /// Score the inference against a CSV's `work` column: pairwise precision, recall and F1 of "same work".
        #[arg(long, value_name = "LABELS.csv")]
        score: Option<PathBuf>,
        /// Print JSON (one line per work; the score as one object).
        #[arg(long, global = true)]
        json: bool,
    },
    /// Every catalogued track with its work, movement and every tag read.
    Tracks {
        /// JSON Lines: one object per track.
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
        /// Analysis worker threads, each decoding, describing and embedding whole tracks (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Analyse every second of every track instead of excerpts spread over it.
        #[arg(long, conflicts_with_all = ["excerpts", "excerpt_seconds", "fast", "model_windows"])]
        full: bool,
        /// Fewer excerpts (2 of 6 s for a one-minute track, more for longer ones): about 4x faster, at a measured quality cost.
        #[arg(long, conflicts_with_all = ["excerpts", "excerpt_seconds", "model_windows"])]
        fast: bool,
        /// Excerpts spread over each track (default: Strata's default sampling).
        #[arg(long, value_name = "N")]
        excerpts: Option<usize>,
        /// Seconds per excerpt (default: Strata's default sampling).
        #[arg(long, value_name = "S")]
        excerpt_seconds: Option<f64>,
        /// The most model windows per track, spread over its excerpts (default: Strata's default sampling).
        #[arg(long, value_name = "N")]
        model_windows: Option<usize>,
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
        /// Also try every single layer and every set of the layers the
        /// aspects use and report the best: chosen on four fifths of the
        /// works and scored on the other fifth's queries, and (flattering) in-sample.
        #[arg(long)]
        best_mix: bool,
        /// Count as candidates only the tracks that share the query's value of this label (`--within ensemble`).
        #[arg(long, value_name = "LABEL")]
        within: Option<String>,
        /// With --best-mix, also choose with one collection left out, for each: a collection is this label's value up to its first '/' (`--collection source`).
        #[arg(long, value_name = "LABEL", requires = "best_mix")]
        collection: Option<String>,
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
    /// List the models found, their layers and the execution provider each will use, and those that can be installed.
    Models {
        /// Install or remove a model; none lists them.
        #[command(subcommand)]
        action: Option<ModelsAction>,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Other recordings of the same piece, found from the audio (any key, tempo, instrumentation), with a calibrated confidence.
    ///
    /// The whole library is searched and the answer kept in the data folder: the window then shows
    /// each track's other recordings and links their works.
    Versions {
        /// Query track: its path as indexed, or its catalog id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        track: Option<String>,
        /// Every indexed track, one JSON line each.
        #[arg(long)]
        all: bool,
        /// Results per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Candidates per query that the key-invariant summary passes on to the coarse verification.
        #[arg(long, default_value_t = 128)]
        shortlist: usize,
        /// Candidates per query that the coarse verification passes on to the full one.
        #[arg(long, default_value_t = 32)]
        candidates: usize,
        /// Verify every pair of tracks instead of the summary's candidates.
        #[arg(long)]
        no_prefilter: bool,
        /// Print JSON Lines.
        #[arg(long)]
        json: bool,
    },
    /// Align two recordings of one piece: a monotone map from times in A to times in B.
    Align {
        /// Recording A (any audio file).
        a: PathBuf,
        /// Recording B.
        b: PathBuf,
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
    /// Write a synthetic archive for measuring Strata at scale: a catalog and
    /// stores (`--tracks`), and/or real short tagged audio files (`--audio`).
    #[command(hide = true)]
    SynthLibrary {
        /// Tracks to write straight into the catalog and store of --data-dir (which must hold no library yet).
        #[arg(long, value_name = "N")]
        tracks: Option<usize>,
        /// Also write a MERT-shaped store (13 × 768 layers, model `mert-synthetic`).
        #[arg(long)]
        mert: bool,
        /// Seed: the same seed writes the same archive.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder the catalog's (nonexistent) track paths start with (default: DATA_DIR/synthetic-music).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Audio files to write below --out.
        #[arg(long, value_name = "N", requires = "out")]
        audio: Option<usize>,
        /// Folder for the audio files.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Length of each audio file (s).
        #[arg(long, default_value_t = 4.0)]
        seconds: f32,
        /// Audio formats, cycled file by file (default: all; MP3, Ogg and M4A need ffmpeg).
        #[arg(long = "format", value_enum)]
        formats: Vec<crate::synth::audio::AudioFormat>,
    },
    /// A path from track A to track B that moves smoothly in the aspect mix: no repeats, no album twice in a row.
    Path {
        /// Start: a track's path as indexed, or its catalog id.
        from: String,
        /// End: a track's path as indexed, or its catalog id.
        to: String,
        /// Tracks (with --unit work, works) between the two ends.
        #[arg(long, default_value_t = 8)]
        steps: usize,
        /// Ranking options (the aspect mix the path moves in; --unit work walks whole works).
        #[command(flatten)]
        query: QueryArgs,
        /// Print JSON: {"path": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Order tracks along an aspect (brightness, rhythm…) or a descriptor, lowest first.
    Order {
        /// The aspect (`brightness`, `rhythm`, …) or descriptor key (`spectral_centroid_hz`) to order by.
        #[arg(long, value_name = "ASPECT")]
        by: String,
        /// Highest first (brightest to darkest, busiest to calmest).
        #[arg(long)]
        descending: bool,
        /// Tracks: paths as indexed, or catalog ids.
        #[arg(required = true)]
        tracks: Vec<String>,
        /// Model whose library holds the tracks.
        #[arg(long, default_value = model::DEFAULT_MODEL)]
        model: String,
        /// Print JSON: {"order": [...]}.
        #[arg(long)]
        json: bool,
    },
}

/// Corrections to inferred works; they are kept in the catalog and survive re-indexing.
#[derive(Debug, Subcommand)]
pub enum WorksAction {
    /// Merge works into the first one named.
    Merge {
        /// Work ids (see `strata works`), the first one keeps its id and title.
        #[arg(required = true, num_args = 2..)]
        ids: Vec<String>,
    },
    /// Move tracks out of a work into a new one.
    Split {
        /// The work's id.
        id: String,
        /// Tracks to move: paths as indexed, or catalog ids.
        #[arg(required = true)]
        tracks: Vec<String>,
    },
    /// Give a work a title.
    Rename {
        /// The work's id.
        id: String,
        /// The new title.
        title: String,
    },
    /// Forget the corrections of a work: its tracks go back to what inference gives them.
    Reset {
        /// The work's id.
        id: String,
    },
}

/// Installing and removing optional models (MERT-v1) in the data folder.
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Download a model's checkpoint from the Hugging Face hub (or read one with --from), check it and convert it.
    Install {
        /// The model, e.g. `mert-v1-95m` (`strata models` lists them).
        name: String,
        /// A checkpoint you downloaded: a folder with config.json and model.safetensors or pytorch_model.bin, or one of those files.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// Accept the weights' licence without being asked (for scripts).
        #[arg(long)]
        accept_licence: bool,
    },
    /// Delete an installed model from the data folder.
    Remove {
        /// The model's name.
        name: String,
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
    /// Per-layer normalisation: on unless `--no-center` is given.
    #[arg(long = "no-center", action = clap::ArgAction::SetFalse, help = "Turn off per-layer normalisation (compare the stored vectors)")]
    pub center: bool,
    /// How each layer is normalised over the library before the cosine.
    #[arg(long, value_enum, default_value_t = Normalization::default())]
    pub normalize: Normalization,
    /// What `similar`, `neighbours`, `eval` and `path` rank: tracks, or whole works.
    #[arg(long, value_enum, default_value_t = crate::works::similarity::Unit::Track)]
    pub unit: crate::works::similarity::Unit,
    /// With --unit work: how movement similarities combine into a work's (`eval --unit work` reports every one).
    #[arg(long, value_enum, default_value_t = crate::works::similarity::WorkCombination::BestMatch)]
    pub combination: crate::works::similarity::WorkCombination,
}

impl QueryArgs {
    /// The normalisation asked for: `--normalize`, or none with `--no-center`.
    pub fn normalization(&self) -> Normalization {
        if self.center { self.normalize } else { Normalization::None }
    }
}

/// Runs a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let data_dir = DataDir::resolve(cli.data_dir.as_deref())?;
    let options = SessionOptions { provider: cli.provider, variant: cli.model_variant.clone(), ..SessionOptions::default() };
    match cli.command {
        None => Ok(0),
        Some(Command::Tag { files, model, top, json }) => tag(&data_dir, &files, &model, top, json, options),
        Some(Command::Models { action, json }) => models(&data_dir, action, json, options),
        Some(Command::Works { action, score, json }) => works::works(&data_dir, action, score.as_deref(), json),
        Some(Command::Tracks { json }) => works::tracks(&data_dir, json),
        Some(Command::Check { repair, requeue_unverified, model, json }) => {
            check(&data_dir, repair, requeue_unverified, model.as_deref(), json)
        }
        Some(Command::Similar { track, query, json, .. }) if query.unit == Unit::Work => {
            works_search::similar_works(&data_dir, &track, &query, json)
        }
        Some(Command::Neighbours { query, .. }) if query.unit == Unit::Work => works_search::neighbours_works(&data_dir, &query),
        Some(Command::Eval { label, labels, query, json, .. }) if query.unit == Unit::Work => {
            works_search::eval_works(&data_dir, &label, labels.as_deref(), &query, json)
        }
        Some(Command::Path { from, to, steps, query, json }) => journey::path_command(&data_dir, &from, &to, steps, &query, json),
        Some(Command::Order { by, descending, tracks, model, json }) => {
            journey::order_command(&data_dir, &by, descending, &tracks, &model, json)
        }
        Some(Command::Similar { track, query, passages, json }) => similar(&data_dir, &track, &query, passages, json),
        Some(Command::SynthLibrary { tracks, mert, seed, root, audio, out, seconds, formats }) => {
            let request =
                synth::SynthRequest { tracks, mert, seed, root: root.as_deref(), audio, out: out.as_deref(), seconds, formats: &formats };
            synth::synth_library(&data_dir, &request)
        }
        Some(Command::Neighbours { query, .. }) => neighbours(&data_dir, &query),
        Some(Command::Map { out, method, query }) => map_command(&data_dir, &out, method, &query),
        Some(Command::Probe { model, folds, json }) => probe_command(&data_dir, &model, folds, json),
        Some(Command::Eval { label, labels, query, best_mix, within, collection, json }) => {
            let scope = insight::EvalScope { within: within.as_deref(), collection: collection.as_deref(), best_mix };
            eval_command(&data_dir, &label, labels.as_deref(), &query, &scope, json)
        }
        Some(Command::Versions { track, all: _, k, shortlist, candidates, no_prefilter, json }) => {
            versions(&data_dir, &VersionsRequest { track: track.as_deref(), k, shortlist, candidates, prefilter: !no_prefilter, json })
        }
        Some(Command::Align { a, b, json }) => align_command(&a, &b, json),
        Some(Command::Index { dirs, model, jobs, full, fast, excerpts, excerpt_seconds, model_windows, retry_failed, json, no_wait }) => {
            let mut index_options = IndexOptions::new(dirs);
            index_options.wait_for_writer = !no_wait;
            index_options.model = model;
            index_options.retry_failed = retry_failed;
            index_options.provider = cli.provider;
            index_options.variant = cli.model_variant;
            if let Some(jobs) = jobs {
                index_options.jobs = jobs.max(1);
            }
            index_options.sampling = if full {
                Sampling::Full
            } else if fast {
                Sampling::FAST
            } else {
                let excerpt_s = excerpt_seconds.unwrap_or(Sampling::DEFAULT_EXCERPT_S);
                if !excerpt_s.is_finite() || excerpt_s <= 0.0 {
                    anyhow::bail!("--excerpt-seconds must be a positive number of seconds");
                }
                if model_windows == Some(0) {
                    anyhow::bail!("--model-windows must be at least 1");
                }
                Sampling::Spread {
                    excerpts: excerpts.unwrap_or(Sampling::DEFAULT_EXCERPTS).max(1),
                    excerpt_s,
                    model_windows: model_windows.or(Sampling::DEFAULT.model_windows()),
                }
            };
            index(&data_dir, index_options, json)
        }
    }
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
        assert_eq!(query_args(&[]).normalization(), Normalization::Center);
        assert_eq!(query_args(&["--normalize", "standardize"]).normalization(), Normalization::Standardize);
        assert_eq!(query_args(&["--normalize", "standardize", "--no-center"]).normalization(), Normalization::None);
    }
}

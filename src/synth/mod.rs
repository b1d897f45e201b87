//! Synthetic archives: a collector's library of any size, for measuring
//! Strata at scale without rendering hours of audio.
//!
//! [`write_library`] writes a catalog and vector stores straight through the
//! storage layer's real writer ([`LibraryWriter`]): tags planned by
//! [`catalogue`], clustered vectors and descriptors from [`vectors`], for
//! MusicNN's layers and optionally a MERT-shaped model of 13 × 768 layers.
//! The tracks' files do not exist. [`audio::write_audio`] writes real short,
//! tagged audio files for indexing runs. Used by the hidden
//! `strata synth-library` command, benchmarks and tests; nothing in the
//! product reads from here.

pub mod audio;
pub mod catalogue;
pub mod vectors;

use std::path::PathBuf;

use crate::analysis::Sampling;
use crate::model::{ModelInfo, find_model};
use crate::storage::catalog::FileStamp;
use crate::storage::data_dir::DataDir;
use crate::storage::library_writer::{AnalysedTrack, LibraryWriter, WriterError};
use crate::storage::writer_lock::LockWait;
use crate::synth::catalogue::PlannedTrack;
use crate::synth::vectors::ClusteredVectors;

/// Name of the MERT-shaped model `--mert` adds (its folder is written into the data folder's models).
pub const MERT_MODEL: &str = "mert-synthetic";

/// Layers and width of the MERT-shaped model (MERT-v1-95M's hidden states).
const MERT_LAYERS: usize = 13;
const MERT_DIM: usize = 768;

/// Passage windows stored per track.
const WINDOWS_PER_TRACK: usize = 2;

/// Tracks generated (on every core) and committed per batch.
const BATCH_TRACKS: usize = 1024;

/// Why a synthetic archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The data folder already has a catalog.
    #[error("{} already holds a library; synth-library writes a new one (give an empty folder)", .0.display())]
    NotEmpty(PathBuf),
    /// A model's manifest could not be found or written.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// Writing the catalog or store failed.
    #[error(transparent)]
    Writer(#[from] WriterError),
    /// Another writer holds the library.
    #[error("another Strata is writing {}", .0.display())]
    Busy(PathBuf),
    /// A file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct LibraryOptions {
    /// Number of tracks.
    pub tracks: usize,
    /// Seed: the same seed gives the same archive.
    pub seed: u64,
    /// Also write a MERT-shaped store ([`MERT_MODEL`], 13 × 768).
    pub mert: bool,
    /// The (nonexistent) folder the tracks' paths start with.
    pub root: PathBuf,
}

/// Counts for the summary.
#[derive(Debug, Clone)]
pub struct LibrarySummary {
    /// Tracks written per model.
    pub tracks: usize,
    /// Models written, each with the bytes of its store.
    pub models: Vec<(String, u64)>,
}

/// Writes a new synthetic library into `data_dir`. `progress(model, done, total)` is called after each batch.
pub fn write_library(
    data_dir: &DataDir,
    options: &LibraryOptions,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<LibrarySummary, SynthError> {
    if data_dir.catalog_path().exists() {
        return Err(SynthError::NotEmpty(data_dir.root().to_path_buf()));
    }
    let plan = catalogue::plan(options.tracks, options.seed);
    let mut models = vec![find_model(crate::model::DEFAULT_MODEL, &data_dir.model_search_dirs())?];
    if options.mert {
        models.push(write_mert_model(data_dir)?);
    }
    let mut summary = LibrarySummary { tracks: plan.len(), models: Vec::new() };
    for model in &models {
        write_model(data_dir, model, options, &plan, progress)?;
        let store_dir = data_dir.model_store_dir(model.name());
        let bytes = std::fs::read_dir(&store_dir)
            .map_err(|error| SynthError::Io { path: store_dir.clone(), error })?
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .map(|m| m.len())
            .sum();
        summary.models.push((model.name().to_string(), bytes));
    }
    Ok(summary)
}

/// Writes the MERT-shaped model's folder (manifest and an empty model file) into the data folder's models.
fn write_mert_model(data_dir: &DataDir) -> Result<ModelInfo, SynthError> {
    let dir = data_dir.models_dir().join(MERT_MODEL);
    let mut manifest = format!(
        "# Written by `strata synth-library --mert`: the shape of MERT-v1-95M (13 hidden states of 768) for\n\
         # synthetic stores. model.onnx is empty: this model cannot analyse audio.\n\
         name = \"{MERT_MODEL}\"\ndisplay_name = \"MERT-shaped (synthetic)\"\nlicense = \"none\"\nversion = 1\n\
         sample_rate_hz = 24000\ninput_name = \"waveform\"\nwindow_s = 5.0\nhop_s = 5.0\n"
    );
    for layer in 0..MERT_LAYERS {
        manifest
            .push_str(&format!("\n[[layers]]\nname = \"layer_{layer}\"\noutput = \"layer_means\"\ndim = {MERT_DIM}\npool = \"none\"\n"));
    }
    let write = |path: PathBuf, bytes: &[u8]| std::fs::write(&path, bytes).map_err(|error| SynthError::Io { path, error });
    std::fs::create_dir_all(&dir).map_err(|error| SynthError::Io { path: dir.clone(), error })?;
    write(dir.join("manifest.toml"), manifest.as_bytes())?;
    write(dir.join("model.onnx"), b"")?;
    Ok(ModelInfo::load(&dir)?)
}

/// One track's generated vectors: every layer's, then its passage windows.
type TrackVectors = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// Writes every planned track for one model through the real writer, a batch at a time.
fn write_model(
    data_dir: &DataDir,
    model: &ModelInfo,
    options: &LibraryOptions,
    plan: &[PlannedTrack],
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<(), SynthError> {
    let busy = || SynthError::Busy(data_dir.root().to_path_buf());
    let library = LibraryWriter::open(data_dir, LockWait::NoWait, &mut |_| {}, &mut || false)?.ok_or_else(busy)?;
    library.add_root(&options.root)?;
    let mut writer = library.for_model(&model.manifest, &Sampling::DEFAULT.label())?;
    let layout = writer.layout().clone();
    let vectors = ClusteredVectors::new(options.seed ^ catalogue::hash_str(model.name()), &layout.layer_dims);
    let passage = layout.passage_layer;
    for (batch, tracks) in plan.chunks(BATCH_TRACKS).enumerate() {
        let first = batch * BATCH_TRACKS;
        let generate = |range: std::ops::Range<usize>| -> Vec<TrackVectors> {
            range
                .map(|i| {
                    let index = first + i;
                    let layers = (0..layout.layer_dims.len()).map(|l| vectors.layer_vector(&tracks[i], index, l)).collect();
                    // Windows: the same composer, work and recording, another moment of the track.
                    let windows = (1..=WINDOWS_PER_TRACK).map(|w| vectors.layer_vector(&tracks[i], index + (w << 40), passage)).collect();
                    (layers, windows)
                })
                .collect()
        };
        let generated = crate::parallel::map_ranges("synth", tracks.len(), 64, generate).concat();
        for (i, (track, (layers, windows))) in tracks.iter().zip(generated).enumerate() {
            let index = first + i;
            let window_refs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
            let window_starts_s = (0..WINDOWS_PER_TRACK).map(|w| (track.duration_s * (w as f64 + 0.5) / 2.5) as f32).collect();
            let analysed = AnalysedTrack {
                path: options.root.join(&track.relative_path),
                // FLAC at about 800 kbit/s.
                stamp: FileStamp { size: (track.duration_s * 100_000.0) as u64, mtime_ns: 1_700_000_000_000_000_000 },
                tags: track.tags.clone(),
                duration_s: track.duration_s,
                descriptors: vectors.descriptors(track, index),
                window_starts_s,
                warnings: Vec::new(),
            };
            writer.stage_track(analysed, &layers, &window_refs)?;
        }
        writer.commit()?;
        progress(model.name(), first + tracks.len(), plan.len());
    }
    Ok(())
}

/// The folder a synthetic library's paths start with when none is given.
pub fn default_root(data_dir: &DataDir) -> PathBuf {
    data_dir.root().join("synthetic-music")
}

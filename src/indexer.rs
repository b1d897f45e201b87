//! The indexing engine behind `strata index` and the window's library panel.
//!
//! Scans the roots, decides what needs analysing (new, changed, failed with
//! `retry_failed`, or made by an older model/analysis version), then runs a
//! pipeline: decode workers (tags, audio, descriptors, tonal profile) feed one inference
//! thread through a bounded channel; the inference thread embeds, appends
//! vectors to the store and commits catalog rows in batches after the
//! vectors are fsynced. Progress leaves as typed [`IndexEvent`]s on a bounded
//! channel; [`IndexControl`] pauses, resumes and cancels.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::analysis::{Sampling, TrackEmbedding, decode_excerpts, embed_audio};
use crate::audio::MonoAudio;
use crate::catalog::{Catalog, Failure, TrackTags, path_bytes};
use crate::descriptors::{Descriptor, DescriptorAnalyzer, Descriptors};
use crate::library::{self, FoundFile};
use crate::model::{self, ModelSession, SessionOptions};
use crate::store::{StoreLayout, StoreWriter};
use crate::tonal::TonalProfile;

/// Sample rate descriptors are computed at, so values compare across files.
pub const DESCRIPTOR_RATE_HZ: u32 = 22_050;

/// The catalog file inside the data folder.
pub fn catalog_path(data_root: &Path) -> PathBuf {
    data_root.join("catalog.sqlite")
}

/// What to index and how.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Library roots to scan (added to the catalog's roots).
    pub roots: Vec<PathBuf>,
    /// Model name.
    pub model: String,
    /// Which seconds of each track are analysed.
    pub sampling: Sampling,
    /// Decode worker threads.
    pub jobs: usize,
    /// Retry files that failed before even if unchanged.
    pub retry_failed: bool,
    /// Execution provider preference.
    pub provider: model::ProviderPreference,
}

impl IndexOptions {
    /// Defaults for `roots`: the default model, spread sampling, half the cores decoding.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            roots,
            model: model::DEFAULT_MODEL.to_string(),
            sampling: Sampling::DEFAULT,
            jobs: (cores / 2).max(1),
            retry_failed: false,
            provider: model::ProviderPreference::Auto,
        }
    }
}

/// Live progress numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexProgress {
    /// Tracks finished (analysed or failed) in this run.
    pub done: usize,
    /// Of which failed.
    pub failed: usize,
    /// Tracks this run will analyse.
    pub total: usize,
    /// Seconds of audio in the finished tracks (whole-track durations).
    pub audio_s: f64,
    /// Seconds since analysis started.
    pub elapsed_s: f64,
    /// The file most recently finished.
    pub current: Option<PathBuf>,
}

impl IndexProgress {
    /// Tracks per second so far.
    pub fn tracks_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 { self.done as f64 / self.elapsed_s } else { 0.0 }
    }

    /// Estimated seconds left.
    pub fn eta_s(&self) -> Option<f64> {
        let rate = self.tracks_per_s();
        (rate > 0.0).then(|| (self.total - self.done) as f64 / rate)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexSummary {
    /// Tracks analysed successfully.
    pub indexed: usize,
    /// Tracks skipped because nothing changed.
    pub unchanged: usize,
    /// Tracks removed because their files are gone.
    pub removed: usize,
    /// Files that failed in this run, or earlier and were not retried.
    pub failed: Vec<Failure>,
    /// Seconds of audio indexed.
    pub audio_s: f64,
    /// Wall time of the run.
    pub elapsed_s: f64,
    /// Whether the run was cancelled before the end.
    pub cancelled: bool,
}

/// Messages from a running indexer.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexEvent {
    /// Scanning finished: how much work there is.
    Started {
        /// Tracks to analyse.
        to_analyse: usize,
        /// Tracks already up to date.
        unchanged: usize,
        /// Tracks removed from the catalog.
        removed: usize,
    },
    /// A track was analysed and committed-to-be.
    TrackDone {
        /// Its path.
        path: PathBuf,
    },
    /// A track could not be analysed.
    TrackFailed(Failure),
    /// Updated numbers.
    Progress(IndexProgress),
    /// Rows up to here are committed: readers may refresh.
    Committed,
    /// The run is over.
    Finished(IndexSummary),
    /// The run could not start or broke (catalog, store or model).
    Error(String),
}

/// Pause, resume and cancel a run from another thread.
#[derive(Debug, Default)]
pub struct IndexControl {
    paused: AtomicBool,
    cancelled: AtomicBool,
}

impl IndexControl {
    /// Pauses (`true`) or resumes (`false`).
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Whether paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Asks the run to stop after committing what is done.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Blocks while paused; returns `false` when cancelled.
    fn wait_while_paused(&self) -> bool {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.is_cancelled()
    }
}

/// A run in the background.
pub struct IndexHandle {
    /// Events, in order; the channel closes when the run ends.
    pub events: Receiver<IndexEvent>,
    /// Pause/resume/cancel.
    pub control: Arc<IndexControl>,
}

/// Starts indexing on a named background thread at background priority
/// (its decode workers and ONNX Runtime's threads inherit it), so the window stays smooth.
pub fn start(data_root: PathBuf, options: IndexOptions) -> std::io::Result<IndexHandle> {
    let (sender, events) = bounded(256);
    let control = Arc::new(IndexControl::default());
    let thread_control = control.clone();
    std::thread::Builder::new().name("strata-index".into()).spawn(move || {
        crate::priority::lower_this_thread();
        if let Err(error) = run(&data_root, &options, &sender, &thread_control) {
            let _ = sender.send(IndexEvent::Error(format!("{error:#}")));
        }
    })?;
    Ok(IndexHandle { events, control })
}

/// One file to analyse, with what the catalog knew.
struct Job {
    file: FoundFile,
}

/// What a decode worker hands to the inference thread.
enum Decoded {
    Ready {
        file: FoundFile,
        tags: TrackTags,
        duration_s: f64,
        excerpts: Vec<(f64, MonoAudio)>,
        descriptors: Descriptors,
        /// The [`crate::tonal`] layer, computed from the descriptors' chroma.
        tonal: Vec<f32>,
    },
    Failed {
        file: FoundFile,
        tags: TrackTags,
        reason: String,
    },
}

/// A finished track waiting for its batch commit.
enum Pending {
    Done {
        file: FoundFile,
        tags: TrackTags,
        duration_s: f64,
        descriptors: Descriptors,
        rows: (u64, u64),
        window_starts_s: Vec<f32>,
    },
    Failed {
        file: FoundFile,
        tags: TrackTags,
        reason: String,
    },
}

/// Runs a whole indexing pass on the calling thread, sending events as it goes.
pub fn run(
    data_root: &Path,
    options: &IndexOptions,
    events: &Sender<IndexEvent>,
    control: &IndexControl,
) -> anyhow::Result<IndexSummary> {
    let started = Instant::now();
    std::fs::create_dir_all(data_root)?;
    let mut catalog = Catalog::open(&catalog_path(data_root))?;
    let roots: Vec<PathBuf> = options.roots.iter().map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone())).collect();
    for root in &roots {
        catalog.add_root(root)?;
    }
    let info = model::find_model(&options.model, &model::model_search_dirs(Some(&data_root.join("models"))))?;
    let jobs = options.jobs.max(1);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let session_options = SessionOptions { provider: options.provider, intra_threads: cores.saturating_sub(jobs).max(1) };
    let mut session = ModelSession::open(&info, session_options)?;
    let manifest = info.manifest.clone();
    let sampling_label = options.sampling.label();

    // Decide the work.
    let (found, _unreadable_dirs) = library::scan(&roots);
    let states = catalog.analysis_states(&manifest.name, manifest.version, &sampling_label)?;
    let mut to_analyse = Vec::new();
    let mut unchanged = 0;
    let mut failed_before = Vec::new();
    let found_paths: std::collections::HashSet<&Path> = found.iter().map(|f| f.path.as_path()).collect();
    for file in &found {
        let key = path_bytes(&file.path);
        match states.get(&key) {
            Some(state) if state.stamp == file.stamp && state.current && !state.failed => unchanged += 1,
            Some(state) if state.stamp == file.stamp && state.current && state.failed && !options.retry_failed => {
                failed_before.push(file.path.clone());
            }
            _ => to_analyse.push(Job { file: file.clone() }),
        }
    }
    let removed_ids: Vec<i64> = catalog
        .track_paths()?
        .into_iter()
        .filter(|(_, path)| roots.iter().any(|r| path.starts_with(r)) && !found_paths.contains(path.as_path()))
        .map(|(id, _)| id)
        .collect();
    catalog.remove_tracks(&removed_ids)?;
    let mut summary = IndexSummary { unchanged, removed: removed_ids.len(), ..IndexSummary::default() };
    if !failed_before.is_empty() {
        let reasons = catalog.failures(&manifest.name)?;
        summary.failed.extend(reasons.into_iter().filter(|f| failed_before.contains(&f.path)));
    }
    let _ = events.send(IndexEvent::Started { to_analyse: to_analyse.len(), unchanged, removed: removed_ids.len() });

    // The pipeline.
    let layout = StoreLayout::for_model(data_root, &manifest);
    let (committed_rows, committed_window_rows) = catalog.committed_rows(&manifest.name)?;
    let mut store = StoreWriter::open(&layout, committed_rows, committed_window_rows)?;
    let total = to_analyse.len();
    let (job_sender, job_receiver) = bounded::<Job>(jobs * 2);
    let (decoded_sender, decoded_receiver) = bounded::<Decoded>(jobs * 2);
    let mut workers = Vec::new();
    for worker in 0..jobs {
        let jobs = job_receiver.clone();
        let decoded = decoded_sender.clone();
        let sampling = options.sampling;
        let model_rate = manifest.sample_rate_hz;
        workers.push(std::thread::Builder::new().name(format!("strata-decode-{worker}")).spawn(move || {
            let mut analyzer = DescriptorAnalyzer::new();
            for job in jobs {
                if decoded.send(decode_track(job.file, sampling, model_rate, &mut analyzer)).is_err() {
                    break;
                }
            }
        })?);
    }
    drop(decoded_sender);
    drop(job_receiver);
    let feeder_control_cancelled = Arc::new(AtomicBool::new(false));
    let feeder_stop = feeder_control_cancelled.clone();
    let feeder = std::thread::Builder::new().name("strata-scan-feed".into()).spawn(move || {
        for job in to_analyse {
            if feeder_stop.load(Ordering::SeqCst) || job_sender.send(job).is_err() {
                break;
            }
        }
    })?;

    let analysis_started = Instant::now();
    let mut progress = IndexProgress { total, ..IndexProgress::default() };
    let mut pending: Vec<Pending> = Vec::new();
    let mut last_commit = Instant::now();
    let mut outcome = Ok(());
    for decoded in &decoded_receiver {
        if !control.wait_while_paused() {
            summary.cancelled = true;
            break;
        }
        let finished = match decoded {
            Decoded::Failed { file, tags, reason } => Pending::Failed { file, tags, reason },
            Decoded::Ready { file, tags, duration_s, excerpts, descriptors, tonal } => {
                match embed_track(&mut session, &excerpts) {
                    Ok(track) => match track.pooled_layers() {
                        Some(mut pooled) => {
                            pooled.push(tonal);
                            let passage = layout.passage_layer;
                            let windows: Vec<&[f32]> =
                                track.windows.iter().map(|w| w.layer_vectors[passage].as_slice()).collect();
                            match store.append(&pooled, &windows) {
                                Ok(rows) => Pending::Done {
                                    file,
                                    tags,
                                    duration_s,
                                    descriptors,
                                    rows,
                                    window_starts_s: track.window_starts_s.iter().map(|&s| s as f32).collect(),
                                },
                                Err(e) => {
                                    outcome = Err(anyhow::anyhow!("writing vectors: {e}"));
                                    break;
                                }
                            }
                        }
                        None => Pending::Failed {
                            file,
                            tags,
                            reason: format!(
                                "too short: {duration_s:.2} s is less than one {} s model window",
                                manifest.window_s
                            ),
                        },
                    },
                    Err(e) => Pending::Failed { file, tags, reason: e.to_string() },
                }
            }
        };
        progress.done += 1;
        match &finished {
            Pending::Done { file, duration_s, .. } => {
                progress.audio_s += duration_s;
                summary.indexed += 1;
                summary.audio_s += duration_s;
                progress.current = Some(file.path.clone());
                let _ = events.send(IndexEvent::TrackDone { path: file.path.clone() });
            }
            Pending::Failed { file, reason, .. } => {
                progress.failed += 1;
                progress.current = Some(file.path.clone());
                let failure = Failure { path: file.path.clone(), reason: reason.clone() };
                summary.failed.push(failure.clone());
                let _ = events.send(IndexEvent::TrackFailed(failure));
            }
        }
        pending.push(finished);
        progress.elapsed_s = analysis_started.elapsed().as_secs_f64();
        let _ = events.try_send(IndexEvent::Progress(progress.clone()));
        if last_commit.elapsed() > Duration::from_secs(2) || pending.len() >= 64 {
            commit(&mut catalog, &mut store, &manifest, &sampling_label, &mut pending)?;
            let _ = events.send(IndexEvent::Committed);
            last_commit = Instant::now();
        }
    }
    feeder_control_cancelled.store(true, Ordering::SeqCst);
    drop(decoded_receiver);
    commit(&mut catalog, &mut store, &manifest, &sampling_label, &mut pending)?;
    let _ = events.send(IndexEvent::Committed);
    let _ = feeder.join();
    for worker in workers {
        let _ = worker.join();
    }
    outcome?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    let _ = events.send(IndexEvent::Finished(summary.clone()));
    Ok(summary)
}

/// Decodes one track once: the same samples feed the model (resampled to its
/// rate) and the descriptors and tonal profile (resampled to [`DESCRIPTOR_RATE_HZ`]).
fn decode_track(file: FoundFile, sampling: Sampling, model_rate: u32, analyzer: &mut DescriptorAnalyzer) -> Decoded {
    let (tags, header_duration) = library::read_tags(&file.path);
    let (excerpts, decoded_duration) = match decode_excerpts(&file.path, sampling) {
        Ok(decoded) => decoded,
        Err(e) => return Decoded::Failed { file, tags, reason: e.to_string() },
    };
    match library::stamp_of(&file.path) {
        Ok(stamp) if stamp == file.stamp => {}
        Ok(_) => return Decoded::Failed { file, tags, reason: "the file changed while it was being read".into() },
        Err(e) => return Decoded::Failed { file, tags, reason: format!("the file vanished while it was being read: {e}") },
    }
    let duration_s = header_duration.filter(|_| excerpts.len() > 1).unwrap_or(decoded_duration);
    let mut weighted: Vec<(Descriptors, f64)> = Vec::with_capacity(excerpts.len());
    let mut tonal = TonalProfile::new();
    let mut model_excerpts = Vec::with_capacity(excerpts.len());
    for excerpt in excerpts {
        let length_s = excerpt.audio.duration_s();
        let for_descriptors = match crate::audio::resample(&excerpt.audio.samples, excerpt.audio.sample_rate_hz, DESCRIPTOR_RATE_HZ) {
            Ok(samples) => samples,
            Err(e) => return Decoded::Failed { file, tags, reason: e.to_string() },
        };
        weighted.push((analyzer.analyze(&for_descriptors, DESCRIPTOR_RATE_HZ), length_s));
        tonal.add_excerpt(analyzer.chroma_frames());
        match excerpt.audio.resampled(model_rate) {
            Ok(audio) => model_excerpts.push((excerpt.start_s, audio)),
            Err(e) => return Decoded::Failed { file, tags, reason: e.to_string() },
        }
    }
    Decoded::Ready { file, tags, duration_s, excerpts: model_excerpts, descriptors: weighted_mean(&weighted), tonal: tonal.vector() }
}

/// Duration-weighted mean of per-excerpt descriptors.
fn weighted_mean(parts: &[(Descriptors, f64)]) -> Descriptors {
    let total: f64 = parts.iter().map(|(_, w)| w).sum::<f64>().max(f64::MIN_POSITIVE);
    let mean = |d: Descriptor| (parts.iter().map(|(v, w)| f64::from(v.get(d)) * w).sum::<f64>() / total) as f32;
    Descriptors {
        spectral_centroid_hz: mean(Descriptor::SpectralCentroid),
        spectral_rolloff_hz: mean(Descriptor::SpectralRolloff),
        zero_crossing_rate: mean(Descriptor::ZeroCrossingRate),
        spectral_flatness: mean(Descriptor::SpectralFlatness),
        rms: mean(Descriptor::Rms),
        dynamic_range_db: mean(Descriptor::DynamicRange),
        onset_rate_per_s: mean(Descriptor::OnsetRate),
        tempo_bpm: mean(Descriptor::Tempo),
        key_clarity: mean(Descriptor::KeyClarity),
    }
}

fn embed_track(session: &mut ModelSession, excerpts: &[(f64, MonoAudio)]) -> Result<TrackEmbedding, model::ModelError> {
    let mut track = TrackEmbedding::default();
    for (start_s, audio) in excerpts {
        embed_audio(session, audio, *start_s, &mut track)?;
    }
    Ok(track)
}

/// Makes pending results durable: vectors first (fsync), then one catalog transaction.
fn commit(
    catalog: &mut Catalog,
    store: &mut StoreWriter,
    manifest: &model::ModelManifest,
    sampling: &str,
    pending: &mut Vec<Pending>,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    store.sync()?;
    let batch = catalog.batch()?;
    for item in pending.drain(..) {
        match item {
            Pending::Done { file, tags, duration_s, descriptors, rows, window_starts_s } => {
                let id = batch.upsert_track(&file.path, file.stamp, &tags, Some(duration_s), Some(&descriptors))?;
                batch.record_done(id, &manifest.name, manifest.version, sampling, file.stamp, rows.0, rows.1, &window_starts_s)?;
            }
            Pending::Failed { file, tags, reason } => {
                let id = batch.upsert_track(&file.path, file.stamp, &tags, None, None)?;
                batch.record_failed(id, &manifest.name, manifest.version, sampling, file.stamp, &reason)?;
            }
        }
    }
    batch.commit()?;
    Ok(())
}

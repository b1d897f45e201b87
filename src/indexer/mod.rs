//! The indexing engine behind `strata index` and the window's library panel.
//!
//! Scans the roots, decides what needs analysing (new, changed, failed with
//! `retry_failed`, or made by an older model/analysis version), then runs a
//! pipeline: analysis workers, one per core by default, each take a whole
//! track through tags, decoding, descriptors, tonal profile and the model
//! (each worker owns its model session, with one ONNX Runtime thread), so
//! every core stays busy and no stage waits on another; finished tracks go
//! through a bounded channel to the calling thread, which hands each to a
//! [`TrackWriter`], committing in batches (the writer owns the order:
//! vectors fsynced before the catalog rows). Progress leaves as typed [`IndexEvent`]s on a bounded
//! channel; [`IndexControl`] pauses, resumes and cancels.

pub mod library;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use self::library::FoundFile;
use crate::analysis::descriptors::{DescriptorAnalyzer, Descriptors};
use crate::analysis::{DecodedExcerpts, Sampling, TrackDescription, TrackEmbedding, decode_excerpts, describe_excerpts, embed_excerpts};
use crate::isolation;
use crate::model::{self, ModelInfo, ModelSession, SessionOptions};
use crate::storage::catalog::{Failure, TrackTags, path_bytes};
use crate::storage::data_dir::DataDir;
use crate::storage::library_writer::{AnalysedTrack, LibraryWriter, TrackWriter};
use crate::storage::writer_lock::LockWait;

pub use crate::analysis::DESCRIPTOR_RATE_HZ;

/// What to index and how.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Library roots to scan (added to the catalog's roots).
    pub roots: Vec<PathBuf>,
    /// Model name.
    pub model: String,
    /// Which seconds of each track are analysed.
    pub sampling: Sampling,
    /// Analysis worker threads (each decodes, describes and embeds whole tracks).
    pub jobs: usize,
    /// Retry files that failed before even if unchanged.
    pub retry_failed: bool,
    /// Execution provider preference.
    pub provider: model::ProviderPreference,
    /// Graph variant of the model (`--model-variant`); none: the model's default for the provider.
    pub variant: Option<String>,
    /// Wait while another process writes this library (`false`: fail at once).
    pub wait_for_writer: bool,
}

impl IndexOptions {
    /// Defaults for `roots`: the default model and sampling, one analysis worker per core.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            roots,
            model: model::DEFAULT_MODEL.to_string(),
            sampling: Sampling::DEFAULT,
            jobs: cores,
            retry_failed: false,
            provider: model::ProviderPreference::Auto,
            variant: None,
            wait_for_writer: true,
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

    /// Seconds of audio analysed per second of wall time (the real-time factor) so far.
    pub fn audio_s_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 { self.audio_s / self.elapsed_s } else { 0.0 }
    }

    /// Estimated seconds left, from the tracks' pace so far (analysis costs
    /// about the same per track whatever its length, see [`Sampling::DEFAULT`]).
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
    /// Files analysed with problems that did not stop them (corrupt packets
    /// skipped, non-finite samples replaced, unreadable tags), one entry per
    /// file with its problems joined.
    pub warnings: Vec<Failure>,
    /// Entries found that cannot be analysed (FIFOs, devices, broken symlinks), with why.
    pub skipped: Vec<Failure>,
    /// Folders that could not be listed, with the system's reason.
    pub unreadable_dirs: Vec<Failure>,
    /// Files found with an audio extension (or the file's own) this run.
    pub found: usize,
    /// Files this run was to analyse but did not reach (it was cancelled or
    /// could not go on); the next run picks them up.
    pub not_analysed: usize,
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
        /// Problems that did not stop its analysis (empty for most files).
        warnings: Vec<String>,
    },
    /// A track could not be analysed.
    TrackFailed(Failure),
    /// Updated numbers.
    Progress(IndexProgress),
    /// Rows up to here are committed: readers may refresh. Sent only when
    /// tracks changed (analysed, failed, removed, re-tagged), here or by
    /// another writer this run waited for.
    Committed,
    /// The run is over.
    Finished(IndexSummary),
    /// Another process is writing this library; the run waits for it (and
    /// passes its commits on as [`IndexEvent::Committed`]) before it starts.
    WaitingForWriter {
        /// The other writer's pid, when known.
        pid: Option<u32>,
    },
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
pub fn start(data_dir: DataDir, options: IndexOptions) -> std::io::Result<IndexHandle> {
    let (sender, events) = bounded(256);
    let control = Arc::new(IndexControl::default());
    let thread_control = control.clone();
    std::thread::Builder::new().name("strata-index".into()).spawn(move || {
        crate::priority::lower_this_thread();
        // Per-file panics are contained further down; this catches a bug in
        // the run itself, so the window hears why indexing stopped instead of waiting.
        let error = match isolation::contain(|| run(&data_dir, &options, &sender, &thread_control)) {
            Ok(Ok(_)) => return,
            Ok(Err(error)) => format!("{error:#}"),
            Err(panic) => format!("the indexer crashed: {panic}; everything committed before is kept"),
        };
        let _ = sender.send(IndexEvent::Error(error));
    })?;
    Ok(IndexHandle { events, control })
}

/// One file to analyse, with what the catalog knew.
struct Job {
    file: FoundFile,
}

/// What an analysis worker hands to the writing thread.
enum Analysed {
    Ready {
        file: FoundFile,
        tags: TrackTags,
        duration_s: f64,
        embedding: TrackEmbedding,
        descriptors: Descriptors,
        /// The [`crate::analysis::tonal`] layer, computed from the descriptors' chroma.
        tonal: Vec<f32>,
        /// Problems that did not stop decoding.
        warnings: Vec<String>,
    },
    Failed {
        file: FoundFile,
        tags: TrackTags,
        reason: String,
    },
    /// The model crashed on this file and could not be opened again: the run stops.
    SessionLost {
        file: FoundFile,
        reason: String,
        error: model::ModelError,
    },
}

/// What the run counts and reports of a finished track (its record is staged in the writer).
enum Finished {
    Done { path: PathBuf, duration_s: f64, warnings: Vec<String> },
    Failed(Failure),
}

/// Opens the library's writer, telling `events` when another process holds
/// its lock. While waiting, a change to the catalog files (the other
/// writer's commits) is passed on as [`IndexEvent::Committed`] so readers
/// refresh. `None`: cancelled while waiting.
fn open_writer(
    data_dir: &DataDir,
    options: &IndexOptions,
    events: &Sender<IndexEvent>,
    control: &IndexControl,
) -> anyhow::Result<Option<LibraryWriter>> {
    let waited = std::cell::Cell::new(false);
    let on_wait = &mut |pid| {
        waited.set(true);
        let _ = events.send(IndexEvent::WaitingForWriter { pid });
    };
    if !options.wait_for_writer {
        return Ok(LibraryWriter::open(data_dir, LockWait::NoWait, on_wait, &mut || true)?);
    }
    // Commits land in the WAL file; a checkpoint rewrites the main file.
    let (catalog_file, wal_file) = (data_dir.catalog_path(), data_dir.catalog_wal_path());
    let catalog_stamp = || [&catalog_file, &wal_file].map(|path| std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().ok())));
    let mut seen = catalog_stamp();
    let keep_waiting = &mut || {
        let now = catalog_stamp();
        if now != seen {
            seen = now;
            let _ = events.try_send(IndexEvent::Committed);
        }
        !control.is_cancelled()
    };
    let opened = LibraryWriter::open(data_dir, LockWait::Wait, on_wait, keep_waiting);
    // The other writer's last commit and its exit can both fall between two
    // looks at the files: after a wait, readers refresh once more. (Opening
    // the catalog ourselves may touch its files too, so only after a wait.)
    if waited.get() && catalog_stamp() != seen {
        let _ = events.send(IndexEvent::Committed);
    }
    Ok(opened?)
}

/// Runs a whole indexing pass on the calling thread, sending events as it goes.
pub fn run(
    data_dir: &DataDir,
    options: &IndexOptions,
    events: &Sender<IndexEvent>,
    control: &IndexControl,
) -> anyhow::Result<IndexSummary> {
    let started = Instant::now();
    // Holds the writer lock until `run` returns.
    let Some(mut library_writer) = open_writer(data_dir, options, events, control)? else {
        let summary = IndexSummary { cancelled: true, elapsed_s: started.elapsed().as_secs_f64(), ..IndexSummary::default() };
        let _ = events.send(IndexEvent::Finished(summary.clone()));
        return Ok(summary);
    };
    let roots: Vec<PathBuf> = options.roots.iter().map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone())).collect();
    for root in &roots {
        library_writer.add_root(root)?;
    }
    let info = model::find_model(&options.model, &data_dir.model_search_dirs())?;
    let jobs = options.jobs.max(1);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // Workers share the cores; ONNX Runtime's own threads would only compete with them.
    let session_options =
        SessionOptions { provider: options.provider, intra_threads: (cores / jobs).max(1), variant: options.variant.clone() };
    let sessions = (0..jobs).map(|_| ModelSession::open(&info, session_options.clone())).collect::<Result<Vec<_>, _>>()?;
    let mut manifest = info.manifest.clone();
    // An int8 or fp16 variant records its own version, so changing variant re-analyses instead of mixing vectors.
    manifest.version = sessions.first().map_or(manifest.version, ModelSession::stored_version);
    let sampling_label = options.sampling.label();

    // Decide the work.
    let library::Scan { files: found, skipped, unreadable_dirs } = library::scan(&roots);
    let states = library_writer.catalog().analysis_states(&manifest.name, manifest.version, &sampling_label)?;
    let mut to_analyse = Vec::new();
    let mut unchanged = 0;
    let mut failed_before = Vec::new();
    // Files an older Strata read the tags of (see TAGS_VERSION): read again even when nothing else is redone.
    let stale_tags = library_writer.catalog().stale_tags()?;
    let mut retag = Vec::new();
    let found_paths: std::collections::HashSet<&Path> = found.iter().map(|f| f.path.as_path()).collect();
    for file in &found {
        let key = path_bytes(&file.path);
        match states.get(&key) {
            Some(state) if state.stamp == file.stamp && state.current && !state.failed => {
                unchanged += 1;
                if stale_tags.contains(&key) {
                    retag.push(file);
                }
            }
            Some(state) if state.stamp == file.stamp && state.current && state.failed && !options.retry_failed => {
                failed_before.push(file.path.clone());
                if stale_tags.contains(&key) {
                    retag.push(file);
                }
            }
            _ => to_analyse.push(Job { file: file.clone() }),
        }
    }
    // A folder that cannot be read now (an unplugged drive, a broken link to
    // it) may come back: its tracks are kept, not removed.
    let unreachable: Vec<&Path> = unreadable_dirs.iter().chain(&skipped).map(|(path, _)| path.as_path()).collect();
    let removed_ids: Vec<i64> = library_writer
        .catalog()
        .track_paths()?
        .into_iter()
        .filter(|(_, path)| {
            roots.iter().any(|r| path.starts_with(r))
                && !found_paths.contains(path.as_path())
                && !unreachable.iter().any(|gone| path.starts_with(gone))
        })
        .map(|(id, _)| id)
        .collect();
    library_writer.remove_tracks(&removed_ids)?;
    // A tag reader that panics leaves that file's old tags in place.
    let retagged: Vec<_> = retag
        .into_iter()
        .filter_map(|file| {
            crate::isolation::contain(|| library::read_tags(&file.path)).ok().map(|read| (file.path.clone(), file.stamp, read.tags))
        })
        .collect();
    library_writer.refresh_tags(&retagged)?;
    if !removed_ids.is_empty() || !retagged.is_empty() {
        let _ = events.send(IndexEvent::Committed);
    }
    let mut summary = IndexSummary { unchanged, removed: removed_ids.len(), found: found.len(), ..IndexSummary::default() };
    summary.found += skipped.len();
    summary.skipped = skipped.into_iter().map(|(path, reason)| Failure { path, reason }).collect();
    summary.unreadable_dirs = unreadable_dirs.into_iter().map(|(path, reason)| Failure { path, reason }).collect();
    if !failed_before.is_empty() {
        let reasons = library_writer.catalog().failures(&manifest.name)?;
        let failed_before: std::collections::HashSet<PathBuf> = failed_before.into_iter().collect();
        summary.failed.extend(reasons.into_iter().filter(|f| failed_before.contains(&f.path)));
    }
    let _ = events.send(IndexEvent::Started { to_analyse: to_analyse.len(), unchanged, removed: removed_ids.len() });

    // The pipeline.
    let mut writer = library_writer.for_model(&manifest, &sampling_label)?;
    let passage_layer = writer.layout().passage_layer;
    let total = to_analyse.len();
    let (job_sender, job_receiver) = bounded::<Job>(jobs * 2);
    let (decoded_sender, decoded_receiver) = bounded::<Analysed>(jobs * 2);
    let mut workers = Vec::new();
    for (worker, session) in sessions.into_iter().enumerate() {
        let jobs = job_receiver.clone();
        let analysed = decoded_sender.clone();
        let (sampling, info, session_options) = (options.sampling, info.clone(), session_options.clone());
        workers.push(
            std::thread::Builder::new()
                .name(format!("strata-analyse-{worker}"))
                .spawn(move || analysis_worker(&jobs, &analysed, sampling, &info, session_options, session))?,
        );
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
    let mut last_commit = Instant::now();
    let mut outcome: anyhow::Result<()> = Ok(());
    let mut session_lost = None;
    let mut committed = 0;
    for analysed in &decoded_receiver {
        if !control.wait_while_paused() {
            summary.cancelled = true;
            break;
        }
        let finished = match analysed {
            Analysed::Failed { file, tags, reason } => stage_failure(&mut writer, file, tags, reason),
            Analysed::SessionLost { file, reason, error } => {
                session_lost = Some(error);
                stage_failure(&mut writer, file, TrackTags::default(), reason)
            }
            Analysed::Ready { file, tags, duration_s, embedding, descriptors, tonal, warnings } => match embedding.pooled_layers() {
                Some(mut pooled) => {
                    pooled.push(tonal);
                    let windows: Vec<&[f32]> = embedding.windows.iter().map(|w| w.layer_vectors[passage_layer].as_slice()).collect();
                    let analysed = AnalysedTrack {
                        path: file.path.clone(),
                        stamp: file.stamp,
                        tags,
                        duration_s,
                        descriptors,
                        window_starts_s: embedding.window_starts_s.iter().map(|&s| s as f32).collect(),
                        warnings: warnings.clone(),
                    };
                    if let Err(e) = writer.stage_track(analysed, &pooled, &windows) {
                        outcome = Err(e.into());
                        break;
                    }
                    Finished::Done { path: file.path, duration_s, warnings }
                }
                None => {
                    let reason =
                        format!("too short: {duration_s:.2} s (tracks of at least {} s are analysed)", crate::analysis::MIN_TRACK_S);
                    stage_failure(&mut writer, file, tags, reason)
                }
            },
        };
        progress.done += 1;
        match finished {
            Finished::Done { path, duration_s, warnings } => {
                progress.audio_s += duration_s;
                summary.indexed += 1;
                summary.audio_s += duration_s;
                progress.current = Some(path.clone());
                if !warnings.is_empty() {
                    summary.warnings.push(Failure { path: path.clone(), reason: warnings.join("; ") });
                }
                let _ = events.send(IndexEvent::TrackDone { path, warnings });
            }
            Finished::Failed(failure) => {
                progress.failed += 1;
                progress.current = Some(failure.path.clone());
                summary.failed.push(failure.clone());
                let _ = events.send(IndexEvent::TrackFailed(failure));
            }
        }
        progress.elapsed_s = analysis_started.elapsed().as_secs_f64();
        let _ = events.try_send(IndexEvent::Progress(progress.clone()));
        if let Some(error) = session_lost.take() {
            outcome = Err(anyhow::anyhow!("the model could not be reopened after it crashed: {error}"));
            break;
        }
        if last_commit.elapsed() > Duration::from_secs(2) || writer.staged() >= 64 {
            let batch_len = writer.staged();
            if let Err(error) = writer.commit() {
                outcome = Err(error.into());
                break;
            }
            committed += batch_len;
            let _ = events.send(IndexEvent::Committed);
            last_commit = Instant::now();
        }
    }
    feeder_control_cancelled.store(true, Ordering::SeqCst);
    drop(decoded_receiver);
    // What finished before a failure is still committed when the store allows it.
    let batch_len = writer.staged();
    let final_commit = writer.commit().map_err(anyhow::Error::from);
    // Sent whether or not the run failed; not when nothing was staged (the
    // rescan of an unchanged library), or a window would reload all of it.
    if final_commit.is_ok() && batch_len > 0 {
        committed += batch_len;
        let _ = events.send(IndexEvent::Committed);
    }
    let _ = feeder.join();
    for worker in workers {
        let _ = worker.join();
    }
    let outcome = outcome.and(final_commit);
    summary.not_analysed = total - committed;
    if let Err(error) = outcome {
        return Err(error.context(format!(
            "indexing stopped after {committed} of {total} tracks; everything committed so far is kept, \
             and the next `strata index` continues from there"
        )));
    }
    debug_assert_eq!(
        summary.indexed + summary.unchanged + summary.failed.len() + summary.skipped.len() + summary.not_analysed,
        summary.found,
        "every file found is accounted for"
    );
    summary.elapsed_s = started.elapsed().as_secs_f64();
    let _ = events.send(IndexEvent::Finished(summary.clone()));
    Ok(summary)
}

/// One analysis worker: takes jobs until they run out or the writing thread
/// hangs up. A panic in any stage fails only its file; the worker then carries
/// on with fresh buffers and a fresh model session, as a new worker would.
fn analysis_worker(
    jobs: &Receiver<Job>,
    analysed: &Sender<Analysed>,
    sampling: Sampling,
    info: &ModelInfo,
    session_options: SessionOptions,
    mut session: ModelSession,
) {
    let mut analyzer = DescriptorAnalyzer::new();
    for job in jobs {
        let file = job.file.clone();
        let outcome = match isolation::contain(|| analyse_track(job.file, sampling, &mut analyzer, &mut session)) {
            Ok(outcome) => outcome,
            Err(message) => {
                analyzer = DescriptorAnalyzer::new();
                let reason = format!("analysis crashed: {message}");
                match ModelSession::open(info, session_options.clone()) {
                    Ok(fresh) => {
                        session = fresh;
                        Analysed::Failed { file, tags: TrackTags::default(), reason }
                    }
                    Err(error) => {
                        let _ = analysed.send(Analysed::SessionLost { file, reason, error });
                        return;
                    }
                }
            }
        };
        if analysed.send(outcome).is_err() {
            return;
        }
    }
}

/// Analyses one track: decodes the excerpts `sampling` asks for once; the same
/// samples feed the descriptors and tonal profile (resampled to
/// [`DESCRIPTOR_RATE_HZ`]) and the model (the windows `sampling` gives it,
/// resampled to its rate).
fn analyse_track(file: FoundFile, sampling: Sampling, analyzer: &mut DescriptorAnalyzer, session: &mut ModelSession) -> Analysed {
    let library::TagRead { tags, header_duration_s: header_duration, problem: tag_problem } = library::read_tags(&file.path);
    let DecodedExcerpts { excerpts, duration_s: decoded_duration, problems } = match decode_excerpts(&file.path, sampling) {
        Ok(decoded) => decoded,
        Err(e) => return Analysed::Failed { file, tags, reason: e.to_string() },
    };
    let warnings: Vec<String> = tag_problem.into_iter().chain(problems.describe()).collect();
    match library::stamp_of(&file.path) {
        Ok(stamp) if stamp == file.stamp => {}
        Ok(_) => return Analysed::Failed { file, tags, reason: "the file changed while it was being read".into() },
        Err(e) => return Analysed::Failed { file, tags, reason: format!("the file vanished while it was being read: {e}") },
    }
    let duration_s = header_duration.filter(|_| excerpts.len() > 1).unwrap_or(decoded_duration);
    let TrackDescription { descriptors, tonal } = match describe_excerpts(&excerpts, analyzer) {
        Ok(description) => description,
        Err(e) => return Analysed::Failed { file, tags, reason: e.to_string() },
    };
    match embed_excerpts(session, &excerpts, sampling.model_windows()) {
        Ok(embedding) => Analysed::Ready { file, tags, duration_s, embedding, descriptors, tonal, warnings },
        Err(e) => Analysed::Failed { file, tags, reason: e.to_string() },
    }
}

/// Stages a file that could not be analysed; what the run reports of it.
fn stage_failure(writer: &mut TrackWriter, file: FoundFile, tags: TrackTags, reason: String) -> Finished {
    writer.stage_failure(file.path.clone(), file.stamp, tags, reason.clone());
    Finished::Failed(Failure { path: file.path, reason })
}

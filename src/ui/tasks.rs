//! Background work for the window: named tasks and the search thread.
//!
//! Every slow thing (loading a snapshot, probing, projecting, searching,
//! file dialogs) runs on a named thread and answers with a typed
//! [`WorkerMessage`] on one bounded channel, then asks egui to repaint. The
//! window drains the channel each frame. A task name in use cannot be
//! started twice, but one job may wait to run after it ([`Workers::run_after`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender, bounded};
use eframe::egui;

use crate::insight::probe::ProbeTable;
use crate::map::{Layout, MapSource, Method};
use crate::model::ModelInfo;
use crate::search::layer_index::Pruning;
use crate::search::{Exclusion, Facet, PassageMatch, QueryScores, SearchEngine, SearchResult, best_passage};
use crate::storage::catalog::{Catalog, Failure};
use crate::storage::data_dir::DataDir;
use crate::storage::snapshot::LibrarySnapshot;
use crate::works::similarity::{Unit, WorkCombination, WorkResult, WorkSearch};

/// What the window shows of one model's library, swapped in whole.
pub struct LibraryView {
    /// Increases with every load, so late answers about older views are ignored.
    pub generation: u64,
    /// Tracks and vectors.
    pub snapshot: Arc<LibrarySnapshot>,
    /// Catalog id of each track, in snapshot order.
    pub track_ids: Vec<i64>,
    /// The top tags of each track, joined, when the model predicts tags.
    pub top_tags: Vec<String>,
    /// The library table's cells of every track, built here rather than in a frame.
    pub cells: Arc<super::library_panel::TrackCells>,
    /// Files that could not be analysed.
    pub failures: Vec<Failure>,
    /// Files analysed with problems that did not stop them.
    pub warnings: Vec<Failure>,
    /// Library roots the catalog knows (also those indexed from the command line).
    pub roots: Vec<PathBuf>,
}

/// Identifies a projection for caching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectionKey {
    /// Library generation.
    pub generation: u64,
    /// The model whose vectors are projected.
    pub model: String,
    /// Layer index, or the aspect mix's (layer, weight‰) pairs.
    pub source: Vec<(usize, u32)>,
    /// Method.
    pub method: Method,
}

/// The same map (model, source, method) in any library generation.
pub type MapIdentity = (String, Vec<(usize, u32)>, Method);

impl ProjectionKey {
    /// Which map this is, whatever the library generation.
    pub fn identity(&self) -> MapIdentity {
        (self.model.clone(), self.source.clone(), self.method)
    }

    /// The map source this key describes.
    pub fn map_source(&self) -> MapSource {
        match self.source.as_slice() {
            [(layer, 1000)] => MapSource::Layer(*layer),
            parts => MapSource::Mix(parts.iter().map(|&(l, w)| (l, w as f32 / 1000.0)).collect()),
        }
    }
}

/// Answers from background work.
pub enum WorkerMessage {
    /// A library view is ready.
    LibraryLoaded(Box<LibraryView>),
    /// Loading failed (nothing indexed yet is not an error: it yields an empty view).
    LibraryFailed(String),
    /// Models found on disk.
    ModelsFound(Vec<ModelInfo>),
    /// A probe table for a generation.
    ProbeReady(u64, ProbeTable),
    /// Projection progress, 0–1.
    ProjectionProgress(ProjectionKey, f32),
    /// A projection is done.
    ProjectionReady(ProjectionKey, Arc<MapLayout>),
    /// A grown library placed on an older layout while the projection refreshes (`None`: it could not be).
    ProjectionPlaced(ProjectionKey, Option<Arc<MapLayout>>),
    /// A projection failed with this reason, or (`None`) was cancelled.
    ProjectionFailed(ProjectionKey, Option<String>),
    /// A query's first results (generation, query track, the facets they compare on, results).
    ResultsReady(u64, usize, Vec<Facet>, Vec<SearchResult>),
    /// Per-facet similarities of a query, complete: reranking reads no vector.
    QueryReady(u64, Arc<QueryScores>),
    /// Works ranked for the query track's work (generation, query track, facets, weights, results).
    WorkResultsReady(u64, usize, Vec<Facet>, Vec<f32>, Vec<WorkResult>),
    /// A path (generation, from, to, its tracks, each step's similarity).
    PathReady(u64, usize, usize, Vec<usize>, Vec<f32>),
    /// Work corrections were written to the catalog (what was done), or why not.
    WorkEditsSaved(Result<String, String>),
    /// The best passage pair between two tracks.
    PassageReady(usize, usize, Option<PassageMatch>),
    /// Folders picked in the dialog.
    FoldersChosen(Vec<PathBuf>),
    /// A playlist was written (or not).
    PlaylistSaved(Result<PathBuf, String>),
    /// The search for other recordings has the features of this many files of so many.
    VersionsProgress(usize, usize),
    /// The search for other recordings ended: what it found, in words, or why it failed.
    VersionsFound(Result<String, String>),
    /// Two recordings aligned (A, B, the alignment or why not).
    AlignmentReady(PathBuf, PathBuf, Result<Arc<super::compare::AlignedPair>, String>),
    /// A large map's similarity colours, built in the background.
    Recoloured(Box<super::map_view::Recoloured>),
    /// A named task ended.
    TaskFinished(String),
}

/// A query as the window asks it: the first results come back for these
/// weights and exclusion, then the complete similarities for reranking.
pub struct QueryRequest {
    /// The library generation the track index belongs to.
    pub generation: u64,
    /// The query track.
    pub track: usize,
    /// What to compare on.
    pub facets: Vec<Facet>,
    /// Weight per facet for the first results.
    pub weights: Vec<f32>,
    /// Tracks to leave out of the first results.
    pub exclusion: Exclusion,
    /// How many first results.
    pub k: usize,
    /// With [`Unit::Work`], works are ranked for the query's work too.
    pub unit: Unit,
}

/// A path the window asks for ([`crate::journey::path`]).
pub struct PathRequest {
    /// The library generation the track indices belong to.
    pub generation: u64,
    /// The first track.
    pub from: usize,
    /// The last track.
    pub to: usize,
    /// Entries between them (tracks, or works).
    pub steps: usize,
    /// What to compare on.
    pub facets: Vec<Facet>,
    /// Weight per facet.
    pub weights: Vec<f32>,
    /// A path of tracks, or of whole works.
    pub unit: Unit,
}

/// The newest query the window asked, waiting for the search thread. Only
/// the newest matters: one asked while the thread is busy replaces the one
/// before it, so quick clicks or a layer sweep never queue stale work, and a
/// full request channel cannot lose it.
#[derive(Default)]
struct QuerySlot {
    /// The query itself.
    waiting: Mutex<Option<QueryRequest>>,
    /// Whether a [`SearchRequest::QueryWaiting`] is on its way, so a burst of
    /// queries sends one wake-up rather than filling the request channel
    /// (where a snapshot's blocking send would then wait on the thread).
    wake_sent: AtomicBool,
}

/// Requests to the search thread.
enum SearchRequest {
    Snapshot(u64, Arc<LibrarySnapshot>, bool, Vec<usize>),
    /// The snapshot of that generation is settled: fit heads, prepare these layers.
    Settle(u64, Vec<usize>),
    /// A query waits in the [`QuerySlot`] (the thread also looks after every other request).
    QueryWaiting,
    Passage(usize, usize),
    Path(PathRequest),
}

/// A task's work, run on its own thread.
type Job = Box<dyn FnOnce(&Sender<WorkerMessage>) + Send>;

/// The window's handle on its background threads.
pub struct Workers {
    sender: Sender<WorkerMessage>,
    receiver: Receiver<WorkerMessage>,
    ctx: egui::Context,
    running: HashSet<String>,
    /// The job to start when the running task of that name ends.
    waiting: HashMap<String, Job>,
    search: Sender<SearchRequest>,
    query_slot: Arc<QuerySlot>,
}

impl Workers {
    /// Starts the search thread; tasks start on demand.
    pub fn new(ctx: egui::Context) -> Self {
        let (sender, receiver) = bounded(256);
        let (search, requests) = bounded(64);
        let query_slot = Arc::new(QuerySlot::default());
        let search_sender = sender.clone();
        let search_ctx = ctx.clone();
        let search_slot = query_slot.clone();
        let spawned = std::thread::Builder::new()
            .name("strata-search".into())
            .spawn(move || search_thread(&requests, &search_slot, &search_sender, &search_ctx));
        if let Err(e) = spawned {
            log::error!("the search thread could not start: {e}");
        }
        Self { sender, receiver, ctx, running: HashSet::new(), waiting: HashMap::new(), search, query_slot }
    }

    /// Runs `job` on a thread named for it ([`thread_name`]) at background priority;
    /// returns `false` (and does nothing) if a task of that name is still running.
    pub fn spawn(&mut self, name: &str, job: impl FnOnce(&Sender<WorkerMessage>) + Send + 'static) -> bool {
        if self.running.contains(name) {
            return false;
        }
        self.start(name, Box::new(job))
    }

    /// Runs `job` now if no task of that name runs; else when the running one
    /// ends, in place of any job already waiting for it (only the newest ask
    /// matters: a reload, a probe of the library shown). Returns `false` if
    /// the thread could not start.
    pub fn run_after(&mut self, name: &str, job: impl FnOnce(&Sender<WorkerMessage>) + Send + 'static) -> bool {
        if self.running.contains(name) {
            self.waiting.insert(name.to_string(), Box::new(job));
            return true;
        }
        self.start(name, Box::new(job))
    }

    /// The window's context, for tasks that wake it as they progress.
    pub fn ctx(&self) -> &egui::Context {
        &self.ctx
    }

    /// Whether a job waits for the running task of that name to end.
    pub fn is_waiting(&self, name: &str) -> bool {
        self.waiting.contains_key(name)
    }

    fn start(&mut self, name: &str, job: Job) -> bool {
        let sender = self.sender.clone();
        let ctx = self.ctx.clone();
        let task_name = name.to_string();
        let spawned = std::thread::Builder::new().name(thread_name(name)).spawn(move || {
            crate::priority::lower_this_thread();
            // A task that panics still reports that it ended, so the window never waits on it.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&sender))).is_err() {
                log::error!("background task {task_name} failed (see the panic message above)");
            }
            let _ = sender.send(WorkerMessage::TaskFinished(task_name));
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => {
                self.running.insert(name.to_string());
                true
            }
            Err(e) => {
                log::error!("could not start task {name}: {e}");
                false
            }
        }
    }

    /// Whether a task of that name is running.
    pub fn is_running(&self, name: &str) -> bool {
        self.running.contains(name)
    }

    /// Takes every message that has arrived, and starts the jobs that waited
    /// for a task that ended.
    pub fn drain(&mut self) -> Vec<WorkerMessage> {
        let messages: Vec<WorkerMessage> = self.receiver.try_iter().collect();
        for message in &messages {
            if let WorkerMessage::TaskFinished(name) = message {
                self.running.remove(name);
                if let Some(job) = self.waiting.remove(name) {
                    // A thread that cannot start is logged by `start`; nothing else waits on it.
                    self.start(name, job);
                }
            }
        }
        messages
    }

    /// Hands a new snapshot to the search thread. `prepare` lists layers to
    /// build while no request waits; a non-empty list also says the library is
    /// settled (no indexing run will replace it shortly), and only then are
    /// search heads worth fitting.
    pub fn set_search_snapshot(&self, generation: u64, snapshot: Arc<LibrarySnapshot>, center: bool, prepare: Vec<usize>) {
        let _ = self.search.send(SearchRequest::Snapshot(generation, snapshot, center, prepare));
    }

    /// Tells the search thread that the snapshot of `generation`, sent while
    /// an indexing pass or a reload was still to come, is settled after all
    /// (the pass changed nothing, or the reload failed):
    /// heads become worth fitting, and `prepare`'s layers are built ahead of
    /// the next query, as for a settled snapshot.
    pub fn settle_search(&self, generation: u64, prepare: Vec<usize>) {
        let _ = self.search.send(SearchRequest::Settle(generation, prepare));
    }

    /// Asks for a query's first results, then its per-facet similarities;
    /// replaces a query the search thread has not started yet.
    pub fn query(&self, request: QueryRequest) {
        *self.query_slot.waiting.lock().unwrap_or_else(PoisonError::into_inner) = Some(request);
        // When the channel is full, the requests in it wake the thread, and it
        // looks at the slot after each of them.
        if !self.query_slot.wake_sent.swap(true, Ordering::SeqCst) && self.search.try_send(SearchRequest::QueryWaiting).is_err() {
            self.query_slot.wake_sent.store(false, Ordering::SeqCst);
        }
    }

    /// Asks for the best passage pair of two tracks.
    pub fn passage(&self, query: usize, result: usize) {
        let _ = self.search.try_send(SearchRequest::Passage(query, result));
    }

    /// Asks for a path between two tracks.
    pub fn path(&self, request: PathRequest) {
        let _ = self.search.try_send(SearchRequest::Path(request));
    }
}

/// `strata-<task>` when that fits the 15 bytes Linux keeps of a thread's name
/// (all `top` shows); else the task's first word and a hash of its full name,
/// so that two projections of different layers still look different there.
fn thread_name(task: &str) -> String {
    let full = format!("strata-{task}");
    if full.len() <= 15 {
        return full;
    }
    let kind: String = task.split('-').next().unwrap_or(task).chars().take(9).collect();
    // FNV-1a: any hash that tells names apart will do; this one is short.
    let hash = task.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{kind}-{:05x}", hash & 0xf_ffff)
}

fn search_thread(requests: &Receiver<SearchRequest>, slot: &QuerySlot, answers: &Sender<WorkerMessage>, ctx: &egui::Context) {
    let mut engine: Option<(u64, SearchEngine)> = None;
    // Works of the engine's snapshot, with the per-layer work vectors it keeps.
    let mut work_search = WorkSearch::new(Vec::new());
    // A request taken from the queue early: to learn whether a newer library
    // replaces the one a query was answered on, or while preparing layers.
    let mut next: Option<SearchRequest> = None;
    // Layers of a settled library to build while no request waits (last
    // first), so a first click after a reload finds their indexes and heads.
    let mut to_prepare: Vec<usize> = Vec::new();
    loop {
        let request = match next.take() {
            Some(request) => request,
            None => match (to_prepare.pop(), &mut engine) {
                (Some(layer), Some((_, engine))) => match requests.try_recv() {
                    Ok(request) => {
                        to_prepare.push(layer);
                        request
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => {
                        engine.layer(layer);
                        continue;
                    }
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                },
                _ => match requests.recv() {
                    Ok(request) => request,
                    Err(_) => return,
                },
            },
        };
        match request {
            SearchRequest::Snapshot(generation, snapshot, center, prepare) => {
                // Heads pay for their fitting over many queries; a library that is
                // still being indexed is replaced every few seconds.
                let pruning = if prepare.is_empty() { Pruning::Never } else { Pruning::Auto };
                to_prepare = prepare.into_iter().rev().collect();
                work_search = WorkSearch::from_works(&snapshot.works);
                engine = Some((generation, SearchEngine::with_pruning(snapshot, center, pruning)));
            }
            SearchRequest::Settle(generation, prepare) => {
                if let Some((current, engine)) = &mut engine
                    && *current == generation
                {
                    engine.set_pruning(Pruning::Auto);
                    to_prepare = prepare.into_iter().rev().collect();
                }
            }
            // Cleared before the slot is read: a query written after this sends a new wake-up.
            SearchRequest::QueryWaiting => slot.wake_sent.store(false, Ordering::SeqCst),
            SearchRequest::Passage(query, result) => {
                if let Some((_, engine)) = &engine {
                    let passage = best_passage(engine.snapshot(), query, result);
                    let _ = answers.send(WorkerMessage::PassageReady(query, result, passage));
                }
            }
            SearchRequest::Path(request) => {
                if let Some((generation, engine)) = &mut engine
                    && *generation == request.generation
                {
                    let _ = answers.send(find_path(engine, &request));
                }
            }
        }
        if let Some((current, engine)) = &mut engine
            && let Some(request) = take_query(slot, *current)
            && request.track < engine.snapshot().len()
        {
            // Large layers rank from head bounds, reading few rows: the
            // results go out first. Completing the similarities then lets the
            // window rerank without touching the store, unless a newer query
            // or library already replaces this one.
            let scores = engine.query(request.track, &request.facets);
            let excluded = engine.exclusion_filter(request.track, request.exclusion);
            let results = scores.rank(&request.weights, request.k, &excluded);
            let first = WorkerMessage::ResultsReady(request.generation, request.track, request.facets.clone(), results);
            let _ = answers.send(first);
            ctx.request_repaint();
            next = requests.try_recv().ok();
            let replaced =
                slot.waiting.lock().unwrap_or_else(PoisonError::into_inner).is_some() || matches!(next, Some(SearchRequest::Snapshot(..)));
            if !replaced {
                scores.complete();
                let _ = answers.send(WorkerMessage::QueryReady(request.generation, Arc::new(scores)));
            } else {
                drop(scores);
            }
            drop(excluded);
            // Works are ranked once the track similarities are out (they borrow the engine), unless replaced too.
            if request.unit == Unit::Work && !replaced {
                let _ = answers.send(rank_works(engine, &mut work_search, &request));
                ctx.request_repaint();
            }
        }
        ctx.request_repaint();
    }
}

/// The works most like the query track's work, with its exclusions applied
/// to each candidate work's first movement.
fn rank_works(engine: &mut SearchEngine, work_search: &mut WorkSearch, request: &QueryRequest) -> WorkerMessage {
    let snapshot = engine.snapshot().clone();
    let works = &snapshot.works;
    let results = match works.work_of_track.get(request.track) {
        Some(&query) => {
            let excluded = |w: usize| {
                works.works[w].tracks.first().is_none_or(|&t| crate::search::is_excluded(&snapshot, request.track, t, request.exclusion))
            };
            let combination = WorkCombination::default();
            work_search.rank(engine, query, &request.facets, &request.weights, combination, request.k, &excluded)
        }
        None => Vec::new(),
    };
    WorkerMessage::WorkResultsReady(request.generation, request.track, request.facets.clone(), request.weights.clone(), results)
}

/// A path of tracks or of whole works, and how smooth each step is.
fn find_path(engine: &mut SearchEngine, request: &PathRequest) -> WorkerMessage {
    use crate::journey::path::{step_similarities, track_path, work_path};
    let PathRequest { generation, from, to, steps, ref facets, ref weights, unit } = *request;
    let len = engine.snapshot().len();
    let path = if from >= len || to >= len {
        Vec::new()
    } else {
        match unit {
            Unit::Track => track_path(engine, facets, weights, from, to, steps),
            Unit::Work => {
                let snapshot = engine.snapshot().clone();
                work_path(engine, &snapshot.works, facets, weights, from, to, steps)
            }
        }
    };
    let similarities = step_similarities(engine, facets, weights, &path);
    WorkerMessage::PathReady(generation, from, to, path, similarities)
}

/// Takes the waiting query if it belongs to library `generation`. One for an
/// older library is dropped; one for a newer library stays, since its
/// snapshot is on the way.
fn take_query(slot: &QuerySlot, generation: u64) -> Option<QueryRequest> {
    let mut waiting = slot.waiting.lock().unwrap_or_else(PoisonError::into_inner);
    match waiting.as_ref()?.generation.cmp(&generation) {
        std::cmp::Ordering::Less => {
            *waiting = None;
            None
        }
        std::cmp::Ordering::Equal => waiting.take(),
        std::cmp::Ordering::Greater => None,
    }
}

/// Drops `value` on a background thread: the library a reload replaces holds
/// millions of strings at 300,000 tracks (tags, table cells), and freeing
/// them took the frame that showed the new one most of a second. Dropped
/// here at once if the thread cannot start.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new().name("strata-drop".into()).spawn(move || {
        crate::priority::lower_this_thread();
        drop(value);
        crate::memory::release_freed();
    });
    if let Err(e) = spawned {
        log::warn!("freeing the replaced library on this thread ({e})");
    }
}

/// Loads a library view (snapshot, tags, failures) for `model`.
pub fn load_library(data_dir: DataDir, model: String, generation: u64) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        let message = match build_view(&data_dir, &model, generation) {
            Ok(view) => WorkerMessage::LibraryLoaded(Box::new(view)),
            Err(e) => WorkerMessage::LibraryFailed(format!("{e:#}")),
        };
        let _ = out.send(message);
        // Reading the catalog and checking the store leave their freed memory in this thread's arena.
        crate::memory::release_freed();
    }
}

fn build_view(data_dir: &DataDir, model: &str, generation: u64) -> anyhow::Result<LibraryView> {
    std::fs::create_dir_all(data_dir.root())?;
    let catalog = Catalog::open(&data_dir.catalog_path())?;
    let failures = catalog.failures(model)?;
    let warnings = catalog.warnings(model)?;
    let roots = catalog.roots()?;
    let snapshot = LibrarySnapshot::load(data_dir, model)?;
    let top_tags = match snapshot.model.tag_layer_index() {
        Some(tag_layer) => snapshot
            .layer_matrix(tag_layer)
            .rows()
            .into_iter()
            .map(|row| {
                let scores = row.to_vec();
                snapshot.model.top_tags(&scores, 3).into_iter().map(|(t, _)| t).collect::<Vec<_>>().join(", ")
            })
            .collect(),
        None => vec![String::new(); snapshot.len()],
    };
    let cells = Arc::new(super::library_panel::TrackCells::build(&snapshot.tracks, &snapshot.works, &top_tags));
    Ok(LibraryView {
        generation,
        track_ids: snapshot.track_ids(),
        snapshot: Arc::new(snapshot),
        top_tags,
        cells,
        failures,
        warnings,
        roots,
    })
}

/// Probes a snapshot's layers (stored with the library for next time).
pub fn probe_library(
    data_dir: DataDir,
    snapshot: Arc<LibrarySnapshot>,
    generation: u64,
    recompute: bool,
) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        if snapshot.len() < 10 {
            return;
        }
        let table = if recompute {
            let options = crate::insight::probe::ProbeOptions::default();
            let table = crate::insight::library_probe::run_probe(&snapshot, &options, &mut |_, _| {});
            if let Err(e) = crate::insight::library_probe::save_probe(&data_dir, &snapshot, &table) {
                log::warn!("could not store the probe table: {e}");
            }
            table
        } else {
            crate::insight::library_probe::probe_or_compute(&data_dir, &snapshot)
        };
        let _ = out.send(WorkerMessage::ProbeReady(generation, table));
    }
}

/// A layout of one snapshot's tracks.
pub struct MapLayout {
    /// The points, one per track of the snapshot, and how to place more.
    pub layout: Layout,
    /// Catalog id of each point's track, to carry points over to a grown library.
    pub track_ids: Vec<i64>,
    /// The generation whose layout these points were placed on, for an interim layout.
    pub placed_from: Option<u64>,
    /// What is under the cursor, indexed here: at 300,000 points the tree
    /// took a frame of its own.
    pub picker: crate::map::MapPicker,
    extent: [f64; 4],
}

impl MapLayout {
    /// A layout of `track_ids`' tracks, with its picker.
    pub fn new(layout: Layout, track_ids: Vec<i64>, placed_from: Option<u64>) -> Self {
        let picker = crate::map::MapPicker::new(&layout.points);
        let extent =
            layout.points.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |[x0, y0, x1, y1], p| {
                let (x, y) = (f64::from(p[0]), f64::from(p[1]));
                [x0.min(x), y0.min(y), x1.max(x), y1.max(y)]
            });
        Self { layout, track_ids, placed_from, picker, extent }
    }

    /// Where the points lie: min x, min y, max x, max y (infinite when there are none).
    pub fn extent(&self) -> [f64; 4] {
        self.extent
    }
}

/// Computes one projection; `cancel` stops it.
pub fn project(
    snapshot: Arc<LibrarySnapshot>,
    key: ProjectionKey,
    cancel: Arc<AtomicBool>,
    ctx: egui::Context,
) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        let features = crate::map::SourceFeatures::new(&snapshot, &key.map_source());
        let mut last = std::time::Instant::now();
        let progress_key = key.clone();
        let mut progress = |done: usize, total: usize| {
            if last.elapsed().as_millis() > 100 {
                last = std::time::Instant::now();
                let _ = out.try_send(WorkerMessage::ProjectionProgress(progress_key.clone(), done as f32 / total.max(1) as f32));
                ctx.request_repaint();
            }
        };
        let projected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::map::project(&features, key.method, 42, &mut progress, &|| cancel.load(Ordering::Relaxed))
        }));
        let message = match projected.unwrap_or_else(|_| Err(crate::map::MapError::Crashed("see the log".into()))) {
            Ok(layout) => WorkerMessage::ProjectionReady(key, Arc::new(MapLayout::new(layout, snapshot.track_ids(), None))),
            Err(crate::map::MapError::Cancelled) => WorkerMessage::ProjectionFailed(key, None),
            Err(e) => WorkerMessage::ProjectionFailed(key, Some(e.to_string())),
        };
        let _ = out.send(message);
        crate::memory::release_freed();
    }
}

/// Places a grown library's tracks on `earlier` (made at generation `from`) at once.
pub fn place(
    snapshot: Arc<LibrarySnapshot>,
    key: ProjectionKey,
    earlier: Arc<MapLayout>,
    from: u64,
) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        let features = crate::map::SourceFeatures::new(&snapshot, &key.map_source());
        let rows: HashMap<i64, usize> = earlier.track_ids.iter().enumerate().map(|(row, &id)| (id, row)).collect();
        let previous: Vec<Option<usize>> = snapshot.tracks.iter().map(|t| rows.get(&t.id).copied()).collect();
        let placed =
            earlier.layout.extend(&features, &previous).map(|layout| Arc::new(MapLayout::new(layout, snapshot.track_ids(), Some(from))));
        let _ = out.send(WorkerMessage::ProjectionPlaced(key, placed));
        crate::memory::release_freed();
    }
}

/// Lists the models installed.
pub fn discover_models(data_dir: DataDir) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        let models = crate::model::discover_models(&data_dir.model_search_dirs()).into_iter().filter_map(Result::ok).collect();
        let _ = out.send(WorkerMessage::ModelsFound(models));
    }
}

/// Opens the native folder picker off the UI thread.
pub fn pick_folders() -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        if let Some(folders) = rfd::FileDialog::new().set_title("Add music folders").pick_folders() {
            let _ = out.send(WorkerMessage::FoldersChosen(folders));
        }
    }
}

/// Asks where to save, then writes the playlist (M3U, or XSPF for a `.xspf` name).
pub fn save_playlist(entries: Vec<crate::playlist::PlaylistEntry>) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        let dialog = rfd::FileDialog::new()
            .set_title("Export playlist")
            .set_file_name("strata.m3u")
            .add_filter("M3U playlist", &["m3u", "m3u8"])
            .add_filter("XSPF playlist", &["xspf"]);
        let Some(target) = dialog.save_file() else {
            return;
        };
        let result = crate::playlist::save(&target, &entries).map(|()| target).map_err(|e| e.to_string());
        let _ = out.send(WorkerMessage::PlaylistSaved(result));
    }
}

/// Writes a work correction to the catalog (off the UI thread: SQLite may wait on an indexing run).
pub fn save_work_edits(data_dir: DataDir, correction: super::work_edit::WorkCorrection) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    use super::work_edit::WorkCorrection;
    move |out| {
        let saved = Catalog::open(&data_dir.catalog_path()).and_then(|mut catalog| match &correction {
            WorkCorrection::Add(edits) => catalog.add_work_edits(edits).map(|()| format!("{} work corrections saved", edits.len())),
            WorkCorrection::Forget { work_ids, track_paths } => {
                catalog.remove_work_edits(work_ids, track_paths).map(|n| format!("{n} work corrections forgotten"))
            }
        });
        let _ = out.send(WorkerMessage::WorkEditsSaved(saved.map_err(|e| e.to_string())));
    }
}

/// Searches the whole library of `snapshot` for other recordings, keeping the
/// answer in the data folder ([`crate::versions::found`]); progress at most
/// ten times a second.
pub fn find_versions(data_dir: DataDir, snapshot: Arc<LibrarySnapshot>, ctx: egui::Context) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    move |out| {
        let paths: Vec<PathBuf> = snapshot.tracks.iter().map(|t| t.path.clone()).collect();
        drop(snapshot);
        let total = paths.len();
        let last = Mutex::new(std::time::Instant::now());
        let progress = |done: usize| {
            let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.elapsed().as_millis() > 100 || done == total {
                *last = std::time::Instant::now();
                let _ = out.try_send(WorkerMessage::VersionsProgress(done, total));
                ctx.request_repaint();
            }
        };
        let options = crate::versions::SearchOptions::default();
        let result = crate::versions::found::search_library(&data_dir, &paths, options, &progress)
            .map(|search| {
                let left_out = search.failed.len();
                for (path, error) in &search.failed {
                    log::warn!("{} left out of the search for other recordings: {error}", path.display());
                }
                match left_out {
                    0 => format!("searched {} tracks for other recordings", search.found.len()),
                    n => format!("searched {} tracks for other recordings ({n} could not be read)", search.found.len()),
                }
            })
            .map_err(|e| format!("the other recordings found could not be kept: {e}"));
        let _ = out.send(WorkerMessage::VersionsFound(result));
    }
}

/// Aligns each of `others` to `a` in turn (`a` decoded once), answering for each as it is done.
pub fn align_recordings(a: PathBuf, others: Vec<PathBuf>, ctx: egui::Context) -> impl FnOnce(&Sender<WorkerMessage>) + Send {
    use crate::versions::{align, features};
    move |out| {
        let features_a = features::fine_features(&a).map_err(|e| format!("{}: {e}", a.display()));
        for b in others {
            let aligned = features_a.as_ref().map_err(Clone::clone).and_then(|features_a| {
                let features_b = features::fine_features(&b).map_err(|e| format!("{}: {e}", b.display()))?;
                Ok(Arc::new(super::compare::AlignedPair::new(align::align(features_a, &features_b))))
            });
            let sent = out.send(WorkerMessage::AlignmentReady(a.clone(), b, aligned));
            ctx.request_repaint();
            if sent.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_fit_linux_and_tell_projections_apart() {
        assert_eq!(thread_name("probe"), "strata-probe");
        let names: Vec<String> =
            ["project-musicnn-Tsne-[(3, 1000)]", "project-musicnn-Tsne-[(4, 1000)]", "place-musicnn-Tsne-[(3, 1000)]", "discover-models"]
                .iter()
                .map(|task| thread_name(task))
                .collect();
        assert!(names.iter().all(|n| n.len() <= 15), "{names:?}");
        assert!(names[0].starts_with("project-") && names[2].starts_with("place-") && names[3].starts_with("discover-"), "{names:?}");
        assert_ne!(names[0], names[1]);
    }
}

//! The egui window.
//!
//! Draws and reacts; everything slow runs on worker threads ([`tasks`]) and
//! arrives as messages drained each frame. Panels turn clicks into
//! [`AppCommand`]s, handled in one place. The window reads snapshots that
//! workers publish and never owns the library's data.
//!
//! [`StrataApp`] composes one state per concern: the search
//! ([`search_state::SearchState`]), playback ([`player_bar::PlaybackState`]),
//! indexing ([`indexing::IndexingState`]), the map and the table. What a
//! frame draws from large inputs (table rows, map legend) is cached and
//! rebuilt only when those inputs change.

mod compare;
mod indexing;
mod library_panel;
mod map_raster;
mod map_view;
mod models_dialog;
mod player_bar;
mod probe_view;
mod results_panel;
mod search_state;
pub(crate) mod tasks;
mod theme;
mod work_edit;
mod works_panel;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use serde::{Deserialize, Serialize};

use crate::insight::aspects::{ResolvedAspect, resolve_aspects};
use crate::insight::probe::ProbeTable;
use crate::map::Method;
use crate::model::{self, ModelInfo};
use crate::search::{Exclusion, Facet, QueryScores, SearchResult};
use crate::storage::catalog::Failure;
use crate::storage::data_dir::DataDir;
use crate::works::similarity::Unit;
use indexing::{IndexingState, Problems};
use player_bar::PlaybackState;
use search_state::SearchState;
use tasks::{LibraryView, WorkerMessage, Workers};

pub use compare::{AlignedPair, Comparison, Side};

const SETTINGS_KEY: &str = "strata-settings";

/// Opens the main window and runs until it is closed.
pub fn run_window(data_dir: DataDir) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Strata")
            .with_app_id("strata")
            .with_inner_size([1440.0, 900.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Strata",
        options,
        Box::new(move |cc| {
            let settings = cc.storage.and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY)).unwrap_or_default();
            Ok(Box::new(StrataApp::new(cc.egui_ctx.clone(), data_dir, settings)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}

/// What is remembered between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Music folders added so far.
    pub roots: Vec<PathBuf>,
    /// Model in use.
    pub model: String,
    /// Dark theme.
    pub dark: bool,
    /// Aspect weights by aspect id.
    pub aspect_weights: HashMap<String, f32>,
    /// Leave out the query's album.
    pub exclude_album: bool,
    /// Leave out the query's work.
    pub exclude_work: bool,
    /// Map colouring.
    pub colour_by: ColourBy,
    /// Map method.
    pub method: Method,
    /// Player volume.
    pub volume: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            model: model::DEFAULT_MODEL.to_string(),
            dark: true,
            aspect_weights: HashMap::new(),
            exclude_album: false,
            exclude_work: false,
            colour_by: ColourBy::Composer,
            method: Method::Pca,
            volume: 0.8,
        }
    }
}

/// How map points are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColourBy {
    /// One colour per composer.
    Composer,
    /// One colour per album.
    Album,
    /// By the track's top tag.
    Tag,
    /// By combined similarity to the selected track.
    Similarity,
}

/// What the map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapChoice {
    /// The current aspect mix.
    Aspects,
    /// One layer.
    Layer(usize),
}

/// The central area's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CentralTab {
    /// The 2D map.
    Map,
    /// Layer × descriptor R² heatmap.
    Probe,
    /// Files that failed, and files analysed with warnings.
    Problems,
    /// Live Compare of two recordings of one piece.
    Compare,
}

/// Intents from panels, handled once per frame.
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    /// Select a track (index in the snapshot) and search from it.
    Select(usize),
    /// Play a track from a position.
    Play(usize, f64),
    /// Add folders and index them.
    AddFolders(Vec<PathBuf>),
    /// Re-run indexing on the known folders.
    Reindex,
    /// Switch model.
    SetModel(String),
    /// Recompute the probe table.
    RecomputeProbe,
    /// Find the matching passage of a result and play it.
    PlayPassage(usize),
    /// Export the results as a playlist.
    ExportPlaylist,
    /// Pause or resume indexing.
    PauseIndexing(bool),
    /// Cancel indexing.
    CancelIndexing,
    /// Rank by the aspect mix again (after the layer sweep).
    UseAspects,
    /// Play a work (index in the snapshot's works) from its first movement, its movements in order.
    PlayWork(usize),
    /// Play these tracks one after another.
    PlayQueue(Vec<usize>),
    /// A path from the selected track (or its work) to this track (or its work), shown as the results.
    PathTo(usize),
    /// The marked tracks (else the list shown) ordered along an aspect: (aspect name, highest first).
    OrderBy(String, bool),
    /// Back from a path or ordered list to the results.
    CloseListing,
    /// Show tracks or works as results.
    SetUnit(Unit),
    /// Open the rename dialog for a work.
    RenameWork(usize),
    /// Merge works (indices; the first keeps its id).
    MergeWorks(Vec<usize>),
    /// Split these tracks off their work into a new one.
    SplitOff(Vec<usize>),
    /// Forget the user's corrections of a work.
    ForgetWorkEdits(usize),
    /// Write a correction to the catalog, then reload.
    CorrectWorks(work_edit::WorkCorrection),
    /// Install from this checkpoint folder or weights file (the Models dialog's picker answers with it).
    CheckpointChosen(PathBuf),
    /// Search the whole library for other recordings of the same pieces.
    FindVersions,
    /// Open Live Compare on two recordings (A, B).
    Compare(usize, usize),
    /// Play one side of Live Compare (at the same moment if the other side plays).
    PlaySide(compare::Side),
    /// Switch Live Compare to the other recording at the same moment.
    SwitchRecording,
    /// Play Live Compare from this time in A, seconds.
    CompareSeek(f64),
    /// Close Live Compare.
    CloseCompare,
}

/// Frames [`FrameStats`] keeps times of: ten minutes at 60 fps, longer than
/// any measurement run, in 140 KiB per f32 series (281 KiB for the f64 end
/// times); a window left open for days
/// no longer grows with every frame.
pub const FRAME_STATS_KEPT: usize = 36_000;

/// Frame-time statistics (for the "never stutters" measurement) over the last
/// [`FRAME_STATS_KEPT`] frames.
#[derive(Default)]
pub struct FrameStats {
    /// Strata's own work per frame on the UI thread (messages, layout of every panel).
    times_ms: VecDeque<f32>,
    /// eframe's whole frame: Strata's work plus egui's tessellation, painting and buffer swap.
    full_ms: VecDeque<f32>,
    /// Wall-clock end of each kept frame (seconds since the Unix epoch), so
    /// a measurement script can split the frames by what it was doing then.
    ends_s: VecDeque<f64>,
    /// Frames since the window opened, including those no longer kept.
    frames: u64,
}

impl FrameStats {
    /// Records Strata's own work in one frame.
    fn record_own_ms(&mut self, ms: f32) {
        push_bounded(&mut self.times_ms, ms, FRAME_STATS_KEPT);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        push_bounded(&mut self.ends_s, now, FRAME_STATS_KEPT);
        self.frames += 1;
    }

    /// Records one whole frame as eframe reports it.
    fn record_full_ms(&mut self, ms: f32) {
        push_bounded(&mut self.full_ms, ms, FRAME_STATS_KEPT);
    }

    /// One line per kept frame: its end (Unix seconds), Strata's own work
    /// and the whole frame eframe reported before it (ms), tab-separated.
    pub fn log(&self) -> String {
        let full = self.full_ms.iter().rev().copied().chain(std::iter::repeat(f32::NAN));
        let mut rows: Vec<String> = self
            .ends_s
            .iter()
            .rev()
            .zip(self.times_ms.iter().rev())
            .zip(full)
            .map(|((end, own), full)| format!("{end:.3}\t{own:.3}\t{full:.3}"))
            .collect();
        rows.reverse();
        rows.join("\n") + "\n"
    }

    /// Frames since the window opened.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// (p50, p99) in milliseconds of Strata's own work per frame.
    pub fn percentiles(&self) -> Option<(f32, f32)> {
        Self::p50_p99(&self.times_ms)
    }

    /// (p50, p99) in milliseconds of whole frames as eframe reports them.
    pub fn full_frame_percentiles(&self) -> Option<(f32, f32)> {
        Self::p50_p99(&self.full_ms)
    }

    fn p50_p99(times: &VecDeque<f32>) -> Option<(f32, f32)> {
        if times.is_empty() {
            return None;
        }
        let mut sorted: Vec<f32> = times.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q).round() as usize];
        Some((at(0.5), at(0.99)))
    }
}

/// The application state behind the window.
pub struct StrataApp {
    data_dir: DataDir,
    settings: Settings,
    workers: Workers,
    commands: Vec<AppCommand>,
    models: Vec<ModelInfo>,
    library: Option<Arc<LibraryView>>,
    library_error: Option<String>,
    /// The library generation answers must belong to: the one shown, or one loading to replace it.
    generation: u64,
    probe: Option<ProbeTable>,
    search: SearchState,
    playback: PlaybackState,
    indexing: IndexingState,
    /// The catalog's and the running indexer's problem files, merged.
    problems: Problems,
    tab: CentralTab,
    map: map_view::MapState,
    table: library_panel::TableState,
    rescanned_at_start: bool,
    /// The generation of the library search got while a pass or a reload
    /// was still to come (no heads, no layers prepared), until it is settled.
    unsettled: Option<u64>,
    /// Tracks still to play, after the one playing (a work's movements, a path).
    queue: VecDeque<usize>,
    /// The queued track last sent to the player, and whether the player has started it.
    queue_current: Option<(usize, bool)>,
    /// The rename dialog.
    work_editor: work_edit::WorkEditor,
    /// The Models dialog (install, remove, choose).
    models_dialog: models_dialog::ModelsDialog,
    /// Other recordings: the search, alignments, Live Compare.
    versions: compare::VersionsState,
    /// The generation of the newest library load asked for.
    newest_load: u64,
    notice: Option<String>,
    frame_stats: FrameStats,
}

impl StrataApp {
    /// Builds the app and starts loading the library of the remembered model.
    pub fn new(ctx: egui::Context, data_dir: DataDir, settings: Settings) -> Self {
        theme::apply(&ctx, settings.dark);
        let repaint_ctx = ctx.clone();
        let playback = PlaybackState::start(settings.volume, move || repaint_ctx.request_repaint());
        let exclusion = Exclusion { same_album: settings.exclude_album, same_work: settings.exclude_work };
        let mut app = Self {
            models_dialog: models_dialog::ModelsDialog::new(ctx.clone()),
            workers: Workers::new(ctx),
            data_dir,
            search: SearchState::new(settings.aspect_weights.clone(), exclusion),
            settings,
            commands: Vec::new(),
            models: Vec::new(),
            library: None,
            library_error: None,
            generation: 0,
            probe: None,
            playback,
            indexing: IndexingState::default(),
            problems: Problems::default(),
            tab: CentralTab::Map,
            map: map_view::MapState::default(),
            table: library_panel::TableState::default(),
            rescanned_at_start: false,
            unsettled: None,
            queue: VecDeque::new(),
            queue_current: None,
            work_editor: work_edit::WorkEditor::default(),
            versions: compare::VersionsState::default(),
            newest_load: 0,
            notice: None,
            frame_stats: FrameStats::default(),
        };
        app.workers.spawn("discover-models", tasks::discover_models(app.data_dir.clone()));
        app.reload_library();
        app
    }

    /// The library currently shown, if loaded.
    pub fn library(&self) -> Option<&Arc<LibraryView>> {
        self.library.as_ref()
    }

    /// The ranked results for the selected track.
    pub fn results(&self) -> &[SearchResult] {
        self.search.results()
    }

    /// The selected track.
    pub fn selected(&self) -> Option<usize> {
        self.search.selected()
    }

    /// Whether results are tracks or works.
    pub fn unit(&self) -> Unit {
        self.search.unit()
    }

    /// The works ranked for the selected track's work (with the Works switch on), once ready.
    pub fn work_results(&self) -> Option<&[crate::works::similarity::WorkResult]> {
        self.search.work_results()
    }

    /// The path or ordered list shown instead of the results: its tracks.
    pub fn listing(&self) -> Option<&[usize]> {
        self.search.listing().map(|l| l.tracks.as_slice())
    }

    /// Tracks queued to play after the current one.
    pub fn queued(&self) -> Vec<usize> {
        self.queue.iter().copied().collect()
    }

    /// The message in the status line, if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Aspects resolved on this library (empty until the probe is ready).
    pub fn aspects(&self) -> &[ResolvedAspect] {
        self.search.aspects()
    }

    /// The probe table, once computed.
    pub fn probe_table(&self) -> Option<&ProbeTable> {
        self.probe.as_ref()
    }

    /// Failures from the catalog and from the running indexer.
    pub fn failures(&self) -> Vec<Failure> {
        indexing::merged(self.library.as_ref().map(|l| l.failures.as_slice()), self.indexing.failures())
    }

    /// Files analysed with problems that did not stop them, from the catalog and the running indexer.
    pub fn warnings(&self) -> Vec<Failure> {
        indexing::merged(self.library.as_ref().map(|l| l.warnings.as_slice()), self.indexing.warnings())
    }

    /// Live Compare, when open.
    pub fn comparison(&self) -> Option<&compare::Comparison> {
        self.versions.compare.as_ref()
    }

    /// The alignment of Live Compare's two recordings, once ready.
    pub fn comparison_alignment(&self) -> Option<&Arc<compare::AlignedPair>> {
        let compare = self.versions.compare.as_ref()?;
        self.versions.alignment(&compare.a.1, &compare.b.1)
    }

    /// Whether background work (loading, probing, searching, colouring the map) is still under way.
    pub fn is_busy(&self) -> bool {
        self.workers.is_running("load-library")
            || self.workers.is_running(compare::FIND_TASK)
            || self.workers.is_running("probe")
            || self.workers.is_running(map_view::RECOLOUR_TASK)
            || self.workers.is_running("work-edits")
            || self.indexing.running()
            || self.models_dialog.busy()
            || self.search.pending(self.library.as_deref())
    }

    /// Frame-time statistics gathered so far.
    pub fn frame_stats(&self) -> &FrameStats {
        &self.frame_stats
    }

    /// Queues a command as a panel would.
    pub fn command(&mut self, command: AppCommand) {
        self.commands.push(command);
    }

    /// Current weight of each resolved aspect.
    pub fn aspect_weight(&self, aspect: &str) -> f32 {
        self.search.aspect_weight(aspect)
    }

    /// Sets an aspect's weight and reranks at once from the cached similarities.
    pub fn set_aspect_weight(&mut self, aspect: &str, weight: f32) {
        self.search.set_aspect_weight(aspect, weight);
        self.weights_changed();
    }

    /// After any weight change: leave the layer sweep, then rerank (works are ranked again by the worker).
    fn weights_changed(&mut self) {
        if self.search.set_layer_override(None) {
            self.map.choice = MapChoice::Aspects;
            self.request_query();
        } else if self.search.unit() == Unit::Work {
            self.request_query();
        }
        self.rerank();
    }

    /// Loads the library again, for a change that outdates the one loading now
    /// (another model, work corrections): that load's answer is dropped.
    fn reload_library(&mut self) {
        self.load_library(true);
    }

    /// Loads the library (after the load running now, if one is). Unless
    /// `outdates_running`, the running load's answer is still shown when it
    /// comes: while indexing commits every few seconds, a library that takes
    /// longer than that to load must not be dropped every time.
    fn load_library(&mut self, outdates_running: bool) {
        self.newest_load += 1;
        if outdates_running || !self.workers.is_running("load-library") {
            self.generation = self.newest_load;
        }
        let task = tasks::load_library(self.data_dir.clone(), self.settings.model.clone(), self.newest_load);
        if !self.workers.run_after("load-library", task) {
            self.notice = Some("could not start loading the library (see the log)".into());
            self.keep_loaded_generation();
        }
    }

    /// Probes the library shown (reading the stored table when it still
    /// fits, unless `recompute`). While a probe of an earlier library runs,
    /// this one starts when it ends: its answer is dropped as stale, and
    /// without a probe of this library the aspects would never appear. (A
    /// recompute still waiting when a reload asks for its own probe gives way
    /// to it, which recomputes only if the stored table no longer fits.)
    fn start_probe(&mut self, recompute: bool) {
        let Some(library) = &self.library else { return };
        let task = tasks::probe_library(self.data_dir.clone(), library.snapshot.clone(), library.generation, recompute);
        self.workers.run_after("probe", task);
    }

    /// After a reload that will not arrive, the shown library's generation
    /// stays current, so its queries and probe are still answered; a query
    /// asked for the reload meanwhile is asked again for it.
    fn keep_loaded_generation(&mut self) {
        if let Some(view) = &self.library {
            self.generation = view.generation;
            self.request_query();
        }
    }

    /// The kept similarities, if they belong to the selected track and the current facets.
    fn current_scores(&self) -> Option<&Arc<QueryScores>> {
        self.search.current_scores(self.library.as_deref())
    }

    fn facets(&self) -> Vec<Facet> {
        self.search.facets(self.library.as_deref())
    }

    /// The layers of the current facets: what search prepares ahead of the first query.
    fn facet_layers(&self) -> Vec<usize> {
        self.facets().iter().map(|f| f.layer).collect()
    }

    /// Reranks from the cached per-facet similarities: no vector is read.
    fn rerank(&mut self) {
        self.search.rerank(self.library.as_deref());
    }

    fn request_query(&mut self) {
        self.search.request(&self.workers, self.library.as_deref(), self.generation);
    }

    fn start_indexing(&mut self, roots: Vec<PathBuf>) {
        if let Err(notice) = self.indexing.start(self.data_dir.clone(), roots, self.settings.model.clone()) {
            self.notice = Some(notice);
        }
    }

    fn handle_commands(&mut self) {
        // A command may lead to another (a merge becomes a correction to save): a few rounds each frame.
        for _ in 0..4 {
            if self.commands.is_empty() {
                break;
            }
            self.handle_command_round();
        }
    }

    fn handle_command_round(&mut self) {
        for command in std::mem::take(&mut self.commands) {
            match command {
                AppCommand::Select(track) => {
                    if self.search.select(track) {
                        self.request_query();
                    }
                }
                AppCommand::Play(track, start_s) => self.play(track, start_s),
                AppCommand::AddFolders(folders) => {
                    for folder in &folders {
                        if !self.settings.roots.contains(folder) {
                            self.settings.roots.push(folder.clone());
                        }
                    }
                    self.start_indexing(folders);
                }
                AppCommand::Reindex => {
                    if !self.settings.roots.is_empty() {
                        self.start_indexing(self.settings.roots.clone());
                    }
                }
                AppCommand::SetModel(model) => {
                    if model != self.settings.model {
                        self.settings.model = model;
                        self.search.clear_selection();
                        // Another model has other layers.
                        self.search.set_layer_override(None);
                        self.reload_library();
                    }
                }
                AppCommand::RecomputeProbe => self.start_probe(true),
                AppCommand::PlayPassage(result) => {
                    if let Some(query) = self.search.selected() {
                        self.workers.passage(query, result);
                    }
                }
                AppCommand::ExportPlaylist => {
                    if let Some(library) = &self.library {
                        let order = match self.search.listing() {
                            // A path or an ordered list is exported as shown (a path by works lists whole works).
                            Some(listing) => listing.tracks.clone(),
                            None => {
                                let ranked: Vec<usize> =
                                    self.search.selected().into_iter().chain(self.search.results().iter().map(|r| r.track)).collect();
                                crate::playlist::keep_works_whole(&ranked, &library.snapshot.works, false)
                            }
                        };
                        let entries = crate::playlist::entries(&library.snapshot.tracks, &order);
                        self.workers.spawn("save-playlist", tasks::save_playlist(entries));
                    }
                }
                AppCommand::PauseIndexing(paused) => self.indexing.pause(paused),
                AppCommand::UseAspects => {
                    if self.search.set_layer_override(None) {
                        self.request_query();
                    }
                }
                AppCommand::CancelIndexing => self.indexing.cancel(),
                AppCommand::PlayWork(work) => {
                    if let Some(tracks) = self.library.as_ref().and_then(|l| l.snapshot.works.works.get(work)).map(|w| w.tracks.clone()) {
                        self.play_queue(tracks);
                    }
                }
                AppCommand::PlayQueue(tracks) => self.play_queue(tracks),
                AppCommand::PathTo(to) => {
                    let asked = self.search.request_path(&self.workers, self.library.as_deref(), self.generation, to);
                    self.notice = Some(if asked { "finding a path…".into() } else { "select the track to start from first".into() });
                }
                AppCommand::OrderBy(aspect, descending) => self.order_by(&aspect, descending),
                AppCommand::CloseListing => self.search.set_listing(None),
                AppCommand::SetUnit(unit) => {
                    if self.search.set_unit(unit) {
                        self.request_query();
                    }
                }
                AppCommand::RenameWork(work) => {
                    if let Some(work) = self.library.as_ref().and_then(|l| l.snapshot.works.works.get(work)) {
                        self.work_editor.start_rename(&work.id, &work.title);
                    }
                }
                AppCommand::MergeWorks(works) => {
                    let Some(library) = &self.library else { continue };
                    match work_edit::merge(&library.snapshot.works, &library.snapshot.tracks, &works) {
                        Some(correction) => self.commands.push(AppCommand::CorrectWorks(correction)),
                        None => self.notice = Some("mark two or more works to merge".into()),
                    }
                }
                AppCommand::SplitOff(tracks) => {
                    let Some(library) = &self.library else { continue };
                    let marked = tracks.into_iter().collect();
                    match work_edit::split(&library.snapshot.works, &library.snapshot.tracks, &marked) {
                        Ok(correction) => self.commands.push(AppCommand::CorrectWorks(correction)),
                        Err(reason) => self.notice = Some(format!("not split: {reason}")),
                    }
                }
                AppCommand::ForgetWorkEdits(work) => {
                    let Some(library) = &self.library else { continue };
                    if let Some(correction) = work_edit::forget(&library.snapshot.works, &library.snapshot.tracks, work) {
                        self.commands.push(AppCommand::CorrectWorks(correction));
                    }
                }
                AppCommand::CheckpointChosen(path) => self.models_dialog.checkpoint_chosen(path),
                AppCommand::FindVersions => self.find_versions(),
                AppCommand::Compare(a, b) => self.open_compare(a, b),
                AppCommand::PlaySide(side) => self.play_side(side),
                AppCommand::SwitchRecording => self.switch_side(),
                AppCommand::CompareSeek(t_a_s) => self.compare_seek(t_a_s),
                AppCommand::CloseCompare => {
                    self.versions.compare = None;
                    self.tab = CentralTab::Map;
                }
                AppCommand::CorrectWorks(correction) => {
                    if !self.workers.spawn("work-edits", tasks::save_work_edits(self.data_dir.clone(), correction)) {
                        self.notice = Some("a correction is still being saved; try again in a moment".into());
                    }
                }
            }
        }
    }

    /// Plays the first of `tracks` now and the rest after it, in order.
    fn play_queue(&mut self, tracks: Vec<usize>) {
        let mut queue: VecDeque<usize> = tracks.into();
        let Some(first) = queue.pop_front() else { return };
        self.queue = queue;
        self.queue_current = Some((first, false));
        self.play(first, 0.0);
    }

    /// When the queued track that was playing has finished, plays the next
    /// one; true when the queue decided what plays (so the radio does not).
    fn advance_queue(&mut self) -> bool {
        let Some((current, started)) = self.queue_current else { return false };
        let status = self.playback.status();
        if status.track == Some(current) {
            self.queue_current = Some((current, true));
            return true;
        }
        // Another track was played by hand: the queue is over.
        if status.track.is_some() {
            self.queue.clear();
            self.queue_current = None;
            return false;
        }
        // Until the player has started the track, its last status may still say "finished".
        if !started || !status.finished {
            return true;
        }
        match self.queue.pop_front() {
            Some(next) => {
                self.queue_current = Some((next, false));
                self.play(next, 0.0);
                true
            }
            None => {
                self.queue_current = None;
                false
            }
        }
    }

    /// Orders the marked tracks (or, with fewer than two marked, the list
    /// shown) along `aspect`, and shows them as a listing.
    fn order_by(&mut self, aspect: &str, descending: bool) {
        let Some(library) = &self.library else { return };
        let Some(descriptors) = crate::journey::order::descriptors_for(aspect) else { return };
        let marked: Vec<usize> = self.table.tree.marked_tracks.iter().copied().collect();
        let selection = if marked.len() > 1 {
            marked
        } else if let Some(listing) = self.search.listing() {
            listing.tracks.clone()
        } else {
            self.search.selected().into_iter().chain(self.search.results().iter().map(|r| r.track)).collect()
        };
        let tracks = crate::journey::order::order_along(&library.snapshot.tracks, &selection, &descriptors, descending);
        let label = crate::insight::aspects::aspect_by_name(aspect).map_or(aspect, |a| a.label);
        let direction = if descending { "most first" } else { "least first" };
        let title = format!("{} tracks by {label}, {direction}", tracks.len());
        self.search.set_listing(Some(search_state::Listing { title, tracks, step_similarities: Vec::new() }));
    }

    fn play(&mut self, track: usize, start_s: f64) {
        let Some(library) = &self.library else { return };
        let Some(t) = library.snapshot.tracks.get(track) else { return };
        self.playback.play(track, t.path.clone(), start_s);
    }

    fn handle_messages(&mut self) {
        for message in self.workers.drain() {
            match message {
                WorkerMessage::LibraryLoaded(view) => {
                    // A load asked for after the one shown now, or its follower.
                    if view.generation < self.generation {
                        continue;
                    }
                    self.generation = view.generation;
                    let view: Arc<LibraryView> = Arc::from(view);
                    for root in &view.roots {
                        if !self.settings.roots.contains(root) {
                            self.settings.roots.push(root.clone());
                        }
                    }
                    // On start, pick up files added or changed since the last run.
                    if !self.rescanned_at_start && !self.settings.roots.is_empty() {
                        self.rescanned_at_start = true;
                        self.start_indexing(self.settings.roots.clone());
                    }
                    // A reload still to come replaces this library at once.
                    let settled = !self.indexing.running() && !self.workers.is_waiting("load-library");
                    // Prepare the current facets' layers ahead of the first query.
                    let prepare = if settled { self.facet_layers() } else { Vec::new() };
                    self.unsettled = (!settled).then_some(view.generation);
                    self.workers.set_search_snapshot(view.generation, view.snapshot.clone(), true, prepare);
                    self.search.library_changed(view.snapshot.len());
                    self.library_error = view.snapshot.damage.message();
                    if let Some(replaced) = self.library.replace(view) {
                        tasks::drop_in_background(replaced);
                    }
                    self.start_probe(false);
                    self.map.library_changed();
                    if let Some(library) = &self.library {
                        self.versions.library_changed(&library.snapshot.tracks);
                    }
                    self.table.tree.library_changed(self.generation);
                    self.request_query();
                }
                WorkerMessage::LibraryFailed(error) => {
                    self.library_error = Some(error);
                    self.keep_loaded_generation();
                }
                WorkerMessage::ModelsFound(models) => self.models = models,
                WorkerMessage::ProbeReady(generation, table) => {
                    if generation == self.generation {
                        self.search.set_aspects(resolve_aspects(&table));
                        self.probe = Some(table);
                        self.request_query();
                    }
                }
                WorkerMessage::ProjectionProgress(key, fraction) => self.map.progress(key, fraction),
                WorkerMessage::ProjectionReady(key, layout) => self.map.ready(key, layout),
                WorkerMessage::ProjectionPlaced(key, layout) => self.map.placed(key, layout),
                WorkerMessage::ProjectionFailed(key, error) => self.map.failed(key, error),
                WorkerMessage::ResultsReady(generation, track, facets, results) => {
                    if generation == self.generation {
                        self.search.results_ready(self.library.as_deref(), track, facets, results);
                    }
                }
                WorkerMessage::QueryReady(generation, scores) => {
                    if generation == self.generation {
                        self.search.scores_ready(self.library.as_deref(), scores);
                    }
                }
                WorkerMessage::PassageReady(query, result, passage) => {
                    if let Some(p) = passage {
                        self.search.set_passage(query, result, p);
                        self.play(result, f64::from(p.result_start_s));
                    } else {
                        self.notice = Some("no passage vectors for this pair".into());
                    }
                }
                WorkerMessage::FoldersChosen(folders) => self.commands.push(AppCommand::AddFolders(folders)),
                WorkerMessage::WorkResultsReady(generation, track, facets, weights, results) => {
                    if generation == self.generation && facets == self.facets() {
                        self.search.work_results_ready(track, weights, results);
                    }
                }
                WorkerMessage::PathReady(generation, from, to, tracks, step_similarities) => {
                    if generation != self.generation {
                        continue;
                    }
                    let Some(library) = &self.library else { continue };
                    let name = |t: usize| library.snapshot.tracks.get(t).map(|t| t.display_title()).unwrap_or_default();
                    let title = format!("Path from {} to {}", name(from), name(to));
                    self.search.path_ready(from, to, search_state::Listing { title, tracks, step_similarities });
                    self.notice = None;
                }
                WorkerMessage::WorkEditsSaved(result) => match result {
                    Ok(done) => {
                        self.notice = Some(done);
                        self.reload_library();
                    }
                    Err(e) => self.notice = Some(format!("work correction not saved: {e}")),
                },
                WorkerMessage::VersionsProgress(done, total) => self.versions.progress(done, total),
                WorkerMessage::VersionsFound(result) => {
                    self.versions.search_ended();
                    match result {
                        Ok(done) => {
                            self.notice = Some(done);
                            self.reload_library();
                        }
                        Err(e) => self.notice = Some(e),
                    }
                }
                WorkerMessage::AlignmentReady(a, b, result) => self.versions.aligned(a, b, result),
                WorkerMessage::PlaylistSaved(result) => {
                    self.notice = Some(match result {
                        Ok(path) => format!("playlist saved to {}", path.display()),
                        Err(e) => format!("playlist not saved: {e}"),
                    });
                }
                // Jobs waiting on a task were started by `drain`.
                WorkerMessage::Recoloured(colours) => self.map.recoloured(*colours),
                WorkerMessage::TaskFinished(_) => {}
            }
        }
    }

    fn drain_indexer(&mut self) {
        // The map and list fill in as tracks are committed (at most every 2 s).
        // A commit during a reload is picked up when that reload ends, so the
        // last tracks of a run always show.
        let was_running = self.indexing.running();
        if self.indexing.drain() {
            self.load_library(false);
        }
        if self.indexing.running() || self.workers.is_running("load-library") {
            return;
        }
        if was_running && self.library.is_none() {
            // A first pass that found nothing still made the catalog: show it (empty).
            self.load_library(false);
        } else if let Some(library) = &self.library
            && self.unsettled == Some(library.generation)
        {
            // The library shown was sent to search while a pass ran, and no
            // reload followed (the pass changed nothing, or the reload
            // failed): it is settled now, as a reload's would be, without
            // loading it all again.
            self.unsettled = None;
            self.workers.settle_search(library.generation, self.facet_layers());
        }
    }

    /// While this window's indexer waits for another writer, what the window is doing meanwhile.
    pub fn writer_banner(&self) -> Option<String> {
        self.indexing.writer_banner()
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.memory(|m| m.focused().is_some()) {
            return;
        }
        let (space, left, right, slash, down, up, switch) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::Slash),
                i.key_pressed(egui::Key::ArrowDown),
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::X),
            )
        });
        if switch && self.versions.compare.is_some() {
            self.commands.push(AppCommand::SwitchRecording);
        }
        if space {
            self.playback.toggle_pause();
        }
        if left || right {
            self.playback.seek_by(if right { 10.0 } else { -10.0 });
        }
        if slash {
            self.table.focus_search = true;
        }
        if (down || up) && !self.search.results().is_empty() {
            let visible: Vec<usize> = self.table.rows.shown_tracks().collect();
            let current = self.search.selected().and_then(|s| visible.iter().position(|&t| t == s));
            let next = match (current, down) {
                (Some(i), true) => (i + 1).min(visible.len().saturating_sub(1)),
                (Some(i), false) => i.saturating_sub(1),
                (None, _) => 0,
            };
            if let Some(&track) = visible.get(next) {
                self.commands.push(AppCommand::Select(track));
            }
        }
    }

    fn similar_radio(&mut self) {
        if let Some(track) = self.playback.radio_next(self.search.results(), self.library.as_ref().map(|l| &l.snapshot.works)) {
            self.commands.push(AppCommand::Select(track));
            self.commands.push(AppCommand::Play(track, 0.0));
        }
    }

    /// One frame's drawing and reacting, without eframe (kittest drives this).
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        self.handle_messages();
        self.drain_indexer();
        self.problems.refresh(self.library.as_deref(), &self.indexing);
        self.playback.refresh();
        if !self.advance_queue() {
            self.similar_radio();
        }
        self.handle_keys(&ctx);
        for file in ctx.input(|i| i.raw.dropped_files.clone()) {
            let path = file.path();
            if !path.as_os_str().is_empty() {
                self.commands.push(AppCommand::AddFolders(vec![path.to_path_buf()]));
            }
        }

        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar(ui));
        if let Some(banner) = self.writer_banner() {
            egui::Panel::top("writer-banner").show(ui, |ui| ui.label(egui::RichText::new(banner).strong()));
        }
        egui::Panel::bottom("player").show(ui, |ui| {
            let tracks = self.library.as_ref().map_or(&[][..], |l| l.snapshot.tracks.as_slice());
            self.playback.ui(ui, tracks, self.search.selected(), self.search.results(), &mut self.commands);
        });
        if self.indexing.has_run() {
            egui::Panel::bottom("indexing").show(ui, |ui| self.indexing.ui(ui, &mut self.commands));
        }
        egui::Panel::left("library").default_size(400.0).min_size(280.0).resizable(true).show(ui, |ui| self.library_panel(ui));
        egui::Panel::right("results").default_size(360.0).min_size(320.0).resizable(true).show(ui, |ui| self.results_panel(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.tab, CentralTab::Map, "Map");
                ui.selectable_value(&mut self.tab, CentralTab::Probe, "Layer probe");
                let problems = self.problems.failures.len() + self.problems.warnings.len();
                ui.selectable_value(&mut self.tab, CentralTab::Problems, format!("Problems ({problems})"));
                if self.versions.compare.is_some() {
                    ui.selectable_value(&mut self.tab, CentralTab::Compare, "↔ Compare");
                }
            });
            ui.separator();
            match self.tab {
                CentralTab::Map => self.map_view(ui),
                CentralTab::Probe => self.probe_view(ui),
                CentralTab::Problems => self.problems_view(ui),
                CentralTab::Compare => self.compare_view(ui),
            }
        });
        self.work_editor.ui(&ctx, &mut self.commands);
        let models = models_dialog::ModelsContext {
            data_dir: &self.data_dir,
            active_model: &self.settings.model,
            has_folders: !self.settings.roots.is_empty(),
            indexing: self.indexing.running(),
        };
        if self.models_dialog.ui(&ctx, &models, &mut self.commands) {
            // One running may have looked before the change.
            self.workers.run_after("discover-models", tasks::discover_models(self.data_dir.clone()));
        }
        self.handle_commands();
        // Indexer events arrive on a channel nobody wakes us for: poll while it runs.
        if self.indexing.running() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        self.frame_stats.record_own_ms(started.elapsed().as_secs_f32() * 1000.0);
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Strata");
            ui.separator();
            if ui.button("➕ Add music folder…").on_hover_text("Choose folders to index (or drop them on the window)").clicked() {
                self.workers.spawn("pick-folders", tasks::pick_folders());
            }
            if !self.settings.roots.is_empty() && ui.button("⟳ Rescan").on_hover_text("Index new and changed files").clicked() {
                self.commands.push(AppCommand::Reindex);
            }
            ui.separator();
            let current = self.settings.model.clone();
            egui::ComboBox::from_label("model").selected_text(&current).show_ui(ui, |ui| {
                for m in &self.models {
                    if ui.selectable_label(m.name() == current, &m.manifest.display_name).on_hover_text(&m.manifest.description).clicked() {
                        self.commands.push(AppCommand::SetModel(m.name().to_string()));
                    }
                }
            });
            if ui.button("Models…").on_hover_text("Install, remove and choose models (MERT)").clicked() {
                self.models_dialog.open(&self.data_dir);
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let label = if self.settings.dark { "☀ Light" } else { "🌙 Dark" };
                if ui.button(label).clicked() {
                    self.settings.dark = !self.settings.dark;
                    theme::apply(ui.ctx(), self.settings.dark);
                }
                if let Some(notice) = &self.notice {
                    ui.label(egui::RichText::new(notice).weak());
                }
                if let Some(error) = &self.library_error {
                    ui.colored_label(theme::ERROR, error);
                }
            });
        });
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if let Some(seconds) = frame.info().cpu_usage {
            self.frame_stats.record_full_ms(seconds * 1000.0);
        }
        self.frame(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.volume = self.playback.status().volume;
        self.settings.aspect_weights = self.search.aspect_weights().clone();
        self.settings.exclude_album = self.search.exclusion.same_album;
        self.settings.exclude_work = self.search.exclusion.same_work;
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

impl Drop for StrataApp {
    fn drop(&mut self) {
        if let Some(path) = std::env::var_os("STRATA_FRAME_STATS")
            && let Some((p50, p99)) = self.frame_stats.percentiles()
        {
            let (full_p50, full_p99) = self.frame_stats.full_frame_percentiles().unwrap_or((f32::NAN, f32::NAN));
            let text = format!(
                "{{\"frames\": {}, \"p50_ms\": {p50:.3}, \"p99_ms\": {p99:.3}, \"full_frame_p50_ms\": {full_p50:.3}, \"full_frame_p99_ms\": {full_p99:.3}}}\n",
                self.frame_stats.frames()
            );
            let _ = std::fs::write(path, text);
        }
        if let Some(path) = std::env::var_os("STRATA_FRAME_LOG") {
            let _ = std::fs::write(path, self.frame_stats.log());
        }
    }
}

/// Appends `value`, dropping the oldest so at most `kept` remain.
fn push_bounded<T>(values: &mut VecDeque<T>, value: T, kept: usize) {
    if values.len() >= kept {
        values.pop_front();
    }
    values.push_back(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_stats_stay_bounded() {
        let mut stats = FrameStats::default();
        for frame in 0..FRAME_STATS_KEPT + 500 {
            stats.record_own_ms(if frame < 500 { 100.0 } else { 1.0 });
            stats.record_full_ms(2.0);
        }
        assert_eq!((stats.times_ms.len(), stats.full_ms.len()), (FRAME_STATS_KEPT, FRAME_STATS_KEPT));
        assert_eq!(stats.frames(), (FRAME_STATS_KEPT + 500) as u64);
        // The oldest (slow) frames are the ones forgotten.
        assert_eq!(stats.percentiles(), Some((1.0, 1.0)));
        // The log keeps the same frames, each with its end time, in order.
        let log = stats.log();
        let rows: Vec<Vec<f64>> = log.lines().map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect()).collect();
        assert_eq!(rows.len(), FRAME_STATS_KEPT);
        assert!(rows.iter().all(|r| r.len() == 3 && r[1] == 1.0 && r[2] == 2.0));
        assert!(rows.windows(2).all(|w| w[0][0] <= w[1][0]) && rows[0][0] > 1.7e9);
    }
}

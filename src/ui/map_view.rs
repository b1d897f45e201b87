//! The map tab: a scatter of the library (egui_plot) by layer or aspect mix,
//! with hover, click-to-play, box selection, colouring and the layer sweep.
//! A large library (over [`THIN_MIN_POINTS`]) draws at most one marker per
//! series and cell of about [`THIN_CELL_PX`] pixels: dense regions cost what
//! the screen can show, not what the library holds; zooming in shows every
//! point. Those markers are drawn into a texture ([`super::map_raster`]) once
//! per change rather than laid out every frame. Hover and click pick among
//! all points (kiddo).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use eframe::egui;
use egui_plot::{Line, MarkerShape, Plot, PlotImage, PlotPoint, PlotPoints, Points};

use std::sync::atomic::{AtomicBool, Ordering};

use super::map_raster::{self, RasterKey};
use super::tasks::{MapIdentity, MapLayout, ProjectionKey, place, project};
use super::{AppCommand, ColourBy, MapChoice, StrataApp, theme};
use crate::map::Method;
use crate::search::QueryScores;
use crate::storage::catalog::Track;

/// Libraries with more points than this draw their map thinned to one marker per cell.
const THIN_MIN_POINTS: usize = 20_000;

/// A thinned map's cell side, in pixels: points of one series closer than
/// this draw as one marker. Markers are 7 px wide, so a dense region stays
/// solid at 4 px; each halving of the cell draws up to four times the markers.
const THIN_CELL_PX: f64 = 4.0;

/// The legend's width beside the map, in points.
const LEGEND_WIDTH: f32 = 190.0;

/// How long a new aspect mix must hold before its map is computed: a slider
/// drag makes a new mix every frame, and each is a projection of the whole
/// library.
const MIX_SETTLE: std::time::Duration = std::time::Duration::from_millis(400);

/// A layout ready to draw.
struct CachedLayout {
    layout: Arc<MapLayout>,
    /// When it arrived, to forget the oldest first.
    arrived: u64,
}

/// The one projection of a map being computed.
struct Refresh {
    key: ProjectionKey,
    progress: f32,
    cancel: Arc<AtomicBool>,
}

/// Projections computed or under way, and the map's own controls.
///
/// While the library grows, the map never goes blank: the newest finished
/// layout of the same map places the new tracks at once (PCA's transform,
/// or t-SNE neighbours) and one refresh at a time recomputes it in the background.
pub struct MapState {
    /// Layer or aspect mix.
    pub choice: MapChoice,
    cache: HashMap<ProjectionKey, CachedLayout>,
    refreshing: HashMap<MapIdentity, Refresh>,
    /// The generation whose layout each key was (or is being) placed on: one attempt each,
    /// so a library that cannot be placed on a layout is not retried every frame.
    placing: HashMap<ProjectionKey, u64>,
    errors: HashMap<MapIdentity, String>,
    cancelled: HashSet<MapIdentity>,
    /// Tracks inside the last box selection.
    pub box_selection: Vec<usize>,
    drag_start: Option<[f32; 2]>,
    /// The legend entry whose tracks stand out.
    highlight: Option<String>,
    /// The layout drawn last, kept on screen while the next one is computed.
    last_shown: Option<ProjectionKey>,
    /// Layouts cached so far (their arrival order).
    arrivals: u64,
    /// The series drawn and listed in the legend.
    pub legend: LegendCache,
    /// The series thinned for the current zoom.
    thinned: ThinCache,
    /// A thinned map's markers as one texture.
    pub raster: super::map_raster::MapRaster,
    /// Plot units per pixel when the map was last drawn, to thin the next frame for it.
    units_per_px: Option<f64>,
    /// The aspect mix asked for last, and since when.
    mix_since: Option<(MapIdentity, std::time::Instant)>,
}

impl Default for MapState {
    fn default() -> Self {
        Self {
            choice: MapChoice::Aspects,
            cache: HashMap::new(),
            refreshing: HashMap::new(),
            placing: HashMap::new(),
            errors: HashMap::new(),
            cancelled: HashSet::new(),
            box_selection: Vec::new(),
            drag_start: None,
            highlight: None,
            last_shown: None,
            arrivals: 0,
            legend: LegendCache::default(),
            thinned: ThinCache::default(),
            raster: super::map_raster::MapRaster::default(),
            units_per_px: None,
            mix_since: None,
        }
    }
}

impl MapState {
    /// Layouts kept at most (each is 8 bytes per track plus its picker).
    const MAX_CACHED: usize = 32;

    /// Similarity colours built in the background arrived: shown if they are
    /// still for the map on screen (a newer ask may follow; the newest wins).
    pub(super) fn recoloured(&mut self, colours: Recoloured) {
        let Recoloured { source, series, level, thinned } = colours;
        // With no ask outstanding, the colours on screen are the ones asked for last.
        let Some(asked) = &self.legend.recolouring else { return };
        if *asked == source {
            self.legend.recolouring = None;
        }
        if !self.legend.only_similarity_changed(&source) {
            return;
        }
        self.legend.builds += 1;
        self.thinned.built = Some((series.clone(), level, thinned));
        self.legend.built = Some((source, series));
    }

    /// The library changed: selections refer to old rows, and failures may not repeat
    /// (a map the user cancelled stays cancelled).
    pub fn library_changed(&mut self) {
        // Keep the newest layout of each map: it places the grown library at once.
        let mut newest: HashMap<MapIdentity, u64> = HashMap::new();
        for key in self.cache.keys() {
            let generation = newest.entry(key.identity()).or_insert(key.generation);
            *generation = (*generation).max(key.generation);
        }
        self.cache.retain(|k, _| newest.get(&k.identity()) == Some(&k.generation));
        self.placing.retain(|k, _| self.cache.contains_key(k));
        self.errors.clear();
        self.box_selection.clear();
        self.drag_start = None;
    }

    pub(super) fn progress(&mut self, key: ProjectionKey, fraction: f32) {
        if let Some(refresh) = self.refreshing.get_mut(&key.identity()).filter(|r| r.key == key) {
            refresh.progress = fraction;
        }
    }

    pub(super) fn ready(&mut self, key: ProjectionKey, layout: Arc<MapLayout>) {
        let identity = key.identity();
        if self.refreshing.get(&identity).is_some_and(|r| r.key == key) {
            self.refreshing.remove(&identity);
        }
        // A finished layout supersedes every older one of the same map.
        self.cache.retain(|k, _| k.identity() != identity || k.generation > key.generation);
        self.insert(key, layout);
    }

    pub(super) fn placed(&mut self, key: ProjectionKey, layout: Option<Arc<MapLayout>>) {
        let finished_here = self.cache.get(&key).is_some_and(|c| c.layout.placed_from.is_none());
        if let Some(layout) = layout.filter(|_| !finished_here) {
            self.insert(key, layout);
        }
    }

    /// Caches a layout, forgetting the oldest beyond [`Self::MAX_CACHED`] (a
    /// slider sweep over aspect weights makes a new mix, and layout, per step).
    fn insert(&mut self, key: ProjectionKey, layout: Arc<MapLayout>) {
        self.arrivals += 1;
        self.cache.insert(key, CachedLayout { layout, arrived: self.arrivals });
        while self.cache.len() > Self::MAX_CACHED {
            let keep = self.last_shown.clone();
            let oldest =
                self.cache.iter().filter(|(k, _)| Some(*k) != keep.as_ref()).min_by_key(|(_, c)| c.arrived).map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) => _ = self.cache.remove(&oldest),
                None => break,
            }
        }
    }

    /// A projection failed or was cancelled; one stopped because another map
    /// is shown now is forgotten, so it starts again when shown again.
    pub(super) fn failed(&mut self, key: ProjectionKey, error: Option<String>) {
        let identity = key.identity();
        if self.refreshing.get(&identity).is_some_and(|r| r.key == key) {
            self.refreshing.remove(&identity);
            match error {
                Some(error) => _ = self.errors.insert(identity, error),
                None => _ = self.cancelled.insert(identity),
            }
        }
    }

    /// How long `key`'s map must still wait before it is computed: zero for
    /// a layer, for the first map, and for a mix that held for [`MIX_SETTLE`].
    /// Meanwhile the map shows the last one, and stale projections stop.
    fn wait_for_mix(&mut self, key: &ProjectionKey, now: std::time::Instant) -> std::time::Duration {
        let identity = key.identity();
        if self.choice != MapChoice::Aspects || self.last_shown.is_none() {
            self.mix_since = None;
            return std::time::Duration::ZERO;
        }
        let since = match &self.mix_since {
            Some((asked, since)) if *asked == identity => *since,
            _ => {
                self.cancel_others(&identity);
                self.mix_since = Some((identity, now));
                now
            }
        };
        MIX_SETTLE.saturating_sub(now.saturating_duration_since(since))
    }

    /// Stops refreshes of maps other than `shown`: a layer sweep starts many.
    fn cancel_others(&mut self, shown: &MapIdentity) {
        self.refreshing.retain(|identity, refresh| {
            let keep = identity == shown;
            if !keep {
                refresh.cancel.store(true, Ordering::Relaxed);
            }
            keep
        });
    }

    /// What to draw for `key`: its own layout; while a grown library is being
    /// placed, the newest layout of the same map; while another map is being
    /// computed (a new layer, a new aspect mix), the one shown last. Only a
    /// layout whose tracks are the first rows of `track_ids` qualifies (rows
    /// are appended as tracks are indexed), so points still mean the same
    /// tracks; the tracks it lacks appear once placed. The map never goes blank.
    fn shown(&self, key: &ProjectionKey, track_ids: &[i64]) -> Option<(&ProjectionKey, &CachedLayout)> {
        if let Some(own) = self.cache.get_key_value(key) {
            return Some(own);
        }
        let newest_of = |identity: &MapIdentity| {
            self.cache
                .iter()
                .filter(|(k, c)| k.generation <= key.generation && k.identity() == *identity && track_ids.starts_with(&c.layout.track_ids))
                .max_by_key(|(k, _)| k.generation)
        };
        let last_of_this_model = self.last_shown.as_ref().filter(|last| last.model == key.model);
        newest_of(&key.identity()).or_else(|| last_of_this_model.and_then(|last| newest_of(&last.identity())))
    }

    /// The newest finished layout of `key`'s map from an older generation, with that generation.
    fn newest_finished(&self, key: &ProjectionKey) -> Option<(u64, Arc<MapLayout>)> {
        let identity = key.identity();
        self.cache
            .iter()
            .filter(|(k, c)| k.generation < key.generation && c.layout.placed_from.is_none() && k.identity() == identity)
            .max_by_key(|(k, _)| k.generation)
            .map(|(k, c)| (k.generation, c.layout.clone()))
    }
}

/// One legend entry: its tracks' points on the map, ready to draw.
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Colour of its points and swatch.
    pub colour: egui::Color32,
    /// Its tracks' positions, in track order.
    pub xy: Vec<PlotPoint>,
}

/// What the legend is built from.
#[derive(Clone)]
pub struct LegendSource {
    generation: u64,
    colour_by: ColourBy,
    /// The layout drawn (by identity: a new layout is a new `Arc`).
    layout: Arc<MapLayout>,
    /// With similarity colouring: the query's similarities (by identity) and the facet weights.
    similarity: Option<(Arc<QueryScores>, Vec<f32>)>,
}

impl LegendSource {
    /// The same library, colouring and layout, whatever the similarities.
    fn same_but_similarity(&self, other: &Self) -> bool {
        self.generation == other.generation && self.colour_by == other.colour_by && Arc::ptr_eq(&self.layout, &other.layout)
    }
}

impl PartialEq for LegendSource {
    fn eq(&self, other: &Self) -> bool {
        self.same_but_similarity(other) && same_similarity(&self.similarity, &other.similarity)
    }
}

/// Whether two similarity colourings are the same: the same similarities (by identity) and weights.
fn same_similarity(a: &Option<(Arc<QueryScores>, Vec<f32>)>, b: &Option<(Arc<QueryScores>, Vec<f32>)>) -> bool {
    match (a, b) {
        (Some((a, a_weights)), Some((b, b_weights))) => Arc::ptr_eq(a, b) && a_weights == b_weights,
        (None, None) => true,
        _ => false,
    }
}

/// The map's series (grouping by composer, album or tag, or ranking the whole
/// library by similarity), built once per change of what they depend on
/// rather than every frame.
#[derive(Default)]
pub struct LegendCache {
    built: Option<(LegendSource, Arc<Vec<Series>>)>,
    /// New similarity colours being built in the background ([`RECOLOUR_TASK`]).
    recolouring: Option<LegendSource>,
    builds: u64,
}

/// The task that colours a large map by similarity anew.
pub(super) const RECOLOUR_TASK: &str = "map-recolour";

/// Similarity colours built in the background: the source, its series, and
/// those series thinned at a zoom level.
pub struct Recoloured {
    source: LegendSource,
    series: Arc<Vec<Series>>,
    level: i32,
    thinned: ThinnedPoints,
}

impl LegendCache {
    /// Whether `source` differs from the series built only in its similarities
    /// (another query, or weights): the built series can stay on screen while
    /// the new ones are made in the background.
    fn only_similarity_changed(&self, source: &LegendSource) -> bool {
        self.built
            .as_ref()
            .is_some_and(|(built, _)| built.similarity.is_some() && source.similarity.is_some() && built.same_but_similarity(source))
    }

    /// The series for `source`, built now only if it differs from the last.
    fn get(&mut self, source: LegendSource, tracks: &[Track], top_tags: &[String]) -> Arc<Vec<Series>> {
        if let Some((built_from, series)) = &self.built
            && *built_from == source
        {
            return series.clone();
        }
        self.builds += 1;
        let series = Arc::new(build_series(&source, tracks, top_tags));
        self.built = Some((source, series.clone()));
        series
    }

    /// How often the series were built (for tests of the cache).
    #[cfg(test)]
    fn builds(&self) -> u64 {
        self.builds
    }
}

/// Similarity colours for `source` and its series thinned at `level`, as
/// [`build_series`] and [`ThinCache`] make them; the task of [`RECOLOUR_TASK`].
fn recolour(source: LegendSource, level: i32) -> impl FnOnce(&crossbeam_channel::Sender<super::tasks::WorkerMessage>) + Send {
    move |sender| {
        let series = Arc::new(build_series(&source, &[], &[]));
        let thinned = thin_all(&series, level);
        let _ = sender.send(super::tasks::WorkerMessage::Recoloured(Box::new(Recoloured { source, series, level, thinned })));
    }
}

/// The series thinned to one point per cell of side `2^level` plot units, built
/// once per series (by identity) and zoom level: panning costs nothing, and a
/// zoom rebuilds only when it crosses a power of two.
#[derive(Default)]
struct ThinCache {
    /// The series thinned (by identity), the zoom level, and each series' points at it.
    built: Option<(Arc<Vec<Series>>, i32, ThinnedPoints)>,
}

/// Each series' points, thinned, in series order.
type ThinnedPoints = Arc<Vec<Vec<PlotPoint>>>;

impl ThinCache {
    fn get(&mut self, series: &Arc<Vec<Series>>, level: i32) -> ThinnedPoints {
        if let Some((built_from, built_level, thinned)) = &self.built
            && Arc::ptr_eq(built_from, series)
            && *built_level == level
        {
            return thinned.clone();
        }
        let thinned = thin_all(series, level);
        self.built = Some((series.clone(), level, thinned.clone()));
        thinned
    }
}

/// Each series thinned to one point per cell of side `2^level` plot units.
fn thin_all(series: &[Series], level: i32) -> ThinnedPoints {
    let cell = 2f64.powi(level);
    Arc::new(series.iter().map(|s| thin(&s.xy, cell)).collect())
}

/// The first point in each occupied `cell × cell` square.
fn thin(points: &[PlotPoint], cell: f64) -> Vec<PlotPoint> {
    let mut occupied = HashSet::with_capacity(points.len().min(1 << 16));
    points.iter().filter(|p| occupied.insert(((p.x / cell).floor() as i64, (p.y / cell).floor() as i64))).copied().collect()
}

/// The zoom level (a power of two in plot units) whose cells are at most [`THIN_CELL_PX`]
/// pixels; without a last frame's scale, the whole map is taken to fill `width_px`.
fn thin_level(units_per_px: Option<f64>, series: &[Series], width_px: f64) -> i32 {
    let units_per_px = units_per_px.unwrap_or_else(|| {
        let (low, high) = series
            .iter()
            .flat_map(|s| &s.xy)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.x).min(p.y), hi.max(p.x).max(p.y)));
        (high - low).max(f64::MIN_POSITIVE) / width_px.max(1.0)
    });
    (THIN_CELL_PX * units_per_px).log2().floor().clamp(-60.0, 60.0) as i32
}

/// Groups the layout's tracks into legend series (`tracks` and `top_tags` are
/// read only to group by their tags, not for similarity).
fn build_series(source: &LegendSource, tracks: &[Track], top_tags: &[String]) -> Vec<Series> {
    let points = &source.layout.layout.points;
    let xy = |members: &[usize]| members.iter().map(|&t| PlotPoint::new(f64::from(points[t][0]), f64::from(points[t][1]))).collect();
    if let Some((scores, weights)) = &source.similarity {
        // Every track's similarity to the query (the query itself counted lowest),
        // read straight from the kept similarities: no ranking of the whole library.
        let mut by_track = scores.combined(weights);
        by_track.resize(points.len(), f32::NAN);
        if let Some(own) = by_track.get_mut(scores.query) {
            *own = f32::NAN;
        }
        let (min, max) = by_track.iter().filter(|s| s.is_finite()).fold((f32::MAX, f32::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        // Ten bands of a ramp, so the legend reads low → high.
        let mut bands: Vec<Vec<usize>> = vec![Vec::new(); 10];
        for (t, &score) in by_track.iter().enumerate() {
            let unit = if score.is_finite() { (score - min) / (max - min).max(1e-6) } else { 0.0 };
            bands[((unit * 9.99) as usize).min(9)].push(t);
        }
        return bands
            .iter()
            .enumerate()
            .rev()
            .map(|(band, members)| Series {
                name: format!("similarity {}–{} %", band * 10, band * 10 + 10),
                colour: theme::ramp(band as f32 / 9.0),
                xy: xy(members),
            })
            .collect();
    }
    // Borrowed names: no string is made per track.
    let category_of = |t: usize| -> &str {
        let track = &tracks[t];
        match source.colour_by {
            ColourBy::Composer => track.tags.composer.as_deref().unwrap_or("(no composer)"),
            ColourBy::Album => track.tags.album.as_deref().unwrap_or("(no album)"),
            ColourBy::Tag => top_tags.get(t).and_then(|tags| tags.split(", ").next()).unwrap_or(""),
            ColourBy::Similarity => "select a track to colour by similarity",
        }
    };
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for t in 0..points.len().min(tracks.len()) {
        groups.entry(category_of(t)).or_default().push(t);
    }
    let mut groups: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (name, members))| Series { name: name.to_string(), colour: theme::category(i), xy: xy(&members) })
        .collect()
}

impl StrataApp {
    fn projection_key(&self, generation: u64) -> ProjectionKey {
        let source = match self.map.choice {
            MapChoice::Layer(layer) => vec![(layer, 1000)],
            MapChoice::Aspects => {
                let mut by_layer: HashMap<usize, f32> = HashMap::new();
                for aspect in self.search.aspects() {
                    *by_layer.entry(aspect.layer).or_default() += self.aspect_weight(&aspect.name);
                }
                let mut parts: Vec<(usize, u32)> =
                    by_layer.into_iter().filter(|&(_, w)| w > 0.0).map(|(l, w)| (l, (w * 1000.0).round() as u32)).collect();
                parts.sort_unstable();
                if parts.is_empty() {
                    let layer = self.library.as_ref().map_or(0, |l| l.snapshot.model.manifest.passage_layer_index());
                    parts.push((layer, 1000));
                }
                parts
            }
        };
        ProjectionKey { generation, model: self.settings.model.clone(), source, method: self.settings.method }
    }

    pub(super) fn map_view(&mut self, ui: &mut egui::Ui) {
        let Some(library) = self.library.clone() else {
            return;
        };
        let snapshot = library.snapshot.clone();
        let layer_names = snapshot.layer_names();
        ui.horizontal(|ui| {
            let text = match self.map.choice {
                MapChoice::Aspects => "Aspect mix".to_string(),
                MapChoice::Layer(l) => {
                    format!("Layer {}", layer_names.get(l).cloned().unwrap_or_default())
                }
            };
            let source = egui::ComboBox::from_id_salt("map-source").width(140.0).selected_text(text).show_ui(ui, |ui| {
                if ui.selectable_value(&mut self.map.choice, MapChoice::Aspects, "Aspect mix").clicked() {
                    self.commands.push(AppCommand::UseAspects);
                }
                for (i, name) in layer_names.iter().enumerate() {
                    ui.selectable_value(&mut self.map.choice, MapChoice::Layer(i), format!("Layer {name}"));
                }
            });
            // The chooser has no label beside it (its width stays fixed during a
            // sweep); the hover text is its accessible name.
            source.response.on_hover_text("What the map projects: the aspect mix or one layer");
            ui.selectable_value(&mut self.settings.method, Method::Pca, "PCA");
            ui.selectable_value(&mut self.settings.method, Method::Tsne, "t-SNE");
            ui.separator();
            ui.label("Colour:");
            ui.selectable_value(&mut self.settings.colour_by, ColourBy::Composer, "Composer");
            ui.selectable_value(&mut self.settings.colour_by, ColourBy::Album, "Album");
            ui.selectable_value(&mut self.settings.colour_by, ColourBy::Tag, "Tag");
            ui.selectable_value(&mut self.settings.colour_by, ColourBy::Similarity, "Similarity");
        });
        if !layer_names.is_empty() {
            ui.horizontal(|ui| {
                let mut layer = match self.map.choice {
                    MapChoice::Layer(l) => l,
                    MapChoice::Aspects => 0,
                };
                let slider = ui.add(
                    egui::Slider::new(&mut layer, 0..=layer_names.len() - 1)
                        .text("layer sweep")
                        .custom_formatter(|v, _| layer_names.get(v as usize).cloned().unwrap_or_default()),
                );
                if slider.changed() {
                    self.map.choice = MapChoice::Layer(layer);
                    // Results follow the layer too: the demo of layer specialisation.
                    self.search.set_layer_override(Some(layer));
                    self.request_query();
                }
                slider.on_hover_text("Slide through the layers and watch the library reorganise");
            });
        }
        if snapshot.len() < 3 {
            ui.label("The map needs at least 3 indexed tracks.");
            return;
        }
        let key = self.projection_key(library.generation);
        match self.map.wait_for_mix(&key, std::time::Instant::now()) {
            std::time::Duration::ZERO => self.schedule_projection(ui.ctx(), &snapshot, &key),
            wait => ui.ctx().request_repaint_after(wait),
        }
        let shown = self.map.shown(&key, &library.track_ids).map(|(k, c)| (k.clone(), c.layout.clone()));
        let identity = key.identity();
        let refresh = self.map.refreshing.get(&identity).map(|r| (r.progress, r.cancel.clone()));
        let error = match self.map.errors.get(&identity) {
            Some(error) => Some(error.clone()),
            None => self.map.cancelled.contains(&identity).then(|| "cancelled".to_string()),
        };
        ui.horizontal(|ui| {
            if let Some((fraction, cancel)) = &refresh {
                let text = if shown.is_some() { "updating the map for new tracks…" } else { "computing the map…" };
                ui.add(egui::ProgressBar::new(*fraction).text(text).desired_width(300.0));
                if ui.button("Cancel").on_hover_text("Stop computing this map").clicked() {
                    cancel.store(true, Ordering::Relaxed);
                }
            } else if let Some(error) = &error {
                ui.colored_label(theme::ERROR, format!("This map was not made: {error}"));
                if ui.button("Compute again").clicked() {
                    self.map.errors.remove(&identity);
                    self.map.cancelled.remove(&identity);
                }
            }
        });
        if let Some((shown_key, layout)) = shown {
            self.map.last_shown = Some(shown_key);
            self.draw_map(ui, &library, &layout);
        }
    }

    /// Whether the map's markers are shown as one texture (a library over 20,000 tracks).
    pub fn map_texture_shown(&self) -> bool {
        self.map.raster.image().is_some()
    }

    /// What colouring by similarity depends on: the query's similarities and
    /// the weights (`None` when the map is coloured otherwise, or nothing is selected).
    fn similarity_colouring(&self) -> Option<(Arc<QueryScores>, Vec<f32>)> {
        (self.settings.colour_by == ColourBy::Similarity)
            .then(|| self.current_scores().map(|scores| (scores.clone(), self.search.weights())))
            .flatten()
    }

    /// Whether the map shows the colours of what is chosen now, not the last
    /// ones, kept on screen while newer similarity colours are built.
    pub fn map_colours_current(&self) -> bool {
        let Some((built, _)) = &self.map.legend.built else { return false };
        built.colour_by == self.settings.colour_by && same_similarity(&built.similarity, &self.similarity_colouring())
    }

    /// How many tracks the map shows now, and whether its layout is final
    /// (not new tracks placed on an older one); `None` while there is none.
    pub fn map_shown(&self) -> Option<(usize, bool)> {
        let library = self.library.as_ref()?;
        let key = self.projection_key(library.generation);
        let (_, cached) = self.map.shown(&key, &library.track_ids)?;
        let own = self.map.cache.get(&key).is_some_and(|c| c.layout.placed_from.is_none());
        Some((cached.layout.layout.points.len(), own))
    }

    /// Starts what the map for `key` still needs: placing a grown library
    /// on the newest finished layout at once, and one background refresh.
    fn schedule_projection(&mut self, ctx: &egui::Context, snapshot: &Arc<crate::storage::snapshot::LibrarySnapshot>, key: &ProjectionKey) {
        let identity = key.identity();
        self.map.cancel_others(&identity);
        let cached = self.map.cache.get(key).map(|c| c.layout.placed_from);
        if cached == Some(None) || self.map.errors.contains_key(&identity) {
            return;
        }
        if !self.map.refreshing.contains_key(&identity) && !self.map.cancelled.contains(&identity) {
            let cancel = Arc::new(AtomicBool::new(false));
            let task = project(snapshot.clone(), key.clone(), cancel.clone(), ctx.clone());
            let name = format!("project-{}-{:?}-{:?}", key.model, key.method, key.source);
            if self.workers.spawn(&name, task) {
                self.map.refreshing.insert(identity, Refresh { key: key.clone(), progress: 0.0, cancel });
            }
        }
        if let Some((from, earlier)) = self.map.newest_finished(key)
            && cached.flatten().is_none_or(|placed_from| placed_from < from)
            && self.map.placing.get(key).is_none_or(|&tried| tried < from)
        {
            let name = format!("place-{}-{:?}-{:?}", key.model, key.method, key.source);
            if self.workers.spawn(&name, place(snapshot.clone(), key.clone(), earlier, from)) {
                self.map.placing.insert(key.clone(), from);
            }
        }
    }

    fn draw_map(&mut self, ui: &mut egui::Ui, library: &super::LibraryView, layout: &Arc<MapLayout>) {
        let snapshot = &library.snapshot;
        let picker = &layout.picker;
        let points = &layout.layout.points;
        let colour_by = self.settings.colour_by;
        let similarity = self.similarity_colouring();
        let source = LegendSource { generation: library.generation, colour_by, layout: layout.clone(), similarity };
        let plot_width = (ui.available_width() - LEGEND_WIDTH - 8.0).max(120.0);
        let large = points.len() > THIN_MIN_POINTS;
        let series_built = match self.map.legend.built.as_ref() {
            // New similarities over a large map (a slider dragged, another query) are coloured
            // in the background; the last colours stay on screen until they arrive.
            Some((built, series)) if large && self.map.legend.only_similarity_changed(&source) && *built != source => {
                let series = series.clone();
                if self.map.legend.recolouring.as_ref() != Some(&source) {
                    let level = thin_level(self.map.units_per_px, &series, f64::from(plot_width));
                    let asked = self.workers.run_after(RECOLOUR_TASK, recolour(source.clone(), level));
                    self.map.legend.recolouring = asked.then_some(source);
                }
                series
            }
            _ => {
                // What is on screen is what is asked for: an answer to an older ask is stale.
                self.map.legend.recolouring = None;
                self.map.legend.get(source, &snapshot.tracks, &library.top_tags)
            }
        };
        let series = &series_built[..];
        let highlight = self.map.highlight.clone().filter(|h| series.iter().any(|s| &s.name == h));
        // A layout still being extended to new tracks has fewer points than the library.
        let result_set: HashSet<usize> = self.search.results().iter().take(10).map(|r| r.track).filter(|&t| t < points.len()).collect();
        let box_set: HashSet<usize> = self.map.box_selection.iter().copied().filter(|&t| t < points.len()).collect();
        let selected = self.search.selected();
        let mut hovered: Option<usize> = None;
        let mut clicked: Option<usize> = None;
        let shift = ui.input(|i| i.modifiers.shift);
        let plot_height = (ui.available_height() - 24.0).max(120.0);
        let thinned = large.then(|| self.map.thinned.get(&series_built, thin_level(self.map.units_per_px, series, f64::from(plot_width))));
        let mut response = None;
        let raster_image = thinned.as_ref().and_then(|_| self.map.raster.image());
        ui.horizontal_top(|ui| {
            let mut plot = Plot::new("library-map")
                .width(plot_width)
                .height(plot_height)
                .data_aspect(1.0)
                .show_axes(false)
                .show_grid(false)
                .allow_drag(!shift)
                .allow_boxed_zoom(false);
            if thinned.is_some() {
                // The texture does not tell the plot where the data lie: the layout's extent does.
                let [x0, y0, x1, y1] = layout.extent();
                plot = plot.include_x(x0).include_x(x1).include_y(y0).include_y(y1);
            }
            let shown = plot.show(ui, |plot_ui| {
                if let Some((texture, center, size)) = raster_image {
                    plot_ui.image(PlotImage::new("markers", texture, center, size));
                } else if thinned.is_none() {
                    for entry in series {
                        let (colour, radius) = map_raster::marker_style(entry, highlight.as_deref());
                        plot_ui.points(Points::new(entry.name.as_str(), PlotPoints::Borrowed(&entry.xy)).radius(radius).color(colour));
                    }
                }
                // The plot keeps x and y at one scale (data_aspect 1).
                self.map.units_per_px = Some(plot_ui.plot_bounds().width() / f64::from(plot_width));
                if !box_set.is_empty() {
                    let series: Vec<[f64; 2]> = box_set.iter().map(|&t| [f64::from(points[t][0]), f64::from(points[t][1])]).collect();
                    plot_ui.points(
                        Points::new("box selection", PlotPoints::from(series))
                            .radius(6.0)
                            .shape(MarkerShape::Square)
                            .filled(false)
                            .color(theme::RESULT),
                    );
                }
                if let Some(q) = selected.filter(|&q| q < points.len()) {
                    let origin = [f64::from(points[q][0]), f64::from(points[q][1])];
                    for &r in &result_set {
                        let line = vec![origin, [f64::from(points[r][0]), f64::from(points[r][1])]];
                        plot_ui.line(Line::new("", PlotPoints::from(line)).color(theme::RESULT.gamma_multiply(0.8)).width(1.5));
                    }
                    let rings: Vec<[f64; 2]> = result_set.iter().map(|&r| [f64::from(points[r][0]), f64::from(points[r][1])]).collect();
                    plot_ui.points(Points::new("results", PlotPoints::from(rings)).radius(6.0).filled(false).color(theme::RESULT));
                    plot_ui.points(
                        Points::new("selected", PlotPoints::from(vec![origin]))
                            .radius(8.0)
                            .shape(MarkerShape::Diamond)
                            .color(theme::SELECTED),
                    );
                }
                let pointer = plot_ui.pointer_coordinate();
                if let Some(p) = pointer {
                    let at = [p.x as f32, p.y as f32];
                    let bounds = plot_ui.plot_bounds();
                    let reach = (bounds.width().max(bounds.height()) * 0.015) as f32;
                    hovered = picker.nearest(at, reach);
                    let response = plot_ui.response().clone();
                    if response.clicked() && !shift {
                        clicked = hovered;
                    }
                    if shift && response.drag_started() {
                        self.map.drag_start = Some(at);
                    }
                    if let Some(start) = self.map.drag_start {
                        let rect = vec![[start[0], start[1]], [at[0], start[1]], [at[0], at[1]], [start[0], at[1]], [start[0], start[1]]];
                        let rect: Vec<[f64; 2]> = rect.into_iter().map(|[x, y]| [f64::from(x), f64::from(y)]).collect();
                        plot_ui.line(Line::new("", PlotPoints::from(rect)).color(theme::RESULT));
                        if response.drag_stopped() || !shift {
                            self.map.box_selection = picker.in_rect(start, at);
                            self.map.drag_start = None;
                        }
                    }
                }
            });
            if let Some(thinned) = &thinned {
                let key = RasterKey::new(
                    thinned,
                    highlight.clone(),
                    layout.extent(),
                    shown.transform.bounds(),
                    shown.transform.frame().size(),
                    ui.ctx().pixels_per_point(),
                );
                self.map.raster.update(ui.ctx(), key, series, thinned);
            }
            response = Some(shown.response);
            self.map_legend(ui, series, plot_height);
        });
        if let (Some(t), Some(response)) = (hovered, response) {
            let track = &snapshot.tracks[t];
            response.on_hover_ui_at_pointer(|ui| {
                ui.strong(track.display_title());
                ui.label(track.tags.composer.as_deref().unwrap_or("?"));
                ui.label(egui::RichText::new(track.tags.album.as_deref().unwrap_or("")).weak());
            });
        }
        if let Some(t) = clicked {
            self.commands.push(AppCommand::Select(t));
            self.commands.push(AppCommand::Play(t, 0.0));
        }
        if !self.map.box_selection.is_empty() {
            ui.label(format!("{} tracks in the box (shift-drag to select another)", self.map.box_selection.len()));
        } else if let Some(fitted) = layout.layout.fitted {
            ui.label(
                egui::RichText::new(format!(
                    "t-SNE ran on {fitted} evenly spaced tracks of {}; the others are placed beside their nearest fitted tracks",
                    points.len()
                ))
                .weak(),
            );
        } else {
            ui.label(
                egui::RichText::new(
                    "Hover for details · click to select and play · shift-drag to box-select · scroll to zoom · drag to pan",
                )
                .weak(),
            );
        }
    }

    /// The legend beside the map: a swatch, name and count per series;
    /// clicking an entry highlights its tracks (again: shows all).
    fn map_legend(&mut self, ui: &mut egui::Ui, series: &[Series], height: f32) {
        ui.vertical(|ui| {
            ui.set_width(LEGEND_WIDTH);
            // Only the rows in view are laid out: coloured by album, a large
            // library has tens of thousands of entries.
            let row_height = ui.spacing().interact_size.y;
            egui::ScrollArea::vertical().id_salt("map-legend").max_height(height).show_rows(ui, row_height, series.len(), |ui, rows| {
                for Series { name, colour, xy, .. } in &series[rows] {
                    let active = self.map.highlight.as_deref() == Some(name.as_str());
                    let dimmed = self.map.highlight.is_some() && !active;
                    let text = egui::RichText::new(format!("{name} ({})", xy.len()));
                    let text = if dimmed { text.weak() } else { text };
                    let row = ui.horizontal(|ui| {
                        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                        ui.painter().circle_filled(rect.center(), 4.5, if dimmed { colour.gamma_multiply(0.3) } else { *colour });
                        ui.add(egui::Button::selectable(active, text).truncate())
                    });
                    if row.inner.on_hover_text(format!("{name}: click to highlight these tracks")).clicked() {
                        self.map.highlight = if active { None } else { Some(name.clone()) };
                    }
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::catalog::TrackTags;

    #[test]
    fn a_new_aspect_mix_waits_until_it_holds_and_a_layer_does_not() {
        let key = |source: Vec<(usize, u32)>| ProjectionKey { generation: 1, model: "m".into(), source, method: Method::Pca };
        let (start, ms) = (std::time::Instant::now(), std::time::Duration::from_millis);
        let mut map = MapState::default();
        assert_eq!(map.wait_for_mix(&key(vec![(1, 500), (2, 500)]), start), ms(0), "the first map starts at once");
        map.last_shown = Some(key(vec![(1, 500), (2, 500)]));
        // A drag: a new mix every frame never starts a projection, and stops the one running.
        let cancel = Arc::new(AtomicBool::new(false));
        let running = key(vec![(1, 500), (2, 500)]);
        map.refreshing.insert(running.identity(), Refresh { key: running, progress: 0.0, cancel: cancel.clone() });
        for frame in 0..30u32 {
            let mix = key(vec![(1, 500 + frame), (2, 500)]);
            assert!(map.wait_for_mix(&mix, start + ms(u64::from(frame) * 16)) > ms(0), "frame {frame}");
        }
        assert!(cancel.load(Ordering::Relaxed) && map.refreshing.is_empty(), "the stale projection is cancelled");
        // The last mix, once it held for MIX_SETTLE, is computed.
        let last = key(vec![(1, 529), (2, 500)]);
        let held_from = start + ms(29 * 16);
        assert_eq!(map.wait_for_mix(&last, held_from + ms(100)), MIX_SETTLE - ms(100));
        assert_eq!(map.wait_for_mix(&last, held_from + MIX_SETTLE), ms(0));
        // A layer is a bounded choice, computed (and cached) at once, as a layer sweep needs.
        map.choice = MapChoice::Layer(3);
        assert_eq!(map.wait_for_mix(&key(vec![(3, 1000)]), held_from), ms(0));
    }

    #[test]
    fn a_thinned_map_keeps_one_point_per_occupied_cell() {
        let mut rng = crate::prng::SplitMix64(3);
        // 100,000 points in a 10 × 10 square, and one far away.
        let mut points: Vec<PlotPoint> =
            (0..100_000).map(|_| PlotPoint::new(5.0 + 5.0 * rng.symmetric_unit(), 5.0 + 5.0 * rng.symmetric_unit())).collect();
        points.push(PlotPoint::new(100.5, 100.5));
        let thinned = thin(&points, 1.0);
        assert!(thinned.len() <= 101 && thinned.len() >= 90, "{} points", thinned.len());
        assert!(thinned.iter().any(|p| p.x == 100.5), "a lone point is never dropped");
        // Zoomed in far enough, every point is drawn.
        assert_eq!(thin(&points, 1e-9).len(), points.len());
        let series = vec![Series { name: "all".into(), colour: egui::Color32::WHITE, xy: points }];
        // Without a last frame, the map's extent (about 105 units) fills the width: 4 px at 1,000 px is 0.42 units.
        assert_eq!(thin_level(None, &series, 1000.0), -2);
        assert_eq!(thin_level(Some(1.0), &series, 1000.0), 2);
    }

    fn track(composer: &str, album: &str) -> Track {
        let tags = TrackTags { composer: Some(composer.into()), album: Some(album.into()), ..TrackTags::default() };
        Track { id: 0, path: "x.flac".into(), tags, duration_s: None, descriptors: None }
    }

    fn layout(points: usize) -> Arc<MapLayout> {
        let features = ndarray::Array2::from_shape_fn((points, 3), |(r, c)| ((r * 7 + c * 3) % 5) as f32 + r as f32 * 0.1);
        let layout = crate::map::project(&features, Method::Pca, 0, &mut |_, _| {}, &|| false).unwrap();
        Arc::new(MapLayout::new(layout, (0..points as i64).collect(), None))
    }

    #[test]
    fn the_legend_is_built_once_per_change_of_its_inputs() {
        let tracks: Vec<Track> = (0..30).map(|t| track(["Bach", "Haydn", "Ravel"][t % 3], ["A", "B"][t % 2])).collect();
        let tags = vec![String::new(); tracks.len()];
        let (first, second) = (layout(tracks.len()), layout(tracks.len()));
        let source = |generation, colour_by, layout: &Arc<MapLayout>| LegendSource {
            generation,
            colour_by,
            layout: layout.clone(),
            similarity: None,
        };
        let mut cache = LegendCache::default();
        for _ in 0..100 {
            cache.get(source(1, ColourBy::Composer, &first), &tracks, &tags);
        }
        assert_eq!(cache.builds(), 1, "frames with nothing changed reuse the series");
        let series = cache.get(source(1, ColourBy::Composer, &first), &tracks, &tags);
        let names: Vec<(&str, usize)> = series.iter().map(|s| (s.name.as_str(), s.xy.len())).collect();
        assert_eq!(names, [("Bach", 10), ("Haydn", 10), ("Ravel", 10)]);
        assert_eq!((series[0].xy[1].x, series[0].xy[1].y), (f64::from(first.layout.points[3][0]), f64::from(first.layout.points[3][1])));

        let album = cache.get(source(1, ColourBy::Album, &first), &tracks, &tags);
        assert_eq!((cache.builds(), album.len()), (2, 2), "another colouring rebuilds");
        cache.get(source(1, ColourBy::Album, &second), &tracks, &tags);
        assert_eq!(cache.builds(), 3, "another layout (even an equal one) rebuilds");
        cache.get(source(2, ColourBy::Album, &second), &tracks, &tags);
        assert_eq!(cache.builds(), 4, "another library load rebuilds");
        cache.get(source(2, ColourBy::Album, &second), &tracks, &tags);
        assert_eq!(cache.builds(), 4);
    }
}

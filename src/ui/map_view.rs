//! The map tab: a scatter of the library (egui_plot) by layer or aspect mix,
//! with hover, click-to-play, box selection, colouring and the layer sweep.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use eframe::egui;
use egui_plot::{Legend, Line, MarkerShape, Plot, PlotPoints, Points};

use super::tasks::{ProjectionKey, project};
use super::{AppCommand, ColourBy, MapChoice, StrataApp, theme};
use crate::map::{MapPicker, Method};

/// Projections computed or under way, and the map's own controls.
pub struct MapState {
    /// Layer or aspect mix.
    pub choice: MapChoice,
    cache: HashMap<ProjectionKey, (Arc<Vec<[f32; 2]>>, Arc<MapPicker>)>,
    pending: HashMap<ProjectionKey, f32>,
    errors: HashMap<ProjectionKey, String>,
    /// Tracks inside the last box selection.
    pub box_selection: Vec<usize>,
    drag_start: Option<[f32; 2]>,
}

impl Default for MapState {
    fn default() -> Self {
        Self {
            choice: MapChoice::Aspects,
            cache: HashMap::new(),
            pending: HashMap::new(),
            errors: HashMap::new(),
            box_selection: Vec::new(),
            drag_start: None,
        }
    }
}

impl MapState {
    /// Forgets every projection (the library changed).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.pending.clear();
        self.errors.clear();
        self.box_selection.clear();
    }

    /// Forgets aspect-mix projections (the aspects' layers changed).
    pub fn clear_cache_for_mix(&mut self) {
        self.cache.retain(|k, _| k.source.len() == 1 && k.source[0].1 == 1000);
    }

    pub(super) fn progress(&mut self, key: ProjectionKey, fraction: f32) {
        if let Some(p) = self.pending.get_mut(&key) {
            *p = fraction;
        }
    }

    pub(super) fn ready(&mut self, key: ProjectionKey, points: Arc<Vec<[f32; 2]>>) {
        self.pending.remove(&key);
        let picker = Arc::new(MapPicker::new(&points));
        self.cache.insert(key, (points, picker));
    }

    pub(super) fn failed(&mut self, key: ProjectionKey, error: String) {
        self.pending.remove(&key);
        self.errors.insert(key, error);
    }
}

impl StrataApp {
    fn projection_key(&self, generation: u64) -> ProjectionKey {
        let source = match self.map.choice {
            MapChoice::Layer(layer) => vec![(layer, 1000)],
            MapChoice::Aspects => {
                let mut by_layer: HashMap<usize, f32> = HashMap::new();
                for aspect in &self.aspects {
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
        ProjectionKey { generation, source, method: self.settings.method }
    }

    pub(super) fn map_view(&mut self, ui: &mut egui::Ui) {
        let Some(library) = self.library.clone() else { return };
        let snapshot = library.snapshot.clone();
        let layer_names = snapshot.layer_names();
        ui.horizontal(|ui| {
            let text = match self.map.choice {
                MapChoice::Aspects => "Aspect mix".to_string(),
                MapChoice::Layer(l) => format!("Layer {}", layer_names.get(l).cloned().unwrap_or_default()),
            };
            egui::ComboBox::from_label("shown").selected_text(text).show_ui(ui, |ui| {
                if ui.selectable_value(&mut self.map.choice, MapChoice::Aspects, "Aspect mix").clicked() {
                    self.commands.push(AppCommand::UseAspects);
                }
                for (i, name) in layer_names.iter().enumerate() {
                    ui.selectable_value(&mut self.map.choice, MapChoice::Layer(i), format!("Layer {name}"));
                }
            });
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
                    self.layer_override = Some(layer);
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
        let Some((points, picker)) = self.map.cache.get(&key).cloned() else {
            if let Some(error) = self.map.errors.get(&key) {
                ui.colored_label(theme::ERROR, format!("This map could not be made: {error}"));
                return;
            }
            if !self.map.pending.contains_key(&key) {
                let task = project(snapshot.clone(), key.clone(), ui.ctx().clone());
                let name = format!("project-{:?}-{:?}", key.method, key.source);
                if self.workers.spawn(&name, task) {
                    self.map.pending.insert(key.clone(), 0.0);
                }
            }
            let fraction = self.map.pending.get(&key).copied().unwrap_or(0.0);
            ui.add(egui::ProgressBar::new(fraction).text("computing the map…").desired_width(300.0));
            return;
        };
        self.draw_map(ui, &library, &points, &picker);
    }

    fn draw_map(&mut self, ui: &mut egui::Ui, library: &super::LibraryView, points: &[[f32; 2]], picker: &MapPicker) {
        let snapshot = &library.snapshot;
        let colour_by = self.settings.colour_by;
        let category_of = |t: usize| -> String {
            let track = &snapshot.tracks[t];
            match colour_by {
                ColourBy::Composer => track.tags.composer.clone().unwrap_or_else(|| "(no composer)".into()),
                ColourBy::Album => track.tags.album.clone().unwrap_or_else(|| "(no album)".into()),
                ColourBy::Tag => library.top_tags[t].split(", ").next().unwrap_or("").to_string(),
                ColourBy::Similarity => String::new(),
            }
        };
        let similarity: Option<Vec<f32>> = (colour_by == ColourBy::Similarity)
            .then(|| {
                let scores = self.query_scores.as_ref()?;
                let all = scores.rank(&self.weights(), snapshot.len(), &|_| false);
                let mut by_track = vec![0.0f32; snapshot.len()];
                let (min, max) = all.iter().fold((f32::MAX, f32::MIN), |(lo, hi), r| (lo.min(r.score), hi.max(r.score)));
                for r in all {
                    by_track[r.track] = (r.score - min) / (max - min).max(1e-6);
                }
                Some(by_track)
            })
            .flatten();
        let result_set: HashSet<usize> = self.results.iter().take(10).map(|r| r.track).collect();
        let box_set: HashSet<usize> = self.map.box_selection.iter().copied().collect();
        let selected = self.selected;
        let mut hovered: Option<usize> = None;
        let mut clicked: Option<usize> = None;
        let shift = ui.input(|i| i.modifiers.shift);
        let response = Plot::new("library-map")
            .legend(Legend::default().position(egui_plot::Corner::LeftBottom).background_alpha(0.6))
            .data_aspect(1.0)
            .show_axes(false)
            .show_grid(false)
            .allow_drag(!shift)
            .allow_boxed_zoom(false)
            .show(ui, |plot_ui| {
                if let Some(similarity) = &similarity {
                    // Ten bands of a ramp, so the legend reads low → high.
                    for band in 0..10 {
                        let series: Vec<[f64; 2]> = (0..points.len())
                            .filter(|&t| ((similarity[t] * 9.99) as usize) == band)
                            .map(|t| [f64::from(points[t][0]), f64::from(points[t][1])])
                            .collect();
                        plot_ui.points(Points::new(format!("similarity {}–{}%", band * 10, band * 10 + 10), PlotPoints::from(series)).radius(3.0).color(theme::ramp(band as f32 / 9.0)));
                    }
                } else {
                    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
                    for t in 0..points.len() {
                        let name = category_of(t);
                        match groups.iter_mut().find(|(n, _)| *n == name) {
                            Some((_, members)) => members.push(t),
                            None => groups.push((name, vec![t])),
                        }
                    }
                    groups.sort_by(|a, b| a.0.cmp(&b.0));
                    for (i, (name, members)) in groups.into_iter().enumerate() {
                        let series: Vec<[f64; 2]> = members.iter().map(|&t| [f64::from(points[t][0]), f64::from(points[t][1])]).collect();
                        plot_ui.points(Points::new(name, PlotPoints::from(series)).radius(3.5).color(theme::category(i)));
                    }
                }
                if !box_set.is_empty() {
                    let series: Vec<[f64; 2]> = box_set.iter().map(|&t| [f64::from(points[t][0]), f64::from(points[t][1])]).collect();
                    plot_ui.points(Points::new("box selection", PlotPoints::from(series)).radius(6.0).shape(MarkerShape::Square).filled(false).color(theme::RESULT));
                }
                if let Some(q) = selected.filter(|&q| q < points.len()) {
                    let origin = [f64::from(points[q][0]), f64::from(points[q][1])];
                    for &r in &result_set {
                        let line = vec![origin, [f64::from(points[r][0]), f64::from(points[r][1])]];
                        plot_ui.line(Line::new("", PlotPoints::from(line)).color(theme::RESULT.gamma_multiply(0.6)).width(1.0));
                    }
                    plot_ui.points(Points::new("selected", PlotPoints::from(vec![origin])).radius(8.0).shape(MarkerShape::Diamond).color(theme::SELECTED));
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
        if let Some(t) = hovered {
            let track = &snapshot.tracks[t];
            response.response.on_hover_ui_at_pointer(|ui| {
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
        } else {
            ui.label(egui::RichText::new("Hover for details · click to select and play · shift-drag to box-select · scroll to zoom · drag to pan").weak());
        }
    }
}

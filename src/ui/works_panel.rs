//! The library panel's Works view: composer → work → movements, each work
//! with where it came from (tag, title, catalogue number…) and its other
//! recordings, plus the marks that corrections act on.
//!
//! The tree's rows and their texts are built once per change of the
//! library, the table's filtered rows or what is expanded ([`WorkTree`]); a
//! frame draws the visible rows only. Reads the snapshot's works; edits go
//! out as [`AppCommand`]s.

use std::collections::{BTreeSet, HashMap, HashSet};

use eframe::egui;

use super::library_panel::{TableRows, format_time, track_menu};
use super::tasks::LibraryView;
use super::{AppCommand, StrataApp, theme};
use crate::storage::catalog::Track;
use crate::works::{Work, WorkSource, Works};

/// What a work's source is called in the window.
pub fn source_label(source: WorkSource) -> &'static str {
    match source {
        WorkSource::Tag => "tag",
        WorkSource::TitleSeparator => "title",
        WorkSource::CatalogueNumber => "catalogue number",
        WorkSource::SharedPrefix => "shared prefix",
        WorkSource::AlbumWork => "album",
        WorkSource::Single => "single",
        WorkSource::Audio => "audio",
        WorkSource::User => "edited",
    }
}

/// One line of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeRow {
    /// A composer's heading (its name is in the row's text).
    Composer,
    /// A work (index into the snapshot's works).
    Work(usize),
    /// A movement: a track of `work`.
    Movement { work: usize, track: usize },
    /// Another recording (`other`) of the same work as `of`.
    Recording { of: usize, other: usize },
}

/// A row and its texts: the label (what a screen reader and a test find it
/// by) and a detail shown weak at the right.
struct Line {
    row: TreeRow,
    label: String,
    detail: String,
}

/// What the rows were built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TreeSource {
    generation: u64,
    order_revision: u64,
    expansion: u64,
}

/// The works tree's rows, what is expanded, and the marked works and tracks.
#[derive(Default)]
pub struct WorkTree {
    source: Option<TreeSource>,
    lines: Vec<Line>,
    /// Composers expanded, by name.
    expanded_composers: HashSet<String>,
    /// Works expanded, by stable id (so they stay open across reloads).
    expanded_works: HashSet<String>,
    /// Increases with every expansion change.
    expansion: u64,
    /// Whether the rows were built under a filter (which opens every composer).
    filtered: bool,
    /// Works marked for a correction (indices into the snapshot's works).
    pub marked_works: BTreeSet<usize>,
    /// Tracks marked (to split off, or to order).
    pub marked_tracks: BTreeSet<usize>,
    /// The library generation the marks belong to.
    marks_generation: u64,
}

/// The name a work's composer is grouped under.
fn composer_name(work: &Work) -> &str {
    work.composer.as_deref().filter(|c| !c.trim().is_empty()).unwrap_or("Unknown composer")
}

/// A movement's name: its MOVEMENTNAME tag, else its title less the work's
/// title and the separator after it.
fn movement_name(track: &Track, work: &Work) -> String {
    if let Some(movement) = track.tags.movement.as_deref().filter(|m| !m.is_empty()) {
        return movement.to_string();
    }
    let title = track.display_title();
    match title.strip_prefix(work.title.as_str()) {
        Some(rest) if !rest.trim().is_empty() => rest.trim_start_matches([':', '-', '–', '—', ',', '.', ' ']).to_string(),
        _ => title,
    }
}

impl WorkTree {
    /// Forgets marks that belong to another library load.
    pub fn library_changed(&mut self, generation: u64) {
        if self.marks_generation != generation {
            self.marks_generation = generation;
            self.marked_works.clear();
            self.marked_tracks.clear();
        }
    }

    /// Marks one track alone.
    pub fn mark_track(&mut self, track: usize) {
        self.marked_works.clear();
        self.marked_tracks = BTreeSet::from([track]);
    }

    /// Adds a track to the marks, or takes it out.
    pub fn toggle_track(&mut self, track: usize) {
        if !self.marked_tracks.remove(&track) {
            self.marked_tracks.insert(track);
        }
    }

    /// Marks one work alone.
    fn mark_work(&mut self, work: usize) {
        self.marked_tracks.clear();
        self.marked_works = BTreeSet::from([work]);
    }

    /// Adds a work to the marks, or takes it out.
    fn toggle_work(&mut self, work: usize) {
        if !self.marked_works.remove(&work) {
            self.marked_works.insert(work);
        }
    }

    fn toggle<T: std::hash::Hash + Eq>(set: &mut HashSet<T>, key: T) {
        if !set.remove(&key) {
            set.insert(key);
        }
    }

    fn toggle_composer(&mut self, name: &str) {
        Self::toggle(&mut self.expanded_composers, name.to_string());
        self.expansion += 1;
    }

    fn toggle_expanded(&mut self, work: &Work) {
        Self::toggle(&mut self.expanded_works, work.id.clone());
        self.expansion += 1;
    }

    /// Opens a work (and its composer).
    fn expand(&mut self, work: &Work) {
        self.expanded_composers.insert(composer_name(work).to_string());
        self.expanded_works.insert(work.id.clone());
        self.expansion += 1;
    }

    /// Brings the rows up to date; cheap when nothing they depend on changed.
    fn update(&mut self, generation: u64, tracks: &[Track], works: &Works, rows: &TableRows) {
        let source = TreeSource { generation, order_revision: rows.order_revision(), expansion: self.expansion };
        if self.source == Some(source) {
            return;
        }
        self.source = Some(source);
        self.filtered = rows.filtered();
        self.lines = self.build(tracks, works, rows);
    }

    fn build(&self, tracks: &[Track], works: &Works, rows: &TableRows) -> Vec<Line> {
        let mut shown = vec![false; works.works.len()];
        for track in rows.shown_tracks() {
            if let Some(slot) = works.work_of_track.get(track).and_then(|&w| shown.get_mut(w)) {
                *slot = true;
            }
        }
        // A filter opens every composer, so what it found is in sight.
        let all_open = self.filtered;
        let album = |work: &Work| work.tracks.first().and_then(|&t| tracks[t].tags.album.clone()).unwrap_or_default();
        let mut by_composer: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut recordings: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, work) in works.works.iter().enumerate() {
            recordings.entry(work.work_key.as_str()).or_default().push(index);
            if shown[index] {
                by_composer.entry(composer_name(work)).or_default().push(index);
            }
        }
        let mut by_composer: Vec<(&str, Vec<usize>)> = by_composer.into_iter().collect();
        by_composer.sort_by(|a, b| a.0.cmp(b.0));
        let mut lines = Vec::new();
        for (name, mut list) in by_composer {
            list.sort_by_cached_key(|&w| (works.works[w].title.to_lowercase(), album(&works.works[w])));
            let count = if list.len() == 1 { "1 work".to_string() } else { format!("{} works", list.len()) };
            lines.push(Line { row: TreeRow::Composer, label: name.to_string(), detail: count });
            if !all_open && !self.expanded_composers.contains(name) {
                continue;
            }
            for w in list {
                let work = &works.works[w];
                let mut detail = Vec::new();
                if let Some(catalogue) = work.catalogue.as_deref().filter(|c| !work.title.contains(c)) {
                    detail.push(catalogue.to_string());
                }
                let album = album(work);
                if !album.is_empty() && album != work.title {
                    detail.push(album);
                }
                detail.push(if work.tracks.len() == 1 { "1 movement".into() } else { format!("{} movements", work.tracks.len()) });
                lines.push(Line { row: TreeRow::Work(w), label: work.title.clone(), detail: detail.join(" · ") });
                if !self.expanded_works.contains(&work.id) {
                    continue;
                }
                for (position, &track) in work.tracks.iter().enumerate() {
                    let number = works.movement_of_track.get(track).copied().flatten().unwrap_or(position as u32 + 1);
                    let label = format!("{number}. {}", movement_name(&tracks[track], work));
                    let detail = tracks[track].duration_s.map(format_time).unwrap_or_default();
                    lines.push(Line { row: TreeRow::Movement { work: w, track }, label, detail });
                }
                for &other in recordings.get(work.work_key.as_str()).into_iter().flatten().filter(|&&o| o != w) {
                    let other_work = &works.works[other];
                    let label = format!(
                        "Other recording: {}",
                        Some(album_of(tracks, other_work)).filter(|a| !a.is_empty()).unwrap_or(&other_work.title)
                    );
                    let detail = format!("{} movements", other_work.tracks.len());
                    lines.push(Line { row: TreeRow::Recording { of: w, other }, label, detail });
                }
            }
        }
        lines
    }
}

/// The album of a work's first movement.
fn album_of<'a>(tracks: &'a [Track], work: &Work) -> &'a str {
    work.tracks.first().and_then(|&t| tracks[t].tags.album.as_deref()).unwrap_or("")
}

/// Indentation per level of the tree, in points.
const INDENT: f32 = 16.0;

/// Narrower than this, a row's detail is left out (and shown on hover) rather than cut to a few letters.
const MIN_DETAIL_WIDTH: f32 = 48.0;

impl StrataApp {
    pub(super) fn works_tree(&mut self, ui: &mut egui::Ui, library: &LibraryView) {
        let snapshot = &library.snapshot;
        let (tracks, works) = (&snapshot.tracks, &snapshot.works);
        let tree = &mut self.table.tree;
        tree.library_changed(library.generation);
        tree.update(library.generation, tracks, works, &self.table.rows);
        self.correction_bar(ui, library);
        let tree = &mut self.table.tree;
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        let selected = self.search.selected();
        let command_held = ui.input(|i| i.modifiers.command);
        let mut clicked: Option<(TreeRow, bool, String)> = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_height, tree.lines.len(), |ui, range| {
            for line in &tree.lines[range] {
                let (depth, highlighted, strong) = match line.row {
                    TreeRow::Composer => (0, false, true),
                    TreeRow::Work(w) => (1, tree.marked_works.contains(&w), false),
                    TreeRow::Movement { track, .. } => (2, tree.marked_tracks.contains(&track) || selected == Some(track), false),
                    TreeRow::Recording { .. } => (2, false, false),
                };
                let (rect, response) = ui.allocate_exact_size(egui::vec2(ui.available_width(), row_height), egui::Sense::click());
                response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &line.label));
                let visuals = ui.visuals();
                if highlighted {
                    ui.painter().rect_filled(rect, 3.0, visuals.selection.bg_fill.gamma_multiply(0.6));
                } else if response.hovered() {
                    ui.painter().rect_filled(rect, 3.0, visuals.faint_bg_color);
                }
                let mut left = rect.left() + 4.0 + depth as f32 * INDENT;
                let text_colour = visuals.text_color();
                let open = match line.row {
                    TreeRow::Composer => Some(tree.filtered || tree.expanded_composers.contains(&line.label)),
                    TreeRow::Work(w) => Some(tree.expanded_works.contains(&works.works[w].id)),
                    _ => None,
                };
                if let Some(open) = open {
                    let arrow = if open { "⏷" } else { "▶" };
                    ui.painter().text(
                        egui::pos2(left, rect.center().y),
                        egui::Align2::LEFT_CENTER,
                        arrow,
                        egui::FontId::proportional(11.0),
                        visuals.weak_text_color(),
                    );
                    left += 14.0;
                }
                // The source badge, then the detail, from the right edge.
                let mut right = rect.right() - 4.0;
                if let TreeRow::Work(w) = line.row {
                    let source = works.works[w].source;
                    let badge = ui.painter().layout_no_wrap(
                        source_label(source).to_string(),
                        egui::FontId::proportional(10.5),
                        visuals.strong_text_color(),
                    );
                    let badge_rect = egui::Rect::from_min_size(
                        egui::pos2(right - badge.size().x - 10.0, rect.center().y - badge.size().y / 2.0 - 1.0),
                        badge.size() + egui::vec2(10.0, 2.0),
                    );
                    let fill = if source == WorkSource::User {
                        theme::SELECTED.gamma_multiply(0.35)
                    } else {
                        visuals.widgets.inactive.weak_bg_fill
                    };
                    ui.painter().rect_filled(badge_rect, 6.0, fill);
                    ui.painter().galley(badge_rect.min + egui::vec2(5.0, 1.0), badge, visuals.strong_text_color());
                    right = badge_rect.left() - 6.0;
                }
                let mut label = egui::RichText::new(&line.label);
                if strong {
                    label = label.strong();
                }
                if matches!(line.row, TreeRow::Movement { track, .. } if selected == Some(track)) {
                    label = label.color(theme::SELECTED);
                }
                if matches!(line.row, TreeRow::Recording { .. }) {
                    label = label.italics().color(theme::RESULT);
                }
                // The title takes the room it needs; the detail only what is left, and
                // in full on hover when it had to be cut or left out.
                let galley = egui::WidgetText::from(label).into_galley(
                    ui,
                    Some(egui::TextWrapMode::Truncate),
                    (right - left).max(10.0),
                    egui::TextStyle::Body,
                );
                let detail_room = right - left - galley.size().x - 12.0;
                let detail = (detail_room >= MIN_DETAIL_WIDTH && !line.detail.is_empty()).then(|| {
                    egui::WidgetText::from(egui::RichText::new(&line.detail).small().color(visuals.weak_text_color())).into_galley(
                        ui,
                        Some(egui::TextWrapMode::Truncate),
                        detail_room,
                        egui::TextStyle::Small,
                    )
                });
                let detail_shown = detail.as_ref().is_some_and(|d| !d.elided);
                if let Some(detail) = detail {
                    let at = egui::pos2(right - detail.size().x, rect.center().y - detail.size().y / 2.0);
                    ui.painter().galley(at, detail, text_colour);
                }
                let title_shown = !galley.elided;
                ui.painter().galley(egui::pos2(left, rect.center().y - galley.size().y / 2.0), galley, text_colour);
                let response = match (title_shown, detail_shown || line.detail.is_empty()) {
                    (true, true) => response,
                    (true, false) => response.on_hover_text(&line.detail),
                    (false, _) => response.on_hover_text(format!("{}\n{}", line.label, line.detail).trim_end()),
                };
                if response.double_clicked() {
                    match line.row {
                        TreeRow::Work(w) => self.commands.push(AppCommand::PlayWork(w)),
                        TreeRow::Movement { track, .. } => self.commands.push(AppCommand::Play(track, 0.0)),
                        _ => {}
                    }
                } else if response.clicked() {
                    clicked = Some((line.row, command_held, line.label.clone()));
                }
                match line.row {
                    TreeRow::Work(w) => work_menu(&response, w, works, selected, tree, &mut self.commands),
                    TreeRow::Movement { track, .. } => track_menu(&response, track, selected, &mut self.commands),
                    _ => {}
                }
            }
        });
        // Composer rows are told apart by their text only.
        let Some((row, command_held, label)) = clicked else { return };
        match row {
            TreeRow::Composer => tree.toggle_composer(&label),
            TreeRow::Work(w) if command_held => tree.toggle_work(w),
            TreeRow::Work(w) => {
                tree.toggle_expanded(&works.works[w]);
                tree.mark_work(w);
                if let Some(&first) = works.works[w].tracks.first() {
                    self.commands.push(AppCommand::Select(first));
                }
            }
            TreeRow::Movement { track, .. } if command_held => tree.toggle_track(track),
            TreeRow::Movement { track, .. } => {
                tree.mark_track(track);
                self.commands.push(AppCommand::Select(track));
            }
            TreeRow::Recording { other, .. } => {
                tree.expand(&works.works[other]);
                tree.mark_work(other);
                if let Some(&first) = works.works[other].tracks.first() {
                    self.commands.push(AppCommand::Select(first));
                }
            }
        }
    }
}

/// A work's right-click menu: play it, a path to it, and the corrections.
fn work_menu(
    response: &egui::Response,
    work: usize,
    works: &Works,
    selected: Option<usize>,
    tree: &WorkTree,
    commands: &mut Vec<AppCommand>,
) {
    response.context_menu(|ui| {
        if ui.button("▶ Play the work").clicked() {
            commands.push(AppCommand::PlayWork(work));
            ui.close();
        }
        let first = works.works[work].tracks.first().copied();
        let from_elsewhere = selected.is_some_and(|s| works.work_of_track.get(s) != Some(&work));
        if ui
            .add_enabled(from_elsewhere, egui::Button::new("Path to here"))
            .on_disabled_hover_text("Select the piece to start from first")
            .clicked()
            && let Some(first) = first
        {
            commands.push(AppCommand::PathTo(first));
            ui.close();
        }
        ui.separator();
        if ui.button("Rename…").clicked() {
            commands.push(AppCommand::RenameWork(work));
            ui.close();
        }
        let mut merging: Vec<usize> = tree.marked_works.iter().copied().collect();
        if !merging.contains(&work) {
            merging.push(work);
        }
        if ui
            .add_enabled(merging.len() > 1, egui::Button::new("Merge with the marked works"))
            .on_disabled_hover_text("Ctrl-click works to mark them")
            .clicked()
        {
            commands.push(AppCommand::MergeWorks(merging));
            ui.close();
        }
        if works.works[work].source == WorkSource::User && ui.button("Forget my corrections").clicked() {
            commands.push(AppCommand::ForgetWorkEdits(work));
            ui.close();
        }
    });
}

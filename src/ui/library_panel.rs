//! The track table (sortable, filterable) and the problems list.
//!
//! The table's cells, search keys and order are cached in [`TableRows`]: a
//! frame draws the visible rows only, whatever the library's size.

use eframe::egui;

use super::{AppCommand, StrataApp, theme};
use crate::search::work_label;
use crate::storage::catalog::{Failure, Track};

/// Sortable columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Column {
    /// Title.
    #[default]
    Title,
    /// Composer.
    Composer,
    /// Work.
    Work,
    /// Album.
    Album,
    /// Duration.
    Duration,
    /// Top tags.
    Tags,
    /// Indexed, or failed with a reason.
    Status,
}

const COLUMNS: [(Column, &str, f32); 7] = [
    (Column::Title, "Title", 170.0),
    (Column::Composer, "Composer", 120.0),
    (Column::Work, "Work", 120.0),
    (Column::Album, "Album", 120.0),
    (Column::Duration, "Time", 44.0),
    (Column::Tags, "Tags", 150.0),
    (Column::Status, "Status", 160.0),
];

impl Column {
    /// Position in [`COLUMNS`] (and in a row's cells).
    fn index(self) -> usize {
        self as usize
    }
}

/// Columns the table has.
const COLUMN_COUNT: usize = COLUMNS.len();

/// The table's filter and order.
#[derive(Default)]
pub struct TableState {
    /// Text typed in the search box.
    pub filter: String,
    /// Sort column.
    pub sort: Column,
    /// Descending order.
    pub descending: bool,
    /// Move keyboard focus to the search box next frame.
    pub focus_search: bool,
    /// The rows, filtered and sorted.
    pub rows: TableRows,
}

/// What the rows' cells were built from: a library load and the failed files known then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CellSource {
    generation: u64,
    failures_revision: u64,
}

/// What the shown order was built from, besides the cells.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderSource {
    filter: String,
    sort: Column,
    descending: bool,
}

/// The table's rows: rows `0..tracks` are tracks, the rest failed files.
///
/// Each cell's text and its lower-cased search key are built once per library
/// load (or change in failed files); the filtered, sorted order once per
/// change of those, the filter or the sort. Sorting compares the cached
/// texts, so no comparison allocates.
#[derive(Default)]
pub struct TableRows {
    cell_source: Option<CellSource>,
    order_source: Option<OrderSource>,
    tracks: usize,
    cells: Vec<[String; COLUMN_COUNT]>,
    search_keys: Vec<[String; COLUMN_COUNT]>,
    durations_s: Vec<f64>,
    shown: Vec<usize>,
    cell_builds: u64,
    order_builds: u64,
}

impl TableRows {
    /// Brings the rows up to date; cheap when nothing they depend on changed.
    #[allow(clippy::too_many_arguments, reason = "each input is one thing the cache depends on")]
    pub fn update(
        &mut self,
        (generation, failures_revision): (u64, u64),
        tracks: &[Track],
        top_tags: &[String],
        failures: &[Failure],
        filter: &str,
        sort: Column,
        descending: bool,
    ) {
        let cell_source = CellSource { generation, failures_revision };
        if self.cell_source != Some(cell_source) {
            self.build_cells(tracks, top_tags, failures);
            self.cell_source = Some(cell_source);
            self.order_source = None;
        }
        let order_source = OrderSource { filter: filter.to_string(), sort, descending };
        if self.order_source.as_ref() != Some(&order_source) {
            self.build_order(&order_source);
            self.order_source = Some(order_source);
        }
    }

    fn build_cells(&mut self, tracks: &[Track], top_tags: &[String], failures: &[Failure]) {
        self.cell_builds += 1;
        self.tracks = tracks.len();
        self.cells.clear();
        let no_tags = String::new();
        for (row, track) in tracks.iter().enumerate() {
            let tags = top_tags.get(row).unwrap_or(&no_tags);
            self.cells.push(COLUMNS.map(|(column, _, _)| cell_text(track, tags, column)));
        }
        for failure in failures {
            self.cells.push(COLUMNS.map(|(column, _, _)| failure_text(failure, column)));
        }
        self.search_keys = self.cells.iter().map(|cells| cells.each_ref().map(|c| c.to_lowercase())).collect();
        self.durations_s = tracks.iter().map(|t| t.duration_s.unwrap_or(0.0)).collect();
        self.durations_s.resize(self.cells.len(), 0.0);
    }

    fn build_order(&mut self, source: &OrderSource) {
        self.order_builds += 1;
        let needle = source.filter.to_lowercase();
        let keys = &self.search_keys;
        self.shown = (0..self.cells.len()).filter(|&row| needle.is_empty() || keys[row].iter().any(|k| k.contains(&needle))).collect();
        let (n, cells, durations_s, column) = (self.tracks, &self.cells, &self.durations_s, source.sort.index());
        self.shown.sort_by(|&a, &b| {
            let order = match source.sort {
                Column::Duration => durations_s[a].total_cmp(&durations_s[b]),
                _ => cells[a][column].cmp(&cells[b][column]),
            };
            let order = if source.descending { order.reverse() } else { order };
            // Failed files always come after the tracks, whatever the order.
            (a >= n).cmp(&(b >= n)).then(order)
        });
    }

    /// Rows shown, in order.
    pub fn shown(&self) -> &[usize] {
        &self.shown
    }

    /// Tracks shown, in order (for keyboard navigation): the shown rows less failed files.
    pub fn shown_tracks(&self) -> impl Iterator<Item = usize> + '_ {
        self.shown.iter().copied().filter(|&row| row < self.tracks)
    }

    /// A row's text in `column`.
    fn cell(&self, row: usize, column: Column) -> &str {
        self.cells.get(row).map_or("", |cells| cells[column.index()].as_str())
    }

    /// How often the cells were built, and the order (for tests of the cache).
    #[cfg(test)]
    fn builds(&self) -> (u64, u64) {
        (self.cell_builds, self.order_builds)
    }
}

fn cell_text(track: &Track, tags: &str, column: Column) -> String {
    match column {
        Column::Title => track.display_title(),
        Column::Composer => track.tags.composer.clone().unwrap_or_default(),
        Column::Work => work_label(track).unwrap_or_default().to_string(),
        Column::Album => track.tags.album.clone().unwrap_or_default(),
        Column::Duration => track.duration_s.map(format_time).unwrap_or_default(),
        Column::Tags => tags.to_string(),
        Column::Status => "indexed".to_string(),
    }
}

/// A file that failed, as a table row: its name and the reason; other cells empty.
fn failure_text(failure: &crate::storage::catalog::Failure, column: Column) -> String {
    match column {
        Column::Title => failure.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        Column::Status => format!("failed: {}", failure.reason),
        _ => String::new(),
    }
}

/// `m:ss` for a number of seconds.
pub fn format_time(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

impl StrataApp {
    pub(super) fn library_panel(&mut self, ui: &mut egui::Ui) {
        let Some(library) = self.library.clone() else {
            ui.add_space(20.0);
            ui.vertical_centered(|ui| {
                ui.spinner();
                ui.label("Opening the library…");
            });
            return;
        };
        let snapshot = &library.snapshot;
        ui.horizontal(|ui| {
            let search = ui.add(
                egui::TextEdit::singleline(&mut self.table.filter)
                    .hint_text("🔍 Search title, composer, album, tags  ( / )")
                    .desired_width(f32::INFINITY),
            );
            if std::mem::take(&mut self.table.focus_search) {
                search.request_focus();
            }
        });
        if snapshot.is_empty() {
            ui.add_space(30.0);
            ui.vertical_centered(|ui| {
                ui.heading("Your library is empty");
                ui.label("Add a music folder (or drop one on this window).\nStrata indexes it in the background; tracks appear here as they finish.");
                ui.add_space(8.0);
                if ui.button("➕ Add music folder…").clicked() {
                    self.workers.spawn("pick-folders", super::tasks::pick_folders());
                }
            });
            return;
        }
        let failures = &self.problems.failures;
        let n = snapshot.len();
        let table = &mut self.table;
        table.rows.update(
            self.problems.source(),
            &snapshot.tracks,
            &library.top_tags,
            failures,
            &table.filter,
            table.sort,
            table.descending,
        );
        let rows = &table.rows;
        let visible = rows.shown();
        ui.label(egui::RichText::new(format!("{} of {} tracks ({} failed)", rows.shown_tracks().count(), n, failures.len())).weak());
        let mut sort_clicked = None;
        egui::ScrollArea::horizontal().show(ui, |ui| {
            ui.horizontal(|ui| {
                for &(column, name, width) in &COLUMNS {
                    let arrow = if table.sort == column { if table.descending { " ⏷" } else { " ⏶" } } else { "" };
                    let header =
                        ui.add_sized([width, 18.0], egui::Button::new(egui::RichText::new(format!("{name}{arrow}")).strong()).frame(false));
                    if header.clicked() {
                        sort_clicked = Some(column);
                    }
                }
            });
            let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_height, visible.len(), |ui, range| {
                for &track in &visible[range] {
                    let failed = track >= n;
                    let selected = self.search.selected() == Some(track);
                    let is_result = self.search.results().iter().take(10).any(|r| r.track == track);
                    let response = ui
                        .horizontal(|ui| {
                            for &(column, _, width) in &COLUMNS {
                                let mut rich = egui::RichText::new(rows.cell(track, column));
                                if failed {
                                    rich = rich.color(theme::ERROR);
                                } else if selected {
                                    rich = rich.color(theme::SELECTED).strong();
                                } else if is_result {
                                    rich = rich.color(theme::RESULT);
                                }
                                ui.allocate_ui_with_layout(
                                    egui::vec2(width, row_height),
                                    egui::Layout::left_to_right(egui::Align::Center),
                                    |ui| {
                                        ui.set_width(width);
                                        ui.add(egui::Label::new(rich).truncate().selectable(false));
                                    },
                                );
                            }
                        })
                        .response
                        .interact(egui::Sense::click());
                    if failed {
                        let failure = &failures[track - n];
                        response.on_hover_text(format!("{}\n{}", failure.path.display(), failure.reason));
                        continue;
                    }
                    if response.clicked() {
                        self.commands.push(AppCommand::Select(track));
                    }
                    if response.double_clicked() {
                        self.commands.push(AppCommand::Play(track, 0.0));
                    }
                    response.on_hover_text(snapshot.tracks[track].path.display().to_string());
                }
            });
        });
        if let Some(column) = sort_clicked {
            if table.sort == column {
                table.descending = !table.descending;
            } else {
                table.sort = column;
                table.descending = false;
            }
        }
    }

    pub(super) fn problems_view(&mut self, ui: &mut egui::Ui) {
        let (failures, warnings) = (&self.problems.failures, &self.problems.warnings);
        if failures.is_empty() && warnings.is_empty() {
            ui.label("Every file was analysed without a problem.");
            return;
        }
        if !failures.is_empty() {
            ui.label(format!(
                "{} files could not be analysed. They are retried when they change (or with `strata index --retry-failed`).",
                failures.len()
            ));
        }
        if !warnings.is_empty() {
            ui.label(format!("{} files were analysed despite problems (their results may be less reliable).", warnings.len()));
        }
        // The file name and its reason, wrapped to the panel: full paths are
        // wider than the panel and would push every reason out of sight.
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            for (entries, kind, colour) in [(failures, "failed", theme::ERROR), (warnings, "warning", theme::WARNING)] {
                for entry in entries {
                    ui.separator();
                    ui.horizontal(|ui| {
                        ui.colored_label(colour, kind);
                        let name =
                            entry.path.file_name().map_or_else(|| entry.path.display().to_string(), |n| n.to_string_lossy().into_owned());
                        ui.label(egui::RichText::new(name).strong()).on_hover_text(entry.path.display().to_string());
                    });
                    ui.add(egui::Label::new(egui::RichText::new(&entry.reason).color(colour)).wrap());
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::catalog::TrackTags;

    fn track(title: &str, composer: &str, duration_s: f64) -> Track {
        let tags = TrackTags { title: Some(title.into()), composer: Some(composer.into()), ..TrackTags::default() };
        Track { id: 0, path: format!("{title}.flac").into(), tags, duration_s: Some(duration_s), descriptors: None }
    }

    fn failure(name: &str) -> Failure {
        Failure { path: name.into(), reason: "too short".into() }
    }

    #[test]
    fn rows_are_rebuilt_only_when_their_inputs_change() {
        let tracks = vec![track("b", "Haydn", 30.0), track("C", "Bach", 10.0), track("a", "Bach", 20.0)];
        let tags = vec![String::new(); 3];
        let failures = vec![failure("broken.ogg")];
        let mut rows = TableRows::default();
        for _ in 0..100 {
            rows.update((1, 0), &tracks, &tags, &failures, "", Column::Title, false);
        }
        assert_eq!(rows.builds(), (1, 1), "frames with nothing changed reuse the rows");
        // Byte order, as before the cache: upper case first; failed files last.
        assert_eq!(rows.shown(), [1, 2, 0, 3]);
        assert_eq!(rows.cell(3, Column::Status), "failed: too short");

        rows.update((1, 0), &tracks, &tags, &failures, "BACH", Column::Title, false);
        assert_eq!((rows.builds(), rows.shown()), ((1, 2), &[1, 2][..]), "a filter reorders without rebuilding the cells");
        rows.update((1, 0), &tracks, &tags, &failures, "BACH", Column::Duration, true);
        assert_eq!((rows.builds(), rows.shown()), ((1, 3), &[2, 1][..]));
        rows.update((1, 0), &tracks, &tags, &failures, "short", Column::Duration, true);
        assert_eq!(rows.shown(), [3], "failed files are searched by their reason too");
        assert_eq!(rows.shown_tracks().count(), 0);

        let more = vec![failure("broken.ogg"), failure("short.wav")];
        rows.update((1, 1), &tracks, &tags, &more, "short", Column::Duration, true);
        assert_eq!((rows.builds(), rows.shown()), ((2, 5), &[3, 4][..]), "new failures rebuild the cells");
        rows.update((2, 1), &tracks[..2], &tags, &more, "", Column::Title, false);
        assert_eq!((rows.builds(), rows.shown()), ((3, 6), &[1, 0, 2, 3][..]), "a library load rebuilds the cells");
    }

    /// Prints what filtering and sorting a 20 000-row table costs per frame:
    /// as every frame did before the cache, and with it (run with --nocapture).
    #[test]
    fn a_large_table_costs_a_frame_nothing_once_cached() {
        let composers = ["Bach", "Haydn", "Mozart", "Ravel", "Debussy", "Brahms", "Schubert"];
        let tracks: Vec<Track> =
            (0..20_000).map(|t| track(&format!("Track {}", (t * 7919) % 20_000), composers[t % 7], (t % 600) as f64)).collect();
        let tags: Vec<String> = (0..tracks.len()).map(|t| format!("piano, {}", ["calm", "loud"][t % 2])).collect();
        let (filter, sort) = ("a", Column::Composer);

        let started = std::time::Instant::now();
        let before = filter_and_sort_per_frame(&tracks, &tags, filter, sort);
        let per_frame_ms = started.elapsed().as_secs_f64() * 1000.0;

        let mut rows = TableRows::default();
        let started = std::time::Instant::now();
        rows.update((1, 0), &tracks, &tags, &[], filter, sort, false);
        let first_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = std::time::Instant::now();
        for _ in 0..100 {
            rows.update((1, 0), &tracks, &tags, &[], filter, sort, false);
        }
        let cached_ms = started.elapsed().as_secs_f64() * 1000.0 / 100.0;
        assert_eq!(rows.shown(), before, "the cache shows what the per-frame code showed");
        assert_eq!(rows.builds(), (1, 1));
        eprintln!(
            "20 000-row table, filter {filter:?}, sorted by composer: per frame before the cache {per_frame_ms:.1} ms; \
             with it {first_ms:.1} ms once, then {:.2} µs per frame",
            cached_ms * 1000.0
        );
    }

    /// What every frame did before [`TableRows`]: each cell's text made and
    /// lower-cased to filter, and two made for each comparison to sort.
    fn filter_and_sort_per_frame(tracks: &[Track], tags: &[String], filter: &str, sort: Column) -> Vec<usize> {
        let text = |row: usize, column: Column| cell_text(&tracks[row], &tags[row], column);
        let needle = filter.to_lowercase();
        let mut visible: Vec<usize> = (0..tracks.len())
            .filter(|&row| needle.is_empty() || COLUMNS.iter().any(|&(c, _, _)| text(row, c).to_lowercase().contains(&needle)))
            .collect();
        visible.sort_by_key(|&row| text(row, sort));
        visible
    }
}

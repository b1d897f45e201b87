//! The library panel: the track table (sortable, with a filter per column)
//! or the works tree ([`super::works_panel`]), and the problems list.
//!
//! The table's cells, search keys and order are cached in [`TableRows`]: a
//! frame draws the visible rows only, whatever the library's size. Search
//! keys are written with catalogue numbers in normal form
//! ([`normalise_query`]), and so is what the user types, so `bwv153`,
//! `op 18 1` and `K 458` find `BWV 153`, `Op.18 No.1` and `KV 458`.

use eframe::egui;

use super::works_panel::WorkTree;
use super::{AppCommand, StrataApp, theme};
use crate::storage::catalog::{Failure, Track};
use crate::works::Works;
use crate::works::catalogue::{self, normalise_query};

/// Sortable columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Column {
    /// Title.
    #[default]
    Title,
    /// Composer.
    Composer,
    /// Work (inferred or tagged).
    Work,
    /// The work's catalogue number (`BWV 153`, `Op. 18 No. 1`).
    Catalogue,
    /// Performers and ensemble.
    Performers,
    /// Conductor.
    Conductor,
    /// Date or year as tagged.
    Date,
    /// Album.
    Album,
    /// Duration.
    Duration,
    /// Top tags.
    Tags,
    /// Indexed, or failed with a reason.
    Status,
}

const COLUMNS: [(Column, &str, f32); 11] = [
    (Column::Title, "Title", 170.0),
    (Column::Composer, "Composer", 110.0),
    (Column::Work, "Work", 140.0),
    (Column::Catalogue, "Catalogue", 80.0),
    (Column::Performers, "Performers", 120.0),
    (Column::Conductor, "Conductor", 100.0),
    (Column::Date, "Date", 50.0),
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

/// What the library panel lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Browse {
    /// The track table.
    #[default]
    Tracks,
    /// Composer → work → movements.
    Works,
}

/// The table's filter and order, and the works tree.
#[derive(Default)]
pub struct TableState {
    /// Tracks or works.
    pub browse: Browse,
    /// Text typed in the search box.
    pub filter: String,
    /// Text typed in each column's filter, in [`COLUMNS`] order.
    pub column_filters: [String; COLUMN_COUNT],
    /// Sort column.
    pub sort: Column,
    /// Descending order.
    pub descending: bool,
    /// Move keyboard focus to the search box next frame.
    pub focus_search: bool,
    /// The rows, filtered and sorted.
    pub rows: TableRows,
    /// The works tree, built from the filtered rows.
    pub tree: WorkTree,
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
    column_filters: [String; COLUMN_COUNT],
    sort: Column,
    descending: bool,
}

impl OrderSource {
    /// Whether the order was built from these inputs (compared without allocating).
    fn is(&self, filter: &str, column_filters: &[String; COLUMN_COUNT], sort: Column, descending: bool) -> bool {
        self.filter == filter && &self.column_filters == column_filters && self.sort == sort && self.descending == descending
    }
}

/// The table's rows: rows `0..tracks` are tracks, the rest failed files.
///
/// The cells of a library's tracks: each cell's text, its search key (lower
/// case, catalogue numbers in normal form) and the tracks' order by each column. Built
/// with the library, in the worker that loads it: at 300,000 tracks this took
/// the UI thread seconds.
#[derive(Default)]
pub struct TrackCells {
    cells: CellTexts,
    search_keys: SearchKeys,
    /// Per column (in [`COLUMNS`] order), the tracks in ascending order, ties by row.
    orders: Vec<Vec<u32>>,
}

impl TrackCells {
    /// The cells of `tracks`, with their works and top tags.
    pub fn build(tracks: &[Track], works: &Works, top_tags: &[String]) -> Self {
        let no_tags = String::new();
        let cells = CellTexts::from_rows(tracks.iter().enumerate().map(|(row, track)| {
            let tags = top_tags.get(row).unwrap_or(&no_tags);
            let work = works.work_of_track.get(row).and_then(|&w| works.works.get(w));
            COLUMNS.map(|(column, _, _)| cell_text(track, work, tags, column))
        }));
        let search_keys = SearchKeys::build(&cells);
        let durations_s: Vec<f64> = tracks.iter().map(|t| t.duration_s.unwrap_or(0.0)).collect();
        // Every column's order, the columns shared among the cores.
        let rows = u32::try_from(cells.len()).unwrap_or(u32::MAX);
        let orders = crate::parallel::map_ranges("table-sort", COLUMN_COUNT, 1, |columns| {
            columns
                .map(|column| {
                    let mut order: Vec<u32> = (0..rows).collect();
                    match COLUMNS[column].0 {
                        Column::Duration => order.sort_by(|&a, &b| durations_s[a as usize].total_cmp(&durations_s[b as usize])),
                        _ => order.sort_by(|&a, &b| cells.cell(a as usize, column).cmp(cells.cell(b as usize, column))),
                    }
                    order
                })
                .collect::<Vec<_>>()
        })
        .concat();
        Self { cells, search_keys, orders }
    }
}

/// Rows of cell texts in one string. At 300,000 tracks, 2.4 million
/// separate `String`s cost about 90 MB in headers and allocator overhead
/// beyond their text.
#[derive(Default)]
struct CellTexts {
    text: String,
    /// Where each cell begins in `text`, row after row, then where the last one ends.
    starts: Vec<usize>,
}

impl CellTexts {
    fn from_rows(rows: impl Iterator<Item = [String; COLUMN_COUNT]>) -> Self {
        let mut cells = Self { text: String::new(), starts: vec![0] };
        for row in rows {
            for cell in row {
                cells.text.push_str(&cell);
                cells.starts.push(cells.text.len());
            }
        }
        cells.text.shrink_to_fit();
        cells.starts.shrink_to_fit();
        cells
    }

    /// Number of rows.
    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1) / COLUMN_COUNT
    }

    /// A row's text in column `column` (`""` past the end).
    fn cell(&self, row: usize, column: usize) -> &str {
        let index = row * COLUMN_COUNT + column;
        match (self.starts.get(index), self.starts.get(index + 1)) {
            (Some(&start), Some(&end)) if column < COLUMN_COUNT => &self.text[start..end],
            _ => "",
        }
    }
}

/// Ends each search key in [`SearchKeys::text`]; taken out of keys and needles.
const KEY_END: char = '\u{1}';

/// Every row's search keys (one per column) in one string, each key followed
/// by [`KEY_END`]. A search of the whole library is then one substring scan
/// at memory speed (memchr's `memmem`), shared among the cores, instead of a
/// `contains` per cell (3.3 million at 300,000 tracks); a needle never
/// matches across two cells.
#[derive(Default)]
struct SearchKeys {
    text: String,
    /// Where each row's keys begin in `text`, then where the last one ends.
    starts: Vec<usize>,
}

impl SearchKeys {
    fn build(cells: &CellTexts) -> Self {
        let mut keys = Self { text: String::new(), starts: Vec::with_capacity(cells.len() + 1) };
        keys.starts.push(0);
        for row in 0..cells.len() {
            for column in 0..COLUMN_COUNT {
                keys.text.push_str(&needle_key(cells.cell(row, column)));
                keys.text.push(KEY_END);
            }
            keys.starts.push(keys.text.len());
        }
        // Grown by doubling: up to half of it was spare (tens of MB at 300,000 tracks).
        keys.text.shrink_to_fit();
        keys
    }

    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// A row's keys, each followed by [`KEY_END`] ("" past the end).
    fn row(&self, row: usize) -> &str {
        match (self.starts.get(row), self.starts.get(row + 1)) {
            (Some(&start), Some(&end)) => &self.text[start..end],
            _ => "",
        }
    }

    /// One column's key of a row.
    fn column(&self, row: usize, column: usize) -> &str {
        self.row(row).split(KEY_END).nth(column).unwrap_or("")
    }

    /// Whether a key of `row` contains what `finder` looks for.
    fn row_contains(&self, row: usize, finder: &memchr::memmem::Finder<'_>) -> bool {
        finder.find(self.row(row).as_bytes()).is_some()
    }

    /// Per row, whether one of its keys contains what `finder` looks for:
    /// each piece of rows is scanned once, resuming after a match at the
    /// next row.
    fn rows_containing(&self, finder: &memchr::memmem::Finder<'_>) -> Vec<bool> {
        let piece = |rows: std::ops::Range<usize>| {
            let mut found = vec![false; rows.len()];
            let (first, end) = (self.starts[rows.start], self.starts[rows.end]);
            let (mut from, mut row) = (first, 0);
            while let Some(at) = finder.find(&self.text.as_bytes()[from..end]) {
                // The row whose keys hold the match: matches come in order, so
                // the row only moves forward (a binary search per match cost
                // more than the scan when most rows match a short needle).
                while self.starts[rows.start + row + 1] <= from + at {
                    row += 1;
                }
                let Some(slot) = found.get_mut(row) else { break };
                *slot = true;
                from = self.starts[rows.start + row + 1];
            }
            found
        };
        crate::parallel::map_ranges("table-search", self.len(), SEARCH_MIN_ROWS, piece).concat()
    }
}

/// Rows worth a thread of their own in [`SearchKeys::rows_containing`].
const SEARCH_MIN_ROWS: usize = 20_000;

/// The tracks' cells come built with the library ([`TrackCells`]); the
/// failed files' are built here, once per change in them. The filtered,
/// sorted order is built once per change of those, the filters or the sort.
/// Sorting compares the cached texts, so no comparison allocates.
#[derive(Default)]
pub struct TableRows {
    cell_source: Option<CellSource>,
    order_source: Option<OrderSource>,
    tracks: std::sync::Arc<TrackCells>,
    failed: CellTexts,
    failed_keys: SearchKeys,
    /// Every row in the order of `(sort, descending)`, kept while only the filters change.
    sorted: Option<(Column, bool, Vec<usize>)>,
    shown: Vec<usize>,
    /// How many of the shown rows are tracks.
    shown_track_count: usize,
    cell_builds: u64,
    order_builds: u64,
}

impl TableRows {
    /// Brings the rows up to date; cheap when nothing they depend on changed.
    pub fn update(
        &mut self,
        (generation, failures_revision): (u64, u64),
        tracks: &std::sync::Arc<TrackCells>,
        failures: &[Failure],
        (filter, column_filters): (&str, &[String; COLUMN_COUNT]),
        sort: Column,
        descending: bool,
    ) {
        let cell_source = CellSource { generation, failures_revision };
        if self.cell_source != Some(cell_source) || !std::sync::Arc::ptr_eq(&self.tracks, tracks) {
            self.cell_builds += 1;
            if !std::sync::Arc::ptr_eq(&self.tracks, tracks) {
                super::tasks::drop_in_background(std::mem::replace(&mut self.tracks, tracks.clone()));
            }
            self.failed = CellTexts::from_rows(failures.iter().map(|failure| COLUMNS.map(|(column, _, _)| failure_text(failure, column))));
            self.failed_keys = SearchKeys::build(&self.failed);
            self.cell_source = Some(cell_source);
            self.order_source = None;
            self.sorted = None;
        }
        if !self.order_source.as_ref().is_some_and(|s| s.is(filter, column_filters, sort, descending)) {
            let order_source = OrderSource { filter: filter.to_string(), column_filters: column_filters.clone(), sort, descending };
            let previous = self.order_source.replace(order_source.clone());
            self.build_order(&order_source, previous.as_ref());
        }
    }

    /// Rows `0..tracks` are tracks, the rest failed files.
    fn track_count(&self) -> usize {
        self.tracks.cells.len()
    }

    fn len(&self) -> usize {
        self.track_count() + self.failed.len()
    }

    /// The search keys holding `row`, and its index there.
    fn row_keys(&self, row: usize) -> (&SearchKeys, usize) {
        match row.checked_sub(self.track_count()) {
            None => (&self.tracks.search_keys, row),
            Some(failed) => (&self.failed_keys, failed),
        }
    }

    /// The shown rows for `source`: every row sorted once per sort (kept
    /// while only the filters change), then filtered in that order. When the
    /// search only grew (its key contains the last one's) under the same
    /// sort and column filters, only the rows shown before can match, so only
    /// they are filtered: typing narrows without reading the whole library.
    fn build_order(&mut self, source: &OrderSource, previous: Option<&OrderSource>) {
        self.order_builds += 1;
        let needle = needle_key(&source.filter);
        let column_needles = source.column_filters.each_ref().map(|f| needle_key(f));
        let narrows = previous.is_some_and(|p| {
            p.sort == source.sort
                && p.descending == source.descending
                && p.column_filters == source.column_filters
                && needle.contains(needle_key(&p.filter).as_str())
        });
        let sorted = match self.sorted.take() {
            Some(kept) if kept.0 == source.sort && kept.1 == source.descending => kept,
            _ => (source.sort, source.descending, self.sort_all(source.sort, source.descending)),
        };
        let from = if narrows { &self.shown } else { &sorted.2 };
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        // Many rows to look at: one scan of every track's keys beats a search per row.
        let tracks_found =
            (!needle.is_empty() && from.len() > self.track_count() / 8).then(|| self.tracks.search_keys.rows_containing(&finder));
        let by_column = column_needles.iter().any(|n| !n.is_empty());
        let matches = |row: usize| {
            let (keys, at) = self.row_keys(row);
            let found = match &tracks_found {
                _ if needle.is_empty() => true,
                Some(found) if row < found.len() => found[row],
                _ => keys.row_contains(at, &finder),
            };
            found
                && (!by_column
                    || column_needles.iter().enumerate().all(|(column, n)| n.is_empty() || keys.column(at, column).contains(n.as_str())))
        };
        let shown: Vec<usize> =
            if needle.is_empty() && !by_column { from.clone() } else { from.iter().copied().filter(|&row| matches(row)).collect() };
        self.shown_track_count = shown.iter().filter(|&&row| row < self.track_count()).count();
        self.shown = shown;
        self.sorted = Some(sorted);
    }

    /// Every row sorted by `sort`; failed files always after the tracks.
    /// The tracks' order comes built with the library ([`TrackCells`]);
    /// descending is that order reversed (ties too). The few failed files are
    /// sorted here.
    fn sort_all(&self, sort: Column, descending: bool) -> Vec<usize> {
        let (n, column) = (self.track_count(), sort.index());
        let ascending = self.tracks.orders.get(column).map_or(&[][..], Vec::as_slice);
        let mut rows: Vec<usize> = match descending {
            true => ascending.iter().rev().map(|&row| row as usize).collect(),
            false => ascending.iter().map(|&row| row as usize).collect(),
        };
        let text = |row: usize| self.cell(row, sort);
        let mut failed: Vec<usize> = (n..self.len()).collect();
        failed.sort_by(|&a, &b| {
            let order = match sort {
                Column::Duration => std::cmp::Ordering::Equal,
                _ => text(a).cmp(text(b)),
            };
            if descending { order.reverse() } else { order }
        });
        rows.extend(failed);
        rows
    }

    /// Rows shown, in order.
    pub fn shown(&self) -> &[usize] {
        &self.shown
    }

    /// Tracks shown, in order (for keyboard navigation): the shown rows less failed files.
    pub fn shown_tracks(&self) -> impl Iterator<Item = usize> + '_ {
        self.shown.iter().copied().filter(|&row| row < self.track_count())
    }

    /// How many tracks are shown (kept with the order: no count per frame).
    pub fn shown_track_count(&self) -> usize {
        self.shown_track_count
    }

    /// A row's text in `column`.
    fn cell(&self, row: usize, column: Column) -> &str {
        match row.checked_sub(self.track_count()) {
            None => self.tracks.cells.cell(row, column.index()),
            Some(failed) => self.failed.cell(failed, column.index()),
        }
    }

    /// How often the order was built: a revision for what depends on it.
    pub fn order_revision(&self) -> u64 {
        self.order_builds
    }

    /// Whether a filter narrows the rows.
    pub fn filtered(&self) -> bool {
        self.order_source.as_ref().is_some_and(|s| !s.filter.trim().is_empty() || s.column_filters.iter().any(|f| !f.trim().is_empty()))
    }

    /// How often the cells were built, and the order (for tests of the cache).
    #[cfg(test)]
    fn builds(&self) -> (u64, u64) {
        (self.cell_builds, self.order_builds)
    }
}

/// What a cell or a filter is matched by: lower case, catalogue numbers in
/// normal form, runs of spaces made one, without [`KEY_END`].
fn needle_key(text: &str) -> String {
    normalise_query(text).to_lowercase().replace(KEY_END, " ")
}

fn cell_text(track: &Track, work: Option<&crate::works::Work>, tags: &str, column: Column) -> String {
    let title = || work.map_or_else(|| track.tags.work.clone().unwrap_or_default(), |w| w.title.clone());
    match column {
        Column::Title => track.display_title(),
        Column::Composer => track.tags.composer.clone().unwrap_or_default(),
        Column::Work => title(),
        Column::Catalogue => work
            .and_then(|w| w.catalogue.clone())
            .or_else(|| catalogue::find(&track.display_title()).map(|c| c.normalised()))
            .unwrap_or_default(),
        Column::Performers => {
            let mut names = track.tags.performers.clone();
            names.extend(track.tags.ensemble.clone());
            if names.is_empty() {
                names.extend(track.tags.artist.clone());
            }
            names.join("; ")
        }
        Column::Conductor => track.tags.conductor.clone().unwrap_or_default(),
        Column::Date => track.tags.date.clone().unwrap_or_default(),
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

/// A track's right-click menu: play it, or a path to it from the selected track.
pub fn track_menu(response: &egui::Response, track: usize, selected: Option<usize>, commands: &mut Vec<AppCommand>) {
    response.context_menu(|ui| {
        if ui.button("▶ Play").clicked() {
            commands.push(AppCommand::Play(track, 0.0));
            ui.close();
        }
        let path = ui.add_enabled(selected.is_some_and(|s| s != track), egui::Button::new("Path to here"));
        if path.on_disabled_hover_text("Select the track to start from first").clicked() {
            commands.push(AppCommand::PathTo(track));
            ui.close();
        }
    });
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
                    .hint_text("🔍 Search title, composer, work, BWV 153, op 18 1…  ( / )")
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
            &library.cells,
            failures,
            (&table.filter, &table.column_filters),
            table.sort,
            table.descending,
        );
        ui.horizontal(|ui| {
            ui.selectable_value(&mut table.browse, Browse::Tracks, "Tracks");
            ui.selectable_value(&mut table.browse, Browse::Works, "Works");
            ui.separator();
            let shown = table.rows.shown_track_count();
            let summary = match table.browse {
                Browse::Tracks => format!("{shown} of {n} tracks ({} failed)", failures.len()),
                Browse::Works => format!("{} works · {shown} of {n} tracks", snapshot.works.works.len()),
            };
            ui.label(egui::RichText::new(summary).weak());
        });
        match self.table.browse {
            Browse::Tracks => self.track_table(ui, &library),
            Browse::Works => self.works_tree(ui, &library),
        }
    }

    fn track_table(&mut self, ui: &mut egui::Ui, library: &super::tasks::LibraryView) {
        let snapshot = &library.snapshot;
        let failures = &self.problems.failures;
        let n = snapshot.len();
        let table = &mut self.table;
        let rows = &table.rows;
        let visible = rows.shown();
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
            // One filter per column: "conductor Karajan" is a filter row entry, not a search.
            ui.horizontal(|ui| {
                for (filter, &(_, name, width)) in table.column_filters.iter_mut().zip(&COLUMNS) {
                    ui.add_sized(
                        [width, 18.0],
                        egui::TextEdit::singleline(filter)
                            .hint_text(egui::RichText::new(format!("{name}…")).small())
                            .font(egui::TextStyle::Small),
                    );
                }
            });
            let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_height, visible.len(), |ui, range| {
                for &track in &visible[range] {
                    let failed = track >= n;
                    let selected = self.search.selected() == Some(track);
                    let marked = table.tree.marked_tracks.contains(&track);
                    let is_result = self.search.results().iter().take(10).any(|r| r.track == track);
                    let response = ui
                        .horizontal(|ui| {
                            if marked {
                                let rect = egui::Rect::from_min_size(ui.cursor().min, egui::vec2(ui.available_width(), row_height));
                                ui.painter().rect_filled(rect, 2.0, ui.visuals().selection.bg_fill.gamma_multiply(0.5));
                            }
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
                        if ui.input(|i| i.modifiers.command) {
                            table.tree.toggle_track(track);
                        } else {
                            table.tree.mark_track(track);
                            self.commands.push(AppCommand::Select(track));
                        }
                    }
                    if response.double_clicked() {
                        self.commands.push(AppCommand::Play(track, 0.0));
                    }
                    let response = response.on_hover_text(snapshot.tracks[track].path.display().to_string());
                    track_menu(&response, track, self.search.selected(), &mut self.commands);
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
    use std::sync::Arc;

    use super::*;
    use crate::storage::catalog::TrackTags;

    fn track(title: &str, composer: &str, duration_s: f64) -> Track {
        let tags = TrackTags { title: Some(title.into()), composer: Some(composer.into()), ..TrackTags::default() };
        Track { id: 0, path: format!("{title}.flac").into(), tags, duration_s: Some(duration_s), descriptors: None }
    }

    /// The tracks' cells, with their inferred works, as a library load builds them.
    fn cells_of(tracks: &[Track], tags: &[String]) -> Arc<TrackCells> {
        Arc::new(TrackCells::build(tracks, &Works::infer(tracks, &[]), tags))
    }

    /// [`TableRows::update`] with no column filter.
    fn update(
        rows: &mut TableRows,
        source: (u64, u64),
        cells: &Arc<TrackCells>,
        failures: &[Failure],
        filter: &str,
        sort: Column,
        descending: bool,
    ) {
        rows.update(source, cells, failures, (filter, &Default::default()), sort, descending);
    }

    fn failure(name: &str) -> Failure {
        Failure { path: name.into(), reason: "too short".into() }
    }

    #[test]
    fn rows_are_rebuilt_only_when_their_inputs_change() {
        let tracks = vec![track("b", "Haydn", 30.0), track("C", "Bach", 10.0), track("a", "Bach", 20.0)];
        let tags = vec![String::new(); 3];
        let failures = vec![failure("broken.ogg")];
        let cells = cells_of(&tracks, &tags);
        let mut rows = TableRows::default();
        for _ in 0..100 {
            update(&mut rows, (1, 0), &cells, &failures, "", Column::Title, false);
        }
        assert_eq!(rows.builds(), (1, 1), "frames with nothing changed reuse the rows");
        // Byte order, as before the cache: upper case first; failed files last.
        assert_eq!(rows.shown(), [1, 2, 0, 3]);
        assert_eq!(rows.cell(3, Column::Status), "failed: too short");

        update(&mut rows, (1, 0), &cells, &failures, "BACH", Column::Title, false);
        assert_eq!((rows.builds(), rows.shown()), ((1, 2), &[1, 2][..]), "a filter reorders without rebuilding the cells");
        update(&mut rows, (1, 0), &cells, &failures, "BACH", Column::Duration, true);
        assert_eq!((rows.builds(), rows.shown()), ((1, 3), &[2, 1][..]));
        update(&mut rows, (1, 0), &cells, &failures, "short", Column::Duration, true);
        assert_eq!(rows.shown(), [3], "failed files are searched by their reason too");
        assert_eq!(rows.shown_tracks().count(), 0);

        let more = vec![failure("broken.ogg"), failure("short.wav")];
        update(&mut rows, (1, 1), &cells, &more, "short", Column::Duration, true);
        assert_eq!((rows.builds(), rows.shown()), ((2, 5), &[3, 4][..]), "new failures rebuild the cells");
        update(&mut rows, (2, 1), &cells_of(&tracks[..2], &tags), &more, "", Column::Title, false);
        assert_eq!((rows.builds(), rows.shown()), ((3, 6), &[1, 0, 2, 3][..]), "a library load rebuilds the cells");
    }

    #[test]
    fn one_scan_of_the_keys_finds_what_a_search_per_cell_finds() {
        // Enough rows that the scan is split among threads (where there are cores).
        let mut rng = crate::prng::SplitMix64(7);
        let rows: Vec<[String; COLUMN_COUNT]> = (0..2 * SEARCH_MIN_ROWS + 13)
            .map(|_| std::array::from_fn(|_| (0..rng.below(6)).map(|_| ['a', 'b', 'c', ' '][rng.below(4)]).collect()))
            .collect();
        let cells = CellTexts::from_rows(rows.iter().cloned());
        // Packed cells (empty ones among them) read back as they were built.
        assert!(rows.iter().enumerate().all(|(r, row)| row.iter().enumerate().all(|(c, cell)| cells.cell(r, c) == cell)));
        assert_eq!((cells.len(), cells.cell(rows.len(), 0), cells.cell(0, COLUMN_COUNT)), (rows.len(), "", ""));
        let keys = SearchKeys::build(&cells);
        for needle in ["a", "ab", "cab", "b c", "abcab", "zz"] {
            let finder = memchr::memmem::Finder::new(needle.as_bytes());
            let found = keys.rows_containing(&finder);
            for (row, cells) in rows.iter().enumerate() {
                let expected = cells.iter().any(|cell| needle_key(cell).contains(needle));
                assert_eq!(found[row], expected, "{needle:?} in row {row}: {cells:?}");
                assert_eq!(keys.row_contains(row, &finder), expected);
            }
        }
        // A needle never spans two cells; each column's key reads back.
        let two = SearchKeys::build(&CellTexts::from_rows(std::iter::once(std::array::from_fn(|c| {
            if c == 0 { "xa".to_string() } else { "by".to_string() }
        }))));
        assert!(!two.rows_containing(&memchr::memmem::Finder::new("ab")).contains(&true));
        assert_eq!((two.column(0, 0), two.column(0, COLUMN_COUNT - 1)), ("xa", "by"));
    }

    #[test]
    fn typing_and_erasing_show_what_a_fresh_table_shows() {
        let composers = ["Bach", "Haydn", "Mozart", "Byrd", "Brahms"];
        let tracks: Vec<Track> = (0..200)
            .map(|i| track(&format!("Piece {} no {}", i % 17, i % 5), composers[i % composers.len()], f64::from((i * 37 % 101) as u32)))
            .collect();
        let tags = vec![String::new(); tracks.len()];
        let failures = vec![failure("broken b.ogg")];
        let cells = cells_of(&tracks, &tags);
        let mut typed = TableRows::default();
        // Type "br", erase, type "piece 1", switch the sort mid-way, erase again.
        let mut steps: Vec<(String, Column, bool)> = Vec::new();
        for filter in ["", "b", "br", "bra", "br", "b", "", "p", "pi", "piece", "piece ", "piece 1"] {
            steps.push((filter.to_string(), Column::Composer, false));
        }
        steps.push(("piece 1".into(), Column::Duration, true));
        steps.push(("piece 1 no 3".into(), Column::Duration, true));
        steps.push(("piece".into(), Column::Title, false));
        for (filter, sort, descending) in &steps {
            update(&mut typed, (1, 0), &cells, &failures, filter, *sort, *descending);
            let mut fresh = TableRows::default();
            update(&mut fresh, (1, 0), &cells, &failures, filter, *sort, *descending);
            assert_eq!(typed.shown(), fresh.shown(), "{filter:?} by {sort:?}");
            assert!(!fresh.shown().is_empty() || filter == "piece 1 no 3", "{filter:?} matches rows");
        }
    }

    #[test]
    fn catalogue_numbers_match_however_they_are_spelled_and_columns_filter() {
        let mut tracks = vec![
            track("String Quartet, Op.18 Nr.1: I. Allegro con brio", "Beethoven", 500.0),
            track("String Quartet, Op. 18 No. 2: I. Allegro", "Beethoven", 400.0),
            track("Cantata BWV 153.1 Schau, lieber Gott", "Bach", 60.0),
            track("Quartet KV 458 'The Hunt': I", "Mozart", 300.0),
        ];
        tracks[0].tags.conductor = Some("Nobody".into());
        let tags = vec![String::new(); tracks.len()];
        let cells = cells_of(&tracks, &tags);
        let mut rows = TableRows::default();
        let mut column_filters: [String; COLUMN_COUNT] = Default::default();
        let mut shown = |filter: &str, column_filters: &[String; COLUMN_COUNT]| {
            rows.update((1, 0), &cells, &[], (filter, column_filters), Column::Title, false);
            let mut shown = rows.shown().to_vec();
            shown.sort_unstable();
            shown
        };
        assert_eq!(shown("op 18 1", &column_filters), [0]);
        assert_eq!(shown("Op. 18", &column_filters), [0, 1]);
        assert_eq!(shown("bwv153", &column_filters), [2]);
        assert_eq!(shown("BWV 153", &column_filters), [2]);
        assert_eq!(shown("K 458", &column_filters), [3]);
        assert_eq!(shown("allegro", &column_filters), [0, 1]);
        column_filters[Column::Conductor.index()] = "nobo".into();
        assert_eq!(shown("allegro", &column_filters), [0], "a column filter narrows the search");
        column_filters[Column::Conductor.index()].clear();
        column_filters[Column::Composer.index()] = "BACH".into();
        assert_eq!(shown("", &column_filters), [2]);
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

        let no_column_filters = Default::default();
        let mut rows = TableRows::default();
        let started = std::time::Instant::now();
        let cells = cells_of(&tracks, &tags);
        rows.update((1, 0), &cells, &[], (filter, &no_column_filters), sort, false);
        let first_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = std::time::Instant::now();
        for _ in 0..100 {
            rows.update((1, 0), &cells, &[], (filter, &no_column_filters), sort, false);
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
        let text = |row: usize, column: Column| cell_text(&tracks[row], None, &tags[row], column);
        let needle = filter.to_lowercase();
        let mut visible: Vec<usize> = (0..tracks.len())
            .filter(|&row| needle.is_empty() || COLUMNS.iter().any(|&(c, _, _)| text(row, c).to_lowercase().contains(&needle)))
            .collect();
        visible.sort_by_key(|&row| text(row, sort));
        visible
    }
}

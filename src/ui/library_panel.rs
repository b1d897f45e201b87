//! The track table (sortable, filterable), the indexing progress panel and
//! the failures list.

use eframe::egui;

use super::{AppCommand, StrataApp, theme};
use crate::storage::catalog::Track;
use crate::search::work_label;

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

/// The table's filter and order.
#[derive(Debug, Default)]
pub struct TableState {
    /// Text typed in the search box.
    pub filter: String,
    /// Sort column.
    pub sort: Column,
    /// Descending order.
    pub descending: bool,
    /// Track indices shown, in order (for keyboard navigation).
    pub visible: Vec<usize>,
    /// Move keyboard focus to the search box next frame.
    pub focus_search: bool,
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
            let search = ui.add(egui::TextEdit::singleline(&mut self.table.filter).hint_text("🔍 Search title, composer, album, tags  ( / )").desired_width(f32::INFINITY));
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
        // Rows 0..n are tracks, n.. are failed files. Filter and sort (cheap at
        // library sizes where a table is useful; recomputed per frame).
        let failures = self.failures();
        let n = snapshot.len();
        let text = |row: usize, column: Column| -> String {
            if row < n { cell_text(&snapshot.tracks[row], &library.top_tags[row], column) } else { failure_text(&failures[row - n], column) }
        };
        let needle = self.table.filter.to_lowercase();
        let mut visible: Vec<usize> = (0..n + failures.len())
            .filter(|&row| needle.is_empty() || COLUMNS.iter().any(|&(c, _, _)| text(row, c).to_lowercase().contains(&needle)))
            .collect();
        let sort = self.table.sort;
        let duration = |row: usize| if row < n { snapshot.tracks[row].duration_s.unwrap_or(0.0) } else { 0.0 };
        visible.sort_by(|&a, &b| {
            let order = match sort {
                Column::Duration => duration(a).total_cmp(&duration(b)),
                _ => text(a, sort).cmp(&text(b, sort)),
            };
            let order = if self.table.descending { order.reverse() } else { order };
            // Failed files always come after the tracks, whatever the order.
            (a >= n).cmp(&(b >= n)).then(order)
        });
        ui.label(egui::RichText::new(format!("{} of {} tracks ({} failed)", visible.iter().filter(|&&r| r < n).count(), n, failures.len())).weak());
        egui::ScrollArea::horizontal().show(ui, |ui| {
            ui.horizontal(|ui| {
                for &(column, name, width) in &COLUMNS {
                    let arrow = if self.table.sort == column { if self.table.descending { " ⏷" } else { " ⏶" } } else { "" };
                    let header = ui.add_sized([width, 18.0], egui::Button::new(egui::RichText::new(format!("{name}{arrow}")).strong()).frame(false));
                    if header.clicked() {
                        if self.table.sort == column {
                            self.table.descending = !self.table.descending;
                        } else {
                            self.table.sort = column;
                            self.table.descending = false;
                        }
                    }
                }
            });
            let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_height, visible.len(), |ui, range| {
                for &track in &visible[range] {
                    let failed = track >= n;
                    let selected = self.selected == Some(track);
                    let is_result = self.results.iter().take(10).any(|r| r.track == track);
                    let response = ui
                        .horizontal(|ui| {
                            for &(column, _, width) in &COLUMNS {
                                let mut rich = egui::RichText::new(text(track, column));
                                if failed {
                                    rich = rich.color(theme::ERROR);
                                } else if selected {
                                    rich = rich.color(theme::SELECTED).strong();
                                } else if is_result {
                                    rich = rich.color(theme::RESULT);
                                }
                                ui.allocate_ui_with_layout(egui::vec2(width, row_height), egui::Layout::left_to_right(egui::Align::Center), |ui| {
                                    ui.set_width(width);
                                    ui.add(egui::Label::new(rich).truncate().selectable(false));
                                });
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
        visible.retain(|&row| row < n);
        self.table.visible = visible;
    }

    pub(super) fn progress_panel(&mut self, ui: &mut egui::Ui) {
        let Some(run) = &self.indexing else { return };
        let mut dismiss = false;
        let commands = &mut self.commands;
        ui.horizontal(|ui| {
            let p = &run.progress;
            let total = run.to_analyse.max(p.total);
            if let Some(summary) = &run.summary {
                ui.label(format!(
                    "Indexing {}: {} analysed, {} unchanged, {} failed in {}.",
                    if summary.cancelled { "cancelled" } else { "finished" },
                    summary.indexed,
                    summary.unchanged,
                    summary.failed.len(),
                    format_time(summary.elapsed_s)
                ));
                dismiss = ui.button("Dismiss").clicked();
                return;
            }
            if let Some(error) = &run.error {
                ui.colored_label(theme::ERROR, format!("Indexing stopped: {error}"));
                dismiss = ui.button("Dismiss").clicked();
                return;
            }
            let fraction = if total > 0 { p.done as f32 / total as f32 } else { 0.0 };
            ui.add(egui::ProgressBar::new(fraction).desired_width(260.0).text(format!("{}/{} tracks", p.done, total)));
            ui.label(format!("{:.2} h audio", p.audio_s / 3600.0));
            ui.label(format!("{:.2} tracks/s", p.tracks_per_s()));
            if let Some(eta) = p.eta_s() {
                ui.label(format!("ETA {}", format_time(eta)));
            }
            if p.failed > 0 {
                ui.colored_label(theme::ERROR, format!("{} failed", p.failed));
            }
            let paused = run.paused;
            if ui.button(if paused { "▶ Resume" } else { "⏸ Pause" }).clicked() {
                commands.push(AppCommand::PauseIndexing(!paused));
            }
            if ui.button("✖ Cancel").clicked() {
                commands.push(AppCommand::CancelIndexing);
            }
            if let Some(current) = &p.current {
                ui.label(egui::RichText::new(current.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).weak());
            }
        });
        if dismiss {
            self.indexing = None;
        }
    }

    pub(super) fn problems_view(&mut self, ui: &mut egui::Ui) {
        let failures = self.failures();
        let warnings = self.warnings();
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
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            egui::Grid::new("problems").striped(true).num_columns(3).show(ui, |ui| {
                for (entries, kind, colour) in [(&failures, "failed", theme::ERROR), (&warnings, "warning", theme::WARNING)] {
                    for entry in entries {
                        ui.colored_label(colour, kind);
                        ui.label(entry.path.display().to_string());
                        ui.colored_label(colour, &entry.reason);
                        ui.end_row();
                    }
                }
            });
        });
    }
}

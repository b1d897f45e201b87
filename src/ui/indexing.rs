//! Indexing from the window: the running pass and its progress, the files it
//! failed or warned about, the banner while another process holds the
//! library's writer lock, and the progress panel.
//!
//! Starts the indexer and drains its events; reloading the library after a
//! commit is the window's business ([`IndexingState::drain`] says when).

use std::path::PathBuf;

use eframe::egui;

use super::library_panel::format_time;
use super::tasks::LibraryView;
use super::{AppCommand, theme};
use crate::indexer::{self, IndexEvent, IndexHandle, IndexOptions, IndexProgress, IndexSummary};
use crate::storage::catalog::Failure;
use crate::storage::data_dir::DataDir;

/// A running or finished indexing pass.
pub struct IndexRun {
    handle: IndexHandle,
    progress: IndexProgress,
    to_analyse: usize,
    summary: Option<IndexSummary>,
    error: Option<String>,
    paused: bool,
    /// Another process holds the library's writer lock: this run waits for it.
    waiting_for_writer: bool,
    /// That process's pid, when known.
    other_writer_pid: Option<u32>,
}

/// The window's indexing pass and what it reported.
#[derive(Default)]
pub struct IndexingState {
    run: Option<IndexRun>,
    /// Files the running indexer failed (the catalog's arrive with the next load).
    failures: Vec<Failure>,
    /// Per-file warnings from the running indexer.
    warnings: Vec<Failure>,
    /// Changes whenever `failures` or `warnings` do, so their merged lists are rebuilt only then.
    revision: u64,
}

impl IndexingState {
    /// Whether a pass is under way.
    pub fn running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.summary.is_none() && r.error.is_none())
    }

    /// Whether there is a pass to show (running, or finished and not dismissed).
    pub fn has_run(&self) -> bool {
        self.run.is_some()
    }

    /// Files the run failed.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Files the run analysed with warnings.
    pub fn warnings(&self) -> &[Failure] {
        &self.warnings
    }

    /// Starts indexing `roots` with `model`; the reason when it cannot start.
    pub fn start(&mut self, data_dir: DataDir, roots: Vec<PathBuf>, model: String) -> Result<(), String> {
        if self.running() {
            return Err("indexing is already running".into());
        }
        let mut options = IndexOptions::new(roots);
        options.model = model;
        let handle = indexer::start(data_dir, options).map_err(|e| format!("indexing could not start: {e}"))?;
        self.failures.clear();
        self.warnings.clear();
        self.revision += 1;
        self.run = Some(IndexRun {
            handle,
            progress: IndexProgress::default(),
            to_analyse: 0,
            summary: None,
            error: None,
            paused: false,
            waiting_for_writer: false,
            other_writer_pid: None,
        });
        Ok(())
    }

    /// Pauses or resumes the run.
    pub fn pause(&mut self, paused: bool) {
        if let Some(run) = &mut self.run {
            run.handle.control.set_paused(paused);
            run.paused = paused;
        }
    }

    /// Asks the run to stop.
    pub fn cancel(&self) {
        if let Some(run) = &self.run {
            run.handle.control.cancel();
        }
    }

    /// Takes in the indexer's events; true when tracks were committed (the
    /// library should reload). A pass that changed nothing commits nothing.
    pub fn drain(&mut self) -> bool {
        let Some(run) = &mut self.run else { return false };
        let mut committed = false;
        for event in run.handle.events.try_iter() {
            match event {
                IndexEvent::Started { to_analyse, .. } => {
                    run.to_analyse = to_analyse;
                    run.waiting_for_writer = false;
                }
                IndexEvent::WaitingForWriter { pid } => {
                    run.waiting_for_writer = true;
                    run.other_writer_pid = pid;
                }
                IndexEvent::Progress(progress) => run.progress = progress,
                IndexEvent::TrackFailed(failure) => {
                    self.failures.push(failure);
                    self.revision += 1;
                }
                IndexEvent::Committed => committed = true,
                IndexEvent::Finished(summary) => run.summary = Some(summary),
                IndexEvent::Error(error) => {
                    run.error = Some(error);
                    run.waiting_for_writer = false;
                }
                IndexEvent::TrackDone { path, warnings } => {
                    if !warnings.is_empty() {
                        self.warnings.push(Failure { path, reason: warnings.join("; ") });
                        self.revision += 1;
                    }
                }
            }
        }
        committed
    }

    /// While the run waits for another writer, what the window is doing meanwhile.
    pub fn writer_banner(&self) -> Option<String> {
        let run = self.run.as_ref().filter(|r| r.waiting_for_writer && r.summary.is_none())?;
        let holder = run.other_writer_pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
        Some(format!("Another Strata{holder} is indexing this library: browsing read-only; Strata will rescan when it finishes"))
    }

    /// The progress panel: a bar, rates, pause and cancel; a summary and Dismiss once finished.
    pub fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>) {
        let Some(run) = &self.run else { return };
        let mut dismiss = false;
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
            ui.label(format!("{:.0} audio-s/s", p.audio_s_per_s()));
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
            self.run = None;
        }
    }
}

/// The files to show in the Problems tab and the table: the catalog's
/// followed by the running indexer's, merged once per change of either.
#[derive(Default)]
pub struct Problems {
    /// (library generation, indexing revision) they were merged from.
    source: Option<(u64, u64)>,
    /// Files that could not be analysed.
    pub failures: Vec<Failure>,
    /// Files analysed with problems that did not stop them.
    pub warnings: Vec<Failure>,
    merges: u64,
}

impl Problems {
    /// Merges again if the library or the run's lists changed.
    pub fn refresh(&mut self, library: Option<&LibraryView>, indexing: &IndexingState) {
        let source = (library.map_or(0, |l| l.generation), indexing.revision);
        if self.source == Some(source) {
            return;
        }
        self.source = Some(source);
        self.merges += 1;
        self.failures = merged(library.map(|l| l.failures.as_slice()), &indexing.failures);
        self.warnings = merged(library.map(|l| l.warnings.as_slice()), &indexing.warnings);
    }

    /// What the lists were merged from: it changes whenever they do.
    pub fn source(&self) -> (u64, u64) {
        self.source.unwrap_or_default()
    }

    /// Merges so far (for tests of the cache).
    #[cfg(test)]
    fn merges(&self) -> u64 {
        self.merges
    }
}

/// The catalog's entries followed by the running indexer's, one per file.
pub(super) fn merged(catalog: Option<&[Failure]>, live: &[Failure]) -> Vec<Failure> {
    let mut all: Vec<Failure> = catalog.map(<[Failure]>::to_vec).unwrap_or_default();
    for entry in live {
        if !all.iter().any(|a| a.path == entry.path) {
            all.push(entry.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(name: &str) -> Failure {
        Failure { path: name.into(), reason: "unreadable".into() }
    }

    #[test]
    fn problems_are_merged_once_per_change() {
        let mut indexing = IndexingState::default();
        let mut problems = Problems::default();
        for _ in 0..100 {
            problems.refresh(None, &indexing);
        }
        assert_eq!((problems.merges(), problems.failures.len()), (1, 0), "frames with nothing new reuse the lists");
        indexing.failures.push(failure("a.ogg"));
        indexing.revision += 1;
        problems.refresh(None, &indexing);
        problems.refresh(None, &indexing);
        assert_eq!((problems.merges(), problems.failures.len()), (2, 1), "a failure from the run merges again");
        assert_eq!(merged(Some(&[failure("a.ogg"), failure("b.ogg")]), &indexing.failures).len(), 2, "one entry per file");
    }
}

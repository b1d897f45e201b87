//! Corrections to works in the window: merge works, split movements off
//! into a work of their own, rename a work (a small dialog), forget the
//! corrections of a work.
//!
//! This file only turns marks into [`WorkEdit`]s; they are written to the
//! catalog by a worker task ([`super::tasks::save_work_edits`]), never on
//! the UI thread, and the library is then loaded again so its works show
//! the correction.

use std::collections::BTreeSet;

use eframe::egui;

use super::tasks::LibraryView;
use super::{AppCommand, StrataApp};
use crate::storage::catalog::{Track, path_bytes};
use crate::works::{WorkEdit, Works};

/// A correction to write, as the catalog takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkCorrection {
    /// Store these edits.
    Add(Vec<WorkEdit>),
    /// Drop every stored edit of these work ids and track paths.
    Forget {
        /// Works whose edits go.
        work_ids: Vec<String>,
        /// Tracks (path bytes) whose assignments go.
        track_paths: Vec<Vec<u8>>,
    },
}

/// Every track of `merged` (work indices) into the first of them.
pub fn merge(works: &Works, tracks: &[Track], merged: &[usize]) -> Option<WorkCorrection> {
    let (&into, rest) = merged.split_first()?;
    let target = &works.works.get(into)?.id;
    let edits: Vec<WorkEdit> = rest
        .iter()
        .filter_map(|&w| works.works.get(w))
        .flat_map(|w| &w.tracks)
        .map(|&t| WorkEdit::Assign { track_path: path_bytes(&tracks[t].path), work_id: target.clone() })
        .collect();
    (!edits.is_empty()).then_some(WorkCorrection::Add(edits))
}

/// `movements` (tracks of one work, not all of it) into a new work of their
/// own, whose id is the work's with the first free `-N` suffix. The reason
/// it cannot be done otherwise.
pub fn split(works: &Works, tracks: &[Track], movements: &BTreeSet<usize>) -> Result<WorkCorrection, String> {
    let mut of_work = movements.iter().filter_map(|&t| works.work_of_track.get(t).copied());
    let Some(work) = of_work.next() else { return Err("mark the movements to split off first".into()) };
    if of_work.any(|w| w != work) {
        return Err("the marked movements belong to more than one work".into());
    }
    let source = &works.works[work];
    if source.tracks.iter().all(|t| movements.contains(t)) {
        return Err("every movement of the work is marked: nothing would be left".into());
    }
    let Some(id) = (1..).map(|n| format!("{}-{n}", source.id)).find(|id| works.find(id).is_none()) else {
        return Err("no free work id".into());
    };
    let edits = movements.iter().map(|&t| WorkEdit::Assign { track_path: path_bytes(&tracks[t].path), work_id: id.clone() }).collect();
    Ok(WorkCorrection::Add(edits))
}

/// Forgets the corrections of work `work`: its renames and its tracks' assignments.
pub fn forget(works: &Works, tracks: &[Track], work: usize) -> Option<WorkCorrection> {
    let work = works.works.get(work)?;
    let track_paths = work.tracks.iter().map(|&t| path_bytes(&tracks[t].path)).collect();
    Some(WorkCorrection::Forget { work_ids: vec![work.id.clone()], track_paths })
}

/// The rename dialog, while it is open.
#[derive(Debug, Default)]
pub struct WorkEditor {
    rename: Option<Rename>,
}

#[derive(Debug)]
struct Rename {
    work_id: String,
    title: String,
    focus: bool,
}

impl WorkEditor {
    /// Opens the rename dialog for a work.
    pub fn start_rename(&mut self, work_id: &str, title: &str) {
        self.rename = Some(Rename { work_id: work_id.to_string(), title: title.to_string(), focus: true });
    }

    /// The dialog; Save (or Enter) sends the rename as a command.
    pub fn ui(&mut self, ctx: &egui::Context, commands: &mut Vec<AppCommand>) {
        let Some(rename) = &mut self.rename else { return };
        let mut close = false;
        egui::Window::new("Rename work").collapsible(false).resizable(false).anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO).show(
            ctx,
            |ui| {
                let label = ui.label("New title");
                // Labelled, so that a screen reader (and a test) finds the field by its label.
                let edit = ui
                    .add(egui::TextEdit::singleline(&mut rename.title).id_salt("rename-work-title").desired_width(360.0))
                    .labelled_by(label.id);
                if std::mem::take(&mut rename.focus) {
                    edit.request_focus();
                }
                let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    let title = rename.title.trim();
                    let save = ui.add_enabled(!title.is_empty(), egui::Button::new("Save"));
                    if (save.clicked() || entered) && !title.is_empty() {
                        let edit = WorkEdit::Rename { work_id: rename.work_id.clone(), title: title.to_string() };
                        commands.push(AppCommand::CorrectWorks(WorkCorrection::Add(vec![edit])));
                        close = true;
                    }
                    if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                        close = true;
                    }
                });
            },
        );
        if close {
            self.rename = None;
        }
    }
}

impl StrataApp {
    /// Above the works tree: what the marks allow (merge, split, rename).
    pub(super) fn correction_bar(&mut self, ui: &mut egui::Ui, library: &LibraryView) {
        let works = &library.snapshot.works;
        let tree = &self.table.tree;
        let (marked_works, marked_tracks) = (tree.marked_works.len(), tree.marked_tracks.len());
        ui.horizontal_wrapped(|ui| {
            let merge = ui.add_enabled(marked_works > 1, egui::Button::new(counted("Merge", marked_works, "work", "works")).small());
            if merge.on_disabled_hover_text("Ctrl-click two or more works to merge them").clicked() {
                self.commands.push(AppCommand::MergeWorks(tree.marked_works.iter().copied().collect()));
            }
            let split =
                ui.add_enabled(marked_tracks > 0, egui::Button::new(counted("Split off", marked_tracks, "movement", "movements")).small());
            if split.on_disabled_hover_text("Open a work and ctrl-click the movements to split off").clicked() {
                self.commands.push(AppCommand::SplitOff(tree.marked_tracks.iter().copied().collect()));
            }
            let single = (marked_works == 1).then(|| tree.marked_works.first().copied()).flatten().filter(|&w| w < works.works.len());
            let rename = ui.add_enabled(single.is_some(), egui::Button::new("Rename…").small());
            if rename.on_disabled_hover_text("Click one work to rename it").clicked()
                && let Some(work) = single
            {
                self.commands.push(AppCommand::RenameWork(work));
            }
        });
    }
}

/// A button's label with what it acts on: "Merge works" with nothing marked,
/// "Split off 1 movement", "Merge 3 works".
fn counted(verb: &str, count: usize, one: &str, many: &str) -> String {
    match count {
        0 => format!("{verb} {many}"),
        1 => format!("{verb} 1 {one}"),
        n => format!("{verb} {n} {many}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::catalog::TrackTags;

    fn track(album: &str, title: &str, number: u32) -> Track {
        let tags = TrackTags { title: Some(title.into()), album: Some(album.into()), track_no: Some(number), ..TrackTags::default() };
        Track { id: 0, path: format!("/m/{album}/{number:02}.flac").into(), tags, duration_s: Some(60.0), descriptors: None }
    }

    #[test]
    fn merge_and_split_become_assignments_that_infer_applies() {
        let tracks = vec![
            track("A", "Sonata in C: I. Allegro", 1),
            track("A", "Sonata in C: II. Adagio", 2),
            track("A", "Sonata in C: III. Rondo", 3),
            track("B", "Prelude", 1),
        ];
        let works = Works::infer(&tracks, &[]);
        let sonata = works.work_of_track[0];
        let prelude = works.work_of_track[3];
        assert_ne!(sonata, prelude);

        let Some(WorkCorrection::Add(edits)) = merge(&works, &tracks, &[sonata, prelude]) else { panic!("no merge") };
        let merged = Works::infer(&tracks, &edits);
        assert_eq!(merged.works.len(), 1, "{merged:?}");
        assert_eq!(merged.works[0].id, works.works[sonata].id, "the first marked work keeps its id");

        let Ok(WorkCorrection::Add(edits)) = split(&works, &tracks, &BTreeSet::from([1, 2])) else { panic!("no split") };
        let split_works = Works::infer(&tracks, &edits);
        assert_eq!(split_works.works.len(), 3);
        assert_eq!(split_works.work_of(1).tracks, vec![1, 2]);
        assert_eq!(split_works.work_of(1).id, format!("{}-1", works.works[sonata].id));
        assert!(split(&works, &tracks, &BTreeSet::from([0, 1, 2])).is_err(), "splitting off a whole work leaves nothing");
        assert!(split(&works, &tracks, &BTreeSet::from([2, 3])).is_err(), "movements of two works");
        assert!(split(&works, &tracks, &BTreeSet::new()).is_err());
    }
}

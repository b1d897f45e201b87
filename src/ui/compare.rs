//! Other recordings in the window: the selected track's list with its
//! evidence, and Live Compare.
//!
//! The list comes with the library snapshot ([`crate::versions::found`]: the
//! last search of the whole library, which "Find other recordings" runs in a
//! worker). Selecting a track aligns its other recordings in a worker
//! ([`tasks::align_recordings`]) for their tempo ratios; alignments are kept,
//! so Compare opens at once. Compare plays A or B and switches between them
//! at the same musical moment ([`crate::audio::player::PlayerCommand::Switch`]:
//! a short crossfade, no gap), and plots B's tempo against A's along the piece
//! with the playhead. The UI thread never waits for a search or an alignment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;
use egui_plot::{HLine, Line, Plot, PlotPoints, VLine};

use super::library_panel::format_time;
use super::{AppCommand, CentralTab, StrataApp, tasks, theme};
use crate::storage::catalog::Track;
use crate::storage::snapshot::LibrarySnapshot;
use crate::versions::align::{Alignment, interpolate};
use crate::versions::found::semitones_higher;

/// The search task's name (one at a time).
pub const FIND_TASK: &str = "find-versions";
/// The alignment task's name (a newer selection's job replaces one still waiting).
const ALIGN_TASK: &str = "align-versions";
/// The tempo curve: a point every this many seconds of A, each over this window.
const CURVE_STEP_S: f64 = 0.5;
const CURVE_WINDOW_S: f64 = 6.0;
/// Alignments kept; beyond this the oldest answers are forgotten, never the
/// one Compare shows. Each holds its time map both ways, a point (16 bytes)
/// every 0.1 s of A: about 1.2 MB for an hour-long pair, 100 KB for a 5-minute movement.
const ALIGNMENTS_KEPT: usize = 64;
/// The task aligning the pair Compare opened on (a newer pair replaces one still waiting).
const COMPARE_ALIGN_TASK: &str = "align-compare";

/// Two recordings aligned, with what the window draws of them.
pub struct AlignedPair {
    /// Semitones B was shifted up to match A (0..12).
    pub key_shift: usize,
    /// B's tempo relative to A's over the music both play (>1: B faster).
    pub mean_tempo_ratio: Option<f64>,
    /// B's tempo relative to A's along A: (time in A, ratio; >1: B faster).
    pub tempo_curve: Vec<[f64; 2]>,
    /// Times in A → times in B, for switching from A to B.
    pub a_to_b: Arc<[(f64, f64)]>,
    /// Times in B → times in A.
    pub b_to_a: Arc<[(f64, f64)]>,
}

impl AlignedPair {
    /// Prepares an alignment for the window (off the UI thread).
    pub fn new(alignment: Alignment) -> Self {
        let tempo_curve = alignment.tempo_curve(CURVE_STEP_S, CURVE_WINDOW_S).into_iter().map(|(t, r)| [t, r]).collect();
        let b_to_a = alignment.inverse_map().into();
        Self {
            key_shift: alignment.key_shift,
            mean_tempo_ratio: alignment.mean_tempo_ratio(),
            tempo_curve,
            a_to_b: alignment.map.into(),
            b_to_a,
        }
    }
}

/// An alignment asked for.
enum Aligning {
    Pending,
    Ready(Arc<AlignedPair>),
    Failed(String),
}

/// Which of the two compared recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The recording compare was opened from.
    A,
    /// The other one.
    B,
}

/// Two recordings open in Live Compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Track A (snapshot index) and its path.
    pub a: (usize, PathBuf),
    /// Track B and its path.
    pub b: (usize, PathBuf),
    /// The side last asked to play.
    pub side: Option<Side>,
}

impl Comparison {
    /// Which side `playing` (the player's track) is, if either.
    fn side_of(&self, playing: Option<usize>) -> Option<Side> {
        match playing {
            Some(t) if t == self.a.0 => Some(Side::A),
            Some(t) if t == self.b.0 => Some(Side::B),
            _ => None,
        }
    }

    /// The track and path of `side`.
    fn track(&self, side: Side) -> &(usize, PathBuf) {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

/// The window's state for other recordings.
#[derive(Default)]
pub struct VersionsState {
    /// While a search runs: files with features, of all.
    search_progress: Option<(usize, usize)>,
    alignments: HashMap<(PathBuf, PathBuf), Aligning>,
    /// Answers in arrival order, to forget the oldest.
    arrived: std::collections::VecDeque<(PathBuf, PathBuf)>,
    /// The track whose other recordings were last aligned.
    aligned_for: Option<PathBuf>,
    /// Live Compare, when open.
    pub compare: Option<Comparison>,
}

impl VersionsState {
    /// The search's progress arrived.
    pub fn progress(&mut self, done: usize, total: usize) {
        self.search_progress = Some((done, total));
    }

    /// The search ended.
    pub fn search_ended(&mut self) {
        self.search_progress = None;
    }

    /// An alignment arrived.
    pub fn aligned(&mut self, a: PathBuf, b: PathBuf, result: Result<Arc<AlignedPair>, String>) {
        let key = (a, b);
        self.alignments.insert(key.clone(), result.map_or_else(Aligning::Failed, Aligning::Ready));
        self.arrived.retain(|k| *k != key);
        self.arrived.push_back(key);
        let shown = self.compare.as_ref().map(|c| (c.a.1.clone(), c.b.1.clone()));
        while self.arrived.len() > ALIGNMENTS_KEPT {
            let Some(old) = self.arrived.pop_front() else { break };
            if Some(&old) == shown.as_ref() {
                self.arrived.push_back(old);
            } else {
                self.alignments.remove(&old);
            }
        }
    }

    /// The alignment of `b` to `a`, once ready.
    pub fn alignment(&self, a: &Path, b: &Path) -> Option<&Arc<AlignedPair>> {
        match self.alignments.get(&(a.to_path_buf(), b.to_path_buf())) {
            Some(Aligning::Ready(pair)) => Some(pair),
            _ => None,
        }
    }

    /// Aligns the sure other recordings of `track` not aligned yet, in a
    /// worker (a job for an earlier selection still waiting gives way).
    pub fn align_others(&mut self, workers: &mut tasks::Workers, snapshot: &LibrarySnapshot, track: usize, ctx: &egui::Context) {
        let Some(a) = snapshot.tracks.get(track).map(|t| t.path.clone()) else { return };
        if self.aligned_for.as_ref() == Some(&a) {
            return;
        }
        // What an earlier selection still waits for will not come if its job gave way: ask again later.
        self.alignments.retain(|_, state| !matches!(state, Aligning::Pending));
        let others: Vec<PathBuf> = snapshot
            .versions
            .of(track)
            .unwrap_or_default()
            .iter()
            .filter(|o| o.is_sure())
            .filter_map(|o| snapshot.tracks.get(o.track).map(|t| t.path.clone()))
            .filter(|b| !self.alignments.contains_key(&(a.clone(), b.clone())))
            .collect();
        self.aligned_for = Some(a.clone());
        if others.is_empty() {
            return;
        }
        for b in &others {
            self.alignments.insert((a.clone(), b.clone()), Aligning::Pending);
        }
        workers.run_after(ALIGN_TASK, tasks::align_recordings(a, others, ctx.clone()));
    }

    /// After a reload: Compare follows its two files to their new indices, or closes if one is gone.
    pub fn library_changed(&mut self, tracks: &[Track]) {
        self.aligned_for = None;
        let Some(compare) = &mut self.compare else { return };
        let find = |(index, path): &(usize, PathBuf)| {
            if tracks.get(*index).is_some_and(|t| &t.path == path) { Some(*index) } else { tracks.iter().position(|t| &t.path == path) }
        };
        match (find(&compare.a), find(&compare.b)) {
            (Some(a), Some(b)) => {
                compare.a.0 = a;
                compare.b.0 = b;
            }
            _ => self.compare = None,
        }
    }
}

/// "+3 semitones", "same key".
fn key_text(semitones: i32) -> String {
    match semitones {
        0 => "same key".into(),
        n => format!("key {n:+}"),
    }
}

/// "×1.12 tempo" (B relative to A).
fn tempo_text(ratio: f64) -> String {
    format!("tempo ×{ratio:.2}")
}

impl StrataApp {
    /// The selected track's other recordings, under its title in the results panel.
    pub(super) fn other_recordings_section(&mut self, ui: &mut egui::Ui, snapshot: &LibrarySnapshot, query: usize) {
        let searching = self.workers.is_running(FIND_TASK);
        if !searching && snapshot.versions.searched() > 0 {
            self.versions.align_others(&mut self.workers, snapshot, query, ui.ctx());
        }
        let found = snapshot.versions.of(query).map(|others| others.iter().filter(|o| o.is_sure()).copied().collect::<Vec<_>>());
        let heading = match &found {
            Some(sure) if sure.len() == 1 => "1 other recording".to_string(),
            Some(sure) if !sure.is_empty() => format!("{} other recordings", sure.len()),
            _ => "Other recordings".to_string(),
        };
        egui::CollapsingHeader::new(heading).id_salt("other-recordings").default_open(true).show(ui, |ui| {
            if searching {
                ui.horizontal(|ui| {
                    ui.spinner();
                    let text = match self.versions.search_progress {
                        Some((done, total)) => format!("reading the library: {done} / {total} files"),
                        None => "searching the library…".into(),
                    };
                    ui.label(egui::RichText::new(text).weak());
                });
                return;
            }
            let Some(sure) = found else {
                let text = if snapshot.versions.searched() == 0 {
                    "Recordings of the same piece, found from the audio in any key, tempo or scoring."
                } else {
                    "This track was added after the last search."
                };
                ui.label(egui::RichText::new(text).weak());
                self.find_button(ui, snapshot.versions.searched() == 0);
                return;
            };
            if sure.is_empty() {
                ui.label(egui::RichText::new("No other recording of this piece in the library.").weak());
            }
            let a_path = snapshot.tracks[query].path.clone();
            for other in sure {
                let track = &snapshot.tracks[other.track];
                ui.horizontal(|ui| {
                    if ui.small_button("▶").on_hover_text("Play this recording").clicked() {
                        self.commands.push(AppCommand::Play(other.track, 0.0));
                    }
                    if ui.small_button("↔ Compare").on_hover_text("Live Compare: switch between the two at the same bar").clicked() {
                        self.commands.push(AppCommand::Compare(query, other.track));
                    }
                    ui.vertical(|ui| {
                        ui.add(egui::Label::new(egui::RichText::new(track.display_title()).strong()).truncate());
                        let who = track.tags.artist.as_deref().or(track.tags.album.as_deref()).unwrap_or("?");
                        let tempo = match self.versions.alignments.get(&(a_path.clone(), track.path.clone())) {
                            Some(Aligning::Ready(pair)) => pair.mean_tempo_ratio.map_or_else(String::new, tempo_text),
                            Some(Aligning::Failed(_)) => "not aligned".into(),
                            _ => "tempo …".into(),
                        };
                        let evidence =
                            format!("{who} · {:.0} % sure · {} · {tempo}", other.confidence * 100.0, key_text(other.semitones_higher()));
                        ui.add(egui::Label::new(egui::RichText::new(evidence).small()).truncate()).on_hover_text(
                            "How sure Strata is that this is the same piece, how many semitones higher it sounds, and its tempo against this one",
                        );
                    });
                });
            }
            self.find_button(ui, false);
        });
    }

    fn find_button(&mut self, ui: &mut egui::Ui, first: bool) {
        let (label, hover) = if first {
            (
                "🔍 Find other recordings",
                "Search the whole library for recordings of the same pieces (each file is decoded once and kept for next time)",
            )
        } else {
            ("⟳ Search again", "Search the library again (only new and changed files are decoded)")
        };
        if ui.small_button(label).on_hover_text(hover).clicked() {
            self.commands.push(AppCommand::FindVersions);
        }
    }

    /// Starts the search of the whole library (one at a time).
    pub(super) fn find_versions(&mut self) {
        let Some(library) = &self.library else { return };
        let task = tasks::find_versions(self.data_dir.clone(), library.snapshot.clone(), self.workers.ctx().clone());
        if self.workers.spawn(FIND_TASK, task) {
            self.versions.progress(0, library.snapshot.len());
        }
    }

    /// Opens Live Compare on two tracks.
    pub(super) fn open_compare(&mut self, a: usize, b: usize) {
        let Some(library) = &self.library else { return };
        let (Some(ta), Some(tb)) = (library.snapshot.tracks.get(a), library.snapshot.tracks.get(b)) else { return };
        let (a_path, b_path) = (ta.path.clone(), tb.path.clone());
        self.versions.compare = Some(Comparison { a: (a, a_path), b: (b, b_path), side: None });
        self.align_compared();
        self.tab = CentralTab::Compare;
    }

    /// Asks for the compared pair's alignment unless it is ready or asked for.
    fn align_compared(&mut self) {
        let Some(compare) = &self.versions.compare else { return };
        let key = (compare.a.1.clone(), compare.b.1.clone());
        if self.versions.alignments.contains_key(&key) {
            return;
        }
        let ctx = self.workers.ctx().clone();
        self.workers.run_after(COMPARE_ALIGN_TASK, tasks::align_recordings(key.0.clone(), vec![key.1.clone()], ctx));
        self.versions.alignments.insert(key, Aligning::Pending);
    }

    /// Plays `side` of the comparison: from the start, or at the same musical moment if the other side is playing.
    pub(super) fn play_side(&mut self, side: Side) {
        let Some(compare) = &mut self.versions.compare else { return };
        let playing = compare.side_of(self.playback.status().track);
        compare.side = Some(side);
        let compare = compare.clone();
        let (track, path) = compare.track(side).clone();
        let map = match (self.versions.alignment(&compare.a.1, &compare.b.1), side) {
            (Some(pair), Side::A) => Some(pair.b_to_a.clone()),
            (Some(pair), Side::B) => Some(pair.a_to_b.clone()),
            _ => None,
        };
        match (playing, map) {
            (Some(now), _) if now == side => {}
            // The player checks that `from` still plays before it uses the map.
            (Some(now), Some(map)) => self.playback.switch_to(compare.track(now).1.clone(), track, path, map),
            _ => self.playback.play(track, path, 0.0),
        }
    }

    /// Switches to the other side of the comparison (A if neither was played yet).
    pub(super) fn switch_side(&mut self) {
        let Some(compare) = &self.versions.compare else { return };
        let current = compare.side_of(self.playback.status().track).or(compare.side);
        self.play_side(if current == Some(Side::A) { Side::B } else { Side::A });
    }

    /// The Compare tab.
    pub(super) fn compare_view(&mut self, ui: &mut egui::Ui) {
        let Some(library) = self.library.clone() else { return };
        let Some(compare) = self.versions.compare.clone() else {
            ui.label("Select a track, then ↔ Compare one of its other recordings.");
            return;
        };
        let tracks = &library.snapshot.tracks;
        let status = self.playback.status().clone();
        let playing_side = compare.side_of(status.track);
        // Forgotten or never asked for (a reload, many selections since): ask again.
        self.align_compared();
        let shown_side = playing_side.or(compare.side);
        ui.horizontal(|ui| {
            ui.heading("Live Compare");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("✖ Close").clicked() {
                    self.commands.push(AppCommand::CloseCompare);
                }
            });
        });
        for (side, (track, _)) in [(Side::A, &compare.a), (Side::B, &compare.b)] {
            // Reloads move Compare to its files' new rows (`library_changed`); a row that is still missing shows nothing.
            let Some(t) = tracks.get(*track) else { continue };
            ui.horizontal(|ui| {
                let label = if side == Side::A { "▶ A" } else { "▶ B" };
                let button = egui::Button::new(label).selected(shown_side == Some(side));
                if ui.add(button).on_hover_text("Play this recording (at the same moment if the other one plays)").clicked() {
                    self.commands.push(AppCommand::PlaySide(side));
                }
                ui.strong(t.display_title());
                let who = [t.tags.artist.as_deref(), t.tags.album.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" · ");
                ui.label(egui::RichText::new(who).weak());
            });
        }
        let aligning = self.versions.alignments.get(&(compare.a.1.clone(), compare.b.1.clone()));
        let pair = match aligning {
            Some(Aligning::Ready(pair)) => pair.clone(),
            Some(Aligning::Failed(error)) => {
                ui.colored_label(theme::ERROR, format!("These two could not be aligned: {error}"));
                return;
            }
            _ => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("aligning the two recordings…");
                });
                return;
            }
        };
        ui.horizontal(|ui| {
            let to = if shown_side == Some(Side::A) { "B" } else { "A" };
            if ui.button(format!("↔ Switch to {to}")).on_hover_text("Switch at the same musical moment (key X)").clicked() {
                self.commands.push(AppCommand::SwitchRecording);
            }
            let key = semitones_higher(pair.key_shift);
            let mut facts = vec![match key {
                0 => "same key".to_string(),
                n => format!(
                    "B sounds {} semitone{} {}",
                    n.abs(),
                    if n.abs() == 1 { "" } else { "s" },
                    if n > 0 { "higher" } else { "lower" }
                ),
            }];
            if let Some(ratio) = pair.mean_tempo_ratio {
                let percent = (ratio - 1.0) * 100.0;
                facts.push(if percent.abs() < 1.0 {
                    "same tempo on average".into()
                } else {
                    format!("B {:.0} % {} on average", percent.abs(), if percent > 0.0 { "faster" } else { "slower" })
                });
            }
            ui.label(facts.join(" · "));
            ui.label(egui::RichText::new("(click the plot to play from there)").weak().small());
        });
        // The playhead in A's time, whichever side plays.
        let playhead = match playing_side {
            Some(Side::A) => Some(status.position_s),
            Some(Side::B) => interpolate(&pair.b_to_a, status.position_s),
            None => None,
        };
        let curve = pair.tempo_curve.clone();
        let response = Plot::new("compare-tempo")
            .height(ui.available_height().max(120.0))
            .x_axis_label("time in A")
            .y_axis_label("B's tempo ÷ A's")
            .x_axis_formatter(|mark, _| format_time(mark.value))
            .allow_scroll(false)
            .allow_drag(false)
            .show(ui, |plot_ui| {
                plot_ui.hline(HLine::new("same tempo", 1.0).color(egui::Color32::GRAY).width(1.0));
                plot_ui.line(Line::new("B's tempo", PlotPoints::from(curve)).color(theme::RESULT).width(2.0));
                if let Some(at) = playhead {
                    plot_ui.vline(VLine::new("playhead", at).color(theme::SELECTED).width(1.5));
                }
                plot_ui.response().clicked().then(|| plot_ui.pointer_coordinate()).flatten()
            });
        if let Some(point) = response.inner {
            self.commands.push(AppCommand::CompareSeek(point.x.max(0.0)));
        }
    }

    /// Plays the comparison from `t_a_s` seconds of A: in the recording playing (B at the same moment), else in A.
    pub(super) fn compare_seek(&mut self, t_a_s: f64) {
        let Some(compare) = self.versions.compare.clone() else { return };
        let playing = compare.side_of(self.playback.status().track);
        if playing == Some(Side::B)
            && let Some(t_b) = self.versions.alignment(&compare.a.1, &compare.b.1).and_then(|p| interpolate(&p.a_to_b, t_a_s))
        {
            self.playback.seek_to(t_b);
        } else if playing == Some(Side::A) {
            self.playback.seek_to(t_a_s);
        } else {
            self.playback.play(compare.a.0, compare.a.1.clone(), t_a_s);
            if let Some(c) = &mut self.versions.compare {
                c.side = Some(Side::A);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_reads_as_a_collector_would_say_it() {
        assert_eq!(key_text(0), "same key");
        assert_eq!(key_text(3), "key +3");
        assert_eq!(key_text(-2), "key -2");
        assert_eq!(tempo_text(1.123), "tempo ×1.12");
    }
}

//! Playback: the player thread's handle and status, the play history, the
//! similar-radio switch, and the player bar (play/pause, seek, elapsed/total,
//! volume, previous/next).
//!
//! Plays what it is told; which track is next comes from the search's
//! results, handed in. Clicks that need the library (play a track) become
//! [`AppCommand`]s.

use std::collections::HashSet;

use eframe::egui;

use super::library_panel::format_time;
use super::{AppCommand, theme};
use crate::audio::player::{PlayerCommand, PlayerHandle, PlayerStatus};
use crate::search::SearchResult;
use crate::storage::catalog::Track;
use crate::works::Works;

/// Tracks "previous" can step back through; older plays are forgotten, so the
/// history of a window left on radio for days stays small.
const PLAY_HISTORY_KEPT: usize = 1000;

/// The player and what it has played.
pub struct PlaybackState {
    player: PlayerHandle,
    /// As last read from the player thread, once per frame.
    status: PlayerStatus,
    /// Tracks played, oldest first (at most [`PLAY_HISTORY_KEPT`]).
    history: Vec<usize>,
    /// Play the most similar track not yet played when one ends.
    pub radio: bool,
    played: HashSet<usize>,
}

impl PlaybackState {
    /// Starts the player thread at `volume`; `on_change` wakes the window.
    pub fn start(volume: f32, on_change: impl Fn() + Send + 'static) -> Self {
        let player = PlayerHandle::start(on_change);
        player.send(PlayerCommand::SetVolume(volume));
        Self { player, status: PlayerStatus::default(), history: Vec::new(), radio: false, played: HashSet::new() }
    }

    /// Reads the player's status for this frame.
    pub fn refresh(&mut self) {
        self.status = self.player.status();
    }

    /// The player's status as of this frame.
    pub fn status(&self) -> &PlayerStatus {
        &self.status
    }

    /// Plays `track` (its file at `path`) from `start_s`.
    pub fn play(&mut self, track: usize, path: std::path::PathBuf, start_s: f64) {
        self.player.send(PlayerCommand::Play { path, start_s, track });
        remember_played(&mut self.history, track);
        self.played.insert(track);
    }

    /// Switches from the file `from` to `track` (its file at `path`) at the
    /// moment `map` gives for the playing position, crossfading ([`PlayerCommand::Switch`]).
    pub fn switch_to(&mut self, from: std::path::PathBuf, track: usize, path: std::path::PathBuf, map: std::sync::Arc<[(f64, f64)]>) {
        self.player.send(PlayerCommand::Switch { from, path, track, map });
        remember_played(&mut self.history, track);
        self.played.insert(track);
    }

    /// Jumps to `position_s` in the track playing.
    pub fn seek_to(&self, position_s: f64) {
        self.player.send(PlayerCommand::Seek(position_s));
    }

    /// Pauses or resumes.
    pub fn toggle_pause(&self) {
        self.player.send(PlayerCommand::TogglePause);
    }

    /// Seeks `step_s` seconds from the current position.
    pub fn seek_by(&self, step_s: f64) {
        self.player.send(PlayerCommand::Seek(self.status.position_s + step_s));
    }

    /// The first of `results` not yet played.
    fn next_unplayed(&self, results: &[SearchResult]) -> Option<usize> {
        results.iter().map(|r| r.track).find(|t| !self.played.contains(t))
    }

    /// With the radio on and the last track finished, the track to play
    /// next: the rest of its work in order, then the most similar work not
    /// yet heard ([`crate::playlist::next_for_radio`]).
    pub fn radio_next(&self, results: &[SearchResult], works: Option<&Works>) -> Option<usize> {
        if !self.radio || !self.status.finished || self.status.track.is_some() {
            return None;
        }
        let Some(works) = works else { return self.next_unplayed(results) };
        let ranked: Vec<usize> = results.iter().map(|r| r.track).collect();
        crate::playlist::next_for_radio(works, self.history.last().copied(), &ranked, &|t| self.played.contains(&t))
    }

    /// The player bar. `tracks` are the library's, `selected` and `results` the search's.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        tracks: &[Track],
        selected: Option<usize>,
        results: &[SearchResult],
        commands: &mut Vec<AppCommand>,
    ) {
        let status = self.status.clone();
        ui.horizontal(|ui| {
            if let Some(reason) = &status.unavailable {
                ui.colored_label(theme::ERROR, format!("🔇 {reason}"));
                return;
            }
            let previous = self.history.len() >= 2;
            if ui.add_enabled(previous, egui::Button::new("⏮")).on_hover_text("Previous").clicked() {
                self.history.pop();
                if let Some(track) = self.history.pop() {
                    commands.push(AppCommand::Play(track, 0.0));
                }
            }
            let label = if status.playing { "⏸" } else { "▶" };
            if ui.button(label).on_hover_text("Play/pause (space)").clicked() {
                if status.track.is_some() {
                    self.toggle_pause();
                } else if let Some(track) = selected {
                    commands.push(AppCommand::Play(track, 0.0));
                }
            }
            let next = self.next_unplayed(results);
            if ui.add_enabled(next.is_some(), egui::Button::new("⏭")).on_hover_text("Next: the most similar track not yet played").clicked()
                && let Some(track) = next
            {
                commands.push(AppCommand::Play(track, 0.0));
            }
            let title = status
                .track
                .and_then(|t| tracks.get(t))
                .map(|t| format!("{} — {}", t.display_title(), t.tags.composer.as_deref().unwrap_or("?")))
                .unwrap_or_else(|| "Nothing playing".into());
            ui.label(egui::RichText::new(title).strong());
            let total = status.duration_s.unwrap_or(0.0);
            ui.label(format!("{} / {}", format_time(status.position_s), format_time(total)));
            let mut position = status.position_s;
            let seek =
                ui.add_enabled(total > 0.0, egui::Slider::new(&mut position, 0.0..=total.max(1.0)).show_value(false).trailing_fill(true));
            seek.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, total > 0.0, "seek"));
            if seek.drag_stopped() || (seek.changed() && !seek.dragged()) {
                self.player.send(PlayerCommand::Seek(position));
            }
            ui.separator();
            let mut volume = status.volume;
            if ui.add(egui::Slider::new(&mut volume, 0.0..=1.0).text("🔊").show_value(false)).changed() {
                self.player.send(PlayerCommand::SetVolume(volume));
            }
            if let Some(error) = &status.error {
                ui.colored_label(theme::ERROR, error);
            }
        });
    }
}

/// Adds `track` to the play history unless it is already the last entry.
fn remember_played(history: &mut Vec<usize>, track: usize) {
    if history.last() != Some(&track) {
        history.push(track);
        if history.len() > PLAY_HISTORY_KEPT {
            history.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_history_stays_bounded() {
        let mut history = Vec::new();
        for track in 0..PLAY_HISTORY_KEPT + 10 {
            remember_played(&mut history, track);
            remember_played(&mut history, track);
        }
        assert_eq!(history.len(), PLAY_HISTORY_KEPT);
        assert_eq!((history[0], history.last().copied()), (10, Some(PLAY_HISTORY_KEPT + 9)));
    }
}

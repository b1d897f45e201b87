//! The player bar: play/pause, seek, elapsed/total, volume, previous/next.

use eframe::egui;

use super::library_panel::format_time;
use super::{AppCommand, StrataApp, theme};
use crate::audio::player::PlayerCommand;

impl StrataApp {
    pub(super) fn player_bar(&mut self, ui: &mut egui::Ui) {
        let status = self.player_status.clone();
        ui.horizontal(|ui| {
            if let Some(reason) = &status.unavailable {
                ui.colored_label(theme::ERROR, format!("🔇 {reason}"));
                return;
            }
            let previous = self.history.len() >= 2;
            if ui.add_enabled(previous, egui::Button::new("⏮")).on_hover_text("Previous").clicked() {
                self.history.pop();
                if let Some(track) = self.history.pop() {
                    self.commands.push(AppCommand::Play(track, 0.0));
                }
            }
            let label = if status.playing { "⏸" } else { "▶" };
            if ui.button(label).on_hover_text("Play/pause (space)").clicked() {
                if status.track.is_some() {
                    self.player.send(PlayerCommand::TogglePause);
                } else if let Some(track) = self.selected {
                    self.commands.push(AppCommand::Play(track, 0.0));
                }
            }
            let next = self.results.iter().map(|r| r.track).find(|t| !self.played.contains(t));
            if ui.add_enabled(next.is_some(), egui::Button::new("⏭")).on_hover_text("Next: the most similar track not yet played").clicked()
                && let Some(track) = next
            {
                self.commands.push(AppCommand::Play(track, 0.0));
            }
            let title = status
                .track
                .and_then(|t| self.library.as_ref().and_then(|l| l.snapshot.tracks.get(t)))
                .map(|t| format!("{} — {}", t.display_title(), t.tags.composer.as_deref().unwrap_or("?")))
                .unwrap_or_else(|| "Nothing playing".into());
            ui.label(egui::RichText::new(title).strong());
            let total = status.duration_s.unwrap_or(0.0);
            ui.label(format!("{} / {}", format_time(status.position_s), format_time(total)));
            let mut position = status.position_s;
            let seek = ui.add_enabled(total > 0.0, egui::Slider::new(&mut position, 0.0..=total.max(1.0)).show_value(false).trailing_fill(true));
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

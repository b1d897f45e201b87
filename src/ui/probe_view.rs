//! The probe tab: a heatmap of R² (layers × descriptors) with the best layer
//! per descriptor marked — the evidence behind the aspects.

use eframe::egui;

use super::{AppCommand, StrataApp, theme};
use crate::descriptors::Descriptor;

impl StrataApp {
    pub(super) fn probe_view(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("How well each layer predicts each descriptor: Ridge regression, 5-fold cross-validated R² on your library.");
            let busy = self.workers.is_running("probe");
            if ui.add_enabled(!busy, egui::Button::new("⟳ Recompute")).clicked() {
                self.commands.push(AppCommand::RecomputeProbe);
            }
            if busy {
                ui.spinner();
            }
        });
        let Some(table) = self.probe.clone() else {
            let few = self.library.as_ref().is_some_and(|l| l.snapshot.len() < 10);
            ui.label(if few { "The probe needs at least 10 indexed tracks." } else { "Probing…" });
            return;
        };
        ui.label(egui::RichText::new(format!("{} tracks, {} folds. ★ = best layer for that descriptor.", table.tracks, table.folds)).weak());
        let cell = egui::vec2(86.0, 26.0);
        egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
            egui::Grid::new("probe-heatmap").spacing([2.0, 2.0]).show(ui, |ui| {
                ui.label("");
                for target in &table.targets {
                    let label = Descriptor::from_key(target).map_or(target.as_str(), |d| d.label());
                    ui.add_sized([cell.x, cell.y], egui::Label::new(egui::RichText::new(label).small().strong()).wrap());
                }
                ui.end_row();
                for (l, layer) in table.layers.iter().enumerate() {
                    ui.label(egui::RichText::new(layer).monospace());
                    for t in 0..table.targets.len() {
                        let value = table.cell(l, t);
                        let best = table.best_layer(t).is_some_and(|(b, _)| b == l);
                        let (rect, response) = ui.allocate_exact_size(cell, egui::Sense::hover());
                        let fill = if value.is_finite() { theme::ramp(value as f32) } else { ui.visuals().faint_bg_color };
                        ui.painter().rect_filled(rect, 3.0, fill);
                        if best {
                            ui.painter().rect_stroke(rect, 3.0, egui::Stroke::new(2.0, theme::SELECTED), egui::StrokeKind::Inside);
                        }
                        let text = if value.is_finite() { format!("{}{value:.2}", if best { "★ " } else { "" }) } else { "n/a".into() };
                        let text_colour = if value.is_finite() && value > 0.55 { egui::Color32::BLACK } else { egui::Color32::WHITE };
                        ui.painter().text(rect.center(), egui::Align2::CENTER_CENTER, text, egui::FontId::proportional(12.0), text_colour);
                        response.on_hover_text(format!(
                            "layer {layer}, {}: R² = {}{}",
                            table.targets[t],
                            if value.is_finite() { format!("{value:.4}") } else { "not enough data".into() },
                            if best { " (best layer)" } else { "" }
                        ));
                    }
                    ui.end_row();
                }
            });
            ui.add_space(10.0);
            ui.strong("Aspects use these layers:");
            for aspect in &self.aspects {
                ui.label(format!("{}: layer {} (R² {:.3})", aspect.label, aspect.layer_name, aspect.r2));
            }
        });
    }
}

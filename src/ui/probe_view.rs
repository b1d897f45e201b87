//! The probe tab: a heatmap of R² (layers × descriptors) with the best layer
//! per descriptor marked — the evidence behind the aspects.

use eframe::egui;

use super::{AppCommand, StrataApp, theme};
use crate::analysis::descriptors::Descriptor;

impl StrataApp {
    pub(super) fn probe_view(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let busy = self.workers.is_running("probe");
            if ui.add_enabled(!busy, egui::Button::new("⟳ Recompute")).clicked() {
                self.commands.push(AppCommand::RecomputeProbe);
            }
            if busy {
                ui.spinner();
            }
        });
        ui.add(
            egui::Label::new("How well each layer predicts each descriptor: Ridge regression, 5-fold cross-validated R² on your library.")
                .wrap(),
        );
        let Some(table) = self.probe.clone() else {
            let few = self.library.as_ref().is_some_and(|l| l.snapshot.len() < 10);
            ui.label(if few { "The probe needs at least 10 indexed tracks." } else { "Probing…" });
            return;
        };
        ui.label(
            egui::RichText::new(format!("{} tracks, {} folds. ★ = best layer for that descriptor.", table.tracks, table.folds)).weak(),
        );
        // What each row is, on hover (the table's layers are the snapshot's by name).
        let descriptions: Vec<String> = match &self.library {
            Some(library) => {
                let snapshot = &library.snapshot;
                table
                    .layers
                    .iter()
                    .map(|name| snapshot.layer_index(name).map_or("", |l| snapshot.layer_description(l)).to_string())
                    .collect()
            }
            None => Vec::new(),
        };
        // Both ways: a narrow central panel scrolls to the descriptors it cannot show.
        egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
            heatmap(ui, &table, &descriptions);
            ui.add_space(10.0);
            ui.strong("Aspects use these layers:");
            for aspect in self.search.aspects() {
                ui.label(format!("{}: layer {} (R² {})", aspect.label, aspect.layer_name, r2_text(aspect.r2, 3)));
            }
        });
    }
}

/// Paints the R² table: one row per layer, one column per descriptor, all
/// columns in view at once (the table is shown in meetings), each cell
/// coloured by R² with its value, the best layer per descriptor starred and
/// outlined, and the exact value on hover; a layer's name shows its
/// description (`descriptions`, by row) on hover.
fn heatmap(ui: &mut egui::Ui, table: &crate::insight::probe::ProbeTable, descriptions: &[String]) {
    let layer_column = 100.0;
    let columns = table.targets.len().max(1);
    let gap = 2.0;
    // The visible width: a panel can be wider than what is on screen.
    let visible = ui.available_width().min(ui.clip_rect().max.x - ui.cursor().min.x);
    let cell_w = ((visible - layer_column) / columns as f32 - gap).clamp(44.0, 90.0);
    let cell_h = 26.0;
    let header_h = 40.0;
    let width = layer_column + columns as f32 * (cell_w + gap);
    let height = header_h + table.layers.len() as f32 * (cell_h + gap);
    let (area, _) = ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::hover());
    let painter = ui.painter_at(area);
    let cell_rect = |row: usize, column: usize| {
        let min = area.min + egui::vec2(layer_column + column as f32 * (cell_w + gap), header_h + row as f32 * (cell_h + gap));
        egui::Rect::from_min_size(min, egui::vec2(cell_w, cell_h))
    };
    // Names are real labels (readable by screen readers and tests); cells are painted.
    for (t, target) in table.targets.iter().enumerate() {
        let label = Descriptor::from_key(target).map_or(target.as_str(), |d| d.label());
        let first = cell_rect(0, t);
        let header = egui::Rect::from_min_max(egui::pos2(first.min.x, area.min.y), egui::pos2(first.max.x, first.min.y - gap));
        let bottom_centred = egui::Layout::bottom_up(egui::Align::Center);
        ui.scope_builder(egui::UiBuilder::new().max_rect(header).layout(bottom_centred), |ui| {
            ui.add(egui::Label::new(egui::RichText::new(label).size(11.0).strong()).wrap());
        });
    }
    for (l, layer) in table.layers.iter().enumerate() {
        let row = cell_rect(l, 0);
        let name = egui::Rect::from_min_max(egui::pos2(area.min.x, row.min.y), egui::pos2(row.min.x - gap, row.max.y));
        let label = ui.put(name, egui::Label::new(egui::RichText::new(layer).monospace()).truncate().sense(egui::Sense::hover()));
        if let Some(description) = descriptions.get(l).filter(|d| !d.is_empty()) {
            label.on_hover_text(description);
        }
        for t in 0..table.targets.len() {
            let rect = cell_rect(l, t);
            let value = table.cell(l, t);
            let best = table.best_layer(t).is_some_and(|(b, _)| b == l);
            let fill = if value.is_finite() { theme::ramp(value as f32) } else { ui.visuals().faint_bg_color };
            painter.rect_filled(rect, 3.0, fill);
            if best {
                painter.rect_stroke(rect, 3.0, egui::Stroke::new(2.0, theme::SELECTED), egui::StrokeKind::Inside);
            }
            let text = if value.is_finite() { format!("{}{}", if best { "★ " } else { "" }, r2_text(value, 2)) } else { "n/a".into() };
            let ink = if value.is_finite() && value > 0.55 { egui::Color32::BLACK } else { egui::Color32::WHITE };
            painter.text(rect.center(), egui::Align2::CENTER_CENTER, &text, egui::FontId::proportional(12.0), ink);
            let response = ui.interact(rect, ui.scope_id().with(("probe-cell", l, t)), egui::Sense::hover());
            response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, format!("{layer} {}: {text}", table.targets[t])));
            response.on_hover_text(format!(
                "layer {layer}, {}: R² = {}{}",
                table.targets[t],
                if value.is_finite() { format!("{value:.4}") } else { "not enough data".into() },
                if best { " (best layer)" } else { "" }
            ));
        }
    }
}

/// R² for a cell or a line: below −1 a layer predicts worse than guessing the
/// mean by more than the spread itself, and the exact figure (thousands on a
/// small library) says nothing more while overflowing its cell; hovering shows it.
fn r2_text(value: f64, decimals: usize) -> String {
    if value < -1.0 { "< −1".to_string() } else { format!("{value:.decimals$}") }
}

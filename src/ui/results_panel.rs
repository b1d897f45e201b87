//! The right-hand panel: the selected track, aspect sliders with their
//! evidence, presets, and the ranked results with per-aspect bars.

use eframe::egui;

use super::{AppCommand, StrataApp, theme};

/// Named weight presets: (label, aspect weights; unnamed aspects get 0.2).
const PRESETS: &[(&str, &[(&str, f32)])] = &[
    ("Balanced", &[]),
    ("Timbre first", &[("timbre", 1.0), ("tone-colour", 0.8), ("brightness", 0.6)]),
    ("Rhythm first", &[("rhythm", 1.0), ("dynamics", 0.5)]),
    ("Harmony first", &[("harmony", 1.0), ("brightness", 0.3)]),
];

impl StrataApp {
    fn apply_preset(&mut self, weights: &[(&str, f32)]) {
        let names: Vec<String> = self.search.aspects().iter().map(|a| a.name.clone()).collect();
        for name in names {
            let weight = if weights.is_empty() { 1.0 } else { weights.iter().find(|(n, _)| *n == name).map_or(0.2, |(_, w)| *w) };
            self.search.set_aspect_weight(&name, weight);
        }
        self.weights_changed();
    }

    pub(super) fn results_panel(&mut self, ui: &mut egui::Ui) {
        let Some(library) = self.library.clone() else { return };
        let snapshot = &library.snapshot;
        let Some(query) = self.search.selected().filter(|&q| q < snapshot.len()) else {
            ui.add_space(20.0);
            ui.label("Select a track to hear what is similar.");
            self.aspect_sliders(ui);
            return;
        };
        let track = &snapshot.tracks[query];
        ui.horizontal(|ui| {
            if ui.button("▶").on_hover_text("Play").clicked() {
                self.commands.push(AppCommand::Play(query, 0.0));
            }
            ui.vertical(|ui| {
                ui.strong(track.display_title());
                ui.label(format!("{} · {}", track.tags.composer.as_deref().unwrap_or("?"), track.tags.album.as_deref().unwrap_or("?")));
            });
        });
        ui.separator();
        self.aspect_sliders(ui);
        ui.separator();
        ui.horizontal(|ui| {
            let mut changed = ui.checkbox(&mut self.search.exclusion.same_album, "exclude same album").changed();
            changed |= ui.checkbox(&mut self.search.exclusion.same_work, "exclude same work").changed();
            if changed {
                self.rerank();
            }
        });
        ui.horizontal(|ui| {
            if ui.button("💾 Export playlist…").on_hover_text("Save the track and its results as an M3U playlist").clicked() {
                self.commands.push(AppCommand::ExportPlaylist);
            }
            ui.checkbox(&mut self.playback.radio, "📻 similar radio")
                .on_hover_text("When a track ends, play the most similar track not yet played");
        });
        if let Some((q, r, passage)) = self.search.passage() {
            ui.label(
                egui::RichText::new(format!(
                    "Passage: {} at {} ↔ {} at {} (cos {:.2})",
                    snapshot.tracks[q].display_title(),
                    super::library_panel::format_time(f64::from(passage.query_start_s)),
                    snapshot.tracks[r].display_title(),
                    super::library_panel::format_time(f64::from(passage.result_start_s)),
                    passage.similarity
                ))
                .color(theme::RESULT),
            );
            if ui.small_button("▶ play the query's passage").clicked() {
                self.commands.push(AppCommand::Play(q, f64::from(passage.query_start_s)));
            }
        }
        ui.separator();
        let results = self.search.results();
        if results.is_empty() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Searching…");
            });
            return;
        }
        let facet_names = self.search.results_facets();
        // Bars show each aspect's cosine relative to its spread among the top 15
        // results, so the aspect that makes a result stand out is visible at a glance.
        let facets = results.first().map_or(0, |r| r.facet_scores.len());
        let ranges: Vec<(f32, f32)> = (0..facets)
            .map(|f| results.iter().take(15).map(|r| r.facet_scores[f]).fold((f32::MAX, f32::MIN), |(lo, hi), s| (lo.min(s), hi.max(s))))
            .collect();
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            for (rank, result) in results.iter().enumerate() {
                let t = &snapshot.tracks[result.track];
                let row = ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(format!("{:>2}", rank + 1)).monospace().weak());
                    ui.vertical(|ui| {
                        ui.horizontal(|ui| {
                            ui.add(egui::Label::new(egui::RichText::new(t.display_title()).strong()).truncate());
                        });
                        ui.label(
                            egui::RichText::new(format!("{} · {:.3}", t.tags.composer.as_deref().unwrap_or("?"), result.score)).small(),
                        );
                        // One small bar per aspect: why this result is similar.
                        let (rect, bars) = ui.allocate_exact_size(egui::vec2(ui.available_width().min(220.0), 10.0), egui::Sense::hover());
                        let n = result.facet_scores.len().max(1);
                        let width = rect.width() / n as f32;
                        for (i, &score) in result.facet_scores.iter().enumerate() {
                            let x = rect.left() + i as f32 * width;
                            let (lo, hi) = ranges[i];
                            let relative = 0.1 + 0.9 * (score - lo) / (hi - lo).max(1e-6);
                            let bar = egui::Rect::from_min_size(
                                egui::pos2(x + 1.0, rect.top()),
                                egui::vec2((width - 2.0) * relative.clamp(0.0, 1.0), rect.height()),
                            );
                            ui.painter().rect_filled(
                                egui::Rect::from_min_size(egui::pos2(x + 1.0, rect.top()), egui::vec2(width - 2.0, rect.height())),
                                2.0,
                                ui.visuals().faint_bg_color,
                            );
                            ui.painter().rect_filled(bar, 2.0, theme::category(i));
                        }
                        let breakdown: Vec<String> =
                            facet_names.iter().zip(&result.facet_scores).map(|(n, s)| format!("{n}: {s:.3}")).collect();
                        bars.on_hover_text(breakdown.join("\n"));
                    });
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.small_button("♫").on_hover_text("Play the passage that matches best").clicked() {
                            self.commands.push(AppCommand::PlayPassage(result.track));
                        }
                        if ui.small_button("▶").on_hover_text("Play").clicked() {
                            self.commands.push(AppCommand::Play(result.track, 0.0));
                        }
                    });
                });
                let response = row.response.interact(egui::Sense::click());
                if response.double_clicked() {
                    self.commands.push(AppCommand::Play(result.track, 0.0));
                } else if response.clicked() {
                    self.commands.push(AppCommand::Select(result.track));
                }
                ui.add_space(2.0);
            }
        });
    }

    fn aspect_sliders(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Aspects");
            if self.search.layer_override().is_some() {
                ui.label(egui::RichText::new("(layer sweep active — move a slider to return)").weak());
            }
        });
        if self.search.aspects().is_empty() {
            let reason = if self.library.as_ref().is_some_and(|l| l.snapshot.len() < 10) {
                "Aspects appear once 10 tracks are indexed (the probe needs data)."
            } else {
                "Probing the layers…"
            };
            ui.label(egui::RichText::new(reason).weak());
            return;
        }
        let aspects = self.search.aspects().to_vec();
        for (i, aspect) in aspects.iter().enumerate() {
            let mut weight = self.aspect_weight(&aspect.name);
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(egui::vec2(8.0, 8.0), egui::Sense::hover());
                ui.painter().circle_filled(rect.center(), 4.0, theme::category(i));
                let slider = ui.add(egui::Slider::new(&mut weight, 0.0..=1.0).text(&aspect.label).fixed_decimals(2));
                let slider = slider.on_hover_text(format!(
                    "Compared on layer {} — its probe R² for this aspect is {:.3} (the best of all layers on your library)",
                    aspect.layer_name, aspect.r2
                ));
                if slider.changed() {
                    self.set_aspect_weight(&aspect.name, weight);
                }
            });
        }
        ui.horizontal(|ui| {
            for (name, weights) in PRESETS {
                if ui.small_button(*name).clicked() {
                    self.apply_preset(weights);
                }
            }
            if ui.small_button("Reset").clicked() {
                self.apply_preset(&[]);
            }
        });
    }
}

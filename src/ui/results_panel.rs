//! The right-hand panel: the selected track, aspect sliders with their
//! evidence, presets, and the ranked results with per-aspect bars: tracks,
//! or whole works with the Works switch. A path or an ordered selection
//! takes the results' place until closed.

use eframe::egui;

use super::library_panel::track_menu;
use super::{AppCommand, StrataApp, theme};
use crate::insight::aspects::ASPECTS;
use crate::storage::snapshot::LibrarySnapshot;
use crate::works::similarity::Unit;

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
        self.other_recordings_section(ui, snapshot, query);
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
        ui.horizontal_wrapped(|ui| {
            let export = ui
                .button("💾 Export playlist…")
                .on_hover_text("Save the list shown (the track and its results, works whole, or the path) as M3U or XSPF (name it .xspf)");
            if export.clicked() {
                self.commands.push(AppCommand::ExportPlaylist);
            }
            ui.checkbox(&mut self.playback.radio, "📻 similar radio")
                .on_hover_text("When a track ends, play the rest of its work, then the most similar work not yet played");
            self.order_menu(ui);
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
        if self.search.listing().is_some() {
            self.listing_panel(ui, snapshot);
            return;
        }
        ui.horizontal(|ui| {
            let unit = self.search.unit();
            for (choice, label, hover) in [
                (Unit::Track, "Similar tracks", "Tracks like the selected one"),
                (Unit::Work, "Similar works", "Whole works like the selected track's work, compared movement by movement"),
            ] {
                if ui.selectable_label(unit == choice, label).on_hover_text(hover).clicked() && unit != choice {
                    self.commands.push(AppCommand::SetUnit(choice));
                }
            }
            if self.search.path_pending() {
                ui.spinner();
                ui.label(egui::RichText::new("finding a path…").weak());
            }
        });
        match self.search.unit() {
            Unit::Track => self.track_results(ui, snapshot),
            Unit::Work => self.work_results_list(ui, snapshot),
        }
    }

    fn track_results(&mut self, ui: &mut egui::Ui, snapshot: &LibrarySnapshot) {
        let results = self.search.results();
        if results.is_empty() {
            searching(ui);
            return;
        }
        let facet_names = self.search.results_facets();
        let ranges = facet_ranges(results.iter().map(|r| r.facet_scores.as_slice()));
        let selected = self.search.selected();
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
                        facet_bars(ui, &result.facet_scores, &ranges, facet_names);
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
                track_menu(&response, result.track, selected, &mut self.commands);
                ui.add_space(2.0);
            }
        });
    }

    /// Works like the selected track's work; a click plays one from its first movement.
    fn work_results_list(&mut self, ui: &mut egui::Ui, snapshot: &LibrarySnapshot) {
        let Some(results) = self.search.work_results() else {
            searching(ui);
            return;
        };
        let works = &snapshot.works;
        if let Some(query) = self.search.selected().and_then(|t| works.work_of_track.get(t)).and_then(|&w| works.works.get(w)) {
            ui.label(egui::RichText::new(format!("Works like {} ({} movements)", query.title, query.tracks.len())).weak());
        }
        if results.is_empty() {
            ui.label("No other work to compare with.");
            return;
        }
        let facet_names = self.search.results_facets();
        let ranges = facet_ranges(results.iter().map(|r| r.facet_scores.as_slice()));
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            for (rank, result) in results.iter().enumerate() {
                let Some(work) = works.works.get(result.work) else { continue };
                let row = ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(format!("{:>2}", rank + 1)).monospace().weak());
                    ui.vertical(|ui| {
                        ui.horizontal(|ui| {
                            ui.add(egui::Label::new(egui::RichText::new(&work.title).strong()).truncate());
                        });
                        let movements =
                            if work.tracks.len() == 1 { "1 movement".to_string() } else { format!("{} movements", work.tracks.len()) };
                        let composer = work.composer.as_deref().unwrap_or("?");
                        ui.label(egui::RichText::new(format!("{composer} · {movements} · {:.3}", result.score)).small());
                        facet_bars(ui, &result.facet_scores, &ranges, facet_names);
                    });
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.small_button("▶").on_hover_text("Play the work from its first movement").clicked() {
                            self.commands.push(AppCommand::PlayWork(result.work));
                        }
                    });
                });
                let response = row.response.interact(egui::Sense::click()).on_hover_text("Click to play the work from its first movement");
                if response.clicked() {
                    self.commands.push(AppCommand::PlayWork(result.work));
                }
                if let Some(&first) = work.tracks.first() {
                    track_menu(&response, first, self.search.selected(), &mut self.commands);
                }
                ui.add_space(2.0);
            }
        });
    }

    /// A path or an ordered list, shown instead of the results.
    fn listing_panel(&mut self, ui: &mut egui::Ui, snapshot: &LibrarySnapshot) {
        let Some(listing) = self.search.listing() else { return };
        ui.horizontal_wrapped(|ui| {
            ui.strong(&listing.title);
        });
        ui.horizontal(|ui| {
            if ui.button("▶ Play all").on_hover_text("Play the list in this order").clicked() {
                self.commands.push(AppCommand::PlayQueue(listing.tracks.clone()));
            }
            if ui.button("Back to results").clicked() {
                self.commands.push(AppCommand::CloseListing);
            }
        });
        if !listing.step_similarities.is_empty() {
            let mean = listing.step_similarities.iter().sum::<f32>() / listing.step_similarities.len() as f32;
            let weakest = listing.step_similarities.iter().copied().fold(f32::INFINITY, f32::min);
            ui.label(
                egui::RichText::new(format!("each step's similarity to the one before: mean {mean:.3}, weakest {weakest:.3}"))
                    .small()
                    .weak(),
            );
        }
        ui.separator();
        let selected = self.search.selected();
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            for (position, &track) in listing.tracks.iter().enumerate() {
                let Some(t) = snapshot.tracks.get(track) else { continue };
                let row = ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(format!("{:>2}", position + 1)).monospace().weak());
                    ui.vertical(|ui| {
                        let mut title = egui::RichText::new(t.display_title()).strong();
                        if selected == Some(track) {
                            title = title.color(theme::SELECTED);
                        }
                        ui.add(egui::Label::new(title).truncate());
                        let step = position.checked_sub(1).and_then(|i| listing.step_similarities.get(i));
                        let composer = t.tags.composer.as_deref().unwrap_or("?");
                        let line = match step {
                            Some(s) => format!("{composer} · step {s:.3}"),
                            None => composer.to_string(),
                        };
                        ui.label(egui::RichText::new(line).small());
                    });
                });
                let response = row.response.interact(egui::Sense::click());
                if response.double_clicked() {
                    self.commands.push(AppCommand::PlayQueue(listing.tracks[position..].to_vec()));
                } else if response.clicked() {
                    self.commands.push(AppCommand::Select(track));
                }
                ui.add_space(2.0);
            }
        });
    }

    /// "Order by…": the marked tracks (or the list shown) along an aspect, either way.
    fn order_menu(&mut self, ui: &mut egui::Ui) {
        let marked = self.table.tree.marked_tracks.len();
        let what = if marked > 1 { format!("the {marked} marked tracks") } else { "the list shown".to_string() };
        ui.menu_button("Order by…", |ui| {
            ui.label(egui::RichText::new(format!("Order {what}")).weak());
            for aspect in ASPECTS.iter().filter(|a| !a.descriptors.is_empty()) {
                ui.horizontal(|ui| {
                    ui.label(aspect.label);
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.small_button("most first").clicked() {
                            self.commands.push(AppCommand::OrderBy(aspect.name.to_string(), true));
                            ui.close();
                        }
                        if ui.small_button("least first").clicked() {
                            self.commands.push(AppCommand::OrderBy(aspect.name.to_string(), false));
                            ui.close();
                        }
                    });
                });
            }
        })
        .response
        .on_hover_text("Brightest to darkest, calmest to busiest… (ctrl-click tracks in the library to mark them)");
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

fn searching(ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label("Searching…");
    });
}

/// Each facet's (lowest, highest) score among the first 15 results.
fn facet_ranges<'a>(scores: impl Iterator<Item = &'a [f32]>) -> Vec<(f32, f32)> {
    let mut ranges: Vec<(f32, f32)> = Vec::new();
    for row in scores.take(15) {
        ranges.resize(row.len().max(ranges.len()), (f32::MAX, f32::MIN));
        for (range, &score) in ranges.iter_mut().zip(row) {
            *range = (range.0.min(score), range.1.max(score));
        }
    }
    ranges
}

/// One small bar per facet: why a result is similar. Bars show each facet's
/// score relative to its spread among the top results, so the facet that
/// makes a result stand out is visible at a glance; hovering names them.
fn facet_bars(ui: &mut egui::Ui, scores: &[f32], ranges: &[(f32, f32)], names: &[String]) {
    let (rect, bars) = ui.allocate_exact_size(egui::vec2(ui.available_width().min(220.0), 10.0), egui::Sense::hover());
    let width = rect.width() / scores.len().max(1) as f32;
    for (i, &score) in scores.iter().enumerate() {
        let x = rect.left() + i as f32 * width;
        let (lo, hi) = ranges.get(i).copied().unwrap_or((score, score));
        let relative = 0.1 + 0.9 * (score - lo) / (hi - lo).max(1e-6);
        let bar =
            egui::Rect::from_min_size(egui::pos2(x + 1.0, rect.top()), egui::vec2((width - 2.0) * relative.clamp(0.0, 1.0), rect.height()));
        ui.painter().rect_filled(
            egui::Rect::from_min_size(egui::pos2(x + 1.0, rect.top()), egui::vec2(width - 2.0, rect.height())),
            2.0,
            ui.visuals().faint_bg_color,
        );
        ui.painter().rect_filled(bar, 2.0, theme::category(i));
    }
    let breakdown: Vec<String> = names.iter().zip(scores).map(|(n, s)| format!("{n}: {s:.3}")).collect();
    bars.on_hover_text(breakdown.join("\n"));
}

//! Design tokens: the window's colours and the light/dark switch.

use eframe::egui::{self, Color32};

/// Error text.
pub const ERROR: Color32 = Color32::from_rgb(220, 80, 70);
/// Warning text: a problem that did not stop the work.
pub const WARNING: Color32 = Color32::from_rgb(230, 160, 40);
/// The selected track on the map and in lists.
pub const SELECTED: Color32 = Color32::from_rgb(255, 200, 40);
/// Results joined to the selected track.
pub const RESULT: Color32 = Color32::from_rgb(90, 200, 255);

/// The colour of category number `i` (the palette PNG maps use too).
pub fn category(i: usize) -> Color32 {
    let [r, g, b] = crate::map::render::category_rgb(i);
    Color32::from_rgb(r, g, b)
}

/// A blue→yellow ramp for values in 0–1 (similarity, R²).
pub fn ramp(value: f32) -> Color32 {
    let t = value.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32| (a + (b - a) * t) as u8;
    Color32::from_rgb(lerp(40.0, 250.0), lerp(50.0, 220.0), lerp(120.0, 60.0))
}

/// Applies the light or dark theme.
pub fn apply(ctx: &egui::Context, dark: bool) {
    ctx.set_visuals(if dark { egui::Visuals::dark() } else { egui::Visuals::light() });
}

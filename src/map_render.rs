//! Rendering a map to a PNG scatter plot with a legend, for people without
//! the window (`strata map --out map.png`).

use std::path::Path;

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

/// The qualitative palette for categories (composers, albums, tags), shared with the window.
pub const PALETTE: [[u8; 3]; 12] = [
    [78, 121, 167],
    [242, 142, 43],
    [225, 87, 89],
    [118, 183, 178],
    [89, 161, 79],
    [237, 201, 72],
    [176, 122, 161],
    [255, 157, 167],
    [156, 117, 95],
    [186, 176, 172],
    [31, 186, 214],
    [140, 86, 75],
];

const WIDTH: u32 = 1600;
const HEIGHT: u32 = 1000;
const PLOT: u32 = 1000;
const MARGIN: u32 = 40;

/// Draws `points` coloured by `labels` (one legend entry per distinct label)
/// under `title`, and writes a PNG.
pub fn render_png(points: &[[f32; 2]], labels: &[String], title: &str, out: &Path) -> image::ImageResult<()> {
    let mut canvas = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([250, 250, 248]));
    let mut categories: Vec<&str> = labels.iter().map(String::as_str).collect();
    categories.sort_unstable();
    categories.dedup();
    let (min, max) = points.iter().fold(([f32::MAX; 2], [f32::MIN; 2]), |(lo, hi), p| {
        ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
    });
    let span = (max[0] - min[0]).max(max[1] - min[1]).max(1e-9);
    let inner = (PLOT - 2 * MARGIN) as f32;
    for (point, label) in points.iter().zip(labels) {
        let colour = category_colour(&categories, label);
        let x = MARGIN as f32 + (point[0] - min[0]) / span * inner;
        let y = MARGIN as f32 + (1.0 - (point[1] - min[1]) / span) * inner;
        disc(&mut canvas, x, y, 5.0, colour);
    }
    text(&mut canvas, MARGIN, 12, title, 2, Rgb([40, 40, 40]));
    let legend_x = PLOT + 20;
    for (i, category) in categories.iter().enumerate() {
        let y = MARGIN + 28 * i as u32;
        if y + 20 > HEIGHT {
            text(&mut canvas, legend_x, y, "…and more", 2, Rgb([90, 90, 90]));
            break;
        }
        disc(&mut canvas, legend_x as f32 + 8.0, y as f32 + 8.0, 7.0, category_colour(&categories, category));
        text(&mut canvas, legend_x + 24, y, category, 2, Rgb([40, 40, 40]));
    }
    canvas.save(out)
}

fn category_colour(categories: &[&str], label: &str) -> Rgb<u8> {
    let index = categories.iter().position(|c| *c == label).unwrap_or(0);
    Rgb(PALETTE[index % PALETTE.len()])
}

fn disc(canvas: &mut RgbImage, cx: f32, cy: f32, radius: f32, colour: Rgb<u8>) {
    let r = radius.ceil() as i64;
    for dy in -r..=r {
        for dx in -r..=r {
            if (dx * dx + dy * dy) as f32 <= radius * radius {
                let (x, y) = (cx as i64 + dx, cy as i64 + dy);
                if x >= 0 && y >= 0 && (x as u32) < canvas.width() && (y as u32) < canvas.height() {
                    canvas.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
    }
}

/// Writes `s` with the 8×8 bitmap font at `scale`; characters it lacks become '?'.
fn text(canvas: &mut RgbImage, x: u32, y: u32, s: &str, scale: u32, colour: Rgb<u8>) {
    let fonts = font8x8::BASIC_FONTS;
    let latin = font8x8::LATIN_FONTS;
    for (i, ch) in s.chars().enumerate() {
        let glyph = fonts.get(ch).or_else(|| latin.get(ch)).or_else(|| fonts.get('?')).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    for sy in 0..scale {
                        for sx in 0..scale {
                            let px = x + (i as u32 * 8 + col) * scale + sx;
                            let py = y + row as u32 * scale + sy;
                            if px < canvas.width() && py < canvas.height() {
                                canvas.put_pixel(px, py, colour);
                            }
                        }
                    }
                }
            }
        }
    }
}

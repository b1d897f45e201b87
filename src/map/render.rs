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

/// The colour of category `i`: the palette's twelve, then colours picked
/// one at a time from an OKLCH grid (hues 10° apart at three lightness
/// levels), each the farthest in OKLab from all those before it, so a
/// library with more composers or albums than the palette gets 120
/// distinct colours before any repeats.
pub fn category_rgb(i: usize) -> [u8; 3] {
    static COLOURS: std::sync::OnceLock<Vec<[u8; 3]>> = std::sync::OnceLock::new();
    let colours = COLOURS.get_or_init(|| {
        let mut grid: Vec<[f32; 3]> = (0..36)
            .flat_map(|h| [0.58f32, 0.68, 0.78].map(|l| (l, (h as f32 * 10.0).to_radians())))
            .map(|(l, hue)| [l, 0.12 * hue.cos(), 0.12 * hue.sin()])
            .collect();
        let mut chosen: Vec<[f32; 3]> = PALETTE.iter().map(|&c| srgb_to_oklab(c)).collect();
        let mut colours = PALETTE.to_vec();
        let distance = |x: &[f32; 3], y: &[f32; 3]| x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
        while !grid.is_empty() {
            let nearest = |c: &[f32; 3]| chosen.iter().map(|p| distance(c, p)).fold(f32::MAX, f32::min);
            let (best, _) = grid.iter().enumerate().map(|(k, c)| (k, nearest(c))).fold((0, -1.0), |b, x| if x.1 > b.1 { x } else { b });
            let lab = grid.swap_remove(best);
            colours.push(oklab_to_srgb(lab));
            chosen.push(lab);
        }
        colours
    });
    colours[i % colours.len()]
}

/// OKLab (Ottosson 2020) `[L, a, b]` to 8-bit sRGB, clipped to the gamut.
fn oklab_to_srgb([lightness, a, b]: [f32; 3]) -> [u8; 3] {
    let l = (lightness + 0.396_337_78 * a + 0.215_803_76 * b).powi(3);
    let m = (lightness - 0.105_561_35 * a - 0.063_854_17 * b).powi(3);
    let s = (lightness - 0.089_484_18 * a - 1.291_485_5 * b).powi(3);
    let linear = [
        4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s,
        -1.268_438 * l + 2.609_757_4 * m - 0.341_319_38 * s,
        -0.004_196_086 * l - 0.703_418_6 * m + 1.707_614_7 * s,
    ];
    linear.map(|v| {
        let v = v.clamp(0.0, 1.0);
        let encoded = if v <= 0.003_130_8 { 12.92 * v } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 };
        (encoded * 255.0).round() as u8
    })
}

/// 8-bit sRGB to OKLab `[L, a, b]`.
fn srgb_to_oklab(rgb: [u8; 3]) -> [f32; 3] {
    let [r, g, b] = rgb.map(|c| {
        let v = f32::from(c) / 255.0;
        if v <= 0.040_45 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
    });
    let l = (0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b).cbrt();
    let m = (0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b).cbrt();
    let s = (0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b).cbrt();
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

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
    let (min, max) = points
        .iter()
        .fold(([f32::MAX; 2], [f32::MIN; 2]), |(lo, hi), p| ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])]));
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
    Rgb(category_rgb(index))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_beyond_the_palette_get_colours_of_their_own() {
        let colours: Vec<[u8; 3]> = (0..120).map(category_rgb).collect();
        assert_eq!(&colours[..PALETTE.len()], &PALETTE);
        // No two of the 120 alike, and the first 24 (an 18-composer library and
        // then some) a visible step apart in OKLab.
        let lab: Vec<[f32; 3]> = colours.iter().map(|&c| srgb_to_oklab(c)).collect();
        let distance = |x: [f32; 3], y: [f32; 3]| x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
        for i in 0..colours.len() {
            for j in 0..i {
                assert_ne!(colours[i], colours[j], "categories {i} and {j}");
                if i < 24 {
                    let d = distance(lab[i], lab[j]);
                    assert!(d > 0.05, "categories {i} and {j} are too close ({d}): {:?} / {:?}", colours[i], colours[j]);
                }
            }
        }
        // The conversions invert each other within rounding.
        for &c in &PALETTE {
            let back = oklab_to_srgb(srgb_to_oklab(c));
            assert!(back.iter().zip(c).all(|(&x, y)| x.abs_diff(y) <= 1), "{c:?} → {back:?}");
        }
    }
}

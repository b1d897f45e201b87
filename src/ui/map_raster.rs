//! A large map's markers drawn once into a texture, not as plot items every
//! frame. egui_plot lays out and tessellates every marker each frame (about
//! 12 ms for a thinned 300,000-track map); the texture costs one image. It is
//! redrawn when what it shows changes (series, highlight, view, size), and
//! while the view moves (a drag, a zoom) only once it holds still: in
//! between, the last texture is shown moved and scaled with the plot.

use std::sync::Arc;

use eframe::egui;
use egui_plot::{PlotBounds, PlotPoint};

use super::map_view::Series;

/// Marker radius in points, and a highlighted series' (the plot's markers for a small library have the same).
const RADIUS: f32 = 3.5;
const HIGHLIGHT_RADIUS: f32 = 5.0;
/// Side of the cells, in points, in which only the marker drawn last is drawn
/// (markers are 7 points wide: what lies under the last one would be covered).
const CELL_POINTS: f32 = 2.0;
/// A view whose edges moved by less than this share of a pixel, and whose
/// size changed by at most a pixel, is the view drawn: the plot's automatic
/// bounds settle over several frames by millionths of a unit, and a panel
/// beside the plot may change its width by a pixel; neither shows.
const SAME_VIEW_PIXELS: f64 = 0.25;
/// The least time between two drawings of one view in new colours.
const RECOLOUR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Share of a dimmed series' colour (another series is highlighted).
const DIMMED: f32 = 0.15;

/// What a texture shows: which thinned points, highlighting, view and size.
#[derive(Debug, Clone)]
pub struct RasterKey {
    /// The thinned points drawn (compared by identity; held, so a later list cannot take its address).
    pub points: Arc<Vec<Vec<PlotPoint>>>,
    /// The highlighted series.
    pub highlight: Option<String>,
    /// The plot rectangle covered: min x, min y, max x, max y.
    pub bounds: [f64; 4],
    /// Pixels wide and high.
    pub size: [usize; 2],
    /// Physical pixels per point.
    pub pixels_per_point: f32,
}

impl RasterKey {
    /// The key for `points` whose data lie within `extent` (min x, min y, max
    /// x, max y), seen over `view` `size_points` large. The texture covers
    /// only the part of the view where markers can be (the extent, widened
    /// by a marker): were it to cover the whole view, the plot's automatic
    /// bounds, which include every item, would grow with it every frame.
    pub fn new(
        points: &Arc<Vec<Vec<PlotPoint>>>,
        highlight: Option<String>,
        extent: [f64; 4],
        view: &PlotBounds,
        size_points: egui::Vec2,
        pixels_per_point: f32,
    ) -> Self {
        let (min, max) = (view.min(), view.max());
        let units_per_point =
            [(max[0] - min[0]) / f64::from(size_points.x.max(1.0)), (max[1] - min[1]) / f64::from(size_points.y.max(1.0))];
        let pad = |axis: usize| f64::from(HIGHLIGHT_RADIUS + 1.0) * units_per_point[axis];
        let bounds = [
            min[0].max(extent[0] - pad(0)),
            min[1].max(extent[1] - pad(1)),
            max[0].min(extent[2] + pad(0)),
            max[1].min(extent[3] + pad(1)),
        ];
        let pixels = |units: f64, axis: usize| {
            let points = (units / units_per_point[axis].max(f64::MIN_POSITIVE)).max(0.0);
            (points * f64::from(pixels_per_point)).round() as usize
        };
        Self {
            points: points.clone(),
            highlight,
            size: [pixels(bounds[2] - bounds[0], 0), pixels(bounds[3] - bounds[1], 1)],
            bounds,
            pixels_per_point,
        }
    }

    /// The same drawing but for the view.
    fn same_but_view(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.points, &other.points) && self.highlight == other.highlight
    }

    /// Whether `bounds` are this key's view to within [`SAME_VIEW_PIXELS`] of its pixels.
    fn near_bounds(&self, bounds: &[f64; 4]) -> bool {
        let pixel = [
            (self.bounds[2] - self.bounds[0]) / self.size[0].max(1) as f64,
            (self.bounds[3] - self.bounds[1]) / self.size[1].max(1) as f64,
        ];
        (0..4).all(|edge| (self.bounds[edge] - bounds[edge]).abs() <= SAME_VIEW_PIXELS * pixel[edge % 2])
    }

    /// Whether a texture drawn for this key covers `other`'s view: bounds
    /// within [`SAME_VIEW_PIXELS`], the size within a pixel, the same scale.
    fn same_view(&self, other: &Self) -> bool {
        self.near_bounds(&other.bounds)
            && self.size.iter().zip(other.size).all(|(a, b)| a.abs_diff(b) <= 1)
            && self.pixels_per_point == other.pixels_per_point
    }

    /// Whether a texture drawn for this key shows `other` as well: the same drawing and view.
    fn shows(&self, other: &Self) -> bool {
        self.same_but_view(other) && self.same_view(other)
    }
}

/// The texture of a large map's markers.
#[derive(Default)]
pub struct MapRaster {
    texture: Option<egui::TextureHandle>,
    drawn: Option<RasterKey>,
    /// The view asked for last, to tell a moving view from one that holds still.
    last_asked: Option<[f64; 4]>,
    /// When the texture was last drawn.
    drawn_at: Option<std::time::Instant>,
    /// Textures drawn so far.
    draws: u64,
}

impl MapRaster {
    /// The texture, its centre and its size in plot units, once drawn.
    pub fn image(&self) -> Option<(egui::TextureId, PlotPoint, egui::Vec2)> {
        let (texture, key) = (self.texture.as_ref()?, self.drawn.as_ref()?);
        let [x0, y0, x1, y1] = key.bounds;
        let center = PlotPoint::new((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        Some((texture.id(), center, egui::vec2((x1 - x0) as f32, (y1 - y0) as f32)))
    }

    /// Textures drawn so far.
    #[cfg(test)]
    fn draws(&self) -> u64 {
        self.draws
    }

    /// Draws the texture for `key` unless it shows that already, or the view
    /// is still moving (then asks for another frame, to draw once it stops).
    pub fn update(&mut self, ctx: &egui::Context, key: RasterKey, series: &[Series], thinned: &[Vec<PlotPoint>]) {
        if self.drawn.as_ref().is_some_and(|drawn| drawn.shows(&key)) {
            self.last_asked = Some(key.bounds);
            return;
        }
        if key.size[0] == 0 || key.size[1] == 0 {
            // No marker can be in view.
            self.drawn = None;
            self.last_asked = Some(key.bounds);
            return;
        }
        // A zoom changes the texture's size too; the plot scales the last one meanwhile.
        let view_moving = !self.last_asked.is_some_and(|asked| key.near_bounds(&asked))
            && self.drawn.as_ref().is_some_and(|drawn| drawn.same_but_view(&key));
        self.last_asked = Some(key.bounds);
        if view_moving {
            ctx.request_repaint();
            return;
        }
        // New colours in the same view (a slider dragged with the map coloured by
        // similarity changes them every frame): at most one drawing per interval.
        let same_view = self.drawn.as_ref().is_some_and(|drawn| drawn.same_view(&key));
        if let Some(since) = self.drawn_at.map(|at| at.elapsed())
            && same_view
            && since < RECOLOUR_INTERVAL
        {
            ctx.request_repaint_after(RECOLOUR_INTERVAL - since);
            return;
        }
        let image = draw(&key, series, thinned);
        match &mut self.texture {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => self.texture = Some(ctx.load_texture("map-markers", image, egui::TextureOptions::LINEAR)),
        }
        self.drawn = Some(key);
        self.drawn_at = Some(std::time::Instant::now());
        self.draws += 1;
        // The plot was laid out before this texture existed: show it in the next frame.
        ctx.request_repaint();
    }
}

/// A series' marker colour and radius (points) with `highlight` standing
/// out: the highlighted series larger, the others dimmed.
pub fn marker_style(entry: &Series, highlight: Option<&str>) -> (egui::Color32, f32) {
    match highlight {
        Some(name) if name == entry.name => (entry.colour, HIGHLIGHT_RADIUS),
        Some(_) => (entry.colour.gamma_multiply(DIMMED), RADIUS),
        None => (entry.colour, RADIUS),
    }
}

/// Every series' thinned points as antialiased discs, in series order (later
/// on top), in horizontal bands drawn on the machine's cores.
fn draw(key: &RasterKey, series: &[Series], thinned: &[Vec<PlotPoint>]) -> egui::ColorImage {
    let [width, height] = key.size;
    let [x0, y0, x1, y1] = key.bounds;
    let (scale_x, scale_y) = (width as f64 / (x1 - x0).max(f64::MIN_POSITIVE), height as f64 / (y1 - y0).max(f64::MIN_POSITIVE));
    // Each series' colour and disc, and its markers' centre pixels.
    let styles: Vec<(egui::Color32, Stamp)> = series
        .iter()
        .map(|entry| {
            let (colour, radius) = marker_style(entry, key.highlight.as_deref());
            (colour, Stamp::new(radius * key.pixels_per_point))
        })
        .collect();
    // Only the marker drawn last in each small cell: those before it there would be covered.
    // Markers centred up to a marker's width outside the texture still show in part.
    let cell = f64::from((CELL_POINTS * key.pixels_per_point).max(1.0));
    let margin = f64::from((HIGHLIGHT_RADIUS + 1.0) * key.pixels_per_point);
    let columns = ((width as f64 + 2.0 * margin) / cell).ceil() as usize + 1;
    let rows = ((height as f64 + 2.0 * margin) / cell).ceil() as usize + 1;
    let mut top_marker: Vec<Option<(u32, i64, i64)>> = vec![None; columns * rows];
    for (index, points) in thinned.iter().enumerate() {
        for p in points {
            let (x, y) = ((p.x - x0) * scale_x, (y1 - p.y) * scale_y);
            let (column, row) = ((x + margin) / cell, (y + margin) / cell);
            if column < 0.0 || row < 0.0 || column >= columns as f64 || row >= rows as f64 {
                continue;
            }
            // Pixel i spans i..i + 1: the one whose centre is nearest holds the marker's centre.
            top_marker[row as usize * columns + column as usize] = Some((index as u32, x.floor() as i64, y.floor() as i64));
        }
    }
    let mut markers: Vec<(u32, i64, i64)> = top_marker.into_iter().flatten().collect();
    markers.sort_by_key(|m| m.0);
    let bands = crate::parallel::map_ranges("map-raster", height, 64, |rows| {
        let mut band = vec![egui::Color32::TRANSPARENT; width * rows.len()];
        let (top, bottom) = (rows.start as i64, rows.end as i64);
        for &(series, cx, cy) in &markers {
            let (colour, stamp) = &styles[series as usize];
            if cy + stamp.half >= top && cy - stamp.half < bottom {
                stamp.blend(&mut band, width, top, bottom, cx, cy, *colour);
            }
        }
        band
    });
    egui::ColorImage::new([width, height], bands.concat())
}

/// The pixels a disc covers around its centre, computed once per radius:
/// those it covers whole, and its antialiased edge with each one's coverage.
struct Stamp {
    half: i64,
    whole: Vec<(i64, i64)>,
    edge: Vec<(i64, i64, f32)>,
}

impl Stamp {
    fn new(radius_px: f32) -> Self {
        let half = radius_px.ceil() as i64 + 1;
        let (mut whole, mut edge) = (Vec::new(), Vec::new());
        for dy in -half..=half {
            for dx in -half..=half {
                let distance = ((dx * dx + dy * dy) as f32).sqrt();
                let cover = (radius_px + 0.5 - distance).clamp(0.0, 1.0);
                if cover >= 1.0 {
                    whole.push((dx, dy));
                } else if cover > 0.0 {
                    edge.push((dx, dy, cover));
                }
            }
        }
        Self { half, whole, edge }
    }

    /// Blends `colour` (premultiplied) over the pixels of rows `top..bottom`
    /// (the band `pixels` holds) that the disc centred at (`cx`, `cy`) covers.
    #[allow(clippy::too_many_arguments, reason = "a band, a disc and a colour: grouping them would only rename them")]
    fn blend(&self, pixels: &mut [egui::Color32], width: usize, top: i64, bottom: i64, cx: i64, cy: i64, colour: egui::Color32) {
        let index = |dx: i64, dy: i64| {
            let (x, y) = (cx + dx, cy + dy);
            (x >= 0 && x < width as i64 && y >= top && y < bottom).then(|| (y - top) as usize * width + x as usize)
        };
        let over = |pixel: &mut egui::Color32, cover: f32| {
            let keep = 1.0 - f32::from(colour.a()) * cover / 255.0;
            let mix = |src: u8, dst: u8| (f32::from(src) * cover + f32::from(dst) * keep).round().clamp(0.0, 255.0) as u8;
            *pixel = egui::Color32::from_rgba_premultiplied(
                mix(colour.r(), pixel.r()),
                mix(colour.g(), pixel.g()),
                mix(colour.b(), pixel.b()),
                mix(colour.a(), pixel.a()),
            );
        };
        let opaque = colour.a() == u8::MAX;
        for &(dx, dy) in &self.whole {
            if let Some(i) = index(dx, dy) {
                if opaque {
                    pixels[i] = colour;
                } else {
                    over(&mut pixels[i], 1.0);
                }
            }
        }
        for &(dx, dy, cover) in &self.edge {
            if let Some(i) = index(dx, dy) {
                over(&mut pixels[i], cover);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, colour: egui::Color32) -> Series {
        Series { name: name.into(), colour, xy: Vec::new() }
    }

    #[test]
    fn markers_land_where_the_plot_puts_them_and_a_moving_view_waits() {
        let series = [series("a", egui::Color32::RED), series("b", egui::Color32::BLUE)];
        let thinned = Arc::new(vec![vec![PlotPoint::new(0.0, 0.0)], vec![PlotPoint::new(10.0, 10.0)]]);
        // A view twice the data's extent: the texture covers the extent (and a marker's width) only.
        let view = PlotBounds::from_min_max([-10.0, -10.0], [20.0, 20.0]);
        let wide = RasterKey::new(&thinned, None, [0.0, 0.0, 10.0, 10.0], &view, egui::vec2(300.0, 300.0), 2.0);
        assert!((wide.bounds[0] + 0.6).abs() < 1e-9 && (wide.bounds[3] - 10.6).abs() < 1e-9, "{wide:?}");
        assert_eq!(wide.size, [224, 224]);
        let bounds = PlotBounds::from_min_max([0.0, 0.0], [10.0, 10.0]);
        let key = RasterKey::new(&thinned, None, [0.0, 0.0, 10.0, 10.0], &bounds, egui::vec2(101.0, 101.0), 1.0);
        let image = draw(&key, &series, &thinned);
        let at = |x: usize, y: usize| image.pixels[y * 101 + x];
        // (0, 0) is the bottom-left pixel, (10, 10) the top-right; the middle stays empty.
        assert_eq!(at(0, 100), egui::Color32::RED);
        assert_eq!(at(100, 0), egui::Color32::BLUE);
        assert_eq!(at(50, 50), egui::Color32::TRANSPARENT);
        // Highlighting one series dims the other.
        let dimmed = draw(&RasterKey { highlight: Some("b".into()), ..key.clone() }, &series, &thinned);
        assert!(dimmed.pixels[100 * 101].a() < 64);

        let ctx = egui::Context::default();
        let mut raster = MapRaster::default();
        raster.update(&ctx, key.clone(), &series, &thinned);
        raster.update(&ctx, key.clone(), &series, &thinned);
        assert_eq!(raster.draws(), 1, "the same view is drawn once");
        // Automatic bounds settling by a millionth, or a size a pixel off, show nothing new.
        let settled = RasterKey { bounds: [1e-6, 0.0, 10.0 - 1e-6, 10.0], size: [100, 101], ..key.clone() };
        raster.update(&ctx, settled.clone(), &series, &thinned);
        raster.update(&ctx, settled, &series, &thinned);
        assert_eq!(raster.draws(), 1, "a view within a quarter pixel is the one drawn");
        let panned = |dx: f64| RasterKey { bounds: [dx, 0.0, 10.0 + dx, 10.0], ..key.clone() };
        raster.update(&ctx, panned(1.0), &series, &thinned);
        raster.update(&ctx, panned(2.0), &series, &thinned);
        assert_eq!(raster.draws(), 1, "while the view moves, the last texture moves with it");
        raster.update(&ctx, panned(2.0), &series, &thinned);
        assert_eq!(raster.draws(), 2, "once it holds still, it is drawn again");
        let (_, center, size) = raster.image().unwrap();
        assert_eq!((center.x, size.x), (7.0, 10.0));
        // New colours in the same view wait for the interval, then are drawn.
        let recoloured = RasterKey { highlight: Some("a".into()), ..panned(2.0) };
        raster.update(&ctx, recoloured.clone(), &series, &thinned);
        assert_eq!(raster.draws(), 2);
        std::thread::sleep(RECOLOUR_INTERVAL);
        raster.update(&ctx, recoloured, &series, &thinned);
        assert_eq!(raster.draws(), 3);
    }
}

//! The map: 2D projections of a layer or an aspect mix, and picking on them.
//!
//! PCA (randomised, checked against linfa-reduction's) and Barnes-Hut t-SNE (bhtsne, on ~50 PCA
//! dimensions, initialised from PCA so a seed gives the same picture) turn
//! a snapshot's vectors into points. t-SNE runs on at most
//! [`TSNE_MAX_POINTS`] evenly spaced tracks; on a larger library the rest
//! are placed at the mean point of their nearest fitted tracks (the
//! [`Layout::fitted`] count says so); a kiddo tree answers "what is under
//! the cursor" and "what is in this box". Pure computation: no I/O, no UI.

pub mod features;
pub mod render;

pub use features::SourceFeatures;

use kiddo::SquaredEuclidean;
use kiddo::float::kdtree::KdTree;
use ndarray::{Array2, Axis, s};
use serde::{Deserialize, Serialize};

use crate::pca::{self, Principal, RowBlocks};
use crate::prng::SplitMix64;
use crate::search::KBest;

/// How points are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Method {
    /// Principal component analysis: fast, linear, keeps global distances.
    Pca,
    /// t-SNE: slower, keeps neighbourhoods.
    Tsne,
}

/// What is projected: one layer, or several layers weighted (each normalised, then joined).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MapSource {
    /// One layer by index.
    Layer(usize),
    /// `(layer, weight)` pairs; a layer's block is scaled by √weight so squared distances add up weighted.
    Mix(Vec<(usize, f32)>),
}

/// Why a projection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Fewer points than the method needs.
    #[error("need at least {needed} tracks for this map, have {have}")]
    TooFewPoints {
        /// Minimum.
        needed: usize,
        /// Available.
        have: usize,
    },
    /// PCA failed.
    #[error("PCA failed: {0}")]
    Pca(String),
    /// Cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
    /// The projection broke (a panic in the maths); the window keeps going.
    #[error("the projection failed unexpectedly ({0})")]
    Crashed(String),
}

/// How a layout places rows that were not in it when it was made.
#[derive(Debug, Clone)]
enum Placement {
    /// PCA's own transform.
    Linear(Principal),
    /// At the mean position of the row's nearest placed rows (t-SNE has no transform).
    NearestPlaced,
}

/// t-SNE fits at most this many tracks (about a minute on one core); the rest are placed beside their nearest fitted ones.
pub const TSNE_MAX_POINTS: usize = 10_000;

/// A 2D projection: one point per feature row, and the way to place rows added later.
#[derive(Debug, Clone)]
pub struct Layout {
    /// One point per row of the projected features.
    pub points: Vec<[f32; 2]>,
    placement: Placement,
    /// How many rows the projection itself fitted, when it ran on a sample
    /// (t-SNE on a large library) and placed the others; `None` when it fitted every row.
    pub fitted: Option<usize>,
}

impl Layout {
    /// How many placed neighbours decide a new row's position on a t-SNE map.
    const PLACEMENT_NEIGHBOURS: usize = 5;

    /// The layout of a grown library at once, without recomputing the
    /// projection: `features` are the new library's rows and `previous[i]`
    /// is the row of this layout that row `i` was, if it was one. Rows seen
    /// before keep their points; new rows go where PCA's transform puts them,
    /// or, on a t-SNE map, at the mean point of their nearest rows seen
    /// before. `None` when a t-SNE map shares no row with the new library.
    pub fn extend(&self, features: &impl RowBlocks, previous: &[Option<usize>]) -> Option<Layout> {
        let n = features.nrows();
        let known: Vec<Option<[f32; 2]>> = previous.iter().map(|p| p.and_then(|row| self.points.get(row).copied())).collect();
        let is_seen = |i: usize| known.get(i).is_some_and(Option::is_some);
        let (seen, new_rows): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| is_seen(i));
        let mut points: Vec<[f32; 2]> = known.iter().map(|p| p.unwrap_or([0.0, 0.0])).collect();
        points.resize(n, [0.0, 0.0]);
        match &self.placement {
            Placement::Linear(transform) => {
                let placed = flat(&transform.place_rows(features));
                // The grown library's features are centred on its new mean, so the
                // transform puts the tracks seen before slightly off their old points:
                // shift new tracks by that mean offset to land in the same frame.
                let mut offset = [0.0f32, 0.0];
                for &row in &seen {
                    let (now, old) = (placed[row], points[row]);
                    offset[0] += (now[0] - old[0]) / seen.len() as f32;
                    offset[1] += (now[1] - old[1]) / seen.len() as f32;
                }
                for &row in &new_rows {
                    points[row] = [placed[row][0] - offset[0], placed[row][1] - offset[1]];
                }
            }
            Placement::NearestPlaced => {
                if seen.is_empty() {
                    return None;
                }
                for block in new_rows.chunks(NEW_ROWS_BLOCK) {
                    let queries = gather_rows(features, block);
                    let query_norms: Vec<f32> = queries.rows().into_iter().map(|q| q.dot(&q)).collect();
                    // Nearest by Euclidean distance: the highest −|q − r|².
                    let nearest = nearest_rows(
                        features,
                        &queries,
                        Self::PLACEMENT_NEIGHBOURS,
                        |_, row| is_seen(row),
                        |query, dot, norm_sq| -(query_norms[query] + norm_sq - 2.0 * dot),
                    );
                    for (row, nearest) in block.iter().zip(nearest) {
                        let k = nearest.len().max(1) as f32;
                        let sum = nearest.iter().fold([0.0f32, 0.0], |acc, &(j, _)| [acc[0] + points[j][0], acc[1] + points[j][1]]);
                        points[*row] = [sum[0] / k, sum[1] / k];
                    }
                }
            }
        }
        Some(Layout { points, placement: self.placement.clone(), fitted: self.fitted })
    }
}

/// The first two columns of each row as a point (the second 0 when there is one column).
fn flat(m: &Array2<f32>) -> Vec<[f32; 2]> {
    m.rows().into_iter().map(|r| [r[0], r.get(1).copied().unwrap_or(0.0)]).collect()
}

/// New rows a placement compares with the whole library at once.
/// Each block is one pass over the library's rows (8 MB of dot products per thread).
const NEW_ROWS_BLOCK: usize = 2048;

/// Library rows read per block by [`nearest_rows`].
const NEAREST_ROW_BLOCK: usize = 1024;

/// `rows` of `features`, in that order.
fn gather_rows(features: &impl RowBlocks, rows: &[usize]) -> Array2<f32> {
    let mut gathered = Array2::<f32>::zeros((rows.len(), features.ncols()));
    for (mut out, &row) in gathered.rows_mut().into_iter().zip(rows) {
        out.assign(&features.block(row..row + 1).row(0));
    }
    gathered
}

/// For each row of `queries`, the `k` rows of `features` that `keep(query,
/// row)` accepts with the highest `score(query, query·row, |row|²)`, best
/// first, ties to the lower row. One pass over `features` in blocks, a
/// matrix product per block, on every core: the library is never held whole.
fn nearest_rows(
    features: &impl RowBlocks,
    queries: &Array2<f32>,
    k: usize,
    keep: impl Fn(usize, usize) -> bool + Sync,
    score: impl Fn(usize, f32, f32) -> f32 + Sync,
) -> Vec<Vec<(usize, f32)>> {
    let piece = |rows: std::ops::Range<usize>| -> Vec<KBest> {
        let mut best: Vec<KBest> = (0..queries.nrows()).map(|_| KBest::new(k)).collect();
        for start in rows.clone().step_by(NEAREST_ROW_BLOCK) {
            let block = features.block(start..(start + NEAREST_ROW_BLOCK).min(rows.end));
            let dots = block.dot(&queries.t());
            for (row, (values, dots)) in (start..).zip(block.rows().into_iter().zip(dots.rows())) {
                let norm_sq = values.dot(&values);
                for (query, (&dot, best)) in dots.iter().zip(&mut best).enumerate() {
                    if keep(query, row) {
                        best.push(row, score(query, dot, norm_sq));
                    }
                }
            }
        }
        best
    };
    let pieces = crate::parallel::map_ranges("map-nearest", features.nrows(), NEAREST_ROW_BLOCK, piece);
    let mut merged: Vec<KBest> = (0..queries.nrows()).map(|_| KBest::new(k)).collect();
    for piece in pieces {
        for (merged, best) in merged.iter_mut().zip(piece) {
            for (row, score) in best.into_sorted() {
                merged.push(row, score);
            }
        }
    }
    merged.into_iter().map(KBest::into_sorted).collect()
}

impl From<pca::PcaError> for MapError {
    fn from(error: pca::PcaError) -> Self {
        match error {
            pca::PcaError::TooFewRows(have) => MapError::TooFewPoints { needed: 2, have },
            pca::PcaError::Failed(why) => MapError::Pca(why),
        }
    }
}

/// Projects `features` to 2D. `progress(done, total)` is called as work
/// advances; `cancelled()` is polled and aborts the projection. The same
/// seed gives the same layout.
pub fn project(
    features: &impl RowBlocks,
    method: Method,
    seed: u64,
    progress: &mut (dyn FnMut(usize, usize) + Send),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Layout, MapError> {
    let n = features.nrows();
    match method {
        Method::Pca => {
            let (transform, projected) = pca::fit(features, 2)?;
            progress(1, 1);
            Ok(Layout { points: flat(&projected), placement: Placement::Linear(transform), fitted: None })
        }
        Method::Tsne => {
            if n < 5 {
                return Err(MapError::TooFewPoints { needed: 5, have: n });
            }
            let reduced = pca::scores(features, 50)?;
            if cancelled() {
                return Err(MapError::Cancelled);
            }
            if n > TSNE_MAX_POINTS {
                let sample: Vec<usize> = (0..TSNE_MAX_POINTS).map(|i| i * n / TSNE_MAX_POINTS).collect();
                let fitted = tsne(&reduced.select(Axis(0), &sample), seed, progress, cancelled)?;
                let points = place_beside_nearest(&reduced, &sample, &fitted);
                return Ok(Layout { points, placement: Placement::NearestPlaced, fitted: Some(sample.len()) });
            }
            let points = tsne(&reduced, seed, progress, cancelled)?;
            Ok(Layout { points, placement: Placement::NearestPlaced, fitted: None })
        }
    }
}

/// Barnes-Hut t-SNE of the rows of `reduced` (PCA scores), initialised from their first two columns.
fn tsne(
    reduced: &Array2<f32>,
    seed: u64,
    progress: &mut (dyn FnMut(usize, usize) + Send),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<[f32; 2]>, MapError> {
    let n = reduced.nrows();
    // PCA initialisation, scaled to a small spread (as openTSNE does), makes
    // the layout depend on the data and the seed only.
    let init = reduced.slice(s![.., ..2.min(reduced.ncols())]).to_owned();
    let spread = init.column(0).std(0.0).max(1e-12);
    let mut jitter = SplitMix64(seed);
    let initial: Vec<f32> =
        init.iter().map(|&v| 1e-4 * v / spread + 1e-6 * jitter.symmetric_unit()).chain(std::iter::repeat(0.0)).take(n * 2).collect();
    let rows: Vec<Vec<f32>> = reduced.rows().into_iter().map(|r| r.to_vec()).collect();
    let samples: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let epochs = 750;
    let perplexity = (((n - 1) as f32) / 3.0).clamp(2.0, 30.0);
    // Exact neighbours, ordered by (distance, index): bhtsne's own vantage-point
    // tree picks random vantage points, which made layouts differ run to run.
    let neighbours = nearest_neighbours(reduced, ((3.0 * perplexity) as usize).clamp(1, n - 1));
    // bhtsne has no way to stop early: a cancel unwinds out of the epoch
    // callback (resume_unwind, so no panic message) and is caught here.
    struct Stop;
    let fit = move || {
        let mut tsne = bhtsne::tSNE::<f32, &[f32], 2>::new(&samples);
        tsne.perplexity(perplexity).epochs(epochs).initial_embedding(initial);
        tsne.epoch_callback(|epoch, _| {
            progress(epoch, epochs);
            if cancelled() {
                std::panic::resume_unwind(Box::new(Stop));
            }
        });
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tsne.barnes_hut_with_neighbors(0.5, &neighbours);
        }))
        .map(|()| tsne.embedding())
    };
    // bhtsne's parallel passes change their float sums with the thread
    // timing, and t-SNE amplifies that: on one thread the same seed gives
    // the same layout bit for bit.
    let fitted = match rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(|_| "strata-tsne".into()).build() {
        Ok(pool) => pool.install(fit),
        Err(e) => {
            log::warn!("no single-thread pool for t-SNE ({e}); the layout may vary slightly run to run");
            fit()
        }
    };
    let embedding = match fitted {
        Err(payload) if payload.is::<Stop>() => return Err(MapError::Cancelled),
        Err(payload) => std::panic::resume_unwind(payload),
        Ok(embedding) => embedding,
    };
    Ok(embedding.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

/// Every row's point: a sampled row keeps its fitted point, any other goes to the mean
/// point of its [`Layout::PLACEMENT_NEIGHBOURS`] nearest sampled rows (Euclidean, ties to the lower row).
fn place_beside_nearest(reduced: &Array2<f32>, sample: &[usize], fitted: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let sampled = reduced.select(Axis(0), sample);
    let sample_norms: Vec<f32> = sampled.rows().into_iter().map(|r| r.dot(&r)).collect();
    let k = Layout::PLACEMENT_NEIGHBOURS.min(sample.len()).max(1);
    let place = |rows: std::ops::Range<usize>| -> Vec<[f32; 2]> {
        let mut points = Vec::with_capacity(rows.len());
        for start in rows.clone().step_by(1024) {
            let block = reduced.slice(s![start..(start + 1024).min(rows.end), ..]);
            let dots = block.dot(&sampled.t());
            for (row, dots) in block.rows().into_iter().zip(dots.rows()) {
                let norm = row.dot(&row);
                let mut nearest: Vec<(f32, usize)> = dots.iter().zip(&sample_norms).map(|(&d, &s)| norm + s - 2.0 * d).zip(0..).collect();
                nearest.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let sum = nearest[..k].iter().fold([0.0f32, 0.0], |acc, &(_, j)| [acc[0] + fitted[j][0], acc[1] + fitted[j][1]]);
                points.push([sum[0] / k as f32, sum[1] / k as f32]);
            }
        }
        points
    };
    let mut points = crate::parallel::map_ranges("map-place", reduced.nrows(), 1024, place).concat();
    for (&row, &point) in sample.iter().zip(fitted) {
        points[row] = point;
    }
    points
}

/// The `k` nearest rows (Euclidean) of every row, by ascending (distance, index),
/// from blocked matrix products: deterministic and O(n²·d / SIMD) for the
/// sizes t-SNE is used at.
fn nearest_neighbours(points: &Array2<f32>, k: usize) -> Vec<Vec<bhtsne::Neighbor<f32>>> {
    let n = points.nrows();
    let norms: Vec<f32> = points.rows().into_iter().map(|r| r.dot(&r)).collect();
    let rows_nearest = |rows: std::ops::Range<usize>| -> Vec<Vec<bhtsne::Neighbor<f32>>> {
        let mut nearest = Vec::with_capacity(rows.len());
        for start in rows.clone().step_by(1024) {
            let end = (start + 1024).min(rows.end);
            let dots = points.slice(s![start..end, ..]).dot(&points.t());
            for (offset, row) in dots.rows().into_iter().enumerate() {
                let i = start + offset;
                let mut candidates: Vec<(f32, usize)> = row
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(j, &dot)| ((norms[i] + norms[j] - 2.0 * dot).max(0.0), j))
                    .collect();
                let order = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if candidates.len() > k {
                    candidates.select_nth_unstable_by(k - 1, order);
                    candidates.truncate(k);
                }
                candidates.sort_unstable_by(order);
                nearest.push(candidates.into_iter().map(|(d, j)| bhtsne::Neighbor { index: j, distance: d.sqrt() }).collect());
            }
        }
        nearest
    };
    // "strata-tsne-knn": Linux keeps 15 bytes of a thread's name, and `top` shows no more.
    crate::parallel::map_ranges("tsne-knn", n, 1024, rows_nearest).concat()
}

/// A k-d tree over map points for hover, click and box selection.
pub struct MapPicker {
    tree: KdTree<f32, u64, 2, 32, u32>,
    points: Vec<[f32; 2]>,
}

impl MapPicker {
    /// Indexes `points` (point `i` is track `i`).
    pub fn new(points: &[[f32; 2]]) -> Self {
        let mut tree = KdTree::with_capacity(points.len().max(1));
        for (i, p) in points.iter().enumerate() {
            if p[0].is_finite() && p[1].is_finite() {
                tree.add(p, i as u64);
            }
        }
        Self { tree, points: points.to_vec() }
    }

    /// The point nearest to `at` within `max_distance`, if any.
    pub fn nearest(&self, at: [f32; 2], max_distance: f32) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let found = self.tree.nearest_one::<SquaredEuclidean>(&at);
        (found.distance <= max_distance * max_distance).then_some(found.item as usize)
    }

    /// Points inside the axis-aligned box with corners `a` and `b`.
    pub fn in_rect(&self, a: [f32; 2], b: [f32; 2]) -> Vec<usize> {
        let (min, max) = ([a[0].min(b[0]), a[1].min(b[1])], [a[0].max(b[0]), a[1].max(b[1])]);
        let centre = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0];
        let half_diagonal_sq = ((max[0] - min[0]) / 2.0).powi(2) + ((max[1] - min[1]) / 2.0).powi(2);
        let mut inside: Vec<usize> = self
            .tree
            .within_unsorted::<SquaredEuclidean>(&centre, half_diagonal_sq)
            .into_iter()
            .map(|n| n.item as usize)
            .filter(|&i| {
                let p = self.points[i];
                p[0] >= min[0] && p[0] <= max[0] && p[1] >= min[1] && p[1] <= max[1]
            })
            .collect();
        inside.sort_unstable();
        inside
    }
}

/// Points whose neighbourhoods [`neighbourhood_preservation`] compares: every
/// point of a smaller map, at most this many evenly spaced ones of a larger map.
pub const PRESERVATION_QUERIES: usize = 2_000;

/// Query × row pairs [`neighbourhood_preservation`] compares at most: beyond
/// 100,000 points it takes fewer queries, so its cost stops growing with the
/// map (666 queries at 300,000 points still put the estimate within about
/// ±0.01: 6,660 neighbours counted).
const PRESERVATION_PAIRS: usize = 200_000_000;

/// Fraction of each point's `k` nearest neighbours in `features` (cosine, as
/// search uses on normalised rows) that stay among its `k` nearest on the map
/// (ties to the lower row); on larger maps the mean over evenly spaced points
/// ([`PRESERVATION_QUERIES`], [`PRESERVATION_PAIRS`]). One pass over the
/// features in blocks ([`nearest_rows`]) finds every query's neighbours, and
/// no normalised copy is made: each row's length divides its score.
pub fn neighbourhood_preservation(features: &impl RowBlocks, points: &[[f32; 2]], k: usize) -> f64 {
    let n = features.nrows();
    if n <= k || points.len() != n || k == 0 {
        return f64::NAN;
    }
    let queries = n.min(PRESERVATION_QUERIES).min((PRESERVATION_PAIRS / n).max(1));
    let rows: Vec<usize> = (0..queries).map(|i| i * n / queries).collect();
    // The query's own length is the same for every row: it cannot change the order.
    let cosine_order = |_: usize, dot: f32, norm_sq: f32| if norm_sq > 0.0 { dot / norm_sq.sqrt() } else { 0.0 };
    let high = nearest_rows(features, &gather_rows(features, &rows), k, |query, row| row != rows[query], cosine_order);
    let mut kept = 0usize;
    for (&q, high) in rows.iter().zip(high) {
        let mut low: Vec<usize> = (0..n).filter(|&i| i != q).collect();
        let d = |i: usize| (points[i][0] - points[q][0]).powi(2) + (points[i][1] - points[q][1]).powi(2);
        low.select_nth_unstable_by(k - 1, |&a, &b| d(a).total_cmp(&d(b)).then(a.cmp(&b)));
        let near: std::collections::HashSet<usize> = low[..k].iter().copied().collect();
        kept += high.iter().filter(|(i, _)| near.contains(i)).count();
    }
    kept as f64 / (queries * k) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_outside_the_sample_land_among_their_nearest_fitted_rows() {
        let features = clusters();
        // Every third row fitted; each cluster's fitted rows sit at the cluster's own corner.
        let sample: Vec<usize> = (0..60).step_by(3).collect();
        let fitted: Vec<[f32; 2]> = sample.iter().map(|&i| [(i / 20) as f32 * 10.0 + 0.1 * (i % 20) as f32, 0.0]).collect();
        let points = place_beside_nearest(&features, &sample, &fitted);
        assert_eq!(points.len(), 60);
        for (&row, &point) in sample.iter().zip(&fitted) {
            assert_eq!(points[row], point, "a fitted row keeps its point");
        }
        for (row, point) in points.iter().enumerate() {
            let cluster = (row / 20) as f32 * 10.0;
            assert!((point[0] - cluster).abs() < 2.0 && point[1] == 0.0, "row {row} at {point:?}, cluster at {cluster}");
        }
    }

    #[test]
    fn preservation_counts_the_neighbours_a_map_keeps() {
        // Points on a circle in 3 dimensions (the third constant): cosine neighbours are angular neighbours.
        let n = 200;
        let angle = |i: usize| i as f32 / n as f32 * std::f32::consts::TAU;
        let features = Array2::from_shape_fn((n, 3), |(i, j)| [angle(i).cos(), angle(i).sin(), 0.5][j]);
        let circle: Vec<[f32; 2]> = (0..n).map(|i| [angle(i).cos(), angle(i).sin()]).collect();
        assert!((neighbourhood_preservation(&features, &circle, 10) - 1.0).abs() < 1e-9, "the circle itself keeps every neighbour");
        // The same points dealt out at random keep about k / n of them.
        let mut noise = SplitMix64(5);
        let scattered: Vec<[f32; 2]> = (0..n).map(|_| [noise.symmetric_unit(), noise.symmetric_unit()]).collect();
        assert!(neighbourhood_preservation(&features, &scattered, 10) < 0.2);
        // A zero row has no direction: it is nobody's near neighbour, and nothing fails.
        let mut with_zero = features.clone();
        with_zero.row_mut(3).fill(0.0);
        assert!(neighbourhood_preservation(&with_zero, &circle, 10) > 0.9);
        assert!(neighbourhood_preservation(&features, &circle[..10], 10).is_nan());
    }

    #[test]
    fn nearest_rows_agree_with_a_full_sort_across_pieces() {
        // More rows than one block and one core's piece, with tied rows (duplicates).
        let mut noise = SplitMix64(11);
        let mut features = Array2::from_shape_fn((2_600, 6), |_| noise.symmetric_unit());
        for row in [5, 1_500, 2_599] {
            let first = features.row(0).to_owned();
            features.row_mut(row).assign(&first);
        }
        let queries = gather_rows(&features, &[0, 7, 2_000]);
        let found = nearest_rows(&features, &queries, 4, |_, row| row % 3 != 1, |_, dot, _| dot);
        for (q, found) in found.iter().enumerate() {
            let mut all: Vec<(usize, f32)> =
                (0..features.nrows()).filter(|row| row % 3 != 1).map(|row| (row, features.row(row).dot(&queries.row(q)))).collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let rows = |pairs: &[(usize, f32)]| pairs.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(rows(found), rows(&all[..4]), "query {q}");
            assert!(found.iter().zip(&all).all(|(a, b)| (a.1 - b.1).abs() < 1e-5), "query {q}");
        }
    }

    fn clusters() -> Array2<f32> {
        // Three well-separated clusters of 20 points in 10 dimensions.
        let mut noise = SplitMix64(7);
        Array2::from_shape_fn((60, 10), |(i, j)| {
            let centre = if j == i / 20 { 5.0 } else { 0.0 };
            centre + 0.3 * noise.symmetric_unit()
        })
    }

    #[test]
    fn projections_separate_clusters_and_are_deterministic() {
        let features = clusters();
        // The randomised PCA spans the same plane as an exact one (linfa-reduction).
        let fast = pca::scores(&features, 2).unwrap();
        let exact = {
            use linfa::traits::{Fit, Predict};
            let dataset = linfa::DatasetBase::from(features.mapv(f64::from));
            let model = linfa_reduction::Pca::params(2).fit(&dataset).unwrap();
            let projected: Array2<f64> = model.predict(&dataset);
            projected.mapv(|v| v as f32)
        };
        // Same plane: the cross-correlation of the unit-normalised columns is orthogonal (|det| = 1).
        let unit = |m: &Array2<f32>| {
            let mut m = m.clone();
            for mut c in m.columns_mut() {
                let norm = c.dot(&c).sqrt();
                c /= norm;
            }
            m
        };
        let cross = unit(&fast).t().dot(&unit(&exact));
        let det = cross[[0, 0]] * cross[[1, 1]] - cross[[0, 1]] * cross[[1, 0]];
        assert!((det.abs() - 1.0).abs() < 1e-3, "randomised PCA plane differs: |det| {det}");
        for method in [Method::Pca, Method::Tsne] {
            let a = project(&features, method, 1, &mut |_, _| {}, &|| false).unwrap().points;
            let b = project(&features, method, 1, &mut |_, _| {}, &|| false).unwrap().points;
            // Same seed, same layout, bit for bit (the tests run t-SNEs on other threads meanwhile).
            assert_eq!(a, b, "{method:?} is not deterministic");
            // And the layout recorded for this seed: a map does not move between runs or
            // releases unless its method changes. t-SNE amplifies rounding (a 1e-5 change in
            // one input moves points by 0.13 here), another seed moves them by 16.
            let (recorded, tolerance) = match method {
                Method::Pca => ([[4.008_283, -0.464_136], [-2.443_739, -2.967_917], [-1.194_339, 3.967_601]], 1e-3),
                Method::Tsne => ([[-7.325_616, -2.959_017], [6.219_754, -4.681_876], [1.011_568, 7.839_749]], 0.5),
            };
            for (&i, want) in [0, 25, 59].iter().zip(recorded) {
                let off = (a[i][0] - want[0]).abs().max((a[i][1] - want[1]).abs());
                assert!(off < tolerance, "{method:?}: point {i} at {:?}, recorded {want:?}", a[i]);
            }
            // Each point's nearest map neighbour belongs to its own cluster.
            let picker_free_nearest = |q: usize| {
                (0..a.len()).filter(|&i| i != q).min_by(|&i, &j| {
                    let d = |k: usize| (a[k][0] - a[q][0]).powi(2) + (a[k][1] - a[q][1]).powi(2);
                    d(i).total_cmp(&d(j))
                })
            };
            let same = (0..a.len()).filter(|&q| picker_free_nearest(q).is_some_and(|n| n / 20 == q / 20)).count();
            assert!(same as f64 / a.len() as f64 > 0.95, "{method:?}: only {same} of 60 nearest neighbours share a cluster");
        }
    }

    #[test]
    fn a_grown_library_is_placed_without_recomputing() {
        let features = clusters();
        // Every fourth track arrives later: the map of the others places it at once.
        let earlier: Vec<usize> = (0..60).filter(|i| i % 4 != 0).collect();
        let previous: Vec<Option<usize>> = (0..60).map(|i| earlier.iter().position(|&e| e == i)).collect();
        for method in [Method::Pca, Method::Tsne] {
            let old = project(&features.select(Axis(0), &earlier), method, 1, &mut |_, _| {}, &|| false).unwrap();
            // The grown library's features are centred on a new mean: all rows shift.
            let recentred = &features - 1.5;
            let grown = old.extend(&recentred, &previous).unwrap();
            assert_eq!(grown.points.len(), 60);
            for (i, p) in previous.iter().enumerate() {
                if let Some(row) = p {
                    assert_eq!(grown.points[i], old.points[*row], "{method:?}: a known track moved");
                } else {
                    // The nearest earlier track on the map is from the new track's own cluster.
                    let d =
                        |j: usize| (grown.points[j][0] - grown.points[i][0]).powi(2) + (grown.points[j][1] - grown.points[i][1]).powi(2);
                    let nearest = earlier.iter().copied().min_by(|&x, &y| d(x).total_cmp(&d(y))).unwrap();
                    assert_eq!(nearest / 20, i / 20, "{method:?}: track {i} placed beside track {nearest}");
                }
            }
        }
        // Recentring the grown library's features does not move PCA's new points.
        let earlier_pca = project(&features.select(Axis(0), &earlier), Method::Pca, 1, &mut |_, _| {}, &|| false).unwrap();
        let same_centre = earlier_pca.extend(&features, &previous).unwrap();
        let new_centre = earlier_pca.extend(&(&features - 1.5), &previous).unwrap();
        for (p, q) in same_centre.points.iter().zip(&new_centre.points) {
            assert!((p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3, "recentring moved a placed track: {p:?} vs {q:?}");
        }
        // PCA places new tracks with its own transform: exactly where it put the earlier ones.
        let all: Vec<Option<usize>> = vec![None; 60];
        let fitted = project(&features.select(Axis(0), &earlier), Method::Pca, 1, &mut |_, _| {}, &|| false).unwrap();
        let placed = fitted.extend(&features.select(Axis(0), &earlier), &all).unwrap();
        for (p, q) in placed.points.iter().zip(&fitted.points) {
            assert!((p[0] - q[0]).abs() < 1e-4 && (p[1] - q[1]).abs() < 1e-4, "transform {p:?} vs fit {q:?}");
        }
        // A t-SNE map that shares no track with the library cannot place anything.
        let tsne = project(&features, Method::Tsne, 1, &mut |_, _| {}, &|| false).unwrap();
        assert!(tsne.extend(&features, &all).is_none());
    }

    #[test]
    fn a_cancelled_tsne_stops_early() {
        let features = clusters();
        // Cancelled once the embedding has started: the epoch loop itself must stop.
        use std::sync::atomic::{AtomicUsize, Ordering};
        let epochs_seen = AtomicUsize::new(0);
        let result = project(&features, Method::Tsne, 1, &mut |_, _| _ = epochs_seen.fetch_add(1, Ordering::Relaxed), &|| {
            epochs_seen.load(Ordering::Relaxed) > 0
        });
        assert!(matches!(result, Err(MapError::Cancelled)));
        assert_eq!(epochs_seen.load(Ordering::Relaxed), 1, "kept running after being cancelled");
    }

    #[test]
    fn picker_finds_nearest_and_box_contents() {
        let points = vec![[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [1.2, 0.8]];
        let picker = MapPicker::new(&points);
        assert_eq!(picker.nearest([0.9, 1.1], 0.5), Some(1));
        assert_eq!(picker.nearest([3.0, 3.0], 0.5), None);
        assert_eq!(picker.in_rect([0.5, 0.5], [2.0, 2.0]), vec![1, 3]);
    }
}

//! The map: 2D projections of a layer or an aspect mix, and picking on them.
//!
//! PCA (randomised, checked against linfa-reduction's) and Barnes-Hut t-SNE (bhtsne, on ~50 PCA
//! dimensions, initialised from PCA so a seed gives the same picture) turn
//! a snapshot's vectors into points; a kiddo tree answers "what is under
//! the cursor" and "what is in this box". Pure computation: no I/O, no UI.

use kiddo::SquaredEuclidean;
use kiddo::float::kdtree::KdTree;
use ndarray::{Array2, Axis, s};
use serde::{Deserialize, Serialize};

use crate::prng::SplitMix64;
use crate::search::normalized_rows;
use crate::snapshot::LibrarySnapshot;

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

/// The features a source projects: rows of mean-centred, unit-length layer
/// vectors, scaled by √weight and concatenated for a mix.
pub fn source_features(snapshot: &LibrarySnapshot, source: &MapSource) -> Array2<f32> {
    let parts: Vec<(usize, f32)> = match source {
        MapSource::Layer(layer) => vec![(*layer, 1.0)],
        MapSource::Mix(parts) => parts.iter().copied().filter(|&(_, w)| w > 0.0).collect(),
    };
    let blocks: Vec<Array2<f32>> = parts
        .iter()
        .map(|&(layer, weight)| normalized_rows(snapshot.layer_matrix(layer), true) * weight.sqrt())
        .collect();
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    ndarray::concatenate(Axis(1), &views).unwrap_or_else(|_| Array2::zeros((snapshot.len(), 0)))
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
}

/// Principal components of `features`: the `dims` leading coordinates per row.
///
/// Randomised subspace iteration (Halko, Martinsson & Tropp 2011): the
/// centred data is multiplied by a random `d × (dims + 10)` block, refined
/// by four power iterations with QR re-orthonormalisation (linfa-linalg),
/// and the small projected problem is solved exactly (symmetric
/// eigendecomposition). Cost O(n·d·k) instead of a full decomposition, so
/// 100,000 × 768 takes seconds; the leading components agree with an exact
/// PCA to numerical precision when the spectrum has a gap. Signs are fixed
/// (largest loading positive) so results are deterministic.
pub fn pca(features: &Array2<f32>, dims: usize) -> Result<Array2<f32>, MapError> {
    use linfa_linalg::eigh::EighInto;
    use linfa_linalg::qr::QRInto;
    let (n, d) = features.dim();
    let dims = dims.min(d).min(n.saturating_sub(1));
    if dims == 0 {
        return Err(MapError::TooFewPoints { needed: 2, have: n });
    }
    let mean = features.mean_axis(Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(d));
    let centred = features - &mean;
    let k = (dims + 10).min(d).min(n);
    let mut rng = SplitMix64(0x5CA1_AB1E);
    let omega = Array2::from_shape_fn((d, k), |_| rng.symmetric_unit());
    let orthonormal = |m: Array2<f32>| -> Result<Array2<f32>, MapError> {
        let q = m.mapv(f64::from).qr_into().map_err(|e| MapError::Pca(e.to_string()))?.generate_q();
        Ok(q.mapv(|v| v as f32))
    };
    let mut basis = orthonormal(centred.dot(&omega))?; // n × k
    for _ in 0..4 {
        let z = orthonormal(centred.t().dot(&basis))?; // d × k
        basis = orthonormal(centred.dot(&z))?;
    }
    // B = Qᵀ X (k × d); the right singular vectors of B are the principal axes.
    let b = basis.t().dot(&centred).mapv(f64::from);
    let (values, vectors) = b.dot(&b.t()).eigh_into().map_err(|e| MapError::Pca(e.to_string()))?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&x, &y| values[y].total_cmp(&values[x]));
    let mut axes = Array2::<f32>::zeros((d, dims));
    for (c, &i) in order.iter().take(dims).enumerate() {
        let scale = 1.0 / values[i].max(1e-12).sqrt();
        let mut axis = b.t().dot(&vectors.column(i)).mapv(|v| (v * scale) as f32);
        let largest = axis.iter().copied().fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m });
        if largest < 0.0 {
            axis.mapv_inplace(|v| -v);
        }
        axes.column_mut(c).assign(&axis);
    }
    Ok(centred.dot(&axes))
}

/// Projects `features` to 2D. `progress(done, total)` is called as work
/// advances; `cancelled()` is polled and aborts the projection. The same
/// seed gives the same layout (t-SNE up to the rounding of bhtsne's parallel
/// sums, well below 1e-3 of the layout's scale).
pub fn project(
    features: &Array2<f32>,
    method: Method,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize),
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<[f32; 2]>, MapError> {
    let n = features.nrows();
    let flat = |m: &Array2<f32>| m.rows().into_iter().map(|r| [r[0], r.get(1).copied().unwrap_or(0.0)]).collect();
    match method {
        Method::Pca => {
            let projected = pca(features, 2)?;
            progress(1, 1);
            Ok(flat(&projected))
        }
        Method::Tsne => {
            if n < 5 {
                return Err(MapError::TooFewPoints { needed: 5, have: n });
            }
            let reduced = pca(features, 50)?;
            if cancelled() {
                return Err(MapError::Cancelled);
            }
            // PCA initialisation, scaled to a small spread (as openTSNE does), makes
            // the layout depend on the data and the seed only.
            let init = reduced.slice(s![.., ..2.min(reduced.ncols())]).to_owned();
            let spread = init.column(0).std(0.0).max(1e-12);
            let mut jitter = SplitMix64(seed);
            let initial: Vec<f32> = init
                .iter()
                .map(|&v| 1e-4 * v / spread + 1e-6 * jitter.symmetric_unit())
                .chain(std::iter::repeat(0.0))
                .take(n * 2)
                .collect();
            let rows: Vec<Vec<f32>> = reduced.rows().into_iter().map(|r| r.to_vec()).collect();
            let samples: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let epochs = 750;
            let perplexity = (((n - 1) as f32) / 3.0).clamp(2.0, 30.0);
            // Exact neighbours, ordered by (distance, index): bhtsne's own vantage-point
            // tree picks random vantage points, which made layouts differ run to run.
            let neighbours = nearest_neighbours(&reduced, ((3.0 * perplexity) as usize).clamp(1, n - 1));
            let mut tsne = bhtsne::tSNE::<f32, &[f32], 2>::new(&samples);
            tsne.perplexity(perplexity).epochs(epochs).initial_embedding(initial);
            tsne.epoch_callback(|epoch, _| progress(epoch, epochs));
            tsne.barnes_hut_with_neighbors(0.5, &neighbours);
            if cancelled() {
                return Err(MapError::Cancelled);
            }
            Ok(tsne.embedding().chunks_exact(2).map(|p| [p[0], p[1]]).collect())
        }
    }
}

/// The `k` nearest rows (Euclidean) of every row, by ascending (distance, index),
/// from blocked matrix products: deterministic and O(n²·d / SIMD) for the
/// sizes t-SNE is used at.
fn nearest_neighbours(points: &Array2<f32>, k: usize) -> Vec<Vec<bhtsne::Neighbor<f32>>> {
    let n = points.nrows();
    let norms: Vec<f32> = points.rows().into_iter().map(|r| r.dot(&r)).collect();
    let mut all = Vec::with_capacity(n);
    for start in (0..n).step_by(1024) {
        let end = (start + 1024).min(n);
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
            all.push(candidates.into_iter().map(|(d, j)| bhtsne::Neighbor { index: j, distance: d.sqrt() }).collect());
        }
    }
    all
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

/// Fraction of each point's `k` nearest neighbours in `features` (cosine on
/// centred rows, as search uses) that stay among its `k` nearest on the map.
pub fn neighbourhood_preservation(features: &Array2<f32>, points: &[[f32; 2]], k: usize) -> f64 {
    let n = features.nrows();
    if n <= k || points.len() != n {
        return f64::NAN;
    }
    let unit = normalized_rows(features.clone(), false);
    let mut kept = 0usize;
    for q in 0..n {
        let sims = unit.dot(&unit.row(q));
        let mut high: Vec<usize> = (0..n).filter(|&i| i != q).collect();
        high.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]));
        let mut low: Vec<usize> = (0..n).filter(|&i| i != q).collect();
        let d = |i: usize| (points[i][0] - points[q][0]).powi(2) + (points[i][1] - points[q][1]).powi(2);
        low.sort_by(|&a, &b| d(a).total_cmp(&d(b)));
        let near: std::collections::HashSet<usize> = low[..k].iter().copied().collect();
        kept += high[..k].iter().filter(|i| near.contains(i)).count();
    }
    kept as f64 / (n * k) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let fast = pca(&features, 2).unwrap();
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
            let a = project(&features, method, 1, &mut |_, _| {}, &|| false).unwrap();
            let b = project(&features, method, 1, &mut |_, _| {}, &|| false).unwrap();
            // Same seed, same layout (up to the order of bhtsne's parallel float sums).
            let drift = a.iter().zip(&b).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs())).fold(0.0f32, f32::max);
            assert!(drift < 1e-3, "{method:?} is not deterministic: drift {drift}");
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
    fn picker_finds_nearest_and_box_contents() {
        let points = vec![[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [1.2, 0.8]];
        let picker = MapPicker::new(&points);
        assert_eq!(picker.nearest([0.9, 1.1], 0.5), Some(1));
        assert_eq!(picker.nearest([3.0, 3.0], 0.5), None);
        assert_eq!(picker.in_rect([0.5, 0.5], [2.0, 2.0]), vec![1, 3]);
    }
}

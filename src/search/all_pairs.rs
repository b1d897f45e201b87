//! Every track's nearest neighbours at once, by blocked matrix products.
//!
//! One search per track reads the whole store once per query: at 300,000
//! tracks that is hours of memory traffic. Here a block of queries meets a
//! block of the library in one matrix product per layer (centred unit rows,
//! so each product is a block of cosines), the per-layer products are summed
//! with the ranking's weights into the combined score `Σ wᵢ·simᵢ / Σ wᵢ`
//! exactly as [`crate::search::QueryScores::rank`] combines them (same
//! layers, same weights, same order), and each query keeps its best `k` in a
//! heap. The library's rows are converted from f16 once per query block,
//! not once per query. Results equal the per-query ranking's; scores may
//! differ in the last bits (a matrix product sums in another order), which
//! can only swap tracks whose scores tie to about 10⁻⁶.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

use ndarray::Array2;
use ndarray::linalg::general_mat_mul;

use crate::search::layer_index::LayerIndex;
use crate::search::{Exclusion, Facet, SearchEngine, is_excluded};

/// Queries per block: each thread holds their unit rows on every active layer.
const QUERY_BLOCK: usize = 1024;

/// Library rows per block (with [`QUERY_BLOCK`], an 8 MB block of scores).
const LIBRARY_BLOCK: usize = 2048;

/// A `(track, score)` ordered best first: higher score, then lower track.
#[derive(Clone, Copy, PartialEq)]
struct Ranked(usize, f32);

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.1.total_cmp(&other.1).then(other.0.cmp(&self.0))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` seen, worst on top.
struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// Whether `candidate` would enter.
    fn admits(&self, candidate: Ranked) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|Reverse(worst)| candidate > *worst)
    }

    fn push(&mut self, candidate: Ranked) {
        self.heap.push(Reverse(candidate));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<(usize, f32)> {
        self.heap.into_sorted_vec().into_iter().map(|Reverse(Ranked(track, score))| (track, score)).collect()
    }
}

/// Receives one query's neighbours: `(query, [(track, score)] best first)`.
pub type Emit<'a, E> = dyn FnMut(usize, &[(usize, f32)]) -> Result<(), E> + 'a;

/// Calls `emit(query, results)` for every track in `queries`, in order, with its `k` best
/// `(track, score)` by the combined score of `facets` under `weights`
/// (negative weights count as zero), leaving out the query and what
/// `exclusion` rejects. The same ranking as [`crate::search::QueryScores::rank`]
/// per query. Stops at the first error `emit` returns. Each query's cost
/// is the same, so a part of the library's queries times the whole.
pub fn all_neighbours<E>(
    engine: &mut SearchEngine,
    facets: &[Facet],
    weights: &[f32],
    k: usize,
    exclusion: Exclusion,
    queries: std::ops::Range<usize>,
    emit: &mut Emit<'_, E>,
) -> Result<(), E> {
    // Distinct layers in facet order and their share of the weight, as a ranking sums them.
    let mut layers: Vec<(usize, f32)> = Vec::new();
    for (facet, &w) in facets.iter().zip(weights) {
        let slot = match layers.iter().position(|&(l, _)| l == facet.layer) {
            Some(slot) => slot,
            None => {
                layers.push((facet.layer, 0.0));
                layers.len() - 1
            }
        };
        if w > 0.0 {
            layers[slot].1 += w;
        }
    }
    let weight_sum: f32 = layers.iter().map(|&(_, w)| w).sum();
    let n = engine.snapshot().len();
    let queries = queries.start.min(n)..queries.end.min(n);
    if weight_sum <= 0.0 || k == 0 {
        for query in queries {
            emit(query, &[])?;
        }
        return Ok(());
    }
    let active: Vec<(Arc<LayerIndex>, f32)> =
        layers.iter().filter(|&&(_, w)| w > 0.0).map(|&(l, w)| (engine.layer(l), w / weight_sum)).collect();
    let snapshot = engine.snapshot().clone();
    let eligible = |query: usize, track: usize| track != query && !is_excluded(&snapshot, query, track, exclusion);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()).min(8);
    // A round gives every core a block of queries; results come back in query order.
    for round in queries.clone().step_by(cores * QUERY_BLOCK) {
        let round_len = (queries.end - round).min(cores * QUERY_BLOCK);
        let pieces = crate::parallel::map_ranges("all-pairs", round_len, QUERY_BLOCK, |range| {
            let queries = round + range.start..round + range.end;
            queries
                .clone()
                .step_by(QUERY_BLOCK)
                .flat_map(|start| query_block(&active, start..(start + QUERY_BLOCK).min(queries.end), n, k, &eligible))
                .collect::<Vec<_>>()
        });
        for (offset, results) in pieces.into_iter().flatten().enumerate() {
            emit(round + offset, &results)?;
        }
    }
    Ok(())
}

/// The best `k` of every query in `queries`, one pass over the library in blocks.
fn query_block(
    active: &[(Arc<LayerIndex>, f32)],
    queries: std::ops::Range<usize>,
    n: usize,
    k: usize,
    eligible: &dyn Fn(usize, usize) -> bool,
) -> Vec<Vec<(usize, f32)>> {
    let query_units: Vec<Array2<f32>> = active.iter().map(|(index, _)| index.unit_rows(queries.clone())).collect();
    let mut best: Vec<TopK> = queries.clone().map(|_| TopK::new(k)).collect();
    let mut scores = Array2::<f32>::zeros((queries.len(), LIBRARY_BLOCK));
    for start in (0..n).step_by(LIBRARY_BLOCK) {
        let block = start..(start + LIBRARY_BLOCK).min(n);
        let mut scores = scores.slice_mut(ndarray::s![.., ..block.len()]);
        scores.fill(0.0);
        for ((index, w), units) in active.iter().zip(&query_units) {
            let library_units = index.unit_rows(block.clone());
            general_mat_mul(*w, units, &library_units.t(), 1.0, &mut scores);
        }
        for ((query, row), top) in queries.clone().zip(scores.rows()).zip(&mut best) {
            for (track, &score) in block.clone().zip(row) {
                let candidate = Ranked(track, score);
                if top.admits(candidate) && eligible(query, track) {
                    top.push(candidate);
                }
            }
        }
    }
    best.into_iter().map(TopK::into_sorted).collect()
}

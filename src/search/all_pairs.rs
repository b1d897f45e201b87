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
//!
//! When layers have search heads ([`crate::search::layer_index`]), the
//! products run on the heads instead, which is exact and, where the heads
//! prune, several times cheaper. One product over every layer's weighted leading head
//! coordinates (half the head, [`bound_width`]) and the norms of the rest
//! gives each pair's combined upper bound, `Σ w·(c_q·c_t + |r_q|·|r_t|)`.
//! A query keeps the pairs whose upper bound reaches its floor: the higher
//! of the `k`-th best lower bound and the `k`-th best score computed on the
//! full rows so far (after a library block leaves more than [`TIGHTEN_AT`]
//! candidates, the best-bounded are scored to raise it). At the end the
//! candidates left are scored on the full rows, best bound first, until no
//! bound can beat the `k`-th score. Those scores are computed as one search
//! computes them, so the results equal [`crate::search::QueryScores::rank`]'s,
//! scores included. A query whose candidates would exceed one in
//! [`CANDIDATES_MAX_ONE_IN`] of the library (at least one library block;
//! bounds too loose to prune) is ranked from every track's score, computed
//! the same way. Layers without a head join the bounding product with their
//! whole unit rows; when the heads would not halve its columns, or `k` is
//! large beside the candidates a query may keep, the full products run instead.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

use ndarray::Array2;
use ndarray::linalg::general_mat_mul;

use crate::search::layer_index::{BOUND_MARGIN, HEAD_STEP, LayerIndex, QueryVector};
use crate::search::{Exclusion, Facet, SearchEngine, is_excluded};

/// Queries per block: each thread holds their unit rows on every active layer.
const QUERY_BLOCK: usize = 1024;

/// Library rows per block (with [`QUERY_BLOCK`], an 8 MB block of scores).
const LIBRARY_BLOCK: usize = 2048;

/// A query with more candidates than one in this many tracks (or than one
/// library block, if more) is ranked from every track's score
/// ([`Ranking::exact_ranking`]): its bounds are too loose to save work, and its
/// candidates would cost memory (about 38 MB per 1,024 queries at 300,000
/// tracks, up to twice that while a list grows).
const CANDIDATES_MAX_ONE_IN: usize = 64;

/// Candidates are scored in groups of this many between stopping checks.
const EXACT_GROUP: usize = 64;

/// A query holding more candidates than this after a library block scores
/// its best-bounded ones (at least `k`, at least [`EXACT_GROUP`]) on the
/// full rows: their exact `k`-th best score is a higher floor than the lower
/// bounds give, and the floor drops the rest.
const TIGHTEN_AT: usize = 256;

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
        Self { k, heap: BinaryHeap::with_capacity(k.min(4096) + 1) }
    }

    /// Whether `candidate` would enter.
    fn admits(&self, candidate: Ranked) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|Reverse(worst)| candidate > *worst)
    }

    /// The worst kept score once `k` are kept; −∞ before.
    fn floor(&self) -> f32 {
        match self.heap.peek() {
            Some(Reverse(Ranked(_, score))) if self.heap.len() >= self.k => *score,
            _ => f32::NEG_INFINITY,
        }
    }

    /// Offers every `(track, score)` of `scored`, keeping those `eligible` for `query`.
    fn offer(&mut self, query: usize, scored: impl Iterator<Item = (usize, f32)>, eligible: &dyn Fn(usize, usize) -> bool) {
        for (track, score) in scored {
            let candidate = Ranked(track, score);
            if self.admits(candidate) && eligible(query, track) {
                self.push(candidate);
            }
        }
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
/// per query. Stops at the first error `emit` returns. Without search
/// heads each query costs the same, so a part of the queries times the
/// whole; over heads a query's cost depends on its neighbourhood.
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
    let most_candidates = (n / CANDIDATES_MAX_ONE_IN).max(LIBRARY_BLOCK);
    // Over the heads when they at least halve the product's columns, and a
    // query's k best can fill well within its candidates.
    let full_columns: usize = active.iter().map(|(index, _)| index.dim()).sum();
    let bound_columns: usize = active.iter().map(|(index, _)| index.head_width().map_or(index.dim(), |w| bound_width(w) + 1)).sum();
    let bounded = 2 * bound_columns <= full_columns && 4 * k <= most_candidates && u32::try_from(n).is_ok();
    let ranking = Ranking { active: &active, n, k, eligible: &eligible, most_candidates };
    // A round gives every core a block of queries; results come back in query order.
    for round in queries.clone().step_by(cores * QUERY_BLOCK) {
        let round_len = (queries.end - round).min(cores * QUERY_BLOCK);
        let pieces = crate::parallel::map_ranges("all-pairs", round_len, QUERY_BLOCK, |range| {
            let queries = round + range.start..round + range.end;
            queries
                .clone()
                .step_by(QUERY_BLOCK)
                .flat_map(|start| {
                    let block: Vec<usize> = (start..(start + QUERY_BLOCK).min(queries.end)).collect();
                    if bounded { ranking.pruned_block(&block) } else { ranking.query_block(&block) }
                })
                .collect::<Vec<_>>()
        });
        for (offset, results) in pieces.into_iter().flatten().enumerate() {
            emit(round + offset, &results)?;
        }
    }
    Ok(())
}

/// A query's state in [`Ranking::pruned_block`].
struct Pruned {
    /// The best `k` lower bounds seen: the `k`-th best score is at least their floor.
    lower: TopK,
    /// `(track, upper bound)` of every track whose bound reached the floor
    /// when seen (tracks as `u32`: half the memory; callers check `n` fits).
    candidates: Vec<(u32, f32)>,
    /// The best `k` scored on the full rows so far.
    best: TopK,
    /// Too many candidates: ranked by full products instead.
    overflowed: bool,
}

impl Pruned {
    /// No track below this can enter the top `k`.
    fn floor(&self) -> f32 {
        self.lower.floor().max(self.best.floor())
    }
}

/// Scores `candidates` (best upper bound first) of query `i` on the full
/// rows into `best`, group by group, until no bound left can enter it.
/// Each score is computed as one search computes it.
fn score_exactly(active: &[(Arc<LayerIndex>, f32)], vectors: &[Vec<QueryVector>], i: usize, candidates: &[(u32, f32)], best: &mut TopK) {
    let mut values = vec![vec![0.0f32; EXACT_GROUP]; active.len()];
    for group in candidates.chunks(EXACT_GROUP) {
        if group[0].1 < best.floor() {
            break;
        }
        let tracks: Vec<usize> = group.iter().map(|&(t, _)| t as usize).collect();
        for ((index, _), (values, vectors)) in active.iter().zip(values.iter_mut().zip(vectors)) {
            index.exact_rows(&vectors[i], &tracks, &mut values[..tracks.len()]);
        }
        for (g, &track) in tracks.iter().enumerate() {
            // Summed from +0.0 in layer order, exactly as one search sums them.
            let score = active.iter().zip(&values).fold(0.0f32, |sum, ((_, w), values)| sum + w * values[g]);
            let candidate = Ranked(track, score);
            if best.admits(candidate) {
                best.push(candidate);
            }
        }
    }
}

/// Best upper bound first, ties to the lower track.
fn by_bound(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Queries scored against every track at a time in [`Ranking::exact_ranking`]: its sums take `tracks × this` values.
const EXACT_QUERIES: usize = 32;

/// What a block of queries is ranked by: the active layers with their
/// weights (summing to 1), the library's size, how many results, which
/// tracks may be a query's result, and how many candidates a query may keep
/// over the heads.
#[derive(Clone, Copy)]
struct Ranking<'a> {
    active: &'a [(Arc<LayerIndex>, f32)],
    n: usize,
    k: usize,
    eligible: &'a (dyn Fn(usize, usize) -> bool + Sync),
    most_candidates: usize,
}

impl Ranking<'_> {
    /// The best `k` of every query in `queries`, one pass over the library in blocks.
    fn query_block(&self, queries: &[usize]) -> Vec<Vec<(usize, f32)>> {
        let Ranking { active, n, k, eligible, .. } = *self;
        let query_units: Vec<Array2<f32>> = active.iter().map(|(index, _)| index.unit_rows(queries.iter().copied())).collect();
        let mut best: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
        let mut scores = Array2::<f32>::zeros((queries.len(), LIBRARY_BLOCK));
        for start in (0..n).step_by(LIBRARY_BLOCK) {
            let block = start..(start + LIBRARY_BLOCK).min(n);
            let mut scores = scores.slice_mut(ndarray::s![.., ..block.len()]);
            scores.fill(0.0);
            for ((index, w), units) in active.iter().zip(&query_units) {
                let library_units = index.unit_rows(block.clone());
                general_mat_mul(*w, units, &library_units.t(), 1.0, &mut scores);
            }
            for ((&query, row), top) in queries.iter().zip(scores.rows()).zip(&mut best) {
                top.offer(query, block.clone().zip(row.iter().copied()), eligible);
            }
        }
        best.into_iter().map(TopK::into_sorted).collect()
    }

    /// The best `k` of every query in `queries`, found through the layers'
    /// heads (see the module doc); a query with more than `most_candidates`
    /// goes to [`Ranking::exact_ranking`].
    fn pruned_block(&self, queries: &[usize]) -> Vec<Vec<(usize, f32)>> {
        let Ranking { active, n, k, eligible, most_candidates } = *self;
        let vectors: Vec<Vec<QueryVector>> =
            active.iter().map(|(index, _)| queries.iter().map(|&q| index.query_vector(q)).collect()).collect();
        // The bounding product's columns, layer by layer: the leading head
        // coordinates and the norm of everything else, or a whole unit row.
        let bounds: Vec<Option<usize>> = active.iter().map(|(index, _)| index.head_width().map(bound_width)).collect();
        let widths: Vec<usize> =
            active.iter().zip(&bounds).map(|((index, _), bound)| bound.map_or(index.dim(), |width| width + 1)).collect();
        let columns: usize = widths.iter().sum();
        let mut query_side = Array2::<f32>::zeros((queries.len(), columns));
        // Per query and bounded layer: w·|r_q|, for the lower bounds.
        let mut query_residuals = Array2::<f32>::zeros((queries.len(), active.len()));
        let mut at = 0;
        for (l, (((index, w), bound), width)) in active.iter().zip(&bounds).zip(&widths).enumerate() {
            let mut side = query_side.slice_mut(ndarray::s![.., at..at + width]);
            if let &Some(bound) = bound {
                for (i, vector) in vectors[l].iter().enumerate() {
                    let residual = vector.outside(bound / HEAD_STEP);
                    for (out, &c) in side.row_mut(i).iter_mut().zip(&vector.head()[..bound]) {
                        *out = w * c;
                    }
                    side[[i, bound]] = w * residual;
                    query_residuals[[i, l]] = w * residual;
                }
            } else {
                side.assign(&(index.unit_rows(queries.iter().copied()) * *w));
            }
            at += width;
        }
        let mut states: Vec<Pruned> =
            queries.iter().map(|_| Pruned { lower: TopK::new(k), candidates: Vec::new(), best: TopK::new(k), overflowed: false }).collect();
        let mut upper = Array2::<f32>::zeros((queries.len(), LIBRARY_BLOCK));
        for start in (0..n).step_by(LIBRARY_BLOCK) {
            let block = start..(start + LIBRARY_BLOCK).min(n);
            let mut library_side = Array2::<f32>::zeros((block.len(), columns));
            let mut library_residuals = Array2::<f32>::zeros((block.len(), active.len()));
            let mut at = 0;
            for (l, (((index, _), bound), width)) in active.iter().zip(&bounds).zip(&widths).enumerate() {
                let mut side = library_side.slice_mut(ndarray::s![.., at..at + width]);
                match bound {
                    &Some(bound) => {
                        let Some((coords, residuals)) = index.head_rows(block.clone(), bound / HEAD_STEP) else {
                            // Not reached: a layer with a head has head rows for every track.
                            return self.exact_ranking(queries);
                        };
                        side.slice_mut(ndarray::s![.., ..bound]).assign(&coords);
                        side.column_mut(bound).assign(&ndarray::ArrayView1::from(residuals));
                        library_residuals.column_mut(l).assign(&ndarray::ArrayView1::from(residuals));
                    }
                    None => side.assign(&index.unit_rows(block.clone())),
                }
                at += width;
            }
            let mut upper = upper.slice_mut(ndarray::s![.., ..block.len()]);
            // Σ w·(c_q·c_t + |r_q|·|r_t|) over bounded layers plus Σ w·cos over the rest.
            general_mat_mul(1.0, &query_side, &library_side.t(), 0.0, &mut upper);
            for (i, (&query, state)) in queries.iter().zip(&mut states).enumerate() {
                if state.overflowed {
                    continue;
                }
                let mut floor = state.floor();
                for (j, &bound) in upper.row(i).iter().enumerate() {
                    // The weights sum to 1, so one margin covers every layer's rounding.
                    let high = bound + BOUND_MARGIN;
                    let track = block.start + j;
                    if high < floor || !eligible(query, track) {
                        continue;
                    }
                    let slack: f32 = query_residuals.row(i).dot(&library_residuals.row(j));
                    let candidate = Ranked(track, high - 2.0 * (slack + BOUND_MARGIN));
                    if state.lower.admits(candidate) {
                        state.lower.push(candidate);
                        floor = state.floor();
                    }
                    state.candidates.push((track as u32, high));
                }
                state.candidates.retain(|&(_, high)| high >= floor);
                if state.candidates.len() > TIGHTEN_AT {
                    state.candidates.sort_unstable_by(by_bound);
                    let scored = k.max(EXACT_GROUP).min(state.candidates.len());
                    score_exactly(active, &vectors, i, &state.candidates[..scored], &mut state.best);
                    state.candidates.drain(..scored);
                    let floor = state.floor();
                    state.candidates.retain(|&(_, high)| high >= floor);
                }
                if state.candidates.len() > most_candidates {
                    state.overflowed = true;
                    state.candidates = Vec::new();
                }
            }
        }
        let mut results: Vec<Vec<(usize, f32)>> = Vec::with_capacity(queries.len());
        for (i, state) in states.iter_mut().enumerate() {
            let mut candidates = std::mem::take(&mut state.candidates);
            candidates.sort_unstable_by(by_bound);
            let mut best = std::mem::replace(&mut state.best, TopK::new(0));
            score_exactly(active, &vectors, i, &candidates, &mut best);
            results.push(best.into_sorted());
        }
        let overflowed: Vec<usize> = (0..queries.len()).filter(|&i| states[i].overflowed).collect();
        if !overflowed.is_empty() {
            let rerun: Vec<usize> = overflowed.iter().map(|&i| queries[i]).collect();
            for (i, ranked) in overflowed.into_iter().zip(self.exact_ranking(&rerun)) {
                results[i] = ranked;
            }
        }
        results
    }

    /// The best `k` of each of `queries` from every track's exact score, computed
    /// as one search computes it when it reads every row ([`LayerIndex::exact_all_many`],
    /// summed from +0.0 in layer order): for the few queries whose bounds are too loose.
    fn exact_ranking(&self, queries: &[usize]) -> Vec<Vec<(usize, f32)>> {
        let Ranking { active, n, k, eligible, .. } = *self;
        let mut results = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(EXACT_QUERIES) {
            let mut sums = Array2::<f32>::zeros((n, chunk.len()));
            for (index, w) in active {
                let vectors: Vec<QueryVector> = chunk.iter().map(|&q| index.query_vector(q)).collect();
                sums.zip_mut_with(&index.exact_all_many(&vectors), |sum, &value| *sum += w * value);
            }
            for (j, &query) in chunk.iter().enumerate() {
                let mut best = TopK::new(k);
                best.offer(query, sums.column(j).iter().copied().enumerate(), eligible);
                results.push(best.into_sorted());
            }
        }
        results
    }
}

/// How many of a head's `width` coordinates bound the products: half,
/// rounded up to whole bands of 32 (so a head of 32 keeps all 32). The rest
/// of the head counts in the norm outside those bands, which the head
/// keeps per track. Measured on the synthetic 100,000-track archive (13 heads of 128),
/// 4,096 queries took 11.6 s on all 128, 9.5 s on 64, 14.8 s on 32: fewer
/// columns make a cheaper product but looser bounds, so more rows to score.
fn bound_width(width: usize) -> usize {
    (width / 2).div_ceil(HEAD_STEP).max(1) * HEAD_STEP
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::search::layer_index::Pruning;
    use crate::storage::data_dir::DataDir;
    use crate::storage::snapshot::LibrarySnapshot;
    use crate::synth::{LibraryOptions, MERT_MODEL, write_library};

    #[test]
    fn pruned_blocks_rank_exactly_as_one_search_whatever_falls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::at(tmp.path());
        let options = LibraryOptions { tracks: 1500, seed: 4, mert: true, root: PathBuf::from("/synthetic") };
        write_library(&data, &options, &mut |_, _, _| {}).unwrap();
        let snapshot = Arc::new(LibrarySnapshot::load(&data, MERT_MODEL).unwrap());
        let n = snapshot.len();
        let mut engine = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Always);
        // Two bounded layers and one without a head (a tenth of the weight, whole rows).
        let mut unbounded = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Never);
        let active = vec![(engine.layer(2), 0.5f32), (engine.layer(11), 0.4), (unbounded.layer(6), 0.1)];
        assert!(active[0].0.head_width().is_some() && active[2].0.head_width().is_none());
        let eligible = |query: usize, track: usize| track != query && track % 7 != 3;
        // One search's ranking: every track's exact cosines, summed from +0.0 in layer order.
        let one_search = |query: usize, k: usize| {
            let mut sums = vec![0.0f32; n];
            for (index, w) in &active {
                for (sum, value) in sums.iter_mut().zip(index.similarities(query)) {
                    *sum += w * value;
                }
            }
            let mut ranked: Vec<(usize, f32)> = sums.into_iter().enumerate().filter(|&(t, _)| eligible(query, t)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(k);
            ranked
        };
        let queries: Vec<usize> = (0..n).step_by(5).collect();
        // No query may keep a candidate, a few may, every query may; and more results than tracks.
        for (k, most) in [(9, 0), (9, 40), (9, usize::MAX), (n + 5, usize::MAX)] {
            let got = Ranking { active: &active, n, k, eligible: &eligible, most_candidates: most }.pruned_block(&queries);
            for (&query, got) in queries.iter().zip(&got) {
                let expected = one_search(query, k);
                let bits = |r: &[(usize, f32)]| r.iter().map(|&(t, s)| (t, s.to_bits())).collect::<Vec<_>>();
                assert_eq!(bits(got), bits(&expected), "query {query}, k {k}, at most {most} candidates");
            }
        }
    }
}

//! Similarity search: compare per layer first, combine after.
//!
//! Each facet (an aspect resolved to its layer, or a raw layer) scores every
//! track by cosine on its own layer, normalised to the library
//! ([`Normalization`]: centred by default); the combined score is
//! `Σ wᵢ·simᵢ / Σ wᵢ`. Layers are never averaged before comparing. A query
//! keeps one similarity array per distinct layer, so a weight change only
//! re-sums them: O(tracks × layers), no model run. On large layers the
//! arrays start as bounds from the layer's head (see [`crate::search::layer_index`])
//! and a ranking reads only the rows that can reach its results, and after
//! a weight change only those it had not read; the ranking is exact either
//! way. Also finds the best-matching pair of
//! windows between two tracks for passage playback. Reads snapshots;
//! writes nothing.

pub mod all_pairs;
pub(crate) mod head_cache;
pub mod layer_index;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ndarray::{Array2, Axis};
use serde::Serialize;

pub use crate::search::layer_index::Normalization;
use crate::search::layer_index::{LayerIndex, Pruning, QueryVector};
use crate::storage::snapshot::LibrarySnapshot;

/// Rows of `matrix` made unit length, after subtracting the column mean when
/// `center` is set, so that a dot product between rows is their (centred)
/// cosine. For in-memory features (maps, passages); library search reads the
/// store directly through [`LayerIndex`].
pub fn normalized_rows(matrix: Array2<f32>, center: bool) -> Array2<f32> {
    normalize_rows(matrix, if center { Normalization::Center } else { Normalization::None })
}

/// Rows of `matrix` normalised over its rows as [`LayerIndex`] normalises a
/// layer over the library, then made unit length.
pub fn normalize_rows(mut matrix: Array2<f32>, normalization: Normalization) -> Array2<f32> {
    if normalization != Normalization::None
        && matrix.nrows() > 1
        && let Some(mean) = matrix.mean_axis(Axis(0))
    {
        matrix -= &mean;
        if normalization == Normalization::Standardize {
            let deviations = matrix.map_axis(Axis(0), |column| column.dot(&column).sqrt() / (column.len() as f32).sqrt());
            let floor = 1e-6 * deviations.iter().copied().fold(0.0f32, f32::max);
            matrix /= &deviations.mapv(|d| if d + floor > 0.0 { d + floor } else { 1.0 });
        }
    }
    for mut row in matrix.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    matrix
}

/// What a weight applies to: a layer, reached through an aspect or directly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facet {
    /// Shown name (aspect id or layer name).
    pub name: String,
    /// The layer compared.
    pub layer: usize,
}

/// Tracks to leave out of results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exclusion {
    /// Leave out tracks from the query's album.
    pub same_album: bool,
    /// Leave out tracks of the query's work (work tag, else album tag, else folder).
    pub same_work: bool,
}

/// A ranked result with its per-facet breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// Track index in the snapshot.
    pub track: usize,
    /// Combined score.
    pub score: f32,
    /// Cosine on each facet's layer, in facet order.
    pub facet_scores: Vec<f32>,
}

/// `LayerScores::level` of a track whose cosine is exact. A head has far
/// fewer bands: at most 64, its PCA being fitted on 2,048 sampled rows.
const EXACT: u8 = u8::MAX;

/// A query's cosines on one layer: exact where computed, bounded elsewhere.
///
/// A layer without a head is computed exactly for every track at query
/// time. A layer with one starts from the bounds of its head's first band:
/// track `t`'s cosine lies within `value[t] ∓ slack[t]`. The bounds tighten
/// band by band ([`Self::tighten`]) and become the exact value once a
/// ranking needs it. Memory: two floats and a byte per track.
struct LayerScores {
    /// Per track: the exact cosine where known (every track's once
    /// complete), else the head's dot product over the bands read.
    value: Vec<f32>,
    /// Per track: how far the cosine may lie from `value` (0 where exact); empty once complete.
    slack: Vec<f32>,
    /// Per track: how many head bands `value` sums, or [`EXACT`]; empty once complete.
    level: Vec<u8>,
    /// What computes further bounds and exact values; `None` once every track is exact.
    source: Option<(Arc<LayerIndex>, QueryVector)>,
}

impl LayerScores {
    fn new(index: Arc<LayerIndex>, query: usize) -> Self {
        let vector = index.query_vector(query);
        match index.first_band(&vector) {
            Some((value, slack)) => Self { level: vec![1; value.len()], value, slack, source: Some((index, vector)) },
            None => Self::complete_from(index.exact_all(&vector)),
        }
    }

    fn complete_from(exact: Vec<f32>) -> Self {
        Self { value: exact, slack: Vec::new(), level: Vec::new(), source: None }
    }

    fn is_complete(&self) -> bool {
        self.source.is_none()
    }

    /// Track `t`'s exact cosine, NaN where not computed yet.
    fn exact(&self, t: usize) -> f32 {
        if self.is_complete() || self.level[t] == EXACT { self.value[t] } else { f32::NAN }
    }

    /// How many tracks' cosines are exact.
    fn exact_count(&self) -> usize {
        if self.is_complete() { self.value.len() } else { self.level.iter().filter(|&&l| l == EXACT).count() }
    }

    /// Reads one more head band of each of `tracks` that has one left, and
    /// returns whether any did, with each track's bounds times `weight`:
    /// `(w·(value − slack), w·(value + slack))` in `tracks`' order.
    fn tighten(&mut self, tracks: &[usize], weight: f32) -> (bool, Vec<f32>, Vec<f32>) {
        let mut advanced = false;
        if let Some((index, vector)) = &self.source {
            // Grouped by the band each track reads next, before any level changes.
            let mut next: Vec<Vec<usize>> = vec![Vec::new(); index.head_bands()];
            for &t in tracks {
                if let Some(group) = next.get_mut(usize::from(self.level[t])) {
                    group.push(t);
                }
            }
            for (band, group) in next.iter().enumerate().filter(|(_, group)| !group.is_empty()) {
                index.add_band(vector, band, group, &mut self.value, &mut self.slack);
                for &t in group {
                    self.level[t] += 1;
                }
                advanced = true;
            }
        }
        let (lower, upper) = tracks
            .iter()
            .map(|&t| {
                let (v, slack) = (self.value[t], self.slack.get(t).copied().unwrap_or(0.0));
                (weight * (v - slack), weight * (v + slack))
            })
            .unzip();
        (advanced, lower, upper)
    }

    /// Makes the cosines of `tracks` exact.
    fn refine(&mut self, tracks: &[usize]) {
        let Some((index, vector)) = &self.source else { return };
        let unknown: Vec<usize> = tracks.iter().copied().filter(|&t| self.level[t] != EXACT).collect();
        let mut values = vec![0.0f32; unknown.len()];
        index.exact_rows(vector, &unknown, &mut values);
        for (&t, &v) in unknown.iter().zip(&values) {
            (self.value[t], self.slack[t], self.level[t]) = (v, 0.0, EXACT);
        }
    }

    /// Makes every cosine exact with one pass over the layer (computed
    /// before anything changes, so a panic mid-pass leaves the bounds intact).
    fn complete(&mut self) {
        if let Some((index, vector)) = &self.source {
            *self = Self::complete_from(index.exact_all(vector));
        }
    }
}

/// Per-facet similarities for one query, cached for reranking.
///
/// Ranking is exact: a track is only left unread when the upper bound of
/// its combined score is below a lower bound of the `k`-th best score (from
/// the bounds, then from the results found). A weight
/// change re-sums the cached arrays (O(tracks × layers)) and reads only the
/// rows of tracks its new top can contain that were not read before.
pub struct QueryScores {
    /// The query track.
    pub query: usize,
    /// The facets, in order.
    pub facets: Vec<Facet>,
    /// Which entry of `layers` each facet compares on.
    facet_layers: Vec<usize>,
    layers: Vec<Mutex<LayerScores>>,
}

/// When a ranking's candidates are more than one in this many tracks,
/// reading their rows one by one costs more than a pass over the layer.
const REFINE_MAX_ONE_IN: usize = 8;

/// Above this many results, the threshold comes from a selection over all
/// lower bounds rather than from a running list of the best.
const RUNNING_BEST_MAX: usize = 256;

/// Fewer weighted terms than this per thread, and starting the thread costs more than it saves.
const PARALLEL_MIN_SUMS: usize = 1 << 19;

/// Fewer candidates than this, and one thread tightens every layer's bounds:
/// a band of this many rows is about as much work as starting a thread.
const PARALLEL_MIN_TIGHTENED: usize = 1 << 10;

/// When a ranking has more than twice this many candidates (or 16 per
/// result), it reads every band of the best-bounded ones first.
const TIGHTEN_FIRST_MIN: usize = 256;

/// Candidates are read in groups of this many rows between stopping checks.
const REFINE_GROUP: usize = 64;

impl QueryScores {
    /// Ranks all tracks by `Σ wᵢ·simᵢ / Σ wᵢ` (weights per facet; negative
    /// weights count as zero), best first, leaving out the query and what
    /// `excluded` rejects. Exact; ties go to the lower track index.
    pub fn rank(&self, weights: &[f32], k: usize, excluded: &dyn Fn(usize) -> bool) -> Vec<SearchResult> {
        let mut layers: Vec<MutexGuard<'_, LayerScores>> =
            self.layers.iter().map(|l| l.lock().unwrap_or_else(PoisonError::into_inner)).collect();
        let active = self.active_layers(weights);
        if active.is_empty() || k == 0 {
            return Vec::new();
        }
        let eligible = |t: usize| t != self.query && !excluded(t);
        let top = match Self::pruned_top(&mut layers, &active, k, &eligible) {
            Some(top) => top,
            None => {
                for &(layer, _) in &active {
                    layers[layer].complete();
                }
                Self::exact_top(&layers, &active, k, &eligible)
            }
        };
        let tracks: Vec<usize> = top.iter().map(|&(t, _)| t).collect();
        for layer in layers.iter_mut() {
            layer.refine(&tracks);
        }
        top.into_iter()
            .map(|(track, score)| SearchResult {
                track,
                score,
                facet_scores: self.facet_layers.iter().map(|&l| layers[l].exact(track)).collect(),
            })
            .collect()
    }

    /// Makes every similarity exact (one pass per layer not yet complete),
    /// so later rankings only re-sum arrays and never read the store.
    pub fn complete(&self) {
        for layer in &self.layers {
            layer.lock().unwrap_or_else(PoisonError::into_inner).complete();
        }
    }

    /// Share of this query's cosines (tracks × layers) computed exactly so
    /// far: how much of the store its rankings have read.
    pub fn exact_share(&self) -> f32 {
        let (mut exact, mut all) = (0usize, 0usize);
        for layer in &self.layers {
            let layer = layer.lock().unwrap_or_else(PoisonError::into_inner);
            exact += layer.exact_count();
            all += layer.value.len();
        }
        if all == 0 { 1.0 } else { exact as f32 / all as f32 }
    }

    /// Every track's combined score `Σ wᵢ·simᵢ / Σ wᵢ`, as [`Self::rank`]
    /// scores it, in track order (the query's own too); empty when no weight
    /// is positive. Completes the layers it reads.
    pub fn combined(&self, weights: &[f32]) -> Vec<f32> {
        let mut layers: Vec<MutexGuard<'_, LayerScores>> =
            self.layers.iter().map(|l| l.lock().unwrap_or_else(PoisonError::into_inner)).collect();
        let active = self.active_layers(weights);
        for &(layer, _) in &active {
            layers[layer].complete();
        }
        Self::weighted_sum(&layers, &active)
    }

    /// The layers with a positive weight (summed over the facets on each),
    /// the weights divided by their sum.
    fn active_layers(&self, weights: &[f32]) -> Vec<(usize, f32)> {
        let mut layer_weights = vec![0.0f32; self.layers.len()];
        for (&layer, &w) in self.facet_layers.iter().zip(weights) {
            if w > 0.0 {
                layer_weights[layer] += w;
            }
        }
        let weight_sum: f32 = layer_weights.iter().sum();
        if weight_sum <= 0.0 {
            return Vec::new();
        }
        layer_weights.iter().enumerate().filter(|&(_, &w)| w > 0.0).map(|(l, &w)| (l, w / weight_sum)).collect()
    }

    /// `Σ w·value` per track over the active layers, summed from +0.0 in
    /// layer order: the combined scores, where every layer is exact. On
    /// every core for large libraries.
    fn weighted_sum(layers: &[MutexGuard<'_, LayerScores>], active: &[(usize, f32)]) -> Vec<f32> {
        let n = active.first().map_or(0, |&(l, _)| layers[l].value.len());
        let piece = |rows: std::ops::Range<usize>| {
            let mut sum = vec![0.0f32; rows.len()];
            for &(l, w) in active {
                for (s, v) in sum.iter_mut().zip(&layers[l].value[rows.clone()]) {
                    *s += w * v;
                }
            }
            sum
        };
        crate::parallel::map_ranges("search-rank", n, PARALLEL_MIN_SUMS / active.len().max(1), piece).concat()
    }

    /// `Σ w·(value ∓ slack)` per track over the active layers: the lower
    /// and upper bounds of the combined scores, in one pass over the layers'
    /// arrays, on every core for large libraries.
    fn weighted_bounds(layers: &[MutexGuard<'_, LayerScores>], active: &[(usize, f32)]) -> (Vec<f32>, Vec<f32>) {
        let n = active.first().map_or(0, |&(l, _)| layers[l].value.len());
        let piece = |rows: std::ops::Range<usize>| {
            let (mut lower, mut upper) = (vec![0.0f32; rows.len()], vec![0.0f32; rows.len()]);
            for &(l, w) in active {
                let values = &layers[l].value[rows.clone()];
                match layers[l].slack.get(rows.clone()) {
                    Some(slacks) if !layers[l].is_complete() => {
                        for (((lo, hi), v), slack) in lower.iter_mut().zip(&mut upper).zip(values).zip(slacks) {
                            *lo += w * (v - slack);
                            *hi += w * (v + slack);
                        }
                    }
                    _ => {
                        for ((lo, hi), v) in lower.iter_mut().zip(&mut upper).zip(values) {
                            *lo += w * v;
                            *hi += w * v;
                        }
                    }
                }
            }
            (lower, upper)
        };
        crate::parallel::concat_pairs(crate::parallel::map_ranges("search-rank", n, PARALLEL_MIN_SUMS / active.len().max(1), piece))
    }

    /// The top `k` by exact combined score, from complete layers.
    fn exact_top(
        layers: &[MutexGuard<'_, LayerScores>],
        active: &[(usize, f32)],
        k: usize,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let combined = Self::weighted_sum(layers, active);
        if k <= RUNNING_BEST_MAX {
            // One pass keeping the best k: most scores fail the first comparison,
            // where collecting and selecting moved every track's pair.
            let mut best = KBest::new(k);
            for (t, &score) in combined.iter().enumerate() {
                if best.admits(score) && eligible(t) {
                    best.push(t, score);
                }
            }
            return best.into_sorted();
        }
        let mut top: Vec<(usize, f32)> = combined.into_iter().enumerate().filter(|&(t, _)| eligible(t)).collect();
        if top.len() > k {
            top.select_nth_unstable_by(k - 1, best_first);
            top.truncate(k);
        }
        top.sort_unstable_by(best_first);
        top
    }

    /// The `k`-th best of `lowers` (eligible tracks' lower bounds of their
    /// combined scores): the `k`-th best exact score is at least this.
    fn kth_lower(lowers: impl Iterator<Item = (usize, f32)>, k: usize, eligible: &dyn Fn(usize) -> bool) -> f32 {
        if k <= RUNNING_BEST_MAX {
            let mut floor = KBest::new(k);
            for (t, lo) in lowers {
                if floor.admits(lo) && eligible(t) {
                    floor.push(t, lo);
                }
            }
            return if floor.is_full() { floor.worst() } else { f32::NEG_INFINITY };
        }
        let mut lows: Vec<f32> = lowers.filter(|&(t, _)| eligible(t)).map(|(_, lo)| lo).collect();
        if lows.len() < k { f32::NEG_INFINITY } else { *lows.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a)).1 }
    }

    /// The exact top `k`, reading only what the `k`-th best score needs:
    /// tracks whose combined upper bound reaches the `k`-th best lower bound
    /// read their further head bands, one band at a time (the floor rising
    /// as their bounds tighten), then their full rows, best bound first,
    /// until no bound can beat the `k`-th score found. `None` when so many
    /// tracks stay in reach that complete passes are cheaper.
    fn pruned_top(
        layers: &mut [MutexGuard<'_, LayerScores>],
        active: &[(usize, f32)],
        k: usize,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<Vec<(usize, f32)>> {
        if active.iter().all(|&(l, _)| layers[l].is_complete()) {
            return Some(Self::exact_top(layers, active, k, eligible));
        }
        let n = layers[active[0].0].value.len();
        let (lower, upper) = Self::weighted_bounds(layers, active);
        let mut threshold = Self::kth_lower(lower.iter().copied().enumerate(), k, eligible);
        drop(lower);
        let mut candidates: Vec<(usize, f32)> =
            upper.iter().enumerate().filter(|&(t, &hi)| hi >= threshold && eligible(t)).map(|(t, &hi)| (t, hi)).collect();
        drop(upper);
        // The active layers, in `active`'s order, each behind its own lock so
        // that every core can tighten some of them.
        let mut active_layers: Vec<Option<&mut LayerScores>> = layers.iter_mut().map(|l| Some(&mut **l)).collect();
        let mut active_layers: Vec<&mut LayerScores> = active.iter().filter_map(|&(l, _)| active_layers[l].take()).collect();
        // The best-bounded candidates first, through every band: their tight
        // lower bounds lift the floor that the others must reach before any
        // of their bands is read.
        let first = (16 * k).max(TIGHTEN_FIRST_MIN);
        if candidates.len() > 2 * first {
            let mut uppers: Vec<f32> = candidates.iter().map(|&(_, hi)| hi).collect();
            let cut = *uppers.select_nth_unstable_by(first - 1, |a, b| b.total_cmp(a)).1;
            let best = candidates.iter().copied().filter(|&(_, hi)| hi >= cut).collect();
            threshold = Self::tighten_through(&mut active_layers, active, best, threshold, k).1;
            candidates.retain(|&(_, hi)| hi >= threshold);
        }
        let (mut candidates, _) = Self::tighten_through(&mut active_layers, active, candidates, threshold, k);
        if candidates.len() * REFINE_MAX_ONE_IN > n {
            return None;
        }
        candidates.sort_unstable_by(best_first);
        let mut best = KBest::new(k);
        for group in candidates.chunks(REFINE_GROUP) {
            if best.is_full() && group[0].1 < best.worst() {
                break;
            }
            let tracks: Vec<usize> = group.iter().map(|&(t, _)| t).collect();
            Self::on_every_layer(&mut active_layers, |_, layer| layer.refine(&tracks));
            for &t in &tracks {
                // Summed from +0.0 in layer order, exactly as `weighted_sum` does.
                let score = active.iter().zip(&active_layers).fold(0.0f32, |sum, (&(_, w), layer)| sum + w * layer.value[t]);
                if best.admits(score) {
                    best.push(t, score);
                }
            }
        }
        Some(best.into_sorted())
    }

    /// Reads the head bands of `candidates` one at a time, keeping those
    /// whose combined upper bound reaches the floor (at least `threshold`,
    /// raised by their tightened lower bounds); returns them with their
    /// upper bounds once none has a band left, and the floor.
    fn tighten_through(
        layers: &mut [&mut LayerScores],
        active: &[(usize, f32)],
        mut candidates: Vec<(usize, f32)>,
        mut threshold: f32,
        k: usize,
    ) -> (Vec<(usize, f32)>, f32) {
        loop {
            let (advanced, lower, upper) = Self::tighten(layers, active, &candidates);
            // The candidates are all eligible already.
            let tightened = candidates.iter().zip(&lower).map(|(&(t, _), &lo)| (t, lo));
            threshold = threshold.max(Self::kth_lower(tightened, k, &|_| true));
            candidates = candidates.iter().zip(upper).filter(|&(_, hi)| hi >= threshold).map(|(&(t, _), hi)| (t, hi)).collect();
            if !advanced {
                return (candidates, threshold);
            }
        }
    }

    /// One more head band of each of `candidates` on every active layer (in
    /// `active`'s order), the layers spread over the cores when there are
    /// enough candidates to pay for the threads. Whether any layer had a band
    /// left to read, and the candidates' combined `(lower, upper)` bounds
    /// after it, summed in layer order.
    fn tighten(layers: &mut [&mut LayerScores], active: &[(usize, f32)], candidates: &[(usize, f32)]) -> (bool, Vec<f32>, Vec<f32>) {
        let tracks: Vec<usize> = candidates.iter().map(|&(t, _)| t).collect();
        let per_layer = if tracks.len() < PARALLEL_MIN_TIGHTENED {
            layers.iter_mut().zip(active).map(|(layer, &(_, w))| layer.tighten(&tracks, w)).collect()
        } else {
            Self::on_every_layer(layers, |l, layer| layer.tighten(&tracks, active[l].1))
        };
        let advanced = per_layer.iter().any(|(advanced, _, _)| *advanced);
        let (mut lower, mut upper) = (vec![0.0f32; tracks.len()], vec![0.0f32; tracks.len()]);
        for (_, layer_lower, layer_upper) in &per_layer {
            for (sum, v) in lower.iter_mut().zip(layer_lower) {
                *sum += v;
            }
            for (sum, v) in upper.iter_mut().zip(layer_upper) {
                *sum += v;
            }
        }
        (advanced, lower, upper)
    }

    /// `work(i, layer)` on each of `layers`, the layers spread over the cores; the results in order.
    fn on_every_layer<R: Send>(layers: &mut [&mut LayerScores], work: impl Fn(usize, &mut LayerScores) -> R + Sync) -> Vec<R> {
        // A lock each, so that every thread can reach its own layers; none is contended.
        let cells: Vec<Mutex<&mut &mut LayerScores>> = layers.iter_mut().map(Mutex::new).collect();
        let pieces = crate::parallel::map_ranges("search-layers", cells.len(), 1, |range| {
            range.map(|l| work(l, &mut cells[l].lock().unwrap_or_else(PoisonError::into_inner))).collect::<Vec<_>>()
        });
        pieces.into_iter().flatten().collect()
    }
}

/// Orders `(track, score)` best first, ties to the lower track.
fn best_first(a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The `k` best `(track, score)` pairs seen so far (highest score first,
/// ties to the lower track), kept unsorted: each replacement rescans the `k`
/// kept, which is fast for a results list's small `k`.
pub struct KBest {
    k: usize,
    items: Vec<(usize, f32)>,
    /// Index in `items` of the worst kept pair, once full.
    worst: usize,
}

impl KBest {
    /// Keeps at most `k` pairs.
    pub fn new(k: usize) -> Self {
        Self { k, items: Vec::with_capacity(k.min(4096)), worst: 0 }
    }

    fn is_full(&self) -> bool {
        self.items.len() >= self.k
    }

    /// The worst kept score (only meaningful once full).
    fn worst(&self) -> f32 {
        self.items.get(self.worst).map_or(f32::NEG_INFINITY, |&(_, s)| s)
    }

    /// Whether a pair with `score` could enter (a tie with the worst may, by index).
    fn admits(&self, score: f32) -> bool {
        !self.is_full() || score >= self.worst()
    }

    /// Offers a pair; it is kept when it beats the worst kept one.
    pub fn push(&mut self, track: usize, score: f32) {
        if self.is_full() {
            if best_first(&(track, score), &self.items[self.worst]) != std::cmp::Ordering::Less {
                return;
            }
            self.items[self.worst] = (track, score);
        } else {
            self.items.push((track, score));
            if !self.is_full() {
                return;
            }
        }
        self.worst = (0..self.items.len()).max_by(|&a, &b| best_first(&self.items[a], &self.items[b])).unwrap_or(0);
    }

    /// The kept pairs, best first.
    pub fn into_sorted(mut self) -> Vec<(usize, f32)> {
        self.items.sort_unstable_by(best_first);
        self.items
    }
}

/// Search over one snapshot; builds each layer's index on first use.
pub struct SearchEngine {
    snapshot: Arc<LibrarySnapshot>,
    normalization: Normalization,
    pruning: Pruning,
    layers: HashMap<usize, Arc<LayerIndex>>,
    /// Layers built before the last [`Self::set_pruning`]: their head is fitted on next use.
    built_before_pruning: HashSet<usize>,
}

impl SearchEngine {
    /// A search engine over `snapshot`, each layer normalised as
    /// `normalization` says (`true`: the default, `false`: none).
    pub fn new(snapshot: Arc<LibrarySnapshot>, normalization: impl Into<Normalization>) -> Self {
        Self::with_pruning(snapshot, normalization, Pruning::Auto)
    }

    /// [`Self::new`] with a choice of head pruning (the results are the same; only the work differs).
    pub fn with_pruning(snapshot: Arc<LibrarySnapshot>, normalization: impl Into<Normalization>, pruning: Pruning) -> Self {
        Self { snapshot, normalization: normalization.into(), pruning, layers: HashMap::new(), built_before_pruning: HashSet::new() }
    }

    /// Switches to `pruning`: layers built from now on follow it, and those
    /// already built fit the head it asks for when next used (their means
    /// and norms are kept); a head already fitted is kept, even under
    /// [`Pruning::Never`]. Rankings do not change; only the work per query does.
    pub fn set_pruning(&mut self, pruning: Pruning) {
        if pruning != self.pruning {
            self.pruning = pruning;
            self.built_before_pruning.extend(self.layers.keys().copied());
        }
    }

    /// The snapshot searched.
    pub fn snapshot(&self) -> &Arc<LibrarySnapshot> {
        &self.snapshot
    }

    /// The prepared index of `layer`, building it if needed.
    pub fn layer(&mut self, layer: usize) -> Arc<LayerIndex> {
        let (snapshot, normalization, pruning) = (&self.snapshot, self.normalization, self.pruning);
        let index =
            self.layers.entry(layer).or_insert_with(|| Arc::new(LayerIndex::build_with(snapshot.clone(), layer, normalization, pruning)));
        if self.built_before_pruning.remove(&layer)
            && let Some(with_head) = index.with_head(pruning)
        {
            *index = Arc::new(with_head);
        }
        index.clone()
    }

    /// Prepares `query`'s similarities for each facet (once per distinct
    /// layer): exact arrays for small layers, head bounds for large ones.
    pub fn query(&mut self, query: usize, facets: &[Facet]) -> QueryScores {
        let mut distinct: Vec<usize> = Vec::new();
        let facet_layers = facets
            .iter()
            .map(|facet| match distinct.iter().position(|&l| l == facet.layer) {
                Some(slot) => slot,
                None => {
                    distinct.push(facet.layer);
                    distinct.len() - 1
                }
            })
            .collect();
        let layers = distinct.iter().map(|&layer| Mutex::new(LayerScores::new(self.layer(layer), query))).collect();
        QueryScores { query, facets: facets.to_vec(), facet_layers, layers }
    }

    /// The exclusion test for `query` as a closure over track indices.
    pub fn exclusion_filter(&self, query: usize, exclusion: Exclusion) -> impl Fn(usize) -> bool + '_ {
        move |candidate: usize| is_excluded(&self.snapshot, query, candidate, exclusion)
    }
}

/// Whether `candidate` is left out of `query`'s results under `exclusion`.
/// "Same work" is the inferred work (see [`crate::works`]): every recording
/// of it, not only the query's album. Untagged files count as one album per
/// folder, the way rips are kept. Nothing is allocated: a rerank calls this
/// for every track.
pub fn is_excluded(snapshot: &LibrarySnapshot, query: usize, candidate: usize, exclusion: Exclusion) -> bool {
    (exclusion.same_album && same_album(&snapshot.tracks, query, candidate))
        || (exclusion.same_work && same_work(snapshot, query, candidate))
}

/// Whether two tracks share an album (untagged: a folder).
pub fn same_album(tracks: &[crate::storage::catalog::Track], a: usize, b: usize) -> bool {
    album_group(&tracks[a]).is_some_and(|g| Some(g) == album_group(&tracks[b]))
}

/// Whether two tracks belong to the same work, in any recording: the
/// snapshot's inferred works, else (a snapshot built without them) the work
/// tag, album or folder.
fn same_work(snapshot: &LibrarySnapshot, a: usize, b: usize) -> bool {
    let key = |t: usize| snapshot.works.work_of_track.get(t).and_then(|&w| snapshot.works.works.get(w)).map(|w| w.work_key.as_str());
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x == y,
        _ => work_group(&snapshot.tracks[a]).is_some_and(|g| Some(g) == work_group(&snapshot.tracks[b])),
    }
}

/// What tracks are grouped by for exclusion: a tag value, or (untagged) their folder.
/// A tag never equals a folder.
#[derive(PartialEq)]
enum Group<'a> {
    Tag(&'a str),
    Folder(&'a std::path::Path),
}

/// The album tag, else the file's folder.
fn album_group(track: &crate::storage::catalog::Track) -> Option<Group<'_>> {
    track.tags.album.as_deref().map(Group::Tag).or_else(|| track.path.parent().map(Group::Folder))
}

/// The work label, else the file's folder.
fn work_group(track: &crate::storage::catalog::Track) -> Option<Group<'_>> {
    work_label(track).map(Group::Tag).or_else(|| track.path.parent().map(Group::Folder))
}

/// The work a track belongs to: its work tag, else its album.
pub fn work_label(track: &crate::storage::catalog::Track) -> Option<&str> {
    track.tags.work.as_deref().or(track.tags.album.as_deref())
}

/// The best-matching pair of windows between two tracks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PassageMatch {
    /// Start (s) of the query's window.
    pub query_start_s: f32,
    /// Start (s) of the result's window.
    pub result_start_s: f32,
    /// Their cosine.
    pub similarity: f32,
}

/// Finds the pair of windows (one from each track) with the highest cosine
/// on the model's passage layer.
pub fn best_passage(snapshot: &LibrarySnapshot, query: usize, result: usize) -> Option<PassageMatch> {
    let (query_windows, query_starts) = snapshot.window_matrix(query)?;
    let (result_windows, result_starts) = snapshot.window_matrix(result)?;
    let similarity = normalized_rows(query_windows, false).dot(&normalized_rows(result_windows, false).t());
    let (index, &best) = similarity.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let (q, r) = (index / similarity.ncols(), index % similarity.ncols());
    Some(PassageMatch { query_start_s: query_starts[q], result_start_s: result_starts[r], similarity: best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn untagged_files_are_one_album_per_folder() {
        let track = |path: &str, album: Option<&str>| crate::storage::catalog::Track {
            id: 0,
            path: path.into(),
            tags: crate::storage::catalog::TrackTags { album: album.map(str::to_string), ..Default::default() },
            duration_s: None,
            descriptors: None,
        };
        let tracks = vec![
            track("/music/rip 1/01.flac", None),
            track("/music/rip 1/02.flac", None),
            track("/music/rip 2/01.flac", None),
            track("/music/tagged/01.flac", Some("Goldberg Variations")),
            track("/music/elsewhere/05.flac", Some("Goldberg Variations")),
        ];
        assert!(same_album(&tracks, 0, 1), "same folder, no tags");
        assert!(!same_album(&tracks, 0, 2), "another folder");
        assert!(same_album(&tracks, 3, 4), "same album tag, any folder");
        assert!(!same_album(&tracks, 0, 3), "a tag never equals a folder");
    }

    fn scores(arrays: Vec<Vec<f32>>) -> QueryScores {
        QueryScores {
            query: 0,
            facets: (0..arrays.len()).map(|i| Facet { name: format!("f{i}"), layer: i }).collect(),
            facet_layers: (0..arrays.len()).collect(),
            layers: arrays.into_iter().map(|a| Mutex::new(LayerScores::complete_from(a))).collect(),
        }
    }

    #[test]
    fn combined_score_is_weighted_mean_of_facet_cosines() {
        let s = scores(vec![vec![1.0, 0.9, 0.1, 0.5], vec![1.0, 0.1, 0.8, 0.5]]);
        let none = |_: usize| false;
        let first: Vec<usize> = s.rank(&[1.0, 0.0], 3, &none).iter().map(|r| r.track).collect();
        assert_eq!(first, vec![1, 3, 2]);
        let second: Vec<usize> = s.rank(&[0.0, 1.0], 3, &none).iter().map(|r| r.track).collect();
        assert_eq!(second, vec![2, 3, 1]);
        let mixed = s.rank(&[3.0, 1.0], 1, &none);
        assert!((mixed[0].score - (0.75 * 0.9 + 0.25 * 0.1)).abs() < 1e-6);
        assert_eq!(mixed[0].facet_scores, vec![0.9, 0.1]);
        assert!(s.rank(&[0.0, 0.0], 3, &none).is_empty());
        let no_three: Vec<usize> = s.rank(&[1.0, 0.0], 3, &|t| t == 3).iter().map(|r| r.track).collect();
        assert_eq!(no_three, vec![1, 2]);
        // Every track's combined score, as the ranking scores it.
        let combined = s.combined(&[3.0, 1.0]);
        assert_eq!(combined.len(), 4);
        for r in s.rank(&[3.0, 1.0], 3, &none) {
            assert_eq!(combined[r.track], r.score, "track {}", r.track);
        }
        assert!(s.combined(&[0.0, 0.0]).is_empty());
    }

    #[test]
    fn standardising_evens_out_the_dimensions() {
        // Dimension 0 spreads 100 times wider than dimension 1: centred, it alone decides the cosine.
        let m = array![[100.0, 1.0], [-100.0, 1.0], [100.0, -1.0], [-100.0, -1.0]];
        let centred = normalize_rows(m.clone(), Normalization::Center);
        assert!(centred.row(0).dot(&centred.row(2)) > 0.99);
        let standardized = normalize_rows(m, Normalization::Standardize);
        let expected = std::f32::consts::FRAC_1_SQRT_2;
        // Within the floor that keeps a constant dimension from blowing up (10⁻⁶ of the widest).
        assert!((standardized.row(0)[0] - expected).abs() < 1e-3 && (standardized.row(0)[1] - expected).abs() < 1e-3);
        assert!(standardized.row(0).dot(&standardized.row(2)).abs() < 1e-3, "each dimension weighs the same");
        assert_eq!(Normalization::from(true), Normalization::Center);
        assert_eq!(Normalization::from(false), Normalization::None);
    }

    #[test]
    fn centring_removes_the_shared_direction() {
        // All rows share a large common offset; raw cosines are all near 1.
        let m = array![[10.0, 0.0, 1.0], [10.0, 0.0, -1.0], [10.0, 1.0, 0.0]];
        let raw = normalized_rows(m.clone(), false);
        assert!(raw.row(0).dot(&raw.row(1)) > 0.95);
        let centred = normalized_rows(m, true);
        assert!(centred.row(0).dot(&centred.row(1)) < 0.0);
        assert!((centred.row(0).dot(&centred.row(0)) - 1.0).abs() < 1e-6);
    }
}

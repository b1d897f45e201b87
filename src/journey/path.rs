//! A path from one piece to another.
//!
//! # Algorithm
//! 1. **Waypoints.** In each layer of the aspect mix, with `a` and `b` the
//!    centred unit vectors of the two ends, step `s` of `n` aims at the
//!    point `p = (1 − α)·a + α·b`, `α = s / (n + 1)`. A track's closeness to
//!    the waypoint is its cosine with `p`, which needs only its cosines with
//!    the two ends: `cos(t, p) = ((1 − α)·cos(t, a) + α·cos(t, b)) / |p|`,
//!    with `|p|² = (1 − α)² + α² + 2α(1 − α)·cos(a, b)`. Layers combine with
//!    the mix's weights as in search ([`crate::search`]). So a whole path
//!    costs one pass per layer (the cosines to both ends at once) and then
//!    `O(tracks × layers)` per step. Two things make it less:
//!    - on layers with a search head ([`crate::search::layer_index`]) the
//!      cosines start as the head's bounds (both ends in one pass over the
//!      head); closeness is monotone in them, and a step reads the exact rows
//!      only of the tracks whose upper bound reaches the best lower bound;
//!    - a step first bounds every track with 8 products instead of 2 per
//!      layer, from each track's bounds summed over the layers once per path,
//!      and only the tracks that survive are bounded layer by layer.
//!
//!    The choice is the same as with every cosine exact.
//! 2. **Greedy choice.** Each step takes the track (or, by works, the work
//!    whose movements are closest on average) nearest its waypoint that is
//!    not already on the path and not from the album of the entry before
//!    it (nor, at the last step, of the far end); only when no candidate
//!    satisfies the album rule is it dropped for that step.
//! 3. **Smoothing.** The chosen tracks are then reordered between the fixed
//!    ends by 2-opt moves (reversing a run) while that shortens the path's
//!    total step distance `Σ (1 − S(pᵢ, pᵢ₊₁))` without adding a same-album
//!    neighbour, `S` being the mix's combined similarity.
//!
//! [`step_similarities`] measures the result (mean and weakest step).

use std::sync::Arc;

use crate::search::layer_index::{LayerIndex, QueryVector};
use crate::search::{Facet, SearchEngine};
use crate::storage::catalog::Track;
use crate::works::Works;
use crate::works::similarity::layer_weights;

/// One layer of the mix: its weight share, every track's cosine with both
/// ends (exact, or bounded by the layer's search head until a step needs it)
/// and the ends' cosine with each other.
struct LayerBounds {
    weight: f32,
    /// Per end (`from`, `to`): bounds per track, equal to the exact cosine once read.
    lower: [Vec<f32>; 2],
    upper: [Vec<f32>; 2],
    ends: f32,
}

/// What reads a layer's exact cosines with both ends, and which it has read.
struct ExactReader {
    /// Whether a track's cosines are exact; `None` once every track's are.
    known: Option<Vec<bool>>,
    index: Arc<LayerIndex>,
    queries: [QueryVector; 2],
}

impl ExactReader {
    /// The layer's bounds (the head's, else exact: both ends in one pass) and their reader.
    fn start(index: Arc<LayerIndex>, weight: f32, from: usize, to: usize) -> (LayerBounds, Self) {
        let queries = [index.query_vector(from), index.query_vector(to)];
        let mut ends = [0.0f32];
        index.exact_rows(&queries[0], &[to], &mut ends);
        let bounds = index.bounds_many(&queries).and_then(|both| {
            let [(from_lower, from_upper), (to_lower, to_upper)] = <[_; 2]>::try_from(both).ok()?;
            Some(([from_lower, to_lower], [from_upper, to_upper]))
        });
        let (lower, upper, known) = match bounds {
            Some((lower, upper)) => (lower, upper, Some(vec![false; index.len()])),
            None => {
                let exact = exact_both(&index, &queries);
                (exact.clone(), exact, None)
            }
        };
        (LayerBounds { weight, lower, upper, ends: ends[0] }, Self { known, index, queries })
    }

    /// Reads the exact cosines of `tracks` not read yet into `bounds`.
    fn refine(&mut self, bounds: &mut LayerBounds, tracks: &[usize]) {
        let Some(known) = &mut self.known else { return };
        let unknown: Vec<usize> = tracks.iter().copied().filter(|&t| !known[t]).collect();
        let mut values = vec![0.0f32; unknown.len()];
        for (end, query) in self.queries.iter().enumerate() {
            self.index.exact_rows(query, &unknown, &mut values);
            for (&t, &v) in unknown.iter().zip(&values) {
                (bounds.lower[end][t], bounds.upper[end][t]) = (v, v);
            }
        }
        for &t in &unknown {
            known[t] = true;
        }
    }

    /// Reads every exact cosine into `bounds` (one pass for both ends).
    fn complete(&mut self, bounds: &mut LayerBounds) {
        if self.known.take().is_some() {
            let exact = exact_both(&self.index, &self.queries);
            (bounds.lower, bounds.upper) = (exact.clone(), exact);
        }
    }
}

/// Every track's exact cosine with both ends, in one pass over the layer.
fn exact_both(index: &LayerIndex, queries: &[QueryVector; 2]) -> [Vec<f32>; 2] {
    let both = index.exact_all_many(queries);
    [both.column(0).to_vec(), both.column(1).to_vec()]
}

/// With search heads, a step reads exact cosines for its candidates only
/// while they are fewer than one in this many tracks; more, and a full pass
/// per layer costs less.
const REFINE_MAX_ONE_IN: usize = 8;

/// How many of the best items by their coarse lower bound are tried against
/// the album rule before every item is checked.
const FLOOR_TRIES: usize = 32;

/// Slack added to the coarse bounds against float rounding, relative to the mix's total weight.
const COARSE_MARGIN: f32 = 1e-4;

/// The mix's layers and, per track and end, their bounds summed over the
/// layers split by sign: `Σ w·max(x, 0)` and `Σ w·min(x, 0)`, of the lower
/// bounds (`x` = lower) and of the upper ones. A step weighs layer `l` by
/// `w_l / |p_l|` with `|p_l|` (see the module doc) differing per layer;
/// between the smallest and the largest `1 / |p_l|` these sums bound every
/// track's closeness with 4 products per end instead of one per layer.
struct Mix {
    layers: Vec<LayerBounds>,
    /// `[end][lower/upper][positive/negative part]`, one value per track.
    sums: [[[Vec<f32>; 2]; 2]; 2],
}

/// One step's weights: per layer `(near, far)` (see [`Mix::closeness`]),
/// and for the coarse bound the smallest and largest `1 / |p_l|` with the
/// margin, or `None` where a weight is negative and the split by sign does not bound.
struct StepWeights {
    layers: Vec<(f32, f32)>,
    coarse: Option<(f32, f32, f32)>,
    alpha: f32,
}

impl Mix {
    fn new(layers: Vec<LayerBounds>, tracks: usize) -> Self {
        let mut mix = Self { layers, sums: std::array::from_fn(|_| std::array::from_fn(|_| [vec![0.0; tracks], vec![0.0; tracks]])) };
        mix.update(0..tracks);
        mix
    }

    /// Recomputes the sums of `tracks` (after their bounds changed).
    fn update(&mut self, tracks: impl IntoIterator<Item = usize>) {
        for t in tracks {
            for (end, sides) in self.sums.iter_mut().enumerate() {
                for (upper, [positive, negative]) in sides.iter_mut().enumerate() {
                    let (mut p, mut n) = (0.0f32, 0.0f32);
                    for layer in &self.layers {
                        let x = if upper == 1 { layer.upper[end][t] } else { layer.lower[end][t] };
                        p += layer.weight * x.max(0.0);
                        n += layer.weight * x.min(0.0);
                    }
                    (positive[t], negative[t]) = (p, n);
                }
            }
        }
    }

    /// The weights of the step at `alpha` (0 at the start, 1 at the end).
    fn step(&self, alpha: f32) -> StepWeights {
        let inverse_norms: Vec<f32> = self
            .layers
            .iter()
            .map(|layer| 1.0 / ((1.0 - alpha).powi(2) + alpha.powi(2) + 2.0 * alpha * (1.0 - alpha) * layer.ends).max(1e-12).sqrt())
            .collect();
        let layers = self.layers.iter().zip(&inverse_norms).map(|(l, k)| (l.weight * (1.0 - alpha) * k, l.weight * alpha * k)).collect();
        let total: f32 = self.layers.iter().map(|l| l.weight.abs()).sum();
        let coarse = self.layers.iter().all(|l| l.weight >= 0.0).then(|| {
            let smallest = inverse_norms.iter().copied().fold(f32::INFINITY, f32::min);
            let largest = inverse_norms.iter().copied().fold(0.0, f32::max);
            (smallest, largest, COARSE_MARGIN * total.max(1.0))
        });
        StepWeights { layers, coarse, alpha }
    }

    /// Track `t`'s combined cosine with the step's waypoint, from the lower
    /// (`upper` false) or upper bounds of its cosines; both are the exact
    /// value where they are known. Monotone in the cosines, so bounds on them
    /// bound it, in float arithmetic too.
    fn closeness(&self, step: &StepWeights, t: usize, upper: bool) -> f32 {
        self.layers
            .iter()
            .zip(&step.layers)
            .map(|(layer, &(near, far))| {
                let [to_from, to_to] = if upper { &layer.upper } else { &layer.lower };
                near * to_from[t] + far * to_to[t]
            })
            .sum()
    }

    /// A coarse lower and upper bound of track `t`'s closeness (see [`Mix`]).
    fn coarse(&self, step: &StepWeights, t: usize) -> (f32, f32) {
        let Some((smallest, largest, margin)) = step.coarse else { return (f32::NEG_INFINITY, f32::INFINITY) };
        let side = |[lower, upper]: &[[Vec<f32>; 2]; 2]| {
            (smallest * lower[0][t] + largest * lower[1][t], largest * upper[0][t] + smallest * upper[1][t])
        };
        let [(from_low, from_high), (to_low, to_high)] = [side(&self.sums[0]), side(&self.sums[1])];
        let (near, far) = (1.0 - step.alpha, step.alpha);
        (near * from_low + far * to_low - margin, near * from_high + far * to_high + margin)
    }
}

/// The mix's layers between two ends (see the module doc).
struct Waypoints {
    mix: Mix,
    /// Per layer of the mix, what reads its exact cosines.
    readers: Vec<ExactReader>,
    tracks: usize,
}

impl Waypoints {
    fn new(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], from: usize, to: usize) -> Self {
        let (layers, readers) =
            layer_weights(facets, weights).into_iter().map(|(layer, w)| ExactReader::start(engine.layer(layer), w, from, to)).unzip();
        let tracks = engine.snapshot().len();
        Self { mix: Mix::new(layers, tracks), readers, tracks }
    }

    /// The best of `pool` (items, each a set of tracks) by its tracks' mean
    /// closeness to the waypoint at `alpha`, preferring those `allowed`
    /// admits, ties to the earlier item: the same choice as with every
    /// cosine exact. Three sieves, each keeping every item whose upper bound
    /// reaches the best lower bound of an admitted item: the coarse bounds
    /// over the whole pool, the layers' bounds over what is left, then the
    /// exact cosines of what is left after that.
    fn best<'a>(
        &mut self,
        alpha: f32,
        pool: &[usize],
        tracks_of: &dyn Fn(usize) -> &'a [usize],
        allowed: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let step = self.mix.step(alpha);
        let mean = |item: usize, value: &dyn Fn(usize) -> f32| {
            let tracks = tracks_of(item);
            tracks.iter().map(|&t| value(t)).sum::<f32>() / tracks.len().max(1) as f32
        };
        // Sieve 1: coarse bounds; the floor is the best lower bound of an admitted item.
        let coarse: Vec<(f32, f32)> = pool
            .iter()
            .map(|&item| {
                let tracks = tracks_of(item);
                let (low, high) = tracks.iter().map(|&t| self.mix.coarse(&step, t)).fold((0.0, 0.0), |(l, h), (a, b)| (l + a, h + b));
                let n = tracks.len().max(1) as f32;
                (low / n, high / n)
            })
            .collect();
        let (floor, admitted_only) = match best_admitted_floor(&coarse, pool, allowed) {
            Some(floor) => (floor, true),
            None => (coarse.iter().map(|b| b.0).fold(f32::NEG_INFINITY, f32::max), false),
        };
        let kept: Vec<usize> = pool.iter().zip(&coarse).filter(|&(_, &(_, high))| high >= floor).map(|(&item, _)| item).collect();
        // Sieve 2: the layers' bounds. The album rule is checked on the few
        // left after it, not on every item the coarse bounds kept.
        let mix = &self.mix;
        let bounds: Vec<(f32, f32)> = kept
            .iter()
            .map(|&item| (mean(item, &|t| mix.closeness(&step, t, false)), mean(item, &|t| mix.closeness(&step, t, true))))
            .collect();
        let floor = match admitted_only {
            true => best_admitted_floor(&bounds, &kept, allowed).unwrap_or(f32::NEG_INFINITY),
            false => bounds.iter().map(|b| b.0).fold(f32::NEG_INFINITY, f32::max),
        };
        let candidates: Vec<usize> = kept
            .iter()
            .zip(&bounds)
            .filter(|&(&item, &(_, high))| high >= floor && (!admitted_only || allowed(item)))
            .map(|(&item, _)| item)
            .collect();
        // Sieve 3: the exact cosines of what is left (of every track, when that is too much).
        if self.readers.iter().any(|r| r.known.is_some()) {
            let rows: Vec<usize> = candidates.iter().flat_map(|&item| tracks_of(item).iter().copied()).collect();
            if rows.len() * REFINE_MAX_ONE_IN <= self.tracks {
                for (reader, layer) in self.readers.iter_mut().zip(&mut self.mix.layers) {
                    reader.refine(layer, &rows);
                }
                self.mix.update(rows);
            } else {
                for (reader, layer) in self.readers.iter_mut().zip(&mut self.mix.layers) {
                    reader.complete(layer);
                }
                self.mix.update(0..self.tracks);
            }
        }
        best_of(&candidates, &|item| mean(item, &|t| self.mix.closeness(&step, t, false)))
    }
}

/// The best coarse lower bound among the items of `pool` that `allowed`
/// admits (`bounds` in pool order), or `None` when it admits none. Tries the
/// best few by lower bound first, so the rule is checked on every item only
/// when those all fail it.
fn best_admitted_floor(bounds: &[(f32, f32)], pool: &[usize], allowed: &dyn Fn(usize) -> bool) -> Option<f32> {
    let mut order: Vec<usize> = (0..pool.len()).collect();
    let tries = FLOOR_TRIES.min(order.len());
    if tries > 0 && tries < order.len() {
        order.select_nth_unstable_by(tries - 1, |&a, &b| bounds[b].0.total_cmp(&bounds[a].0));
    }
    let (best, _) = order.split_at_mut(tries);
    best.sort_unstable_by(|&a, &b| bounds[b].0.total_cmp(&bounds[a].0));
    if let Some(&i) = best.iter().find(|&&i| allowed(pool[i])) {
        return Some(bounds[i].0);
    }
    order.iter().filter(|&&i| allowed(pool[i])).map(|&i| bounds[i].0).reduce(f32::max)
}

/// The best of `items` by `score`, ties to the lower item.
fn best_of(items: &[usize], score: &dyn Fn(usize) -> f32) -> Option<usize> {
    items.iter().copied().max_by(|&x, &y| score(x).total_cmp(&score(y)).then(y.cmp(&x)))
}

/// The position of each of `steps` waypoints between the ends.
fn alphas(steps: usize) -> impl Iterator<Item = f32> {
    (1..=steps).map(move |s| s as f32 / (steps + 1) as f32)
}

/// Whether two tracks share an album (untagged: a folder), as search's exclusion has it.
fn same_album(tracks: &[Track], a: usize, b: usize) -> bool {
    crate::search::same_album(tracks, a, b)
}

/// A path of tracks from `from` to `to` with `steps` tracks between them
/// (fewer when the library has fewer), in the mix of `facets` and `weights`;
/// see the module doc. `from` and `to` are the first and last entries.
pub fn track_path(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], from: usize, to: usize, steps: usize) -> Vec<usize> {
    if from == to {
        return vec![from];
    }
    let snapshot = engine.snapshot().clone();
    let tracks = &snapshot.tracks;
    let mut waypoints = Waypoints::new(engine, facets, weights, from, to);
    let mut used = vec![false; tracks.len()];
    (used[from], used[to]) = (true, true);
    let mut path = vec![from];
    let alphas: Vec<f32> = alphas(steps.min(tracks.len().saturating_sub(2))).collect();
    let singles: Vec<usize> = (0..tracks.len()).collect();
    for (s, &alpha) in alphas.iter().enumerate() {
        let previous = path[path.len() - 1];
        let last = s + 1 == alphas.len();
        let allowed = |t: usize| !(same_album(tracks, previous, t) || (last && same_album(tracks, t, to)));
        let candidates: Vec<usize> = (0..tracks.len()).filter(|&t| !used[t]).collect();
        let Some(next) = waypoints.best(alpha, &candidates, &|t| std::slice::from_ref(&singles[t]), &allowed) else { break };
        used[next] = true;
        path.push(next);
    }
    path.push(to);
    smooth(engine, facets, weights, tracks, path)
}

/// A path of whole works from the work of track `from` to the work of
/// track `to`, with `steps` works between them, as tracks: every work's
/// movements in movement order, `from`'s work first and `to`'s last. A
/// work's closeness to a waypoint is its movements' mean closeness.
#[allow(clippy::too_many_arguments, reason = "a track path's options, plus the works")]
pub fn work_path(
    engine: &mut SearchEngine,
    works: &Works,
    facets: &[Facet],
    weights: &[f32],
    from: usize,
    to: usize,
    steps: usize,
) -> Vec<usize> {
    let (Some(&first), Some(&last)) = (works.work_of_track.get(from), works.work_of_track.get(to)) else { return Vec::new() };
    if first == last {
        return works.works[first].tracks.clone();
    }
    let snapshot = engine.snapshot().clone();
    let tracks = &snapshot.tracks;
    let mut waypoints = Waypoints::new(engine, facets, weights, from, to);
    let head = |w: usize| works.works[w].tracks.first().copied();
    let shares_album = |a: usize, b: usize| matches!((head(a), head(b)), (Some(x), Some(y)) if same_album(tracks, x, y));
    let mut used = vec![false; works.works.len()];
    (used[first], used[last]) = (true, true);
    let mut chosen = vec![first];
    let alphas: Vec<f32> = alphas(steps.min(works.works.len().saturating_sub(2))).collect();
    for (s, &alpha) in alphas.iter().enumerate() {
        let previous = chosen[chosen.len() - 1];
        let final_step = s + 1 == alphas.len();
        let allowed = |w: usize| !(shares_album(previous, w) || (final_step && shares_album(w, last)));
        let candidates: Vec<usize> = (0..works.works.len()).filter(|&w| !used[w] && !works.works[w].tracks.is_empty()).collect();
        let Some(next) = waypoints.best(alpha, &candidates, &|w| &works.works[w].tracks, &allowed) else { break };
        used[next] = true;
        chosen.push(next);
    }
    chosen.push(last);
    chosen.into_iter().flat_map(|w| works.works[w].tracks.iter().copied()).collect()
}

/// Combined similarities of every pair of `path`'s entries, in the mix of `facets` and `weights`.
fn pair_similarities(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], path: &[usize]) -> ndarray::Array2<f32> {
    let mut combined = ndarray::Array2::<f32>::zeros((path.len(), path.len()));
    for (layer, w) in layer_weights(facets, weights) {
        let rows = engine.layer(layer).unit_rows(path.iter().copied());
        combined.scaled_add(w, &rows.dot(&rows.t()));
    }
    combined
}

/// The combined similarity of each step of `path` (entry `i` to `i + 1`), in
/// the mix of `facets` and `weights`: how smooth it is.
pub fn step_similarities(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], path: &[usize]) -> Vec<f32> {
    let pairs = pair_similarities(engine, facets, weights, path);
    (1..path.len()).map(|i| pairs[[i - 1, i]]).collect()
}

/// 2-opt between the fixed ends (see the module doc).
fn smooth(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], tracks: &[Track], mut path: Vec<usize>) -> Vec<usize> {
    if path.len() < 4 {
        return path;
    }
    let pairs = pair_similarities(engine, facets, weights, &path);
    // Work on positions in the original path, so `pairs` stays valid.
    let mut order: Vec<usize> = (0..path.len()).collect();
    let distance = |a: usize, b: usize| 1.0 - pairs[[a, b]];
    let clash = |a: usize, b: usize| usize::from(same_album(tracks, path[a], path[b]));
    let mut improved = true;
    while improved {
        improved = false;
        for i in 1..order.len() - 2 {
            for j in i + 1..order.len() - 1 {
                let (before, first, last, after) = (order[i - 1], order[i], order[j], order[j + 1]);
                let gain = distance(before, first) + distance(last, after) - distance(before, last) - distance(first, after);
                let clashes_now = clash(before, first) + clash(last, after);
                let clashes_then = clash(before, last) + clash(first, after);
                if gain > 1e-6 && clashes_then <= clashes_now {
                    order[i..=j].reverse();
                    improved = true;
                }
            }
        }
    }
    path = order.into_iter().map(|p| path[p]).collect();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::SplitMix64;

    /// A mix of `layers` random layers over `tracks` tracks: bounds around
    /// random cosines, some exact, uneven weights, ends anywhere in [−1, 1].
    fn random_mix(rng: &mut SplitMix64, layers: usize, tracks: usize) -> Mix {
        let layers = (0..layers)
            .map(|_| {
                let (mut lower, mut upper) = ([vec![0.0; tracks], vec![0.0; tracks]], [vec![0.0; tracks], vec![0.0; tracks]]);
                for end in 0..2 {
                    for t in 0..tracks {
                        let cosine = rng.symmetric_unit();
                        let slack = if rng.below(4) == 0 { 0.0 } else { rng.symmetric_unit().abs() * 0.5 };
                        (lower[end][t], upper[end][t]) = ((cosine - slack).max(-1.0), (cosine + slack).min(1.0));
                    }
                }
                LayerBounds { weight: rng.symmetric_unit().abs(), lower, upper, ends: rng.symmetric_unit() }
            })
            .collect();
        Mix::new(layers, tracks)
    }

    #[test]
    fn the_coarse_bounds_hold_every_tracks_closeness_between_them() {
        let mut rng = SplitMix64(5);
        for layers in [1, 2, 6, 13] {
            let mut mix = random_mix(&mut rng, layers, 300);
            for round in 0..2 {
                for alpha in [0.1, 0.3, 0.5, 0.77, 0.9] {
                    let step = mix.step(alpha);
                    for t in 0..300 {
                        let (low, high) = mix.coarse(&step, t);
                        let (lower, upper) = (mix.closeness(&step, t, false), mix.closeness(&step, t, true));
                        assert!(low <= lower && upper <= high, "{layers} layers, α {alpha}, track {t}: {low} ≤ {lower} ≤ {upper} ≤ {high}");
                    }
                }
                // Tighten some tracks to exact values, as a step's reads do, and check again.
                if round == 0 {
                    let tracks: Vec<usize> = (0..300).step_by(3).collect();
                    for layer in &mut mix.layers {
                        for end in 0..2 {
                            for &t in &tracks {
                                layer.upper[end][t] = layer.lower[end][t];
                            }
                        }
                    }
                    mix.update(tracks);
                }
            }
        }
    }

    #[test]
    fn the_floor_is_the_best_admitted_lower_bound() {
        let bounds: Vec<(f32, f32)> = (0..100).map(|i| (i as f32, i as f32 + 1.0)).collect();
        let pool: Vec<usize> = (1000..1100).collect();
        assert_eq!(best_admitted_floor(&bounds, &pool, &|_| true), Some(99.0));
        // Every one of the best few refused: the rule is checked on the rest.
        assert_eq!(best_admitted_floor(&bounds, &pool, &|item| item < 1010), Some(9.0));
        assert_eq!(best_admitted_floor(&bounds, &pool, &|_| false), None);
        assert_eq!(best_admitted_floor(&[], &[], &|_| true), None);
    }
}

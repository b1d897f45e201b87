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
//!    `O(tracks × layers)` per step. On layers with a search head
//!    ([`crate::search::layer_index`]) not even that: the cosines start as
//!    the head's bounds, closeness is monotone in them, and a step reads the
//!    exact rows only of the tracks whose upper bound reaches the best lower
//!    bound; the choice is the same as with every cosine exact.
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
struct EndCosines {
    weight: f32,
    /// Per end (`from`, `to`): bounds per track, equal to the exact cosine once read.
    lower: [Vec<f32>; 2],
    upper: [Vec<f32>; 2],
    /// Whether a track's cosines are exact; `None` once every track's are.
    known: Option<Vec<bool>>,
    /// What reads exact cosines: the layer and both ends as queries.
    index: Arc<LayerIndex>,
    queries: [QueryVector; 2],
    ends: f32,
}

impl EndCosines {
    fn new(index: Arc<LayerIndex>, weight: f32, from: usize, to: usize) -> Self {
        let queries = [index.query_vector(from), index.query_vector(to)];
        let mut ends = [0.0f32];
        index.exact_rows(&queries[0], &[to], &mut ends);
        let bounds = match (index.bounds(&queries[0]), index.bounds(&queries[1])) {
            (Some(a), Some(b)) => Some(([a.0, b.0], [a.1, b.1])),
            _ => None,
        };
        let (lower, upper, known) = match bounds {
            Some((lower, upper)) => {
                let known = Some(vec![false; index.len()]);
                (lower, upper, known)
            }
            // Both ends in one pass over the layer.
            None => {
                let both = index.exact_all_many(&queries);
                let exact = [both.column(0).to_vec(), both.column(1).to_vec()];
                (exact.clone(), exact, None)
            }
        };
        Self { weight, lower, upper, known, index, queries, ends: ends[0] }
    }

    /// Reads the exact cosines of `tracks` not read yet.
    fn refine(&mut self, tracks: &[usize]) {
        let Some(known) = &mut self.known else { return };
        let unknown: Vec<usize> = tracks.iter().copied().filter(|&t| !known[t]).collect();
        let mut values = vec![0.0f32; unknown.len()];
        for (end, query) in self.queries.iter().enumerate() {
            self.index.exact_rows(query, &unknown, &mut values);
            for (&t, &v) in unknown.iter().zip(&values) {
                (self.lower[end][t], self.upper[end][t]) = (v, v);
            }
        }
        for &t in &unknown {
            known[t] = true;
        }
    }

    /// Reads every exact cosine (one pass for both ends).
    fn complete(&mut self) {
        if self.known.take().is_some() {
            let both = self.index.exact_all_many(&self.queries);
            let exact = [both.column(0).to_vec(), both.column(1).to_vec()];
            (self.lower, self.upper) = (exact.clone(), exact);
        }
    }
}

/// The mix's layers between two ends (see the module doc).
struct Waypoints {
    layers: Vec<EndCosines>,
    tracks: usize,
}

/// With search heads, a step reads exact cosines for its candidates only
/// while they are fewer than one in this many tracks; more, and a full pass
/// per layer costs less.
const REFINE_MAX_ONE_IN: usize = 8;

impl Waypoints {
    fn new(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], from: usize, to: usize) -> Self {
        let layers =
            layer_weights(facets, weights).into_iter().map(|(layer, w)| EndCosines::new(engine.layer(layer), w, from, to)).collect();
        Self { layers, tracks: engine.snapshot().len() }
    }

    /// Every track's combined cosine with the waypoint at `alpha` (0 at the
    /// start, 1 at the end), from the lower (`upper` false) or upper bounds of
    /// the cosines; both are the exact value where the cosines are known. Monotone
    /// in the cosines, so bounds on them bound it, in float arithmetic too.
    fn closeness(&self, alpha: f32, upper: bool) -> Vec<f32> {
        let mut out = vec![0.0f32; self.tracks];
        for layer in &self.layers {
            let norm = ((1.0 - alpha).powi(2) + alpha.powi(2) + 2.0 * alpha * (1.0 - alpha) * layer.ends).max(1e-12).sqrt();
            let (near, far) = (layer.weight * (1.0 - alpha) / norm, layer.weight * alpha / norm);
            let [to_from, to_to] = if upper { &layer.upper } else { &layer.lower };
            for ((o, a), b) in out.iter_mut().zip(to_from).zip(to_to) {
                *o += near * a + far * b;
            }
        }
        out
    }

    /// The best of `pool` (items, each a set of tracks) by its tracks' mean
    /// closeness to the waypoint at `alpha`, preferring those `allowed`
    /// admits, ties to the earlier item: the same choice as with every
    /// cosine exact, reading only the rows of items whose upper bound reaches
    /// the best lower bound.
    fn best<'a>(
        &mut self,
        alpha: f32,
        pool: &[usize],
        tracks_of: &dyn Fn(usize) -> &'a [usize],
        allowed: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let preferred: Vec<usize> = pool.iter().copied().filter(|&item| allowed(item)).collect();
        let pool = if preferred.is_empty() { pool } else { &preferred[..] };
        let mean = |values: &[f32], item: usize| {
            let tracks = tracks_of(item);
            tracks.iter().map(|&t| values[t]).sum::<f32>() / tracks.len().max(1) as f32
        };
        if self.layers.iter().any(|l| l.known.is_some()) {
            let (lower, upper) = (self.closeness(alpha, false), self.closeness(alpha, true));
            let floor = pool.iter().map(|&item| mean(&lower, item)).fold(f32::NEG_INFINITY, f32::max);
            let candidates: Vec<usize> = pool.iter().copied().filter(|&item| mean(&upper, item) >= floor).collect();
            let rows: Vec<usize> = candidates.iter().flat_map(|&item| tracks_of(item).iter().copied()).collect();
            if rows.len() * REFINE_MAX_ONE_IN <= self.tracks {
                self.layers.iter_mut().for_each(|l| l.refine(&rows));
                let exact = self.closeness(alpha, false);
                return best_of(&candidates, &|item| mean(&exact, item));
            }
            self.layers.iter_mut().for_each(EndCosines::complete);
        }
        let exact = self.closeness(alpha, false);
        best_of(pool, &|item| mean(&exact, item))
    }
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

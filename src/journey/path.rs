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
//!    costs two passes per layer (the cosines to each end) and then
//!    `O(tracks × layers)` per step, with no further reading of the store.
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

use crate::search::{Facet, SearchEngine};
use crate::storage::catalog::Track;
use crate::works::Works;
use crate::works::similarity::layer_weights;

/// Each layer of the mix: its weight share, every track's cosine with both ends, and the ends' cosine.
struct Waypoints {
    layers: Vec<(f32, Vec<f32>, Vec<f32>, f32)>,
    tracks: usize,
}

impl Waypoints {
    fn new(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], from: usize, to: usize) -> Self {
        let layers = layer_weights(facets, weights)
            .into_iter()
            .map(|(layer, w)| {
                // Both ends in one pass over the layer.
                let index = engine.layer(layer);
                let both = index.exact_all_many(&[index.query_vector(from), index.query_vector(to)]);
                let (to_from, to_to) = (both.column(0).to_vec(), both.column(1).to_vec());
                let ends = to_from.get(to).copied().unwrap_or(0.0);
                (w, to_from, to_to, ends)
            })
            .collect();
        Self { layers, tracks: engine.snapshot().len() }
    }

    /// Every track's combined cosine with the waypoint at `alpha` (0 at the start, 1 at the end).
    fn closeness(&self, alpha: f32) -> Vec<f32> {
        let mut out = vec![0.0f32; self.tracks];
        for (w, to_from, to_to, ends) in &self.layers {
            let norm = ((1.0 - alpha).powi(2) + alpha.powi(2) + 2.0 * alpha * (1.0 - alpha) * ends).max(1e-12).sqrt();
            let (near, far) = (w * (1.0 - alpha) / norm, w * alpha / norm);
            for ((o, a), b) in out.iter_mut().zip(to_from).zip(to_to) {
                *o += near * a + far * b;
            }
        }
        out
    }
}

/// The position of each of `steps` waypoints between the ends.
fn alphas(steps: usize) -> impl Iterator<Item = f32> {
    (1..=steps).map(move |s| s as f32 / (steps + 1) as f32)
}

/// Whether two tracks share an album (untagged: a folder), as search's exclusion has it.
fn same_album(tracks: &[Track], a: usize, b: usize) -> bool {
    crate::search::same_album(tracks, a, b)
}

/// The best of `candidates` by `score` that `allowed` admits, else the best of all.
fn best_preferring(
    candidates: impl Iterator<Item = usize> + Clone,
    score: &dyn Fn(usize) -> f32,
    allowed: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let best = |pool: &mut dyn Iterator<Item = usize>| pool.max_by(|&x, &y| score(x).total_cmp(&score(y)).then(y.cmp(&x)));
    best(&mut candidates.clone().filter(|&c| allowed(c))).or_else(|| best(&mut candidates.clone()))
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
    let waypoints = Waypoints::new(engine, facets, weights, from, to);
    let mut used = vec![false; tracks.len()];
    (used[from], used[to]) = (true, true);
    let mut path = vec![from];
    let alphas: Vec<f32> = alphas(steps.min(tracks.len().saturating_sub(2))).collect();
    for (s, &alpha) in alphas.iter().enumerate() {
        let closeness = waypoints.closeness(alpha);
        let previous = path[path.len() - 1];
        let last = s + 1 == alphas.len();
        let allowed = |t: usize| !(same_album(tracks, previous, t) || (last && same_album(tracks, t, to)));
        let candidates = (0..tracks.len()).filter(|&t| !used[t]);
        let Some(next) = best_preferring(candidates, &|t| closeness[t], &allowed) else { break };
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
    let waypoints = Waypoints::new(engine, facets, weights, from, to);
    let head = |w: usize| works.works[w].tracks.first().copied();
    let shares_album = |a: usize, b: usize| matches!((head(a), head(b)), (Some(x), Some(y)) if same_album(tracks, x, y));
    let mut used = vec![false; works.works.len()];
    (used[first], used[last]) = (true, true);
    let mut chosen = vec![first];
    let alphas: Vec<f32> = alphas(steps.min(works.works.len().saturating_sub(2))).collect();
    for (s, &alpha) in alphas.iter().enumerate() {
        let closeness = waypoints.closeness(alpha);
        let work_closeness = |w: usize| {
            let movements = &works.works[w].tracks;
            movements.iter().map(|&t| closeness[t]).sum::<f32>() / movements.len().max(1) as f32
        };
        let previous = chosen[chosen.len() - 1];
        let final_step = s + 1 == alphas.len();
        let allowed = |w: usize| !(shares_album(previous, w) || (final_step && shares_album(w, last)));
        let candidates = (0..works.works.len()).filter(|&w| !used[w] && !works.works[w].tracks.is_empty());
        let Some(next) = best_preferring(candidates, &work_closeness, &allowed) else { break };
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

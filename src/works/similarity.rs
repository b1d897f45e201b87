//! Works like this one: similarity between whole works.
//!
//! A work is the set of its movements' vectors. Works are compared per layer
//! and per movement first and combined after, never by averaging vectors
//! across movements (DESIGN.md, "Units"). For each layer of the query's
//! facets, every query movement's cosine with every track comes from one
//! blocked matrix product over the layer's centred unit rows; the facet
//! weights combine them into one similarity per movement pair,
//! `S(i, j) = Σ wₗ·cosₗ(i, j) / Σ wₗ`, exactly as tracks are ranked
//! ([`crate::search`]); only then are movements matched, by a
//! [`WorkCombination`]:
//!
//! - [`WorkCombination::BestMatch`] (the default): each query movement's
//!   best match in the candidate work, averaged over the query's movements,
//!   `mean_i max_j S(i, j)`. A candidate's extra movements neither help nor hurt.
//! - [`WorkCombination::Symmetric`]: the mean of that and the reverse
//!   direction (each candidate movement's best match in the query), so
//!   candidate movements that match nothing count against it.
//! - [`WorkCombination::Weakest`]: the worst-matched query movement's best
//!   match, `min_i max_j S(i, j)` (a Hausdorff distance turned into a
//!   similarity): every movement must have a counterpart.
//! - [`WorkCombination::MeanVector`]: per layer, the cosine of the two
//!   works' mean unit vectors. It averages across movements before comparing,
//!   and is here to be measured against, not as a default.
//!
//! A result's per-facet breakdown is that facet's cosine at the movement
//! pairs the combined score chose, combined the same way, so the score is
//! `Σ w_f·facet_f / Σ w_f` as for tracks. The query's own work is never a
//! result. Reads the search engine's layer indexes; writes nothing.

use std::collections::HashMap;
use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use serde::Serialize;

use crate::insight::eval::{Evaluation, evaluate_rankings};
use crate::search::{Facet, SearchEngine};

/// Candidate tracks scored per matrix product: large enough for an
/// efficient product, small enough that a block of unit rows stays in cache.
const BLOCK_ROWS: usize = 512;

/// Query movements scored together in one pass over the layers (the pair
/// scores of a batch take `tracks × this × 4` bytes).
const BATCH_MOVEMENTS: usize = 128;

/// Fewer candidate rows than this per thread, and starting the thread costs more than it saves.
const PARALLEL_MIN_ROWS: usize = 4 * BLOCK_ROWS;

/// Up to this many query movements, a batch is scored straight from the f16
/// rows ([`kernel_cosines`]); more, and matrix products on converted rows
/// ([`combined_cosines`]) do the larger arithmetic faster.
const KERNEL_MAX_MOVEMENTS: usize = 32;

/// With search heads, a query reads the exact rows of its candidate works'
/// tracks only while they are fewer than one in this many tracks; more, and
/// one pass over every layer costs less.
const PRUNED_MAX_ONE_IN: usize = 8;

/// What similarity, radio and paths rank: single tracks, or whole works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Each track on its own.
    #[default]
    Track,
    /// Works, each the set of its movements.
    Work,
}

/// How the movement-pair similarities of two works become one score (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WorkCombination {
    /// Mean over the query's movements of each one's best match in the candidate.
    #[default]
    BestMatch,
    /// Mean of the best-match scores in both directions.
    Symmetric,
    /// The worst-matched query movement's best match.
    Weakest,
    /// Cosine of the works' mean unit vectors per layer (averages movements first; for comparison).
    MeanVector,
}

/// A work ranked by similarity to a query work, with its per-facet breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkResult {
    /// Index of the work (into the list the [`WorkSearch`] was built from).
    pub work: usize,
    /// Combined score.
    pub score: f32,
    /// Each facet's cosine at the chosen movement matches, combined the same way, in facet order.
    pub facet_scores: Vec<f32>,
}

/// Ranks works against works over one [`SearchEngine`] (use one per engine:
/// it keeps per-layer work vectors built from that engine's indexes).
pub struct WorkSearch {
    /// Tracks of each work, in movement order.
    work_tracks: Vec<Vec<usize>>,
    /// Per layer: each work's mean unit vector, normalised (for [`WorkCombination::MeanVector`]).
    mean_vectors: HashMap<usize, Array2<f32>>,
}

/// The distinct layers of `facets` with positive weight, each with its
/// share of the total weight (weights on one layer add up; negative weights
/// count as zero), as [`crate::search::QueryScores::rank`] combines them.
pub fn layer_weights(facets: &[Facet], weights: &[f32]) -> Vec<(usize, f32)> {
    let mut layers: Vec<(usize, f32)> = Vec::new();
    for (facet, &w) in facets.iter().zip(weights) {
        if w > 0.0 {
            match layers.iter_mut().find(|(l, _)| *l == facet.layer) {
                Some((_, sum)) => *sum += w,
                None => layers.push((facet.layer, w)),
            }
        }
    }
    let total: f32 = layers.iter().map(|&(_, w)| w).sum();
    layers.into_iter().map(|(l, w)| (l, w / total)).collect()
}

/// `Σ wₗ·cosₗ(t, q)` for every track `t` (rows) and query track `q` (columns),
/// over the weighted `layers`: one blocked matrix product per layer, on every core.
pub fn combined_cosines(engine: &mut SearchEngine, layers: &[(usize, f32)], queries: &[usize]) -> Array2<f32> {
    let n = engine.snapshot().len();
    let prepared: Vec<_> = layers
        .iter()
        .map(|&(layer, w)| {
            let index = engine.layer(layer);
            let query_rows = index.unit_rows(queries.iter().copied());
            (index, w, query_rows)
        })
        .collect();
    let piece = |rows: Range<usize>| {
        let mut out = Array2::<f32>::zeros((rows.len(), queries.len()));
        for start in rows.clone().step_by(BLOCK_ROWS) {
            let block = start..(start + BLOCK_ROWS).min(rows.end);
            let mut target = out.slice_mut(s![block.start - rows.start..block.end - rows.start, ..]);
            for (index, w, query_rows) in &prepared {
                let candidates = index.unit_rows(block.clone());
                ndarray::linalg::general_mat_mul(*w, &candidates, &query_rows.t(), 1.0, &mut target);
            }
        }
        out
    };
    let pieces = crate::parallel::map_ranges("work-scan", n, PARALLEL_MIN_ROWS, piece);
    let views: Vec<ArrayView2<'_, f32>> = pieces.iter().map(Array2::view).collect();
    ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| Array2::zeros((n, queries.len())))
}

/// [`combined_cosines`] read straight from the f16 store, one pass per
/// layer for all `queries` ([`crate::search::layer_index::LayerIndex::exact_all_many`]):
/// no converted copy of the rows, so a few queries cost about one track
/// search's full pass. Each cosine is the track search's own value.
pub fn kernel_cosines(engine: &mut SearchEngine, layers: &[(usize, f32)], queries: &[usize]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((engine.snapshot().len(), queries.len()));
    for &(layer, w) in layers {
        let index = engine.layer(layer);
        let vectors: Vec<_> = queries.iter().map(|&q| index.query_vector(q)).collect();
        out.scaled_add(w, &index.exact_all_many(&vectors));
    }
    out
}

/// One query work's movement matches in one candidate work, found from pair
/// scores `pairs[row][column]` (a row per candidate track, a column per query movement).
struct Matches {
    /// Per query movement: the row of its best match in the candidate.
    forward: Vec<usize>,
    /// Per candidate row: `(row, its best query movement)`; empty unless asked for.
    backward: Vec<(usize, usize)>,
    /// The query movement whose best match is weakest.
    weakest: usize,
}

impl Matches {
    fn find(pairs: &Array2<f32>, columns: Range<usize>, candidate_rows: impl Iterator<Item = usize>, with_backward: bool) -> Self {
        let mut forward = vec![(0, f32::NEG_INFINITY); columns.len()];
        let mut backward = Vec::new();
        for row_index in candidate_rows {
            let row = pairs.row(row_index);
            let mut best_back = (0, f32::NEG_INFINITY);
            for (i, &value) in row.slice(s![columns.clone()]).iter().enumerate() {
                if value > forward[i].1 {
                    forward[i] = (row_index, value);
                }
                if value > best_back.1 {
                    best_back = (i, value);
                }
            }
            if with_backward {
                backward.push((row_index, best_back.0));
            }
        }
        let weakest = forward.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1)).map_or(0, |(i, _)| i);
        Self { forward: forward.into_iter().map(|(row, _)| row).collect(), backward, weakest }
    }

    /// The combination of `value(query movement, candidate row)` over these matches.
    fn combine(&self, combination: WorkCombination, value: impl Fn(usize, usize) -> f32) -> f32 {
        let forward = || self.forward.iter().enumerate().map(|(i, &row)| value(i, row)).sum::<f32>() / self.forward.len().max(1) as f32;
        match combination {
            WorkCombination::BestMatch | WorkCombination::MeanVector => forward(),
            WorkCombination::Symmetric => {
                let backward = self.backward.iter().map(|&(row, i)| value(i, row)).sum::<f32>() / self.backward.len().max(1) as f32;
                0.5 * (forward() + backward)
            }
            WorkCombination::Weakest => self.forward.get(self.weakest).map_or(0.0, |&row| value(self.weakest, row)),
        }
    }
}

/// Orders results best first, ties to the lower work index.
fn best_first(a: &WorkResult, b: &WorkResult) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.work.cmp(&b.work))
}

/// The `k` best of `scores` (by work index) that `eligible` admits, best first, without breakdowns.
fn top_k(scores: impl Iterator<Item = (usize, f32)>, k: usize, eligible: impl Fn(usize) -> bool) -> Vec<WorkResult> {
    let mut top: Vec<WorkResult> = scores
        .filter(|&(w, s)| s.is_finite() && eligible(w))
        .map(|(work, score)| WorkResult { work, score, facet_scores: Vec::new() })
        .collect();
    if top.len() > k && k > 0 {
        top.select_nth_unstable_by(k - 1, best_first);
    }
    top.truncate(k);
    top.sort_unstable_by(best_first);
    top
}

impl WorkSearch {
    /// A search over works given as their tracks (snapshot indices) in movement order.
    pub fn new(work_tracks: Vec<Vec<usize>>) -> Self {
        Self { work_tracks, mean_vectors: HashMap::new() }
    }

    /// A search over inferred works.
    pub fn from_works(works: &crate::works::Works) -> Self {
        Self::new(works.works.iter().map(|w| w.tracks.clone()).collect())
    }

    /// Number of works.
    pub fn len(&self) -> usize {
        self.work_tracks.len()
    }

    /// Whether there are no works.
    pub fn is_empty(&self) -> bool {
        self.work_tracks.is_empty()
    }

    /// The works most similar to work `query`, best first, leaving out the
    /// query and the works `excluded` rejects.
    #[allow(clippy::too_many_arguments, reason = "the ranking options of a track query, plus the combination")]
    pub fn rank(
        &mut self,
        engine: &mut SearchEngine,
        query: usize,
        facets: &[Facet],
        weights: &[f32],
        combination: WorkCombination,
        k: usize,
        excluded: &dyn Fn(usize) -> bool,
    ) -> Vec<WorkResult> {
        self.rank_many(engine, &[query], facets, weights, combination, k, &|_, candidate| excluded(candidate)).pop().unwrap_or_default()
    }

    /// [`Self::rank`] for each of `queries` (in that order): queries share
    /// passes over the layers, [`BATCH_MOVEMENTS`] movements at a time.
    /// `excluded(query, candidate)` leaves a candidate out of a query's results.
    #[allow(clippy::too_many_arguments, reason = "the ranking options of a track query, plus the combination")]
    pub fn rank_many(
        &mut self,
        engine: &mut SearchEngine,
        queries: &[usize],
        facets: &[Facet],
        weights: &[f32],
        combination: WorkCombination,
        k: usize,
        excluded: &dyn Fn(usize, usize) -> bool,
    ) -> Vec<Vec<WorkResult>> {
        let ranked = self.rank_scores(engine, queries, (facets, weights), combination, k, excluded);
        self.with_breakdowns(engine, queries, (facets, weights), combination, ranked)
    }

    /// The rankings of [`Self::rank_many`] without their per-facet breakdowns.
    fn rank_scores(
        &mut self,
        engine: &mut SearchEngine,
        queries: &[usize],
        (facets, weights): (&[Facet], &[f32]),
        combination: WorkCombination,
        k: usize,
        excluded: &dyn Fn(usize, usize) -> bool,
    ) -> Vec<Vec<WorkResult>> {
        let layers = layer_weights(facets, weights);
        if layers.is_empty() || k == 0 {
            return vec![Vec::new(); queries.len()];
        }
        if combination == WorkCombination::MeanVector {
            for &(layer, _) in &layers {
                self.mean_vectors(engine, layer);
            }
        }
        let work_tracks = &self.work_tracks;
        let eligible = |query: usize| move |w: usize| w != query && !work_tracks[w].is_empty() && !excluded(query, w);
        if combination == WorkCombination::MeanVector {
            let mut out = Vec::with_capacity(queries.len());
            for &query in queries {
                let mut combined = Array1::<f32>::zeros(work_tracks.len());
                for (layer, w) in &layers {
                    if let Some(means) = self.mean_vectors.get(layer) {
                        combined.scaled_add(*w, &means.dot(&means.row(query)));
                    }
                }
                out.push(top_k(combined.iter().copied().enumerate(), k, eligible(query)));
            }
            return out;
        }
        if let &[query] = queries
            && let Some(ranked) = self.pruned_rank(engine, query, &layers, combination, k, &eligible(query))
        {
            return vec![ranked];
        }
        let mut out = Vec::with_capacity(queries.len());
        for batch in self.batches(queries) {
            let movements: Vec<usize> = batch.iter().flat_map(|&q| self.work_tracks[q].iter().copied()).collect();
            let pairs = if movements.len() <= KERNEL_MAX_MOVEMENTS {
                kernel_cosines(engine, &layers, &movements)
            } else {
                combined_cosines(engine, &layers, &movements)
            };
            let mut column = 0;
            for &query in &batch {
                let columns = column..column + self.work_tracks[query].len();
                column = columns.end;
                let scores = self.work_tracks.iter().enumerate().map(|(w, tracks)| {
                    if columns.is_empty() || tracks.is_empty() {
                        return (w, f32::NAN);
                    }
                    let matches = Matches::find(&pairs, columns.clone(), tracks.iter().copied(), combination == WorkCombination::Symmetric);
                    (w, matches.combine(combination, |i, t| pairs[[t, columns.start + i]]))
                });
                out.push(top_k(scores, k, eligible(query)));
            }
        }
        out
    }

    /// The exact top `k` works for one query work, reading few rows: on
    /// layers with a search head ([`crate::search::layer_index`]) every
    /// movement pair's cosine is first bounded from the head, and since every
    /// combination only takes means, maxima and minima of pair scores, bounds
    /// on pair scores bound each work's score. Only the works whose upper
    /// bound reaches the `k`-th best lower bound are scored exactly, with the
    /// same values, summed in the same order, as a full pass
    /// ([`kernel_cosines`]), so the results are identical. `None` when no
    /// layer has a head, the query is long, or the bounds leave too many
    /// candidates (then a full pass is cheaper).
    fn pruned_rank(
        &self,
        engine: &mut SearchEngine,
        query: usize,
        layers: &[(usize, f32)],
        combination: WorkCombination,
        k: usize,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<Vec<WorkResult>> {
        let movements = &self.work_tracks[query];
        let (n, m) = (engine.snapshot().len(), movements.len());
        let indexes: Vec<_> = layers.iter().map(|&(layer, w)| (engine.layer(layer), w)).collect();
        if m == 0 || m > KERNEL_MAX_MOVEMENTS || indexes.iter().all(|(index, _)| index.head_width().is_none()) {
            return None;
        }
        let (mut lower, mut upper) = (Array2::<f32>::zeros((n, m)), Array2::<f32>::zeros((n, m)));
        let mut vectors = Vec::with_capacity(indexes.len());
        for (index, w) in &indexes {
            let query_vectors: Vec<_> = movements.iter().map(|&t| index.query_vector(t)).collect();
            if index.head_width().is_some() {
                for (i, vector) in query_vectors.iter().enumerate() {
                    let (low, high) = index.bounds(vector)?;
                    lower.column_mut(i).scaled_add(*w, &ndarray::ArrayView1::from(&low));
                    upper.column_mut(i).scaled_add(*w, &ndarray::ArrayView1::from(&high));
                }
            } else {
                let exact = index.exact_all_many(&query_vectors);
                lower.scaled_add(*w, &exact);
                upper.scaled_add(*w, &exact);
            }
            vectors.push(query_vectors);
        }
        let symmetric = combination == WorkCombination::Symmetric;
        let score = |pairs: &Array2<f32>, rows: &mut dyn Iterator<Item = usize>| {
            Matches::find(pairs, 0..m, rows, symmetric).combine(combination, |i, row| pairs[[row, i]])
        };
        let works: Vec<usize> = (0..self.work_tracks.len()).filter(|&w| !self.work_tracks[w].is_empty() && eligible(w)).collect();
        let mut lows: Vec<f32> = works.iter().map(|&w| score(&lower, &mut self.work_tracks[w].iter().copied())).collect();
        // The k-th best lower bound: the k-th best score is at least this.
        let threshold = if lows.len() >= k { *lows.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a)).1 } else { f32::NEG_INFINITY };
        let candidates: Vec<usize> =
            works.into_iter().filter(|&w| score(&upper, &mut self.work_tracks[w].iter().copied()) >= threshold).collect();
        let tracks: Vec<usize> = candidates.iter().flat_map(|&w| self.work_tracks[w].iter().copied()).collect();
        if tracks.len() * PRUNED_MAX_ONE_IN > n {
            return None;
        }
        let mut pairs = Array2::<f32>::zeros((tracks.len(), m));
        for ((index, w), query_vectors) in indexes.iter().zip(&vectors) {
            let mut cosines = Array2::<f32>::zeros((tracks.len(), m));
            let mut column = vec![0.0f32; tracks.len()];
            for (i, vector) in query_vectors.iter().enumerate() {
                index.exact_rows(vector, &tracks, &mut column);
                cosines.column_mut(i).assign(&ndarray::ArrayView1::from(&column));
            }
            pairs.scaled_add(*w, &cosines);
        }
        let mut first_row = 0;
        let scores: Vec<(usize, f32)> = candidates
            .iter()
            .map(|&w| {
                let rows = first_row..first_row + self.work_tracks[w].len();
                first_row = rows.end;
                (w, score(&pairs, &mut rows.into_iter()))
            })
            .collect();
        Some(top_k(scores.into_iter(), k, |_| true))
    }

    /// How well work rankings retrieve works that share a label with the
    /// query (`labels` per work, see [`work_labels`]): P@k, mAP@k, nDCG@k
    /// and the rest beside their exact random expectation, as
    /// [`crate::insight::eval`] computes them for tracks. Every other work
    /// is a candidate; the query's own never is.
    #[allow(clippy::too_many_arguments, reason = "the ranking options of a track query, plus the combination")]
    pub fn evaluate(
        &mut self,
        engine: &mut SearchEngine,
        facets: &[Facet],
        weights: &[f32],
        combination: WorkCombination,
        labels: &[Option<String>],
        k: usize,
    ) -> Evaluation {
        let queries: Vec<usize> = (0..self.len()).collect();
        let rankings: Vec<Vec<usize>> = self
            .rank_scores(engine, &queries, (facets, weights), combination, self.len(), &|_, _| false)
            .into_iter()
            .map(|ranked| ranked.into_iter().map(|r| r.work).collect())
            .collect();
        // Works without tracks are no candidates.
        let empty = |_: usize, c: usize| self.work_tracks[c].is_empty();
        evaluate_rankings(&rankings, labels, k, &empty)
    }

    /// Splits `queries` into runs of at most [`BATCH_MOVEMENTS`] movements (a longer work is a run of its own).
    fn batches(&self, queries: &[usize]) -> Vec<Vec<usize>> {
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut size = 0;
        for &query in queries {
            let movements = self.work_tracks[query].len();
            match batches.last_mut() {
                Some(batch) if size + movements <= BATCH_MOVEMENTS => batch.push(query),
                _ => {
                    batches.push(vec![query]);
                    size = 0;
                }
            }
            size += movements;
        }
        batches
    }

    /// Fills each result's per-facet breakdown: every facet's cosine at the
    /// matches the combined score chose (for [`WorkCombination::MeanVector`],
    /// the facet's cosine of the mean vectors).
    fn with_breakdowns(
        &mut self,
        engine: &mut SearchEngine,
        queries: &[usize],
        (facets, weights): (&[Facet], &[f32]),
        combination: WorkCombination,
        mut results: Vec<Vec<WorkResult>>,
    ) -> Vec<Vec<WorkResult>> {
        let weighted = layer_weights(facets, weights);
        for (&query, ranked) in queries.iter().zip(&mut results) {
            if combination == WorkCombination::MeanVector {
                for result in ranked.iter_mut() {
                    result.facet_scores = facets
                        .iter()
                        .map(|f| {
                            let means = self.mean_vectors(engine, f.layer);
                            means.row(query).dot(&means.row(result.work))
                        })
                        .collect();
                }
                continue;
            }
            // Per facet layer: the cosines of every result's movements (rows) with the query's (columns).
            let movements = &self.work_tracks[query];
            let result_tracks: Vec<usize> = ranked.iter().flat_map(|r| self.work_tracks[r.work].iter().copied()).collect();
            let mut per_layer: HashMap<usize, Array2<f32>> = HashMap::new();
            for layer in facets.iter().map(|f| f.layer).chain(weighted.iter().map(|&(l, _)| l)) {
                per_layer.entry(layer).or_insert_with(|| {
                    let index = engine.layer(layer);
                    index.unit_rows(result_tracks.iter().copied()).dot(&index.unit_rows(movements.iter().copied()).t())
                });
            }
            let mut combined = Array2::<f32>::zeros((result_tracks.len(), movements.len()));
            for &(layer, w) in &weighted {
                if let Some(cosines) = per_layer.get(&layer) {
                    combined.scaled_add(w, cosines);
                }
            }
            let mut first_row = 0;
            for result in ranked.iter_mut() {
                let rows = first_row..first_row + self.work_tracks[result.work].len();
                first_row = rows.end;
                // The matches the ranking chose, found again from the same combined pair scores.
                let matches = Matches::find(&combined, 0..movements.len(), rows, combination == WorkCombination::Symmetric);
                result.facet_scores = facets
                    .iter()
                    .map(|f| per_layer.get(&f.layer).map_or(0.0, |cosines| matches.combine(combination, |i, row| cosines[[row, i]])))
                    .collect();
            }
        }
        results
    }

    /// Each work's normalised mean unit vector on `layer`, built on first use.
    fn mean_vectors(&mut self, engine: &mut SearchEngine, layer: usize) -> &Array2<f32> {
        let work_tracks = &self.work_tracks;
        self.mean_vectors.entry(layer).or_insert_with(|| {
            let index = engine.layer(layer);
            let dim = engine.snapshot().layer_dim(layer);
            let piece = |works: Range<usize>| {
                let mut means = Array2::<f32>::zeros((works.len(), dim));
                for (mut out, w) in means.rows_mut().into_iter().zip(works) {
                    let sum = index.unit_rows(work_tracks[w].iter().copied()).sum_axis(Axis(0));
                    let norm = sum.dot(&sum).sqrt();
                    if norm > 0.0 {
                        out.assign(&(sum / norm));
                    }
                }
                means
            };
            let pieces = crate::parallel::map_ranges("work-means", work_tracks.len(), 256, piece);
            let views: Vec<ArrayView2<'_, f32>> = pieces.iter().map(Array2::view).collect();
            ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| Array2::zeros((work_tracks.len(), dim)))
        })
    }
}

/// Each work's label: the one most of its labelled tracks carry (a tie goes
/// to the earliest movement's), `None` when none of them has one.
pub fn work_labels(works: &crate::works::Works, track_labels: &[Option<String>]) -> Vec<Option<String>> {
    works
        .works
        .iter()
        .map(|work| {
            let labels: Vec<&str> = work.tracks.iter().filter_map(|&t| track_labels.get(t)?.as_deref()).filter(|l| !l.is_empty()).collect();
            let count = |label: &str| labels.iter().filter(|&&l| l == label).count();
            labels.iter().copied().max_by(|a, b| count(a).cmp(&count(b)).then(std::cmp::Ordering::Greater)).map(str::to_string)
        })
        .collect()
}

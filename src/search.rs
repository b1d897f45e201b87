//! Similarity search: compare per layer first, combine after.
//!
//! Each facet (an aspect resolved to its layer, or a raw layer) scores every
//! track by cosine on its own layer; the combined score is
//! `Σ wᵢ·simᵢ / Σ wᵢ`. Layers are never averaged before comparing. A query
//! computes one similarity array per distinct layer and keeps them, so a
//! weight change only re-sums them: O(tracks × facets), no model run, no
//! vector read. Also finds the best-matching pair of windows between two
//! tracks for passage playback. Reads snapshots; writes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{Array2, ArrayView1, Axis};
use serde::Serialize;

use crate::snapshot::LibrarySnapshot;

/// One layer's vectors prepared for cosine search: optionally mean-centred,
/// then L2-normalised, so a dot product is the cosine.
pub struct LayerIndex {
    normalized: Array2<f32>,
}

impl LayerIndex {
    /// Prepares `matrix` (`tracks × dim`); with `center`, the library mean is
    /// subtracted first, which removes the direction all tracks share.
    pub fn build(mut matrix: Array2<f32>, center: bool) -> Self {
        if center && matrix.nrows() > 1 {
            if let Some(mean) = matrix.mean_axis(Axis(0)) {
                matrix -= &mean;
            }
        }
        for mut row in matrix.rows_mut() {
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
        Self { normalized: matrix }
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.normalized.nrows()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.normalized.nrows() == 0
    }

    /// Cosine of track `query` to every track.
    pub fn similarities(&self, query: usize) -> Vec<f32> {
        self.similarities_to(self.normalized.row(query))
    }

    /// Cosine of a normalised vector to every track.
    pub fn similarities_to(&self, query: ArrayView1<f32>) -> Vec<f32> {
        self.normalized.dot(&query).into_raw_vec_and_offset().0
    }

    /// The normalised vectors.
    pub fn vectors(&self) -> &Array2<f32> {
        &self.normalized
    }
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
    /// Leave out tracks of the query's work (work tag; album when untagged).
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

/// Per-facet similarity arrays for one query, cached for reranking.
pub struct QueryScores {
    /// The query track.
    pub query: usize,
    /// The facets, in order.
    pub facets: Vec<Facet>,
    facet_scores: Vec<Arc<Vec<f32>>>,
}

impl QueryScores {
    /// Ranks all tracks by `Σ wᵢ·simᵢ / Σ wᵢ` (weights per facet; negative
    /// weights count as zero), best first, leaving out the query and what
    /// `excluded` rejects. Cost: O(tracks × facets + k log k).
    pub fn rank(&self, weights: &[f32], k: usize, excluded: &dyn Fn(usize) -> bool) -> Vec<SearchResult> {
        let n = self.facet_scores.first().map_or(0, |s| s.len());
        let active: Vec<(usize, f32)> =
            weights.iter().copied().enumerate().filter(|&(f, w)| w > 0.0 && f < self.facet_scores.len()).collect();
        let weight_sum: f32 = active.iter().map(|&(_, w)| w).sum();
        if weight_sum <= 0.0 || k == 0 {
            return Vec::new();
        }
        let mut combined = vec![0.0f32; n];
        for &(facet, weight) in &active {
            let w = weight / weight_sum;
            for (c, s) in combined.iter_mut().zip(self.facet_scores[facet].iter()) {
                *c += w * s;
            }
        }
        let mut candidates: Vec<(usize, f32)> =
            combined.into_iter().enumerate().filter(|&(t, _)| t != self.query && !excluded(t)).collect();
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if candidates.len() > k {
            candidates.select_nth_unstable_by(k - 1, by_score);
            candidates.truncate(k);
        }
        candidates.sort_unstable_by(by_score);
        candidates
            .into_iter()
            .map(|(track, score)| SearchResult {
                track,
                score,
                facet_scores: self.facet_scores.iter().map(|s| s[track]).collect(),
            })
            .collect()
    }
}

/// Search over one snapshot; builds each layer's index on first use.
pub struct SearchEngine {
    snapshot: Arc<LibrarySnapshot>,
    center: bool,
    layers: HashMap<usize, Arc<LayerIndex>>,
}

impl SearchEngine {
    /// A search engine over `snapshot`; `center` turns on per-layer mean-centring.
    pub fn new(snapshot: Arc<LibrarySnapshot>, center: bool) -> Self {
        Self { snapshot, center, layers: HashMap::new() }
    }

    /// The snapshot searched.
    pub fn snapshot(&self) -> &Arc<LibrarySnapshot> {
        &self.snapshot
    }

    /// The prepared index of `layer`, building it if needed.
    pub fn layer(&mut self, layer: usize) -> Arc<LayerIndex> {
        let snapshot = &self.snapshot;
        let center = self.center;
        self.layers.entry(layer).or_insert_with(|| Arc::new(LayerIndex::build(snapshot.layer_matrix(layer), center))).clone()
    }

    /// Computes the similarity arrays of `query` for each facet (once per distinct layer).
    pub fn query(&mut self, query: usize, facets: &[Facet]) -> QueryScores {
        let mut per_layer: HashMap<usize, Arc<Vec<f32>>> = HashMap::new();
        let facet_scores = facets
            .iter()
            .map(|facet| {
                per_layer
                    .entry(facet.layer)
                    .or_insert_with(|| Arc::new(self.layer(facet.layer).similarities(query)))
                    .clone()
            })
            .collect();
        QueryScores { query, facets: facets.to_vec(), facet_scores }
    }

    /// The exclusion test for `query` as a closure over track indices.
    pub fn exclusion_filter(&self, query: usize, exclusion: Exclusion) -> impl Fn(usize) -> bool + '_ {
        move |candidate: usize| is_excluded(&self.snapshot.tracks, query, candidate, exclusion)
    }
}

/// Whether `candidate` is left out of `query`'s results under `exclusion`.
pub fn is_excluded(tracks: &[crate::catalog::Track], query: usize, candidate: usize, exclusion: Exclusion) -> bool {
    let (a, b) = (&tracks[query], &tracks[candidate]);
    (exclusion.same_album && a.tags.album.is_some() && a.tags.album == b.tags.album)
        || (exclusion.same_work && work_label(a).is_some() && work_label(a) == work_label(b))
}

/// The work a track belongs to: its work tag, else its album.
pub fn work_label(track: &crate::catalog::Track) -> Option<String> {
    track.tags.work.clone().or_else(|| track.tags.album.clone())
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
    let normalize = |m: Array2<f32>| LayerIndex::build(m, false).normalized;
    let similarity = normalize(query_windows).dot(&normalize(result_windows).t());
    let (index, &best) = similarity.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let (q, r) = (index / similarity.ncols(), index % similarity.ncols());
    Some(PassageMatch { query_start_s: query_starts[q], result_start_s: result_starts[r], similarity: best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn scores(arrays: Vec<Vec<f32>>) -> QueryScores {
        QueryScores {
            query: 0,
            facets: (0..arrays.len()).map(|i| Facet { name: format!("f{i}"), layer: i }).collect(),
            facet_scores: arrays.into_iter().map(Arc::new).collect(),
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
    }

    #[test]
    fn centring_removes_the_shared_direction() {
        // All rows share a large common offset; raw cosines are all near 1.
        let m = array![[10.0, 0.0, 1.0], [10.0, 0.0, -1.0], [10.0, 1.0, 0.0]];
        let raw = LayerIndex::build(m.clone(), false).similarities(0);
        assert!(raw[1] > 0.95);
        let centred = LayerIndex::build(m, true).similarities(0);
        assert!(centred[1] < 0.0);
        assert!((centred[0] - 1.0).abs() < 1e-6);
    }
}

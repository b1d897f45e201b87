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

use half::slice::HalfFloatSliceExt;
use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::snapshot::LibrarySnapshot;

/// Rows of `matrix` made unit length, after subtracting the column mean when
/// `center` is set, so that a dot product between rows is their (centred)
/// cosine. For in-memory features (maps, passages); library search reads the
/// store directly through [`LayerIndex`].
pub fn normalized_rows(mut matrix: Array2<f32>, center: bool) -> Array2<f32> {
    if center
        && matrix.nrows() > 1
        && let Some(mean) = matrix.mean_axis(Axis(0))
    {
        matrix -= &mean;
    }
    for mut row in matrix.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    matrix
}

/// Sentinel offset for a track whose row the store lacks (a consistent store has none).
const MISSING_ROW: usize = usize::MAX;

/// Fewer f16 values than this per thread, and starting the thread costs more
/// than it saves.
const PARALLEL_MIN_VALUES: usize = 1 << 21;

/// One layer prepared for exact cosine search straight from the memory-mapped
/// f16 store: no copy of the vectors, only the library mean (for centring)
/// and one inverse norm per track. With `q̂ = (q − μ)/|q − μ|`,
/// `cos(q, t) = (q̂·t − q̂·μ) / |t − μ|`, so a query is one pass over the
/// mapped rows and memory stays at the mapped size plus O(tracks).
pub struct LayerIndex {
    snapshot: Arc<LibrarySnapshot>,
    layer: usize,
    dim: usize,
    /// Element offset of each track's row in the layer's f16 data.
    row_offsets: Vec<usize>,
    /// The library mean (zero without centring).
    mean: Vec<f32>,
    /// `1 / |t − μ|` per track; 0 for zero or missing rows.
    inverse_norms: Vec<f32>,
}

impl LayerIndex {
    /// Prepares `layer` of `snapshot`; with `center`, the library mean is
    /// subtracted from every vector, which removes the direction all tracks share.
    pub fn build(snapshot: Arc<LibrarySnapshot>, layer: usize, center: bool) -> Self {
        let dim = snapshot.layer_dim(layer);
        let row_offsets: Vec<usize> =
            (0..snapshot.len()).map(|track| snapshot.layer_row_offset(layer, track).unwrap_or(MISSING_ROW)).collect();
        let data = snapshot.layer_data(layer);
        let mut row = vec![0.0f32; dim];
        let mut mean = vec![0.0f32; dim];
        let present = row_offsets.iter().filter(|&&o| o != MISSING_ROW).count();
        if center && present > 1 {
            let mut sum = vec![0.0f64; dim];
            for &offset in row_offsets.iter().filter(|&&o| o != MISSING_ROW) {
                data[offset..offset + dim].convert_to_f32_slice(&mut row);
                for (s, &v) in sum.iter_mut().zip(&row) {
                    *s += f64::from(v);
                }
            }
            for (m, s) in mean.iter_mut().zip(sum) {
                *m = (s / present as f64) as f32;
            }
        }
        let inverse_norms = row_offsets
            .iter()
            .map(|&offset| {
                if offset == MISSING_ROW {
                    return 0.0;
                }
                data[offset..offset + dim].convert_to_f32_slice(&mut row);
                let norm = row.iter().zip(&mean).map(|(&v, &m)| (v - m) * (v - m)).sum::<f32>().sqrt();
                if norm > 0.0 { 1.0 / norm } else { 0.0 }
            })
            .collect();
        Self { snapshot, layer, dim, row_offsets, mean, inverse_norms }
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.row_offsets.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.row_offsets.is_empty()
    }

    /// Cosine of track `query` to every track (all zero if its row is missing).
    pub fn similarities(&self, query: usize) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dim];
        if let Some(&offset) = self.row_offsets.get(query).filter(|&&o| o != MISSING_ROW) {
            self.snapshot.layer_data(self.layer)[offset..offset + self.dim].convert_to_f32_slice(&mut vector);
        }
        self.similarities_to(&vector)
    }

    /// Cosine of an (unnormalised, uncentred) vector to every track.
    fn similarities_to(&self, query: &[f32]) -> Vec<f32> {
        let mut unit: Vec<f32> = query.iter().zip(&self.mean).map(|(&q, &m)| q - m).collect();
        let norm = unit.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm == 0.0 || unit.len() != self.dim {
            return vec![0.0; self.len()];
        }
        unit.iter_mut().for_each(|v| *v /= norm);
        let unit_dot_mean: f32 = unit.iter().zip(&self.mean).map(|(u, m)| u * m).sum();
        let data = self.snapshot.layer_data(self.layer);
        let score = |offsets: &[usize], norms: &[f32], out: &mut [f32]| {
            f16_kernel::dots(data, offsets, self.dim, &unit, out);
            for (s, &inverse_norm) in out.iter_mut().zip(norms) {
                *s = (*s - unit_dot_mean) * inverse_norm;
            }
        };
        let piece = |rows: std::ops::Range<usize>| {
            let mut out = vec![0.0f32; rows.len()];
            score(&self.row_offsets[rows.clone()], &self.inverse_norms[rows], &mut out);
            out
        };
        crate::parallel::map_ranges("search-scan", self.len(), PARALLEL_MIN_VALUES / self.dim.max(1), piece).concat()
    }
}

/// Dot products of one f32 query with f16 rows of the store: an AVX2/F16C/FMA
/// kernel where the CPU has it (checked at run time), a portable loop otherwise.
mod f16_kernel {
    use half::f16;
    use half::slice::HalfFloatSliceExt;

    use super::MISSING_ROW;

    /// `out[i] = data[offsets[i]..][..dim] · query`, 0 for missing rows.
    pub fn dots(data: &[f16], offsets: &[usize], dim: usize, query: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the features the function is compiled for were just detected.
            unsafe { x86::dots(data, offsets, dim, query, out) };
            return;
        }
        let mut row = vec![0.0f32; dim];
        for (o, &offset) in out.iter_mut().zip(offsets) {
            *o = if offset == MISSING_ROW {
                0.0
            } else {
                data[offset..offset + dim].convert_to_f32_slice(&mut row);
                row.iter().zip(query).map(|(a, b)| a * b).sum()
            };
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        use half::f16;

        use super::MISSING_ROW;

        /// See [`super::dots`]; needs AVX2, FMA and F16C.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn dots(data: &[f16], offsets: &[usize], dim: usize, query: &[f32], out: &mut [f32]) {
            let body = dim / 32 * 32;
            for (o, &offset) in out.iter_mut().zip(offsets) {
                if offset == MISSING_ROW {
                    *o = 0.0;
                    continue;
                }
                let row = &data[offset..offset + dim];
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                while i < body {
                    for (lane, a) in acc.iter_mut().enumerate() {
                        let at = i + 8 * lane;
                        // SAFETY: `at + 8 <= body <= dim` = the lengths of `row` and `query`;
                        // unaligned loads are allowed for both.
                        unsafe {
                            let halves = _mm_loadu_si128(row.as_ptr().add(at).cast());
                            let q = _mm256_loadu_ps(query.as_ptr().add(at));
                            *a = _mm256_fmadd_ps(_mm256_cvtph_ps(halves), q, *a);
                        }
                    }
                    i += 32;
                }
                let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
                let mut lanes = [0.0f32; 8];
                // SAFETY: `lanes` holds exactly 8 f32.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
                let tail: f32 = row[body..].iter().zip(&query[body..]).map(|(a, b)| a.to_f32() * b).sum();
                *o = lanes.iter().sum::<f32>() + tail;
            }
        }
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
        self.layers.entry(layer).or_insert_with(|| Arc::new(LayerIndex::build(snapshot.clone(), layer, center))).clone()
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
/// Untagged files count as one album (and work) per folder, the way rips are
/// kept. Nothing is allocated: a rerank calls this for every track.
pub fn is_excluded(tracks: &[crate::catalog::Track], query: usize, candidate: usize, exclusion: Exclusion) -> bool {
    let (a, b) = (&tracks[query], &tracks[candidate]);
    let same = |group: fn(&crate::catalog::Track) -> Option<Group<'_>>| group(a).is_some_and(|g| Some(g) == group(b));
    (exclusion.same_album && same(album_group)) || (exclusion.same_work && same(work_group))
}

/// What tracks are grouped by for exclusion: a tag value, or (untagged) their folder.
/// A tag never equals a folder.
#[derive(PartialEq)]
enum Group<'a> {
    Tag(&'a str),
    Folder(&'a std::path::Path),
}

/// The album tag, else the file's folder.
fn album_group(track: &crate::catalog::Track) -> Option<Group<'_>> {
    track.tags.album.as_deref().map(Group::Tag).or_else(|| track.path.parent().map(Group::Folder))
}

/// The work label, else the file's folder.
fn work_group(track: &crate::catalog::Track) -> Option<Group<'_>> {
    work_label(track).map(Group::Tag).or_else(|| track.path.parent().map(Group::Folder))
}

/// The work a track belongs to: its work tag, else its album.
pub fn work_label(track: &crate::catalog::Track) -> Option<&str> {
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
        let track = |path: &str, album: Option<&str>| crate::catalog::Track {
            id: 0,
            path: path.into(),
            tags: crate::catalog::TrackTags { album: album.map(str::to_string), ..Default::default() },
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
        let album = Exclusion { same_album: true, same_work: false };
        assert!(is_excluded(&tracks, 0, 1, album), "same folder, no tags");
        assert!(!is_excluded(&tracks, 0, 2, album), "another folder");
        assert!(is_excluded(&tracks, 3, 4, album), "same album tag, any folder");
        assert!(!is_excluded(&tracks, 0, 3, album), "a tag never equals a folder");
        let work = Exclusion { same_album: false, same_work: true };
        assert!(is_excluded(&tracks, 0, 1, work) && !is_excluded(&tracks, 0, 2, work));
        assert!(!is_excluded(&tracks, 0, 1, Exclusion { same_album: false, same_work: false }));
    }

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
        let raw = normalized_rows(m.clone(), false);
        assert!(raw.row(0).dot(&raw.row(1)) > 0.95);
        let centred = normalized_rows(m, true);
        assert!(centred.row(0).dot(&centred.row(1)) < 0.0);
        assert!((centred.row(0).dot(&centred.row(0)) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn f16_kernel_matches_a_plain_dot_for_every_tail_length() {
        let mut rng = crate::prng::SplitMix64(7);
        for dim in [1, 7, 8, 31, 32, 33, 64, 200, 753, 768] {
            let rows = 5;
            let data: Vec<half::f16> = (0..rows * dim + 3).map(|_| half::f16::from_f32(rng.symmetric_unit())).collect();
            let query: Vec<f32> = (0..dim).map(|_| rng.symmetric_unit()).collect();
            // Rows at odd offsets, in any order, plus a missing one.
            let offsets = vec![3, 3 + 2 * dim, MISSING_ROW, 3 + dim, 0];
            let mut out = vec![f32::NAN; offsets.len()];
            f16_kernel::dots(&data, &offsets, dim, &query, &mut out);
            for (&offset, &got) in offsets.iter().zip(&out) {
                let expected: f32 = if offset == MISSING_ROW {
                    0.0
                } else {
                    data[offset..offset + dim].iter().zip(&query).map(|(a, b)| a.to_f32() * b).sum()
                };
                assert!((got - expected).abs() <= 1e-4 * (1.0 + expected.abs()), "dim {dim}: {got} vs {expected}");
            }
        }
    }
}

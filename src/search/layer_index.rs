//! One layer of a snapshot prepared for exact cosine search straight from
//! the memory-mapped f16 store.
//!
//! No copy of the vectors is made: the index keeps the library mean μ and
//! per-dimension scale σ⁻¹ ([`Normalization`]) and one inverse norm per
//! track. With `t′ = (t − μ)⊙σ⁻¹` and `q̂ = q′/|q′|`,
//! `cos(q′, t′) = ((q̂⊙σ⁻¹)·t − (q̂⊙σ⁻¹)·μ) / |t′|`, so scoring every track
//! is one pass over the mapped rows, whatever the normalisation.
//!
//! Large layers also keep a *head*: the leading principal coordinates of
//! every centred unit vector. Splitting unit vectors into those coordinates
//! and the rest, `cos(q, t) = c_q·c_t + r_q·r_t` with `|r_q·r_t| ≤ |r_q|·|r_t|`
//! (Cauchy–Schwarz), so the short head bounds every cosine, and a search
//! only reads the full rows of tracks whose bound can reach its results. Music embeddings concentrate their energy in few directions,
//! which makes the bounds tight; when they are not, a search falls back to
//! the full pass. Either way the result is exact.
//!
//! The head is stored in bands of 32 coordinates, each band of every track
//! contiguous, with each track's norm outside the first `b + 1` bands kept
//! for every band `b`: a band read tightens the bound it gives. A search
//! bounds every track from the first band alone (a quarter of a 128-wide
//! head) and reads the further bands only for the tracks still in reach:
//! the bounds tighten band by band, at the cost of the rows they concern.
#![allow(unsafe_code, reason = "the AVX2/F16C dot-product kernel, behind runtime feature detection")]

use std::sync::Arc;

use half::f16;
use half::slice::HalfFloatSliceExt;
use ndarray::{Array2, s};

use crate::search::head_cache::{CachedIndex, HeadFile, HeadParts, MappedHead};
use crate::storage::snapshot::LibrarySnapshot;

/// Sentinel offset for a track whose row the store lacks (a consistent store has none).
const MISSING_ROW: usize = usize::MAX;

/// Fewer f16 values than this per thread, and starting the thread costs more than it saves.
const PARALLEL_MIN_VALUES: usize = 1 << 21;

/// With [`Pruning::Auto`], layers with fewer stored values than this get no
/// head: a full pass over 13 such layers reads under 0.5 GB, about 20 ms.
const HEAD_MIN_VALUES: usize = 1 << 24;

/// Rows sampled to fit a head's axes.
const HEAD_SAMPLE_ROWS: usize = 2048;

/// The share of energy the first, narrow fit (64 axes, or fewer on small
/// layers) must keep before the widest head is fitted.
const HEAD_FEW_AXES_ENERGY: f32 = 0.8;

/// Head sizes grow in steps of the f16 kernel's 32-value body, and are stored in bands of this width.
pub(crate) const HEAD_STEP: usize = 32;

/// A head is as short as keeps this share of the unit vectors' energy on the sample.
const HEAD_ENERGY: f32 = 0.95;

/// Added to every head bound: covers the f16 rounding of head coordinates
/// (relative 2⁻¹¹ of a product of unit vectors) and the f32 rounding of
/// both the head and the full dot products, with room to spare. The full
/// pass computes `(q̂·t − q̂·μ)/|t − μ|`, whose rounding grows with
/// `|μ|/|t − μ|`: simulated, 2·10⁻⁵ at a ratio of 1,000 and 1.6·10⁻⁴ at
/// 3,000. Only a track within 1/3,000 of the library mean's length from the
/// mean could exceed the margin. `neighbours --all` adds it once to a weighted
/// sum of bounds whose weights sum to 1, from an f32 matrix product whose
/// rounding (about 10⁻⁶ for unit rows) it also covers.
pub(crate) const BOUND_MARGIN: f32 = 1e-3;

/// Added to every squared residual norm, so that f32 rounding of `1 − |c|²`
/// can only overstate a residual.
const RESIDUAL_SLACK: f32 = 1e-5;

/// How a layer's vectors are prepared before the cosine, fitted on the
/// library searched (no labels). On the development library (issue 21)
/// standardising beat centring on every retrieval figure and spread
/// suggestions more evenly (hubness), but it flattens the spectrum the
/// search heads prune by: on the 100,000-track benchmark a query over 13
/// layers reads every row again. So centring stays the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
pub enum Normalization {
    /// The stored vectors as they are.
    None,
    /// Minus the library mean: removes the direction all tracks share.
    #[default]
    Center,
    /// Minus the library mean, each dimension divided by its standard
    /// deviation over the library, so that no few loud dimensions decide
    /// the cosine on their own.
    Standardize,
}

impl Normalization {
    /// Its name, as `--normalization` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Center => "center",
            Self::Standardize => "standardize",
        }
    }
}

impl From<bool> for Normalization {
    /// `true` is the default normalisation, `false` none (the window's "normalise layers" switch).
    fn from(on: bool) -> Self {
        if on { Self::default() } else { Self::None }
    }
}

/// A dimension's scale is `1 / (σ + this × the largest σ)`, so that one
/// whose spread is f16 rounding is not blown up into the loudest.
const SCALE_FLOOR: f64 = 1e-6;

/// Whether an index keeps a head to bound cosines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pruning {
    /// A head for layers large enough that a full pass over a dozen of them
    /// costs more than a frame (at least 2²⁴ stored values).
    #[default]
    Auto,
    /// A head for every layer that can have one: at least 128 dimensions,
    /// twice as many tracks as head coordinates, and energy concentrated
    /// enough that the bounds can skip rows.
    Always,
    /// No head: every query reads every row.
    Never,
}

/// The leading principal coordinates of a layer's centred unit vectors.
struct LayerHead {
    /// `dim × width`, orthonormal columns.
    axes: Array2<f32>,
    /// The head's coordinates and rests.
    values: HeadValues,
}

/// A head's bands and rests: in memory as fitted, or mapped from its file.
enum HeadValues {
    /// Fitted here and kept in memory, when no file could be written.
    Owned {
        /// `bands[b]` holds coordinates `32b..32b + 32` of every track, `tracks × 32`, row-major.
        bands: Vec<Vec<f16>>,
        /// `rests[b][t]`: norm of track `t`'s unit vector outside the first
        /// `b + 1` bands, rounded up; the last is the residual outside the head.
        rests: Vec<Vec<f32>>,
    },
    /// The same, read from the layer's head file ([`crate::search::head_cache`]).
    Mapped(MappedHead),
}

impl LayerHead {
    fn width(&self) -> usize {
        self.axes.ncols()
    }

    /// How many bands of [`HEAD_STEP`] coordinates the head has.
    fn band_count(&self) -> usize {
        match &self.values {
            HeadValues::Owned { bands, .. } => bands.len(),
            HeadValues::Mapped(mapped) => mapped.band_count(),
        }
    }

    /// Band `b`: its coordinates of every track, `tracks × 32`.
    fn band(&self, b: usize) -> Option<&[f16]> {
        match &self.values {
            HeadValues::Owned { bands, .. } => bands.get(b).map(Vec::as_slice),
            HeadValues::Mapped(mapped) => mapped.band(b),
        }
    }

    /// Each track's norm outside the first `b + 1` bands, rounded up.
    fn rests(&self, b: usize) -> Option<&[f32]> {
        match &self.values {
            HeadValues::Owned { rests, .. } => rests.get(b).map(Vec::as_slice),
            HeadValues::Mapped(mapped) => mapped.rests(b),
        }
    }

    /// A head read from its file ([`crate::search::head_cache`]).
    fn mapped(axes: Array2<f32>, head: MappedHead) -> Self {
        Self { axes, values: HeadValues::Mapped(head) }
    }

    /// The residual outside the whole head, per track.
    fn residuals(&self) -> &[f32] {
        self.band_count().checked_sub(1).and_then(|last| self.rests(last)).unwrap_or(&[])
    }
}

/// Whether `pruning` asks for a head on a layer of `present` rows of `dim` values.
fn wants_head(pruning: Pruning, present: usize, dim: usize) -> bool {
    match pruning {
        Pruning::Auto => present * dim >= HEAD_MIN_VALUES,
        Pruning::Always => true,
        Pruning::Never => false,
    }
}

/// Changes to how a head is fitted that its settings below do not show;
/// each one makes every head file fitted before it stale.
const HEAD_FIT_VERSION: u64 = 1;

/// The head file of `layer` of `snapshot` under `normalization`, keyed by
/// everything its fit depends on.
fn head_file(snapshot: &LibrarySnapshot, layer: usize, normalization: Normalization) -> Option<HeadFile> {
    let fit = [
        HEAD_FIT_VERSION,
        HEAD_STEP as u64,
        HEAD_SAMPLE_ROWS as u64,
        u64::from(HEAD_ENERGY.to_bits()),
        u64::from(HEAD_FEW_AXES_ENERGY.to_bits()),
        u64::from(RESIDUAL_SLACK.to_bits()),
        SCALE_FLOOR.to_bits(),
    ];
    HeadFile::for_layer(snapshot, layer, normalization.name(), &fit)
}

/// Norms of a unit vector (of squared length `energy`) outside the first
/// `b + 1` bands of its head coordinates `coords`, for each band `b`,
/// rounded up: what the bounds of each band multiply.
fn band_rests(energy: f32, coords: &[f32]) -> impl Iterator<Item = f32> + '_ {
    coords.chunks(HEAD_STEP).scan(energy, |left, band| {
        *left -= band.iter().map(|v| v * v).sum::<f32>();
        Some((left.max(0.0) + RESIDUAL_SLACK).sqrt())
    })
}

/// See the module doc.
pub struct LayerIndex {
    snapshot: Arc<LibrarySnapshot>,
    layer: usize,
    normalization: Normalization,
    dim: usize,
    /// Element offset of each track's row in the layer's f16 data.
    row_offsets: Vec<usize>,
    /// The library mean (zero without centring).
    mean: Vec<f32>,
    /// Per-dimension scale σ⁻¹ (all 1 unless standardising).
    scale: Vec<f32>,
    /// `1 / |(t − μ)⊙σ⁻¹|` per track; 0 for zero or missing rows.
    inverse_norms: Vec<f32>,
    head: Option<LayerHead>,
}

/// A query track prepared for one layer: its normalised unit vector and head coordinates.
pub struct QueryVector {
    /// `q̂⊙σ⁻¹`: what the stored rows are multiplied by.
    row_weights: Vec<f32>,
    /// `row_weights · μ`.
    unit_dot_mean: f32,
    head: Vec<f32>,
    /// Norm outside the first `b + 1` head bands, per band `b`.
    rests: Vec<f32>,
}

impl QueryVector {
    /// The query's head coordinates (empty when the layer has no head).
    pub fn head(&self) -> &[f32] {
        &self.head
    }

    /// Norm of the query's unit vector outside the head, rounded up (0 without a head).
    pub fn residual(&self) -> f32 {
        self.rests.last().copied().unwrap_or(0.0)
    }

    /// Norm of the query's unit vector outside its first `bands` head bands,
    /// rounded up (the residual outside the head beyond the last band).
    pub fn outside(&self, bands: usize) -> f32 {
        self.rests.get(bands.saturating_sub(1)).copied().unwrap_or_else(|| self.residual())
    }
}

impl LayerIndex {
    /// Prepares `layer` of `snapshot` with [`Pruning::Auto`], its vectors
    /// normalised as `normalization` says (`true`: the default, `false`: none).
    pub fn build(snapshot: Arc<LibrarySnapshot>, layer: usize, normalization: impl Into<Normalization>) -> Self {
        Self::build_with(snapshot, layer, normalization, Pruning::Auto)
    }

    /// [`Self::build`] with a choice of pruning. A layer that gets a head
    /// maps it from its file when the file was fitted on this library, and
    /// otherwise fits it and writes the file ([`crate::search::head_cache`]).
    pub fn build_with(snapshot: Arc<LibrarySnapshot>, layer: usize, normalization: impl Into<Normalization>, pruning: Pruning) -> Self {
        let normalization = normalization.into();
        let dim = snapshot.layer_dim(layer);
        let row_offsets: Vec<usize> =
            (0..snapshot.len()).map(|track| snapshot.layer_row_offset(layer, track).unwrap_or(MISSING_ROW)).collect();
        let present = row_offsets.iter().filter(|&&o| o != MISSING_ROW).count();
        let head_file = wants_head(pruning, present, dim).then(|| head_file(&snapshot, layer, normalization)).flatten();
        if let Some(cached) = head_file.as_ref().and_then(|file| file.load(row_offsets.len(), dim)) {
            let CachedIndex { mean, scale, inverse_norms, axes, head } = cached;
            let head = Some(LayerHead::mapped(axes, head));
            return Self { snapshot, layer, normalization, dim, row_offsets, mean, scale, inverse_norms, head };
        }
        let data = snapshot.layer_data(layer);
        let mut row = vec![0.0f32; dim];
        let mut mean = vec![0.0f32; dim];
        let mut scale = vec![1.0f32; dim];
        if normalization != Normalization::None && present > 1 {
            let (mut sum, mut squares) = (vec![0.0f64; dim], vec![0.0f64; dim]);
            for &offset in row_offsets.iter().filter(|&&o| o != MISSING_ROW) {
                data[offset..offset + dim].convert_to_f32_slice(&mut row);
                for ((s, q), &v) in sum.iter_mut().zip(&mut squares).zip(&row) {
                    *s += f64::from(v);
                    *q += f64::from(v) * f64::from(v);
                }
            }
            let count = present as f64;
            for (m, s) in mean.iter_mut().zip(&sum) {
                *m = (s / count) as f32;
            }
            if normalization == Normalization::Standardize {
                let deviations: Vec<f64> =
                    sum.iter().zip(&squares).map(|(s, q)| (q / count - (s / count).powi(2)).max(0.0).sqrt()).collect();
                let floor = SCALE_FLOOR * deviations.iter().copied().fold(0.0, f64::max);
                for (out, deviation) in scale.iter_mut().zip(deviations) {
                    *out = if deviation + floor > 0.0 { (1.0 / (deviation + floor)) as f32 } else { 1.0 };
                }
            }
        }
        let inverse_norms = row_offsets
            .iter()
            .map(|&offset| {
                if offset == MISSING_ROW {
                    return 0.0;
                }
                data[offset..offset + dim].convert_to_f32_slice(&mut row);
                let norm = row.iter().zip(&mean).zip(&scale).map(|((&v, &m), &s)| ((v - m) * s).powi(2)).sum::<f32>().sqrt();
                if norm > 0.0 { 1.0 / norm } else { 0.0 }
            })
            .collect();
        let mut index = Self { snapshot, layer, normalization, dim, row_offsets, mean, scale, inverse_norms, head: None };
        if wants_head(pruning, present, dim) {
            index.head = index.fit_head().map(|head| index.kept(head, head_file.as_ref()));
        }
        index
    }

    /// This index with the head `pruning` asks for, when it has none and
    /// `pruning` wants one (`None` otherwise): the means and norms are kept,
    /// so this costs only the head's fit, or only mapping its file.
    pub fn with_head(&self, pruning: Pruning) -> Option<Self> {
        if self.head.is_some() || !wants_head(pruning, self.present(), self.dim) {
            return None;
        }
        let mut index = Self {
            snapshot: self.snapshot.clone(),
            layer: self.layer,
            normalization: self.normalization,
            dim: self.dim,
            row_offsets: self.row_offsets.clone(),
            mean: self.mean.clone(),
            scale: self.scale.clone(),
            inverse_norms: self.inverse_norms.clone(),
            head: None,
        };
        let head_file = head_file(&self.snapshot, self.layer, self.normalization);
        index.head = match head_file.as_ref().and_then(|file| file.load(self.len(), self.dim)) {
            Some(cached) => Some(LayerHead::mapped(cached.axes, cached.head)),
            None => index.fit_head().map(|head| index.kept(head, head_file.as_ref())),
        };
        index.head.is_some().then_some(index)
    }

    /// `head`, just fitted, written to its file and served from a map of
    /// it; kept in memory as it is when there is no file or it cannot be
    /// written (a read-only data folder, a full disk).
    fn kept(&self, head: LayerHead, file: Option<&HeadFile>) -> LayerHead {
        let (Some(file), HeadValues::Owned { bands, rests }) = (file, &head.values) else { return head };
        let parts = HeadParts { mean: &self.mean, scale: &self.scale, inverse_norms: &self.inverse_norms, axes: &head.axes, bands, rests };
        if let Err(e) = file.store(&parts) {
            // Once per process: a read-only data folder would say it for every layer.
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                log::debug!("could not keep the search head in {}: {e}", file.path().display());
            } else {
                log::warn!("could not keep search heads beside the store ({}: {e}); they stay in memory", file.path().display());
            }
            return head;
        }
        match file.load(self.len(), self.dim) {
            Some(cached) => LayerHead::mapped(cached.axes, cached.head),
            None => {
                log::warn!("the search head just written to {} does not read back; it stays in memory", file.path().display());
                head
            }
        }
    }

    /// Tracks with a row.
    fn present(&self) -> usize {
        self.row_offsets.iter().filter(|&&o| o != MISSING_ROW).count()
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.row_offsets.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.row_offsets.is_empty()
    }

    /// How many head coordinates bound this layer's cosines, if it has a head.
    pub fn head_width(&self) -> Option<usize> {
        self.head.as_ref().map(LayerHead::width)
    }

    /// Whether the head is served from its file ([`crate::search::head_cache`]);
    /// `false` without a head or when it could only be kept in memory.
    pub fn head_mapped(&self) -> bool {
        self.head.as_ref().is_some_and(|head| matches!(head.values, HeadValues::Mapped(_)))
    }

    /// How many bands of 32 coordinates the head is stored in (0 without a head).
    pub fn head_bands(&self) -> usize {
        self.head.as_ref().map_or(0, LayerHead::band_count)
    }

    /// Values per stored row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The first `bands` head bands of the tracks in `tracks` as rows of a
    /// matrix (`tracks × 32·bands`), with each track's norm outside them,
    /// rounded up (as the bounds of a search use them), if the layer has a
    /// head of that many bands.
    pub fn head_rows(&self, tracks: std::ops::Range<usize>, bands: usize) -> Option<(Array2<f32>, &[f32])> {
        let head = self.head.as_ref()?;
        let outside = head.rests(bands.checked_sub(1)?)?.get(tracks.clone())?;
        let mut rows = Array2::<f32>::zeros((tracks.len(), bands * HEAD_STEP));
        for b in 0..bands {
            let coords = head.band(b)?.get(tracks.start * HEAD_STEP..tracks.end * HEAD_STEP)?;
            for (mut row, values) in rows.rows_mut().into_iter().zip(coords.chunks_exact(HEAD_STEP)) {
                values.convert_to_f32_slice(row.as_slice_mut()?.get_mut(b * HEAD_STEP..(b + 1) * HEAD_STEP)?);
            }
        }
        Some((rows, outside))
    }

    /// Cosine of track `query` to every track (all zero if its row is missing).
    pub fn similarities(&self, query: usize) -> Vec<f32> {
        self.exact_all(&self.query_vector(query))
    }

    /// Centred unit vectors of `tracks` as rows of a matrix (zero rows for
    /// missing or zero vectors): a block of rows for matrix products, such as
    /// many queries at once ([`crate::works::similarity`]).
    pub fn unit_rows(&self, tracks: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
        let data = self.snapshot.layer_data(self.layer);
        let mut rows = Array2::<f32>::zeros((tracks.len(), self.dim));
        for (mut out, track) in rows.rows_mut().into_iter().zip(tracks) {
            let (Some(&offset), Some(&inverse_norm)) = (self.row_offsets.get(track), self.inverse_norms.get(track)) else {
                continue;
            };
            if offset == MISSING_ROW || inverse_norm == 0.0 {
                continue;
            }
            if let Some(out) = out.as_slice_mut() {
                data[offset..offset + self.dim].convert_to_f32_slice(out);
                for ((v, &m), &s) in out.iter_mut().zip(&self.mean).zip(&self.scale) {
                    *v = (*v - m) * s * inverse_norm;
                }
            }
        }
        rows
    }

    /// Fits the head's axes on a sample of rows and projects every row. The
    /// head is as short as keeps [`HEAD_ENERGY`] of the sample's energy
    /// (in steps of 32, at most a quarter of the layer); a layer that needs
    /// more gets no head, since its bounds would be too loose to skip rows.
    fn fit_head(&self) -> Option<LayerHead> {
        let most = self.dim / 4 / HEAD_STEP * HEAD_STEP;
        let n = self.len();
        if most == 0 || n < 2 * most {
            return None;
        }
        let sample = self.unit_rows((0..n).step_by(n.div_ceil(HEAD_SAMPLE_ROWS)));
        let total: f32 = sample.iter().map(|v| v * v).sum();
        // Fit a few axes first: learned embeddings usually need no more. Only
        // when those already hold most of the energy can the widest head
        // reach the target, and only then is the larger fit worth its time.
        let mut axes = None;
        let few = (2 * HEAD_STEP).min(most);
        for dims in [few, most] {
            let principal = match crate::pca::fit(&sample, dims) {
                Ok((principal, _)) => principal,
                Err(e) => {
                    log::warn!("layer {}: no search head ({e}); queries read every row", self.layer);
                    return None;
                }
            };
            // PCA returns fewer axes than asked when the sample has fewer rows.
            let fitted = principal.axes.ncols();
            let coords = sample.dot(&principal.axes);
            let width = (HEAD_STEP..=fitted)
                .step_by(HEAD_STEP)
                .find(|&w| coords.slice(s![.., ..w]).iter().map(|v| v * v).sum::<f32>() >= HEAD_ENERGY * total);
            if let Some(width) = width {
                axes = Some(principal.axes.slice(s![.., ..width]).to_owned());
                break;
            }
            let kept = coords.iter().map(|v| v * v).sum::<f32>() / total.max(f32::MIN_POSITIVE);
            if dims == most || kept < HEAD_FEW_AXES_ENERGY {
                log::debug!("layer {}: {dims} principal axes keep {kept:.2} of the energy; no search head", self.layer);
                break;
            }
        }
        let axes = axes?;
        let bands = axes.ncols() / HEAD_STEP;
        // Per band: its coordinates and the rests, for a range of tracks.
        let piece = |tracks: std::ops::Range<usize>| -> Vec<(Vec<f16>, Vec<f32>)> {
            let mut out: Vec<(Vec<f16>, Vec<f32>)> =
                (0..bands).map(|_| (Vec::with_capacity(tracks.len() * HEAD_STEP), Vec::with_capacity(tracks.len()))).collect();
            for block in tracks.clone().step_by(256).map(|start| start..(start + 256).min(tracks.end)) {
                let units = self.unit_rows(block);
                let head = units.dot(&axes);
                for (unit, head) in units.rows().into_iter().zip(head.rows()) {
                    let head = head.to_vec();
                    let rests = band_rests(unit.dot(&unit), &head);
                    for ((coords, rest_list), (values, rest)) in out.iter_mut().zip(head.chunks(HEAD_STEP).zip(rests)) {
                        coords.extend(values.iter().map(|&v| f16::from_f32(v)));
                        rest_list.push(rest);
                    }
                }
            }
            out
        };
        let mut pieces = crate::parallel::map_ranges("search-head", n, PARALLEL_MIN_VALUES / self.dim, piece);
        let (bands, rests) = (0..bands)
            .map(|b| crate::parallel::concat_pairs(pieces.iter_mut().map(|piece| std::mem::take(&mut piece[b])).collect()))
            .unzip();
        Some(LayerHead { axes, values: HeadValues::Owned { bands, rests } })
    }

    /// Prepares track `query` (a zero vector if its row is missing).
    pub fn query_vector(&self, query: usize) -> QueryVector {
        let unit = self.unit_rows(std::iter::once(query)).into_raw_vec_and_offset().0;
        let row_weights: Vec<f32> = unit.iter().zip(&self.scale).map(|(u, s)| u * s).collect();
        let unit_dot_mean = row_weights.iter().zip(&self.mean).map(|(w, m)| w * m).sum();
        let (head, rests) = match &self.head {
            Some(head) => {
                let coords = ndarray::ArrayView1::from(&unit).dot(&head.axes).to_vec();
                let rests = band_rests(unit.iter().map(|v| v * v).sum(), &coords).collect();
                (coords, rests)
            }
            None => (Vec::new(), Vec::new()),
        };
        QueryVector { row_weights, unit_dot_mean, head, rests }
    }

    /// Exact cosines of `tracks` to the query, written to `out`. The same
    /// arithmetic as [`Self::exact_all`], so both give identical values.
    pub fn exact_rows(&self, query: &QueryVector, tracks: &[usize], out: &mut [f32]) {
        let offsets: Vec<usize> = tracks.iter().map(|&t| self.row_offsets[t]).collect();
        f16_kernel::dots(self.snapshot.layer_data(self.layer), offsets.iter().copied(), self.dim, &query.row_weights, out);
        for (s, &t) in out.iter_mut().zip(tracks) {
            *s = (*s - query.unit_dot_mean) * self.inverse_norms[t];
        }
    }

    /// Exact cosines of every track to the query: one pass over the layer, on every core.
    pub fn exact_all(&self, query: &QueryVector) -> Vec<f32> {
        let data = self.snapshot.layer_data(self.layer);
        let piece = |rows: std::ops::Range<usize>| {
            let mut out = vec![0.0f32; rows.len()];
            f16_kernel::dots(data, self.row_offsets[rows.clone()].iter().copied(), self.dim, &query.row_weights, &mut out);
            for (s, &inverse_norm) in out.iter_mut().zip(&self.inverse_norms[rows]) {
                *s = (*s - query.unit_dot_mean) * inverse_norm;
            }
            out
        };
        crate::parallel::map_ranges("search-scan", self.len(), PARALLEL_MIN_VALUES / self.dim.max(1), piece).concat()
    }

    /// Exact cosines of every track to each of `queries`, `tracks × queries`
    /// (row `t`: track `t`'s cosine with each query, in order): one pass over
    /// the layer for all of them, each row converted from f16 once. Every
    /// value is identical to [`Self::exact_all`]'s for that query.
    pub fn exact_all_many(&self, queries: &[QueryVector]) -> Array2<f32> {
        let data = self.snapshot.layer_data(self.layer);
        let weights: Vec<&[f32]> = queries.iter().map(|q| q.row_weights.as_slice()).collect();
        let m = queries.len();
        let piece = |rows: std::ops::Range<usize>| {
            let mut out = vec![0.0f32; rows.len() * m];
            f16_kernel::dots_many(data, self.row_offsets[rows.clone()].iter().copied(), self.dim, &weights, &mut out);
            for (scores, &inverse_norm) in out.chunks_exact_mut(m.max(1)).zip(&self.inverse_norms[rows]) {
                for (s, query) in scores.iter_mut().zip(queries) {
                    *s = (*s - query.unit_dot_mean) * inverse_norm;
                }
            }
            out
        };
        let per_thread = PARALLEL_MIN_VALUES / (self.dim * m).max(1);
        let values = crate::parallel::map_ranges("search-scan", self.len(), per_thread.max(1), piece).concat();
        Array2::from_shape_vec((self.len(), m), values).unwrap_or_else(|_| Array2::zeros((self.len(), m)))
    }

    /// The start of a search's bounds, if the layer has a head: every
    /// track's dot product with the query on the head's first band and the
    /// slack around it, `(dots, slacks)`, so that the cosine lies within
    /// `dot ∓ slack`. One pass over the first band, on every core.
    pub fn first_band(&self, query: &QueryVector) -> Option<(Vec<f32>, Vec<f32>)> {
        let head = self.head.as_ref()?;
        let (band, rests, query_rest) = (head.band(0)?, head.rests(0)?, *query.rests.first()?);
        let piece = |rows: std::ops::Range<usize>| {
            let mut dots = vec![0.0f32; rows.len()];
            f16_kernel::band_dots(band, |i| rows.start + i, &query.head[..HEAD_STEP], &mut dots);
            let slacks = rests[rows].iter().map(|&rest| query_rest * rest + BOUND_MARGIN).collect();
            (dots, slacks)
        };
        let pieces = crate::parallel::map_ranges("search-head", self.len(), PARALLEL_MIN_VALUES / HEAD_STEP, piece);
        Some(crate::parallel::concat_pairs(pieces))
    }

    /// Tightens the bounds of `tracks` (from [`Self::first_band`], indexed by
    /// track) by head band `band`: adds the band's dot product to each
    /// track's `dots` and sets its slack to the norm outside the bands read.
    /// Each track must have read exactly the bands before `band`.
    pub fn add_band(&self, query: &QueryVector, band: usize, tracks: &[usize], dots: &mut [f32], slacks: &mut [f32]) {
        let Some(head) = &self.head else { return };
        let (Some(coords), Some(rests), Some(&query_rest)) = (head.band(band), head.rests(band), query.rests.get(band)) else {
            return;
        };
        let mut added = vec![0.0f32; tracks.len()];
        let query_band = &query.head[band * HEAD_STEP..(band + 1) * HEAD_STEP];
        f16_kernel::band_dots(coords, |i| tracks[i], query_band, &mut added);
        for (&t, &dot) in tracks.iter().zip(&added) {
            dots[t] += dot;
            slacks[t] = query_rest * rests[t] + BOUND_MARGIN;
        }
    }

    /// Lower and upper bounds of every track's cosine from the whole head,
    /// if the layer has one: `c_q·c_t ∓ (|r_q|·|r_t| + margin)`, the head's
    /// dot product summed band by band as [`Self::add_band`] sums it.
    pub fn bounds(&self, query: &QueryVector) -> Option<(Vec<f32>, Vec<f32>)> {
        self.bounds_many(std::slice::from_ref(query))?.pop()
    }

    /// [`Self::bounds`] for each of `queries`, the head read a cache-sized
    /// block of rows at a time for all of them; the values are identical.
    pub fn bounds_many(&self, queries: &[QueryVector]) -> Option<Vec<(Vec<f32>, Vec<f32>)>> {
        /// Rows per block: one band of them (64 KB) stays in cache for every query.
        const BLOCK: usize = 1024;
        let head = self.head.as_ref()?;
        let piece = |rows: std::ops::Range<usize>| {
            let mut dots = vec![vec![0.0f32; rows.len()]; queries.len()];
            let mut added = vec![0.0f32; BLOCK];
            for start in rows.clone().step_by(BLOCK) {
                let block = start..(start + BLOCK).min(rows.end);
                let at = block.start - rows.start..block.end - rows.start;
                for (b, band) in (0..head.band_count()).filter_map(|b| Some((b, head.band(b)?))) {
                    for (query, dots) in queries.iter().zip(&mut dots) {
                        let added = &mut added[..block.len()];
                        let query_band = &query.head[b * HEAD_STEP..(b + 1) * HEAD_STEP];
                        f16_kernel::band_dots(band, |i| block.start + i, query_band, added);
                        for (dot, &band_dot) in dots[at.clone()].iter_mut().zip(added.iter()) {
                            *dot += band_dot;
                        }
                    }
                }
            }
            queries
                .iter()
                .zip(&dots)
                .map(|(query, dots)| {
                    dots.iter()
                        .zip(&head.residuals()[rows.clone()])
                        .map(|(&dot, &residual)| {
                            let slack = query.residual() * residual + BOUND_MARGIN;
                            (dot - slack, dot + slack)
                        })
                        .unzip()
                })
                .collect::<Vec<(Vec<f32>, Vec<f32>)>>()
        };
        let per_thread = PARALLEL_MIN_VALUES / (head.width() * queries.len()).max(1);
        let mut pieces = crate::parallel::map_ranges("search-head", self.len(), per_thread.max(1), piece);
        // Each query's bounds, joined across the pieces.
        let joined = (0..queries.len())
            .map(|q| crate::parallel::concat_pairs(pieces.iter_mut().map(|piece| std::mem::take(&mut piece[q])).collect()))
            .collect();
        Some(joined)
    }
}

/// Dot products of one f32 query with f16 rows: an AVX2/F16C/FMA kernel
/// where the CPU has it (checked at run time), a portable loop otherwise.
mod f16_kernel {
    use half::f16;
    use half::slice::HalfFloatSliceExt;

    use super::{HEAD_STEP, MISSING_ROW};

    /// `out[i] = band[32·row(i)..][..32] · query`: dot products with rows
    /// of one head band. Eight rows at a time: with rows this short, summing
    /// each row's lanes on its own would cost as much as its products. Rows
    /// a few groups ahead are prefetched, since a search's candidates are
    /// scattered over the band.
    pub fn band_dots(band: &[f16], row: impl Fn(usize) -> usize, query: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the features the function is compiled for were just detected.
            unsafe { x86::band_dots(band, row, query, out) };
            return;
        }
        let mut values = [0.0f32; HEAD_STEP];
        for (i, o) in out.iter_mut().enumerate() {
            band[row(i) * HEAD_STEP..][..HEAD_STEP].convert_to_f32_slice(&mut values);
            *o = values.iter().zip(query).map(|(a, b)| a * b).sum();
        }
    }

    /// `out[i] = data[offsets[i]..][..dim] · query`, 0 for missing rows.
    pub fn dots(data: &[f16], offsets: impl Iterator<Item = usize>, dim: usize, query: &[f32], out: &mut [f32]) {
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
        for (o, offset) in out.iter_mut().zip(offsets) {
            *o = if offset == MISSING_ROW {
                0.0
            } else {
                data[offset..offset + dim].convert_to_f32_slice(&mut row);
                row.iter().zip(query).map(|(a, b)| a * b).sum()
            };
        }
    }

    /// `out[i·m + j] = data[offsets[i]..][..dim] · queries[j]` for the `m`
    /// queries, each row read and converted once; every value equals what
    /// [`dots`] gives for that query alone (the same sums in the same order).
    pub fn dots_many(data: &[f16], offsets: impl Iterator<Item = usize>, dim: usize, queries: &[&[f32]], out: &mut [f32]) {
        if queries.is_empty() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the features the function is compiled for were just detected.
            unsafe { x86::dots_many(data, offsets, dim, queries, out) };
            return;
        }
        let mut row = vec![0.0f32; dim];
        for (o, offset) in out.chunks_exact_mut(queries.len()).zip(offsets) {
            if offset == MISSING_ROW {
                o.fill(0.0);
                continue;
            }
            data[offset..offset + dim].convert_to_f32_slice(&mut row);
            for (o, query) in o.iter_mut().zip(queries) {
                *o = row.iter().zip(*query).map(|(a, b)| a * b).sum();
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        use half::f16;

        use super::{HEAD_STEP, MISSING_ROW};

        /// See [`super::band_dots`]; needs AVX2, FMA and F16C.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn band_dots(band: &[f16], row_of: impl Fn(usize) -> usize, query: &[f32], out: &mut [f32]) {
            /// How many rows ahead are prefetched.
            const AHEAD: usize = 32;
            let query = &query[..HEAD_STEP];
            // SAFETY: `query` has 32 values; unaligned loads are allowed.
            let q: [__m256; 4] = std::array::from_fn(|lane| unsafe { _mm256_loadu_ps(query.as_ptr().add(8 * lane)) });
            let n = out.len();
            for (c, chunk) in out.chunks_mut(8).enumerate() {
                for ahead in (c * 8 + AHEAD..(c * 8 + AHEAD + 8).min(n)).map(&row_of) {
                    if let Some(row) = band.get(ahead * HEAD_STEP..(ahead + 1) * HEAD_STEP) {
                        // Hints with pointers into `band`: they read nothing. Both
                        // ends, as a row need not start on a cache line.
                        _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().cast());
                        _mm_prefetch::<_MM_HINT_T0>(row[HEAD_STEP - 1..].as_ptr().cast());
                    }
                }
                let mut sums = [_mm256_setzero_ps(); 8];
                for (i, sum) in sums.iter_mut().enumerate().take(chunk.len()) {
                    let row = &band[row_of(c * 8 + i) * HEAD_STEP..][..HEAD_STEP];
                    // SAFETY: `row` has 32 values, read 8 at a time; unaligned loads are allowed.
                    let h: [__m256; 4] =
                        std::array::from_fn(|lane| unsafe { _mm256_cvtph_ps(_mm_loadu_si128(row.as_ptr().add(8 * lane).cast())) });
                    let pairs =
                        [_mm256_fmadd_ps(h[0], q[0], _mm256_mul_ps(h[1], q[1])), _mm256_fmadd_ps(h[2], q[2], _mm256_mul_ps(h[3], q[3]))];
                    *sum = _mm256_add_ps(pairs[0], pairs[1]);
                }
                // Each row's eight lanes summed, the eight rows side by side.
                let s01 = _mm256_hadd_ps(sums[0], sums[1]);
                let s23 = _mm256_hadd_ps(sums[2], sums[3]);
                let s45 = _mm256_hadd_ps(sums[4], sums[5]);
                let s67 = _mm256_hadd_ps(sums[6], sums[7]);
                let (s0123, s4567) = (_mm256_hadd_ps(s01, s23), _mm256_hadd_ps(s45, s67));
                let rows = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
                let mut lanes = [0.0f32; 8];
                // SAFETY: `lanes` holds exactly 8 f32.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), rows) };
                chunk.copy_from_slice(&lanes[..chunk.len()]);
            }
        }

        /// See [`super::dots`]; needs AVX2, FMA and F16C.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn dots(data: &[f16], offsets: impl Iterator<Item = usize>, dim: usize, query: &[f32], out: &mut [f32]) {
            let body = dim / 32 * 32;
            for (o, offset) in out.iter_mut().zip(offsets) {
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
        /// See [`super::dots_many`]; needs AVX2, FMA and F16C. Per query, the
        /// accumulators and their reduction are [`dots`]'s.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn dots_many(data: &[f16], offsets: impl Iterator<Item = usize>, dim: usize, queries: &[&[f32]], out: &mut [f32]) {
            let body = dim / 32 * 32;
            let mut acc = vec![[_mm256_setzero_ps(); 4]; queries.len()];
            for (o, offset) in out.chunks_exact_mut(queries.len()).zip(offsets) {
                if offset == MISSING_ROW {
                    o.fill(0.0);
                    continue;
                }
                let row = &data[offset..offset + dim];
                acc.fill([_mm256_setzero_ps(); 4]);
                let mut i = 0;
                while i < body {
                    let mut halves = [_mm256_setzero_ps(); 4];
                    for (lane, h) in halves.iter_mut().enumerate() {
                        // SAFETY: `i + 8 * lane + 8 <= body <= dim` = the length of `row`; unaligned loads are allowed.
                        *h = unsafe { _mm256_cvtph_ps(_mm_loadu_si128(row.as_ptr().add(i + 8 * lane).cast())) };
                    }
                    for (a, query) in acc.iter_mut().zip(queries) {
                        for (lane, (a, h)) in a.iter_mut().zip(&halves).enumerate() {
                            // SAFETY: as above, `query` has `dim` values.
                            let q = unsafe { _mm256_loadu_ps(query.as_ptr().add(i + 8 * lane)) };
                            *a = _mm256_fmadd_ps(*h, q, *a);
                        }
                    }
                    i += 32;
                }
                for ((o, a), query) in o.iter_mut().zip(&acc).zip(queries) {
                    let sum = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
                    let mut lanes = [0.0f32; 8];
                    // SAFETY: `lanes` holds exactly 8 f32.
                    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
                    let tail: f32 = row[body..].iter().zip(&query[body..]).map(|(a, b)| a.to_f32() * b).sum();
                    *o = lanes.iter().sum::<f32>() + tail;
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn band_dots_match_a_plain_dot_for_any_rows() {
            let mut rng = crate::prng::SplitMix64(11);
            let rows = 40;
            let band: Vec<f16> = (0..rows * HEAD_STEP).map(|_| f16::from_f32(rng.symmetric_unit())).collect();
            let query: Vec<f32> = (0..HEAD_STEP).map(|_| rng.symmetric_unit()).collect();
            let plain = |row: usize| -> f32 { band[row * HEAD_STEP..][..HEAD_STEP].iter().zip(&query).map(|(a, b)| a.to_f32() * b).sum() };
            // Consecutive rows, scattered ones in any order with repeats, and
            // every count around the kernel's groups of eight.
            let scattered: Vec<usize> = (0..rows).map(|i| (i * 17 + 3) % rows).chain([0, 0, rows - 1]).collect();
            for count in [0, 1, 7, 8, 9, 16, 23, rows] {
                let mut out = vec![f32::NAN; count];
                band_dots(&band, |i| i, &query, &mut out);
                for (row, &got) in out.iter().enumerate() {
                    assert!((got - plain(row)).abs() <= 1e-5, "{count} rows, row {row}: {got} vs {}", plain(row));
                }
            }
            let mut out = vec![f32::NAN; scattered.len()];
            band_dots(&band, |i| scattered[i], &query, &mut out);
            for (&row, &got) in scattered.iter().zip(&out) {
                assert!((got - plain(row)).abs() <= 1e-5, "row {row}: {got} vs {}", plain(row));
            }
        }

        #[test]
        fn matches_a_plain_dot_for_every_tail_length() {
            let mut rng = crate::prng::SplitMix64(7);
            for dim in [1, 7, 8, 31, 32, 33, 64, 200, 753, 768] {
                let rows = 5;
                let data: Vec<f16> = (0..rows * dim + 3).map(|_| f16::from_f32(rng.symmetric_unit())).collect();
                let query: Vec<f32> = (0..dim).map(|_| rng.symmetric_unit()).collect();
                // Rows at odd offsets, in any order, plus a missing one.
                let offsets = [3, 3 + 2 * dim, MISSING_ROW, 3 + dim, 0];
                let mut out = vec![f32::NAN; offsets.len()];
                dots(&data, offsets.iter().copied(), dim, &query, &mut out);
                for (&offset, &got) in offsets.iter().zip(&out) {
                    let expected: f32 = if offset == MISSING_ROW {
                        0.0
                    } else {
                        data[offset..offset + dim].iter().zip(&query).map(|(a, b)| a.to_f32() * b).sum()
                    };
                    assert!((got - expected).abs() <= 1e-4 * (1.0 + expected.abs()), "dim {dim}: {got} vs {expected}");
                }
                let other: Vec<f32> = query.iter().map(|v| 0.5 - v).collect();
                let mut many = vec![f32::NAN; 2 * offsets.len()];
                dots_many(&data, offsets.iter().copied(), dim, &[&query, &other], &mut many);
                let mut second = vec![f32::NAN; offsets.len()];
                dots(&data, offsets.iter().copied(), dim, &other, &mut second);
                for (i, pair) in many.chunks_exact(2).enumerate() {
                    assert_eq!(pair[0].to_bits(), out[i].to_bits(), "dim {dim}: many queries sum as one does");
                    assert_eq!(pair[1].to_bits(), second[i].to_bits(), "dim {dim}");
                }
            }
        }
    }
}

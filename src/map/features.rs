//! What a map projects, read from the store a block of rows at a time.
//!
//! A mix of a library's layers is wide: at 300,000 tracks the default
//! aspects' layers made a 2.4 GB f32 matrix, and a projection and a
//! placement running together held two of them. [`SourceFeatures`] keeps
//! only each layer's mean; a block of rows is read from the mapped f16 store,
//! centred, made unit length and weighted when PCA or a placement asks for it.

use std::ops::Range;

use half::slice::HalfFloatSliceExt;
use ndarray::{Array1, Array2, CowArray, Ix2, s};

use crate::map::MapSource;
use crate::pca::RowBlocks;
use crate::storage::snapshot::LibrarySnapshot;

/// One layer's columns in the joined rows.
struct Part {
    layer: usize,
    /// First column of the layer's block.
    offset: usize,
    dim: usize,
    /// √weight: squared distances over the joined rows add up weighted.
    scale: f32,
    /// The layer's mean over the library's rows (zero with fewer than two rows).
    mean: Array1<f32>,
}

/// The features a source projects: each track's rows of its layers, centred
/// on the library mean, unit length, scaled by √weight and joined, as search
/// normalises a layer. A track the store lacks reads as zero before centring,
/// as it counts in the mean.
pub struct SourceFeatures<'a> {
    snapshot: &'a LibrarySnapshot,
    parts: Vec<Part>,
    width: usize,
}

/// Rows a pass over the store reads between folds of its sums.
const MEAN_BLOCK_ROWS: usize = 4096;

impl<'a> SourceFeatures<'a> {
    /// The source's layers over `snapshot`; reads each layer once for its mean.
    pub fn new(snapshot: &'a LibrarySnapshot, source: &MapSource) -> Self {
        let layers: Vec<(usize, f32)> = match source {
            MapSource::Layer(layer) => vec![(*layer, 1.0)],
            MapSource::Mix(parts) => parts.iter().copied().filter(|&(_, w)| w > 0.0).collect(),
        };
        let mut parts = Vec::with_capacity(layers.len());
        let mut offset = 0;
        for (layer, weight) in layers {
            let dim = snapshot.layer_dim(layer);
            let mean = if snapshot.len() > 1 { layer_mean(snapshot, layer, dim) } else { Array1::zeros(dim) };
            parts.push(Part { layer, offset, dim, scale: weight.sqrt(), mean });
            offset += dim;
        }
        Self { snapshot, parts, width: offset }
    }
}

/// The mean of `layer`'s rows over every track, summed in f64 on every core.
fn layer_mean(snapshot: &LibrarySnapshot, layer: usize, dim: usize) -> Array1<f32> {
    let sum_rows = |rows: Range<usize>| -> Vec<f64> {
        let mut sum = vec![0.0f64; dim];
        let mut row = vec![0.0f32; dim];
        for track in rows {
            if let Some(stored) = snapshot.track_layer_row(layer, track) {
                stored.convert_to_f32_slice(&mut row);
                for (s, &v) in sum.iter_mut().zip(&row) {
                    *s += f64::from(v);
                }
            }
        }
        sum
    };
    let pieces = crate::parallel::map_ranges("map-mean", snapshot.len(), MEAN_BLOCK_ROWS, sum_rows);
    let n = snapshot.len().max(1) as f64;
    let mut mean = Array1::<f32>::zeros(dim);
    for (c, m) in mean.iter_mut().enumerate() {
        *m = (pieces.iter().map(|p| p[c]).sum::<f64>() / n) as f32;
    }
    mean
}

impl RowBlocks for SourceFeatures<'_> {
    fn nrows(&self) -> usize {
        self.snapshot.len()
    }

    fn ncols(&self) -> usize {
        self.width
    }

    fn block(&self, rows: Range<usize>) -> CowArray<'_, f32, Ix2> {
        let mut block = Array2::<f32>::zeros((rows.len(), self.width));
        for (mut out, track) in block.rows_mut().into_iter().zip(rows) {
            for part in &self.parts {
                let mut row = out.slice_mut(s![part.offset..part.offset + part.dim]);
                if let (Some(stored), Some(values)) = (self.snapshot.track_layer_row(part.layer, track), row.as_slice_mut()) {
                    stored.convert_to_f32_slice(values);
                }
                row -= &part.mean;
                let norm = row.dot(&row).sqrt();
                if norm > 0.0 {
                    row *= part.scale / norm;
                }
            }
        }
        CowArray::from(block)
    }
}

//! `recipe.json`: how each external initializer of a committed graph is made
//! from checkpoint tensors, and the arithmetic that makes it.
//!
//! `models/export_mert.py --arch-only` found every transform by value on
//! random-init weights (copy, transpose, weight-norm fold, packed-QKV
//! concatenation, int8 quantisation, fp16 cast), so these few operations are
//! the whole vocabulary; an initializer none of them explains fails the export.

use std::collections::HashMap;

use serde::Deserialize;

use crate::model::install::checkpoint::Checkpoint;
use crate::model::install::config::ArchConfig;

/// One model's recipe, as `export_mert.py --arch-only` wrote it.
#[derive(Debug, Clone, Deserialize)]
pub struct Recipe {
    /// The model's folder name.
    pub name: String,
    /// The architecture a checkpoint's config.json must agree with.
    pub config: ArchConfig,
    /// Every encoder tensor the checkpoint must hold (HF names, unfolded weight norm).
    pub expected_tensors: Vec<ExpectedTensorJson>,
    /// Prefixes of checkpoint tensors the encoder does not use.
    pub ignored_prefixes: Vec<String>,
    /// The graph variants, fp32 first.
    pub variants: Vec<VariantRecipe>,
}

/// A checkpoint tensor the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedTensorJson {
    /// HF parameter name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// One graph and the weights file it names.
#[derive(Debug, Clone, Deserialize)]
pub struct VariantRecipe {
    /// `fp32`, `fused`, `int8` or `fp16`.
    pub name: String,
    /// The graph's file name.
    pub file: String,
    /// The weights file the graph's external initializers point into.
    pub weights: String,
    /// Execution providers the variant is meant for (`cpu`, `cuda`).
    pub providers: Vec<String>,
    /// Size of the weights file.
    pub weights_bytes: u64,
    /// Its initializers, in file order.
    pub tensors: Vec<TensorRecipe>,
}

/// One external initializer: where it lies in the weights file and how it is made.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorRecipe {
    /// The initializer's name in the graph.
    pub name: String,
    /// Its shape in the graph.
    pub shape: Vec<usize>,
    /// Byte offset in the weights file.
    pub offset: u64,
    /// Byte length.
    pub length: u64,
    /// How the source's f32 values are stored.
    pub encode: Encode,
    /// Which checkpoint tensors, transformed how.
    pub source: Source,
}

/// How an initializer stores its source's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encode {
    /// Little-endian f32.
    F32,
    /// Little-endian IEEE half as [`to_f16`] makes it.
    F16,
    /// int8 as ONNX Runtime's `quantize_dynamic` (QInt8, per tensor, symmetric) makes them.
    Int8,
    /// The f32 scale of that quantisation (the zero point is 0 and stays in the graph).
    Int8Scale,
}

/// A checkpoint-derived f32 tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Source {
    /// The tensor as stored.
    Copy {
        /// Its name.
        tensor: String,
    },
    /// A 2-D tensor transposed (a Linear weight as MatMul's right operand).
    Transpose {
        /// Its name.
        tensor: String,
    },
    /// `torch._weight_norm(v, g, dim)`: `v * (g / ‖v‖)`, the norm over every axis but `dim`.
    WeightNorm {
        /// The magnitude tensor, one value per index along `dim`.
        g: String,
        /// The direction tensor.
        v: String,
        /// The axis the norm keeps (2 for MERT's positional conv).
        dim: usize,
    },
    /// Parts joined along `axis` (the fused graph's packed Q, K, V).
    Concat {
        /// Axis to join along.
        axis: usize,
        /// The parts, in order.
        parts: Vec<Source>,
    },
}

/// Row-major f32 values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The values.
    pub values: Vec<f32>,
    /// The shape.
    pub shape: Vec<usize>,
}

impl Source {
    /// Reads the checkpoint tensors this source needs and applies its transform.
    pub fn evaluate(&self, ckpt: &Checkpoint) -> Result<Tensor, String> {
        match self {
            Self::Copy { tensor } => read(ckpt, tensor),
            Self::Transpose { tensor } => transpose(&read(ckpt, tensor)?).map_err(|e| format!("{tensor}: {e}")),
            Self::WeightNorm { g, v, dim } => weight_norm(&read(ckpt, g)?, &read(ckpt, v)?, *dim).map_err(|e| format!("{v}: {e}")),
            Self::Concat { axis, parts } => {
                let parts = parts.iter().map(|p| p.evaluate(ckpt)).collect::<Result<Vec<_>, _>>()?;
                concat(&parts, *axis)
            }
        }
    }
}

fn read(ckpt: &Checkpoint, name: &str) -> Result<Tensor, String> {
    let shape = ckpt.info(name).ok_or_else(|| format!("the checkpoint has no tensor {name}"))?.shape.clone();
    let values = ckpt.read_f32(name).map_err(|e| e.to_string())?;
    Ok(Tensor { values, shape })
}

fn transpose(t: &Tensor) -> Result<Tensor, String> {
    let &[rows, cols] = t.shape.as_slice() else {
        return Err(format!("transpose needs a 2-D tensor, not shape {:?}", t.shape));
    };
    let mut values = vec![0.0f32; t.values.len()];
    for (r, row) in t.values.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            values[c * rows + r] = v;
        }
    }
    Ok(Tensor { values, shape: vec![cols, rows] })
}

/// torch's weight norm for `dim` = the last axis of a 3-D `v` (the only case MERT has).
fn weight_norm(g: &Tensor, v: &Tensor, dim: usize) -> Result<Tensor, String> {
    let &[_, _, kernel] = v.shape.as_slice() else {
        return Err(format!("weight norm needs a 3-D v, not shape {:?}", v.shape));
    };
    if dim != 2 || g.values.len() != kernel {
        return Err(format!("weight norm over dim {dim} with g of shape {:?} and v of shape {:?} is not supported", g.shape, v.shape));
    }
    // Norm per kernel tap over all output and input channels, accumulated in f64.
    let mut sum_sq = vec![0.0f64; kernel];
    for taps in v.values.chunks_exact(kernel) {
        sum_sq.iter_mut().zip(taps).for_each(|(s, &x)| *s += f64::from(x) * f64::from(x));
    }
    let factor: Vec<f32> = g.values.iter().zip(&sum_sq).map(|(&g, &s)| g / (s.sqrt() as f32)).collect();
    let mut values = v.values.clone();
    for taps in values.chunks_exact_mut(kernel) {
        taps.iter_mut().zip(&factor).for_each(|(x, f)| *x *= f);
    }
    Ok(Tensor { values, shape: v.shape.clone() })
}

fn concat(parts: &[Tensor], axis: usize) -> Result<Tensor, String> {
    let first = parts.first().ok_or("concat of nothing")?;
    let same_outside = |t: &Tensor| {
        t.shape.len() == first.shape.len()
            && axis < t.shape.len()
            && t.shape.iter().zip(&first.shape).enumerate().all(|(i, (a, b))| i == axis || a == b)
    };
    if !parts.iter().all(same_outside) {
        let shapes: Vec<_> = parts.iter().map(|t| &t.shape).collect();
        return Err(format!("cannot join shapes {shapes:?} along axis {axis}"));
    }
    let outer: usize = first.shape[..axis].iter().product();
    let mut shape = first.shape.clone();
    shape[axis] = parts.iter().map(|t| t.shape[axis]).sum();
    let mut values = Vec::with_capacity(parts.iter().map(|t| t.values.len()).sum());
    for o in 0..outer {
        for part in parts {
            let inner = part.values.len() / outer;
            values.extend_from_slice(&part.values[o * inner..(o + 1) * inner]);
        }
    }
    Ok(Tensor { values, shape })
}

/// A weight as onnxruntime.transformers' float16 converter writes it: non-zero values below 5.96e-8 in magnitude
/// become ±5.96e-8 (so the smallest subnormal, not 0), finite values beyond ±65504 saturate, then round to nearest even.
pub fn to_f16(x: f32) -> half::f16 {
    const TINY: f32 = 5.96e-8;
    const BIG: f32 = 65504.0;
    let x = match x {
        x if x > 0.0 && x < TINY => TINY,
        x if x < 0.0 && x > -TINY => -TINY,
        x if x.is_finite() => x.clamp(-BIG, BIG),
        x => x,
    };
    half::f16::from_f32(x)
}

/// ONNX Runtime `quantize_dynamic`'s QInt8 weights: per tensor, symmetric,
/// scale = max|x| / 127 (computed in f64, stored as f32), q = round-half-even(x / scale).
pub fn quantize_int8(values: &[f32]) -> (Vec<i8>, f32) {
    let (min, max) = values.iter().fold((0.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let absmax = min.abs().max(max);
    let mut scale = (f64::from(absmax) * 2.0 / 254.0) as f32;
    if scale < f32::MIN_POSITIVE {
        scale = 1.0;
    }
    let q = values.iter().map(|&x| (x / scale).round_ties_even().clamp(-128.0, 127.0) as i8).collect();
    (q, scale)
}

impl TensorRecipe {
    /// The initializer's bytes as the graph reads them; `scales` remembers each quantised source's scale so
    /// the scale initializer that follows its weight needs no second read.
    pub fn bytes(&self, ckpt: &Checkpoint, scales: &mut HashMap<Source, f32>) -> Result<Vec<u8>, String> {
        if self.encode == Encode::Int8Scale
            && let Some(scale) = scales.get(&self.source)
        {
            return Ok(scale.to_le_bytes().to_vec());
        }
        let tensor = self.source.evaluate(ckpt)?;
        let elements: usize = self.shape.iter().product();
        if self.encode != Encode::Int8Scale && tensor.values.len() != elements {
            return Err(format!("{}: the recipe makes {:?} values, the graph wants shape {:?}", self.name, tensor.shape, self.shape));
        }
        let bytes: Vec<u8> = match self.encode {
            Encode::F32 => tensor.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Encode::F16 => tensor.values.iter().flat_map(|&v| to_f16(v).to_le_bytes()).collect(),
            Encode::Int8 => {
                let (q, scale) = quantize_int8(&tensor.values);
                scales.insert(self.source.clone(), scale);
                q.iter().map(|&v| v.to_le_bytes()[0]).collect()
            }
            Encode::Int8Scale => quantize_int8(&tensor.values).1.to_le_bytes().to_vec(),
        };
        if bytes.len() as u64 != self.length {
            return Err(format!("{}: {} bytes made, the graph reads {}", self.name, bytes.len(), self.length));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_and_concat_lay_out_packed_qkv() {
        let t = Tensor { values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], shape: vec![2, 3] };
        let tt = transpose(&t).unwrap();
        assert_eq!(tt, Tensor { values: vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], shape: vec![3, 2] });
        let joined = concat(&[tt.clone(), tt], 1).unwrap();
        assert_eq!(joined.shape, vec![3, 4]);
        assert_eq!(joined.values, vec![1.0, 4.0, 1.0, 4.0, 2.0, 5.0, 2.0, 5.0, 3.0, 6.0, 3.0, 6.0]);
        assert!(concat(&[Tensor { values: vec![1.0], shape: vec![1] }, t], 0).is_err());
    }

    #[test]
    fn weight_norm_gives_each_tap_the_norm_g() {
        let v = Tensor { values: vec![3.0, 1.0, 4.0, 1.0], shape: vec![2, 1, 2] };
        let g = Tensor { values: vec![10.0, 2.0], shape: vec![1, 1, 2] };
        let w = weight_norm(&g, &v, 2).unwrap();
        let tap_norm = |k: usize| (w.values[k].powi(2) + w.values[2 + k].powi(2)).sqrt();
        assert!((tap_norm(0) - 10.0).abs() < 1e-5 && (tap_norm(1) - 2.0).abs() < 1e-5);
        assert!(weight_norm(&g, &v, 1).is_err());
    }

    #[test]
    fn f16_keeps_tiny_weights_non_zero_and_saturates() {
        assert_eq!(to_f16(1e-9).to_bits(), 1);
        assert_eq!(to_f16(-1e-9).to_bits(), 0x8001);
        assert_eq!(to_f16(0.0).to_bits(), 0);
        assert_eq!(to_f16(1e6), half::f16::MAX);
        assert_eq!(to_f16(f32::INFINITY), half::f16::INFINITY);
        assert_eq!(to_f16(0.1), half::f16::from_f32(0.1));
    }

    #[test]
    fn int8_is_symmetric_round_half_even() {
        // max |x| = 127 makes the scale exactly 1, so ties are visible.
        let (q, scale) = quantize_int8(&[-127.0, 2.5, 3.5, -0.5, 126.6, 1.0]);
        assert_eq!(scale, 1.0);
        assert_eq!(q, [-127, 2, 4, 0, 127, 1]);
        assert_eq!(quantize_int8(&[0.5, -1.0]).1, (2.0f64 / 254.0) as f32);
        assert_eq!(quantize_int8(&[0.0, 0.0]), (vec![0, 0], 1.0));
    }
}

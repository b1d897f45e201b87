//! The cheap key-invariant summary that picks which candidates get verified.
//!
//! Two parts, each unchanged by a key shift and by where the music starts:
//! the median 2D Fourier magnitude of CENS patches (Bertin-Mahieux & Ellis
//! 2012; a key shift only turns the phase along the chroma axis, a time shift
//! the phase along time) and the 2D Fourier magnitude of the chroma
//! co-occurrence matrix, which has no time axis at all and so ignores tempo.
//! Summaries are compared by cosine after mean-centring over the library.

use realfft::num_complex::Complex;

use super::features::{Chroma, IdentFeatures, N_CHROMA};

/// CENS frames per patch (16 s at 2 frames/s: a few bars at any tempo) and the hop between patches.
const PATCH: usize = 32;
const PATCH_HOP: usize = 8;
/// Chroma-axis frequencies kept (the rest mirror them).
const CHROMA_FREQS: usize = N_CHROMA / 2 + 1;
/// Time-axis frequencies kept from each patch.
const TIME_FREQS: usize = PATCH / 2 + 1;
/// Length of a summary.
pub const SUMMARY_LEN: usize = CHROMA_FREQS * TIME_FREQS + CHROMA_FREQS * N_CHROMA;

/// A track's summary.
pub type Summary = Vec<f32>;

/// The summary of one track's identification features.
pub fn summarise(features: &IdentFeatures) -> Summary {
    let mut summary = patch_spectrum(&features.cens);
    summary.extend(cooccurrence_spectrum(&features.cens));
    summary
}

/// The first `keep` coefficients of the DFT of each length-`len` row of
/// `rows` (a direct DFT: the lengths here are 12 and 32).
fn dft_rows(rows: &[Complex<f32>], len: usize, keep: usize) -> Vec<Complex<f32>> {
    let twiddles: Vec<Complex<f32>> =
        (0..len).map(|k| Complex::from_polar(1.0, -2.0 * std::f32::consts::PI * k as f32 / len as f32)).collect();
    rows.chunks_exact(len)
        .flat_map(|row| {
            let twiddles = &twiddles;
            (0..keep).map(move |u| row.iter().enumerate().map(|(t, &x)| x * twiddles[(u * t) % len]).sum::<Complex<f32>>())
        })
        .collect()
}

/// `rows × cols` transposed.
fn transpose(grid: &[Complex<f32>], rows: usize, cols: usize) -> Vec<Complex<f32>> {
    (0..cols).flat_map(|c| (0..rows).map(move |r| grid[r * cols + c])).collect()
}

/// Median over patches of |2D DFT| (chroma × time), square-root compressed.
fn patch_spectrum(cens: &[Chroma]) -> Vec<f32> {
    let starts: Vec<usize> = if cens.len() <= PATCH { vec![0] } else { (0..=cens.len() - PATCH).step_by(PATCH_HOP).collect() };
    let mut magnitudes: Vec<Vec<f32>> = vec![Vec::new(); CHROMA_FREQS * TIME_FREQS];
    for start in starts {
        // Rows: time frames (zero-padded past the end); DFT along chroma, then along time.
        let mut grid = vec![Complex::new(0.0f32, 0.0); PATCH * N_CHROMA];
        for (t, frame) in cens.iter().skip(start).take(PATCH).enumerate() {
            for c in 0..N_CHROMA {
                grid[t * N_CHROMA + c] = Complex::new(frame[c], 0.0);
            }
        }
        let by_chroma_freq = transpose(&dft_rows(&grid, N_CHROMA, CHROMA_FREQS), PATCH, CHROMA_FREQS);
        let spectrum = dft_rows(&by_chroma_freq, PATCH, TIME_FREQS);
        for (values, z) in magnitudes.iter_mut().zip(&spectrum) {
            values.push(z.norm().sqrt());
        }
    }
    magnitudes.into_iter().map(|mut values| median(&mut values)).collect()
}

/// |2D DFT| of the mean outer product of the CENS frames (a key shift moves it along its diagonal).
fn cooccurrence_spectrum(cens: &[Chroma]) -> Vec<f32> {
    let mut grid = vec![Complex::new(0.0f32, 0.0); N_CHROMA * N_CHROMA];
    for frame in cens {
        for i in 0..N_CHROMA {
            for j in 0..N_CHROMA {
                grid[i * N_CHROMA + j].re += frame[i] * frame[j] / cens.len().max(1) as f32;
            }
        }
    }
    let by_column_freq = transpose(&dft_rows(&grid, N_CHROMA, CHROMA_FREQS), N_CHROMA, CHROMA_FREQS);
    dft_rows(&by_column_freq, N_CHROMA, N_CHROMA).iter().map(|z| z.norm().sqrt()).collect()
}

fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    *values.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// Summaries made comparable by cosine: each dimension centred and scaled over
/// the library (so the shared shape of all music does not dominate), then unit length.
pub fn standardise(summaries: &[Summary]) -> Vec<Summary> {
    let n = summaries.len().max(1) as f32;
    let dims = summaries.first().map_or(0, Vec::len);
    let mean: Vec<f32> = (0..dims).map(|d| summaries.iter().map(|s| s[d]).sum::<f32>() / n).collect();
    let spread: Vec<f32> =
        (0..dims).map(|d| (summaries.iter().map(|s| (s[d] - mean[d]).powi(2)).sum::<f32>() / n).sqrt().max(1e-6)).collect();
    summaries
        .iter()
        .map(|s| {
            let z: Vec<f32> = s.iter().enumerate().map(|(d, &x)| (x - mean[d]) / spread[d]).collect();
            let norm = z.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
            z.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// For every track, the `m` others whose standardised summaries are most similar, best first.
pub fn candidates(standardised: &[Summary], m: usize) -> Vec<Vec<usize>> {
    let n = standardised.len();
    let pieces = crate::parallel::map_ranges("versions-prefilter", n, 16, |range| {
        range
            .map(|q| {
                let mut scored: Vec<(f32, usize)> = (0..n)
                    .filter(|&c| c != q)
                    .map(|c| (standardised[q].iter().zip(&standardised[c]).map(|(a, b)| a * b).sum::<f32>(), c))
                    .collect();
                let keep = m.min(scored.len());
                if keep < scored.len() {
                    scored.select_nth_unstable_by(keep, |a, b| b.0.total_cmp(&a.0));
                    scored.truncate(keep);
                }
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                scored.into_iter().map(|(_, c)| c).collect::<Vec<usize>>()
            })
            .collect::<Vec<_>>()
    });
    pieces.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::features::{rotate, unit_or_uniform};

    #[test]
    fn a_summary_ignores_key_and_start() {
        let cens: Vec<Chroma> = (0..80)
            .map(|t| unit_or_uniform(&std::array::from_fn(|c| ((t * 7 + c * 5) % 11) as f32 + (c == t % 12) as u8 as f32)))
            .collect();
        let mean = [0.0; N_CHROMA];
        let original = summarise(&IdentFeatures { cens: cens.clone(), bass: Vec::new(), mean });
        let shifted = summarise(&IdentFeatures { cens: cens.iter().map(|v| rotate(v, 5)).collect(), bass: Vec::new(), mean });
        for (a, b) in original.iter().zip(&shifted) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert_eq!(original.len(), SUMMARY_LEN);
    }
}

//! Shared kernels: the STFT every spectral family reads and the vectorisable
//! sums that more than one family uses.
//!
//! Owns the frame window, the FFT plan and the one power-spectrum buffer; it
//! knows nothing of any descriptor. The sums keep several independent
//! accumulators so that the compiler vectorises them: their summation order is
//! part of every descriptor's exact value, so change them only on purpose.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::{FRAME_LEN, HOP_LEN};

/// FFT bins per frame (`FRAME_LEN / 2 + 1`).
pub(super) const N_BINS: usize = FRAME_LEN / 2 + 1;
/// Power floor before logs (librosa's `amin`).
pub(super) const AMIN: f32 = 1e-10;

/// Short-time Fourier transform of centred, zero-padded, Hann-windowed frames.
pub(super) struct Stft {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    /// |X|² of the last frame computed.
    power: Vec<f32>,
}

impl Stft {
    /// Plans the `FRAME_LEN` FFT and a periodic Hann window.
    pub(super) fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(FRAME_LEN);
        let spectrum = fft.make_output_vec();
        let fft_scratch = fft.make_scratch_vec();
        let window = (0..FRAME_LEN)
            .map(|i| {
                let x = 2.0 * std::f64::consts::PI * i as f64 / FRAME_LEN as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        Self { fft, window, frame: vec![0.0; FRAME_LEN], spectrum, fft_scratch, power: vec![0.0; N_BINS] }
    }

    /// Windowed frame `k` of `y` (centred, zero-padded) -> its power spectrum
    /// (|X|², `N_BINS` values).
    pub(super) fn power_spectrum(&mut self, y: &[f32], k: usize) -> &[f32] {
        let n = y.len() as isize;
        let start = k as isize * HOP_LEN as isize - (FRAME_LEN / 2) as isize;
        if start >= 0 && start + FRAME_LEN as isize <= n {
            let src = &y[start as usize..start as usize + FRAME_LEN];
            for ((f, &s), &w) in self.frame.iter_mut().zip(src).zip(&self.window) {
                *f = s * w;
            }
        } else {
            for (j, (f, &w)) in self.frame.iter_mut().zip(&self.window).enumerate() {
                let i = start + j as isize;
                *f = if i >= 0 && i < n { y[i as usize] * w } else { 0.0 };
            }
        }
        // The buffers were made by this plan, so the lengths always match.
        self.fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.fft_scratch)
            .expect("fft buffers come from their plan");
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.re * c.re + c.im * c.im;
        }
        &self.power
    }
}

/// Sum with 8 independent accumulators (vectorises).
pub(super) fn sum_f32(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.chunks_exact(8);
    let rem = chunks.remainder();
    for ch in chunks {
        for i in 0..8 {
            acc[i] += ch[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for &v in rem {
        s += v;
    }
    s
}

/// Dot product with 16 independent accumulators (vectorises).
pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

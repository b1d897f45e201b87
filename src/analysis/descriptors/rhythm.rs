//! Rhythm descriptors: the onset-strength envelope from the mel spectrogram,
//! onset counting (librosa's `onset_detect` peak picking) and tempo (librosa's
//! `feature.tempo` autocorrelation recipe with a refined lag).
//!
//! Owns the envelope, the per-rate tempogram window and FFT plans, and their
//! scratch.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::mel::{MelSpectrogram, N_MELS};
use super::{HOP_LEN, TEMPOGRAM_MAX_FRAMES};

/// Peak-picking threshold above the local mean of the normalised envelope.
const ONSET_DELTA: f32 = 0.07;
/// Centre of the log-normal tempo prior, BPM.
const TEMPO_START_BPM: f64 = 120.0;
/// Standard deviation of the tempo prior, octaves.
const TEMPO_STD_OCTAVES: f64 = 1.0;
/// Tempi at or above this are never chosen.
const TEMPO_MAX_BPM: f64 = 320.0;
/// Autocorrelation window length, seconds.
const TEMPO_AC_SECONDS: f64 = 8.0;

/// The onset-strength envelope of the current track and its peak picking.
#[derive(Default)]
pub(super) struct Onsets {
    /// Onset strength per frame.
    envelope: Vec<f32>,
    /// The envelope scaled to 0..1 for peak picking.
    normalised: Vec<f32>,
}

impl Onsets {
    /// Spectral-flux onset strength, librosa.onset.onset_strength defaults:
    /// mean over bands of the positive first difference of the dB mel
    /// spectrogram (already floored), lagged for librosa's centring.
    pub(super) fn compute_envelope(&mut self, mel: &MelSpectrogram, n_frames: usize) {
        self.envelope.clear();
        self.envelope.resize(n_frames, 0.0);
        // env[t] = mean_m max(0, S[t-2] - S[t-3]) for t >= 3 (lag 1 + centre pad 2)
        for t in 3..n_frames {
            let cur = mel.frame(t - 2);
            let prev = mel.frame(t - 3);
            let mut acc = 0.0f32;
            for (c, p) in cur.iter().zip(prev) {
                acc += (c - p).max(0.0);
            }
            self.envelope[t] = acc / N_MELS as f32;
        }
    }

    /// The envelope from [`Onsets::compute_envelope`].
    pub(super) fn envelope(&self) -> &[f32] {
        &self.envelope
    }

    /// librosa.onset.onset_detect peak picking on the (normalised) envelope: the number of onsets.
    pub(super) fn count(&mut self, sr: u32) -> usize {
        let env = &self.envelope;
        if env.is_empty() {
            return 0;
        }
        let mn = env.iter().fold(f32::INFINITY, |a, &b| a.min(b));
        let mx = env.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) - mn;
        if mx.is_nan() || mx <= 0.0 {
            return 0;
        }
        let scale = mx + f32::MIN_POSITIVE;
        self.normalised.clear();
        self.normalised.extend(env.iter().map(|&v| (v - mn) / scale));
        let srf = sr as f64;
        let hop = HOP_LEN as f64;
        // librosa: floor(0.03 s in frames). Below ~17 kHz that floors to 0
        // frames, which disables the local-max window and the refractory wait
        // and roughly doubles onset counts on sharp attacks; clamp to 1 frame
        // so that rates stay comparable across sample rates.
        let pre_max = ((0.03 * srf / hop).floor() as usize).max(1);
        let post_max = 1usize;
        let pre_avg = (0.10 * srf / hop).floor() as usize;
        let post_avg = pre_avg + 1;
        let wait = ((0.03 * srf / hop).floor() as usize).max(1);
        peak_pick(&self.normalised, pre_max, post_max, pre_avg, post_avg, ONSET_DELTA, wait)
    }
}

/// Tempo from the onset envelope; the window and FFT plans depend on the rate only.
#[derive(Default)]
pub(super) struct Tempo {
    planner: RealFftPlanner<f64>,
    /// The rate the window and plans were made for.
    sample_rate_hz: Option<u32>,
    /// Autocorrelation window length in onset frames, and its Hann window.
    win: usize,
    window: Vec<f64>,
    /// Forward and inverse plans; `None` when the window is too short to use.
    fwd: Option<Arc<dyn RealToComplex<f64>>>,
    inv: Option<Arc<dyn ComplexToReal<f64>>>,
    padded: Vec<f64>,
    input: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    output: Vec<f64>,
    sum: Vec<f64>,
    tempogram: Vec<f64>,
    scratch: Vec<Complex<f64>>,
}

impl Tempo {
    /// librosa.feature.tempo on `env` with parabolic refinement of the winning
    /// lag, averaging at most [`TEMPOGRAM_MAX_FRAMES`] evenly spaced windows.
    /// Returns BPM, or 0 when there is no onset energy.
    pub(super) fn estimate(&mut self, env: &[f32], sr: u32) -> f64 {
        if self.sample_rate_hz != Some(sr) {
            self.plan(sr);
        }
        let n = env.len();
        let w = self.win;
        let (Some(fwd), Some(inv)) = (self.fwd.as_ref(), self.inv.as_ref()) else {
            return 0.0;
        };
        if n == 0 || !env.iter().any(|&v| v > 0.0) {
            return 0.0;
        }
        let half = w / 2;
        // linear_ramp padding to zero at both ends
        self.padded.clear();
        let first = env[0] as f64;
        let last = env[n - 1] as f64;
        self.padded.extend((0..half).map(|i| first * i as f64 / half as f64));
        self.padded.extend(env.iter().map(|&v| v as f64));
        self.padded.extend((0..half).map(|j| last * (half - 1 - j) as f64 / half as f64));
        // frames of length w starting at 0..n (padding may be short by one when w is odd)
        self.padded.resize(n + w, 0.0);

        let nfft = fwd.len();
        self.input.resize(nfft, 0.0);
        self.spectrum.resize(nfft / 2 + 1, Complex::new(0.0, 0.0));
        self.output.resize(nfft, 0.0);
        self.sum.clear();
        self.sum.resize(w, 0.0);
        let scratch_len = fwd.get_scratch_len().max(inv.get_scratch_len());
        self.scratch.resize(scratch_len, Complex::new(0.0, 0.0));
        let stride = n.div_ceil(TEMPOGRAM_MAX_FRAMES).max(1);
        let mut count = 0usize;
        let mut t = 0;
        while t < n {
            let seg = &self.padded[t..t + w];
            for ((dst, &s), &win) in self.input.iter_mut().zip(seg).zip(&self.window) {
                *dst = s * win;
            }
            for v in self.input[w..].iter_mut() {
                *v = 0.0;
            }
            // The buffers are sized from these plans just above, so the lengths always match.
            fwd.process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
                .expect("tempo buffers are sized from their plan");
            for c in self.spectrum.iter_mut() {
                *c = Complex::new(c.re * c.re + c.im * c.im, 0.0);
            }
            inv.process_with_scratch(&mut self.spectrum, &mut self.output, &mut self.scratch)
                .expect("tempo buffers are sized from their plan");
            let norm = self.output[..w].iter().fold(0.0f64, |a, &b| a.max(b.abs()));
            let norm = if norm < f64::MIN_POSITIVE { 1.0 } else { norm };
            for (acc, &v) in self.sum.iter_mut().zip(&self.output[..w]) {
                *acc += v / norm;
            }
            count += 1;
            t += stride;
        }
        self.tempogram.clear();
        self.tempogram.extend(self.sum.iter().map(|v| v / count as f64));
        let tg = &self.tempogram;

        let srf = sr as f64;
        let bpm_of = |lag: f64| 60.0 * srf / (HOP_LEN as f64 * lag);
        let mut best: Option<(usize, f64)> = None;
        for (lag, &g) in tg.iter().enumerate().skip(1) {
            let bpm = bpm_of(lag as f64);
            if bpm >= TEMPO_MAX_BPM {
                continue;
            }
            let prior = -0.5 * ((bpm.log2() - TEMPO_START_BPM.log2()) / TEMPO_STD_OCTAVES).powi(2);
            let score = (1e6 * g).ln_1p() + prior;
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((lag, score));
            }
        }
        let Some((lag, _)) = best else {
            return 0.0;
        };
        let mut refined = lag as f64;
        if lag >= 2 && lag + 1 < w {
            let (a, b, c) = (tg[lag - 1], tg[lag], tg[lag + 1]);
            let denom = a - 2.0 * b + c;
            if denom < 0.0 && b >= a && b >= c {
                refined += (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
            }
        }
        bpm_of(refined)
    }

    /// The autocorrelation window (librosa: `time_to_frames(8 s)` = floor(floor(8·sr) / hop)) and its FFT plans.
    fn plan(&mut self, sr: u32) {
        let srf = sr as f64;
        let win = ((TEMPO_AC_SECONDS * srf).floor() as usize) / HOP_LEN;
        self.window = (0..win).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / win as f64).cos()).collect();
        (self.fwd, self.inv) = if win >= 3 {
            let nfft = (2 * win - 1).next_power_of_two();
            (Some(self.planner.plan_fft_forward(nfft)), Some(self.planner.plan_fft_inverse(nfft)))
        } else {
            (None, None)
        };
        self.win = win;
        self.sample_rate_hz = Some(sr);
    }
}

/// librosa.util.peak_pick, returning the number of peaks.
fn peak_pick(x: &[f32], pre_max: usize, post_max: usize, pre_avg: usize, post_avg: usize, delta: f32, wait: usize) -> usize {
    let len = x.len();
    let max_of = |s: &[f32]| s.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mean_of = |s: &[f32]| s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64;
    let delta = delta as f64;
    let mut count = 0;
    let p0 = x[0] >= max_of(&x[..post_max.min(len)]) && x[0] as f64 >= mean_of(&x[..post_avg.min(len)]) + delta;
    let mut n = if p0 {
        count += 1;
        wait + 1
    } else {
        1
    };
    while n < len {
        let maxn = max_of(&x[n.saturating_sub(pre_max)..(n + post_max).min(len)]);
        if x[n] != maxn {
            n += 1;
            continue;
        }
        let avgn = mean_of(&x[n.saturating_sub(pre_avg)..(n + post_avg).min(len)]);
        if (x[n] as f64) < avgn + delta {
            n += 1;
            continue;
        }
        count += 1;
        n += wait + 1;
    }
    count
}

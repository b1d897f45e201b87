//! The mel spectrogram in dB that onset detection reads: a 128-band Slaney
//! mel filter bank (librosa's `filters.mel` defaults, fmax = sr/2) applied to
//! each power spectrum of the shared STFT, converted to dB, then floored at
//! 80 dB below the track's loudest band.
//!
//! Owns the per-rate filter bank and the whole track's spectrogram (512 bytes
//! per hop), which grows to the longest track seen and is reused.

use super::FRAME_LEN;
use super::kernels::{AMIN, N_BINS};

/// Mel bands per frame.
pub(super) const N_MELS: usize = 128;
/// Dynamic range kept below the loudest band, dB (librosa's `top_db`).
const TOP_DB: f32 = 80.0;
/// 10 / ln(10): power ratio to decibels from a natural log.
const DB_PER_LN: f32 = 4.342_944_8;

/// Mel filter bank for one rate plus the current track's dB spectrogram.
#[derive(Default)]
pub(super) struct MelSpectrogram {
    /// The rate the bank was built for.
    sample_rate_hz: Option<u32>,
    /// Band `m` covers bins `band_start[m]..band_start[m] + band_len[m]`,
    /// with weights at `weight_off[m]..` in `weights`.
    band_start: Vec<usize>,
    band_len: Vec<usize>,
    weight_off: Vec<usize>,
    weights: Vec<f32>,
    /// `N_MELS` dB values per frame, frame-major.
    db: Vec<f32>,
}

impl MelSpectrogram {
    /// Starts a track of `n_frames` frames at `sr` Hz, rebuilding the filter bank if the rate changed.
    pub(super) fn start(&mut self, sr: u32, n_frames: usize) {
        if self.sample_rate_hz != Some(sr) {
            self.build_bank(sr);
        }
        self.db.clear();
        self.db.resize(n_frames * N_MELS, 0.0);
    }

    /// Frame `k`'s power spectrum -> its mel bands in dB (unfloored until [`MelSpectrogram::apply_top_db`]).
    pub(super) fn add_frame(&mut self, k: usize, power: &[f32]) {
        let row = &mut self.db[k * N_MELS..(k + 1) * N_MELS];
        for (m, out) in row.iter_mut().enumerate() {
            let s = self.band_start[m];
            let l = self.band_len[m];
            let o = self.weight_off[m];
            *out = dot_short(&self.weights[o..o + l], &power[s..s + l]).max(AMIN);
        }
        for v in row.iter_mut() {
            *v = DB_PER_LN * fast_ln(*v);
        }
    }

    /// Floors every value at [`TOP_DB`] below the track's loudest (librosa's `power_to_db`).
    pub(super) fn apply_top_db(&mut self) {
        let gmax = self.db.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let floor = gmax - TOP_DB;
        for v in self.db.iter_mut() {
            if *v < floor {
                *v = floor;
            }
        }
    }

    /// Frame `k`'s `N_MELS` bands, dB.
    pub(super) fn frame(&self, k: usize) -> &[f32] {
        &self.db[k * N_MELS..(k + 1) * N_MELS]
    }

    /// Slaney-style mel filter bank, norm='slaney', fmin 0, fmax sr/2, each
    /// band stored as its run of non-zero weights.
    fn build_bank(&mut self, sr: u32) {
        let srf = sr as f64;
        let mel_f = linspace(hz_to_mel(0.0), hz_to_mel(srf / 2.0), N_MELS + 2).into_iter().map(mel_to_hz).collect::<Vec<f64>>();
        self.band_start.clear();
        self.band_len.clear();
        self.weight_off.clear();
        self.weights.clear();
        for i in 0..N_MELS {
            let fdiff_lo = mel_f[i + 1] - mel_f[i];
            let fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
            let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
            let w: Vec<f32> = (0..N_BINS)
                .map(|k| {
                    let f = k as f64 * srf / FRAME_LEN as f64;
                    let lower = -(mel_f[i] - f) / fdiff_lo;
                    let upper = (mel_f[i + 2] - f) / fdiff_hi;
                    let v = 0f64.max(lower.min(upper)) as f32;
                    (v as f64 * enorm) as f32
                })
                .collect();
            let (s, l) = match (w.iter().position(|&v| v != 0.0), w.iter().rposition(|&v| v != 0.0)) {
                (Some(first), Some(last)) => (first, last + 1 - first),
                _ => (0, 0),
            };
            self.band_start.push(s);
            self.band_len.push(l);
            self.weight_off.push(self.weights.len());
            self.weights.extend_from_slice(&w[s..s + l]);
        }
        self.sample_rate_hz = Some(sr);
    }
}

/// Dot product for short slices (mel bands): 4 lanes.
fn dot_short(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Natural log of a positive, finite, normal f32 (branch-free, vectorisable;
/// within a few ulp of libm): x = m·2^e with m in [√½, √2), ln m by the
/// atanh series to s^9.
#[inline]
fn fast_ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
    e as f32 * std::f32::consts::LN_2 + 2.0 * s * poly
}

fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let step = (stop - start) / div;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(l) = v.last_mut() {
        *l = stop;
    }
    v
}

const MEL_F_SP: f64 = 200.0 / 3.0;
const MEL_MIN_LOG_HZ: f64 = 1000.0;
const MEL_MIN_LOG_MEL: f64 = MEL_MIN_LOG_HZ / MEL_F_SP;

fn mel_logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney mel scale: linear below 1 kHz, logarithmic above (librosa's `htk=False`).
fn hz_to_mel(f: f64) -> f64 {
    if f >= MEL_MIN_LOG_HZ { MEL_MIN_LOG_MEL + (f / MEL_MIN_LOG_HZ).ln() / mel_logstep() } else { f / MEL_F_SP }
}

/// Inverse of [`hz_to_mel`].
fn mel_to_hz(m: f64) -> f64 {
    if m >= MEL_MIN_LOG_MEL { MEL_MIN_LOG_HZ * (mel_logstep() * (m - MEL_MIN_LOG_MEL)).exp() } else { MEL_F_SP * m }
}

//! Tonal descriptors: the tuning estimate, the chroma of every frame, and
//! key clarity from the mean chroma.
//!
//! Owns the piptrack scratch, the chroma filter bank (rebuilt when the rate or
//! the tuning changes), the per-frame chroma that [`crate::analysis::tonal`] reads
//! through `DescriptorAnalyzer::chroma_frames`, and the Krumhansl–Kessler key
//! profiles.

use super::kernels::{N_BINS, Stft};
use super::{CHROMA_SILENCE_DB, FRAME_LEN, N_CHROMA, TUNING_MAX_FRAMES};

/// piptrack's band and relative threshold (librosa's `estimate_tuning` defaults).
const PIP_FMIN_HZ: f64 = 150.0;
const PIP_FMAX_HZ: f64 = 4000.0;
const PIP_THRESHOLD: f32 = 0.1;
/// Chroma filter-bank row stride (12 weights padded to 16 for SIMD).
const CHROMA_STRIDE: usize = 16;
/// Adjacent FFT bins are less than a semitone apart only from bin 17 on
/// (12·log2(18/17) < 1), whatever the sample rate. Below that librosa's chroma
/// kernels are wider than a semitone, so those bins keep all 12 weights.
const CHROMA_DENSE_BINS: usize = 17;

const KK_MAJOR: [f64; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const KK_MINOR: [f64; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

/// librosa's `estimate_tuning` on the power spectrogram.
#[derive(Default)]
pub(super) struct Tuning {
    /// The rate the piptrack bin range was found for.
    sample_rate_hz: Option<u32>,
    /// piptrack's bin range: `PIP_FMIN_HZ <= f < min(PIP_FMAX_HZ, sr/2)`.
    pip_lo: usize,
    pip_hi: usize,
    pitches: Vec<f32>,
    pitch_mags: Vec<f32>,
    mags_sorted: Vec<f32>,
}

impl Tuning {
    /// librosa.estimate_tuning on the power spectrogram (piptrack with
    /// fmin 150, fmax 4000, threshold 0.1; median magnitude gate; histogram of
    /// residuals at 0.01 resolution) over at most [`TUNING_MAX_FRAMES`] evenly
    /// spaced frames. Returns tuning in fractions of a bin.
    pub(super) fn estimate(&mut self, stft: &mut Stft, y: &[f32], n_frames: usize, sr: u32) -> f64 {
        if self.sample_rate_hz != Some(sr) {
            self.find_pip_range(sr);
        }
        let (lo, hi) = (self.pip_lo, self.pip_hi);
        self.pitches.clear();
        self.pitch_mags.clear();
        let n_use = n_frames.min(TUNING_MAX_FRAMES);
        for i in 0..n_use {
            let k = if n_use == n_frames { i } else { (2 * i + 1) * n_frames / (2 * n_use) };
            let s = stft.power_spectrum(y, k);
            let ref_value = PIP_THRESHOLD * s.iter().fold(0.0f32, |a, &b| a.max(b));
            let x = |j: usize| if s[j] > ref_value { s[j] } else { 0.0 };
            for j in lo..hi {
                let xj = x(j);
                if !(xj > x(j - 1) && xj >= x(j + 1)) {
                    continue;
                }
                let a = s[j + 1] + s[j - 1] - 2.0 * s[j];
                let b = (s[j + 1] - s[j - 1]) / 2.0;
                let shift = if b.abs() >= a.abs() { 0.0 } else { -b / a };
                let pitch = (j as f32 + shift) * sr as f32 / FRAME_LEN as f32;
                let mag = s[j] + 0.5 * b * shift;
                if pitch > 0.0 {
                    self.pitches.push(pitch);
                    self.pitch_mags.push(mag);
                }
            }
        }
        if self.pitches.is_empty() {
            return 0.0;
        }
        // np.median of the magnitudes
        self.mags_sorted.clear();
        self.mags_sorted.extend_from_slice(&self.pitch_mags);
        let m = self.mags_sorted.len();
        self.mags_sorted.sort_unstable_by(|a, b| a.total_cmp(b));
        let threshold = if m % 2 == 1 {
            self.mags_sorted[m / 2] as f64
        } else {
            (self.mags_sorted[m / 2 - 1] as f64 + self.mags_sorted[m / 2] as f64) / 2.0
        };
        let mut counts = [0u32; 100];
        for (&p, &mg) in self.pitches.iter().zip(&self.pitch_mags) {
            if (mg as f64) < threshold {
                continue;
            }
            let octs = (p as f64 / 27.5).log2();
            let mut r = (12.0 * octs).rem_euclid(1.0);
            if r >= 0.5 {
                r -= 1.0;
            }
            counts[histogram_bin(r)] += 1;
        }
        let mut best = 0;
        for (i, &c) in counts.iter().enumerate() {
            if c > counts[best] {
                best = i;
            }
        }
        -0.5 + best as f64 * 0.01
    }

    fn find_pip_range(&mut self, sr: u32) {
        let srf = sr as f64;
        let bin_hz = |k: usize| k as f64 * srf / FRAME_LEN as f64;
        let fmax = PIP_FMAX_HZ.min(srf / 2.0);
        self.pip_lo = (0..N_BINS).find(|&k| bin_hz(k) >= PIP_FMIN_HZ).unwrap_or(N_BINS).max(1);
        self.pip_hi = (0..N_BINS).rev().find(|&k| bin_hz(k) < fmax).map_or(0, |k| k + 1).min(N_BINS - 1);
        self.sample_rate_hz = Some(sr);
    }
}

/// The chroma filter bank and the current track's chroma frames.
#[derive(Default)]
pub(super) struct Chroma {
    /// Dense chroma weights for the first `CHROMA_DENSE_BINS` bins (16-wide rows).
    dense: Vec<f32>,
    /// 8 weights per bin from `CHROMA_DENSE_BINS` on, starting at the run's class.
    sparse: Vec<f32>,
    /// Runs of bins sharing a first class: (start bin, end bin, first class).
    runs: Vec<(usize, usize, usize)>,
    /// (rate, tuning in hundredths) the bank was built for.
    bank_key: Option<(u32, i64)>,
    /// The track's chroma, one max-normalised vector per frame.
    frames: Vec<[f32; N_CHROMA]>,
    /// Each frame's largest raw chroma power, to tell silence from sound.
    levels: Vec<f32>,
    /// Σ over frames of each normalised class (before silencing).
    sum: [f64; N_CHROMA],
}

impl Chroma {
    /// Forgets the last track's frames (so a degenerate input exports none).
    pub(super) fn clear(&mut self) {
        self.frames.clear();
        self.levels.clear();
        self.sum = [0.0; N_CHROMA];
    }

    /// Starts a track at `sr` Hz tuned `tuning` bins off A440 (rebuilding the bank if either changed).
    pub(super) fn start(&mut self, sr: u32, tuning: f64) {
        self.clear();
        let key = (sr, (tuning * 100.0).round() as i64);
        if self.bank_key != Some(key) {
            self.build_bank(sr, tuning);
            self.bank_key = Some(key);
        }
    }

    /// Adds one frame's power spectrum: its chroma, max-normalised per frame.
    pub(super) fn add_frame(&mut self, power: &[f32]) {
        let raw = chroma_raw(&self.dense, &self.sparse, &self.runs, power);
        let mx = raw.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
        let norm = if mx >= f32::MIN_POSITIVE { mx } else { 1.0 };
        let mut frame = [0.0f32; N_CHROMA];
        for c in 0..N_CHROMA {
            frame[c] = raw[c] / norm;
            self.sum[c] += frame[c] as f64;
        }
        self.frames.push(frame);
        self.levels.push(mx);
    }

    /// Mean chroma over the frames added since [`Chroma::start`] (silent frames included, as in librosa).
    pub(super) fn mean(&self) -> [f64; N_CHROMA] {
        let nf = self.frames.len() as f64;
        std::array::from_fn(|c| self.sum[c] / nf)
    }

    /// Zeroes the frames more than [`CHROMA_SILENCE_DB`] below the loudest;
    /// the mean behind key clarity is unchanged, as in librosa.
    pub(super) fn silence_quiet_frames(&mut self) {
        let loudest = self.levels.iter().fold(0.0f32, |a, &b| a.max(b));
        let floor = loudest * 10f32.powf(-CHROMA_SILENCE_DB / 10.0);
        for (frame, &level) in self.frames.iter_mut().zip(&self.levels) {
            if level <= floor {
                *frame = [0.0; N_CHROMA];
            }
        }
        self.levels.clear();
    }

    /// The track's chroma frames.
    pub(super) fn frames(&self) -> &[[f32; N_CHROMA]] {
        &self.frames
    }

    /// librosa.filters.chroma(sr, n_fft=2048, tuning, n_chroma=12, ctroct 5,
    /// octwidth 2, norm 2, base_c), stored bin-major for a single pass over
    /// the spectrum: dense 16-wide rows below `CHROMA_DENSE_BINS`, 8 weights a
    /// bin above.
    fn build_bank(&mut self, sr: u32, tuning: f64) {
        let srf = sr as f64;
        let nc = N_CHROMA as f64;
        let a440 = 440.0 * 2f64.powf(tuning / nc);
        // frqbins over all n_fft bins (we need indices 0..=N_BINS for widths)
        let mut frq = vec![0.0f64; FRAME_LEN];
        for (k, v) in frq.iter_mut().enumerate().skip(1) {
            let f = k as f64 * srf / FRAME_LEN as f64;
            *v = nc * (f / (a440 / 16.0)).log2();
        }
        frq[0] = frq[1] - 1.5 * nc;
        let mut w = vec![0.0f64; CHROMA_STRIDE * N_BINS];
        for k in 0..N_BINS {
            let width = if k + 1 < FRAME_LEN { (frq[k + 1] - frq[k]).max(1.0) } else { 1.0 };
            let mut col = [0.0f64; N_CHROMA];
            let mut norm = 0.0;
            for (c, v) in col.iter_mut().enumerate() {
                let d = (frq[k] - c as f64 + 6.0 + 10.0 * nc).rem_euclid(nc) - 6.0;
                *v = (-0.5 * (2.0 * d / width).powi(2)).exp();
                norm += *v * *v;
            }
            let norm = norm.sqrt();
            let norm = if norm < f64::MIN_POSITIVE { 1.0 } else { norm };
            let oct = (-0.5 * ((frq[k] / nc - 5.0) / 2.0).powi(2)).exp();
            for (c, &v) in col.iter().enumerate() {
                // base_c: roll by -3 so row 0 is C
                let row = (c + N_CHROMA - 3) % N_CHROMA;
                w[k * CHROMA_STRIDE + row] = v / norm * oct;
            }
        }
        // Bins below CHROMA_DENSE_BINS have wide kernels: keep all 12 weights.
        self.dense.clear();
        for k in 0..CHROMA_DENSE_BINS {
            self.dense.extend(w[k * CHROMA_STRIDE..(k + 1) * CHROMA_STRIDE].iter().map(|&v| v as f32));
        }
        // Above, each bin's kernel is a unit-width Gaussian around its pitch
        // class: keep the 8 classes from 3 below to 4 above the peak; the
        // dropped ones are >= 3.5 semitones away (weight ratio < 1e-10).
        self.sparse.clear();
        self.runs.clear();
        for k in CHROMA_DENSE_BINS..N_BINS {
            let col = &w[k * CHROMA_STRIDE..k * CHROMA_STRIDE + N_CHROMA];
            let peak = (0..N_CHROMA).fold(0, |b, c| if col[c] > col[b] { c } else { b });
            let c0 = (peak + N_CHROMA - 3) % N_CHROMA;
            self.sparse.extend((0..8).map(|j| col[(c0 + j) % N_CHROMA] as f32));
            match self.runs.last_mut() {
                Some(run) if run.2 == c0 => run.1 = k + 1,
                _ => self.runs.push((k, k + 1, c0)),
            }
        }
    }
}

/// Raw chroma of one power spectrum from the split filter bank (see
/// [`Chroma::build_bank`]): dense 16-wide rows for the lowest bins, then runs
/// of bins whose 8 significant weights start at the same pitch class. Two
/// interleaved accumulators per run keep the add chains short.
fn chroma_raw(dense: &[f32], sparse: &[f32], runs: &[(usize, usize, usize)], power: &[f32]) -> [f32; N_CHROMA] {
    let mut acc = [0.0f32; 2 * N_CHROMA];
    for (w, &p) in dense.chunks_exact(CHROMA_STRIDE).zip(power) {
        for c in 0..N_CHROMA {
            acc[c] += w[c] * p;
        }
    }
    for &(start, end, c0) in runs {
        let mut a = [0.0f32; 8];
        let mut b = [0.0f32; 8];
        let w = &sparse[(start - CHROMA_DENSE_BINS) * 8..(end - CHROMA_DENSE_BINS) * 8];
        let p = &power[start..end];
        let wp = w.chunks_exact(16).zip(p.chunks_exact(2));
        for (w2, p2) in wp {
            for j in 0..8 {
                a[j] += w2[j] * p2[0];
                b[j] += w2[8 + j] * p2[1];
            }
        }
        if p.len() % 2 == 1 {
            let last = p.len() - 1;
            for j in 0..8 {
                a[j] += w[last * 8 + j] * p[last];
            }
        }
        for j in 0..8 {
            acc[c0 + j] += a[j] + b[j];
        }
    }
    std::array::from_fn(|c| acc[c] + acc[c + N_CHROMA])
}

/// numpy.histogram bin for 100 equal bins over [-0.5, 0.5].
fn histogram_bin(r: f64) -> usize {
    let edge = |i: usize| if i == 100 { 0.5 } else { i as f64 * 0.01 - 0.5 };
    let mut i = ((r + 0.5) * 100.0) as isize;
    i = i.clamp(0, 99);
    let mut i = i as usize;
    if r < edge(i) && i > 0 {
        i -= 1;
    }
    if r >= edge(i + 1) && i < 99 {
        i += 1;
    }
    i
}

/// Best Pearson correlation of `chroma` with the 24 rotated Krumhansl–Kessler profiles; 0 when none is defined.
pub(super) fn key_clarity(chroma: &[f64; N_CHROMA]) -> f64 {
    let mut best = f64::NEG_INFINITY;
    for profile in [&KK_MAJOR, &KK_MINOR] {
        for k in 0..N_CHROMA {
            let rotated: [f64; N_CHROMA] = std::array::from_fn(|c| profile[(c + N_CHROMA - k) % N_CHROMA]);
            if let Some(r) = pearson(chroma, &rotated) {
                best = best.max(r);
            }
        }
    }
    if best.is_finite() { best } else { 0.0 }
}

fn pearson(a: &[f64; N_CHROMA], b: &[f64; N_CHROMA]) -> Option<f64> {
    let n = N_CHROMA as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..N_CHROMA {
        let (da, db) = (a[i] - ma, b[i] - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    let d = (saa * sbb).sqrt();
    if d > 1e-12 { Some(sab / d) } else { None }
}

//! Spectral-shape descriptors: centroid, 85 % rolloff and flatness, averaged
//! over the frames of the shared STFT.
//!
//! Owns the per-rate bin frequencies and the per-frame magnitude scratch; sees
//! one power spectrum at a time.

use super::FRAME_LEN;
use super::kernels::{AMIN, N_BINS, dot_f32, sum_f32};

/// Fraction of the magnitude sum below the rolloff frequency.
const ROLL_PERCENT: f32 = 0.85;

/// The spectral family's results for one track (means over frames).
pub(super) struct SpectralSummary {
    /// Mean spectral centroid, Hz.
    pub(super) centroid_hz: f64,
    /// Mean 85 % rolloff frequency, Hz.
    pub(super) rolloff_hz: f64,
    /// Mean spectral flatness.
    pub(super) flatness: f64,
}

/// Accumulates centroid, rolloff and flatness frame by frame.
pub(super) struct Spectral {
    /// The rate `bin_hz` was built for.
    sample_rate_hz: Option<u32>,
    /// Centre frequency of each FFT bin, Hz.
    bin_hz: Vec<f32>,
    mag: Vec<f32>,
    exps: Vec<i32>,
    mants: Vec<f32>,
    centroid_sum: f64,
    rolloff_sum: f64,
    flatness_sum: f64,
}

impl Spectral {
    /// Empty sums; the bin frequencies are built by [`Spectral::start`].
    pub(super) fn new() -> Self {
        Self {
            sample_rate_hz: None,
            bin_hz: Vec::new(),
            mag: vec![0.0; N_BINS],
            exps: vec![0; N_BINS],
            mants: vec![0.0; N_BINS],
            centroid_sum: 0.0,
            rolloff_sum: 0.0,
            flatness_sum: 0.0,
        }
    }

    /// Starts a track at `sr` Hz: zeroes the sums, rebuilds the bin frequencies if the rate changed.
    pub(super) fn start(&mut self, sr: u32) {
        if self.sample_rate_hz != Some(sr) {
            let srf = sr as f64;
            self.bin_hz = (0..N_BINS).map(|k| (k as f64 * srf / FRAME_LEN as f64) as f32).collect();
            self.sample_rate_hz = Some(sr);
        }
        self.centroid_sum = 0.0;
        self.rolloff_sum = 0.0;
        self.flatness_sum = 0.0;
    }

    /// Adds one frame's power spectrum (|X|², `N_BINS` values).
    pub(super) fn add_frame(&mut self, power: &[f32]) {
        let st = spectral_stats(power, &self.bin_hz, &mut self.mag, &mut self.exps, &mut self.mants);
        // centroid (librosa leaves all-zero frames unnormalised)
        self.centroid_sum +=
            if st.mag_sum >= f32::MIN_POSITIVE { st.weighted_sum as f64 / st.mag_sum as f64 } else { st.weighted_sum as f64 };
        self.rolloff_sum += self.bin_hz[rolloff_bin(&self.mag, st.mag_sum)] as f64;
        // flatness: geometric / arithmetic mean of max(power, 1e-10)
        let nb = N_BINS as f64;
        self.flatness_sum += (st.log_sum / nb).exp() / (st.power_sum as f64 / nb);
    }

    /// Means over the `n_frames` frames added since [`Spectral::start`].
    pub(super) fn finish(&self, n_frames: usize) -> SpectralSummary {
        let nf = n_frames as f64;
        SpectralSummary { centroid_hz: self.centroid_sum / nf, rolloff_hz: self.rolloff_sum / nf, flatness: self.flatness_sum / nf }
    }
}

/// Index of the first bin whose cumulative magnitude reaches 85 % of `total`.
fn rolloff_bin(mag: &[f32], total: f32) -> usize {
    let threshold = ROLL_PERCENT * total;
    let mut run = 0.0f32;
    let mut base = 0;
    for ch in mag.chunks(16) {
        let s = sum_f32(ch);
        if run + s >= threshold {
            for (i, &v) in ch.iter().enumerate() {
                run += v;
                if run >= threshold {
                    return base + i;
                }
            }
            // rounding: chunk sum reached the threshold but the running sum did not
            return (base + ch.len()).min(mag.len() - 1);
        }
        run += s;
        base += ch.len();
    }
    mag.len() - 1
}

/// Per-frame sums from one pass over the power spectrum.
struct SpectralStats {
    /// Σ|X|
    mag_sum: f32,
    /// Σ f·|X|
    weighted_sum: f32,
    /// Σ ln max(|X|², 1e-10)
    log_sum: f64,
    /// Σ max(|X|², 1e-10)
    power_sum: f32,
}

/// Magnitudes into `mag` (`exps`, `mants` are scratch) plus the
/// sums needed by centroid and flatness. Written as simple element-wise maps
/// and lane-wise sums so that each loop vectorises.
fn spectral_stats(power: &[f32], bin_hz: &[f32], mag: &mut [f32], exps: &mut [i32], mants: &mut [f32]) -> SpectralStats {
    for (m, &p) in mag.iter_mut().zip(power) {
        *m = p.sqrt();
    }
    // Σ ln max(p, 1e-10) = ln2·Σ exponents + ln Π mantissas: split each value
    // into exponent and mantissa in [1, 2) (element-wise, vectorises), multiply
    // the mantissas in 8 lanes with a log taken every 64 rows (< 2^64).
    for ((e, m), &p) in exps.iter_mut().zip(mants.iter_mut()).zip(power) {
        let bits = (if p > AMIN { p } else { AMIN }).to_bits();
        *e = (bits >> 23) as i32 - 127;
        *m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    }
    let mut log_sum = 0.0f64;
    for block in mants.chunks(8 * 64) {
        let mut prod = [1.0f32; 8];
        let rows = block.chunks_exact(8);
        let rem = rows.remainder();
        for row in rows {
            for i in 0..8 {
                prod[i] *= row[i];
            }
        }
        for (i, &m) in rem.iter().enumerate() {
            prod[i] *= m;
        }
        for p in prod {
            log_sum += (p as f64).ln();
        }
    }
    let mut e_lanes = [0i32; 8];
    let e_chunks = exps.chunks_exact(8);
    let mut e_sum: i32 = e_chunks.remainder().iter().sum();
    for ch in e_chunks {
        for i in 0..8 {
            e_lanes[i] += ch[i];
        }
    }
    e_sum += e_lanes.iter().sum::<i32>();
    log_sum += e_sum as f64 * std::f64::consts::LN_2;
    let mut s_p = [0.0f32; 8];
    let chunks = power.chunks_exact(8);
    let rem = chunks.remainder();
    for ch in chunks {
        for i in 0..8 {
            s_p[i] += if ch[i] > AMIN { ch[i] } else { AMIN };
        }
    }
    let mut power_sum: f32 = s_p.iter().sum();
    for &p in rem {
        power_sum += if p > AMIN { p } else { AMIN };
    }
    SpectralStats { mag_sum: sum_f32(mag), weighted_sum: dot_f32(mag, bin_hz), log_sum, power_sum }
}

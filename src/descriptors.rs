//! Measurable, track-level audio descriptors computed from mono `f32` audio.
//!
//! This module owns the descriptor *maths* only: framing, the STFT, mel and
//! chroma filter banks, onset detection, tempo estimation and the summary
//! statistics that turn per-frame features into one number per track. It must
//! not touch I/O, decoding, resampling, threading or storage: callers hand it
//! decoded mono samples plus their sample rate and get a [`Descriptors`] back.
//!
//! # Definitions
//!
//! All frame-based features follow librosa 0.11 defaults so that values can be
//! compared with it (see `tests/golden/make_descriptor_goldens.py`): frames of
//! [`FRAME_LEN`] samples every [`HOP_LEN`] samples (in samples, whatever the
//! sample rate), `center=True` with zero padding, a periodic Hann window for
//! spectra. Every frequency-domain computation uses the given sample rate.
//!
//! * **spectral centroid** (Hz): mean over frames of the magnitude-weighted
//!   mean frequency (`librosa.feature.spectral_centroid`).
//! * **spectral rolloff** (Hz): mean over frames of the lowest bin frequency
//!   below which 85 % of the magnitude sum lies (`spectral_rolloff`).
//! * **zero-crossing rate**: mean over frames of the fraction of adjacent
//!   sample pairs that change sign (`zero_crossing_rate`, edge padding,
//!   |x| <= 1e-10 counted as zero / positive).
//! * **spectral flatness**: mean over frames of geometric / arithmetic mean of
//!   the power spectrum floored at 1e-10 (`spectral_flatness`, power 2).
//! * **rms**: mean over frames of the frame RMS (`librosa.feature.rms`).
//! * **dynamic range** (dB): 95th minus 10th percentile (linear interpolation,
//!   numpy's default) of `20·log10(max(rms, 1e-10))` over frames above -80 dB;
//!   0 when fewer than two frames qualify.
//! * **onset rate** (1/s): onsets found by librosa's `onset_detect` recipe
//!   (128-band Slaney mel power spectrogram in dB with an 80 dB floor below the
//!   global maximum, positive first difference averaged over bands, peak
//!   picking with librosa's default windows and `delta = 0.07`) divided by
//!   the track duration. One deviation: librosa's 30 ms local-max window and
//!   refractory wait are `floor(0.03·sr / 512)` frames, which is 0 below
//!   ~17 kHz and roughly doubles the count on sharp attacks at 16 kHz; both
//!   are clamped to at least one frame here (no change at 22.05/44.1 kHz).
//! * **tempo** (BPM): librosa's `feature.tempo` recipe: the onset-strength
//!   envelope's Hann-windowed autocorrelation over 8 s windows (each window
//!   normalised by its zero-lag value, then averaged), weighted by a
//!   log-normal prior centred on 120 BPM (one octave standard deviation),
//!   tempi above 320 BPM excluded. Unlike librosa, the winning lag is refined
//!   by parabolic interpolation, so the result is not quantised to the lag
//!   grid (librosa's 120 BPM click track reads 117.45; this reads ~120).
//!   Octave errors (x2, x0.5) are inherent to the method.
//! * **key clarity**: the maximum Pearson correlation between the track's
//!   mean chroma vector (`chroma_stft`: power spectrum, tuning estimated with
//!   librosa's `estimate_tuning`, per-frame max normalisation) and the 24
//!   rotated Krumhansl–Kessler major/minor key profiles.
//!
//! # Approximations and cost
//!
//! Two steps are subsampled once a track is long enough that it no longer
//! changes the answer measurably, to keep analysis fast (see the constants
//! [`TUNING_MAX_FRAMES`] and [`TEMPOGRAM_MAX_FRAMES`]): the tuning estimate
//! looks at evenly spaced frames, and the tempogram average uses evenly spaced
//! windows (on 3-minute grooves the averaged tempogram moves by < 1e-4 and the
//! chosen lag not at all). Short tracks (under ~24 s at 22.05 kHz) are
//! computed in full. Chroma weights more than 3.5 semitones from a bin's
//! pitch (relative size < 1e-10) are skipped above bin 17.
//!
//! One STFT pass feeds every spectral descriptor; frames are [`FRAME_LEN`]
//! samples whatever the rate, so cost grows with the sample count (a 44.1 kHz
//! track costs twice a 22.05 kHz one). The analyser keeps the mel spectrogram
//! in dB for onset detection: 512 bytes per hop, i.e. a quarter of the size of
//! the `f32` input. Its buffers grow to the longest track seen and are reused.
//!
//! # Degenerate input
//!
//! The analyser never panics and never returns NaN or infinity:
//!
//! * empty input, a sample rate of 0 or above [`MAX_SAMPLE_RATE_HZ`], or
//!   digital silence (peak |x| <= 1e-10)
//!   yields all-zero [`Descriptors`] (librosa would report a flatness of 1
//!   and a prior-driven tempo of ~120 BPM for silence; zeros are more useful
//!   to an explorer);
//! * non-finite samples are treated as 0 and samples are clamped to ±1e6;
//! * when no onset energy exists (e.g. a steady tone shorter than a frame or
//!   two), tempo and onset rate are 0;
//! * very short input (even a single sample) is analysed as one zero-padded
//!   frame like librosa does; dynamic range is then 0.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// STFT / analysis frame length in samples (librosa's `n_fft` default).
pub const FRAME_LEN: usize = 2048;
/// Hop between frames in samples (librosa's `hop_length` default).
pub const HOP_LEN: usize = 512;
/// At most this many (evenly spaced) frames feed the tuning estimate.
pub const TUNING_MAX_FRAMES: usize = 1024;
/// At most this many (evenly spaced) autocorrelation windows are averaged for tempo.
pub const TEMPOGRAM_MAX_FRAMES: usize = 1024;

/// Highest sample rate analysed (DXD); above it [`DescriptorAnalyzer::analyze`]
/// returns zeros rather than planning absurdly long tempo FFTs.
pub const MAX_SAMPLE_RATE_HZ: u32 = 768_000;

const N_BINS: usize = FRAME_LEN / 2 + 1;
const N_MELS: usize = 128;
/// Pitch classes in a chroma vector.
pub const N_CHROMA: usize = 12;

/// Chroma frames this far (dB, power) below the loudest frame of an
/// analysis count as silence in [`DescriptorAnalyzer::chroma_frames`]; 60 dB
/// is the usual silence threshold (librosa's `effects.split` default).
pub const CHROMA_SILENCE_DB: f32 = 60.0;
/// Chroma filter-bank row stride (12 weights padded to 16 for SIMD).
const CHROMA_STRIDE: usize = 16;
/// Adjacent FFT bins are less than a semitone apart only from bin 17 on
/// (12·log2(18/17) < 1), whatever the sample rate. Below that librosa's chroma
/// kernels are wider than a semitone, so those bins keep all 12 weights.
const CHROMA_DENSE_BINS: usize = 17;
const ROLL_PERCENT: f32 = 0.85;
const AMIN: f32 = 1e-10;
const TOP_DB: f32 = 80.0;
/// 10 / ln(10): power ratio to decibels from a natural log.
const DB_PER_LN: f32 = 4.342_944_8;
const ZC_THRESHOLD: f32 = 1e-10;
const SILENCE_PEAK: f32 = 1e-10;
const SAMPLE_CLAMP: f32 = 1e6;
const DR_FLOOR_DB: f64 = -80.0;
const ONSET_DELTA: f32 = 0.07;
const TEMPO_START_BPM: f64 = 120.0;
const TEMPO_STD_OCTAVES: f64 = 1.0;
const TEMPO_MAX_BPM: f64 = 320.0;
const TEMPO_AC_SECONDS: f64 = 8.0;
const PIP_FMIN: f64 = 150.0;
const PIP_FMAX: f64 = 4000.0;
const PIP_THRESHOLD: f32 = 0.1;

const KK_MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const KK_MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// One measurable descriptor. Serialises as its [`Descriptor::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Descriptor {
    /// Mean spectral centroid, Hz (brightness).
    #[serde(rename = "spectral_centroid_hz")]
    SpectralCentroid,
    /// Mean 85 % spectral rolloff, Hz.
    #[serde(rename = "spectral_rolloff_hz")]
    SpectralRolloff,
    /// Mean zero-crossing rate, crossings per sample pair (0..1).
    #[serde(rename = "zero_crossing_rate")]
    ZeroCrossingRate,
    /// Mean spectral flatness (0 tonal .. 1 noise-like).
    #[serde(rename = "spectral_flatness")]
    SpectralFlatness,
    /// Mean frame RMS level (linear, full scale = 1).
    #[serde(rename = "rms")]
    Rms,
    /// 95th minus 10th percentile of frame RMS, dB.
    #[serde(rename = "dynamic_range_db")]
    DynamicRange,
    /// Detected onsets per second.
    #[serde(rename = "onset_rate_per_s")]
    OnsetRate,
    /// Estimated tempo, beats per minute (0 when there is no onset energy).
    #[serde(rename = "tempo_bpm")]
    Tempo,
    /// Best correlation of the mean chroma with a major/minor key profile (-1..1).
    #[serde(rename = "key_clarity")]
    KeyClarity,
}

impl Descriptor {
    /// Every descriptor, in a stable display order.
    pub const ALL: [Descriptor; 9] = [
        Descriptor::SpectralCentroid,
        Descriptor::SpectralRolloff,
        Descriptor::ZeroCrossingRate,
        Descriptor::SpectralFlatness,
        Descriptor::Rms,
        Descriptor::DynamicRange,
        Descriptor::OnsetRate,
        Descriptor::Tempo,
        Descriptor::KeyClarity,
    ];

    /// Stable machine key (also the serde name and the [`Descriptors`] field name).
    pub fn key(self) -> &'static str {
        match self {
            Descriptor::SpectralCentroid => "spectral_centroid_hz",
            Descriptor::SpectralRolloff => "spectral_rolloff_hz",
            Descriptor::ZeroCrossingRate => "zero_crossing_rate",
            Descriptor::SpectralFlatness => "spectral_flatness",
            Descriptor::Rms => "rms",
            Descriptor::DynamicRange => "dynamic_range_db",
            Descriptor::OnsetRate => "onset_rate_per_s",
            Descriptor::Tempo => "tempo_bpm",
            Descriptor::KeyClarity => "key_clarity",
        }
    }

    /// Human-readable name with unit.
    pub fn label(self) -> &'static str {
        match self {
            Descriptor::SpectralCentroid => "Spectral centroid (Hz)",
            Descriptor::SpectralRolloff => "Spectral rolloff (Hz)",
            Descriptor::ZeroCrossingRate => "Zero-crossing rate",
            Descriptor::SpectralFlatness => "Spectral flatness",
            Descriptor::Rms => "RMS level",
            Descriptor::DynamicRange => "Dynamic range (dB)",
            Descriptor::OnsetRate => "Onset rate (per second)",
            Descriptor::Tempo => "Tempo (BPM)",
            Descriptor::KeyClarity => "Key clarity",
        }
    }

    /// Inverse of [`Descriptor::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == key)
    }
}

/// One track's descriptors, one field per [`Descriptor`] named by its key.
/// Every field is finite; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Descriptors {
    /// See [`Descriptor::SpectralCentroid`].
    pub spectral_centroid_hz: f32,
    /// See [`Descriptor::SpectralRolloff`].
    pub spectral_rolloff_hz: f32,
    /// See [`Descriptor::ZeroCrossingRate`].
    pub zero_crossing_rate: f32,
    /// See [`Descriptor::SpectralFlatness`].
    pub spectral_flatness: f32,
    /// See [`Descriptor::Rms`].
    pub rms: f32,
    /// See [`Descriptor::DynamicRange`].
    pub dynamic_range_db: f32,
    /// See [`Descriptor::OnsetRate`].
    pub onset_rate_per_s: f32,
    /// See [`Descriptor::Tempo`].
    pub tempo_bpm: f32,
    /// See [`Descriptor::KeyClarity`].
    pub key_clarity: f32,
}

impl Descriptors {
    /// The value of one descriptor.
    pub fn get(&self, d: Descriptor) -> f32 {
        match d {
            Descriptor::SpectralCentroid => self.spectral_centroid_hz,
            Descriptor::SpectralRolloff => self.spectral_rolloff_hz,
            Descriptor::ZeroCrossingRate => self.zero_crossing_rate,
            Descriptor::SpectralFlatness => self.spectral_flatness,
            Descriptor::Rms => self.rms,
            Descriptor::DynamicRange => self.dynamic_range_db,
            Descriptor::OnsetRate => self.onset_rate_per_s,
            Descriptor::Tempo => self.tempo_bpm,
            Descriptor::KeyClarity => self.key_clarity,
        }
    }

    fn sanitized(mut self) -> Self {
        for v in [
            &mut self.spectral_centroid_hz,
            &mut self.spectral_rolloff_hz,
            &mut self.zero_crossing_rate,
            &mut self.spectral_flatness,
            &mut self.rms,
            &mut self.dynamic_range_db,
            &mut self.onset_rate_per_s,
            &mut self.tempo_bpm,
            &mut self.key_clarity,
        ] {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        self
    }
}

/// Tables that depend only on the sample rate.
struct RateTables {
    sr: u32,
    /// Centre frequency of each FFT bin, Hz.
    bin_hz: Vec<f32>,
    /// Mel band `m` covers bins `mel_start[m]..mel_start[m] + mel_len[m]`,
    /// with weights at `mel_off[m]..` in `mel_weights`.
    mel_start: Vec<usize>,
    mel_len: Vec<usize>,
    mel_off: Vec<usize>,
    mel_weights: Vec<f32>,
    /// piptrack's bin range: `PIP_FMIN <= f < min(PIP_FMAX, sr/2)`.
    pip_lo: usize,
    pip_hi: usize,
    /// Tempogram window length in onset frames, its window, and FFT plans.
    tempo_win: usize,
    tempo_window: Vec<f64>,
    tempo_fwd: Option<Arc<dyn RealToComplex<f64>>>,
    tempo_inv: Option<Arc<dyn ComplexToReal<f64>>>,
}

/// Reusable analyser: holds FFT plans and scratch buffers, so analysing many
/// tracks allocates little. It is `Send`; give each worker thread its own.
pub struct DescriptorAnalyzer {
    fft: Arc<dyn RealToComplex<f32>>,
    planner64: RealFftPlanner<f64>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
    mag: Vec<f32>,
    exps: Vec<i32>,
    mants: Vec<f32>,
    rate: Option<RateTables>,
    /// Dense chroma weights for the first `CHROMA_DENSE_BINS` bins (16-wide rows).
    chroma_fb: Vec<f32>,
    /// 8 weights per bin from `CHROMA_DENSE_BINS` on, starting at the run's class.
    chroma_sparse: Vec<f32>,
    /// Runs of bins sharing a first class: (start bin, end bin, first class).
    chroma_runs: Vec<(usize, usize, usize)>,
    chroma_key: Option<(u32, i64)>,
    /// The last analysis's chroma, one max-normalised vector per frame.
    chroma_frames: Vec<[f32; N_CHROMA]>,
    /// Each frame's largest raw chroma power, to tell silence from sound.
    chroma_levels: Vec<f32>,
    clean: Vec<f32>,
    block_sq: Vec<f64>,
    block_zc: Vec<u32>,
    frame_db: Vec<f64>,
    mel_db: Vec<f32>,
    env: Vec<f32>,
    pitches: Vec<f32>,
    pitch_mags: Vec<f32>,
    mags_sorted: Vec<f32>,
    tempo_padded: Vec<f64>,
    tempo_in: Vec<f64>,
    tempo_spec: Vec<Complex<f64>>,
    tempo_out: Vec<f64>,
    tempo_sum: Vec<f64>,
    tempo_tg: Vec<f64>,
    tempo_scratch: Vec<Complex<f64>>,
    onset_norm: Vec<f32>,
}

impl Default for DescriptorAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl DescriptorAnalyzer {
    /// A new analyser; tables for a sample rate are built on first use.
    pub fn new() -> Self {
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
        Self {
            fft,
            planner64: RealFftPlanner::new(),
            window,
            frame: vec![0.0; FRAME_LEN],
            spectrum,
            fft_scratch,
            power: vec![0.0; N_BINS],
            mag: vec![0.0; N_BINS],
            exps: vec![0; N_BINS],
            mants: vec![0.0; N_BINS],
            rate: None,
            chroma_fb: Vec::new(),
            chroma_sparse: Vec::new(),
            chroma_runs: Vec::new(),
            chroma_key: None,
            chroma_frames: Vec::new(),
            chroma_levels: Vec::new(),
            clean: Vec::new(),
            block_sq: Vec::new(),
            block_zc: Vec::new(),
            frame_db: Vec::new(),
            mel_db: Vec::new(),
            env: Vec::new(),
            pitches: Vec::new(),
            pitch_mags: Vec::new(),
            mags_sorted: Vec::new(),
            tempo_padded: Vec::new(),
            tempo_in: Vec::new(),
            tempo_spec: Vec::new(),
            tempo_out: Vec::new(),
            tempo_sum: Vec::new(),
            tempo_tg: Vec::new(),
            tempo_scratch: Vec::new(),
            onset_norm: Vec::new(),
        }
    }

    /// Analyse one track of mono samples at `sample_rate_hz`.
    ///
    /// Never panics; every returned value is finite (see the module docs for
    /// what empty, silent, short or non-finite input gives).
    pub fn analyze(&mut self, samples: &[f32], sample_rate_hz: u32) -> Descriptors {
        self.chroma_frames.clear();
        self.chroma_levels.clear();
        if samples.is_empty() || sample_rate_hz == 0 || sample_rate_hz > MAX_SAMPLE_RATE_HZ {
            return Descriptors::default();
        }
        let (finite_and_sane, peak) = scan(samples);
        let mut clean = std::mem::take(&mut self.clean);
        let (y, peak): (&[f32], f32) = if finite_and_sane {
            (samples, peak)
        } else {
            clean.clear();
            clean.extend(samples.iter().map(|&v| {
                if v.is_finite() {
                    v.clamp(-SAMPLE_CLAMP, SAMPLE_CLAMP)
                } else {
                    0.0
                }
            }));
            let peak = scan(&clean).1;
            (&clean, peak)
        };
        let out = if peak <= SILENCE_PEAK {
            Descriptors::default()
        } else {
            self.analyze_clean(y, sample_rate_hz).sanitized()
        };
        self.clean = clean;
        out
    }

    /// The per-frame chroma (`chroma_stft` frames, each max-normalised) of
    /// the last [`Self::analyze`] call; empty when that input was empty,
    /// silent or unusable. Frames more than [`CHROMA_SILENCE_DB`] below the
    /// loudest frame are all zero: max-normalising would otherwise give
    /// room noise, dither and reverb tails the weight of music.
    pub fn chroma_frames(&self) -> &[[f32; N_CHROMA]] {
        &self.chroma_frames
    }

    /// Zeroes the exported chroma frames that are silence next to the loudest
    /// (the mean chroma behind key clarity is unchanged, as in librosa).
    fn silence_quiet_chroma_frames(&mut self) {
        let loudest = self.chroma_levels.iter().fold(0.0f32, |a, &b| a.max(b));
        let floor = loudest * 10f32.powf(-CHROMA_SILENCE_DB / 10.0);
        for (frame, &level) in self.chroma_frames.iter_mut().zip(&self.chroma_levels) {
            if level <= floor {
                *frame = [0.0; N_CHROMA];
            }
        }
        self.chroma_levels.clear();
    }

    fn analyze_clean(&mut self, y: &[f32], sr: u32) -> Descriptors {
        self.ensure_rate(sr);
        let n = y.len();
        let n_frames = 1 + n / HOP_LEN;

        // ---- time domain: frame RMS and zero-crossing rate ----
        let (rms_mean, zcr_mean, dynamic_range) = self.time_domain(y, n_frames);

        // ---- tuning estimate (piptrack + pitch_tuning) and chroma filters ----
        let tuning = self.estimate_tuning(y, n_frames, sr);
        self.ensure_chroma(sr, tuning);

        // ---- main STFT pass ----
        let rate = self.rate.take().expect("rate tables");
        self.mel_db.clear();
        self.mel_db.resize(n_frames * N_MELS, 0.0);
        let mut centroid_sum = 0.0f64;
        let mut rolloff_sum = 0.0f64;
        let mut flatness_sum = 0.0f64;
        let mut chroma_sum = [0.0f64; N_CHROMA];
        for k in 0..n_frames {
            self.power_spectrum(y, k);
            let st = spectral_stats(
                &self.power,
                &rate.bin_hz,
                &mut self.mag,
                &mut self.exps,
                &mut self.mants,
            );
            // centroid (librosa leaves all-zero frames unnormalised)
            centroid_sum += if st.mag_sum >= f32::MIN_POSITIVE {
                st.weighted_sum as f64 / st.mag_sum as f64
            } else {
                st.weighted_sum as f64
            };
            // rolloff
            rolloff_sum += rate.bin_hz[rolloff_bin(&self.mag, st.mag_sum)] as f64;
            // flatness: geometric / arithmetic mean of max(power, 1e-10)
            let nb = N_BINS as f64;
            flatness_sum += (st.log_sum / nb).exp() / (st.power_sum as f64 / nb);
            // mel (power) in dB, floor applied later
            let mel_row = &mut self.mel_db[k * N_MELS..(k + 1) * N_MELS];
            for (m, out) in mel_row.iter_mut().enumerate() {
                let s = rate.mel_start[m];
                let l = rate.mel_len[m];
                let o = rate.mel_off[m];
                *out = dot_short(&rate.mel_weights[o..o + l], &self.power[s..s + l]).max(AMIN);
            }
            for v in mel_row.iter_mut() {
                *v = DB_PER_LN * fast_ln(*v);
            }
            // chroma (power), per-frame max normalisation
            let raw = chroma_raw(
                &self.chroma_fb,
                &self.chroma_sparse,
                &self.chroma_runs,
                &self.power,
            );
            let mx = raw.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
            let norm = if mx >= f32::MIN_POSITIVE { mx } else { 1.0 };
            let mut frame = [0.0f32; N_CHROMA];
            for c in 0..N_CHROMA {
                frame[c] = raw[c] / norm;
                chroma_sum[c] += frame[c] as f64;
            }
            self.chroma_frames.push(frame);
            self.chroma_levels.push(mx);
        }
        let nf = n_frames as f64;
        self.silence_quiet_chroma_frames();

        // ---- onsets and tempo ----
        self.onset_envelope(n_frames);
        let onset_count = self.count_onsets(sr);
        let duration_s = n as f64 / sr as f64;
        let tempo = self.tempo(&rate, sr);
        self.rate = Some(rate);

        let mut chroma_mean = [0.0f64; N_CHROMA];
        for c in 0..N_CHROMA {
            chroma_mean[c] = chroma_sum[c] / nf;
        }

        Descriptors {
            spectral_centroid_hz: (centroid_sum / nf) as f32,
            spectral_rolloff_hz: (rolloff_sum / nf) as f32,
            zero_crossing_rate: zcr_mean as f32,
            spectral_flatness: (flatness_sum / nf) as f32,
            rms: rms_mean as f32,
            dynamic_range_db: dynamic_range as f32,
            onset_rate_per_s: (onset_count as f64 / duration_s) as f32,
            tempo_bpm: tempo as f32,
            key_clarity: key_clarity(&chroma_mean) as f32,
        }
    }

    /// Frame RMS / ZCR via 512-sample block sums (frames are 4 aligned blocks).
    /// Returns (mean rms, mean zcr, dynamic range dB).
    fn time_domain(&mut self, y: &[f32], n_frames: usize) -> (f64, f64, f64) {
        let n = y.len();
        let n_blocks = n / HOP_LEN + 2;
        self.block_sq.clear();
        self.block_sq.resize(n_blocks, 0.0);
        self.block_zc.clear();
        self.block_zc.resize(n_blocks, 0);
        let neg = |v: f32| v < -ZC_THRESHOLD;
        for (b, chunk) in y.chunks(HOP_LEN).enumerate() {
            self.block_sq[b] = dot_f32(chunk, chunk) as f64;
            let base = b * HOP_LEN;
            // crossings at sample i (pair i-1, i) for i in this block, i >= 1
            let mut prev = if base == 0 {
                neg(chunk[0])
            } else {
                neg(y[base - 1])
            };
            let mut zc = 0u32;
            for &v in chunk {
                let cur = neg(v);
                zc += (cur != prev) as u32;
                prev = cur;
            }
            self.block_zc[b] = zc;
        }
        let crossing_at = |i: usize| i >= 1 && i < n && neg(y[i]) != neg(y[i - 1]);

        let mut rms_sum = 0.0f64;
        let mut zcr_sum = 0.0f64;
        self.frame_db.clear();
        for k in 0..n_frames {
            let mut sq = 0.0f64;
            let mut zc = 0u32;
            for b in k as isize - 2..=k as isize + 1 {
                if b >= 0 && (b as usize) < n_blocks {
                    sq += self.block_sq[b as usize];
                    zc += self.block_zc[b as usize];
                }
            }
            let s = k as isize * HOP_LEN as isize - (FRAME_LEN / 2) as isize;
            if s >= 1 && crossing_at(s as usize) {
                zc -= 1;
            }
            let rms = (sq / FRAME_LEN as f64).sqrt() as f32;
            rms_sum += rms as f64;
            zcr_sum += zc as f64 / FRAME_LEN as f64;
            let db = 20.0 * (rms.max(1e-10) as f64).log10();
            if db > DR_FLOOR_DB {
                self.frame_db.push(db);
            }
        }
        let dr = if self.frame_db.len() >= 2 {
            self.frame_db.sort_unstable_by(|a, b| a.total_cmp(b));
            percentile(&self.frame_db, 95.0) - percentile(&self.frame_db, 10.0)
        } else {
            0.0
        };
        (rms_sum / n_frames as f64, zcr_sum / n_frames as f64, dr)
    }

    /// Windowed frame `k` (centred, zero-padded) -> `self.power` (|X|^2).
    fn power_spectrum(&mut self, y: &[f32], k: usize) {
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
                *f = if i >= 0 && i < n {
                    y[i as usize] * w
                } else {
                    0.0
                };
            }
        }
        self.fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.fft_scratch)
            .expect("fft sizes are fixed");
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.re * c.re + c.im * c.im;
        }
    }

    fn ensure_rate(&mut self, sr: u32) {
        if self.rate.as_ref().map(|r| r.sr) == Some(sr) {
            return;
        }
        let srf = sr as f64;
        let bin_hz: Vec<f32> = (0..N_BINS)
            .map(|k| (k as f64 * srf / FRAME_LEN as f64) as f32)
            .collect();

        // Slaney-style mel filter bank, norm='slaney', fmin 0, fmax sr/2.
        let mel_f = linspace(hz_to_mel(0.0), hz_to_mel(srf / 2.0), N_MELS + 2)
            .into_iter()
            .map(mel_to_hz)
            .collect::<Vec<f64>>();
        let mut mel_start = Vec::with_capacity(N_MELS);
        let mut mel_len = Vec::with_capacity(N_MELS);
        let mut mel_off = Vec::with_capacity(N_MELS);
        let mut mel_weights = Vec::new();
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
            let first = w.iter().position(|&v| v != 0.0);
            let (s, l) = match first {
                Some(s) => {
                    let e = w.iter().rposition(|&v| v != 0.0).unwrap() + 1;
                    (s, e - s)
                }
                None => (0, 0),
            };
            mel_start.push(s);
            mel_len.push(l);
            mel_off.push(mel_weights.len());
            mel_weights.extend_from_slice(&w[s..s + l]);
        }

        let fmax = PIP_FMAX.min(srf / 2.0);
        let pip_lo = (0..N_BINS)
            .find(|&k| bin_hz_f64(k, srf) >= PIP_FMIN)
            .unwrap_or(N_BINS)
            .max(1);
        let pip_hi = (0..N_BINS)
            .rev()
            .find(|&k| bin_hz_f64(k, srf) < fmax)
            .map_or(0, |k| k + 1)
            .min(N_BINS - 1);

        // tempogram: win = time_to_frames(8 s) = floor(floor(8*sr) / hop)
        let tempo_win = ((TEMPO_AC_SECONDS * srf).floor() as usize) / HOP_LEN;
        let tempo_window: Vec<f64> = (0..tempo_win)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / tempo_win as f64).cos())
            .collect();
        let (tempo_fwd, tempo_inv) = if tempo_win >= 3 {
            let nfft = (2 * tempo_win - 1).next_power_of_two();
            (
                Some(self.planner64.plan_fft_forward(nfft)),
                Some(self.planner64.plan_fft_inverse(nfft)),
            )
        } else {
            (None, None)
        };
        self.rate = Some(RateTables {
            sr,
            bin_hz,
            mel_start,
            mel_len,
            mel_off,
            mel_weights,
            pip_lo,
            pip_hi,
            tempo_win,
            tempo_window,
            tempo_fwd,
            tempo_inv,
        });
        self.chroma_key = None;
    }

    /// librosa.estimate_tuning on the power spectrogram (piptrack with
    /// fmin 150, fmax 4000, threshold 0.1; median magnitude gate; histogram of
    /// residuals at 0.01 resolution). Returns tuning in fractions of a bin.
    fn estimate_tuning(&mut self, y: &[f32], n_frames: usize, sr: u32) -> f64 {
        let (lo, hi) = {
            let r = self.rate.as_ref().expect("rate tables");
            (r.pip_lo, r.pip_hi)
        };
        self.pitches.clear();
        self.pitch_mags.clear();
        let n_use = n_frames.min(TUNING_MAX_FRAMES);
        for i in 0..n_use {
            let k = if n_use == n_frames {
                i
            } else {
                (2 * i + 1) * n_frames / (2 * n_use)
            };
            self.power_spectrum(y, k);
            let s = &self.power;
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

    /// librosa.filters.chroma(sr, n_fft=2048, tuning, n_chroma=12, ctroct 5,
    /// octwidth 2, norm 2, base_c) -> `self.chroma_fb`, stored bin-major
    /// (`N_BINS` rows of 12 weights) for a single pass over the spectrum.
    fn ensure_chroma(&mut self, sr: u32, tuning: f64) {
        let key = (sr, (tuning * 100.0).round() as i64);
        if self.chroma_key == Some(key) {
            return;
        }
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
            let width = if k + 1 < FRAME_LEN {
                (frq[k + 1] - frq[k]).max(1.0)
            } else {
                1.0
            };
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
        self.chroma_fb.clear();
        for k in 0..CHROMA_DENSE_BINS {
            self.chroma_fb.extend(
                w[k * CHROMA_STRIDE..(k + 1) * CHROMA_STRIDE]
                    .iter()
                    .map(|&v| v as f32),
            );
        }
        // Above, each bin's kernel is a unit-width Gaussian around its pitch
        // class: keep the 8 classes from 3 below to 4 above the peak; the
        // dropped ones are >= 3.5 semitones away (weight ratio < 1e-10).
        self.chroma_sparse.clear();
        self.chroma_runs.clear();
        for k in CHROMA_DENSE_BINS..N_BINS {
            let col = &w[k * CHROMA_STRIDE..k * CHROMA_STRIDE + N_CHROMA];
            let peak = (0..N_CHROMA).fold(0, |b, c| if col[c] > col[b] { c } else { b });
            let c0 = (peak + N_CHROMA - 3) % N_CHROMA;
            self.chroma_sparse
                .extend((0..8).map(|j| col[(c0 + j) % N_CHROMA] as f32));
            match self.chroma_runs.last_mut() {
                Some(run) if run.2 == c0 => run.1 = k + 1,
                _ => self.chroma_runs.push((k, k + 1, c0)),
            }
        }
        self.chroma_key = Some(key);
    }

    /// Spectral-flux onset strength, librosa.onset.onset_strength defaults.
    fn onset_envelope(&mut self, n_frames: usize) {
        let gmax = self.mel_db.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let floor = gmax - TOP_DB;
        for v in self.mel_db.iter_mut() {
            if *v < floor {
                *v = floor;
            }
        }
        self.env.clear();
        self.env.resize(n_frames, 0.0);
        // env[t] = mean_m max(0, S[t-2] - S[t-3]) for t >= 3 (lag 1 + centre pad 2)
        for t in 3..n_frames {
            let cur = &self.mel_db[(t - 2) * N_MELS..(t - 1) * N_MELS];
            let prev = &self.mel_db[(t - 3) * N_MELS..(t - 2) * N_MELS];
            let mut acc = 0.0f32;
            for (c, p) in cur.iter().zip(prev) {
                acc += (c - p).max(0.0);
            }
            self.env[t] = acc / N_MELS as f32;
        }
    }

    /// librosa.onset.onset_detect peak picking on the (normalised) envelope.
    fn count_onsets(&mut self, sr: u32) -> usize {
        let env = &self.env;
        if env.is_empty() {
            return 0;
        }
        let mn = env.iter().fold(f32::INFINITY, |a, &b| a.min(b));
        let mx = env.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) - mn;
        if mx.is_nan() || mx <= 0.0 {
            return 0;
        }
        let scale = mx + f32::MIN_POSITIVE;
        let mut x = std::mem::take(&mut self.onset_norm);
        x.clear();
        x.extend(env.iter().map(|&v| (v - mn) / scale));
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
        let count = peak_pick(&x, pre_max, post_max, pre_avg, post_avg, ONSET_DELTA, wait);
        self.onset_norm = x;
        count
    }

    /// librosa.feature.tempo with parabolic refinement of the winning lag.
    fn tempo(&mut self, rate: &RateTables, sr: u32) -> f64 {
        let n = self.env.len();
        let w = rate.tempo_win;
        let (Some(fwd), Some(inv)) = (rate.tempo_fwd.as_ref(), rate.tempo_inv.as_ref()) else {
            return 0.0;
        };
        if n == 0 || !self.env.iter().any(|&v| v > 0.0) {
            return 0.0;
        }
        let half = w / 2;
        // linear_ramp padding to zero at both ends
        self.tempo_padded.clear();
        let first = self.env[0] as f64;
        let last = self.env[n - 1] as f64;
        self.tempo_padded
            .extend((0..half).map(|i| first * i as f64 / half as f64));
        self.tempo_padded.extend(self.env.iter().map(|&v| v as f64));
        self.tempo_padded
            .extend((0..half).map(|j| last * (half - 1 - j) as f64 / half as f64));
        // frames of length w starting at 0..n (padding may be short by one when w is odd)
        self.tempo_padded.resize(n + w, 0.0);

        let nfft = fwd.len();
        self.tempo_in.resize(nfft, 0.0);
        self.tempo_spec.resize(nfft / 2 + 1, Complex::new(0.0, 0.0));
        self.tempo_out.resize(nfft, 0.0);
        self.tempo_sum.clear();
        self.tempo_sum.resize(w, 0.0);
        let scratch_len = fwd.get_scratch_len().max(inv.get_scratch_len());
        self.tempo_scratch
            .resize(scratch_len, Complex::new(0.0, 0.0));
        let stride = n.div_ceil(TEMPOGRAM_MAX_FRAMES).max(1);
        let mut count = 0usize;
        let mut t = 0;
        while t < n {
            let seg = &self.tempo_padded[t..t + w];
            for ((dst, &s), &win) in self.tempo_in.iter_mut().zip(seg).zip(&rate.tempo_window) {
                *dst = s * win;
            }
            for v in self.tempo_in[w..].iter_mut() {
                *v = 0.0;
            }
            fwd.process_with_scratch(
                &mut self.tempo_in,
                &mut self.tempo_spec,
                &mut self.tempo_scratch,
            )
            .expect("tempo fft");
            for c in self.tempo_spec.iter_mut() {
                *c = Complex::new(c.re * c.re + c.im * c.im, 0.0);
            }
            inv.process_with_scratch(
                &mut self.tempo_spec,
                &mut self.tempo_out,
                &mut self.tempo_scratch,
            )
            .expect("tempo ifft");
            let norm = self.tempo_out[..w]
                .iter()
                .fold(0.0f64, |a, &b| a.max(b.abs()));
            let norm = if norm < f64::MIN_POSITIVE { 1.0 } else { norm };
            for (acc, &v) in self.tempo_sum.iter_mut().zip(&self.tempo_out[..w]) {
                *acc += v / norm;
            }
            count += 1;
            t += stride;
        }
        self.tempo_tg.clear();
        self.tempo_tg
            .extend(self.tempo_sum.iter().map(|v| v / count as f64));
        let tg = &self.tempo_tg;

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
}

/// One vectorisable pass: (all samples finite and within ±SAMPLE_CLAMP, peak |x|).
fn scan(y: &[f32]) -> (bool, f32) {
    const LANES: usize = 8;
    let mut peak = [0.0f32; LANES];
    let mut ok = [true; LANES];
    let chunks = y.chunks_exact(LANES);
    let rem = chunks.remainder();
    for ch in chunks {
        for i in 0..LANES {
            let a = ch[i].abs();
            // NaN fails the comparison
            ok[i] &= a <= SAMPLE_CLAMP;
            peak[i] = if a > peak[i] { a } else { peak[i] };
        }
    }
    let mut all_ok = ok.iter().all(|&b| b);
    let mut p = peak.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
    for &v in rem {
        let a = v.abs();
        all_ok &= a <= SAMPLE_CLAMP;
        p = if a > p { a } else { p };
    }
    (all_ok, p)
}

fn bin_hz_f64(k: usize, sr: f64) -> f64 {
    k as f64 * sr / FRAME_LEN as f64
}

/// Sum with 8 independent accumulators (vectorises).
fn sum_f32(a: &[f32]) -> f32 {
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
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
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

/// Raw chroma of one power spectrum from the split filter bank (see
/// `ensure_chroma`): dense 16-wide rows for the lowest bins, then runs of bins
/// whose 8 significant weights start at the same pitch class. Two interleaved
/// accumulators per run keep the add chains short.
fn chroma_raw(
    dense: &[f32],
    sparse: &[f32],
    runs: &[(usize, usize, usize)],
    power: &[f32],
) -> [f32; N_CHROMA] {
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
fn spectral_stats(
    power: &[f32],
    bin_hz: &[f32],
    mag: &mut [f32],
    exps: &mut [i32],
    mants: &mut [f32],
) -> SpectralStats {
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
    SpectralStats {
        mag_sum: sum_f32(mag),
        weighted_sum: dot_f32(mag, bin_hz),
        log_sum,
        power_sum,
    }
}

/// librosa.util.peak_pick, returning the number of peaks.
fn peak_pick(
    x: &[f32],
    pre_max: usize,
    post_max: usize,
    pre_avg: usize,
    post_avg: usize,
    delta: f32,
    wait: usize,
) -> usize {
    let len = x.len();
    let max_of = |s: &[f32]| s.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mean_of = |s: &[f32]| s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64;
    let delta = delta as f64;
    let mut count = 0;
    let p0 = x[0] >= max_of(&x[..post_max.min(len)])
        && x[0] as f64 >= mean_of(&x[..post_avg.min(len)]) + delta;
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

/// numpy.percentile (method 'linear') of sorted data.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let pos = q / 100.0 * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let t = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * t
}

fn key_clarity(chroma: &[f64; N_CHROMA]) -> f64 {
    let mut best = f64::NEG_INFINITY;
    for profile in [&KK_MAJOR, &KK_MINOR] {
        for k in 0..N_CHROMA {
            let rotated: [f64; N_CHROMA] =
                std::array::from_fn(|c| profile[(c + N_CHROMA - k) % N_CHROMA]);
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

fn hz_to_mel(f: f64) -> f64 {
    if f >= MEL_MIN_LOG_HZ {
        MEL_MIN_LOG_MEL + (f / MEL_MIN_LOG_HZ).ln() / mel_logstep()
    } else {
        f / MEL_F_SP
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m >= MEL_MIN_LOG_MEL {
        MEL_MIN_LOG_HZ * (mel_logstep() * (m - MEL_MIN_LOG_MEL)).exp()
    } else {
        MEL_F_SP * m
    }
}

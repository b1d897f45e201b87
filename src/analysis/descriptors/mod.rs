//! Measurable, track-level audio descriptors computed from mono `f32` audio.
//!
//! This module owns the descriptor *maths* only: framing, the STFT, mel and
//! chroma filter banks, onset detection, tempo estimation and the summary
//! statistics that turn per-frame features into one number per track. It must
//! not touch I/O, decoding, resampling, threading or storage: callers hand it
//! decoded mono samples plus their sample rate and get a [`Descriptors`] back.
//!
//! # Layout
//!
//! This file holds the public API: the descriptor table (the one place that
//! lists every descriptor with its key, label and unit, read by the probe,
//! the catalog, the window and the golden tests) and [`DescriptorAnalyzer`],
//! which runs one STFT pass and hands each frame to the families, each in its
//! own file with its own buffers:
//!
//! * `kernels`: the STFT and the vectorised sums the families share;
//! * `time_domain`: RMS, dynamic range, zero-crossing rate;
//! * `spectral`: centroid, rolloff, flatness;
//! * `mel`: the dB mel spectrogram behind onset detection;
//! * `chroma`: tuning, per-frame chroma, key clarity;
//! * `rhythm`: onset envelope, onset count, tempo.
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

mod chroma;
mod kernels;
mod mel;
mod rhythm;
mod spectral;
mod time_domain;

use chroma::{Chroma, Tuning, key_clarity};
use kernels::Stft;
use mel::MelSpectrogram;
use rhythm::{Onsets, Tempo};
use spectral::Spectral;
use time_domain::TimeDomain;

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
/// Pitch classes in a chroma vector.
pub const N_CHROMA: usize = 12;
/// Chroma frames this far (dB, power) below the loudest frame of an
/// analysis count as silence in [`DescriptorAnalyzer::chroma_frames`]; 60 dB
/// is the usual silence threshold (librosa's `effects.split` default).
pub const CHROMA_SILENCE_DB: f32 = 60.0;

/// A peak |x| at or below this is digital silence.
const SILENCE_PEAK: f32 = 1e-10;
/// Samples are clamped to ±this before analysis.
const SAMPLE_CLAMP: f32 = 1e6;

/// What the table says about one descriptor.
struct DescriptorInfo {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    short_label: &'static str,
}

/// Builds everything that lists the descriptors from the one table below:
/// the [`Descriptor`] enum, its [`DescriptorInfo`] rows (indexed by the
/// enum), and the [`Descriptors`] struct whose field names are the keys.
macro_rules! descriptor_table {
    ($(
        $(#[$doc:meta])*
        $variant:ident { key: $key:ident, name: $name:literal, unit: $unit:literal, short: $short:literal }
    ),+ $(,)?) => {
        /// One measurable descriptor. Serialises as its [`Descriptor::key`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Descriptor {
            $( $(#[$doc])* $variant, )+
        }

        impl Descriptor {
            /// Every descriptor, in table (display) order.
            pub const ALL: [Descriptor; [$(Descriptor::$variant),+].len()] = [$(Descriptor::$variant),+];
        }

        /// One row per descriptor, in the order of [`Descriptor::ALL`], so `TABLE[d as usize]` is `d`'s row.
        const TABLE: [DescriptorInfo; Descriptor::ALL.len()] = [$(
            DescriptorInfo { key: stringify!($key), label: descriptor_table!(@label $name, $unit), unit: $unit, short_label: $short },
        )+];

        /// One track's descriptors, one field per [`Descriptor`] named by its key.
        /// Every field is finite; see the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
        pub struct Descriptors {
            $(
                #[doc = concat!("See [`Descriptor::", stringify!($variant), "`].")]
                pub $key: f32,
            )+
        }

        impl Descriptors {
            /// The value of one descriptor.
            pub fn get(&self, d: Descriptor) -> f32 {
                match d { $( Descriptor::$variant => self.$key, )+ }
            }

            /// The value of one descriptor, to set.
            pub fn get_mut(&mut self, d: Descriptor) -> &mut f32 {
                match d { $( Descriptor::$variant => &mut self.$key, )+ }
            }
        }
    };
    (@label $name:literal, "") => { $name };
    (@label $name:literal, $unit:literal) => { concat!($name, " (", $unit, ")") };
}

descriptor_table! {
    /// Mean spectral centroid, Hz (brightness).
    SpectralCentroid { key: spectral_centroid_hz, name: "Spectral centroid", unit: "Hz", short: "centroid" },
    /// Mean 85 % spectral rolloff, Hz.
    SpectralRolloff { key: spectral_rolloff_hz, name: "Spectral rolloff", unit: "Hz", short: "rolloff" },
    /// Mean zero-crossing rate, crossings per sample pair (0..1).
    ZeroCrossingRate { key: zero_crossing_rate, name: "Zero-crossing rate", unit: "", short: "zcr" },
    /// Mean spectral flatness (0 tonal .. 1 noise-like).
    SpectralFlatness { key: spectral_flatness, name: "Spectral flatness", unit: "", short: "flatness" },
    /// Mean frame RMS level (linear, full scale = 1).
    Rms { key: rms, name: "RMS level", unit: "", short: "rms" },
    /// 95th minus 10th percentile of frame RMS, dB.
    DynamicRange { key: dynamic_range_db, name: "Dynamic range", unit: "dB", short: "dyn_range" },
    /// Detected onsets per second.
    OnsetRate { key: onset_rate_per_s, name: "Onset rate", unit: "per second", short: "onsets" },
    /// Estimated tempo, beats per minute (0 when there is no onset energy).
    Tempo { key: tempo_bpm, name: "Tempo", unit: "BPM", short: "tempo" },
    /// Best correlation of the mean chroma with a major/minor key profile (-1..1).
    KeyClarity { key: key_clarity, name: "Key clarity", unit: "", short: "key_clar" },
}

impl Descriptor {
    fn info(self) -> &'static DescriptorInfo {
        &TABLE[self as usize]
    }

    /// Stable machine key (also the serde name and the [`Descriptors`] field name).
    pub fn key(self) -> &'static str {
        self.info().key
    }

    /// Human-readable name with unit.
    pub fn label(self) -> &'static str {
        self.info().label
    }

    /// Unit as shown after the name ("Hz", "dB", …); empty when the value has none.
    pub fn unit(self) -> &'static str {
        self.info().unit
    }

    /// At most 9 characters, for table headers in a terminal.
    pub fn short_label(self) -> &'static str {
        self.info().short_label
    }

    /// Inverse of [`Descriptor::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == key)
    }
}

impl serde::Serialize for Descriptor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl<'de> serde::Deserialize<'de> for Descriptor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const KEYS: [&str; Descriptor::ALL.len()] = {
            let mut keys = [""; Descriptor::ALL.len()];
            let mut i = 0;
            while i < keys.len() {
                keys[i] = TABLE[i].key;
                i += 1;
            }
            keys
        };
        let key = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::from_key(&key).ok_or_else(|| serde::de::Error::unknown_variant(&key, &KEYS))
    }
}

impl Descriptors {
    /// Descriptors with each value given by `value_of`, called in table order.
    pub fn from_fn(mut value_of: impl FnMut(Descriptor) -> f32) -> Self {
        let mut out = Self::default();
        for d in Descriptor::ALL {
            *out.get_mut(d) = value_of(d);
        }
        out
    }

    fn sanitized(mut self) -> Self {
        for d in Descriptor::ALL {
            let v = self.get_mut(d);
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        self
    }
}

/// Intermediate values of one analysis that librosa also reports; the golden
/// tests compare them. All zero when the input was empty, silent or unusable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Intermediates {
    /// STFT frames analysed: `1 + samples / HOP_LEN`.
    pub n_frames: usize,
    /// Estimated tuning, semitones from A440 (librosa's fractions of a chroma bin), in [-0.5, 0.5).
    pub tuning_semitones: f64,
    /// Mean per-frame max-normalised chroma, C first (the vector behind key clarity).
    pub chroma_mean: [f64; N_CHROMA],
    /// Onsets detected in the whole input.
    pub onset_count: usize,
}

/// Reusable analyser: holds FFT plans and scratch buffers, so analysing many
/// tracks allocates little. It is `Send`; give each worker thread its own.
pub struct DescriptorAnalyzer {
    stft: Stft,
    time_domain: TimeDomain,
    spectral: Spectral,
    mel: MelSpectrogram,
    tuning: Tuning,
    chroma: Chroma,
    onsets: Onsets,
    tempo: Tempo,
    /// Non-finite or out-of-range input, cleaned (kept to reuse its allocation).
    clean: Vec<f32>,
    intermediates: Intermediates,
}

impl Default for DescriptorAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl DescriptorAnalyzer {
    /// A new analyser; tables for a sample rate are built on first use.
    pub fn new() -> Self {
        Self {
            stft: Stft::new(),
            time_domain: TimeDomain::default(),
            spectral: Spectral::new(),
            mel: MelSpectrogram::default(),
            tuning: Tuning::default(),
            chroma: Chroma::default(),
            onsets: Onsets::default(),
            tempo: Tempo::default(),
            clean: Vec::new(),
            intermediates: Intermediates::default(),
        }
    }

    /// Analyse one track of mono samples at `sample_rate_hz`.
    ///
    /// Never panics; every returned value is finite (see the module docs for
    /// what empty, silent, short or non-finite input gives).
    pub fn analyze(&mut self, samples: &[f32], sample_rate_hz: u32) -> Descriptors {
        self.chroma.clear();
        self.intermediates = Intermediates::default();
        if samples.is_empty() || sample_rate_hz == 0 || sample_rate_hz > MAX_SAMPLE_RATE_HZ {
            return Descriptors::default();
        }
        let (finite_and_sane, peak) = scan(samples);
        let mut clean = std::mem::take(&mut self.clean);
        let (y, peak): (&[f32], f32) = if finite_and_sane {
            (samples, peak)
        } else {
            clean.clear();
            clean.extend(samples.iter().map(|&v| if v.is_finite() { v.clamp(-SAMPLE_CLAMP, SAMPLE_CLAMP) } else { 0.0 }));
            let peak = scan(&clean).1;
            (&clean, peak)
        };
        let out = if peak <= SILENCE_PEAK { Descriptors::default() } else { self.analyze_clean(y, sample_rate_hz).sanitized() };
        self.clean = clean;
        out
    }

    /// The per-frame chroma (`chroma_stft` frames, each max-normalised) of
    /// the last [`Self::analyze`] call; empty when that input was empty,
    /// silent or unusable. Frames more than [`CHROMA_SILENCE_DB`] below the
    /// loudest frame are all zero: max-normalising would otherwise give
    /// room noise, dither and reverb tails the weight of music.
    pub fn chroma_frames(&self) -> &[[f32; N_CHROMA]] {
        self.chroma.frames()
    }

    /// The intermediate values of the last [`Self::analyze`] call.
    pub fn intermediates(&self) -> &Intermediates {
        &self.intermediates
    }

    /// Finite, clamped, not silent input: the time-domain family, then one
    /// STFT pass feeding the spectral, mel and chroma families, then rhythm.
    fn analyze_clean(&mut self, y: &[f32], sr: u32) -> Descriptors {
        let n = y.len();
        let n_frames = 1 + n / HOP_LEN;
        let time = self.time_domain.analyze(y, n_frames);

        // Chroma filters depend on the tuning, which needs its own look at the spectra first.
        let tuning_semitones = self.tuning.estimate(&mut self.stft, y, n_frames, sr);
        self.chroma.start(sr, tuning_semitones);
        self.spectral.start(sr);
        self.mel.start(sr, n_frames);
        for k in 0..n_frames {
            let power = self.stft.power_spectrum(y, k);
            self.spectral.add_frame(power);
            self.mel.add_frame(k, power);
            self.chroma.add_frame(power);
        }
        let spectral = self.spectral.finish(n_frames);
        let chroma_mean = self.chroma.mean();
        self.chroma.silence_quiet_frames();

        self.mel.apply_top_db();
        self.onsets.compute_envelope(&self.mel, n_frames);
        let onset_count = self.onsets.count(sr);
        let duration_s = n as f64 / sr as f64;
        let tempo_bpm = self.tempo.estimate(self.onsets.envelope(), sr);

        self.intermediates = Intermediates { n_frames, tuning_semitones, chroma_mean, onset_count };
        Descriptors {
            spectral_centroid_hz: spectral.centroid_hz as f32,
            spectral_rolloff_hz: spectral.rolloff_hz as f32,
            zero_crossing_rate: time.zcr_mean as f32,
            spectral_flatness: spectral.flatness as f32,
            rms: time.rms_mean as f32,
            dynamic_range_db: time.dynamic_range_db as f32,
            onset_rate_per_s: (onset_count as f64 / duration_s) as f32,
            tempo_bpm: tempo_bpm as f32,
            key_clarity: key_clarity(&chroma_mean) as f32,
        }
    }
}

/// One vectorisable pass: (all samples finite and within ±[`SAMPLE_CLAMP`], peak |x|).
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

//! From decoded audio to per-window and per-track layer vectors.
//!
//! Owns the windowing policy (which seconds of a track a model sees), the
//! pooling of window vectors into one vector per layer per track, and how a
//! track's excerpts become its descriptors and tonal layer
//! ([`describe_excerpts`], the one place indexing, tests and benchmarks do it).
//! It calls the model, the decoder and the descriptors but never the catalog or the store.

pub mod descriptors;
pub mod tonal;

use std::path::Path;

use crate::analysis::descriptors::{Descriptor, DescriptorAnalyzer, Descriptors};
use crate::analysis::tonal::TonalProfile;
use crate::audio::{AudioError, AudioFile, DecodeProblems, MonoAudio};
use crate::model::{ModelError, ModelManifest, ModelSession, WindowEmbedding};

/// Sample rate descriptors and the tonal layer are computed at, so values compare across files.
pub const DESCRIPTOR_RATE_HZ: u32 = 22_050;

/// Which parts of a track are analysed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Sampling {
    /// Every window of the whole track.
    Full,
    /// `excerpts` excerpts of `excerpt_s` seconds spread evenly over the track,
    /// found by seeking, so long tracks cost the same as short ones.
    Spread {
        /// How many excerpts.
        excerpts: usize,
        /// Seconds per excerpt.
        excerpt_s: f64,
        /// The most model windows embedded per track (at least 1), spread
        /// evenly over the excerpts' windows (`None`: every window). The
        /// descriptors and the tonal layer still read every excerpt.
        model_windows: Option<usize>,
    },
    /// Excerpts of `excerpt_s` seconds spread evenly over the track, as many
    /// as `excerpts_per_minute` × √(minutes), at least [`Sampling::MIN_SCALED_EXCERPTS`]:
    /// a long movement gets more than a song, but its cost grows only with
    /// the square root of its length.
    Scaled {
        /// Excerpts for a one-minute track.
        excerpts_per_minute: usize,
        /// Seconds per excerpt.
        excerpt_s: f64,
    },
}

impl Sampling {
    /// Excerpts per track in the default sampling.
    pub const DEFAULT_EXCERPTS: usize = 8;
    /// Seconds per excerpt in the default sampling.
    pub const DEFAULT_EXCERPT_S: f64 = 6.0;
    /// Fewest excerpts [`Sampling::Scaled`] takes from a track longer than they are.
    pub const MIN_SCALED_EXCERPTS: usize = 2;
    /// The default: 8 excerpts of 6 s (48 s per track at most). Fewer cost
    /// quality (issue 24: with [`Sampling::FAST`] the probe's best R² fell by
    /// 0.01 to 0.07 for centroid, zero-crossing rate and flatness).
    pub const DEFAULT: Sampling =
        Sampling::Spread { excerpts: Self::DEFAULT_EXCERPTS, excerpt_s: Self::DEFAULT_EXCERPT_S, model_windows: None };
    /// About 4× faster than [`Sampling::DEFAULT`] on one-minute tracks, at the
    /// quality cost measured in issue 24: 2 excerpts of 6 s (4 model windows)
    /// for a one-minute track, 5 for six minutes, 6 for ten.
    pub const FAST: Sampling = Sampling::Scaled { excerpts_per_minute: 2, excerpt_s: Self::DEFAULT_EXCERPT_S };

    /// How many excerpts are taken from a track of `duration_s`, before a short track is read whole.
    fn excerpt_count(&self, duration_s: f64) -> usize {
        match *self {
            Sampling::Full => 1,
            Sampling::Spread { excerpts, .. } => excerpts,
            Sampling::Scaled { excerpts_per_minute, .. } => {
                let scaled = excerpts_per_minute as f64 * (duration_s.max(0.0) / 60.0).sqrt();
                (scaled.round() as usize).max(Self::MIN_SCALED_EXCERPTS)
            }
        }
    }

    /// The most model windows a track gets (`None`: every window of its excerpts).
    pub fn model_windows(&self) -> Option<usize> {
        match *self {
            Sampling::Spread { model_windows, .. } => model_windows,
            Sampling::Full | Sampling::Scaled { .. } => None,
        }
    }

    /// Seconds per excerpt (`None`: the whole track).
    pub fn excerpt_s(&self) -> Option<f64> {
        match *self {
            Sampling::Full => None,
            Sampling::Spread { excerpt_s, .. } | Sampling::Scaled { excerpt_s, .. } => Some(excerpt_s),
        }
    }

    /// Start times (s) of the excerpts for a track of `duration_s`; one
    /// excerpt covering everything when the track is short enough.
    pub fn excerpt_starts_s(&self, duration_s: f64) -> Vec<f64> {
        let excerpts = self.excerpt_count(duration_s);
        match self.excerpt_s() {
            None => vec![0.0],
            Some(excerpt_s) => {
                if duration_s <= excerpts as f64 * excerpt_s || excerpts <= 1 {
                    return vec![0.0];
                }
                // Centre each excerpt in its share of the track.
                let share = duration_s / excerpts as f64;
                (0..excerpts).map(|i| (i as f64 * share + (share - excerpt_s) / 2.0).max(0.0)).collect()
            }
        }
    }

    /// Short stable text for the catalog ("full", "spread-8x6", "spread-8x6-m4" with a window budget).
    pub fn label(&self) -> String {
        match self {
            Sampling::Full => "full".into(),
            Sampling::Spread { excerpts, excerpt_s, model_windows: None } => format!("spread-{excerpts}x{excerpt_s}"),
            Sampling::Spread { excerpts, excerpt_s, model_windows: Some(m) } => format!("spread-{excerpts}x{excerpt_s}-m{m}"),
            Sampling::Scaled { excerpts_per_minute, excerpt_s } => format!("scaled-{excerpts_per_minute}x{excerpt_s}"),
        }
    }
}

/// A stretch of decoded audio and where it starts in the track.
#[derive(Debug, Clone)]
pub struct Excerpt {
    /// Start in the track, seconds.
    pub start_s: f64,
    /// Mono audio at the decoder's native rate.
    pub audio: MonoAudio,
}

/// The parts of a track that were decoded, and what went wrong on the way.
#[derive(Debug, Clone)]
pub struct DecodedExcerpts {
    /// The excerpts, in track order.
    pub excerpts: Vec<Excerpt>,
    /// The track's duration: the decoded length for full reads, the header's otherwise.
    pub duration_s: f64,
    /// Problems that did not stop decoding (skipped packets, replaced samples).
    pub problems: DecodeProblems,
}

/// Decodes the parts of `path` that `sampling` asks for. Falls back to a full
/// decode when the file cannot seek or states no duration.
pub fn decode_excerpts(path: &Path, sampling: Sampling) -> Result<DecodedExcerpts, AudioError> {
    let mut file = AudioFile::open(path)?;
    let header_duration = file.header_duration_s().filter(|d| d.is_finite() && *d > 0.0);
    if let (Some(excerpt_s), Some(duration_s)) = (sampling.excerpt_s(), header_duration) {
        let starts = sampling.excerpt_starts_s(duration_s);
        if starts.len() > 1 {
            let mut excerpts = Vec::with_capacity(starts.len());
            let mut seek_failed = false;
            for start_s in starts {
                match file.read_excerpt(start_s, excerpt_s)? {
                    Some(audio) if !audio.samples.is_empty() => excerpts.push(Excerpt { start_s, audio }),
                    Some(_) => {}
                    None => {
                        seek_failed = true;
                        break;
                    }
                }
            }
            if !seek_failed && !excerpts.is_empty() {
                return Ok(DecodedExcerpts { excerpts, duration_s, problems: file.problems() });
            }
            file = AudioFile::open(path)?;
        }
    }
    let audio = file.read_to_end()?;
    let duration_s = audio.duration_s();
    Ok(DecodedExcerpts { excerpts: vec![Excerpt { start_s: 0.0, audio }], duration_s, problems: file.problems() })
}

/// What the descriptors and the tonal layer make of one track's excerpts.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackDescription {
    /// Each descriptor's mean over the excerpts, weighted by their lengths.
    pub descriptors: Descriptors,
    /// The [`crate::analysis::tonal`] layer, from every excerpt's chroma.
    pub tonal: Vec<f32>,
}

/// Describes a track from its excerpts, as indexing stores it: each excerpt
/// resampled to [`DESCRIPTOR_RATE_HZ`] and analysed with `analyzer` (whose
/// buffers are reused from track to track). Fails when an excerpt cannot be resampled.
pub fn describe_excerpts(excerpts: &[Excerpt], analyzer: &mut DescriptorAnalyzer) -> Result<TrackDescription, AudioError> {
    let mut weighted: Vec<(Descriptors, f64)> = Vec::with_capacity(excerpts.len());
    let mut tonal = TonalProfile::new();
    for excerpt in excerpts {
        let samples = crate::audio::resample(&excerpt.audio.samples, excerpt.audio.sample_rate_hz, DESCRIPTOR_RATE_HZ)?;
        weighted.push((analyzer.analyze(&samples, DESCRIPTOR_RATE_HZ), excerpt.audio.duration_s()));
        tonal.add_excerpt(analyzer.chroma_frames());
    }
    Ok(TrackDescription { descriptors: weighted_mean(&weighted), tonal: tonal.vector() })
}

/// Duration-weighted mean of per-excerpt descriptors.
fn weighted_mean(parts: &[(Descriptors, f64)]) -> Descriptors {
    let total: f64 = parts.iter().map(|(_, w)| w).sum::<f64>().max(f64::MIN_POSITIVE);
    Descriptors::from_fn(|d: Descriptor| (parts.iter().map(|(v, w)| f64::from(v.get(d)) * w).sum::<f64>() / total) as f32)
}

/// Window vectors of one track: start time and per-layer vector of each window.
#[derive(Debug, Clone, Default)]
pub struct TrackEmbedding {
    /// Start time (s) of each analysed window.
    pub window_starts_s: Vec<f64>,
    /// The model's output for each window.
    pub windows: Vec<WindowEmbedding>,
}

impl TrackEmbedding {
    /// Mean over windows of each layer's vector: the track-level vectors.
    /// `None` when no window was analysed.
    pub fn pooled_layers(&self) -> Option<Vec<Vec<f32>>> {
        let first = self.windows.first()?;
        let mut pooled: Vec<Vec<f32>> = first.layer_vectors.iter().map(|v| vec![0.0; v.len()]).collect();
        for window in &self.windows {
            for (acc, vector) in pooled.iter_mut().zip(&window.layer_vectors) {
                acc.iter_mut().zip(vector).for_each(|(a, v)| *a += v);
            }
        }
        let scale = 1.0 / self.windows.len() as f32;
        pooled.iter_mut().flatten().for_each(|v| *v *= scale);
        Some(pooled)
    }
}

/// Why a track's windows could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// An excerpt could not be brought to the model's sample rate.
    #[error(transparent)]
    Resample(#[from] AudioError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Embeds a track's excerpts (at their decoded rate, each with its start in
/// the track): the windows that fit in each, or at most `model_windows` of
/// them spread evenly over the track ([`spread_windows`]). Only excerpts
/// holding a chosen window are resampled to the model's rate. A track
/// shorter than one window (a jingle, a short cadenza track) is repeated to
/// fill one window, so it is indexed rather than failed, when it lasts at
/// least [`MIN_TRACK_S`].
pub fn embed_excerpts(
    session: &mut ModelSession,
    excerpts: &[Excerpt],
    model_windows: Option<usize>,
) -> Result<TrackEmbedding, EmbedError> {
    let manifest = &session.info().manifest;
    let (rate, window, hop) = (manifest.sample_rate_hz, manifest.window_samples(), manifest.hop_samples());
    let at_model_rate = |e: &Excerpt| crate::audio::resampled_len(e.audio.samples.len(), e.audio.sample_rate_hz, rate);
    let counts: Vec<usize> = excerpts.iter().map(|e| windows_in(at_model_rate(e), window, hop)).collect();
    let mut track = TrackEmbedding::default();
    for (excerpt, chosen) in excerpts.iter().zip(spread_windows(&counts, model_windows)) {
        if chosen.is_empty() {
            continue;
        }
        let samples = at_rate(&excerpt.audio, rate)?;
        let starts: Vec<usize> = chosen.iter().map(|w| w * hop).filter(|s| s + window <= samples.len()).collect();
        embed_windows(session, &samples, excerpt.start_s, &starts, &mut track)?;
    }
    if track.windows.is_empty()
        && let Some(longest) = excerpts.iter().max_by_key(|e| e.audio.samples.len())
        && let Some(looped) =
            loop_to_length(&MonoAudio { samples: at_rate(&longest.audio, rate)?.into_owned(), sample_rate_hz: rate }, window)
    {
        embed_windows(session, &looped.samples, longest.start_s, &[0], &mut track)?;
    }
    Ok(track)
}

/// `audio`'s samples at `rate`: borrowed when they are at it already.
fn at_rate(audio: &MonoAudio, rate: u32) -> Result<std::borrow::Cow<'_, [f32]>, AudioError> {
    if audio.sample_rate_hz == rate {
        Ok(std::borrow::Cow::Borrowed(&audio.samples))
    } else {
        Ok(std::borrow::Cow::Owned(crate::audio::resample(&audio.samples, audio.sample_rate_hz, rate)?))
    }
}

/// How many windows of `window` samples, `hop` apart, fit in `len` samples.
fn windows_in(len: usize, window: usize, hop: usize) -> usize {
    if len < window { 0 } else { (len - window) / hop.max(1) + 1 }
}

/// Which windows a track embeds, given how many each excerpt holds
/// (`counts`): all of them, or at most `budget` at the centres of equal
/// shares of them all, so they spread over the whole track. Per excerpt,
/// the chosen windows' indices in it.
fn spread_windows(counts: &[usize], budget: Option<usize>) -> Vec<Vec<usize>> {
    let total: usize = counts.iter().sum();
    let take = budget.map_or(total, |b| b.min(total));
    let mut chosen = vec![Vec::new(); counts.len()];
    let (mut excerpt, mut before) = (0, 0);
    for j in 0..take {
        let k = (2 * j + 1) * total / (2 * take);
        while k >= before + counts[excerpt] {
            before += counts[excerpt];
            excerpt += 1;
        }
        chosen[excerpt].push(k - before);
    }
    chosen
}

/// The shortest track Strata analyses: below a quarter of a second there
/// is no note, rhythm or timbre to describe (a click, a truncated rip).
pub const MIN_TRACK_S: f64 = 0.25;

/// `audio` repeated end to end until it is `samples` long; `None` when it
/// is shorter than [`MIN_TRACK_S`].
///
/// Repeating keeps the clip's spectrum and loudness, which the pooled
/// vectors describe; padding with silence would pull every short track
/// towards the embedding of silence.
fn loop_to_length(audio: &MonoAudio, samples: usize) -> Option<MonoAudio> {
    if audio.samples.is_empty() || audio.duration_s() < MIN_TRACK_S {
        return None;
    }
    let looped = audio.samples.iter().copied().cycle().take(samples).collect();
    Some(MonoAudio { samples: looped, sample_rate_hz: audio.sample_rate_hz })
}

/// Cuts `audio` (already at the model's rate, starting at `offset_s` in the
/// track) into the model's windows and embeds them in batches. A remainder
/// shorter than one window is dropped; audio shorter than one window yields
/// nothing.
pub fn embed_audio(session: &mut ModelSession, audio: &MonoAudio, offset_s: f64, into: &mut TrackEmbedding) -> Result<(), ModelError> {
    let manifest: &ModelManifest = &session.info().manifest;
    let (window, hop) = (manifest.window_samples(), manifest.hop_samples());
    let starts: Vec<usize> = (0..windows_in(audio.samples.len(), window, hop)).map(|w| w * hop).collect();
    embed_windows(session, &audio.samples, offset_s, &starts, into)
}

/// Embeds the windows of `samples` (at the model's rate, starting at
/// `offset_s` in the track) that begin at `starts` (each must leave a whole
/// window), in the model's batches.
fn embed_windows(
    session: &mut ModelSession,
    samples: &[f32],
    offset_s: f64,
    starts: &[usize],
    into: &mut TrackEmbedding,
) -> Result<(), ModelError> {
    let manifest: &ModelManifest = &session.info().manifest;
    let window = manifest.window_samples();
    let batch_size = manifest.batch_size.max(1);
    let rate = f64::from(manifest.sample_rate_hz);
    for batch in starts.chunks(batch_size) {
        let slices: Vec<&[f32]> = batch.iter().map(|&s| &samples[s..s + window]).collect();
        let embedded = session.embed(&slices)?;
        into.window_starts_s.extend(batch.iter().map(|&s| offset_s + s as f64 / rate));
        into.windows.extend(embedded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_audio_is_looped_to_one_window() {
        // Four samples at 16 Hz: a quarter of a second, the shortest track analysed.
        let clip = MonoAudio { samples: vec![0.1, 0.2, 0.3, 0.4], sample_rate_hz: 16 };
        let looped = loop_to_length(&clip, 10).unwrap();
        assert_eq!(looped.samples, vec![0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2]);
        assert_eq!(looped.sample_rate_hz, 16);
        assert!(loop_to_length(&MonoAudio { samples: vec![0.1, 0.2, 0.3], sample_rate_hz: 16 }, 10).is_none());
        assert!(loop_to_length(&MonoAudio { samples: Vec::new(), sample_rate_hz: 16 }, 10).is_none());
    }

    #[test]
    fn spread_excerpts_cover_the_track_evenly() {
        let sampling = Sampling::Spread { excerpts: 4, excerpt_s: 10.0, model_windows: None };
        assert_eq!(sampling.excerpt_starts_s(400.0), vec![45.0, 145.0, 245.0, 345.0]);
        // Short tracks are read whole.
        assert_eq!(sampling.excerpt_starts_s(35.0), vec![0.0]);
        assert_eq!(Sampling::Full.excerpt_starts_s(1000.0), vec![0.0]);
    }

    #[test]
    fn a_window_budget_takes_the_centres_of_equal_shares() {
        // Every window without a budget, or with one at least as large.
        assert_eq!(spread_windows(&[2, 2], None), vec![vec![0, 1], vec![0, 1]]);
        assert_eq!(spread_windows(&[2, 2], Some(7)), vec![vec![0, 1], vec![0, 1]]);
        // Eight excerpts of two windows, four kept: one in every other excerpt, none at the very ends.
        let four = spread_windows(&[2; 8], Some(4));
        assert_eq!(four, vec![vec![], vec![0], vec![], vec![0], vec![], vec![0], vec![], vec![0]]);
        // Uneven and empty excerpts are skipped over, not miscounted.
        assert_eq!(spread_windows(&[0, 3, 0, 1], Some(2)), vec![vec![], vec![1], vec![], vec![0]]);
        assert_eq!(spread_windows(&[0, 0], Some(2)), vec![Vec::<usize>::new(), vec![]]);
        assert_eq!(Sampling::Spread { excerpts: 8, excerpt_s: 6.0, model_windows: Some(4) }.label(), "spread-8x6-m4");
    }

    #[test]
    fn scaled_excerpts_grow_with_the_square_root_of_the_length() {
        let sampling = Sampling::Scaled { excerpts_per_minute: 2, excerpt_s: 6.0 };
        assert_eq!(sampling.excerpt_starts_s(60.0), vec![12.0, 42.0]);
        assert_eq!(sampling.excerpt_starts_s(600.0).len(), 6);
        // At least two excerpts; a track no longer than they are is read whole.
        assert_eq!(sampling.excerpt_starts_s(20.0).len(), 2);
        assert_eq!(sampling.excerpt_starts_s(10.0), vec![0.0]);
        assert_eq!(sampling.label(), "scaled-2x6");
    }

    #[test]
    fn descriptions_weigh_excerpts_by_their_length() {
        let excerpt = |start_s: f64, samples: Vec<f32>| Excerpt { start_s, audio: MonoAudio { samples, sample_rate_hz: 44_100 } };
        let tone: Vec<f32> = (0..3 * 44_100).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect();
        let mut analyzer = DescriptorAnalyzer::new();
        let alone = describe_excerpts(&[excerpt(0.0, tone.clone())], &mut analyzer).unwrap();
        assert!(alone.descriptors.rms > 0.1, "{alone:?}");
        assert_eq!(alone.tonal.len(), crate::analysis::tonal::DIM);
        // A second of silence (all descriptors 0) beside three of tone has a quarter of the weight.
        let with_silence = describe_excerpts(&[excerpt(0.0, tone), excerpt(60.0, vec![0.0; 44_100])], &mut analyzer).unwrap();
        let expected = 0.75 * alone.descriptors.rms;
        assert!((with_silence.descriptors.rms - expected).abs() < 1e-6 * expected, "{} vs {expected}", with_silence.descriptors.rms);
        // Audio at a rate nothing resamples from is an error, not a guess.
        let odd = Excerpt { start_s: 0.0, audio: MonoAudio { samples: vec![0.1; 100], sample_rate_hz: 10 } };
        assert!(describe_excerpts(&[odd], &mut analyzer).is_err());
    }

    #[test]
    fn pooled_layers_average_windows() {
        let track = TrackEmbedding {
            window_starts_s: vec![0.0, 3.0],
            windows: vec![
                WindowEmbedding { layer_vectors: vec![vec![1.0, 2.0], vec![0.0]] },
                WindowEmbedding { layer_vectors: vec![vec![3.0, 4.0], vec![1.0]] },
            ],
        };
        assert_eq!(track.pooled_layers().unwrap(), vec![vec![2.0, 3.0], vec![0.5]]);
        assert!(TrackEmbedding::default().pooled_layers().is_none());
    }
}

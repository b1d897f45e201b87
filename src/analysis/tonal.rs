//! The tonal profile: a key-invariant summary of a track's pitch content.
//!
//! Embedding models trained on tags (MusicNN) hear instruments and texture
//! far better than harmony, yet harmony is what tells a Landini ballata from
//! a Bach chorale played on the same organ. So Strata computes one layer
//! itself, from the chroma that indexing already measures for the
//! descriptors, and stores it beside every model's layers as
//! [`LAYER_NAME`].
//!
//! # Definition
//!
//! Each chroma frame (`chroma_stft`, 22.05 kHz, hop 512, about 23 ms) is
//! scaled to sum 1 and smoothed over two spans ([`SCALES_FRAMES`]: about 1 s,
//! a chord, and about 4 s, a phrase) with a Hann window. Every smoothed frame
//! becomes a pitch-class distribution `p`, and its discrete Fourier
//! magnitudes `|Σ p_c e^(−2πi·k·c/12)|` for k = 1..6 describe its shape
//! whatever the key: transposing rotates `p`, which changes only the phases.
//! In music theory these magnitudes measure chromatic clustering (k = 1),
//! quartal and octatonic (2, 4), triadic and augmented (3), diatonic (5) and
//! whole-tone (6) content (Quinn 2006; Yust 2016); Weiß and Müller used them
//! at several time scales to trace style across composers. The layer holds
//! the mean and the standard deviation over frames of the six magnitudes at
//! each span: `[mean₁₋₆, std₁₋₆]` at 1 s, then at 4 s ([`DIM`] values).
//!
//! Silent frames (all zero: the analyser zeroes frames 60 dB below the
//! loudest, see [`crate::analysis::descriptors::DescriptorAnalyzer::chroma_frames`];
//! smoothed sum ≤ [`SILENT_SUM`]) are skipped, and a track with no sounding
//! frame gets zeros. Excerpts are smoothed separately, so
//! no window spans the gap between two of them.

use crate::analysis::descriptors::N_CHROMA;

/// Name of the layer in every model's store, after the model's own layers.
pub const LAYER_NAME: &str = "tonal";

/// What the layer holds, in words (shown beside the model's layers).
pub const DESCRIPTION: &str = "Strata's own, not the model's: Fourier magnitudes of the pitch-class distribution (diatonic, triadic, whole-tone, chromatic content), mean and spread at about 1 s and 4 s; the same in every key";

/// Smoothing spans in chroma frames (odd, so a window centres on its frame):
/// 41 ≈ 0.95 s and 161 ≈ 3.7 s at 22.05 kHz, hop 512.
pub const SCALES_FRAMES: [usize; 2] = [41, 161];

const _: () = assert!(SCALES_FRAMES[0] % 2 == 1 && SCALES_FRAMES[1] % 2 == 1, "spans must be odd");

/// Fourier coefficients kept per frame (k = 1..=6; k = 0 is always 1).
const COEFFICIENTS: usize = N_CHROMA / 2;

/// Values in the layer: mean and standard deviation of each coefficient at each span.
pub const DIM: usize = SCALES_FRAMES.len() * 2 * COEFFICIENTS;

/// A smoothed frame whose weights sum to this or less holds no sound.
pub const SILENT_SUM: f64 = 1e-6;

/// Gathers a track's frames excerpt by excerpt; [`TonalProfile::vector`] gives the layer.
#[derive(Debug, Clone)]
pub struct TonalProfile {
    /// Per span: sum of each coefficient over counted frames.
    sums: [[f64; COEFFICIENTS]; SCALES_FRAMES.len()],
    /// Per span: sum of each coefficient's square.
    squares: [[f64; COEFFICIENTS]; SCALES_FRAMES.len()],
    /// Per span: frames counted.
    frames: [u64; SCALES_FRAMES.len()],
    /// cos and −sin of 2π·k·c/12 for k = 1..=6, c = 0..12.
    basis: [[(f64, f64); N_CHROMA]; COEFFICIENTS],
    /// One Hann window per span, summing to 1.
    windows: Vec<Vec<f64>>,
}

impl Default for TonalProfile {
    fn default() -> Self {
        Self::new()
    }
}

impl TonalProfile {
    /// An empty profile.
    pub fn new() -> Self {
        let mut basis = [[(0.0, 0.0); N_CHROMA]; COEFFICIENTS];
        for (k, row) in basis.iter_mut().enumerate() {
            for (c, entry) in row.iter_mut().enumerate() {
                let angle = 2.0 * std::f64::consts::PI * ((k + 1) * c) as f64 / N_CHROMA as f64;
                *entry = (angle.cos(), -angle.sin());
            }
        }
        let windows = SCALES_FRAMES
            .iter()
            .map(|&span| {
                // A Hann window of span + 2 points without its zero ends.
                let raw: Vec<f64> = (1..=span).map(|j| (std::f64::consts::PI * j as f64 / (span + 1) as f64).sin().powi(2)).collect();
                let total: f64 = raw.iter().sum();
                raw.into_iter().map(|w| w / total).collect()
            })
            .collect();
        Self {
            sums: [[0.0; COEFFICIENTS]; SCALES_FRAMES.len()],
            squares: [[0.0; COEFFICIENTS]; SCALES_FRAMES.len()],
            frames: [0; SCALES_FRAMES.len()],
            basis,
            windows,
        }
    }

    /// Adds one excerpt's chroma frames (any per-frame scaling; each frame is
    /// rescaled to sum 1, and all-zero frames stay zero).
    pub fn add_excerpt(&mut self, chroma: &[[f32; N_CHROMA]]) {
        // Negative and non-finite values count as zero.
        let clean = |v: f32| if v.is_finite() { f64::from(v.max(0.0)) } else { 0.0 };
        let unit: Vec<[f64; N_CHROMA]> = chroma
            .iter()
            .map(|frame| {
                let total: f64 = frame.iter().map(|&v| clean(v)).sum();
                let scale = if total > 0.0 && total.is_finite() { 1.0 / total } else { 0.0 };
                frame.map(|v| clean(v) * scale)
            })
            .collect();
        for (scale, window) in self.windows.iter().enumerate() {
            let half = window.len() / 2;
            for t in 0..unit.len() {
                // Centred window, zero outside the excerpt.
                let mut smoothed = [0.0f64; N_CHROMA];
                let first = t.saturating_sub(half);
                let last = (t + half).min(unit.len() - 1);
                for (frame, weight) in unit[first..=last].iter().zip(&window[first + half - t..]) {
                    smoothed.iter_mut().zip(frame).for_each(|(acc, v)| *acc += weight * v);
                }
                let total: f64 = smoothed.iter().sum();
                if total <= SILENT_SUM {
                    continue;
                }
                for (k, row) in self.basis.iter().enumerate() {
                    let (re, im) = row.iter().zip(&smoothed).fold((0.0, 0.0), |(re, im), (&(c, s), &p)| (re + c * p, im + s * p));
                    let magnitude = re.hypot(im) / total;
                    self.sums[scale][k] += magnitude;
                    self.squares[scale][k] += magnitude * magnitude;
                }
                self.frames[scale] += 1;
            }
        }
    }

    /// The layer vector ([`DIM`] values; zeros when no frame sounded).
    pub fn vector(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(DIM);
        for scale in 0..SCALES_FRAMES.len() {
            let n = self.frames[scale].max(1) as f64;
            let means: Vec<f64> = self.sums[scale].iter().map(|s| s / n).collect();
            out.extend(means.iter().map(|&m| m as f32));
            out.extend(self.squares[scale].iter().zip(&means).map(|(sq, m)| (sq / n - m * m).max(0.0).sqrt() as f32));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames sounding `classes` (pitch classes, 0 = C) with equal weight.
    fn frames(classes: &[usize], count: usize) -> Vec<[f32; N_CHROMA]> {
        let mut frame = [0.0f32; N_CHROMA];
        classes.iter().for_each(|&c| frame[c % N_CHROMA] = 1.0);
        vec![frame; count]
    }

    fn profile(parts: &[Vec<[f32; N_CHROMA]>]) -> Vec<f32> {
        let mut profile = TonalProfile::new();
        parts.iter().for_each(|p| profile.add_excerpt(p));
        profile.vector()
    }

    #[test]
    fn magnitudes_match_music_theory() {
        // A steady chord: every frame is the same distribution, so the spread is zero.
        let whole_tone = profile(&[frames(&[0, 2, 4, 6, 8, 10], 300)]);
        assert_eq!(whole_tone.len(), DIM);
        // The whole-tone scale has all its weight in k = 6 (|f6| = 1) and none elsewhere.
        assert!((whole_tone[5] - 1.0).abs() < 1e-5, "{whole_tone:?}");
        assert!(whole_tone[..5].iter().all(|v| v.abs() < 1e-5), "{whole_tone:?}");
        assert!(whole_tone[6..12].iter().all(|v| v.abs() < 1e-4), "{whole_tone:?}");
        // The augmented triad is pure k = 3 (and k = 6).
        let augmented = profile(&[frames(&[0, 4, 8], 300)]);
        assert!((augmented[2] - 1.0).abs() < 1e-5 && augmented[0].abs() < 1e-5, "{augmented:?}");
        // The diatonic scale has the largest k = 5 magnitude of its coefficients.
        let diatonic = profile(&[frames(&[0, 2, 4, 5, 7, 9, 11], 300)]);
        let k5 = diatonic[4];
        assert!(diatonic[..6].iter().enumerate().all(|(k, &v)| k == 4 || v < k5), "{diatonic:?}");
        // The chromatic aggregate is flat: every coefficient vanishes.
        let chromatic = profile(&[frames(&(0..12).collect::<Vec<_>>(), 300)]);
        assert!(chromatic.iter().all(|v| v.abs() < 1e-5), "{chromatic:?}");
    }

    #[test]
    fn transposing_changes_nothing() {
        let progression = |shift: usize| {
            let mut track = frames(&[shift, shift + 4, shift + 7], 120);
            track.extend(frames(&[shift + 5, shift + 9, shift + 12], 80));
            track.extend(frames(&[shift + 7, shift + 11, shift + 14, shift + 17], 100));
            track
        };
        let home = profile(&[progression(0)]);
        for shift in 1..12 {
            let moved = profile(&[progression(shift)]);
            home.iter().zip(&moved).for_each(|(a, b)| assert!((a - b).abs() < 1e-6, "shift {shift}: {home:?} vs {moved:?}"));
        }
        // Changing chords gives a spread at both spans (a steady chord gives none).
        assert!(home[6..12].iter().any(|&v| v > 0.01) && home[18..24].iter().any(|&v| v > 0.01), "{home:?}");
    }

    /// The definition written out directly: per frame, a window sum over the
    /// frames in reach, then the DFT magnitudes; mean and population std.
    fn reference(chroma: &[[f32; N_CHROMA]]) -> Vec<f64> {
        let unit: Vec<Vec<f64>> = chroma
            .iter()
            .map(|f| {
                let total: f64 = f.iter().map(|&v| f64::from(v)).sum();
                f.iter().map(|&v| if total > 0.0 { f64::from(v) / total } else { 0.0 }).collect()
            })
            .collect();
        let mut out = Vec::new();
        for span in SCALES_FRAMES {
            let half = (span / 2) as isize;
            let hann: Vec<f64> = (1..=span).map(|j| (std::f64::consts::PI * j as f64 / (span + 1) as f64).sin().powi(2)).collect();
            let hann_total: f64 = hann.iter().sum();
            let mut magnitudes: Vec<[f64; COEFFICIENTS]> = Vec::new();
            for t in 0..unit.len() as isize {
                let mut p = [0.0f64; N_CHROMA];
                for offset in -half..=half {
                    let s = t + offset;
                    if s >= 0 && (s as usize) < unit.len() {
                        let w = hann[(offset + half) as usize] / hann_total;
                        (0..N_CHROMA).for_each(|c| p[c] += w * unit[s as usize][c]);
                    }
                }
                let total: f64 = p.iter().sum();
                if total <= SILENT_SUM {
                    continue;
                }
                let mut m = [0.0; COEFFICIENTS];
                for (k, slot) in m.iter_mut().enumerate() {
                    let angle = |c: usize| 2.0 * std::f64::consts::PI * ((k + 1) * c) as f64 / N_CHROMA as f64;
                    let re: f64 = (0..N_CHROMA).map(|c| p[c] * angle(c).cos()).sum();
                    let im: f64 = (0..N_CHROMA).map(|c| p[c] * angle(c).sin()).sum();
                    *slot = re.hypot(im) / total;
                }
                magnitudes.push(m);
            }
            let n = magnitudes.len().max(1) as f64;
            let mean: Vec<f64> = (0..COEFFICIENTS).map(|k| magnitudes.iter().map(|m| m[k]).sum::<f64>() / n).collect();
            let std: Vec<f64> =
                (0..COEFFICIENTS).map(|k| (magnitudes.iter().map(|m| (m[k] - mean[k]).powi(2)).sum::<f64>() / n).sqrt()).collect();
            out.extend(mean);
            out.extend(std);
        }
        out
    }

    #[test]
    fn matches_the_definition_on_changing_music() {
        // Random chords of random lengths with silences between, shorter and
        // longer than the spans: every window position and edge gets exercised.
        let mut rng = crate::prng::SplitMix64(9);
        let mut chroma = Vec::new();
        while chroma.len() < 700 {
            let mut frame = [0.0f32; N_CHROMA];
            if rng.below(5) > 0 {
                (0..1 + rng.below(5)).for_each(|_| frame[rng.below(N_CHROMA)] = 0.2 + rng.symmetric_unit().abs());
            }
            chroma.extend(std::iter::repeat_n(frame, 1 + rng.below(90)));
        }
        let got = profile(&[chroma.clone()]);
        let want = reference(&chroma);
        got.iter().zip(&want).for_each(|(g, w)| assert!((f64::from(*g) - w).abs() < 1e-5, "{got:?}\n{want:?}"));
        // The spread differs between spans, so the two halves are not one computation twice.
        assert!((got[6] - got[18]).abs() > 1e-3, "{got:?}");
    }

    #[test]
    fn silence_and_gaps_are_skipped() {
        assert_eq!(profile(&[]), vec![0.0; DIM]);
        assert_eq!(profile(&[frames(&[], 50)]), vec![0.0; DIM]);
        // Silent frames inside an excerpt and empty excerpts do not dilute the profile.
        let chord = profile(&[frames(&[0, 4, 7], 400)]);
        let mut gapped = frames(&[0, 4, 7], 200);
        gapped.extend(frames(&[], 400));
        gapped.extend(frames(&[0, 4, 7], 200));
        let with_gaps = profile(&[gapped, Vec::new(), frames(&[], 10)]);
        chord.iter().zip(&with_gaps).for_each(|(a, b)| assert!((a - b).abs() < 1e-6, "{chord:?} vs {with_gaps:?}"));
        // Non-finite or negative input does not poison the vector.
        let mut odd = frames(&[0, 4, 7], 100);
        odd[3][2] = f32::NAN;
        odd[4][5] = -1.0;
        odd[5][7] = f32::INFINITY;
        assert!(profile(&[odd]).iter().all(|v| v.is_finite()));
    }
}

//! How far a converted variant (int8, fp16, fused) strays from its fp32
//! reference, and how fast each runs, on a built-in test signal.
//!
//! Install keeps a lossy variant only where every layer's time-averaged
//! vector stays within cosine 0.99 of fp32's on this signal, and makes the
//! fastest kept variant the CPU default. The signal is made here, not read
//! from disk, so the check runs the same on every machine. Owner: H-D.

use std::path::Path;
use std::time::Instant;

use crate::model::{ModelInfo, ModelManifest, ModelSession, SessionOptions, WindowEmbedding};
use crate::prng::SplitMix64;

/// Seconds of the built-in test signal.
pub const TEST_SIGNAL_S: f64 = 5.0;

/// Timed runs per graph (after one warm-up run); the fastest counts.
const TIMED_RUNS: usize = 3;

/// One variant compared with its reference on the test signal.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReport {
    /// Per manifest layer, the cosine between the two graphs' time-averaged vectors.
    pub cosines: Vec<f64>,
    /// Fastest of a few runs of the candidate over the whole signal, in seconds.
    pub candidate_seconds: f64,
    /// Fastest of a few runs of the reference over the whole signal, in seconds.
    pub reference_seconds: f64,
}

impl DriftReport {
    /// The lowest per-layer cosine (1.0 for a model without layers).
    pub fn min_cosine(&self) -> f64 {
        self.cosines.iter().copied().fold(1.0, f64::min)
    }
}

/// The built-in test signal at `sample_rate_hz`: [`TEST_SIGNAL_S`] seconds of
/// an A-major chord with harmonics, struck every half second and decaying,
/// over a little seeded noise; the same samples on every machine.
pub fn test_signal(sample_rate_hz: u32) -> Vec<f32> {
    const CHORD_HZ: [f64; 4] = [220.0, 277.18, 329.63, 440.0];
    const STRIKE_S: f64 = 0.5;
    let rate_hz = f64::from(sample_rate_hz);
    let mut noise = SplitMix64(0x5354_5241_5441); // "STRATA"
    (0..(TEST_SIGNAL_S * rate_hz).round() as usize)
        .map(|n| {
            let t_s = n as f64 / rate_hz;
            let envelope = 0.3 + 0.7 * (-(t_s % STRIKE_S) * 6.0).exp();
            let tone: f64 = CHORD_HZ
                .iter()
                .map(|f_hz| {
                    let phase = std::f64::consts::TAU * f_hz * t_s;
                    0.2 * phase.sin() + 0.06 * (2.0 * phase).sin() + 0.02 * (3.0 * phase).sin()
                })
                .sum();
            (envelope * tone + 0.02 * f64::from(noise.symmetric_unit())) as f32
        })
        .collect()
}

/// Runs `reference_file` and `candidate_file` (graphs in `model_dir`, read
/// with `manifest`'s layers, rate and normalisation) on the test signal, on
/// the provider `options` asks for; returns each layer's cosine between the
/// two graphs' vectors averaged over the signal's windows, and each graph's
/// run time (the fastest of a few runs after a warm-up).
pub fn compare_variants(
    model_dir: &Path,
    manifest: &ModelManifest,
    reference_file: &str,
    candidate_file: &str,
    options: SessionOptions,
) -> Result<DriftReport, String> {
    let info = ModelInfo { dir: model_dir.to_path_buf(), manifest: manifest.clone(), tags: Vec::new() };
    let signal = test_signal(manifest.sample_rate_hz);
    let (reference, reference_seconds) = run_graph(&info, reference_file, &options, &signal)?;
    let (candidate, candidate_seconds) = run_graph(&info, candidate_file, &options, &signal)?;
    let cosines = reference
        .iter()
        .zip(&candidate)
        .zip(&manifest.layers)
        .map(|((a, b), layer)| {
            cosine(a, b).ok_or_else(|| format!("{candidate_file}: layer '{}' is not finite or all zero on the test signal", layer.name))
        })
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(DriftReport { cosines, candidate_seconds, reference_seconds })
}

/// One graph's per-layer vectors averaged over the signal's windows, and its fastest run in seconds.
fn run_graph(info: &ModelInfo, file: &str, options: &SessionOptions, signal: &[f32]) -> Result<(Vec<Vec<f64>>, f64), String> {
    let mut session = ModelSession::open_file(info, file, options.clone()).map_err(|e| format!("{file}: {e}"))?;
    // Whole windows of the model's length; a window longer than the signal takes all of it.
    let window = info.manifest.window_samples().clamp(1, signal.len());
    let windows: Vec<&[f32]> = signal.chunks_exact(window).collect();
    let mut embed = || session.embed(&windows).map_err(|e| format!("{file}: {e}"));
    let mut embeddings = embed()?;
    let mut fastest_s = f64::INFINITY;
    for _ in 0..TIMED_RUNS {
        let started = Instant::now();
        embeddings = embed()?;
        fastest_s = fastest_s.min(started.elapsed().as_secs_f64());
    }
    Ok((time_average(&embeddings, info.manifest.layers.len()), fastest_s))
}

/// Each layer's vector averaged over windows, in f64.
fn time_average(embeddings: &[WindowEmbedding], layers: usize) -> Vec<Vec<f64>> {
    (0..layers)
        .map(|layer| {
            let mut sum: Vec<f64> = Vec::new();
            for embedding in embeddings {
                let vector = &embedding.layer_vectors[layer];
                sum.resize(vector.len(), 0.0);
                sum.iter_mut().zip(vector).for_each(|(acc, &v)| *acc += f64::from(v));
            }
            let scale = 1.0 / embeddings.len().max(1) as f64;
            sum.iter().map(|v| v * scale).collect()
        })
        .collect()
}

/// Cosine of two vectors; `None` when either is all zero, not finite, or they differ in length.
fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms = a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|y| y * y).sum::<f64>().sqrt();
    let value = dot / norms;
    value.is_finite().then_some(value.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_signal_repeats_and_is_music_like() {
        let signal = test_signal(24_000);
        assert_eq!(signal.len(), 120_000);
        assert_eq!(signal, test_signal(24_000));
        let peak = signal.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.2 && peak < 1.5, "peak {peak}");
        // Struck every half second: louder just after a strike than just before the next.
        let rms = |range: std::ops::Range<usize>| (signal[range.clone()].iter().map(|v| v * v).sum::<f32>() / range.len() as f32).sqrt();
        assert!(rms(12_000..13_200) > 1.5 * rms(22_800..24_000));
    }

    #[test]
    fn cosine_of_same_direction_is_one_and_degenerate_is_none() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).unwrap().abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), None);
        assert_eq!(cosine(&[f64::NAN, 1.0], &[1.0, 1.0]), None);
    }
}

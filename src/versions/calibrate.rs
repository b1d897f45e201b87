//! From verification scores to the probability that two tracks are
//! recordings of the same piece, fitted on the library itself: no labels.
//!
//! Chance is measured, not assumed. A track's chance level is the median of
//! its "obviously different" scores: its verified pairs beyond its best
//! three (most pairs in a library are different pieces), and its scores
//! against time-reversed tracks (itself and its first candidates: the same
//! harmony, key and texture with no common order, which also gives a level
//! in a library of a handful of tracks). Scores are compared on a log scale,
//! where chance scores (a right-skewed share near 0) are close to normal, and
//! each pair is standardised against the mean chance level of its two
//! tracks and the library's pooled spread of chance scores (median absolute
//! deviation). On that scale chance is a standard normal; real pairs are a
//! mixture of it and a second, higher component (other recordings), whose
//! weight, centre and spread EM fits on all verified pairs with the chance
//! component held fixed. The confidence is the posterior probability of the
//! second component. A weak prior (two pseudo-pairs at 12 σ, 1 % of pairs)
//! keeps the fit sane on a library with few or no versions, where everything
//! near chance then gets a low confidence.

use super::features::IdentFeatures;
use super::verify;

/// A track's best verified pairs, left out of its chance level (they may be other recordings).
const BEST_LEFT_OUT: usize = 3;
/// Candidates of each track compared backwards (besides the track itself).
const REVERSED_CANDIDATES: usize = 3;
/// Prior of the "same piece" component: centre and spread in chance-standard
/// deviations and its share of pairs, worth this many pseudo-pairs.
const PRIOR_SAME_CENTRE: f64 = 12.0;
const PRIOR_SAME_SPREAD: f64 = 4.0;
const PRIOR_SAME_SHARE: f64 = 0.01;
const PRIOR_SAME_PAIRS: f64 = 2.0;
/// The "same piece" component never centres closer to chance than this (chance-σ).
const MIN_SAME_CENTRE: f64 = 4.0;
const EM_ROUNDS: usize = 50;

/// For every track, its scores against time-reversed tracks: itself and its first candidates.
pub fn null_samples(library: &[IdentFeatures], candidates: &[Vec<usize>]) -> Vec<Vec<f32>> {
    let jobs: Vec<(usize, usize)> = candidates
        .iter()
        .enumerate()
        .flat_map(|(q, cs)| std::iter::once((q, q)).chain(cs.iter().take(REVERSED_CANDIDATES).map(move |&c| (q, c))))
        .collect();
    let scores = super::parallel_map("versions-null", &jobs, |&(q, c)| verify::compare_reversed(&library[q], &library[c]));
    let mut nulls = vec![Vec::new(); library.len()];
    for (&(q, _), score) in jobs.iter().zip(scores) {
        nulls[q].push(score);
    }
    nulls
}

/// The fitted mapping from scores to confidences.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Each track's chance score (mean of its reversed comparisons).
    chance: Vec<f64>,
    /// Spread of chance scores around their track's level.
    chance_spread: f64,
    /// The "same piece" component on the standardised scale: weight, centre, spread.
    same_share: f64,
    same_centre: f64,
    same_spread: f64,
}

impl Calibration {
    /// Fits the chance level from `nulls` and each track's verified pairs
    /// beyond its best few, and the mixture on all verified `pairs` (track, track, score).
    pub fn fit(nulls: &[Vec<f32>], pairs: impl Iterator<Item = (usize, usize, f32)>) -> Self {
        let pairs: Vec<(usize, usize, f32)> = pairs.collect();
        let mut per_track: Vec<Vec<f32>> = vec![Vec::new(); nulls.len()];
        for &(a, b, score) in &pairs {
            per_track[a].push(score);
            per_track[b].push(score);
        }
        let chance_samples: Vec<Vec<f64>> = per_track
            .into_iter()
            .zip(nulls)
            .map(|(mut scores, reversed)| {
                scores.sort_by(|x, y| y.total_cmp(x));
                scores.iter().skip(BEST_LEFT_OUT).chain(reversed).map(|&x| log_score(x)).collect()
            })
            .collect();
        let chance: Vec<f64> = chance_samples.iter().map(|v| median(v.clone()).unwrap_or(0.0)).collect();
        let deviations: Vec<f64> = chance_samples.iter().zip(&chance).flat_map(|(v, &m)| v.iter().map(move |&x| (x - m).abs())).collect();
        // The median absolute deviation of a normal distribution is 0.6745 σ.
        let chance_spread = (median(deviations).unwrap_or(0.0) / 0.6745).max(0.05);
        let mut model =
            Self { chance, chance_spread, same_share: PRIOR_SAME_SHARE, same_centre: PRIOR_SAME_CENTRE, same_spread: PRIOR_SAME_SPREAD };
        let z: Vec<f64> = pairs.iter().map(|&(a, b, s)| model.standardised(a, b, s)).collect();
        model.fit_mixture(&z);
        model
    }

    /// The score of tracks `a` and `b` in chance-standard deviations above their chance level.
    pub fn standardised(&self, a: usize, b: usize, score: f32) -> f64 {
        let level = 0.5 * (self.chance.get(a).copied().unwrap_or(0.0) + self.chance.get(b).copied().unwrap_or(0.0));
        (log_score(score) - level) / self.chance_spread
    }

    /// Probability that tracks `a` and `b`, verified at `score`, are recordings of the same piece.
    pub fn confidence(&self, a: usize, b: usize, score: f32) -> f32 {
        self.posterior(self.standardised(a, b, score)) as f32
    }

    fn posterior(&self, z: f64) -> f64 {
        let same = self.same_share * normal_density(z, self.same_centre, self.same_spread);
        let chance = (1.0 - self.same_share) * normal_density(z, 0.0, 1.0);
        if same + chance > 0.0 {
            same / (same + chance)
        } else if z > self.same_centre {
            1.0
        } else {
            0.0
        }
    }

    /// EM for the "same piece" component with chance fixed at N(0, 1), with the prior's pseudo-pairs.
    fn fit_mixture(&mut self, z: &[f64]) {
        for _ in 0..EM_ROUNDS {
            let (mut weight, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
            for &x in z {
                let p = self.posterior(x);
                weight += p;
                sum += p * x;
                sum_sq += p * x * x;
            }
            let total_weight = weight + PRIOR_SAME_PAIRS;
            let centre = (sum + PRIOR_SAME_PAIRS * PRIOR_SAME_CENTRE) / total_weight;
            let variance =
                (sum_sq + PRIOR_SAME_PAIRS * (PRIOR_SAME_SPREAD.powi(2) + PRIOR_SAME_CENTRE.powi(2))) / total_weight - centre * centre;
            self.same_centre = centre.max(MIN_SAME_CENTRE);
            self.same_spread = variance.max(1.0).sqrt();
            self.same_share = (total_weight / (z.len() as f64 + PRIOR_SAME_PAIRS / PRIOR_SAME_SHARE)).clamp(1e-6, 0.5);
        }
    }
}

/// Scores on a log scale, where chance scores (a right-skewed share near 0) are close to normal.
fn log_score(score: f32) -> f64 {
    f64::from(score).max(1e-3).ln()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    Some(*values.select_nth_unstable_by(mid, f64::total_cmp).1)
}

fn normal_density(x: f64, centre: f64, spread: f64) -> f64 {
    let u = (x - centre) / spread;
    (-0.5 * u * u).exp() / (spread * (2.0 * std::f64::consts::PI).sqrt())
}

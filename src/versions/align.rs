//! Aligning two recordings of one piece: a monotone map from the times of one
//! to the times of the other.
//!
//! Multiresolution DTW (Müller, Prätzlich & Ewert 2016; the Sync Toolbox):
//! the key offset is found first (on the identification features), leading
//! and trailing silence is set aside, then DTW runs on the whole grid only at
//! the coarsest level (about 2 frames/s) and at each finer level only in a
//! band around the path found one level up, down to 50 frames/s, so time and
//! memory grow linearly with length. The local cost is the cosine distance of
//! tuned log chroma plus the distance of chroma onsets, which pin the path to
//! note starts. Steps are one frame in either recording or both (weights 1.5,
//! 1.5, 2 as in the Sync Toolbox), so a passage one recording skips shows as
//! a vertical or horizontal run of the path, a jump in the time map.

use std::path::Path;

use super::features::{Chroma, FineFeatures, N_CHROMA, frame_time_s, mean_of, rotate, unit_or_uniform};
use super::verify;
use crate::audio::AudioError;

/// Each coarser level has this many times fewer frames.
const LEVEL_FACTOR: usize = 5;
/// Largest grid (cells) DTW fills whole at the coarsest level.
const MAX_FULL_CELLS: usize = 4_000_000;
/// Band radius around the projected coarser path, in cells of the finer level.
const BAND_RADIUS: usize = 2 * LEVEL_FACTOR;
/// Step weights (one frame of A, one of B, both).
const WEIGHT_A: f32 = 1.5;
const WEIGHT_B: f32 = 1.5;
const WEIGHT_BOTH: f32 = 2.0;
/// The time map has a point at least this often (fine frames of A: 0.1 s).
const MAP_STEP: usize = 5;
/// The path is smoothed over this many fine frames either side (removes DTW's staircase).
const SMOOTH_RADIUS: usize = 3;

/// The alignment of recording B to recording A.
#[derive(Debug, Clone, PartialEq)]
pub struct Alignment {
    /// Pairs (time in A, time in B), seconds, non-decreasing in both.
    pub map: Vec<(f64, f64)>,
    /// Semitones B was shifted up to match A (0..12).
    pub key_shift: usize,
}

impl Alignment {
    /// B's tempo relative to A's over `window_s` seconds of A around `t_a_s`
    /// (>1: B is faster), the window cut to the music both play.
    pub fn tempo_ratio_at(&self, t_a_s: f64, window_s: f64) -> Option<f64> {
        let at = |t: f64| interpolate(&self.map, t);
        let (first, last) = (self.map.first()?.0, self.map.last()?.0);
        let (lo, hi) = ((t_a_s - window_s / 2.0).max(first), (t_a_s + window_s / 2.0).min(last));
        let span_b = at(hi)? - at(lo)?;
        (span_b > 1e-6).then(|| (hi - lo) / span_b)
    }

    /// B's tempo relative to A's over all the music both play (>1: B is faster).
    pub fn mean_tempo_ratio(&self) -> Option<f64> {
        let (first, last) = (self.map.first()?, self.map.last()?);
        let span_b = last.1 - first.1;
        (span_b > 1e-6).then(|| (last.0 - first.0) / span_b)
    }

    /// [`Self::tempo_ratio_at`] every `step_s` seconds of A over the music both play, as (time in A, ratio).
    pub fn tempo_curve(&self, step_s: f64, window_s: f64) -> Vec<(f64, f64)> {
        let (Some(first), Some(last)) = (self.map.first(), self.map.last()) else { return Vec::new() };
        if step_s.is_nan() || step_s <= 0.0 {
            return Vec::new();
        }
        let steps = ((last.0 - first.0) / step_s).floor().max(0.0) as usize;
        (0..=steps)
            .filter_map(|k| {
                let t = first.0 + k as f64 * step_s;
                self.tempo_ratio_at(t, window_s).map(|ratio| (t, ratio))
            })
            .collect()
    }

    /// The map the other way round: times in B to times in A.
    pub fn inverse_map(&self) -> Vec<(f64, f64)> {
        self.map.iter().map(|&(a, b)| (b, a)).collect()
    }
}

/// B's time at `t_a` by linear interpolation of `map` (clamped at its ends); `None` for an empty map.
pub fn interpolate(map: &[(f64, f64)], t_a: f64) -> Option<f64> {
    let first = map.first()?;
    let last = map.last()?;
    if t_a <= first.0 {
        return Some(first.1);
    }
    if t_a >= last.0 {
        return Some(last.1);
    }
    let k = map.partition_point(|p| p.0 <= t_a);
    let (a, b) = (map[k - 1], map[k]);
    let share = if b.0 > a.0 { (t_a - a.0) / (b.0 - a.0) } else { 0.5 };
    Some(a.1 + share * (b.1 - a.1))
}

/// Decodes both files (on two threads) and aligns B to A.
pub fn align_files(a: &Path, b: &Path) -> Result<Alignment, AudioError> {
    let paths = [a, b];
    let mut features = super::parallel_map("versions-align", &paths, |p| super::features::fine_features(p)).into_iter();
    let (Some(a), Some(b)) = (features.next(), features.next()) else {
        return Err(AudioError::Empty);
    };
    Ok(align(&a?, &b?))
}

/// Aligns B to A.
pub fn align(a: &FineFeatures, b: &FineFeatures) -> Alignment {
    let key_shift = verify::harmony_match(&a.ident, &b.ident).key_shift;
    let (a0, a1) = a.sounding_span();
    let (b0, b1) = b.sounding_span();
    let seq_a = Sequence { chroma: a.chroma[a0..a1].to_vec(), onsets: a.onsets[a0..a1].to_vec() };
    let seq_b = Sequence {
        chroma: b.chroma[b0..b1].iter().map(|v| rotate(v, key_shift)).collect(),
        onsets: b.onsets[b0..b1].iter().map(|v| rotate(v, key_shift)).collect(),
    };
    let path = multiresolution_path(&seq_a, &seq_b);
    Alignment { map: time_map(&path, a0, b0, seq_a.len()), key_shift }
}

/// Features of one level.
#[derive(Debug, Clone)]
struct Sequence {
    chroma: Vec<Chroma>,
    onsets: Vec<Chroma>,
}

impl Sequence {
    fn len(&self) -> usize {
        self.chroma.len()
    }

    /// Every `factor` frames averaged into one.
    fn coarser(&self, factor: usize) -> Sequence {
        Sequence {
            chroma: self.chroma.chunks(factor).map(|block| unit_or_uniform(&mean_of(block))).collect(),
            onsets: self.onsets.chunks(factor).map(mean_of).collect(),
        }
    }

    fn cost(&self, i: usize, other: &Sequence, j: usize) -> f32 {
        let (ca, cb) = (&self.chroma[i], &other.chroma[j]);
        let (oa, ob) = (&self.onsets[i], &other.onsets[j]);
        let mut dot = 0.0f32;
        let mut onset_sq = 0.0f32;
        for c in 0..N_CHROMA {
            dot += ca[c] * cb[c];
            onset_sq += (oa[c] - ob[c]).powi(2);
        }
        (1.0 - dot) + onset_sq.sqrt()
    }
}

/// The DTW path (pairs of frame indices, from (0, 0) to the last frames) at the finest level.
fn multiresolution_path(a: &Sequence, b: &Sequence) -> Vec<(usize, usize)> {
    if a.len() == 0 || b.len() == 0 {
        return Vec::new();
    }
    let mut levels = vec![(a.clone(), b.clone())];
    while levels.last().is_some_and(|(x, y)| x.len() * y.len() > MAX_FULL_CELLS && x.len() > 1 && y.len() > 1) {
        let Some((x, y)) = levels.last() else { break };
        let next = (x.coarser(LEVEL_FACTOR), y.coarser(LEVEL_FACTOR));
        levels.push(next);
    }
    // The coarsest level: the whole grid is the band.
    let Some((x, y)) = levels.last() else { return Vec::new() };
    let mut path = banded_dtw(x, y, &vec![(0, y.len()); x.len()]);
    for level in (0..levels.len() - 1).rev() {
        let (x, y) = &levels[level];
        let band = band_around(&path, LEVEL_FACTOR, x.len(), y.len());
        path = banded_dtw(x, y, &band);
    }
    path
}

/// Column ranges, one per row of an `n × m` grid, covering `coarse_path`
/// scaled up by `factor` and widened by [`BAND_RADIUS`], each row reachable from the last.
fn band_around(coarse_path: &[(usize, usize)], factor: usize, n: usize, m: usize) -> Vec<(usize, usize)> {
    let mut band = vec![(usize::MAX, 0usize); n];
    for &(i, j) in coarse_path {
        let rows = (i * factor).saturating_sub(BAND_RADIUS)..((i + 1) * factor + BAND_RADIUS).min(n);
        let columns = ((j * factor).saturating_sub(BAND_RADIUS), ((j + 1) * factor + BAND_RADIUS).min(m));
        for row in rows {
            band[row].0 = band[row].0.min(columns.0);
            band[row].1 = band[row].1.max(columns.1);
        }
    }
    // Monotone ends, the corners included, and no row starting past the end of the one before.
    band[0].0 = 0;
    if let Some(last) = band.last_mut() {
        last.1 = m;
    }
    for i in 1..n {
        band[i].0 = band[i].0.max(band[i - 1].0);
        band[i].1 = band[i].1.max(band[i - 1].1);
    }
    for i in (0..n - 1).rev() {
        band[i].0 = band[i].0.min(band[i + 1].0);
    }
    for i in 1..n {
        band[i].0 = band[i].0.min(band[i - 1].1.saturating_sub(1));
        band[i].1 = band[i].1.max(band[i].0 + 1).min(m);
    }
    band
}

/// DTW over the cells `band[i].0..band[i].1` of each row, from (0, 0) to
/// (n-1, m-1); memory is one byte per cell in the band plus two rows.
fn banded_dtw(a: &Sequence, b: &Sequence, band: &[(usize, usize)]) -> Vec<(usize, usize)> {
    const FROM_A: u8 = 0;
    const FROM_B: u8 = 1;
    const FROM_BOTH: u8 = 2;
    let n = a.len();
    let offsets: Vec<usize> = band.iter().scan(0, |total, &(lo, hi)| Some(std::mem::replace(total, *total + (hi - lo)))).collect();
    let cells = offsets.last().map_or(0, |&o| o + band[n - 1].1 - band[n - 1].0);
    let mut steps = vec![FROM_BOTH; cells];
    let mut previous: Vec<f32> = Vec::new();
    let mut previous_band = (0, 0);
    let mut current: Vec<f32> = Vec::new();
    for i in 0..n {
        let (lo, hi) = band[i];
        current.clear();
        for j in lo..hi {
            let cost = a.cost(i, b, j);
            let up = |col: usize| -> f32 {
                if col >= previous_band.0 && col < previous_band.1 { previous[col - previous_band.0] } else { f32::INFINITY }
            };
            let left = if j > lo { current[j - lo - 1] } else { f32::INFINITY };
            let (best, step) = if i == 0 && j == 0 {
                (0.0, FROM_BOTH)
            } else {
                let diagonal = if j > 0 { up(j - 1) + WEIGHT_BOTH * cost } else { f32::INFINITY };
                let vertical = up(j) + WEIGHT_A * cost;
                let horizontal = left + WEIGHT_B * cost;
                if diagonal <= vertical && diagonal <= horizontal {
                    (diagonal, FROM_BOTH)
                } else if vertical <= horizontal {
                    (vertical, FROM_A)
                } else {
                    (horizontal, FROM_B)
                }
            };
            current.push(if i == 0 && j == 0 { cost } else { best });
            steps[offsets[i] + j - lo] = step;
        }
        std::mem::swap(&mut previous, &mut current);
        previous_band = (lo, hi);
    }
    let (mut i, mut j) = (n - 1, b.len() - 1);
    let mut path = vec![(i, j)];
    while i > 0 || j > 0 {
        let (lo, hi) = band[i];
        let step = if (lo..hi).contains(&j) { steps[offsets[i] + j - lo] } else { FROM_BOTH };
        match step {
            FROM_A if i > 0 => i -= 1,
            FROM_B if j > 0 => j -= 1,
            _ => {
                i = i.saturating_sub(1);
                j = j.saturating_sub(1);
            }
        }
        path.push((i, j));
    }
    path.reverse();
    path
}

/// The path as times: B's mean frame for each frame of A, smoothed, every [`MAP_STEP`] frames.
fn time_map(path: &[(usize, usize)], a_start: usize, b_start: usize, a_len: usize) -> Vec<(f64, f64)> {
    if path.is_empty() || a_len == 0 {
        return Vec::new();
    }
    let mut sums = vec![(0.0f64, 0usize); a_len];
    for &(i, j) in path {
        sums[i].0 += j as f64;
        sums[i].1 += 1;
    }
    let b_of_a: Vec<f64> = sums.iter().map(|&(s, c)| s / c.max(1) as f64).collect();
    // A moving average of a non-decreasing sequence is non-decreasing.
    let smoothed: Vec<f64> = (0..a_len)
        .map(|i| {
            let lo = i.saturating_sub(SMOOTH_RADIUS);
            let hi = (i + SMOOTH_RADIUS + 1).min(a_len);
            b_of_a[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect();
    let mut rows: Vec<usize> = (0..a_len).step_by(MAP_STEP).collect();
    if rows.last() != Some(&(a_len - 1)) {
        rows.push(a_len - 1);
    }
    rows.into_iter().map(|i| (frame_time_s(a_start + i), (b_start as f64 + smoothed[i]) / super::features::FRAMES_PER_S)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::SplitMix64;

    fn random_sequence(seed: u64, n: usize) -> Sequence {
        let mut rng = SplitMix64(seed);
        let chroma = (0..n).map(|_| unit_or_uniform(&std::array::from_fn(|_| rng.symmetric_unit().abs()))).collect();
        let onsets = (0..n).map(|_| std::array::from_fn(|_| rng.symmetric_unit().abs())).collect();
        Sequence { chroma, onsets }
    }

    #[test]
    fn the_multiresolution_path_finds_a_stretch_and_a_skipped_passage() {
        // B plays A's frames 0..4000 at 3/4 speed (every third frame doubled), without 2000..2600.
        let a = random_sequence(7, 4000);
        let source: Vec<usize> =
            (0..4000).filter(|i| !(2000..2600).contains(i)).flat_map(|i| std::iter::repeat_n(i, if i % 3 == 0 { 2 } else { 1 })).collect();
        let b = Sequence { chroma: source.iter().map(|&i| a.chroma[i]).collect(), onsets: source.iter().map(|&i| a.onsets[i]).collect() };
        let path = multiresolution_path(&a, &b);
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(a.len() - 1, b.len() - 1)));
        let wrong = path.iter().filter(|&&(i, j)| !(2000..2600).contains(&i) && source[j].abs_diff(i) > 1).count();
        // Only around the cut may the path wander (at most 1 % of it).
        assert!(wrong * 100 < path.len(), "{wrong} of {} cells off the true path", path.len());
    }

    #[test]
    fn interpolation_is_linear_inside_and_clamped_outside() {
        let map = [(1.0, 2.0), (3.0, 6.0)];
        assert_eq!(interpolate(&map, 2.0), Some(4.0));
        assert_eq!(interpolate(&map, 0.0), Some(2.0));
        assert_eq!(interpolate(&map, 9.0), Some(6.0));
        assert_eq!(interpolate(&[], 1.0), None);
    }

    #[test]
    fn a_recording_that_slows_down_shows_in_its_tempo_curve() {
        // B plays A's first 10 s at A's tempo, the next 10 s in 20 s (half tempo), after a 2 s lead-in.
        let map: Vec<(f64, f64)> =
            (0..=200).map(|k| k as f64 * 0.1).map(|t| (t, if t <= 10.0 { 2.0 + t } else { 12.0 + 2.0 * (t - 10.0) })).collect();
        let alignment = Alignment { map, key_shift: 0 };
        let curve = alignment.tempo_curve(0.5, 2.0);
        assert_eq!(curve.len(), 41);
        assert!(alignment.tempo_curve(0.0, 2.0).is_empty());
        let at = |t: f64| curve.iter().find(|p| (p.0 - t).abs() < 1e-9).unwrap().1;
        assert!((at(4.0) - 1.0).abs() < 1e-9 && (at(16.0) - 0.5).abs() < 1e-9, "{curve:?}");
        assert!((at(0.0) - 1.0).abs() < 1e-9 && (at(20.0) - 0.5).abs() < 1e-9, "the ends read only the music both play: {curve:?}");
        assert!((alignment.mean_tempo_ratio().unwrap() - 20.0 / 30.0).abs() < 1e-9);
        assert_eq!(interpolate(&alignment.inverse_map(), 22.0), Some(15.0));
    }
}

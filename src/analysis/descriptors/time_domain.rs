//! Time-domain descriptors: frame RMS, its dynamic range, and the
//! zero-crossing rate, computed straight from the samples (no STFT).
//!
//! Frames are `FRAME_LEN` samples every `HOP_LEN`, centred and zero-padded as
//! in librosa; since `FRAME_LEN` is four hops, each frame's energy and
//! crossing count are sums of four per-hop block values, computed once.

use super::kernels::dot_f32;
use super::{FRAME_LEN, HOP_LEN};

/// |x| at or below this counts as zero (and as positive) for zero crossings.
const ZC_THRESHOLD: f32 = 1e-10;
/// Frames at or below this level (dB) are left out of the dynamic range.
const DR_FLOOR_DB: f64 = -80.0;

/// The time-domain family's results for one track.
pub(super) struct TimeDomainSummary {
    /// Mean frame RMS (linear).
    pub(super) rms_mean: f64,
    /// Mean zero-crossing rate (crossings per sample pair).
    pub(super) zcr_mean: f64,
    /// 95th minus 10th percentile of the frame levels above the floor, dB.
    pub(super) dynamic_range_db: f64,
}

/// Scratch for the time-domain family; grows to the longest track seen.
#[derive(Default)]
pub(super) struct TimeDomain {
    /// Σx² of each hop-long block.
    block_sq: Vec<f64>,
    /// Sign changes inside each block, counting the pair that enters it.
    block_zc: Vec<u32>,
    /// Levels (dB) of the frames above [`DR_FLOOR_DB`].
    frame_db: Vec<f64>,
}

impl TimeDomain {
    /// Frame RMS and ZCR of `y` over `n_frames` frames, via hop-long block sums.
    pub(super) fn analyze(&mut self, y: &[f32], n_frames: usize) -> TimeDomainSummary {
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
            let mut prev = if base == 0 { neg(chunk[0]) } else { neg(y[base - 1]) };
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
            // The frame's first sample pairs with one outside the frame: not its crossing.
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
        let dynamic_range_db = if self.frame_db.len() >= 2 {
            self.frame_db.sort_unstable_by(|a, b| a.total_cmp(b));
            percentile(&self.frame_db, 95.0) - percentile(&self.frame_db, 10.0)
        } else {
            0.0
        };
        TimeDomainSummary { rms_mean: rms_sum / n_frames as f64, zcr_mean: zcr_sum / n_frames as f64, dynamic_range_db }
    }
}

/// numpy.percentile (method 'linear') of sorted data.
pub(super) fn percentile(sorted: &[f64], q: f64) -> f64 {
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

//! Clustered vectors and descriptors for a planned archive.
//!
//! A track's vector on a layer is a shared offset (so centring matters) plus
//! four parts: its composer's, its work's, its recording's (album) and its
//! own. Deeper layers weigh composer and work more, shallower ones the
//! recording, the way learned layers move from sound to style. Variance
//! along direction `i` falls as `i^-decay/2`, the power-law spectrum of
//! learned embeddings. A few leading directions carry latent values from
//! which the descriptors are computed, each most visible in one band of
//! layers, so the layer probe has something to find. Every value is hashed
//! from (seed, part, group, layer, direction): any track is generated alone,
//! in any order, on any thread.

use crate::analysis::descriptors::{Descriptor, Descriptors};
use crate::prng::SplitMix64;
use crate::synth::catalogue::PlannedTrack;

/// Spectral decay of the synthetic layers (MusicNN's per-window vectors fit about 2).
const DECAY: f32 = 1.5;

/// Weight of the shared offset relative to a unit-variance direction.
const OFFSET: f32 = 0.5;

/// Generates the vectors of one model's layers.
pub struct ClusteredVectors {
    seed: u64,
    /// Per layer: the offset vector and the per-direction scales.
    layers: Vec<(Vec<f32>, Vec<f32>)>,
}

/// The clustering parts of a vector.
#[derive(Clone, Copy)]
enum Part {
    Offset = 0,
    Composer = 1,
    Work = 2,
    Album = 3,
    Track = 4,
}

/// The pseudo-layer the descriptor latents are drawn on.
const LATENT_LAYER: usize = 1 << 12;

fn stream(seed: u64, part: Part, group: usize, layer: usize) -> SplitMix64 {
    SplitMix64(
        seed ^ (part as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (group as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ (layer as u64).wrapping_mul(0xA24B_AED4_963E_E407),
    )
}

/// A unit-variance value.
fn draw(rng: &mut SplitMix64) -> f32 {
    rng.symmetric_unit() * 3f32.sqrt()
}

/// Shares of variance (composer, work, album, track) at relative depth `depth` (0 first layer, 1 last).
fn shares(depth: f32) -> [f32; 4] {
    let composer = 0.15 + 0.25 * depth;
    let work = 0.10 + 0.25 * depth;
    let album = 0.35 - 0.25 * depth;
    [composer, work, album, 1.0 - composer - work - album]
}

impl ClusteredVectors {
    /// Vectors for layers of `layer_dims`, repeatable for `seed`.
    pub fn new(seed: u64, layer_dims: &[usize]) -> Self {
        let layers = layer_dims
            .iter()
            .enumerate()
            .map(|(layer, &dim)| {
                let mut rng = stream(seed, Part::Offset, 0, layer);
                let offset = (0..dim).map(|_| OFFSET * draw(&mut rng)).collect();
                let scales = (1..=dim).map(|i| (i as f32).powf(-DECAY / 2.0)).collect();
                (offset, scales)
            })
            .collect();
        Self { seed, layers }
    }

    /// Track `index`'s (planned as `track`) vector on `layer`.
    pub fn layer_vector(&self, track: &PlannedTrack, index: usize, layer: usize) -> Vec<f32> {
        let Some((offset, scales)) = self.layers.get(layer) else { return Vec::new() };
        let depth = layer as f32 / (self.layers.len().max(2) - 1) as f32;
        let mut vector = self.mix(track, index, layer, offset.len(), shares(depth));
        let latents = self.latents(track, index);
        for (j, &latent) in latents.iter().enumerate().take(vector.len()) {
            // Each latent is clearest in the layers near its own depth.
            let home = j as f32 / (latents.len() - 1) as f32;
            let gain = 0.8 * (-(depth - home).powi(2) / 0.08).exp();
            vector[j] = gain * latent + (1.0 - gain * gain).sqrt() * vector[j];
        }
        for ((v, &scale), &o) in vector.iter_mut().zip(scales).zip(offset) {
            *v = scale * *v + o;
        }
        vector
    }

    /// Unit-variance values mixing the four parts with `shares`.
    fn mix(&self, track: &PlannedTrack, index: usize, layer: usize, dim: usize, shares: [f32; 4]) -> Vec<f32> {
        let groups = [(Part::Composer, track.composer), (Part::Work, track.work), (Part::Album, track.album), (Part::Track, index)];
        let mut values = vec![0.0f32; dim];
        for ((part, group), share) in groups.into_iter().zip(shares) {
            let mut rng = stream(self.seed, part, group, layer);
            let weight = share.sqrt();
            for v in &mut values {
                *v += weight * draw(&mut rng);
            }
        }
        values
    }

    /// The latent values the descriptors are computed from, one per descriptor.
    fn latents(&self, track: &PlannedTrack, index: usize) -> Vec<f32> {
        self.mix(track, index, LATENT_LAYER, Descriptor::ALL.len(), shares(0.5))
    }

    /// Descriptors in realistic ranges, each an increasing function of its latent.
    pub fn descriptors(&self, track: &PlannedTrack, index: usize) -> Descriptors {
        let mut descriptors = Descriptors::default();
        for (&d, &z) in Descriptor::ALL.iter().zip(&self.latents(track, index)) {
            let squash = 1.0 / (1.0 + (-z).exp());
            *descriptors.get_mut(d) = match d {
                Descriptor::SpectralCentroid => 600.0 + 3000.0 * squash,
                Descriptor::SpectralRolloff => 1500.0 + 7000.0 * squash,
                Descriptor::ZeroCrossingRate => 0.01 + 0.15 * squash,
                Descriptor::SpectralFlatness => 0.01 + 0.3 * squash,
                Descriptor::Rms => 0.02 + 0.25 * squash,
                Descriptor::DynamicRange => 6.0 + 30.0 * squash,
                Descriptor::OnsetRate => 0.5 + 6.0 * squash,
                Descriptor::Tempo => 60.0 + 110.0 * squash,
                Descriptor::KeyClarity => 0.2 + 0.7 * squash,
            };
        }
        descriptors
    }
}

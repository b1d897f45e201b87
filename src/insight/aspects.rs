//! Musical aspects and the layers that serve them.
//!
//! An aspect (brightness, timbre, rhythm…) names one or more measurable
//! descriptors. It is resolved, per model and library, to the layer whose
//! probe R² for those descriptors is highest — data, never a hard-coded
//! layer number — and carries that R² as its evidence. Owns only this
//! mapping; probing is [`crate::insight::probe`], ranking is [`crate::search`].

use serde::{Deserialize, Serialize};

use crate::analysis::descriptors::Descriptor;
use crate::insight::probe::ProbeTable;

/// A named aspect and the descriptors that measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aspect {
    /// Id used on the command line (`--aspect brightness=0.7`).
    pub name: &'static str,
    /// Label shown in the window.
    pub label: &'static str,
    /// What it measures, in words.
    pub description: &'static str,
    /// Descriptors whose probe R² decides the layer.
    pub descriptors: &'static [Descriptor],
}

/// Every aspect Strata offers, in display order.
pub const ASPECTS: &[Aspect] = &[
    Aspect {
        name: "brightness",
        label: "Brightness",
        description: "where the spectrum's energy sits (spectral centroid)",
        descriptors: &[Descriptor::SpectralCentroid],
    },
    Aspect {
        name: "timbre",
        label: "Timbre / texture",
        description: "noisiness and grain (zero-crossing rate, spectral flatness)",
        descriptors: &[Descriptor::ZeroCrossingRate, Descriptor::SpectralFlatness],
    },
    Aspect {
        name: "tone-colour",
        label: "Tone colour",
        description: "how far up the spectrum reaches (85 % rolloff)",
        descriptors: &[Descriptor::SpectralRolloff],
    },
    Aspect {
        name: "dynamics",
        label: "Loudness / dynamics",
        description: "level and dynamic range",
        descriptors: &[Descriptor::Rms, Descriptor::DynamicRange],
    },
    Aspect {
        name: "rhythm",
        label: "Rhythm",
        description: "onset density and tempo",
        descriptors: &[Descriptor::OnsetRate, Descriptor::Tempo],
    },
    Aspect {
        name: "harmony",
        label: "Harmony",
        description: "tonal clarity (chroma key-profile correlation)",
        descriptors: &[Descriptor::KeyClarity],
    },
];

/// Finds an aspect by its id.
pub fn aspect_by_name(name: &str) -> Option<&'static Aspect> {
    ASPECTS.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// An aspect resolved to a layer on this library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedAspect {
    /// Aspect id.
    pub name: String,
    /// Label shown to users.
    pub label: String,
    /// Index of the layer that serves it best.
    pub layer: usize,
    /// That layer's name.
    pub layer_name: String,
    /// Mean probe R² of the aspect's descriptors on that layer: the evidence.
    pub r2: f64,
}

/// Resolves every aspect against a probe table. Aspects whose descriptors are
/// missing from the table, or have no finite R² on any layer, are left out.
pub fn resolve_aspects(table: &ProbeTable) -> Vec<ResolvedAspect> {
    ASPECTS
        .iter()
        .filter_map(|aspect| {
            let targets: Vec<usize> = aspect.descriptors.iter().filter_map(|d| table.targets.iter().position(|t| t == d.key())).collect();
            if targets.is_empty() {
                return None;
            }
            let (layer, r2) = (0..table.layers.len())
                .map(|layer| {
                    let scores: Vec<f64> = targets.iter().map(|&t| table.cell(layer, t)).filter(|v| v.is_finite()).collect();
                    let mean = if scores.is_empty() { f64::NAN } else { scores.iter().sum::<f64>() / scores.len() as f64 };
                    (layer, mean)
                })
                .filter(|(_, r2)| r2.is_finite())
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(ResolvedAspect {
                name: aspect.name.to_string(),
                label: aspect.label.to_string(),
                layer,
                layer_name: table.layers[layer].clone(),
                r2,
            })
        })
        .collect()
}

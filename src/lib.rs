//! Strata: a desktop music explorer built on per-layer audio embeddings.
//!
//! Data flows one way — files found and read ([`indexer`]), decoded
//! ([`audio`]), analysed by a model and by Strata's own measurements
//! ([`model`], [`analysis`]), kept ([`storage`]), then searched ([`search`]),
//! understood ([`insight`]) and drawn ([`map`]) — and commands flow back from
//! the window ([`ui`]) or the command line ([`cli`]). See README.md's
//! architecture section.
#![warn(missing_docs)]

pub mod analysis;
pub mod audio;
pub mod cli;
pub mod indexer;
pub mod insight;
pub mod isolation;
pub mod journey;
pub mod map;
pub mod memory;
pub mod model;
pub mod parallel;
pub mod pca;
pub mod playlist;
pub mod priority;
pub mod prng;
pub mod search;
pub mod storage;
pub mod synth;
pub mod ui;
pub mod versions;
pub mod works;

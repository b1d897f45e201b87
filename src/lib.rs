//! Strata: a desktop music explorer built on per-layer audio embeddings.
//!
//! Data flows one way — files are decoded ([`audio`]), analysed by a model
//! ([`model`], [`analysis`]) — and commands flow back from the window ([`ui`])
//! or the command line ([`cli`]). See README.md's architecture section.
#![warn(missing_docs)]

pub mod analysis;
pub mod aspects;
pub mod audio;
pub mod catalog;
pub mod cli;
pub mod data_dir;
pub mod descriptors;
pub mod eval;
pub mod indexer;
pub mod isolation;
pub mod label_source;
pub mod layer_index;
pub mod library;
pub mod library_probe;
pub mod map;
pub mod map_render;
pub mod model;
pub mod onnx_runtime;
pub mod parallel;
pub mod pca;
pub mod player;
pub mod priority;
pub mod prng;
pub mod probe;
pub mod search;
pub mod snapshot;
pub mod store;
/// Whether each track's store rows are its own: checked on every load, in full by `strata check`.
pub mod store_check;
pub mod tonal;
pub mod ui;
pub mod writer_lock;

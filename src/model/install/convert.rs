//! Writing a checkpoint's weights in the layout the committed architecture-only graphs expect.
//!
//! SKELETON (lead): H-C owns this file (and may add sibling modules, e.g. recipe.rs, quantize.rs, drift.rs).

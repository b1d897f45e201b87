//! Reading checkpoints: `model.safetensors` (memory-mapped) and `pytorch_model.bin` (zip of pickled tensors, never executed).
//!
//! SKELETON (lead): H-B owns this folder.

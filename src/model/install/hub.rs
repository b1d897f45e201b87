//! Downloading a checkpoint from the Hugging Face hub (hf-hub) at a pinned revision.
//!
//! SKELETON (lead): H-A owns this file.

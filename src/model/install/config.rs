//! A checkpoint's `config.json`, checked against the architecture Strata's graphs implement.
//!
//! SKELETON (lead): H-B owns this file.

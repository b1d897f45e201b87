//! What the vectors say about the music: which layer predicts which
//! measurable descriptor ([`probe`], cached per library by
//! [`library_probe`]), the musical aspects resolved to layers by that
//! evidence ([`aspects`]), and how well a ranking retrieves tracks that share
//! a label ([`eval`], labels from tags or a CSV via [`label_source`]), and
//! which mix of those layers retrieves best ([`best_mix`]), chosen on some
//! tracks' labels and scored on others' ([`held_out`]).
//! Reads snapshots; writes only the probe cache.

pub mod aspects;
pub mod best_mix;
pub mod eval;
pub mod held_out;
pub mod label_source;
pub mod library_probe;
pub mod probe;

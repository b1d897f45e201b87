//! Journeys: sequences of tracks that go somewhere.
//!
//! - [`path`]: from one piece to another in small steps, in the current
//!   aspect mix (the feature Plexamp calls Sonic Adventure), by tracks or by
//!   whole works.
//! - [`order`]: a selection ordered along an aspect (brightest to darkest,
//!   calmest to busiest), from the tracks' descriptors.
//!
//! Both are plain functions over a [`crate::search::SearchEngine`] or the
//! snapshot's tracks; they read and never write. Works stay whole: a work
//! path lists every work's movements in movement order.

pub mod order;
pub mod path;

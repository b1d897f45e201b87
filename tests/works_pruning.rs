//! A work query or a path pruned by the layers' search heads gives exactly
//! what full passes give: the same works, in the same order, with the same
//! scores and breakdowns, for every combination that matches movements, and
//! the same paths by tracks and by works, on a library large enough for heads
//! (library-like embeddings, albums of three 4-movement works).
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::sync::Arc;

use strata::journey::path::{track_path, work_path};
use strata::prng::SplitMix64;
use strata::search::layer_index::Pruning;
use strata::search::{Facet, SearchEngine};
use strata::storage::catalog::TrackTags;
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use strata::works::similarity::{WorkCombination, WorkSearch};

/// Wide enough layers for heads (at least 128 dimensions).
const DIMS: [usize; 2] = [256, 160];
const TRACKS: usize = 4096;

fn tags(track: usize) -> TrackTags {
    let work = track / 4;
    TrackTags {
        title: Some(format!("Work {work}: {}", track % 4 + 1)),
        work: Some(format!("Work {work}")),
        composer: Some(format!("Composer {}", track / 192)),
        album: Some(format!("Album {}", track / 12)),
        track_no: Some(u32::try_from(track % 12 + 1).unwrap()),
        ..Default::default()
    }
}

/// The library, two engines over it (search heads on every layer that can
/// have one, and none), and a mix of two layers with heads and one without.
fn library(dir: &std::path::Path) -> (Arc<LibrarySnapshot>, SearchEngine, SearchEngine, Vec<Facet>) {
    support::write_synthetic_model(&dir.join("models"), "synthetic", &DIMS);
    let mut embeddings = support::LibraryLikeEmbeddings::new(3, 2.0);
    support::write_tagged_synthetic_store(dir, "synthetic", &DIMS, TRACKS, |t, l, d| embeddings.vector(t, l, d), tags);
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(dir), "synthetic").unwrap());
    assert_eq!(snapshot.works.works.len(), TRACKS / 4);
    let tonal = snapshot.layer_index(strata::analysis::tonal::LAYER_NAME).unwrap();
    let facets = vec![
        Facet { name: "first".into(), layer: 0 },
        Facet { name: "second".into(), layer: 1 },
        Facet { name: "tonal".into(), layer: tonal },
    ];
    let mut pruned = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Always);
    let full = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Never);
    assert!(pruned.layer(0).head_width().is_some() && pruned.layer(1).head_width().is_some(), "no heads to prune by");
    assert!(pruned.layer(tonal).head_width().is_none());
    (snapshot, pruned, full, facets)
}

#[test]
fn a_work_query_pruned_by_search_heads_equals_a_full_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let (snapshot, mut pruned, mut full, facets) = library(tmp.path());
    let weights = [0.6, 0.3, 0.1];
    let (mut pruned_search, mut full_search) = (WorkSearch::from_works(&snapshot.works), WorkSearch::from_works(&snapshot.works));
    let mut rng = SplitMix64(11);
    for combination in [WorkCombination::BestMatch, WorkCombination::Symmetric, WorkCombination::Weakest] {
        for k in [1, 10, 40] {
            let query = rng.below(pruned_search.len());
            let excluded = |w: usize| w % 7 == 3;
            let got = pruned_search.rank(&mut pruned, query, &facets, &weights, combination, k, &excluded);
            let expected = full_search.rank(&mut full, query, &facets, &weights, combination, k, &excluded);
            assert_eq!(got.len(), k);
            assert_eq!(got, expected, "{combination:?}, query {query}, k {k}");
        }
    }
}

#[test]
fn a_path_pruned_by_search_heads_equals_a_full_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let (snapshot, mut pruned, mut full, facets) = library(tmp.path());
    let weights = [0.5, 0.4, 0.1];
    let mut rng = SplitMix64(5);
    for _ in 0..4 {
        let (from, to) = (rng.below(TRACKS), rng.below(TRACKS));
        let got = track_path(&mut pruned, &facets, &weights, from, to, 8);
        assert_eq!(got, track_path(&mut full, &facets, &weights, from, to, 8), "{from} to {to}");
        assert_eq!((got.len(), got.first(), got.last()), (10, Some(&from), Some(&to)));
        let got = work_path(&mut pruned, &snapshot.works, &facets, &weights, from, to, 5);
        assert_eq!(got, work_path(&mut full, &snapshot.works, &facets, &weights, from, to, 5), "{from} to {to} by works");
    }
}

//! A path from one piece to another (`strata path`, [`strata::journey::path`])
//! on a synthetic classical library: its ends, no repeats, the album rule,
//! whole works with `--unit work`, and smoother steps than a random path.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use strata::journey::path::{step_similarities, track_path};
use strata::prng::SplitMix64;
use strata::search::{Facet, SearchEngine};
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use support::*;

fn path_of(track: usize) -> String {
    format!("/music/{track:06}.flac")
}

fn run_path(data: &Path, args: &[&str]) -> Vec<String> {
    let output = strata_bin()
        .arg("--data-dir")
        .arg(data)
        .arg("path")
        .args(args)
        .args(["--json", "--model", "synthetic", "--layer", "layer_0", "--layer", "layer_1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "strata path {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["path"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_track_path_runs_from_a_to_b_without_repeats_or_an_album_twice_in_a_row() {
    let tmp = tempfile::tempdir().unwrap();
    let works = write_works_library(tmp.path());
    let album_of = |path: &str| works.iter().find(|w| w.tracks.iter().any(|&t| path_of(t) == path)).unwrap().album;
    let (a, b) = (path_of(works[0].tracks[0]), path_of(works[11].tracks[1]));
    let path = run_path(tmp.path(), &[&a, &b, "--steps", "5"]);
    assert_eq!(path.len(), 7, "{path:?}");
    assert_eq!((path.first(), path.last()), (Some(&a), Some(&b)));
    assert_eq!(path.iter().collect::<HashSet<_>>().len(), path.len(), "no repeats: {path:?}");
    // Six albums of five to seven tracks: the rule can always be kept.
    assert!(path.windows(2).all(|p| album_of(&p[0]) != album_of(&p[1])), "{path:?}");
    // From the first composer's work to the last's, never back: once the far end's composer is reached, the near end's is behind.
    let composers: Vec<usize> =
        path.iter().map(|p| works.iter().find(|w| w.tracks.iter().any(|&t| path_of(t) == *p)).unwrap().composer).collect();
    let ends: Vec<usize> = composers.iter().copied().filter(|&c| c != 1).collect();
    assert!(ends.windows(2).all(|c| c[0] <= c[1]), "{composers:?}");
}

#[test]
fn a_work_path_plays_whole_works_from_the_first_to_the_last() {
    let tmp = tempfile::tempdir().unwrap();
    let works = write_works_library(tmp.path());
    // From the middle movement of one work to the last of another.
    let path = run_path(tmp.path(), &[&path_of(works[2].tracks[1]), &path_of(works[9].tracks[1]), "--steps", "3", "--unit", "work"]);
    // Cut the path into works: each must be a whole work, in movement order, none twice.
    let mut rest = path.as_slice();
    let mut walked = Vec::new();
    while let Some(first) = rest.first() {
        let (w, work) = works
            .iter()
            .enumerate()
            .find(|(_, w)| path_of(w.tracks[0]) == *first)
            .unwrap_or_else(|| panic!("{first} starts no work: {path:?}"));
        let expected: Vec<String> = work.tracks.iter().map(|&t| path_of(t)).collect();
        assert_eq!(rest[..expected.len()], expected[..], "{path:?}");
        rest = &rest[expected.len()..];
        walked.push(w);
    }
    assert_eq!(walked.len(), 5, "{walked:?}");
    assert_eq!((walked[0], walked[4]), (2, 9));
    assert_eq!(walked.iter().collect::<HashSet<_>>().len(), 5);
    assert!(walked.windows(2).all(|p| works[p[0]].album != works[p[1]].album), "{walked:?}");
}

#[test]
fn a_path_steps_more_smoothly_than_random_tracks() {
    let tmp = tempfile::tempdir().unwrap();
    let works = write_works_library(tmp.path());
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), "synthetic").unwrap());
    let mut engine = SearchEngine::new(snapshot.clone(), true);
    let facets = [Facet { name: "first".into(), layer: 0 }, Facet { name: "second".into(), layer: 1 }];
    let weights = [1.0, 1.0];
    let mut rng = SplitMix64(3);
    let (mut path_mean, mut random_mean) = (0.0, 0.0);
    let pairs =
        [(works[0].tracks[0], works[11].tracks[0]), (works[4].tracks[1], works[3].tracks[0]), (works[1].tracks[1], works[8].tracks[2])];
    for &(a, b) in &pairs {
        let path = track_path(&mut engine, &facets, &weights, a, b, 6);
        let steps = step_similarities(&mut engine, &facets, &weights, &path);
        assert_eq!(steps.len(), path.len() - 1);
        let mut random = vec![a];
        random.extend((0..6).map(|_| rng.below(snapshot.len())));
        random.push(b);
        let random_steps = step_similarities(&mut engine, &facets, &weights, &random);
        path_mean += steps.iter().sum::<f32>() / steps.len() as f32;
        random_mean += random_steps.iter().sum::<f32>() / random_steps.len() as f32;
    }
    assert!(path_mean > random_mean + 0.3, "path {path_mean} vs random {random_mean} (sums over {} pairs)", pairs.len());
}

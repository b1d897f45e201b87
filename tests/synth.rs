//! Synthetic archives (`strata synth-library`) and the blocked all-pairs
//! neighbours that large libraries need: the written library is a real one
//! (the commands read it, its clusters are found), the written audio decodes
//! and indexes with its tags, and `neighbours --all`'s blocked passes rank
//! exactly as one search per track does; the map's features of an aspect
//! mix are each layer as search normalises it, weighted.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::search::all_pairs::all_neighbours;
use strata::search::layer_index::Pruning;
use strata::search::{Exclusion, Facet, SearchEngine};
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use strata::synth::{LibraryOptions, MERT_MODEL, write_library};
use support::*;

fn strata(data: &Path, args: &[&str]) -> std::process::Output {
    let output = strata_bin().arg("--data-dir").arg(data).args(args).output().unwrap();
    assert!(output.status.success(), "strata {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The top folder of a catalog path below `root`: the album artist, which for classical albums is the composer.
fn artist_folder(path: &str, root: &Path) -> String {
    Path::new(path).strip_prefix(root).unwrap().components().next().unwrap().as_os_str().to_string_lossy().into_owned()
}

#[test]
fn a_synthetic_library_is_a_library_whose_clusters_search_finds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = strata(&data, &["synth-library", "--tracks", "1500", "--seed", "3"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("musicnn: 1500 tracks"));
    // Hidden from help.
    let help = strata_bin().arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("synth-library"));
    // A second run would mix two archives: refused.
    let again = strata_bin().arg("--data-dir").arg(&data).args(["synth-library", "--tracks", "10"]).output().unwrap();
    assert!(!again.status.success());

    let check = strata(&data, &["check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["clean"], true, "{report}");

    let snapshot = LibrarySnapshot::load(&DataDir::at(&data), "musicnn").unwrap();
    assert_eq!(snapshot.len(), 1500);
    let titled = snapshot.tracks.iter().filter(|t| t.tags.work.is_some() && t.tags.movement.is_some()).count();
    assert!(titled > 500, "movements of works: {titled}");

    // Neighbours on the deepest layer share their query's composer far more often than chance.
    let root = data.join("synthetic-music");
    let output = strata(&data, &["neighbours", "--all", "--json", "--k", "5", "--layer", "penultimate"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1500);
    let mut per_artist: HashMap<String, usize> = HashMap::new();
    for line in &lines {
        *per_artist.entry(artist_folder(line["query"].as_str().unwrap(), &root)).or_default() += 1;
    }
    let chance: f64 = per_artist.values().map(|&c| (c as f64 / 1500.0).powi(2)).sum();
    let (mut same, mut all) = (0usize, 0usize);
    for line in &lines {
        let artist = artist_folder(line["query"].as_str().unwrap(), &root);
        for result in line["results"].as_array().unwrap() {
            same += usize::from(artist_folder(result.as_str().unwrap(), &root) == artist);
            all += 1;
        }
    }
    let share = same as f64 / all as f64;
    assert!(share > 2.0 * chance && share > 0.3, "same composer among neighbours: {share:.2} (chance {chance:.2})");
}

/// `eval` keeps every track's full ranking for every query: on a library
/// past its limit it says what that would cost and exits, instead of being
/// killed by the kernel for memory (a 300,000-track archive needed 720 GB).
#[test]
fn eval_refuses_a_library_too_large_to_rank_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    strata(&data, &["synth-library", "--tracks", "20001", "--seed", "2"]);
    let eval = strata_bin().arg("--data-dir").arg(&data).args(["eval", "--label", "composer"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&eval.stderr);
    assert!(!eval.status.success());
    assert!(stderr.contains("eval ranks all 20001 tracks") && stderr.contains("3 GB"), "{stderr}");
}

/// Per query, the ranking `QueryScores::rank` gives, as (track, score).
fn per_query(engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], k: usize, exclusion: Exclusion) -> Vec<Vec<(usize, f32)>> {
    (0..engine.snapshot().len())
        .map(|query| {
            let scores = engine.query(query, facets);
            let excluded = engine.exclusion_filter(query, exclusion);
            scores.rank(weights, k, &excluded).into_iter().map(|r| (r.track, r.score)).collect()
        })
        .collect()
}

/// A synthetic library of `tracks` with MERT-shaped layers, opened (the folder lives as long as the guard).
fn mert_library(tracks: usize, seed: u64) -> (tempfile::TempDir, LibrarySnapshot) {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::at(tmp.path());
    let options = LibraryOptions { tracks, seed, mert: true, root: PathBuf::from("/synthetic") };
    write_library(&data, &options, &mut |_, _, _| {}).unwrap();
    let snapshot = LibrarySnapshot::load(&data, MERT_MODEL).unwrap();
    (tmp, snapshot)
}

#[test]
fn blocked_all_pairs_rank_exactly_as_one_search_per_track() {
    // More tracks than one block of queries and one of the library, so blocks have tails.
    let (_tmp, snapshot) = mert_library(2500, 9);
    let snapshot = Arc::new(snapshot);
    let facet = |name: &str, layer: usize| Facet { name: name.into(), layer };
    let cases: Vec<(Vec<Facet>, Vec<f32>, Exclusion)> = vec![
        (vec![facet("a", 12)], vec![1.0], Exclusion::default()),
        // A layer named twice, a zero and a negative weight, as aspects give them.
        (
            vec![facet("a", 3), facet("b", 7), facet("c", 3), facet("d", 0), facet("e", 10)],
            vec![0.7, 0.2, 0.5, 0.0, -1.0],
            Exclusion { same_album: true, same_work: false },
        ),
        (vec![facet("a", 1), facet("b", 13)], vec![1.0, 2.0], Exclusion { same_album: false, same_work: true }),
    ];
    for (facets, weights, exclusion) in cases {
        for pruning in [Pruning::Never, Pruning::Always] {
            let mut engine = SearchEngine::with_pruning(snapshot.clone(), true, pruning);
            let expected = per_query(&mut engine, &facets, &weights, 7, exclusion);
            let mut got = Vec::new();
            let n = snapshot.len();
            all_neighbours(&mut engine, &facets, &weights, 7, exclusion, 0..n, &mut |query, results| {
                assert_eq!(query, got.len(), "queries come in order");
                got.push(results.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(got.len(), expected.len());
            for (query, (got, expected)) in got.iter().zip(&expected).enumerate() {
                let tracks = |r: &[(usize, f32)]| r.iter().map(|&(t, _)| t).collect::<Vec<_>>();
                assert_eq!(tracks(got), tracks(expected), "query {query}, {facets:?} {weights:?} {exclusion:?} {pruning:?}");
                for (&(_, a), &(_, b)) in got.iter().zip(expected) {
                    if pruning == Pruning::Always {
                        // Over the heads, results are scored as one search scores them.
                        assert_eq!(a.to_bits(), b.to_bits(), "query {query}: score {a} vs {b}");
                    } else {
                        assert!((a - b).abs() < 1e-5, "query {query}: score {a} vs {b}");
                    }
                }
            }
            // A part of the queries (how the bench times 300,000 tracks) gives the same neighbours
            // (a query's row in another block may round differently in the last bits).
            let mut part = Vec::new();
            all_neighbours(&mut engine, &facets, &weights, 7, exclusion, 1000..1300, &mut |query, results| {
                part.push((query, results.to_vec()));
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(part.iter().map(|(q, _)| *q).collect::<Vec<_>>(), (1000..1300).collect::<Vec<_>>());
            for (query, results) in &part {
                assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), got[*query].iter().map(|r| r.0).collect::<Vec<_>>());
                assert!(results.iter().zip(&got[*query]).all(|(a, b)| (a.1 - b.1).abs() < 1e-5), "query {query}");
            }
        }
    }
}

#[test]
fn synthetic_audio_decodes_and_indexes_with_its_tags_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let data = tmp.path().join("data");
    let out = strata(tmp.path(), &["synth-library", "--audio", "10", "--out", music.to_str().unwrap(), "--seconds", "3.5"]);
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    for format in ["flac", "wav", "mp3", "ogg", "m4a"] {
        assert!(summary.contains(&format!("{format}: 2 files")), "{summary}");
    }
    let files = walk(&music);
    assert_eq!(files.len(), 10);
    for file in &files {
        let audio = strata::audio::AudioFile::open(file).unwrap().read_to_end().unwrap();
        assert!((audio.duration_s() - 3.5).abs() < 0.2, "{}: {} s", file.display(), audio.duration_s());
        let tags = strata::indexer::library::read_tags(file);
        assert!(tags.problem.is_none(), "{}: {:?}", file.display(), tags.problem);
        assert!(
            tags.tags.title.is_some() && tags.tags.album.is_some() && tags.tags.artist.is_some(),
            "{}: {:?}",
            file.display(),
            tags.tags
        );
    }
    strata(&data, &["index", music.to_str().unwrap(), "--json"]);
    let snapshot = LibrarySnapshot::load(&DataDir::at(&data), "musicnn").unwrap();
    assert_eq!(snapshot.len(), 10, "every file analysed");
    let flac = snapshot.tracks.iter().find(|t| t.path.extension().is_some_and(|e| e == "flac")).unwrap();
    assert!(flac.tags.composer.is_some() || flac.tags.genre.is_some(), "{:?}", flac.tags);
}

#[test]
fn a_mix_maps_each_layer_centred_unit_length_and_weighted() {
    use strata::pca::RowBlocks;
    let (_tmp, snapshot) = mert_library(300, 4);
    let parts = vec![(2, 0.25), (9, 0.0), (12, 1.0)];
    let source = strata::map::SourceFeatures::new(&snapshot, &strata::map::MapSource::Mix(parts));
    let features = source.block(0..300).into_owned();
    // The zero weight leaves its layer out; the others follow one another.
    let expected: Vec<ndarray::Array2<f32>> = [(2, 0.25f32), (12, 1.0)]
        .iter()
        .map(|&(layer, weight)| strata::search::normalized_rows(snapshot.layer_matrix(layer), true) * weight.sqrt())
        .collect();
    let views: Vec<_> = expected.iter().map(|m| m.view()).collect();
    let expected = ndarray::concatenate(ndarray::Axis(1), &views).unwrap();
    assert_eq!(features.dim(), (300, 2 * 768));
    let off = features.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(off < 1e-6, "{off}");
    // Each block: rows of length √weight, columns centred.
    let first = features.slice(ndarray::s![.., ..768]);
    assert!(first.rows().into_iter().all(|row| (row.dot(&row).sqrt() - 0.5).abs() < 1e-4));
    // A block read on its own holds the same rows as the whole.
    assert_eq!(source.block(120..157), features.slice(ndarray::s![120..157, ..]));
    // Projections read block by block from the store equal those of the whole matrix in memory.
    let pca = strata::map::Method::Pca;
    let from_store = strata::map::project(&source, pca, 1, &mut |_, _| {}, &|| false).unwrap().points;
    let in_memory = strata::map::project(&features, pca, 1, &mut |_, _| {}, &|| false).unwrap().points;
    assert_eq!(from_store, in_memory);
    assert_eq!(
        strata::map::neighbourhood_preservation(&source, &from_store, 10),
        strata::map::neighbourhood_preservation(&features, &in_memory, 10)
    );
    let layer = strata::map::SourceFeatures::new(&snapshot, &strata::map::MapSource::Layer(12)).block(0..300).into_owned();
    let searched = strata::search::normalized_rows(snapshot.layer_matrix(12), true);
    let off = layer.iter().zip(&searched).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(off < 1e-6, "a single layer, as search normalises it: {off}");
}

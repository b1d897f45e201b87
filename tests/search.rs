//! Search over a real store: the mapped-f16 scan against an in-memory
//! reference, and the ranking commands (`similar`, `neighbours`, `eval`,
//! `probe`, `map`) end to end on an indexed library.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use strata::prng::SplitMix64;
use strata::search::layer_index::{LayerIndex, Pruning};
use strata::search::{Facet, Normalization, SearchEngine, SearchResult, normalize_rows};
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use support::*;

#[test]
fn store_scan_equals_in_memory_cosine_under_every_normalization() {
    let tmp = tempfile::tempdir().unwrap();
    // Dimensions that exercise the kernel's tails; a large shared offset makes
    // centring matter; enough rows for the scan to split across threads.
    let dims = [768, 50, 33];
    let tracks = 3_000;
    write_synthetic_model(&tmp.path().join("models"), "synthetic", &dims);
    let mut rng = SplitMix64(11);
    write_synthetic_store(tmp.path(), "synthetic", &dims, tracks, |t, _, dim| {
        (0..dim).map(|j| 4.0 + if j % 7 == t % 7 { 1.0 } else { 0.0 } + 0.3 * rng.symmetric_unit()).collect()
    });
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), "synthetic").unwrap());
    assert_eq!(snapshot.len(), tracks);
    for layer in 0..dims.len() {
        for normalization in [Normalization::None, Normalization::Center, Normalization::Standardize] {
            let index = LayerIndex::build(snapshot.clone(), layer, normalization);
            let reference = normalize_rows(snapshot.layer_matrix(layer), normalization);
            for query in [0, 1, 1234, tracks - 1] {
                let got = index.similarities(query);
                let expected = reference.dot(&reference.row(query));
                let worst = got.iter().zip(expected.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(worst < 2e-4, "layer {layer}, {normalization:?}, query {query}: max difference {worst}");
                assert!((got[query] - 1.0).abs() < 1e-3);
            }
        }
    }
    // Centring separates the seven groups the shared offset hid.
    let mut engine = SearchEngine::new(snapshot.clone(), true);
    let scores = engine.query(0, &[Facet { name: "l0".into(), layer: 0 }]);
    let top = scores.rank(&[1.0], 20, &|_| false);
    assert!(top.iter().all(|r| r.track % 7 == 0), "{:?}", top.iter().map(|r| r.track).collect::<Vec<_>>());
}

/// An all-zero row of Strata's own layer (a track analysed before the layer
/// existed) has no vector: centring does not turn such tracks into a cluster
/// that scores 1 with itself. The model's own zero rows stay data.
#[test]
fn zero_rows_of_an_own_layer_have_no_vector() {
    let tmp = tempfile::tempdir().unwrap();
    let dims = [16];
    write_synthetic_model(&tmp.path().join("models"), "synthetic", &dims);
    let mut rng = SplitMix64(5);
    write_synthetic_store(tmp.path(), "synthetic", &dims, 40, |t, _, dim| {
        if t < 10 { vec![0.0; dim] } else { (0..dim).map(|_| 1.0 + rng.symmetric_unit()).collect() }
    });
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), "synthetic").unwrap());
    let own = snapshot.layer_index(strata::analysis::tonal::LAYER_NAME).unwrap();
    let index = LayerIndex::build(snapshot.clone(), own, true);
    assert!(index.similarities(0).iter().all(|&s| s == 0.0), "{:?}", index.similarities(0));
    let from_real = index.similarities(20);
    assert!(from_real[..10].iter().all(|&s| s == 0.0), "{from_real:?}");
    assert!((from_real[20] - 1.0).abs() < 1e-3);
    // On the model's layer the zero rows are centred like any other: they all sit at −mean.
    let model_layer = LayerIndex::build(snapshot.clone(), 0, true);
    assert!(model_layer.similarities(0)[..10].iter().all(|&s| (s - 1.0).abs() < 1e-3));
}

/// Rankings with head pruning are the full passes' rankings, bit for bit,
/// for any weights, exclusion and k, before and after a weight change, under
/// every normalisation, zero vectors included, with heads of one band or
/// several (whose bounds tighten band by band); on library-like embeddings
/// they read a small part of the store.
#[test]
fn pruned_rankings_equal_full_passes() {
    for (decay, normalization, bands, most_read) in [
        (2.0, Normalization::Center, [1, 1, 0], 0.4),
        (2.0, Normalization::None, [1, 1, 0], 0.4),
        (1.6, Normalization::Center, [2, 2, 0], 0.6),
        (1.4, Normalization::Center, [4, 0, 0], 1.0),
        (1.0, Normalization::Center, [0, 0, 0], 1.0),
        (0.0, Normalization::Center, [0, 0, 0], 1.0),
    ] {
        let mut embeddings = LibraryLikeEmbeddings::new(5, decay);
        check_pruned_rankings(&mut |t, l, d| embeddings.vector(t, l, d), normalization, bands, most_read, &format!("decay {decay}"));
    }
    // Standardised, energy must still concentrate in a few directions for a
    // head: eight shared directions, not aligned with the axes, and a little noise.
    let mut rng = SplitMix64(9);
    let mut directions: std::collections::HashMap<(usize, usize), Vec<Vec<f32>>> = Default::default();
    let mut low_rank = |t: usize, l: usize, d: usize| -> Vec<f32> {
        let basis = directions.entry((l, d)).or_insert_with(|| (0..8).map(|_| (0..d).map(|_| rng.symmetric_unit()).collect()).collect());
        let mut track_rng = SplitMix64(t as u64 * 31 + l as u64);
        let mut v: Vec<f32> = (0..d).map(|_| 0.05 * track_rng.symmetric_unit()).collect();
        for direction in basis.iter() {
            let weight = track_rng.symmetric_unit() + if t.is_multiple_of(7) { 0.5 } else { 0.0 };
            v.iter_mut().zip(direction).for_each(|(x, b)| *x += weight * b);
        }
        v
    };
    check_pruned_rankings(&mut low_rank, Normalization::Standardize, [1, 1, 0], 0.4, "low rank");
}

/// [`pruned_rankings_equal_full_passes`] on one store of `vector`s.
fn check_pruned_rankings(
    vector: &mut dyn FnMut(usize, usize, usize) -> Vec<f32>,
    normalization: Normalization,
    expected_bands: [usize; 3],
    most_read: f32,
    what: &str,
) {
    let dims = [768, 256, 50];
    let tracks = 4_000;
    let tmp = tempfile::tempdir().unwrap();
    write_synthetic_model(&tmp.path().join("models"), "synthetic", &dims);
    write_synthetic_store(tmp.path(), "synthetic", &dims, tracks, |t, l, d| if t % 97 == 5 { vec![0.0; d] } else { vector(t, l, d) });
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), "synthetic").unwrap());
    let mut pruned = SearchEngine::with_pruning(snapshot.clone(), normalization, Pruning::Always);
    let mut full = SearchEngine::with_pruning(snapshot.clone(), normalization, Pruning::Never);
    // Heads only where the energy concentrates enough for their bounds to skip rows, and never on a 50-dim layer.
    let bands: Vec<usize> = (0..dims.len()).map(|l| pruned.layer(l).head_bands()).collect();
    assert_eq!(bands, expected_bands, "{what}, {normalization:?}");
    let facets: Vec<Facet> = [0, 1, 2, 0].iter().map(|&layer| Facet { name: format!("l{layer}"), layer }).collect();
    let mut rng = SplitMix64(3);
    for query in [0, 5, 17, 1999, tracks - 1] {
        let (bounded, exact) = (pruned.query(query, &facets), full.query(query, &facets));
        let excluded = |t: usize| t % 5 == query % 5 && t.is_multiple_of(3);
        for round in 0..6 {
            let weights: Vec<f32> = match round {
                0 => vec![1.0, 0.0, 0.0, 0.0],
                1 => vec![0.0, 1.0, 0.0, 0.0],
                _ => (0..facets.len()).map(|_| (rng.symmetric_unit() + 0.3).max(0.0)).collect(),
            };
            for k in [1, 10, 50, 300] {
                let key = |r: &[SearchResult]| {
                    r.iter()
                        .map(|r| (r.track, r.score.to_bits(), r.facet_scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>()))
                        .collect::<Vec<_>>()
                };
                let (got, expected) = (bounded.rank(&weights, k, &excluded), exact.rank(&weights, k, &excluded));
                assert_eq!(key(&got), key(&expected), "{what}, {normalization:?}, query {query}, weights {weights:?}, k {k}");
                assert_eq!(got.len(), k);
            }
        }
    }
    // A results list's worth, ranked once: the 50-dim layer is read whole (no head), the others barely.
    let fresh = pruned.query(1234, &facets);
    fresh.rank(&[1.0, 1.0, 1.0, 0.0], 10, &|_| false);
    assert!(fresh.exact_share() <= most_read, "{what}: one ranking read {} of the cosines", fresh.exact_share());
}

/// A store in `dir` of `tracks` library-like vectors (spectrum decay 1.4,
/// enough for heads of several bands) on layers of `dims`.
fn library_like(dir: &std::path::Path, dims: &[usize], tracks: usize, seed: u64) -> Arc<LibrarySnapshot> {
    let mut embeddings = LibraryLikeEmbeddings::new(seed, 1.4);
    write_synthetic_model(&dir.join("models"), "synthetic", dims);
    write_synthetic_store(dir, "synthetic", dims, tracks, |t, l, d| embeddings.vector(t, l, d));
    Arc::new(LibrarySnapshot::load(&DataDir::at(dir), "synthetic").unwrap())
}

/// A library searched while it was being indexed has no heads; once it is
/// settled the engine fits them on the layers it already built, keeping
/// their means and norms, and ranks exactly as an engine built with heads.
#[test]
fn pruning_switched_later_fits_the_same_heads() {
    let (dims, tracks) = ([768, 50], 3_000);
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = library_like(tmp.path(), &dims, tracks, 5);
    let mut switched = SearchEngine::with_pruning(snapshot.clone(), Normalization::Center, Pruning::Never);
    let mut fresh = SearchEngine::with_pruning(snapshot, Normalization::Center, Pruning::Always);
    let facets: Vec<Facet> = [0, 1].iter().map(|&layer| Facet { name: format!("l{layer}"), layer }).collect();
    let before = switched.query(7, &facets).rank(&[1.0, 0.5], 20, &|_| false);
    assert_eq!(switched.layer(0).head_bands(), 0, "no head while indexing");
    switched.set_pruning(Pruning::Always);
    assert!(switched.layer(0).head_bands() >= 2, "a head once settled");
    for layer in 0..dims.len() {
        assert_eq!(switched.layer(layer).head_bands(), fresh.layer(layer).head_bands(), "layer {layer}");
    }
    let key = |r: &[SearchResult]| r.iter().map(|r| (r.track, r.score.to_bits())).collect::<Vec<_>>();
    for query in [7, 1500, tracks - 1] {
        let (got, expected) = (switched.query(query, &facets), fresh.query(query, &facets));
        for weights in [[1.0, 0.5], [0.0, 1.0], [1.0, 0.0]] {
            assert_eq!(key(&got.rank(&weights, 20, &|_| false)), key(&expected.rank(&weights, 20, &|_| false)), "query {query}");
        }
    }
    assert_eq!(key(&before), key(&fresh.query(7, &facets).rank(&[1.0, 0.5], 20, &|_| false)));
}

/// The rankings of `engine` for a few queries and weights, as (track, score bits).
fn rankings(engine: &mut SearchEngine, tracks: usize) -> Vec<Vec<(usize, u32)>> {
    let facets: Vec<Facet> = [0, 1].iter().map(|&layer| Facet { name: format!("l{layer}"), layer }).collect();
    let mut out = Vec::new();
    for query in [7, tracks / 2, tracks - 1] {
        let scores = engine.query(query, &facets);
        for weights in [[1.0, 0.5], [1.0, 0.0]] {
            out.push(scores.rank(&weights, 20, &|_| false).iter().map(|r| (r.track, r.score.to_bits())).collect());
        }
    }
    out
}

/// The identity of the file at `path` (inode, length, modification time):
/// changes when the file is replaced.
fn file_identity(path: &Path) -> (u64, u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.ino(), meta.len(), meta.modified().unwrap())
}

/// A fitted head is written to its file and served from a map of it; the
/// next start maps the file instead of fitting again, and either way the
/// rankings equal full passes bit for bit.
#[test]
fn a_fitted_head_is_kept_in_its_file_and_mapped_next_time() {
    let (dims, tracks) = ([768, 50], 3_000);
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = library_like(tmp.path(), &dims, tracks, 5);
    let file = DataDir::at(tmp.path()).search_head_path("synthetic", 0, "center");
    let exact = rankings(&mut SearchEngine::with_pruning(snapshot.clone(), Normalization::Center, Pruning::Never), tracks);
    assert!(!file.exists(), "no head, no file");
    let mut first = SearchEngine::with_pruning(snapshot, Normalization::Center, Pruning::Always);
    assert!(first.layer(0).head_bands() >= 2 && first.layer(0).head_mapped());
    assert_eq!(first.layer(1).head_bands(), 0, "a 50-value layer has no head");
    assert!(!DataDir::at(tmp.path()).search_head_path("synthetic", 1, "center").exists());
    assert_eq!(rankings(&mut first, tracks), exact);
    let written = file_identity(&file);
    std::thread::sleep(std::time::Duration::from_millis(20));

    let reloaded = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), "synthetic").unwrap());
    let mut second = SearchEngine::with_pruning(reloaded.clone(), Normalization::Center, Pruning::Always);
    assert!(second.layer(0).head_mapped());
    assert_eq!(file_identity(&file), written, "mapped, not fitted and written again");
    assert_eq!(rankings(&mut second, tracks), exact);
    // Another normalisation is another file: the centred head, planted
    // where the standardised one would be, is not served in its place.
    let planted = DataDir::at(tmp.path()).search_head_path("synthetic", 0, "standardize");
    std::fs::copy(&file, &planted).unwrap();
    let exact = rankings(&mut SearchEngine::with_pruning(reloaded.clone(), Normalization::Standardize, Pruning::Never), tracks);
    let mut standardized = SearchEngine::with_pruning(reloaded, Normalization::Standardize, Pruning::Always);
    assert!(!standardized.layer(0).head_mapped(), "standardised, this library's energy is too spread for a head");
    assert_eq!(rankings(&mut standardized, tracks), exact);
    assert_eq!(file_identity(&file), written);
}

/// A head file fitted on another library, a damaged one or a cut one is
/// never served: the head is fitted again and the file replaced.
#[test]
fn a_head_file_of_another_library_or_damaged_is_fitted_again() {
    let (dims, tracks) = ([768, 50], 3_000);
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let snapshot = library_like(ours.path(), &dims, tracks, 5);
    let exact = rankings(&mut SearchEngine::with_pruning(snapshot.clone(), Normalization::Center, Pruning::Never), tracks);
    let other = library_like(theirs.path(), &dims, tracks, 6);
    SearchEngine::with_pruning(other, Normalization::Center, Pruning::Always).layer(0);
    let (file, foreign) = (
        DataDir::at(ours.path()).search_head_path("synthetic", 0, "center"),
        DataDir::at(theirs.path()).search_head_path("synthetic", 0, "center"),
    );
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    for what in ["another library's", "a flipped byte", "a cut file"] {
        let mut bytes = std::fs::read(if what == "another library's" { &foreign } else { &file }).unwrap();
        let middle = bytes.len() / 2;
        match what {
            "a flipped byte" => bytes[middle] ^= 0x10,
            "a cut file" => bytes.truncate(bytes.len() - 64),
            _ => {}
        }
        std::fs::write(&file, &bytes).unwrap();
        let planted = file_identity(&file);
        let mut engine = SearchEngine::with_pruning(snapshot.clone(), Normalization::Center, Pruning::Always);
        assert!(engine.layer(0).head_mapped(), "{what}");
        assert_ne!(file_identity(&file), planted, "{what}: replaced");
        assert_eq!(rankings(&mut engine, tracks), exact, "{what}");
    }
}

/// Where no head file can be written (here a file stands where its folder
/// would go), the head stays in memory and ranks the same.
#[test]
fn a_head_that_cannot_be_written_stays_in_memory() {
    let (dims, tracks) = ([768, 50], 3_000);
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = library_like(tmp.path(), &dims, tracks, 5);
    std::fs::write(tmp.path().join("search-heads"), b"not a folder").unwrap();
    let exact = rankings(&mut SearchEngine::with_pruning(snapshot.clone(), Normalization::Center, Pruning::Never), tracks);
    let mut engine = SearchEngine::with_pruning(snapshot, Normalization::Center, Pruning::Always);
    assert!(engine.layer(0).head_bands() >= 2);
    assert!(!engine.layer(0).head_mapped());
    assert_eq!(rankings(&mut engine, tracks), exact);
}

/// Every band's bounds hold each track's exact cosine, a band read never
/// widens them, and after the last band they are the whole head's bounds
/// bit for bit (the sums a search tightens equal the ones other users of the
/// head compute in one pass).
#[test]
fn head_bands_bound_every_cosine_and_tighten() {
    let tracks = 3_000;
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = library_like(tmp.path(), &[768], tracks, 11);
    let index = LayerIndex::build_with(snapshot, 0, Normalization::Center, Pruning::Always);
    let bands = index.head_bands();
    assert!(bands >= 3, "a head of several bands ({bands})");
    let all: Vec<usize> = (0..tracks).collect();
    for query in [0, 1234, tracks - 1] {
        let vector = index.query_vector(query);
        let exact = index.exact_all(&vector);
        let (mut dots, mut slacks) = index.first_band(&vector).unwrap();
        let mut widths: Vec<f32> = slacks.clone();
        for band in 0..bands {
            if band > 0 {
                index.add_band(&vector, band, &all, &mut dots, &mut slacks);
            }
            for t in 0..tracks {
                let (lower, upper) = (dots[t] - slacks[t], dots[t] + slacks[t]);
                assert!(
                    lower <= exact[t] && exact[t] <= upper,
                    "query {query}, band {band}, track {t}: {} not in [{lower}, {upper}]",
                    exact[t]
                );
                assert!(slacks[t] <= widths[t] + 1e-6, "query {query}, band {band}, track {t}: the bound widened");
                widths[t] = slacks[t];
            }
        }
        let (lower, upper) = index.bounds(&vector).unwrap();
        for t in 0..tracks {
            assert_eq!((dots[t] - slacks[t]).to_bits(), lower[t].to_bits(), "query {query}, track {t}");
            assert_eq!((dots[t] + slacks[t]).to_bits(), upper[t].to_bits(), "query {query}, track {t}");
        }
        // The last band's bounds are much tighter than the first's.
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let first = index.first_band(&vector).unwrap().1;
        assert!(mean(&slacks) < 0.8 * mean(&first), "query {query}: {} vs {}", mean(&slacks), mean(&first));
    }
    // Several queries at once bound as each alone does, bit for bit.
    let vectors: Vec<_> = [7, 2999, 7].iter().map(|&q| index.query_vector(q)).collect();
    let bits = |(lower, upper): &(Vec<f32>, Vec<f32>)| lower.iter().chain(upper).map(|v| v.to_bits()).collect::<Vec<u32>>();
    for (many, vector) in index.bounds_many(&vectors).unwrap().iter().zip(&vectors) {
        assert_eq!(bits(many), bits(&index.bounds(vector).unwrap()));
    }
}

fn run_json(data: &Path, args: &[&str]) -> serde_json::Value {
    let output = strata_bin().arg("--data-dir").arg(data).args(args).output().unwrap();
    assert!(output.status.success(), "strata {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("strata {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn ranking_commands_on_an_indexed_library() {
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path(), 10);
    tag_library(&music);
    let data = tmp.path().join("data");
    let indexed = strata_bin().arg("--data-dir").arg(&data).args(["index", "--json", "--jobs", "1"]).arg(&music).output().unwrap();
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));
    let snapshot = LibrarySnapshot::load(&DataDir::at(&data), "musicnn").unwrap();
    let paths: HashSet<String> = snapshot.tracks.iter().map(|t| t.path.display().to_string()).collect();
    assert_eq!(paths.len(), 10);

    // similar: by path and by catalog id, ranked, query excluded, with a per-aspect breakdown.
    let query = snapshot.tracks[0].path.display().to_string();
    let by_path = run_json(&data, &["similar", &query, "--k", "4", "--json", "--passages"]);
    let by_id = run_json(&data, &["similar", &snapshot.tracks[0].id.to_string(), "--k", "4", "--json"]);
    let results = by_path["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(results.iter().all(|r| r["path"] != query.as_str() && paths.contains(r["path"].as_str().unwrap())));
    let facets = by_path["facets"].as_array().unwrap();
    assert!(!facets.is_empty());
    assert_eq!(results[0]["facets"].as_object().unwrap().len(), facets.len());
    assert!(results[0]["passage"]["similarity"].as_f64().is_some());
    let ids: Vec<&serde_json::Value> = by_id["results"].as_array().unwrap().iter().map(|r| &r["path"]).collect();
    assert_eq!(ids, results.iter().map(|r| &r["path"]).collect::<Vec<_>>());

    // One aspect with all the weight ranks by that aspect's cosine alone.
    let aspect = facets[0]["name"].as_str().unwrap().to_string();
    let single = run_json(&data, &["similar", &query, "--k", "9", "--json", "--aspect", &format!("{aspect}=1")]);
    let cosines: Vec<f64> = single["results"].as_array().unwrap().iter().map(|r| r["facets"][&aspect].as_f64().unwrap()).collect();
    assert!(cosines.windows(2).all(|w| w[0] >= w[1] - 1e-6), "{cosines:?}");
    // Excluding the album leaves only the other album's tracks.
    let album = snapshot.tracks[0].tags.album.clone();
    let other = run_json(&data, &["similar", &query, "--k", "9", "--json", "--exclude-album"]);
    assert!(other["results"].as_array().unwrap().iter().all(|r| r["album"].as_str().map(String::from) != album));

    // neighbours --all: one JSON line per track, query excluded, paths as indexed.
    let output = strata_bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["neighbours", "--all", "--k", "3", "--json", "--layer", "penultimate"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10);
    let queries: HashSet<String> = lines.iter().map(|l| l["query"].as_str().unwrap().to_string()).collect();
    assert_eq!(queries, paths);
    for line in &lines {
        let results = line["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(|r| r != &line["query"] && paths.contains(r.as_str().unwrap())));
    }

    // eval: every layer plus the mix, each beside the exact random expectation.
    let eval = run_json(&data, &["eval", "--label", "album", "--k", "3", "--json"]);
    let rows = eval["rows"].as_array().unwrap();
    assert_eq!(rows.len(), snapshot.layer_names().len() + 1);
    for row in rows {
        let p = row["metrics"]["precision_at_k"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
        // Two albums of five: 4 of the 9 others share the query's album.
        let random = row["random"]["precision_at_k"].as_f64().unwrap();
        assert!((random - 4.0 / 9.0).abs() < 1e-6, "{random}");
        // Hubness of every track's 3 nearest: 30 suggestions over 10 tracks.
        let hubness = &row["hubness"];
        assert_eq!(hubness["k"], 3);
        let (largest, never) = (hubness["largest_hub"].as_u64().unwrap(), hubness["never_suggested_share"].as_f64().unwrap());
        assert!((3..=9).contains(&largest) && (0.0..=0.7).contains(&never), "{hubness}");
        assert!(hubness["skewness"].as_f64().unwrap().is_finite());
    }
    // --within album: only the query's album are candidates, so all of them share its album.
    let within = run_json(&data, &["eval", "--label", "album", "--k", "3", "--json", "--within", "album"]);
    for row in within["rows"].as_array().unwrap() {
        assert_eq!(row["metrics"]["precision_at_k"].as_f64().unwrap(), 1.0, "{row}");
        assert_eq!(row["random"]["precision_at_k"].as_f64().unwrap(), 1.0, "{row}");
    }

    // probe: every layer × descriptor, stored with the library and reused.
    let probe = run_json(&data, &["probe", "--json", "--folds", "3"]);
    assert_eq!(probe["probe"]["layers"].as_array().unwrap().len(), snapshot.layer_names().len());
    assert!(!probe["aspects"].as_array().unwrap().is_empty());

    // eval --best-mix: the held-out choice over the same queries, and an
    // in-sample best at least as good as any single layer the aspects use.
    let probe = run_json(&data, &["probe", "--json"]);
    let aspect_layers: HashSet<&str> = probe["aspects"].as_array().unwrap().iter().map(|a| a["layer_name"].as_str().unwrap()).collect();
    let eval = run_json(&data, &["eval", "--label", "album", "--k", "3", "--json", "--best-mix", "--collection", "album"]);
    let rows = eval["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().skip(snapshot.layer_names().len() + 1).map(|r| r["name"].as_str().unwrap()).collect();
    let held_out_names = ["held out by work (5 folds)", "held out one collection out", "in-sample"];
    let expected: Vec<String> = ["best layer", "best mix"]
        .iter()
        .flat_map(|what| held_out_names.map(|how| format!("{what}{}{how}", [", ", " "][usize::from(how == "in-sample")])))
        .collect();
    assert_eq!(names, expected);
    let precision = |row: &serde_json::Value| row["metrics"]["precision_at_k"].as_f64().unwrap();
    let (held_out, in_sample) = (&rows[rows.len() - 3], &rows[rows.len() - 1]);
    assert!(!held_out["chosen"].as_array().unwrap().is_empty() && in_sample["chosen"].as_array().unwrap().len() == 1);
    assert_eq!(held_out["metrics"]["queries"], rows[0]["metrics"]["queries"]);
    let best_single = rows.iter().filter(|r| aspect_layers.contains(r["name"].as_str().unwrap())).map(precision).fold(0.0, f64::max);
    assert!(precision(in_sample) >= best_single - 1e-12, "{in_sample} vs {best_single}");

    // map: CSV with one row per track, and a PNG picture.
    let csv_path = tmp.path().join("map.csv");
    let status = strata_bin().arg("--data-dir").arg(&data).args(["map", "--out"]).arg(&csv_path).status().unwrap();
    assert!(status.success());
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| paths.contains(&r[0]) && r[1].parse::<f32>().unwrap().is_finite()));
    let png = tmp.path().join("map.png");
    let status = strata_bin().arg("--data-dir").arg(&data).args(["map", "--method", "tsne", "--out"]).arg(&png).status().unwrap();
    assert!(status.success());
    assert!(image::open(&png).unwrap().width() > 200);
}

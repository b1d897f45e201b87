//! Works like this one, work-level evaluation and playlists that keep works
//! whole, on a synthetic classical library (tests/support's
//! `write_works_library`): the library functions against a brute-force
//! reference, and `similar`, `neighbours` and `eval --unit work` end to end.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use strata::search::{Facet, SearchEngine};
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use strata::works::similarity::{WorkCombination, WorkSearch};
use support::*;

const LAYERS: [&str; 4] = ["--layer", "layer_0", "--layer", "layer_1"];

fn json_lines(data: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let output = strata_bin().arg("--data-dir").arg(data).args(args).args(["--model", "synthetic"]).output().unwrap();
    assert!(output.status.success(), "strata {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    if text.trim_start().starts_with("{\n") {
        return vec![serde_json::from_str(&text).unwrap()];
    }
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn path_of(track: usize) -> String {
    format!("/music/{track:06}.flac")
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// The works as the snapshot inferred them, as sets of tracks, match the library's.
fn snapshot_of(data: &Path, works: &[SyntheticWork]) -> Arc<LibrarySnapshot> {
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(data), "synthetic").unwrap());
    let mut inferred: Vec<Vec<usize>> = snapshot.works.works.iter().map(|w| w.tracks.clone()).collect();
    inferred.sort();
    let expected: Vec<Vec<usize>> = works.iter().map(|w| w.tracks.clone()).collect();
    assert_eq!(inferred, expected, "the WORK tags make the works");
    snapshot
}

/// Brute force: every combination's score of every work for `query`, from
/// the track search's own cosines (`LayerIndex::similarities`, one query
/// at a time) and plain loops; a mean vector's cosine from the same
/// cosines, as `Σᵢⱼ cos(i, j) / (|Σᵢ uᵢ|·|Σⱼ uⱼ|)` with `|Σ u|² = Σ cos`.
fn reference_scores(engine: &mut SearchEngine, layers: &[(usize, f32)], query: usize, combination: WorkCombination) -> Vec<f32> {
    let snapshot = engine.snapshot().clone();
    let cosines: Vec<(Vec<Vec<f32>>, f32)> =
        layers.iter().map(|&(l, w)| ((0..snapshot.len()).map(|t| engine.layer(l).similarities(t)).collect(), w)).collect();
    let total: f32 = layers.iter().map(|&(_, w)| w).sum();
    let pair = |a: usize, b: usize| cosines.iter().map(|(c, w)| w * c[a][b]).sum::<f32>() / total;
    let works = &snapshot.works.works;
    let q = &works[query].tracks;
    works
        .iter()
        .map(|candidate| {
            let c = &candidate.tracks;
            let best_of = |i: usize, pool: &[usize]| pool.iter().map(|&j| pair(i, j)).fold(f32::NEG_INFINITY, f32::max);
            let forward: Vec<f32> = q.iter().map(|&i| best_of(i, c)).collect();
            let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
            match combination {
                WorkCombination::BestMatch => mean(&forward),
                WorkCombination::Symmetric => 0.5 * (mean(&forward) + mean(&c.iter().map(|&j| best_of(j, q)).collect::<Vec<_>>())),
                WorkCombination::Weakest => forward.iter().copied().fold(f32::INFINITY, f32::min),
                WorkCombination::MeanVector => {
                    let sum = |cos: &Vec<Vec<f32>>, a: &[usize], b: &[usize]| {
                        a.iter().flat_map(|&i| b.iter().map(move |&j| cos[i][j])).sum::<f32>()
                    };
                    let per_layer = cosines.iter().map(|(cos, w)| w * sum(cos, q, c) / (sum(cos, q, q).sqrt() * sum(cos, c, c).sqrt()));
                    per_layer.sum::<f32>() / total
                }
            }
        })
        .collect()
}

#[test]
fn work_rankings_equal_a_brute_force_reference_with_a_consistent_breakdown() {
    let tmp = tempfile::tempdir().unwrap();
    let works = write_works_library(tmp.path());
    let snapshot = snapshot_of(tmp.path(), &works);
    let mut engine = SearchEngine::new(snapshot.clone(), true);
    let tonal = snapshot.layer_index(strata::analysis::tonal::LAYER_NAME).unwrap();
    // Two weighted facets and one at weight 0, which is still broken down.
    let facets = vec![
        Facet { name: "first".into(), layer: 0 },
        Facet { name: "second".into(), layer: 1 },
        Facet { name: "tonal".into(), layer: tonal },
    ];
    let weights = [0.7, 0.3, 0.0];
    let mut search = WorkSearch::from_works(&snapshot.works);
    let combinations = [WorkCombination::BestMatch, WorkCombination::Symmetric, WorkCombination::Weakest, WorkCombination::MeanVector];
    for combination in combinations {
        for query in 0..search.len() {
            let expected = reference_scores(&mut engine, &[(0, 0.7), (1, 0.3)], query, combination);
            let results = search.rank(&mut engine, query, &facets, &weights, combination, 5, &|_| false);
            assert_eq!(results.len(), 5);
            let mut order: Vec<usize> = (0..expected.len()).filter(|&w| w != query).collect();
            order.sort_by(|&a, &b| expected[b].total_cmp(&expected[a]));
            for (rank, result) in results.iter().enumerate() {
                assert_ne!(result.work, query, "the query's own work is never a result");
                assert!(
                    (result.score - expected[result.work]).abs() < 1e-4,
                    "{combination:?} q{query}: {result:?} vs {}",
                    expected[result.work]
                );
                // The ranking is the reference's, up to ties within rounding.
                assert!((result.score - expected[order[rank]]).abs() < 1e-4, "{combination:?} q{query} rank {rank}");
                let combined = (0.7 * result.facet_scores[0] + 0.3 * result.facet_scores[1]) / 1.0;
                assert!((combined - result.score).abs() < 1e-4, "{combination:?}: breakdown {:?} vs {}", result.facet_scores, result.score);
                assert!(result.facet_scores[2].is_finite() && result.facet_scores[2].abs() <= 1.0 + 1e-4);
            }
            // Nearest works are the composer's own (the library is built that way).
            let composer = |w: usize| snapshot.works.works[w].composer.clone();
            assert!(results[..3].iter().all(|r| composer(r.work) == composer(query)), "{combination:?} q{query}: {results:?}");
        }
    }
    // Batched queries rank as single ones do; an exclusion leaves works out.
    let all: Vec<usize> = (0..search.len()).collect();
    let batched = search.rank_many(&mut engine, &all, &facets, &weights, WorkCombination::BestMatch, 4, &|q, c| (q + c) % 5 == 0);
    for (query, ranked) in batched.iter().enumerate() {
        let single = search.rank(&mut engine, query, &facets, &weights, WorkCombination::BestMatch, 4, &|c| (query + c) % 5 == 0);
        assert_eq!(ranked.iter().map(|r| r.work).collect::<Vec<_>>(), single.iter().map(|r| r.work).collect::<Vec<_>>());
        assert!(ranked.iter().all(|r| (query + r.work) % 5 != 0));
    }
}

#[test]
fn similar_neighbours_and_eval_by_work_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let works = write_works_library(tmp.path());
    let data = tmp.path();
    let work_paths = |w: &SyntheticWork| w.tracks.iter().map(|&t| path_of(t)).collect::<Vec<_>>();

    // similar --unit work: the query's work, then whole works, best first, paths as indexed.
    let query = works[5].tracks[1];
    let args = ["similar", &path_of(query), "--unit", "work", "--json", "--k", "3"];
    let report = json_lines(data, &[&args[..], &LAYERS].concat()).remove(0);
    assert_eq!(strings(&report["tracks"]), work_paths(&works[5]), "{report}");
    let own_id = report["work"].as_str().unwrap().to_string();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let composer_works: HashSet<Vec<String>> = works.iter().filter(|w| w.composer == works[5].composer).map(work_paths).collect();
    for result in results {
        assert_ne!(result["work"].as_str().unwrap(), own_id);
        assert!(composer_works.contains(&strings(&result["tracks"])), "{result}");
    }
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|s| s[0] >= s[1]), "{scores:?}");
    // The same query by another movement of the work, and again: the same ids (stable, not from row order).
    let again =
        json_lines(data, &[&["similar", &path_of(works[5].tracks[0]), "--unit", "work", "--json", "--k", "3"][..], &LAYERS].concat());
    assert_eq!(again[0]["work"], report["work"]);
    assert_eq!(again[0]["results"], report["results"]);

    // neighbours --all --unit work: one line per work, every track in exactly one line's work.
    let lines = json_lines(data, &[&["neighbours", "--all", "--unit", "work", "--json", "--k", "2"][..], &LAYERS].concat());
    assert_eq!(lines.len(), works.len());
    let mut seen: Vec<String> = lines.iter().flat_map(|l| strings(&l["tracks"])).collect();
    seen.sort();
    let mut all: Vec<String> = works.iter().flat_map(work_paths).collect();
    all.sort();
    assert_eq!(seen, all);
    for line in &lines {
        let results = line["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| r["work"] != line["work"] && !strings(&r["tracks"]).is_empty()));
        assert!(line["title"].as_str().unwrap().starts_with("Work "));
    }

    // eval --unit work: every combination beside the exact random expectation.
    let report =
        json_lines(data, &[&["eval", "--unit", "work", "--label", "composer", "--k", "3", "--json"][..], &LAYERS].concat()).remove(0);
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["best-match", "symmetric", "weakest", "mean-vector"]);
    for row in rows {
        assert_eq!(row["metrics"]["queries"], 12);
        let (precision, random) = (row["metrics"]["precision_at_k"].as_f64().unwrap(), row["random"]["precision_at_k"].as_f64().unwrap());
        // 3 of the 11 other works share the composer: random P@3 is 3/11.
        assert!((random - 3.0 / 11.0).abs() < 1e-9, "{row}");
        assert!(precision > 0.9, "{row}");
    }
    assert!(report["work_inference"].is_null(), "no labels CSV, no inference score: {report}");

    // With a labels CSV that has a work column, the inference is scored too.
    // The labels join works 0 and 1 into one: every pair the inference makes
    // is right (precision 1), and the pairs across the two are missed.
    let csv = data.join("labels.csv");
    let mut rows = String::from("path,composer,work\n");
    for (w, work) in works.iter().enumerate() {
        for &t in &work.tracks {
            rows.push_str(&format!("{},Composer {},Work {}\n", path_of(t), work.composer, w.max(1) - 1));
        }
    }
    std::fs::write(&csv, rows).unwrap();
    let csv_arg = csv.to_str().unwrap();
    let eval = ["eval", "--unit", "work", "--label", "composer", "--labels", csv_arg, "--k", "3"];
    let report = json_lines(data, &[&eval[..], &["--json"], &LAYERS].concat()).remove(0);
    let pairs = |n: usize| (n * (n - 1) / 2) as u64;
    let inferred: u64 = works.iter().map(|w| pairs(w.tracks.len())).sum();
    let labelled =
        inferred - pairs(works[0].tracks.len()) - pairs(works[1].tracks.len()) + pairs(works[0].tracks.len() + works[1].tracks.len());
    let scores = &report["work_inference"];
    assert_eq!(scores["inferred_pairs"], inferred, "{report}");
    assert_eq!(scores["labelled_pairs"], labelled, "{report}");
    assert_eq!(scores["precision"], 1.0);
    assert!((scores["recall"].as_f64().unwrap() - inferred as f64 / labelled as f64).abs() < 1e-12, "{scores}");
    let output = strata_bin().arg("--data-dir").arg(data).args(eval).args(LAYERS).args(["--model", "synthetic"]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("Work inference") && text.contains("precision 1.000"), "{text}");
}

#[test]
fn playlists_keep_works_whole_in_m3u_and_xspf() {
    let tmp = tempfile::tempdir().unwrap();
    let works = write_works_library(tmp.path());
    let snapshot = snapshot_of(tmp.path(), &works);
    // A ranking that starts mid-work and interleaves two works.
    let ranked = [works[5].tracks[2], works[7].tracks[1], works[5].tracks[0], works[7].tracks[0], works[1].tracks[1]];
    let order = strata::playlist::keep_works_whole(&ranked, &snapshot.works, false);
    let expected: Vec<usize> = [5, 7, 1].iter().flat_map(|&w| works[w].tracks.clone()).collect();
    assert_eq!(order, expected);
    assert_eq!(strata::playlist::keep_works_whole(&ranked, &snapshot.works, true), ranked.to_vec());

    let entries = strata::playlist::entries(&snapshot.tracks, &order);
    let m3u = tmp.path().join("works.m3u");
    strata::playlist::save(&m3u, &entries).unwrap();
    let text = std::fs::read_to_string(&m3u).unwrap();
    let listed: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(listed, expected.iter().map(|&t| path_of(t)).collect::<Vec<_>>());
    assert!(text.starts_with("#EXTM3U\n#EXTINF:300,Composer 1 - Work 5: movement 1\n"), "{text}");

    let xspf = tmp.path().join("works.xspf");
    strata::playlist::save(&xspf, &entries).unwrap();
    let text = std::fs::read_to_string(&xspf).unwrap();
    let locations: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("<location>")?.strip_suffix("</location>")).collect();
    assert_eq!(locations, expected.iter().map(|&t| format!("file://{}", path_of(t))).collect::<Vec<_>>());
    assert!(text.contains("<duration>300000</duration>") && text.contains("<album>Album 2</album>"), "{text}");

    // Radio: the rest of the work in order, then the most similar work not yet heard, from its first movement.
    let played: HashSet<usize> = works[5].tracks[..2].iter().copied().collect();
    let similar = [works[5].tracks[2], works[7].tracks[1], works[5].tracks[0]];
    let next = strata::playlist::next_for_radio(&snapshot.works, Some(works[5].tracks[1]), &similar, &|t| played.contains(&t));
    assert_eq!(next, Some(works[5].tracks[2]));
    let played: HashSet<usize> = works[5].tracks.iter().copied().collect();
    let next = strata::playlist::next_for_radio(&snapshot.works, Some(works[5].tracks[2]), &similar, &|t| played.contains(&t));
    assert_eq!(next, Some(works[7].tracks[0]));
}

/// "Exclude the same work" leaves out every recording of the query's work,
/// found from the titles (no WORK tag, catalogue numbers spelled two ways),
/// and keeps other works, even when the other recording is the closest.
#[test]
fn excluding_the_same_work_excludes_its_other_recordings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    write_synthetic_model(&data.join("models"), "synthetic", &WORKS_LIBRARY_DIMS);
    let albums = [
        ("Studio", "String Quartet in F major, Op. 18 No. 1", ["I. Allegro con brio", "II. Adagio"]),
        ("Live", "String Quartet in F major, Op.18 Nr.1", ["I. Allegro con brio", "II. Adagio"]),
        ("Hunt", "Quartet in B-flat, KV 458", ["I. Allegro vivace assai", "II. Menuetto"]),
    ];
    // The other recording sits closest to the query, the other work further away.
    let distance = [0.0, 0.1, 0.2, 0.3, 0.8, 0.9];
    let vector = |t: usize, _layer: usize, dim: usize| {
        (0..dim)
            .map(|i| {
                if i == 0 {
                    1.0
                } else if i == 1 {
                    distance[t]
                } else {
                    0.0
                }
            })
            .collect()
    };
    let tags = |t: usize| {
        let (album, work, movements) = albums[t / 2];
        strata::storage::catalog::TrackTags {
            title: Some(format!("{work}: {}", movements[t % 2])),
            composer: Some(if t < 4 { "Ludwig van Beethoven" } else { "Wolfgang Amadeus Mozart" }.into()),
            album: Some(album.into()),
            track_no: Some(u32::try_from(t % 2 + 1).unwrap()),
            ..Default::default()
        }
    };
    write_tagged_synthetic_store(data, "synthetic", &WORKS_LIBRARY_DIMS, 6, vector, tags);
    let results = |extra: &[&str]| -> Vec<String> {
        let lines = json_lines(data, &[&["similar", &path_of(0), "--json", "--k", "5"][..], &LAYERS, extra].concat());
        lines[0]["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(results(&[])[0], path_of(1), "without the exclusion the query's own work comes first");
    assert_eq!(results(&["--exclude-work"]), [path_of(4), path_of(5)], "both recordings of Op. 18 No. 1 are left out");
}

//! Other recordings of the same piece through the real binary: `strata
//! versions` on an indexed library of synthetic pieces played twice (another
//! key, tempo, timbre, lead-in and codec) and `strata align` between two of them.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

mod support;

use std::path::Path;

use support::{Piece, strata_bin, write_version};

fn run_json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let output = strata_bin().args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn align_maps_every_chord_of_a_slower_transposed_mp3_with_a_lead_in() {
    let tmp = tempfile::tempdir().unwrap();
    let piece = Piece::new(3, 40);
    let (a_samples, a_onsets) = piece.render(0.5, 0, 0.0, 0.5);
    let (b_samples, b_onsets) = piece.render(0.62, 3, 2.5, 0.25);
    let a = write_version(&tmp.path().join("a"), "piece", &a_samples, false);
    let b = write_version(&tmp.path().join("b"), "piece", &b_samples, true);
    let lines = run_json_lines(&["align", a.to_str().unwrap(), b.to_str().unwrap(), "--json"]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["a"], a.display().to_string());
    assert_eq!(lines[0]["b"], b.display().to_string());
    let map: Vec<(f64, f64)> =
        lines[0]["map"].as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
    assert!(map.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "the map is monotone");
    assert!(map.windows(2).all(|w| w[1].0 - w[0].0 <= 0.5), "a point at least every 0.5 s of A");
    let errors: Vec<f64> =
        a_onsets.iter().zip(&b_onsets).map(|(&ta, &tb)| (strata::versions::align::interpolate(&map, ta).unwrap() - tb).abs()).collect();
    let within = errors.iter().filter(|&&e| e <= 0.1).count();
    assert!(within * 10 >= errors.len() * 9, "only {within} of {} chords within 0.1 s: {errors:?}", errors.len());
}

#[test]
fn versions_finds_the_other_recording_with_confidence_and_none_for_a_singleton() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let (expected, alone) = support::write_versions_library(&music);
    let data = tmp.path().join("data");
    let indexed = strata_bin().arg("--data-dir").arg(&data).args(["index", "--jobs", "1"]).arg(&music).output().unwrap();
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));

    let data_arg = data.to_str().unwrap();
    let lines = run_json_lines(&["--data-dir", data_arg, "versions", "--all", "--json"]);
    assert_eq!(lines.len(), 5, "one line per indexed track");
    let results_of = |path: &Path| -> Vec<(String, f64)> {
        let line = lines.iter().find(|l| l["query"] == path.display().to_string()).unwrap();
        line["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["path"].as_str().unwrap().to_string(), r["confidence"].as_f64().unwrap()))
            .collect()
    };
    for (a, b) in &expected {
        for (query, other) in [(a, b), (b, a)] {
            let results = results_of(query);
            assert_eq!(results[0].0, other.display().to_string(), "{}: {results:?}", query.display());
            assert!(results[0].1 >= 0.5, "{}: {results:?}", query.display());
            assert!(results[1..].iter().all(|r| r.1 < 0.5), "{}: {results:?}", query.display());
            assert!(results.iter().all(|r| r.0 != query.display().to_string()), "the query is excluded");
        }
    }
    assert!(results_of(&alone).iter().all(|r| r.1 < 0.5), "{:?}", results_of(&alone));

    // A second run reads the features kept in the data folder: same answer.
    assert!(data.join("versions-features.bin").is_file());
    assert!(data.join("versions-found.bin").is_file(), "the answer is kept for the window");
    let again = run_json_lines(&["--data-dir", data_arg, "versions", "--all", "--json"]);
    assert_eq!(again, lines);
    let single = run_json_lines(&["--data-dir", data_arg, "versions", expected[0].0.to_str().unwrap(), "--json", "--k", "2"]);
    assert_eq!(single.len(), 1);
    assert_eq!(single[0]["results"].as_array().unwrap().len(), 2);
    assert_eq!(single[0]["results"][0]["path"], expected[0].1.display().to_string());
}

//! Works end to end: a real catalog with CD-rip tags, the real binary's
//! `strata works` and `strata tracks --json`, corrections that survive the
//! tracks being catalogued again, and the score against a labels CSV.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

use std::path::{Path, PathBuf};

use serde_json::Value;
use strata::storage::catalog::{Catalog, FileStamp, TrackTags};

mod support;

/// (album, title) of each track; composer by album.
const LIBRARY: &[(&str, &str, &str)] = &[
    ("Symphonies", "Ludwig van Beethoven", "Symphony No. 5 in C minor, Op. 67: I. Allegro con brio"),
    ("Symphonies", "Ludwig van Beethoven", "Symphony No. 5 in C minor, Op. 67: II. Andante con moto"),
    ("Symphonies", "Ludwig van Beethoven", "Egmont Overture, Op. 84"),
    ("Missa Papae Marcelli", "Palestrina", "Kyrie"),
    ("Missa Papae Marcelli", "Palestrina", "Gloria"),
    ("Missa Papae Marcelli", "Palestrina", "Credo"),
];

/// Catalogues the library's tracks (as the indexer does, tags and all) under `music`.
fn catalogue(data: &Path, music: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(data).unwrap();
    let mut catalog = Catalog::open(&data.join("catalog.sqlite")).unwrap();
    let batch = catalog.batch().unwrap();
    let mut paths = Vec::new();
    for (i, (album, composer, title)) in LIBRARY.iter().enumerate() {
        let path = music.join(album).join(format!("{:02} {title}.flac", i + 1));
        let tags = TrackTags {
            title: Some(title.to_string()),
            album: Some(album.to_string()),
            composer: Some(composer.to_string()),
            track_no: Some(i as u32 + 1),
            ..TrackTags::default()
        };
        batch.upsert_track(&path, FileStamp { size: 1, mtime_ns: 1 }, &tags, Some(60.0), None).unwrap();
        paths.push(path);
    }
    batch.commit().unwrap();
    paths
}

fn strata(data: &Path, args: &[&str]) -> String {
    let output = support::strata_bin().arg("--data-dir").arg(data).args(args).output().unwrap();
    assert!(output.status.success(), "strata {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// Each track's (work id, work title, source, movement), by path.
fn track_works(data: &Path) -> Vec<(String, String, String, String, Value)> {
    let mut rows: Vec<_> = json_lines(&strata(data, &["tracks", "--json"]))
        .into_iter()
        .map(|t| {
            let s = |key: &str| t[key].as_str().unwrap_or_default().to_string();
            (s("path"), s("work_id"), s("work"), s("work_source"), t["movement"].clone())
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn tracks_json_lists_every_track_with_its_inferred_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let paths = catalogue(&data, &dir.path().join("music"));
    let lines = json_lines(&strata(&data, &["tracks", "--json"]));
    assert_eq!(lines.len(), LIBRARY.len());
    let by_path = |path: &Path| lines.iter().find(|l| l["path"] == path.display().to_string()).unwrap();
    let first = by_path(&paths[0]);
    assert_eq!(first["work"], "Symphony No. 5 in C minor, Op. 67");
    assert_eq!(first["work_source"], "title_separator");
    assert_eq!(first["movement"], 1);
    assert_eq!(first["composer"], "Ludwig van Beethoven");
    assert_eq!(first["tags"]["album"], "Symphonies");
    assert_eq!(by_path(&paths[1])["work_id"], first["work_id"]);
    assert_eq!(by_path(&paths[2])["work_source"], "catalogue_number");
    assert_eq!(by_path(&paths[2])["movement"], Value::Null);
    let mass: Vec<&Value> = paths[3..].iter().map(|p| &by_path(p)["work_id"]).collect();
    assert!(mass.iter().all(|id| *id == mass[0]));
    assert_eq!(by_path(&paths[3])["work_source"], "album_work");

    let works = json_lines(&strata(&data, &["works", "--json"]));
    assert_eq!(works.len(), 3);
    let symphony = works.iter().find(|w| w["id"] == first["work_id"]).unwrap();
    assert_eq!(symphony["tracks"], serde_json::json!([paths[0].display().to_string(), paths[1].display().to_string()]));
}

#[test]
fn corrections_persist_and_survive_cataloguing_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let music = dir.path().join("music");
    let paths = catalogue(&data, &music);
    let inferred = track_works(&data);
    let id_of = |rows: &[(String, String, String, String, Value)], path: &Path| {
        rows.iter().find(|r| r.0 == path.display().to_string()).unwrap().1.clone()
    };
    let symphony = id_of(&inferred, &paths[0]);
    let overture = id_of(&inferred, &paths[2]);
    let mass = id_of(&inferred, &paths[3]);

    strata(&data, &["works", "merge", &symphony, &overture]);
    strata(&data, &["works", "rename", &symphony, "Beethoven in C minor"]);
    strata(&data, &["works", "split", &mass, &paths[5].display().to_string()]);
    // The indexer writes every track's row again (a re-index): the corrections stay.
    catalogue(&data, &music);
    let corrected = track_works(&data);
    assert_eq!(id_of(&corrected, &paths[2]), symphony);
    let overture_row = corrected.iter().find(|r| r.0 == paths[2].display().to_string()).unwrap();
    assert_eq!((overture_row.2.as_str(), overture_row.3.as_str()), ("Beethoven in C minor", "user"));
    let credo = id_of(&corrected, &paths[5]);
    assert_ne!(credo, mass);
    assert_eq!(id_of(&corrected, &paths[4]), mass);

    strata(&data, &["works", "reset", &symphony]);
    strata(&data, &["works", "reset", &mass]);
    assert_eq!(track_works(&data), inferred);
}

#[test]
fn corrections_name_works_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    catalogue(&data, &dir.path().join("music"));
    let output = support::strata_bin().arg("--data-dir").arg(&data).args(["works", "rename", "0000000000000000", "x"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no work has the id"));
}

#[test]
fn the_score_counts_pairs_against_the_labels_work_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    catalogue(&data, &dir.path().join("music"));
    // Labels relative to the library root; the overture is labelled as part of the symphony (a miss for the inference).
    let mut csv = String::from("path,work\n");
    for (i, (album, _, title)) in LIBRARY.iter().enumerate() {
        let work = if *album == "Symphonies" { "beethoven/op67" } else { "palestrina/marcelli" };
        csv.push_str(&format!("\"{album}/{:02} {title}.flac\",{work}\n", i + 1));
    }
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, csv).unwrap();
    let score: Value = serde_json::from_str(&strata(&data, &["works", "--score", labels.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(score["labelled_tracks"], 6);
    assert_eq!(score["labelled_pairs"], 6);
    assert_eq!(score["inferred_pairs"], 4);
    assert_eq!(score["agreeing_pairs"], 4);
    assert_eq!(score["precision"], 1.0);
}

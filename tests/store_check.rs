//! The store checks itself: damaged rows (flipped bytes, NaN, a truncated
//! file, catalog rows pointing at other tracks' vectors, two writers at the
//! same offsets) are never served, `strata check` names them and
//! `strata check --repair` followed by `strata index` restores the library.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use strata::storage::catalog::{Catalog, StoredAnalysis, Track};
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use strata::storage::store::{StoreLayout, StoreWriter, owner_key};
use support::*;

const MODEL: &str = "synthetic";
const DIMS: [usize; 3] = [24, 16, 8];
const TRACKS: usize = 12;

/// A data folder with `TRACKS` committed synthetic tracks (distinct vectors, no model run needed).
fn synthetic_library(root: &Path) -> StoreLayout {
    write_synthetic_model(&root.join("models"), MODEL, &DIMS);
    write_synthetic_store(root, MODEL, &DIMS, TRACKS, |t, l, dim| {
        (0..dim).map(|j| ((t * 31 + l * 7 + j) % 17) as f32 / 17.0 - 0.4 + t as f32 * 0.01).collect()
    })
}

fn analysed(root: &Path, model: &str) -> Vec<(Track, StoredAnalysis)> {
    Catalog::open(&DataDir::at(root).catalog_path()).unwrap().analysed_tracks(model).unwrap()
}

fn strata(root: &Path, args: &[&str]) -> Output {
    strata_bin().arg("--data-dir").arg(root).args(args).output().unwrap()
}

/// `strata check --json` (plus `extra`): the exit code and the report.
fn check(root: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let output = strata(root, &[&["check", "--json"][..], extra].concat());
    let code = output.status.code().unwrap();
    assert!(code == 0 || code == 1, "check failed to run: {}", String::from_utf8_lossy(&output.stderr));
    (code, serde_json::from_slice(&output.stdout).unwrap())
}

/// Paths of the damaged tracks of the first model that have `problem`.
fn damaged_with(report: &serde_json::Value, problem: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = report["report"]["models"][0]["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["problems"].as_array().unwrap().iter().any(|p| p == problem))
        .map(|d| PathBuf::from(d["path"].as_str().unwrap()))
        .collect();
    paths.sort();
    paths
}

fn damaged_count(report: &serde_json::Value) -> usize {
    report["report"]["models"].as_array().unwrap().iter().map(|m| m["damaged"].as_array().unwrap().len()).sum()
}

/// Byte offset of `analysis`'s first value in `layer`'s file.
fn row_offset(layout: &StoreLayout, layer: usize, analysis: &StoredAnalysis) -> u64 {
    analysis.store_row * layout.layer_dims[layer] as u64 * 2
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn a_clean_store_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_library(tmp.path());
    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["clean"], true);
    let model = &report["report"]["models"][0];
    assert_eq!((model["tracks"].as_u64(), model["verified"].as_u64(), model["unverified"].as_u64()), (Some(12), Some(12), Some(0)));
    assert!(report["report"]["catalog_problems"].as_array().unwrap().is_empty());
    assert!(LibrarySnapshot::load(&DataDir::at(tmp.path()), MODEL).unwrap().damage.is_empty());
}

#[test]
fn a_flipped_byte_is_a_checksum_mismatch_of_exactly_that_track() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_library(tmp.path());
    let (track, analysis) = analysed(tmp.path(), MODEL).swap_remove(5);
    let path = layout.layer_path(1);
    let offset = row_offset(&layout, 1, &analysis) + 7;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset as usize] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();

    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["clean"], false);
    assert_eq!(damaged_with(&report, "checksum_mismatch"), vec![track.path.clone()]);
    assert_eq!(damaged_count(&report), 1, "{report:#}");
    // People get the problem and the way out in words.
    let output = strata(tmp.path(), &["check"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("checksum_mismatch") && text.contains(&track.path.display().to_string()), "{text}");
    assert!(text.contains("strata check --repair"), "{text}");
}

#[test]
fn nan_in_a_row_is_reported_as_non_finite() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_library(tmp.path());
    let (track, analysis) = analysed(tmp.path(), MODEL).swap_remove(2);
    write_at(&layout.layer_path(0), row_offset(&layout, 0, &analysis) + 4, &half::f16::NAN.to_le_bytes());
    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(damaged_with(&report, "non_finite"), vec![track.path]);
    assert_eq!(damaged_count(&report), 1);
}

#[test]
fn a_truncated_layer_file_leaves_its_tracks_out_with_a_clear_message_and_repair_makes_the_store_writable() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_library(tmp.path());
    // Nine whole rows and half of the tenth survive.
    let dim = layout.layer_dims[0] as u64;
    std::fs::OpenOptions::new().write(true).open(layout.layer_path(0)).unwrap().set_len(9 * dim * 2 + 5).unwrap();

    let snapshot = LibrarySnapshot::load(&DataDir::at(tmp.path()), MODEL).unwrap();
    assert_eq!(snapshot.len(), 9);
    assert_eq!(snapshot.damage.missing.len(), 3);
    assert!(snapshot.damage.not_their_own.is_empty());
    assert!(snapshot.layer_matrix(0).iter().all(|v| v.is_finite()));
    let message = snapshot.damage.message().unwrap();
    assert!(message.starts_with("the store is damaged: 3 tracks") && message.contains("`strata check --repair`"), "{message}");

    // Commands say so once and go on with the tracks that are whole.
    let first_id = analysed(tmp.path(), MODEL)[0].0.id.to_string();
    let served = strata(tmp.path(), &["similar", "--model", MODEL, "--layer", "layer_0", "--json", first_id.as_str()]);
    assert!(served.status.success(), "{}", String::from_utf8_lossy(&served.stderr));
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(stderr.contains("the store is damaged: 3 tracks point past the end of the store files"), "{stderr}");
    let results: serde_json::Value = serde_json::from_slice(&served.stdout).unwrap();
    assert_eq!(results["results"].as_array().unwrap().len(), 8);

    // The writer refuses to append after rows that are gone, and says how to get out.
    let (committed, committed_windows) = Catalog::open(&DataDir::at(tmp.path()).catalog_path()).unwrap().committed_rows(MODEL).unwrap();
    let refused = StoreWriter::open(&layout, committed, committed_windows).err().unwrap().to_string();
    assert!(refused.contains("strata check --repair"), "{refused}");

    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(damaged_with(&report, "missing_rows").len(), 3);
    let repair = strata(tmp.path(), &["check", "--repair"]);
    assert!(repair.status.success(), "{}", String::from_utf8_lossy(&repair.stderr));
    assert!(String::from_utf8_lossy(&repair.stdout).contains("3 tracks will be re-analysed by the next `strata index`"));
    assert_eq!(check(tmp.path(), &[]).0, 0);
    // The next index can append again: the catalog no longer points past the end.
    let (committed, committed_windows) = Catalog::open(&DataDir::at(tmp.path()).catalog_path()).unwrap().committed_rows(MODEL).unwrap();
    assert_eq!(committed, 9);
    StoreWriter::open(&layout, committed, committed_windows).unwrap();
}

/// Points two tracks' catalog rows at each other's vectors (everything but the owner agrees).
fn swap_pointers(root: &Path, model: &str, a: i64, b: i64) {
    let connection = rusqlite::Connection::open(DataDir::at(root).catalog_path()).unwrap();
    let columns = "store_row, window_row, window_count, window_starts, checksum";
    let read = |id: i64| -> (i64, i64, i64, Vec<u8>, Option<i64>) {
        connection
            .query_row(&format!("SELECT {columns} FROM analyses WHERE track_id = ?1 AND model = ?2"), rusqlite::params![id, model], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
    };
    let (ra, rb) = (read(a), read(b));
    for (id, (row, window_row, count, starts, checksum)) in [(a, rb), (b, ra)] {
        connection
            .execute(
                "UPDATE analyses SET store_row = ?1, window_row = ?2, window_count = ?3, window_starts = ?4, checksum = ?5
                 WHERE track_id = ?6 AND model = ?7",
                rusqlite::params![row, window_row, count, starts, checksum, id, model],
            )
            .unwrap();
    }
}

#[test]
fn catalog_rows_pointing_at_other_tracks_vectors_are_never_served() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_library(tmp.path());
    let entries = analysed(tmp.path(), MODEL);
    let (a, b) = (&entries[3].0, &entries[8].0);
    swap_pointers(tmp.path(), MODEL, a.id, b.id);

    let snapshot = LibrarySnapshot::load(&DataDir::at(tmp.path()), MODEL).unwrap();
    assert_eq!(snapshot.len(), TRACKS - 2);
    assert!(snapshot.find(&a.id.to_string()).is_none() && snapshot.find(&b.id.to_string()).is_none());
    let mut left_out = snapshot.damage.not_their_own.clone();
    left_out.sort();
    assert_eq!(left_out, vec![a.path.clone(), b.path.clone()]);
    assert!(
        snapshot
            .damage
            .to_string()
            .starts_with("the store is damaged: 2 tracks point at vectors that are not theirs; run `strata check --repair`")
    );

    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(damaged_with(&report, "foreign_row"), vec![a.path.clone(), b.path.clone()]);
    assert_eq!(damaged_count(&report), 2);
    let (code, report) = check(tmp.path(), &["--repair"]);
    assert_eq!((code, report["requeued"].as_u64()), (0, Some(2)));
    let (code, report) = check(tmp.path(), &[]);
    assert_eq!((code, report["report"]["models"][0]["tracks"].as_u64()), (0, Some(10)));
}

#[test]
fn two_writers_appending_at_the_same_rows_serve_none_of_the_tracks_they_share() {
    // The reported bug, driven through the store API with no lock: two
    // indexers open the store at the same committed row and both append.
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_library(tmp.path());
    let (committed, committed_windows) = Catalog::open(&DataDir::at(tmp.path()).catalog_path()).unwrap().committed_rows(MODEL).unwrap();
    let mut first = StoreWriter::open(&layout, committed, committed_windows).unwrap();
    let mut second = StoreWriter::open(&layout, committed, committed_windows).unwrap();
    let mut catalog = Catalog::open(&DataDir::at(tmp.path()).catalog_path()).unwrap();
    let mut appended = Vec::new();
    for (writer, name, value) in [(&mut first, "first", 0.25f32), (&mut second, "second", -0.5)] {
        for t in 0..2 {
            let path = PathBuf::from(format!("/music/{name}-{t}.flac"));
            let layers: Vec<Vec<f32>> = layout.layer_dims.iter().map(|&d| vec![value + t as f32; d]).collect();
            let window = layers[layout.passage_layer].clone();
            let rows = writer.append(owner_key(&strata::storage::catalog::path_bytes(&path)), &layers, &[&window]).unwrap();
            appended.push((path, rows));
        }
    }
    first.sync().unwrap();
    second.sync().unwrap();
    let batch = catalog.batch().unwrap();
    let stamp = strata::storage::catalog::FileStamp { size: 1, mtime_ns: 1 };
    for (path, rows) in &appended {
        let id = batch.upsert_track(path, stamp, &strata::storage::catalog::TrackTags::default(), Some(1.0), None).unwrap();
        batch.record_done(id, MODEL, 1, "spread-8x6", stamp, rows, &[0.0]).unwrap();
    }
    batch.commit().unwrap();

    let snapshot = LibrarySnapshot::load(&DataDir::at(tmp.path()), MODEL).unwrap();
    assert_eq!(snapshot.len(), TRACKS, "only the tracks written before both writers are served");
    assert_eq!(snapshot.damage.not_their_own.len(), 4);
    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(damaged_with(&report, "shared_rows").len(), 4);
    // The second writer's records won the race: the first's tracks also hold rows written for others.
    let foreign = damaged_with(&report, "foreign_row");
    assert_eq!(foreign, vec![PathBuf::from("/music/first-0.flac"), PathBuf::from("/music/first-1.flac")]);
}

#[test]
fn rows_written_before_row_records_are_served_reported_unverifiable_and_requeued_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_library(tmp.path());
    // What an older Strata left: no row index, no checksums in the catalog.
    std::fs::remove_file(layout.row_index_path()).unwrap();
    let connection = rusqlite::Connection::open(DataDir::at(tmp.path()).catalog_path()).unwrap();
    connection.execute("UPDATE analyses SET checksum = NULL", []).unwrap();

    let snapshot = LibrarySnapshot::load(&DataDir::at(tmp.path()), MODEL).unwrap();
    assert_eq!(snapshot.len(), TRACKS);
    assert!(snapshot.damage.is_empty());
    let (code, report) = check(tmp.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["report"]["models"][0]["unverified"], 12);
    let text = String::from_utf8_lossy(&strata(tmp.path(), &["check"]).stdout).into_owned();
    assert!(text.contains("12 tracks were written by an older Strata"), "{text}");
    // Plain repair leaves them alone; asked to, it has them analysed again.
    assert_eq!(check(tmp.path(), &["--repair"]).1["requeued"], 0);
    assert_eq!(check(tmp.path(), &["--repair", "--requeue-unverified"]).1["requeued"], 12);

    // A row whose catalog entry carries a checksum but whose record is gone is damage, not history.
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_library(tmp.path());
    std::fs::remove_file(layout.row_index_path()).unwrap();
    let snapshot = LibrarySnapshot::load(&DataDir::at(tmp.path()), MODEL).unwrap();
    assert_eq!((snapshot.len(), snapshot.damage.not_their_own.len()), (0, TRACKS));
    assert_eq!(damaged_with(&check(tmp.path(), &[]).1, "record_mismatch").len(), TRACKS);
}

#[test]
fn repair_then_index_restores_a_clean_check_and_each_tracks_own_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path(), 4);
    let data = tmp.path().join("data");
    let index = |data: &Path| -> serde_json::Value {
        let output = strata(data, &["index", "--json", "--jobs", "1", music.to_str().unwrap()]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    assert_eq!(index(&data)["indexed"], 4);
    assert_eq!(check(&data, &[]).0, 0);
    let before = vectors_by_path(&data);

    let entries = analysed(&data, "musicnn");
    let (a, b) = (entries[0].0.clone(), entries[2].0.clone());
    swap_pointers(&data, "musicnn", a.id, b.id);
    // Neither track is served another's vectors: no similarity of 1.000 between them, nor any at all.
    let query = &entries[1].0;
    let similar = strata(&data, &["similar", "--json", "--layer", "penultimate", query.path.to_str().unwrap()]);
    assert!(similar.status.success(), "{}", String::from_utf8_lossy(&similar.stderr));
    assert!(String::from_utf8_lossy(&similar.stderr).contains("2 tracks point at vectors that are not theirs"));
    let results: serde_json::Value = serde_json::from_slice(&similar.stdout).unwrap();
    let listed: Vec<&str> = results["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(!listed.contains(&a.path.to_str().unwrap()) && !listed.contains(&b.path.to_str().unwrap()));

    let (code, report) = check(&data, &[]);
    assert_eq!(code, 1);
    let mut swapped = vec![a.path.clone(), b.path.clone()];
    swapped.sort();
    assert_eq!(damaged_with(&report, "foreign_row"), swapped);
    let repair = strata(&data, &["check", "--repair"]);
    assert!(String::from_utf8_lossy(&repair.stdout).contains("2 tracks will be re-analysed by the next `strata index`"));

    let reindexed = index(&data);
    assert_eq!((reindexed["indexed"].as_u64(), reindexed["unchanged"].as_u64()), (Some(2), Some(2)));
    let (code, report) = check(&data, &[]);
    assert_eq!(code, 0, "{report:#}");
    let after = vectors_by_path(&data);
    assert_eq!(before.iter().map(|(p, _)| p).collect::<Vec<_>>(), after.iter().map(|(p, _)| p).collect::<Vec<_>>());
    for ((path, x), (_, y)) in before.iter().zip(&after) {
        for (lx, ly) in x.iter().zip(y) {
            let diff = lx.iter().zip(ly).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-2, "{}: vectors differ by {diff} after repair", path.display());
        }
    }
}

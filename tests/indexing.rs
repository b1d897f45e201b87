//! Indexing a real (generated) library: incremental runs, bad files, and
//! SIGKILL at random moments without losing or duplicating anything.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::storage::catalog::Catalog;
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;
use support::*;

fn index(data: &Path, music: &Path, extra: &[&str]) -> serde_json::Value {
    let output = strata_bin().arg("--data-dir").arg(data).args(["index", "--json", "--jobs", "1"]).args(extra).arg(music).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn incremental_runs_skip_unchanged_redo_changed_and_drop_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path(), 6);
    // One track cannot be read at first (all zeros); later it has its own bytes
    // again with the same size and modification time, as after a read error that went away.
    let flaky = music.join("Album A/02 Track.wav");
    let good_bytes = std::fs::read(&flaky).unwrap();
    std::fs::write(&flaky, vec![0u8; good_bytes.len()]).unwrap();
    let data = tmp.path().join("data");
    let first = index(&data, &music, &[]);
    assert_eq!(first["indexed"], 5);
    let reasons: Vec<String> = first["failed"].as_array().unwrap().iter().map(|f| f["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("too short")), "{reasons:?}");
    assert!(reasons.iter().all(|r| !r.is_empty()));
    let failed_at = std::fs::metadata(&flaky).unwrap().modified().unwrap();
    std::fs::write(&flaky, &good_bytes).unwrap();
    std::fs::File::options().write(true).open(&flaky).unwrap().set_modified(failed_at).unwrap();

    let second = index(&data, &music, &[]);
    assert_eq!((second["indexed"].as_u64(), second["unchanged"].as_u64()), (Some(0), Some(5)));
    // Failures are remembered, not retried, the readable track's too (its stamp did not change)…
    assert_eq!(second["failed"].as_array().unwrap().len(), 4);
    // …unless asked: then every failed file is analysed again, and the readable one is indexed.
    let retried = index(&data, &music, &["--retry-failed"]);
    assert_eq!((retried["indexed"].as_u64(), retried["unchanged"].as_u64()), (Some(1), Some(5)));
    let still_failing: Vec<&str> = retried["failed"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(still_failing.len(), 3, "{still_failing:?}");
    assert!(!still_failing.contains(&flaky.to_str().unwrap()), "{still_failing:?}");

    // A changed file is re-analysed; a deleted one disappears.
    let changed = music.join("Album B/01 Track.wav");
    write_wav(&changed, &tone(660.0, 22_050, 8.0), 1, 22_050);
    std::fs::remove_file(music.join("Album A/00 Track.flac")).unwrap();
    let third = index(&data, &music, &[]);
    assert_eq!((third["indexed"].as_u64(), third["removed"].as_u64()), (Some(1), Some(1)));
    let snapshot = LibrarySnapshot::load(&DataDir::at(&data), "musicnn").unwrap();
    assert_eq!(snapshot.len(), 5);
    assert!(snapshot.tracks.iter().all(|t| t.descriptors.is_some()));
    // Every track also has Strata's tonal layer, after the model's layers.
    let tonal = snapshot.layer_index(strata::analysis::tonal::LAYER_NAME).unwrap();
    assert_eq!(tonal, snapshot.model.manifest.layers.len());
    let tonal_rows = snapshot.layer_matrix(tonal);
    assert_eq!(tonal_rows.ncols(), strata::analysis::tonal::DIM);
    assert!(tonal_rows.rows().into_iter().all(|row| row.iter().any(|&v| v > 0.0)), "{tonal_rows:?}");
    // Nothing was written into the music folder.
    let written: Vec<_> = walk(&music).into_iter().filter(|p| p.extension().is_some_and(|e| e == "sqlite" || e == "f16")).collect();
    assert!(written.is_empty());
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path(), 24);
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    index(&reference, &music, &[]);
    let reference_s = started.elapsed().as_secs_f64();

    // Kill runs at random moments spread over what is left of the work; each
    // restart resumes from what the last one committed, so the next kill is
    // aimed inside the (shorter) remaining run.
    let data = tmp.path().join("killed");
    let mut rng = strata::prng::SplitMix64(2026);
    let committed = |data: &Path| -> usize {
        if !DataDir::at(data).catalog_path().exists() {
            return 0;
        }
        // The store must open after every kill.
        LibrarySnapshot::load(&DataDir::at(data), "musicnn").expect("the store opens after SIGKILL").len()
    };
    // The reference run times the kills; if the machine got faster since (a
    // build finished, say), a run can end before its kill: the kills then
    // start over on a fresh folder, timed by the last run over the whole
    // library. A run that fails instead of ending is an error.
    let mut time_scale_s = reference_s;
    let mut kills = 0;
    for _ in 0..24 {
        let remaining = 1.0 - committed(&data) as f64 / 24.0;
        if kills >= 4 || (remaining <= 0.0 && kills >= 3) {
            break;
        }
        if remaining <= 0.0 {
            // Everything got committed before enough kills: start over.
            std::fs::remove_dir_all(&data).unwrap();
            kills = 0;
            continue;
        }
        let mut child = strata_bin()
            .arg("--data-dir")
            .arg(&data)
            .args(["index", "--json", "--jobs", "1"])
            .arg(&music)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let fraction = 0.05 + 0.9 * rng.below(1000) as f64 / 1000.0;
        let kill_at = started + Duration::try_from_secs_f64(time_scale_s * remaining.max(0.15) * fraction).unwrap();
        let ended = loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a resumed indexing run failed: {status}");
                break Some(started.elapsed().as_secs_f64());
            }
            if Instant::now() >= kill_at {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        match ended {
            None => {
                let status = Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
                assert!(status.success());
                kills += 1;
                let _ = child.wait();
            }
            Some(run_s) if kills < 3 => {
                // Only a run over the whole library times the next ones well.
                if remaining >= 1.0 {
                    time_scale_s = run_s;
                }
                std::fs::remove_dir_all(&data).unwrap();
                kills = 0;
            }
            Some(_) => break,
        }
    }
    committed(&data);
    assert!(kills >= 3, "the indexer finished too fast to be interrupted ({kills} kills, runs timed at {time_scale_s:.1} s)");
    // Finish whatever is left, then compare with the uninterrupted run.
    index(&data, &music, &[]);
    let expected = vectors_by_path(&reference);
    let actual = vectors_by_path(&data);
    assert_eq!(expected.iter().map(|(p, _)| p).collect::<Vec<_>>(), actual.iter().map(|(p, _)| p).collect::<Vec<_>>());
    for ((path, a), (_, b)) in expected.iter().zip(&actual) {
        for (la, lb) in a.iter().zip(b) {
            let diff = la.iter().zip(lb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-2, "{}: vectors differ by {diff} after {kills} kills", path.display());
        }
    }
    // No duplicates: one analysis per track, rows distinct.
    let catalog = Catalog::open(&DataDir::at(&data).catalog_path()).unwrap();
    let analysed = catalog.analysed_tracks("musicnn").unwrap();
    let mut rows: Vec<u64> = analysed.iter().map(|(_, a)| a.store_row).collect();
    rows.dedup();
    assert_eq!(rows.len(), analysed.len());
    assert_eq!(analysed.len(), 24);
    assert_eq!(catalog.failures("musicnn").unwrap().len(), 3);
}

#[test]
fn a_track_shorter_than_one_model_window_is_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    // MusicNN hears 3 s windows; these last 1.2 s, 5 s and 0.1 s.
    write_wav(&music.join("cadenza.wav"), &tone(330.0, 22_050, 1.2), 1, 22_050);
    write_wav(&music.join("movement.wav"), &tone(220.0, 22_050, 5.0), 1, 22_050);
    write_wav(&music.join("click.wav"), &tone(330.0, 22_050, 0.1), 1, 22_050);
    let data = tmp.path().join("data");
    let report = index(&data, &music, &[]);
    assert_eq!(report["indexed"], 2, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(failed[0]["path"].as_str().unwrap().ends_with("click.wav") && failed[0]["reason"].as_str().unwrap().contains("too short"));
    // The short track has vectors like any other: it is a query and a result.
    let similar = strata_bin().arg("--data-dir").arg(&data).args(["similar", "--json"]).arg(music.join("cadenza.wav")).output().unwrap();
    assert!(similar.status.success(), "{}", String::from_utf8_lossy(&similar.stderr));
    assert!(String::from_utf8_lossy(&similar.stdout).contains("movement.wav"));
}

/// Readers (the window) reload the whole library on `Committed`: a pass
/// sends it when tracks changed, and a rescan of an unchanged library none.
#[test]
fn only_a_pass_that_changes_tracks_tells_readers_to_refresh() {
    use strata::indexer::{IndexControl, IndexEvent, IndexOptions, run};
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path(), 3);
    let data_dir = DataDir::at(tmp.path().join("data"));
    let commits = || {
        let (events, received) = crossbeam_channel::bounded(4096);
        let mut options = IndexOptions::new(vec![music.clone()]);
        options.jobs = 1;
        run(&data_dir, &options, &events, &IndexControl::default()).unwrap();
        received.try_iter().filter(|event| matches!(event, IndexEvent::Committed)).count()
    };
    assert!(commits() >= 1, "the first pass analyses the files");
    assert_eq!(commits(), 0, "nothing changed on disk");
    std::fs::remove_file(music.join("Album B").join("01 Track.wav")).unwrap();
    assert!(commits() >= 1, "a file's removal");
    assert_eq!(commits(), 0, "nothing changed since");
}

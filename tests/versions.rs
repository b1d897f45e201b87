//! Other recordings of the same piece through the real binary: `strata
//! versions` on an indexed library of synthetic pieces played twice (another
//! key, tempo, timbre, lead-in and codec) and `strata align` between two of them.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

mod support;

use std::path::{Path, PathBuf};

use support::{ffmpeg, strata_bin, write_wav};

const RATE: u32 = 22_050;

/// A piece: a sequence of chords (MIDI notes) with durations in beats.
struct Piece {
    chords: Vec<[u8; 3]>,
    beats: Vec<f32>,
}

impl Piece {
    /// A pseudo-random chord progression in a major key from `seed`.
    fn new(seed: u64, chords: usize) -> Self {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as u8
        };
        let scale = [0u8, 2, 4, 5, 7, 9, 11];
        let chords: Vec<[u8; 3]> = (0..chords)
            .map(|_| {
                let root = next(7) as usize;
                let note = |step: usize| 60 + scale[(root + step) % 7] + if root + step >= 7 { 12 } else { 0 };
                [note(0) - 12, note(2), note(4)]
            })
            .collect();
        let beats = (0..chords.len()).map(|_| [1.0, 1.0, 2.0, 0.5][next(4) as usize]).collect();
        Piece { chords, beats }
    }

    /// Renders the piece at `seconds_per_beat`, `transpose` semitones up, after
    /// `lead_in_s` of silence, with `brightness` shaping the harmonics; returns
    /// the samples and each chord's onset time.
    fn render(&self, seconds_per_beat: f32, transpose: i32, lead_in_s: f32, brightness: f32) -> (Vec<f32>, Vec<f64>) {
        let mut samples = vec![0.0f32; (lead_in_s * RATE as f32) as usize];
        let mut onsets = Vec::new();
        for (chord, &beats) in self.chords.iter().zip(&self.beats) {
            onsets.push(samples.len() as f64 / f64::from(RATE));
            let n = (beats * seconds_per_beat * RATE as f32) as usize;
            for i in 0..n {
                let t = i as f32 / RATE as f32;
                let envelope = (t / 0.01).min(1.0) * (-2.0 * t).exp();
                let mut v = 0.0;
                for &note in chord {
                    let hz = 440.0 * 2f32.powf((f32::from(note) + transpose as f32 - 69.0) / 12.0);
                    for h in 1..=4 {
                        v += (2.0 * std::f32::consts::PI * hz * h as f32 * t).sin() * brightness.powi(h - 1);
                    }
                }
                samples.push(0.08 * envelope * v);
            }
        }
        samples.extend(std::iter::repeat_n(0.0, RATE as usize));
        (samples, onsets)
    }
}

fn write_version(dir: &Path, name: &str, samples: &[f32], mp3: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let wav = dir.join(format!("{name}.wav"));
    write_wav(&wav, samples, 1, RATE);
    if !mp3 {
        return wav;
    }
    let encoded = ffmpeg(&wav, &wav.with_extension("mp3"), &["-c:a", "libmp3lame", "-b:a", "128k"]);
    std::fs::remove_file(&wav).unwrap();
    encoded
}

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
    // Two pieces in two versions each, and one piece alone.
    let mut expected = Vec::new();
    for (seed, piece) in [(11u64, "first"), (12, "second")] {
        let piece_notes = Piece::new(seed, 48);
        let (a, _) = piece_notes.render(0.45, 0, 0.0, 0.5);
        let (b, _) = piece_notes.render(0.55, -2, 3.0, 0.2);
        let a = write_version(&music.join("Ensemble One"), &format!("{piece} one"), &a, false);
        let b = write_version(&music.join("Ensemble Two"), &format!("{piece} two"), &b, true);
        expected.push((a, b));
    }
    let (alone, _) = Piece::new(13, 48).render(0.5, 0, 0.0, 0.4);
    let alone = write_version(&music.join("Ensemble One"), "alone", &alone, false);
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
    let again = run_json_lines(&["--data-dir", data_arg, "versions", "--all", "--json"]);
    assert_eq!(again, lines);
    let single = run_json_lines(&["--data-dir", data_arg, "versions", expected[0].0.to_str().unwrap(), "--json", "--k", "2"]);
    assert_eq!(single.len(), 1);
    assert_eq!(single[0]["results"].as_array().unwrap().len(), 2);
    assert_eq!(single[0]["results"][0]["path"], expected[0].1.display().to_string());
}

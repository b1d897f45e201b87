//! Absurd and unusual audio, generated in code: every file gets indexed or a
//! clear reason, one file's trouble never stops the others, and the summary
//! accounts for every file found.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

/// A WAV with any header fields, so tests can lie in them.
struct WavHeader {
    format_tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    /// What the data chunk claims to hold; `None` states the true length.
    claimed_data_len: Option<u32>,
}

fn write_raw_wav(path: &Path, header: &WavHeader, data: &[u8]) {
    let block_align = header.channels.saturating_mul(header.bits / 8);
    let data_len = header.claimed_data_len.unwrap_or(data.len() as u32);
    let mut bytes = Vec::with_capacity(44 + data.len());
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36u32.wrapping_add(data_len)).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&header.format_tag.to_le_bytes());
    bytes.extend_from_slice(&header.channels.to_le_bytes());
    bytes.extend_from_slice(&header.rate.to_le_bytes());
    bytes.extend_from_slice(&header.rate.wrapping_mul(u32::from(block_align)).to_le_bytes());
    bytes.extend_from_slice(&block_align.to_le_bytes());
    bytes.extend_from_slice(&header.bits.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn float_wav(path: &Path, samples: &[f32], rate: u32) {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    write_raw_wav(path, &WavHeader { format_tag: 3, channels: 1, rate, bits: 32, claimed_data_len: None }, &data);
}

fn pcm16_wav(path: &Path, header: WavHeader, samples: &[f32]) {
    let data: Vec<u8> = samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    write_raw_wav(path, &header, &data);
}

fn pcm16(channels: u16, rate: u32) -> WavHeader {
    WavHeader { format_tag: 1, channels, rate, bits: 16, claimed_data_len: None }
}

fn index_json(data: &Path, music: &Path) -> serde_json::Value {
    let mut child = strata_bin()
        // The user's default: no RUST_LOG.
        .env_remove("RUST_LOG")
        .arg("--data-dir")
        .arg(data)
        .args(["index", "--json"])
        .arg(music)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "indexing hung");
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Libraries stay out of the terminal: no log lines, no panic messages.
    assert!(!stderr.contains("WARN") && !stderr.contains("panicked"), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn paths_of(summary: &serde_json::Value, key: &str) -> Vec<(String, String)> {
    summary[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = PathBuf::from(f["path"].as_str().unwrap());
            (path.file_name().unwrap().to_string_lossy().into_owned(), f["reason"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn absurd_audio_gets_a_reason_and_unusual_audio_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    let rate = 22_050;
    let music_like = tone(220.0, rate, 8.0);

    // Valid but unusual: each must index.
    let mut expected_indexed = Vec::new();
    let mut valid = |name: &str| expected_indexed.push(name.to_string());
    let wav = music.join("source.wav");
    write_wav(&wav, &stereo(&music_like), 2, rate);
    ffmpeg(&wav, &music.join("surround.flac"), &["-af", "pan=5.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1", "-c:a", "flac"]);
    valid("surround.flac");
    ffmpeg(&wav, &music.join("deep.wav"), &["-c:a", "pcm_s24le"]);
    valid("deep.wav");
    ffmpeg(&wav, &music.join("apple.aiff"), &["-c:a", "pcm_s16be"]);
    valid("apple.aiff");
    ffmpeg(&wav, &music.join("lossless.m4a"), &["-c:a", "alac"]);
    valid("lossless.m4a");
    std::fs::remove_file(&wav).unwrap();
    pcm16_wav(&music.join("telephone.wav"), pcm16(1, 1_000), &tone(110.0, 1_000, 8.0));
    valid("telephone.wav");
    let clipped: Vec<f32> = music_like.iter().map(|s| (s * 6.0 + 0.3).clamp(-1.0, 1.0)).collect();
    pcm16_wav(&music.join("clipped.wav"), pcm16(1, rate), &clipped);
    valid("clipped.wav");
    // Some NaN and infinite samples in otherwise good audio: replaced, counted, indexed.
    let mut holes = music_like.clone();
    for i in (0..holes.len()).step_by(997) {
        holes[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    float_wav(&music.join("holes.wav"), &holes, rate);
    valid("holes.wav");
    // An hour of near-silence at a low rate (7 MB): analysed from excerpts, not refused.
    let hiss: Vec<f32> = (0..3_600_000u32).map(|i| 1e-4 * ((i.wrapping_mul(2_654_435_761) >> 16) as f32 / 65_536.0 - 0.5)).collect();
    pcm16_wav(&music.join("silence.wav"), pcm16(1, 1_000), &hiss);
    valid("silence.wav");
    // A data chunk that claims ~4 GiB but holds 8 s: the real samples index.
    pcm16_wav(&music.join("liar.wav"), WavHeader { claimed_data_len: Some(u32::MAX - 64), ..pcm16(1, rate) }, &music_like);
    valid("liar.wav");

    // Absurd: each must fail with a reason and stop nothing.
    float_wav(&music.join("all-nan.wav"), &vec![f32::NAN; rate as usize * 8], rate);
    pcm16_wav(&music.join("no-channels.wav"), pcm16(0, rate), &music_like);
    pcm16_wav(&music.join("zero-hz.wav"), pcm16(1, 0), &music_like);
    pcm16_wav(&music.join("one-hz.wav"), pcm16(1, 1), &music_like);
    pcm16_wav(&music.join("gigahertz.wav"), pcm16(1, 3_000_000_000), &music_like);
    pcm16_wav(&music.join("odd-bits.wav"), WavHeader { bits: 13, ..pcm16(1, rate) }, &music_like);
    let expected_failed = ["all-nan.wav", "no-channels.wav", "zero-hz.wav", "one-hz.wav", "gigahertz.wav", "odd-bits.wav"];

    let summary = index_json(&tmp.path().join("data"), &music);
    let failed = paths_of(&summary, "failed");
    let failed_names: Vec<&str> = failed.iter().map(|(name, _)| name.as_str()).collect();
    let found = summary["found"].as_u64().unwrap() as usize;
    assert_eq!(found, expected_indexed.len() + expected_failed.len(), "{summary}");
    assert_eq!(summary["indexed"].as_u64().unwrap() as usize, expected_indexed.len(), "{summary}");
    let mut sorted_failed = failed_names.clone();
    sorted_failed.sort_unstable();
    let mut sorted_expected = expected_failed.to_vec();
    sorted_expected.sort_unstable();
    assert_eq!(sorted_failed, sorted_expected, "{summary}");
    for (name, reason) in &failed {
        assert!(!reason.is_empty(), "{name} failed without a reason");
        // symphonia 0.5's WAV reader panics on a 0 Hz header (TimeBase::new(1, 0));
        // that panic is contained and fails this file only. Every other file is refused cleanly.
        assert!(name == "zero-hz.wav" || !reason.contains("crashed"), "{name}: a dependency panicked: {reason}");
    }
    assert!(failed.iter().any(|(n, r)| n == "zero-hz.wav" && (r.contains("sample rate") || r.contains("decoder crashed"))), "{failed:?}");
    assert!(failed.iter().any(|(n, r)| n == "all-nan.wav" && r.contains("NaN")), "{failed:?}");
    assert!(failed.iter().any(|(n, r)| n == "gigahertz.wav" && r.contains("sample rate")), "{failed:?}");
    // Every file found is accounted for, and the repaired one says what was repaired.
    let skipped = summary["skipped"].as_array().map_or(0, Vec::len);
    assert_eq!(summary["indexed"].as_u64().unwrap() as usize + failed.len() + skipped, found);
    let warnings = paths_of(&summary, "warnings");
    assert!(warnings.iter().any(|(n, r)| n == "holes.wav" && r.contains("non-finite")), "{warnings:?}");
}

#[test]
fn a_nan_file_among_good_ones_stops_nothing() {
    // The case that used to end the whole run: rubato panicked on NaN input
    // inside a decode worker and every other file went unindexed.
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path(), 6);
    let mut with_nan = tone(330.0, 44_100, 6.0);
    with_nan[1000] = f32::NAN;
    float_wav(&music.join("Album A/00 nan.wav"), &with_nan, 44_100);
    float_wav(&music.join("Album A/01 nan.wav"), &vec![f32::NAN; 44_100 * 6], 44_100);
    let summary = index_json(&tmp.path().join("data"), &music);
    // 6 good tracks + the one with a NaN hole; the all-NaN file and make_library's 3 broken files fail.
    assert_eq!(summary["indexed"], 7, "{summary}");
    assert_eq!(summary["failed"].as_array().unwrap().len(), 4, "{summary}");
    assert_eq!(summary["found"], 11, "{summary}");
}

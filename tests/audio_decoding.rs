//! Decoding real files of every supported format with symphonia, and
//! surviving broken ones.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use strata::audio::{AudioError, AudioFile, decode_mono};
use support::*;

#[test]
fn every_format_decodes_to_mono_at_the_model_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("source.wav");
    // A pure 440 Hz sine, so the pitch survives every codec.
    let sine: Vec<f32> = (0..44_100 * 3).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 44_100.0).sin()).collect();
    write_wav(&wav, &stereo(&sine), 2, 44_100);
    let encodes: Vec<(&str, Vec<&str>)> = vec![
        ("flac", vec!["-c:a", "flac"]),
        ("mp3", vec!["-c:a", "libmp3lame", "-b:a", "192k"]),
        ("ogg", vec!["-c:a", "libvorbis", "-q:a", "5"]),
        ("m4a", vec!["-c:a", "aac", "-b:a", "192k"]),
        ("aiff", vec!["-c:a", "pcm_s16be"]),
        ("alac.m4a", vec!["-c:a", "alac"]),
    ];
    let mut files = vec![wav.clone()];
    for (ext, args) in &encodes {
        files.push(ffmpeg(&wav, &tmp.path().join(format!("encoded.{ext}")), args));
    }
    for file in files {
        let audio = decode_mono(&file, Some(16_000)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(audio.sample_rate_hz, 16_000);
        let duration = audio.duration_s();
        assert!((duration - 3.0).abs() < 0.1, "{}: duration {duration}", file.display());
        assert!(audio.samples.iter().all(|s| s.is_finite()));
        let middle = &audio.samples[4_000..44_000];
        let freq = zero_crossing_frequency(middle, 16_000);
        assert!((freq - 440.0).abs() < 5.0, "{}: dominant frequency {freq}", file.display());
        // Mono mix of a full-level left and half-level right channel: amplitude 0.375.
        let peak = middle.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.375).abs() < 0.05, "{}: peak {peak}", file.display());
    }
}

#[test]
fn excerpts_seek_to_the_requested_time() {
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("ramp.wav");
    // 10 s whose frequency steps up each second: 200, 300, … Hz.
    let rate = 22_050;
    let signal: Vec<f32> = (0..rate * 10)
        .map(|i| {
            let second = i / rate;
            0.5 * (2.0 * std::f32::consts::PI * (200.0 + 100.0 * second as f32) * i as f32 / rate as f32).sin()
        })
        .collect();
    write_wav(&wav, &signal, 1, rate as u32);
    let flac = ffmpeg(&wav, &tmp.path().join("ramp.flac"), &["-c:a", "flac"]);
    for file in [wav, flac] {
        let mut audio = AudioFile::open(&file).unwrap();
        let excerpt = audio.read_excerpt(6.0, 1.0).unwrap().expect("seekable");
        assert_eq!(excerpt.samples.len(), rate);
        let freq = zero_crossing_frequency(&excerpt.samples[1000..20_000], rate as u32);
        assert!((freq - 800.0).abs() < 10.0, "{}: {freq} Hz at 6 s", file.display());
    }
}

#[test]
fn broken_files_give_reasons_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.mp3");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.path().join("text.ogg");
    std::fs::write(&text, "this is not audio at all, just words\n".repeat(50)).unwrap();
    let missing = tmp.path().join("missing.flac");
    for file in [&empty, &text] {
        let error = decode_mono(file, Some(16_000)).expect_err("must fail");
        assert!(matches!(error, AudioError::Unsupported(_) | AudioError::Empty | AudioError::NoAudioTrack), "{error}");
    }
    assert!(matches!(decode_mono(&missing, None), Err(AudioError::Io(_))));

    // A truncated FLAC keeps the audio before the cut.
    let wav = tmp.path().join("full.wav");
    write_wav(&wav, &tone(330.0, 44_100, 4.0), 1, 44_100);
    let flac = ffmpeg(&wav, &tmp.path().join("full.flac"), &["-c:a", "flac"]);
    let bytes = std::fs::read(&flac).unwrap();
    let truncated = tmp.path().join("truncated.flac");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let audio = decode_mono(&truncated, None).expect("partial audio");
    assert!(audio.duration_s() > 1.0 && audio.duration_s() < 3.5, "{}", audio.duration_s());

    // A WAV whose header claims ~4 GiB of data decodes what is really there.
    let mut huge = std::fs::read(&wav).unwrap();
    huge[4..8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    huge[40..44].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    let huge_path = tmp.path().join("huge-header.wav");
    std::fs::write(&huge_path, &huge).unwrap();
    let audio = decode_mono(&huge_path, None).expect("the real samples");
    assert!((audio.duration_s() - 4.0).abs() < 0.05);
}

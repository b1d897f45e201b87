//! Fixtures generated in code for the integration tests: WAV writing,
//! synthetic music-like signals, and ffmpeg encodes to the other formats.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes interleaved f32 samples as a 16-bit PCM WAV.
pub fn write_wav(path: &Path, interleaved: &[f32], channels: u16, rate: u32) {
    let data_len = (interleaved.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + data_len as usize);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    bytes.extend_from_slice(&(channels * 2).to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for &s in interleaved {
        bytes.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write wav");
}

/// A tone with a few harmonics and an envelope: something a tagger hears as music.
pub fn tone(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let envelope = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 0.5 * t).sin();
            let mut v = 0.0;
            for h in 1..=4 {
                v += (2.0 * std::f32::consts::PI * freq * h as f32 * t).sin() / h as f32;
            }
            0.3 * envelope * v
        })
        .collect()
}

/// Duplicates a mono signal to stereo, with the right channel at half level.
pub fn stereo(mono: &[f32]) -> Vec<f32> {
    mono.iter().flat_map(|&s| [s, 0.5 * s]).collect()
}

/// Encodes `src` to `dst` with ffmpeg (installed by `make test`'s set-up).
pub fn ffmpeg(src: &Path, dst: &Path, codec_args: &[&str]) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(codec_args)
        .arg(dst)
        .status()
        .expect("ffmpeg is needed for these tests: run `make test`, which installs it");
    assert!(status.success(), "ffmpeg failed to write {}", dst.display());
    dst.to_path_buf()
}

/// Estimates the dominant frequency by counting upward zero crossings.
pub fn zero_crossing_frequency(samples: &[f32], rate: u32) -> f32 {
    let crossings = samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    crossings as f32 * rate as f32 / samples.len() as f32
}

/// The strata binary built for these tests.
pub fn strata_bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command.env("RUST_LOG", "warn");
    command
}

/// A small library: tones and rhythms of different character, in WAV and FLAC,
/// plus the kinds of broken files real libraries contain.
pub fn make_library(root: &Path, tracks: usize) -> PathBuf {
    let music = root.join("music");
    std::fs::create_dir_all(music.join("Album A")).unwrap();
    std::fs::create_dir_all(music.join("Album B")).unwrap();
    std::fs::create_dir_all(music.join("_broken")).unwrap();
    for i in 0..tracks {
        let album = if i % 2 == 0 { "Album A" } else { "Album B" };
        let rate = 22_050;
        let mut signal = tone(110.0 * (1.0 + i as f32 * 0.37), rate, 9.0);
        // Every other track gets a pulse: a rhythm for the probe to find.
        if i % 2 == 1 {
            let period = rate as usize * 60 / (80 + 10 * i as usize);
            for (n, s) in signal.iter_mut().enumerate() {
                if n % period < 400 {
                    *s += 0.4 * (1.0 - (n % period) as f32 / 400.0) * ((n as f32 * 0.9).sin());
                }
            }
        }
        let wav = music.join(album).join(format!("{i:02} Track.wav"));
        write_wav(&wav, &signal, 1, rate);
        if i % 3 == 0 {
            ffmpeg(&wav, &wav.with_extension("flac"), &["-c:a", "flac"]);
            std::fs::remove_file(&wav).unwrap();
        }
    }
    std::fs::write(music.join("_broken/empty.mp3"), b"").unwrap();
    std::fs::write(music.join("_broken/text.ogg"), "just words\n".repeat(100)).unwrap();
    write_wav(&music.join("_broken/short.wav"), &tone(440.0, 16_000, 0.05), 1, 16_000);
    std::fs::write(music.join(".hidden.flac"), b"never read").unwrap();
    music
}


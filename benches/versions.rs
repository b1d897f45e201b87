//! Speed and memory of the versions feature at sizes the tests do not reach:
//! aligning two 10-minute recordings, and `find_versions` over a 10,000-track
//! library. `cargo bench --bench versions [-- SIZES…]` (release profile); peak memory is
//! the process's resident high-water mark, reset before each measurement.
//!
//! The recordings are synthetic: a 10-minute chord sequence with harmonics,
//! and the same sequence 3 semitones higher, 20 % slower with a slow tempo
//! swing, after 4 s of silence. The library is synthetic at the feature level:
//! CENS-like sequences of 60–600 frames (0.5–5 min at 2 frames/s), each chord
//! with a bass (its root, third or fifth), a fifth of them in groups of 2–4
//! versions (key-shifted, tempo-changed, noisy copies).

use std::time::Instant;

use strata::prng::SplitMix64;
use strata::versions::features::{Chroma, IdentFeatures, N_CHROMA, mean_of, rotate, unit_or_uniform};
use strata::versions::{SearchOptions, align, find_versions};

const RATE: u32 = 22_050;

fn main() {
    let dir = std::env::temp_dir().join(format!("strata-versions-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp folder: {e}"));
    let (a, b) = (dir.join("a.wav"), dir.join("b.wav"));
    write_recording(&a, 600.0, 1.0, 0, 0.0);
    write_recording(&b, 600.0, 1.25, 3, 4.0);
    reset_peak_memory();
    let start = Instant::now();
    let alignment = align::align_files(&a, &b).unwrap_or_else(|e| panic!("align: {e}"));
    println!(
        "align 10 min with 12.5 min: {:.2} s, peak memory {} MiB, {} map points",
        start.elapsed().as_secs_f64(),
        peak_memory_mib(),
        alignment.map.len()
    );
    let _ = std::fs::remove_dir_all(&dir);

    // Sizes from the command line (after cargo's `--bench`), else 1,000 and 10,000.
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    for tracks in if sizes.is_empty() { vec![1_000, 10_000] } else { sizes } {
        let (library, groups) = synthetic_library(tracks);
        let two_stages = SearchOptions { shortlist: SearchOptions::default().candidates, ..SearchOptions::default() };
        // The default first: at 10,000 tracks each line takes half an hour.
        for (stages, options) in [("summary → coarse → verification", SearchOptions::default()), ("summary → verification", two_stages)]
        {
            reset_peak_memory();
            let start = Instant::now();
            let found = find_versions(&library, options);
            let seconds = start.elapsed().as_secs_f64();
            // Recall: other versions found with confidence ≥ 0.5, of all; and confident results that are not versions.
            let (mut truth, mut hits, mut false_alarms) = (0, 0, 0);
            for (q, results) in found.iter().enumerate() {
                truth += groups.iter().enumerate().filter(|&(t, &g)| t != q && g == groups[q]).count();
                for m in results.iter().filter(|m| m.confidence >= 0.5) {
                    if groups[m.track] == groups[q] { hits += 1 } else { false_alarms += 1 }
                }
            }
            println!(
                "find_versions on {tracks} synthetic tracks ({stages}): {seconds:.1} s, peak memory {} MiB, recall at 0.5 {:.3}, {false_alarms} false confident results",
                peak_memory_mib(),
                hits as f64 / truth.max(1) as f64
            );
        }
    }
}

/// A chord sequence (one chord every 0.5 s of the reference) rendered with
/// `slowdown` and a ±5 % tempo swing, `transpose` semitones up, after `lead_in_s`.
fn write_recording(path: &std::path::Path, reference_s: f64, slowdown: f64, transpose: i32, lead_in_s: f64) {
    let mut rng = SplitMix64(42);
    let chords: Vec<[i32; 3]> = (0..(reference_s * 2.0) as usize)
        .map(|_| {
            let root = 48 + rng.below(12) as i32;
            [root, root + 4 - rng.below(2) as i32, root + 7]
        })
        .collect();
    let mut samples = vec![0i16; (lead_in_s * f64::from(RATE)) as usize];
    for (k, chord) in chords.iter().enumerate() {
        let swing = 1.0 + 0.05 * (k as f64 / 40.0).sin();
        let n = (0.5 * slowdown * swing * f64::from(RATE)) as usize;
        for i in 0..n {
            let t = i as f64 / f64::from(RATE);
            let mut v = 0.0;
            for &note in chord {
                let hz = 440.0 * 2f64.powf(f64::from(note + transpose - 69) / 12.0);
                for h in 1..=3 {
                    v += (2.0 * std::f64::consts::PI * hz * f64::from(h) * t).sin() / f64::from(h);
                }
            }
            samples.push((v * 0.1 * (-3.0 * t).exp() * 32767.0 / 3.0) as i16);
        }
    }
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut bytes = Vec::with_capacity(44 + data.len());
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    for field in [16u32.to_le_bytes().as_slice(), &1u16.to_le_bytes(), &1u16.to_le_bytes(), &RATE.to_le_bytes(), &(RATE * 2).to_le_bytes()]
    {
        bytes.extend_from_slice(field);
    }
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `tracks` CENS-like sequences, and each one's piece; every fifth track starts a group of 2–4 versions.
fn synthetic_library(tracks: usize) -> (Vec<IdentFeatures>, Vec<usize>) {
    let mut rng = SplitMix64(7);
    let mut library = Vec::with_capacity(tracks);
    let mut groups = Vec::with_capacity(tracks);
    while library.len() < tracks {
        let frames = 60 + rng.below(540);
        // Each chord with its bass: the root, or the third or fifth (an inversion).
        let piece: Vec<(Chroma, Chroma)> = (0..frames / 4)
            .map(|_| {
                let root = rng.below(N_CHROMA);
                let mut v = [0.05f32; N_CHROMA];
                for step in [0, 4, 7] {
                    v[(root + step) % N_CHROMA] = 1.0;
                }
                let mut bass = [0.05f32; N_CHROMA];
                bass[(root + [0, 4, 7][rng.below(3)]) % N_CHROMA] = 1.0;
                (unit_or_uniform(&v), unit_or_uniform(&bass))
            })
            .collect();
        let versions = if library.len() % 5 == 0 { 2 + rng.below(3) } else { 1 };
        let group = library.len();
        for _ in 0..versions.min(tracks - library.len()) {
            let shift = rng.below(N_CHROMA);
            let frames_per_chord = 3.0 + 2.0 * f64::from(rng.symmetric_unit().abs());
            let (cens, bass): (Vec<Chroma>, Vec<Chroma>) = (0..(piece.len() as f64 * frames_per_chord) as usize)
                .map(|t| {
                    let (chord, bass) = &piece[(t as f64 / frames_per_chord) as usize];
                    let mut noisy = |v: &Chroma| unit_or_uniform(&rotate(v, shift).map(|x| x + 0.2 * rng.symmetric_unit().abs()));
                    (noisy(chord), noisy(bass))
                })
                .unzip();
            library.push(IdentFeatures { mean: mean_of(&cens), cens, bass });
            groups.push(group);
        }
    }
    (library, groups)
}

fn reset_peak_memory() {
    // Writing 5 to clear_refs resets the resident high-water mark (Linux).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_memory_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

//! The tonal layer on real audio: chords rendered to files, decoded by
//! symphonia, analysed the way indexing does (22.05 kHz chroma, then the
//! tonal profile), and compared after transposition.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::Path;

use strata::analysis::descriptors::DescriptorAnalyzer;
use strata::analysis::tonal::DIM;
use strata::analysis::{Sampling, decode_excerpts, describe_excerpts};
use support::*;

const RATE: u32 = 44_100;

/// Equal-tempered frequency of a MIDI note.
fn midi_hz(note: i32) -> f32 {
    440.0 * 2f32.powf((note - 69) as f32 / 12.0)
}

/// Chords (MIDI notes) of `seconds` each, every note a decaying harmonic tone.
fn render(chords: &[Vec<i32>], seconds: f32) -> Vec<f32> {
    let per_chord = (RATE as f32 * seconds) as usize;
    let mut out = vec![0.0f32; per_chord * chords.len()];
    for (c, chord) in chords.iter().enumerate() {
        for &note in chord {
            let freq = midi_hz(note);
            for i in 0..per_chord {
                let t = i as f32 / RATE as f32;
                let envelope = (-1.5 * t).exp() * (1.0 - (-80.0 * t).exp());
                let voice: f32 = (1..=5).map(|h| (2.0 * std::f32::consts::PI * freq * h as f32 * t).sin() * 0.6f32.powi(h - 1)).sum();
                out[c * per_chord + i] += 0.12 * envelope * voice;
            }
        }
    }
    out
}

/// Decodes `file` and returns its tonal layer, both as indexing does.
fn tonal_layer_of_file(file: &Path) -> Vec<f32> {
    let excerpts = decode_excerpts(file, Sampling::DEFAULT).unwrap().excerpts;
    describe_excerpts(&excerpts, &mut DescriptorAnalyzer::new()).unwrap().tonal
}

/// Writes `samples` as FLAC, decodes the file back and returns its tonal layer.
fn tonal_layer_of(dir: &Path, name: &str, samples: &[f32]) -> Vec<f32> {
    let wav = dir.join(format!("{name}.wav"));
    write_wav(&wav, &stereo(samples), 2, RATE);
    let layer = tonal_layer_of_file(&ffmpeg(&wav, &wav.with_extension("flac"), &["-c:a", "flac"]));
    assert!(layer.iter().any(|&v| v > 0.0), "{name}: no music heard");
    layer
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>().sqrt()
}

/// I–IV–V–I in the major key on `tonic`, close position.
fn cadence(tonic: i32) -> Vec<Vec<i32>> {
    [[0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]].iter().map(|c| c.iter().map(|i| tonic + i).collect()).collect()
}

#[test]
fn transposed_music_keeps_its_profile_and_other_harmony_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let progression: Vec<Vec<i32>> = cadence(60).into_iter().cycle().take(12).collect();
    let in_c = tonal_layer_of(tmp.path(), "c", &render(&progression, 1.5));
    let up_a_third: Vec<Vec<i32>> = cadence(63).into_iter().cycle().take(12).collect();
    let in_e_flat = tonal_layer_of(tmp.path(), "e-flat", &render(&up_a_third, 1.5));
    // Whole-tone clusters and chromatic clusters, the same rhythm and register.
    let whole_tone: Vec<Vec<i32>> = (0..12).map(|i| vec![60 + 2 * (i % 2), 64 + 2 * (i % 2), 68 + 2 * (i % 2)]).collect();
    let whole = tonal_layer_of(tmp.path(), "whole-tone", &render(&whole_tone, 1.5));
    let clusters: Vec<Vec<i32>> = (0..12).map(|i| vec![60 + i, 61 + i, 62 + i, 63 + i]).collect();
    let chromatic = tonal_layer_of(tmp.path(), "chromatic", &render(&clusters, 1.5));

    for v in [&in_c, &in_e_flat, &whole, &chromatic] {
        assert_eq!(v.len(), DIM);
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }
    let same_music = distance(&in_c, &in_e_flat);
    let other_music = distance(&in_c, &whole).min(distance(&in_c, &chromatic));
    assert!(same_music * 4.0 < other_music, "transposed {same_music}, other harmony {other_music}");
    // Mean magnitudes at the 1 s span: index k-1 for coefficient k.
    let (k1, k3, k5) = (0, 2, 4);
    assert!(whole[k3] > whole[k5] && in_c[k5] > whole[k5], "whole-tone {whole:?}\ncadence {in_c:?}");
    assert!(chromatic[k1] > in_c[k1] && chromatic[k1] > whole[k1], "chromatic {chromatic:?}");
}

#[test]
fn room_noise_after_the_music_does_not_count_as_music() {
    let tmp = tempfile::tempdir().unwrap();
    let progression: Vec<Vec<i32>> = cadence(62).into_iter().cycle().take(8).collect();
    let music = render(&progression, 1.5);
    // The same phrases and then 10 s of hiss about 70 dB down, like the end of a CD track.
    let mut rng = strata::prng::SplitMix64(3);
    let mut with_hiss = music.clone();
    with_hiss.extend((0..10 * RATE as usize).map(|_| 1e-4 * rng.symmetric_unit()));
    let clean = tonal_layer_of(tmp.path(), "clean", &music);
    let hissy = tonal_layer_of(tmp.path(), "hissy", &with_hiss);
    // Without the silence gate the hiss moves it by 53 % of its length; what
    // remains (5 %) is its effect elsewhere, such as on the tuning estimate.
    let drift = distance(&clean, &hissy);
    assert!(drift < 0.1 * clean.iter().map(|v| v * v).sum::<f32>().sqrt(), "hiss moved the profile by {drift}:\n{clean:?}\n{hissy:?}");
}

#[test]
fn silence_gives_a_zero_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("silence.wav");
    write_wav(&wav, &vec![0.0; RATE as usize * 5], 1, RATE);
    assert_eq!(tonal_layer_of_file(&wav), vec![0.0; DIM]);
}

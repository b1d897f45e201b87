//! MERT through ONNX Runtime, on the tiny committed model of the same
//! topology (`models/export_mert.py --tiny`): all hidden states, stacked
//! output indexing, and Rust-side zero-mean/unit-variance normalisation.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::PathBuf;

use strata::analysis::{TrackEmbedding, embed_audio};
use strata::audio::MonoAudio;
use strata::model::{ModelSession, ProviderPreference, SessionOptions, find_model};
use support::mert_reference_input;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn tiny_mert_matches_pytorch_reference_on_every_layer() {
    let info = find_model("mert-tiny", &[fixture_dir()]).unwrap();
    let mut session =
        ModelSession::open(&info, SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: None }).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("mert-tiny/reference.json")).unwrap()).unwrap();
    // The window is raw audio: the session normalises it (MERT's preprocessing) before the graph.
    let raw = mert_reference_input();
    let out = session.embed(&[&raw]).unwrap();
    let expected = reference["layer_means"][0].as_array().unwrap();
    assert_eq!(out[0].layer_vectors.len(), expected.len(), "one vector per hidden state");
    for (layer, (got, want)) in out[0].layer_vectors.iter().zip(expected).enumerate() {
        let want: Vec<f64> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let diff = got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
        assert!(diff < 1e-4, "layer {layer}: max abs difference {diff}");
    }
    // Scaling the input changes nothing after normalisation.
    let louder: Vec<f32> = raw.iter().map(|v| v * 3.0).collect();
    let scaled = session.embed(&[&louder]).unwrap();
    let diff = scaled[0].layer_vectors[2].iter().zip(&out[0].layer_vectors[2]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "normalisation missing: {diff}");
}

#[test]
fn windows_of_a_track_are_embedded_one_by_one_and_pooled() {
    let info = find_model("mert-tiny", &[fixture_dir()]).unwrap();
    let mut session =
        ModelSession::open(&info, SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: None }).unwrap();
    let mut samples = mert_reference_input();
    samples.extend(mert_reference_input().iter().map(|v| v * 0.5));
    samples.extend(vec![0.01f32; 12_000]); // a half window at the end is dropped
    let mut track = TrackEmbedding::default();
    embed_audio(&mut session, &MonoAudio { samples, sample_rate_hz: 24_000 }, 10.0, &mut track).unwrap();
    assert_eq!(track.window_starts_s, vec![10.0, 11.0]);
    let pooled = track.pooled_layers().unwrap();
    assert_eq!(pooled.len(), 3);
    assert!(pooled.iter().all(|v| v.len() == 32 && v.iter().all(|x| x.is_finite())));
}

//! The shipped MusicNN model through a real ONNX Runtime session.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::PathBuf;

use strata::audio::decode_mono;
use strata::model::{ModelSession, Pooling, ProviderPreference, SessionOptions, find_model};

fn musicnn() -> ModelSession {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let info = find_model("musicnn", &[models]).expect("models/musicnn ships with the repository");
    ModelSession::open(&info, SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: None })
        .expect("ONNX Runtime is set up by `make test`")
}

#[test]
fn outputs_have_manifest_shapes_and_are_deterministic() {
    let mut session = musicnn();
    let manifest = session.info().manifest.clone();
    let window: Vec<f32> = support::tone(220.0, manifest.sample_rate_hz, manifest.window_s as f32);
    let other: Vec<f32> = support::tone(523.0, manifest.sample_rate_hz, manifest.window_s as f32);
    let batch = session.embed(&[&window, &other]).unwrap();
    assert_eq!(batch.len(), 2);
    for (vector, layer) in batch[0].layer_vectors.iter().zip(&manifest.layers) {
        assert_eq!(vector.len(), layer.dim, "layer {}", layer.name);
        assert!(vector.iter().all(|v| v.is_finite()), "layer {}", layer.name);
    }
    // The same input gives the same output, batched or alone.
    let alone = session.embed(&[&window]).unwrap();
    for (a, b) in alone[0].layer_vectors.iter().zip(&batch[0].layer_vectors) {
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "batching changed an output by {diff}");
    }
    // Different audio gives different tags.
    let tags = manifest.layers.iter().position(|l| l.name == "taggram").unwrap();
    assert_ne!(batch[0].layer_vectors[tags], batch[1].layer_vectors[tags]);
    // Taggram scores are sigmoid outputs.
    assert!(batch[0].layer_vectors[tags].iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn matches_tensorflow_reference_values() {
    let golden_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden_dir.join("musicnn_clip.json")).unwrap()).unwrap();
    let clip = decode_mono(&golden_dir.join("musicnn_clip.wav"), Some(16_000)).unwrap();
    let mut session = musicnn();
    let manifest = session.info().manifest.clone();
    // The whole clip in one call: the graph cuts it into the same patches the reference saw.
    let embedded = session.embed(&[&clip.samples]).unwrap();
    let patches = golden["patches"].as_u64().unwrap() as usize;
    assert!(patches >= 2, "the golden clip should span several patches");
    for (layer, vector) in manifest.layers.iter().zip(&embedded[0].layer_vectors) {
        let reference = golden["outputs"][&layer.output].as_array().unwrap_or_else(|| panic!("no golden for {}", layer.output));
        assert_eq!(reference.len(), patches);
        let mut worst = 0.0f64;
        for d in 0..layer.dim {
            let values = reference.iter().map(|p| p[d].as_f64().unwrap());
            let pooled = match layer.pool {
                Pooling::Max => values.fold(f64::NEG_INFINITY, f64::max),
                _ => values.sum::<f64>() / patches as f64,
            };
            // Relative to magnitude: max_pool values reach ~100 (float16 rounding in the front-end).
            worst = worst.max((pooled - f64::from(vector[d])).abs() / (1.0 + pooled.abs()));
        }
        assert!(worst < 1e-4, "layer {}: difference {worst} (relative to 1+|ref|) from TensorFlow", layer.name);
    }
}

#[test]
fn too_short_input_gives_no_patches_not_an_error() {
    let mut session = musicnn();
    let short = vec![0.1f32; 16_000];
    let out = session.embed(&[&short]).unwrap();
    // Pooling zero patches yields zero vectors; the caller reports "too short".
    assert!(out[0].layer_vectors.iter().all(|v| v.iter().all(|&x| x == 0.0)));
}

#[test]
fn a_window_budget_embeds_windows_spread_over_the_track() {
    use strata::analysis::{Excerpt, embed_excerpts};
    use strata::audio::MonoAudio;
    let mut session = musicnn();
    // Two 6.5 s excerpts at 44.1 kHz, each holding two 3 s windows, with different music.
    let excerpt =
        |start_s: f64, hz: f32| Excerpt { start_s, audio: MonoAudio { samples: support::tone(hz, 44_100, 6.5), sample_rate_hz: 44_100 } };
    let excerpts = [excerpt(10.0, 220.0), excerpt(40.0, 523.0)];
    let every = embed_excerpts(&mut session, &excerpts, None).unwrap();
    assert_eq!(every.window_starts_s, vec![10.0, 13.0, 40.0, 43.0]);
    // Two of the four: the centres of two equal shares, one in each excerpt.
    let two = embed_excerpts(&mut session, &excerpts, Some(2)).unwrap();
    assert_eq!(two.window_starts_s, vec![13.0, 43.0]);
    for (chosen, same) in two.windows.iter().zip([&every.windows[1], &every.windows[3]]) {
        assert_eq!(chosen.layer_vectors, same.layer_vectors, "a chosen window is embedded as in the full pass");
    }
    // A budget above what the excerpts hold takes them all.
    assert_eq!(embed_excerpts(&mut session, &excerpts, Some(9)).unwrap().window_starts_s.len(), 4);
}

//! Strata's benchmarks, each beside a reference measured in the same run.
//!
//! `cargo bench --profile dev --bench strata -- <which> [args]`:
//! - `pipeline DIR`   decode-only vs decode+resample vs full MusicNN analysis vs
//!   the default excerpt sampling, over every audio file in DIR;
//! - `store`          open time and resident memory of synthetic 100,000-track stores;
//! - `search`         query and rerank over 100,000 × 13 × 768, beside a plain dot loop;
//! - `map`            PCA and t-SNE at several sizes.
//! Linux only (CPU time and RSS come from /proc).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ndarray::Array2;
use strata::analysis::{Sampling, TrackEmbedding, decode_excerpts, embed_audio};
use strata::audio::AudioFile;
use strata::catalog::{Catalog, FileStamp, TrackTags};
use strata::model::{ModelSession, ProviderPreference, SessionOptions, find_model};
use strata::prng::SplitMix64;
use strata::search::{Facet, LayerIndex, SearchEngine};
use strata::snapshot::LibrarySnapshot;
use strata::store::{StoreLayout, StoreWriter};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn audio_files(dir: &Path) -> Vec<PathBuf> {
    let (found, _) = strata::library::scan(&[dir.to_path_buf()]);
    found.into_iter().map(|f| f.path).collect()
}

struct Measured {
    name: &'static str,
    wall_s: f64,
    cpu_s: f64,
    audio_s: f64,
}

fn measure(name: &'static str, files: &[PathBuf], mut work: impl FnMut(&Path) -> f64) -> Measured {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let audio_s: f64 = files.iter().map(|f| work(f)).sum();
    Measured { name, wall_s: wall.elapsed().as_secs_f64(), cpu_s: cpu_seconds() - cpu, audio_s }
}

fn pipeline(dir: &Path) {
    let files = audio_files(dir);
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let info = find_model("musicnn", &[models]).expect("musicnn");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut session = ModelSession::open(&info, SessionOptions { provider: ProviderPreference::Cpu, intra_threads: cores }).expect("session");
    let rate = info.manifest.sample_rate_hz;
    println!("{} files, {} cores, single pipeline thread + ORT intra-op threads", files.len(), cores);
    let decode = measure("decode only (reference)", &files, |f| {
        AudioFile::open(f).and_then(|mut a| a.read_to_end()).map_or(0.0, |a| a.duration_s())
    });
    let resample = measure("decode + resample to 16 kHz", &files, |f| {
        strata::audio::decode_mono(f, Some(rate)).map_or(0.0, |a| a.duration_s())
    });
    let full_session_run = |sampling: Sampling| {
        move |f: &Path, session: &mut ModelSession| -> f64 {
            let Ok((excerpts, duration)) = decode_excerpts(f, sampling) else { return 0.0 };
            let mut track = TrackEmbedding::default();
            for excerpt in excerpts {
                if let Ok(audio) = excerpt.audio.resampled(rate) {
                    let _ = embed_audio(session, &audio, excerpt.start_s, &mut track);
                }
            }
            duration
        }
    };
    let run_full = full_session_run(Sampling::Full);
    let full = measure("decode + resample + MusicNN, every second", &files, |f| run_full(f, &mut session));
    let run_default = full_session_run(Sampling::DEFAULT);
    let spread = measure("default sampling (8 × 6 s excerpts)", &files, |f| run_default(f, &mut session));
    println!("{:<44} {:>10} {:>14} {:>14} {:>10}", "stage", "wall s", "audio-s/wall-s", "CPU-s/audio-s", "vs decode");
    for m in [&decode, &resample, &full, &spread] {
        println!(
            "{:<44} {:>10.2} {:>14.1} {:>14.4} {:>9.2}×",
            m.name,
            m.wall_s,
            m.audio_s / m.wall_s,
            m.cpu_s / m.audio_s.max(1e-9),
            m.wall_s / decode.wall_s
        );
    }
}

fn synthetic_store(root: &Path, model: &str, layer_dims: Vec<usize>, tracks: usize) -> StoreLayout {
    let layout = StoreLayout { dir: root.join("vectors").join(model), layer_dims: layer_dims.clone(), passage_layer: layer_dims.len() - 1 };
    let mut writer = StoreWriter::open(&layout, 0, 0).expect("store");
    let mut rng = SplitMix64(1);
    let mut catalog = Catalog::open(&root.join("catalog.sqlite")).expect("catalog");
    let batch = catalog.batch().expect("batch");
    for t in 0..tracks {
        let layers: Vec<Vec<f32>> = layer_dims.iter().map(|&d| (0..d).map(|_| rng.symmetric_unit()).collect()).collect();
        let window = layers[layout.passage_layer].clone();
        let (row, window_row) = writer.append(&layers, &[&window]).expect("append");
        let path = PathBuf::from(format!("/music/{t:06}.flac"));
        let stamp = FileStamp { size: 1, mtime_ns: 1 };
        let id = batch.upsert_track(&path, stamp, &TrackTags::default(), Some(300.0), None).expect("track");
        batch.record_done(id, model, 1, "spread-8x6", stamp, row, window_row, &[0.0]).expect("analysis");
    }
    batch.commit().expect("commit");
    writer.sync().expect("sync");
    layout
}

fn store() {
    for (model, dims) in [("musicnn", vec![408, 153, 64, 64, 64, 753, 753, 200, 50]), ("mert-synthetic", vec![768; 13])] {
        let tmp = tempfile::tempdir().expect("tmp");
        let models_dir = tmp.path().join("models").join(model);
        std::fs::create_dir_all(&models_dir).expect("dir");
        write_manifest(&models_dir, model, &dims);
        let built = Instant::now();
        synthetic_store(tmp.path(), model, dims.clone(), 100_000);
        let bytes: u64 = std::fs::read_dir(tmp.path().join("vectors").join(model)).expect("dir").flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum();
        let rss_before = rss_mb("VmRSS");
        let opened = Instant::now();
        let snapshot = LibrarySnapshot::load(tmp.path(), model).expect("open");
        let open_s = opened.elapsed().as_secs_f64();
        println!(
            "{model:<16} 100,000 tracks: build {:.1} s, store {:.0} MB ({} B/track), open {:.3} s, RSS +{:.0} MB after open ({} tracks)",
            built.elapsed().as_secs_f64(),
            bytes as f64 / 1e6,
            bytes / 100_000,
            open_s,
            rss_mb("VmRSS") - rss_before,
            snapshot.len()
        );
    }
}

fn write_manifest(dir: &Path, model: &str, dims: &[usize]) {
    let mut text = format!(
        "name = \"{model}\"\ndisplay_name = \"{model}\"\nlicense = \"none\"\nsample_rate_hz = 16000\ninput_name = \"waveform\"\nwindow_s = 3.0\nhop_s = 3.0\n"
    );
    for (i, d) in dims.iter().enumerate() {
        text.push_str(&format!("[[layers]]\nname = \"layer_{i}\"\noutput = \"o\"\ndim = {d}\npool = \"none\"\n"));
    }
    std::fs::write(dir.join("manifest.toml"), text).expect("manifest");
    std::fs::write(dir.join("model.onnx"), b"").expect("model placeholder file for discovery");
}

fn search() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dims = vec![768; 13];
    let model = "mert-synthetic";
    let models_dir = tmp.path().join("models").join(model);
    std::fs::create_dir_all(&models_dir).expect("dir");
    write_manifest(&models_dir, model, &dims);
    synthetic_store(tmp.path(), model, dims, 100_000);
    let snapshot = Arc::new(LibrarySnapshot::load(tmp.path(), model).expect("open"));
    let mut engine = SearchEngine::new(snapshot.clone(), true);
    let facets: Vec<Facet> = (0..6).map(|i| Facet { name: format!("aspect{i}"), layer: i * 2 }).collect();
    let prepared = Instant::now();
    for f in &facets {
        engine.layer(f.layer);
    }
    println!("prepare 6 layer indexes (f16 → centred, normalised f32): {:.2} s, RSS {:.0} MB", prepared.elapsed().as_secs_f64(), rss_mb("VmRSS"));
    let runs = 20;
    let started = Instant::now();
    let mut scores = None;
    for q in 0..runs {
        scores = Some(engine.query(q * 997, &facets));
    }
    let query_ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    let Some(scores) = scores else { return };
    let started = Instant::now();
    let mut weights = vec![1.0f32; facets.len()];
    for r in 0..runs {
        weights[r % facets.len()] = (r as f32 * 0.37).fract();
        let _ = scores.rank(&weights, 50, &|_| false);
    }
    let rerank_ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    // Reference: a plain ndarray dot product of one query against one layer.
    let layer: &LayerIndex = &engine.layer(0);
    let matrix: &Array2<f32> = layer.vectors();
    let started = Instant::now();
    for q in 0..runs {
        let _ = matrix.dot(&matrix.row(q));
    }
    let dot_ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    println!("100,000 × 768, 6 aspects on 6 layers (of 13):");
    println!("  plain ndarray dot, one layer (reference): {dot_ms:.2} ms");
    println!("  full query, 6 layers:  {query_ms:.2} ms  ({:.2}× the one-layer dot)", query_ms / dot_ms);
    println!("  rerank after a weight change: {rerank_ms:.2} ms  ({:.3}× the one-layer dot)", rerank_ms / dot_ms);
}

fn map() {
    let mut rng = SplitMix64(3);
    for (n, method) in [(10_000, strata::map::Method::Pca), (100_000, strata::map::Method::Pca), (2_000, strata::map::Method::Tsne), (10_000, strata::map::Method::Tsne)] {
        // Clustered data (20 clusters) so t-SNE has structure to find.
        let features = Array2::from_shape_fn((n, 768), |(i, j)| if j % 20 == i % 20 { 3.0 } else { 0.0 } + rng.symmetric_unit());
        let started = Instant::now();
        let points = strata::map::project(&features, method, 42, &mut |_, _| {}, &|| false).expect("projection");
        println!("{method:?} {n} × 768 → {} points: {:.2} s", points.len(), started.elapsed().as_secs_f64());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.first().map(String::as_str) {
        Some("pipeline") => pipeline(Path::new(args.get(1).map_or("../strata-dev-library", String::as_str))),
        Some("store") => store(),
        Some("search") => search(),
        Some("map") => map(),
        _ => eprintln!("usage: cargo bench --profile dev --bench strata -- pipeline DIR | store | search | map"),
    }
}

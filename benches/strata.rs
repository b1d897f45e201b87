//! Strata's benchmarks, each beside a reference measured in the same run.
//!
//! `cargo bench --profile dev --bench strata -- <which> [args]`:
//! - `pipeline DIR`   decode-only vs decode+resample vs full MusicNN analysis vs
//!   the default excerpt sampling, and the descriptors with and without the
//!   tonal layer, over every audio file in DIR;
//! - `store`          open time and resident memory of synthetic 100,000-track stores;
//! - `search`         query and rerank over 100,000 × 13 × 768, beside a plain dot loop;
//! - `map`            PCA and t-SNE at several sizes;
//! - `scale DIR…`     on libraries written by `strata synth-library --mert`
//!   (e.g. 100,000 and 300,000 tracks): open, `similar` over all 13 layers,
//!   rerank, PCA of one 768-dim layer and blocked `neighbours --all` by
//!   full products and through the search heads (timed on parts of the
//!   queries and scaled up), with resident memory.
//!
//! Linux only (CPU time and RSS come from /proc).
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[path = "../tests/support/mod.rs"]
mod support;

use ndarray::Array2;
use strata::analysis::descriptors::DescriptorAnalyzer;
use strata::analysis::{DESCRIPTOR_RATE_HZ, DecodedExcerpts, Sampling, TrackEmbedding, decode_excerpts, describe_excerpts, embed_audio};
use strata::audio::AudioFile;
use strata::model::{ModelSession, ProviderPreference, SessionOptions, find_model};
use strata::prng::SplitMix64;
use strata::search::layer_index::Pruning;
use strata::search::{Facet, Normalization, SearchEngine};
use strata::storage::data_dir::DataDir;
use strata::storage::snapshot::LibrarySnapshot;

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
    let found = strata::indexer::library::scan(&[dir.to_path_buf()]).files;
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
    let mut session = ModelSession::open(&info, SessionOptions { provider: ProviderPreference::Cpu, intra_threads: cores, variant: None })
        .expect("session");
    let rate = info.manifest.sample_rate_hz;
    println!("{} files, {} cores, single pipeline thread + ORT intra-op threads", files.len(), cores);
    let decode = measure("decode only (reference)", &files, |f| {
        AudioFile::open(f).and_then(|mut a| a.read_to_end()).map_or(0.0, |a| a.duration_s())
    });
    let resample =
        measure("decode + resample to 16 kHz", &files, |f| strata::audio::decode_mono(f, Some(rate)).map_or(0.0, |a| a.duration_s()));
    let full_session_run = |sampling: Sampling| {
        move |f: &Path, session: &mut ModelSession| -> f64 {
            let Ok(DecodedExcerpts { excerpts, duration_s: duration, .. }) = decode_excerpts(f, sampling) else { return 0.0 };
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
    // The descriptors and the tonal layer work on the same excerpts at 22.05 kHz.
    let mut analyzer = DescriptorAnalyzer::new();
    // The descriptors alone: what the tonal layer adds is the next row's difference.
    let descriptors = measure("default sampling: descriptors", &files, |f| {
        let Ok(DecodedExcerpts { excerpts, duration_s, .. }) = decode_excerpts(f, Sampling::DEFAULT) else { return 0.0 };
        for excerpt in excerpts {
            if let Ok(audio) = excerpt.audio.resampled(DESCRIPTOR_RATE_HZ) {
                std::hint::black_box(analyzer.analyze(&audio.samples, DESCRIPTOR_RATE_HZ));
            }
        }
        duration_s
    });
    // As indexing does it.
    let tonal = measure("default sampling: descriptors + tonal layer", &files, |f| {
        let Ok(DecodedExcerpts { excerpts, duration_s, .. }) = decode_excerpts(f, Sampling::DEFAULT) else { return 0.0 };
        let _ = std::hint::black_box(describe_excerpts(&excerpts, &mut analyzer));
        duration_s
    });
    println!("{:<44} {:>10} {:>14} {:>14} {:>10}", "stage", "wall s", "audio-s/wall-s", "CPU-s/audio-s", "vs decode");
    for m in [&decode, &resample, &full, &spread, &descriptors, &tonal] {
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

/// A synthetic 100,000-track store of random vectors, written through the real writer and catalog.
fn synthetic_store(root: &Path, model: &str, layer_dims: &[usize], tracks: usize) {
    support::write_synthetic_model(&root.join("models"), model, layer_dims);
    let mut rng = SplitMix64(1);
    support::write_synthetic_store(root, model, layer_dims, tracks, |_, _, dim| (0..dim).map(|_| rng.symmetric_unit()).collect());
}

fn store() {
    for (model, dims) in [("musicnn", vec![408, 153, 64, 64, 64, 753, 753, 200, 50]), ("mert-synthetic", vec![768; 13])] {
        let tmp = tempfile::tempdir().expect("tmp");
        let built = Instant::now();
        synthetic_store(tmp.path(), model, &dims, 100_000);
        let bytes: u64 = std::fs::read_dir(tmp.path().join("vectors").join(model))
            .expect("dir")
            .flatten()
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum();
        let rss_before = rss_mb("VmRSS");
        let opened = Instant::now();
        let snapshot = LibrarySnapshot::load(&DataDir::at(tmp.path()), model).expect("open");
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

/// Query and rerank timings over one synthetic store, with and without head pruning.
fn search_store(label: &str, vector: &mut dyn FnMut(usize, usize, usize) -> Vec<f32>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dims = vec![768; 13];
    let model = "mert-synthetic";
    let tracks = 100_000;
    let built = Instant::now();
    support::write_synthetic_model(&tmp.path().join("models"), model, &dims);
    support::write_synthetic_store(tmp.path(), model, &dims, tracks, vector);
    let build_s = built.elapsed().as_secs_f64();
    let snapshot = Arc::new(LibrarySnapshot::load(&DataDir::at(tmp.path()), model).expect("open"));
    let runs = 20;
    let per_run_ms = |started: Instant| started.elapsed().as_secs_f64() * 1000.0 / runs as f64;

    // References on the same data: reading the mapped bytes of one layer, and a
    // plain ndarray f32 dot product of one query against that layer.
    let layer_bytes: &[u8] = bytemuck::cast_slice(snapshot.layer_data(0));
    let started = Instant::now();
    let mut checksum = 0u64;
    for _ in 0..runs {
        checksum = checksum.wrapping_add(
            layer_bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).fold(0, u64::wrapping_add),
        );
    }
    let read_ms = per_run_ms(started);
    let matrix: Array2<f32> = snapshot.layer_matrix(0);
    let started = Instant::now();
    for q in 0..runs {
        std::hint::black_box(matrix.dot(&matrix.row(q)));
    }
    let dot_ms = per_run_ms(started);
    drop(matrix);

    println!(
        "{label}: {tracks} tracks × 13 layers × 768 (f16, {:.0} MB per layer, written in {build_s:.0} s), exact top 50 by cosine (checksum {checksum:x}):",
        layer_bytes.len() as f64 / 1e6
    );
    println!("  reference: read one layer's mapped bytes once: {read_ms:.2} ms; plain ndarray f32 dot, one layer: {dot_ms:.2} ms");
    // Issue 21 in the same run: centred (the default), then standardised.
    let settings = [Normalization::Center, Normalization::Standardize].into_iter().flat_map(|n| [(n, Pruning::Never), (n, Pruning::Auto)]);
    for (normalization, pruning) in settings {
        let rss_before = rss_mb("RssAnon");
        let mut engine = SearchEngine::with_pruning(snapshot.clone(), normalization, pruning);
        for layers in [1, 6, 13] {
            let facets: Vec<Facet> = (0..layers).map(|i| Facet { name: format!("aspect{i}"), layer: i * 13 / layers }).collect();
            let prepared = Instant::now();
            let heads: Vec<usize> = facets.iter().filter_map(|f| engine.layer(f.layer).head_width()).collect();
            let prepare_s = prepared.elapsed().as_secs_f64();
            let (mut query_ms, mut rerank_ms, mut read) = (Vec::new(), Vec::new(), 0.0);
            let mut weights = vec![1.0f32; layers];
            for q in 0..runs {
                let started = Instant::now();
                let scores = engine.query(q * 4_999, &facets);
                std::hint::black_box(scores.rank(&weights, 50, &|_| false));
                query_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                for change in 0..5 {
                    weights[(q + change) % layers] = ((q * 5 + change) as f32 * 0.37).fract();
                    let started = Instant::now();
                    std::hint::black_box(scores.rank(&weights, 50, &|_| false));
                    rerank_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                read += scores.exact_share() / runs as f32;
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            let (query_mean, rerank_mean) = (mean(&query_ms), mean(&rerank_ms));
            println!(
                "  {:<17} {layers:>2} layers: query {query_mean:7.2} ms (worst {:6.2}; {:.2}× one-layer dot, {:.2}× reading all its bytes), rerank {rerank_mean:.2} ms (worst {:.2}); read {:.1} % of the cosines; first use {prepare_s:.2} s{}",
                format!("{normalization:?}/{pruning:?}"),
                worst(&query_ms),
                query_mean / dot_ms,
                query_mean / (read_ms * layers as f64),
                worst(&rerank_ms),
                100.0 * read,
                if heads.is_empty() { String::new() } else { format!(" (heads of {:?} dims)", heads) }
            );
        }
        println!(
            "  {normalization:?}/{pruning:?}: anonymous (non-mapped) memory the search added: +{:.0} MB (the store maps {:.0} MB)",
            rss_mb("RssAnon") - rss_before,
            13.0 * layer_bytes.len() as f64 / 1e6
        );
    }
}

fn search() {
    let mut rng = SplitMix64(1);
    search_store("isotropic noise (worst case: no structure to prune by)", &mut |_, _, dim| {
        (0..dim).map(|_| rng.symmetric_unit()).collect()
    });
    for decay in [1.0, 2.0] {
        let mut embeddings = support::LibraryLikeEmbeddings::new(1, decay);
        search_store(&format!("library-like, spectrum decay {decay}"), &mut |t, l, d| embeddings.vector(t, l, d));
    }
}

/// Writes a row-major f32 matrix as a NumPy `.npy` file.
fn write_npy(path: &Path, matrix: &Array2<f32>) -> std::io::Result<()> {
    let (rows, cols) = matrix.dim();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in matrix.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes)
}

/// Reads an `n × 2` f32 `.npy` written by the reference script.
fn read_points_npy(path: &Path) -> Option<Vec<[f32; 2]>> {
    let bytes = std::fs::read(path).ok()?;
    let header_len = u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]) as usize;
    let data = bytes.get(10 + header_len..)?;
    Some(
        data.chunks_exact(8)
            .map(|c| [f32::from_le_bytes([c[0], c[1], c[2], c[3]]), f32::from_le_bytes([c[4], c[5], c[6], c[7]])])
            .collect(),
    )
}

/// Runs benches/map_reference.py (scikit-learn, openTSNE) on the same
/// features; `(engine, seconds, layout)` per engine, or none without Python or scikit-learn.
fn reference_projections(features: &Array2<f32>, method: strata::map::Method, dir: &Path) -> Vec<(String, f64, Vec<[f32; 2]>)> {
    let input = dir.join("features.npy");
    if write_npy(&input, features).is_err() {
        return Vec::new();
    }
    let python = std::env::var("STRATA_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let method_arg = if method == strata::map::Method::Pca { "pca" } else { "tsne" };
    let prefix = dir.join("layout");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/map_reference.py");
    let output = match std::process::Command::new(&python).arg(script).arg(&input).arg(method_arg).arg(&prefix).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            eprintln!("  (no scikit-learn reference: {})", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or(""));
            return Vec::new();
        }
        Err(e) => {
            eprintln!("  (no scikit-learn reference: cannot run {python}: {e}; set STRATA_BENCH_PYTHON)");
            return Vec::new();
        }
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            let engine = v["engine"].as_str()?.to_string();
            let layout = read_points_npy(&dir.join(format!("layout.{engine}.npy")))?;
            Some((engine, v["seconds"].as_f64()?, layout))
        })
        .collect()
}

/// PCA and t-SNE at several sizes, each beside scikit-learn (and openTSNE) on
/// the same data; where affordable, how many of each point's 10 nearest
/// neighbours in the full space stay among its 10 nearest on each layout.
fn map() {
    let mut rng = SplitMix64(3);
    let tmp = tempfile::tempdir().expect("tmp");
    for (n, method) in [
        (10_000, strata::map::Method::Pca),
        (100_000, strata::map::Method::Pca),
        (300_000, strata::map::Method::Pca),
        (2_000, strata::map::Method::Tsne),
        (10_000, strata::map::Method::Tsne),
    ] {
        // Clustered data (20 clusters) so t-SNE has structure to find.
        let features = Array2::from_shape_fn((n, 768), |(i, j)| if j % 20 == i % 20 { 3.0 } else { 0.0 } + rng.symmetric_unit());
        let started = Instant::now();
        let points = strata::map::project(&features, method, 42, &mut |_, _| {}, &|| false).expect("projection").points;
        let strata_s = started.elapsed().as_secs_f64();
        let score = |layout: &[[f32; 2]]| {
            if n <= 10_000 {
                format!(", 10-NN kept {:.1} %", 100.0 * strata::map::neighbourhood_preservation(&features, layout, 10))
            } else {
                String::new()
            }
        };
        println!("{method:?} {n} × 768: Strata {strata_s:.2} s{}", score(&points));
        for (engine, seconds, layout) in reference_projections(&features, method, tmp.path()) {
            println!("  {engine:<24} {seconds:.2} s ({:.2}× Strata's time){}", seconds / strata_s, score(&layout));
        }
    }
}

/// Every measurement of `scale` on one synthetic library.
fn scale_library(dir: &Path) {
    use strata::search::Exclusion;
    use strata::search::all_pairs::all_neighbours;
    let data = DataDir::at(dir);
    let rss_start = rss_mb("VmRSS");
    let opened = Instant::now();
    let snapshot = Arc::new(LibrarySnapshot::load(&data, strata::synth::MERT_MODEL).expect("a library written by synth-library --mert"));
    let n = snapshot.len();
    println!(
        "{}: {n} tracks × 13 × 768 (MERT-shaped): open {:.2} s, RSS +{:.0} MB (anonymous {:.0} MB)",
        dir.display(),
        opened.elapsed().as_secs_f64(),
        rss_mb("VmRSS") - rss_start,
        rss_mb("RssAnon")
    );
    let facets: Vec<Facet> = (0..13).map(|l| Facet { name: format!("layer_{l}"), layer: l }).collect();
    let queries: Vec<usize> = (0..20).map(|q| q * (n / 20) + 7).collect();
    // Heads an earlier run on this archive fitted are mapped from their files, not fitted again.
    let head_files = facets
        .iter()
        .filter(|f| snapshot.data_dir().search_head_path(&snapshot.model.manifest.name, f.layer, Normalization::Center.name()).exists())
        .count();
    for pruning in [Pruning::Never, Pruning::Auto] {
        let mut engine = SearchEngine::with_pruning(snapshot.clone(), true, pruning);
        let prepared = Instant::now();
        for facet in &facets {
            engine.layer(facet.layer);
        }
        let prepare_s = prepared.elapsed().as_secs_f64();
        if pruning == Pruning::Auto {
            let widths: Vec<String> =
                facets.iter().map(|f| engine.layer(f.layer).head_width().map_or("none".into(), |w| w.to_string())).collect();
            let how =
                if head_files == 0 { "fitted".to_string() } else { format!("{head_files} of them mapped from an earlier run's files") };
            println!("  search heads per layer (coordinates): {} ({how})", widths.join(" "));
        }
        let (mut query_ms, mut rerank_ms) = (Vec::new(), Vec::new());
        let mut weights = vec![1.0f32; 13];
        for (i, &q) in queries.iter().enumerate() {
            let started = Instant::now();
            let scores = engine.query(q, &facets);
            std::hint::black_box(scores.rank(&weights, 50, &|_| false));
            query_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            for change in 0..5 {
                weights[(i + change) % 13] = ((i * 5 + change) as f32 * 0.37).fract();
                let started = Instant::now();
                std::hint::black_box(scores.rank(&weights, 50, &|_| false));
                rerank_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let sorted = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v
        };
        let (query_ms, rerank_ms) = (sorted(query_ms), sorted(rerank_ms));
        println!(
            "  similar, 13 layers, top 50, {pruning:?}: p50 {:.1} ms, worst {:.1} ms; rerank p50 {:.2} ms, worst {:.2} ms; layer preparation {prepare_s:.1} s; RSS {:.0} MB (anonymous {:.0} MB)",
            query_ms[query_ms.len() / 2],
            query_ms[query_ms.len() - 1],
            rerank_ms[rerank_ms.len() / 2],
            rerank_ms[rerank_ms.len() - 1],
            rss_mb("VmRSS"),
            rss_mb("RssAnon")
        );
    }
    let started = Instant::now();
    let features = strata::map::SourceFeatures::new(&snapshot, &strata::map::MapSource::Layer(12));
    let features_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let layout = strata::map::project(&features, strata::map::Method::Pca, 1, &mut |_, _| {}, &|| false).expect("pca");
    println!(
        "  PCA of {n} × 768, read from the store a block at a time: {:.2} s (+ {features_s:.2} s for the layer's mean); RSS {:.0} MB (anonymous {:.0} MB); {} points",
        started.elapsed().as_secs_f64(),
        rss_mb("VmRSS"),
        rss_mb("RssAnon"),
        layout.points.len()
    );
    drop((features, layout));
    // neighbours --all on parts of the queries, scaled to all: full products (every query
    // costs the same, so one part times them) and through the heads (the CLI's way; a
    // query's cost depends on its neighbourhood, so parts spread over the library).
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()).min(8);
    let part = (1024 * cores).min(n);
    let parts: Vec<std::ops::Range<usize>> =
        [n / 4, 3 * n / 4].iter().map(|&start| start.min(n - part)..start.min(n - part) + part).collect();
    let mut full = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Never);
    let mut heads = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Auto);
    let mut reference = SearchEngine::with_pruning(snapshot.clone(), true, Pruning::Auto);
    // Each engine prepares its layers once (means and norms; the heads too), not per query:
    // timed apart and added once, not scaled.
    let started = Instant::now();
    for facet in &facets {
        full.layer(facet.layer);
    }
    let full_prepare_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for facet in &facets {
        heads.layer(facet.layer);
    }
    let heads_fit_s = started.elapsed().as_secs_f64();
    for facet in &facets {
        reference.layer(facet.layer);
    }
    type Neighbours = Vec<(usize, Vec<usize>)>;
    let run = |engine: &mut SearchEngine, facets: &[Facet], weights: &[f32], range: std::ops::Range<usize>| -> (f64, Neighbours) {
        let started = Instant::now();
        let mut found = Vec::new();
        all_neighbours(engine, facets, weights, 10, Exclusion::default(), range, &mut |query, results| {
            found.push((query, results.iter().map(|r| r.0).collect()));
            Ok::<(), ()>(())
        })
        .expect("neighbours");
        (started.elapsed().as_secs_f64(), found)
    };
    for (label, facets) in [("1 layer", facets[12..].to_vec()), ("13 layers", facets.clone())] {
        let weights = vec![1.0f32; facets.len()];
        let (full_s, full_found) = run(&mut full, &facets, &weights, parts[0].clone());
        let full_min = (full_s * n as f64 / part as f64 + full_prepare_s * facets.len() as f64 / 13.0) / 60.0;
        let (mut heads_s, mut differ) = (0.0, 0usize);
        for (i, range) in parts.iter().enumerate() {
            let (seconds, found) = run(&mut heads, &facets, &weights, range.clone());
            heads_s += seconds;
            if i == 0 {
                differ = found.iter().zip(&full_found).filter(|(a, b)| a != b).count();
            }
        }
        let heads_min = (heads_s * n as f64 / (part * parts.len()) as f64 + heads_fit_s * facets.len() as f64 / 13.0) / 60.0;
        // The per-query search both replace, on a few queries.
        let per_query = 8;
        let started = Instant::now();
        for q in 0..per_query {
            std::hint::black_box(reference.query(q, &facets).rank(&weights, 10, &|_| false));
        }
        let reference_min = started.elapsed().as_secs_f64() / per_query as f64 * n as f64 / 60.0;
        println!(
            "  neighbours --all, k 10, {label}: full products {part} queries in {full_s:.1} s, + {:.1} s to prepare the layers → all {n} ≈ {full_min:.1} min; through the heads {} × {part} queries in {heads_s:.1} s, + {:.1} s to map the heads (fitted above) → ≈ {heads_min:.1} min ({:.1}× faster; {differ} of {part} neighbour lists differ from the full products'); one search per query ≈ {reference_min:.1} min; RSS {:.0} MB (anonymous {:.0} MB)",
            full_prepare_s * facets.len() as f64 / 13.0,
            parts.len(),
            heads_fit_s * facets.len() as f64 / 13.0,
            full_min / heads_min,
            rss_mb("VmRSS"),
            rss_mb("RssAnon")
        );
    }
}

fn main() {
    // As the strata binary does.
    strata::memory::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.first().map(String::as_str) {
        Some("pipeline") => pipeline(Path::new(args.get(1).map_or("../strata-dev-library", String::as_str))),
        Some("store") => store(),
        Some("search") => search(),
        Some("map") => map(),
        Some("scale") => args[1..].iter().for_each(|dir| scale_library(Path::new(dir))),
        _ => eprintln!("usage: cargo bench --profile dev --bench strata -- pipeline DIR | store | search | map | scale DIR…"),
    }
}

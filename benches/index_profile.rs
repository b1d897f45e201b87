//! Where indexing's time goes, stage by stage, in CPU-seconds per audio-second.
//!
//! `cargo bench --bench index_profile -- DIR [DATA_DIR [fast | windows N | PER_MINUTE EXCERPT_S]]`:
//!
//! 1. **Profile**: every audio file in DIR goes through the stages indexing
//!    runs (decode, resample for the descriptors, descriptors, tonal layer,
//!    the model's windows resampled and embedded, store and catalog writes) on
//!    one thread, the model with one ONNX Runtime thread, so each stage's
//!    CPU time is this thread's own (`/proc/thread-self/schedstat`, ns).
//! 2. **End to end**: the real indexer on the same files into a fresh data
//!    folder with its default options: wall time, real-time factor, CPU time
//!    and the cores' idle share (cores × wall − CPU), and how the progress
//!    ETA the CLI and the window show compared with the real end as the run
//!    went on (the end it predicted at 10, 20, 30, 60 and 120 s, and when it
//!    settled within ±10 % for good). With DATA_DIR the
//!    index is kept there (for `strata eval` and `strata probe`); with
//!    `fast`, both parts use `Sampling::FAST`, with `windows N` the default
//!    excerpts with at most N model windows per track, with PER_MINUTE and
//!    EXCERPT_S `Sampling::Scaled` with those values, instead of the default.
//!
//! Linux only (CPU time comes from /proc).
#![allow(clippy::unwrap_used, reason = "a bench fails by panicking")]

use std::path::{Path, PathBuf};
use std::time::Instant;

use strata::analysis::descriptors::DescriptorAnalyzer;
use strata::analysis::tonal::TonalProfile;
use strata::analysis::{DESCRIPTOR_RATE_HZ, DecodedExcerpts, Sampling, decode_excerpts, embed_excerpts};
use strata::indexer::{IndexOptions, library};
use strata::model::{ModelSession, ProviderPreference, SessionOptions, find_model};
use strata::storage::catalog::TrackTags;
use strata::storage::data_dir::DataDir;
use strata::storage::library_writer::{AnalysedTrack, LibraryWriter};
use strata::storage::writer_lock::LockWait;

/// CPU time of the calling thread, seconds.
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()).map_or(0.0, |ns| ns / 1e9)
}

/// CPU time of the whole process (every thread), seconds.
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process so far, MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The stages, in pipeline order, and their CPU seconds.
#[derive(Default)]
struct Stages {
    decode: f64,
    resample_descriptors: f64,
    descriptors: f64,
    tonal: f64,
    model: f64,
    writes: f64,
}

impl Stages {
    fn rows(&self) -> [(&'static str, f64); 6] {
        [
            ("decode", self.decode),
            ("resample to 22.05 kHz (descriptors)", self.resample_descriptors),
            ("descriptors", self.descriptors),
            ("tonal layer", self.tonal),
            ("model: resample + inference", self.model),
            ("store + catalog writes", self.writes),
        ]
    }
}

/// Adds the CPU time `work` takes on this thread to `into`.
fn timed<T>(into: &mut f64, work: impl FnOnce() -> T) -> T {
    let started = thread_cpu_s();
    let out = work();
    *into += thread_cpu_s() - started;
    out
}

fn profile(files: &[PathBuf], sampling: Sampling) {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let info = find_model("musicnn", &[models]).unwrap();
    let mut session =
        ModelSession::open(&info, SessionOptions { provider: ProviderPreference::Cpu, intra_threads: 1, variant: None }).unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(data.path());
    let library_writer = LibraryWriter::open(&data_dir, LockWait::NoWait, &mut |_| {}, &mut || true).unwrap().unwrap();
    let mut writer = library_writer.for_model(&info.manifest, &sampling.label()).unwrap();
    let passage_layer = writer.layout().passage_layer;
    let mut analyzer = DescriptorAnalyzer::new();
    let mut stages = Stages::default();
    let (mut audio_s, mut analysed_s, mut windows) = (0.0, 0.0, 0);
    let wall = Instant::now();
    for path in files {
        let Ok(DecodedExcerpts { excerpts, duration_s, .. }) = timed(&mut stages.decode, || decode_excerpts(path, sampling)) else {
            continue;
        };
        let mut tonal = TonalProfile::new();
        for excerpt in &excerpts {
            analysed_s += excerpt.audio.duration_s();
            let Ok(samples) = timed(&mut stages.resample_descriptors, || {
                strata::audio::resample(&excerpt.audio.samples, excerpt.audio.sample_rate_hz, DESCRIPTOR_RATE_HZ)
            }) else {
                continue;
            };
            timed(&mut stages.descriptors, || std::hint::black_box(analyzer.analyze(&samples, DESCRIPTOR_RATE_HZ)));
            timed(&mut stages.tonal, || tonal.add_excerpt(analyzer.chroma_frames()));
        }
        let track = timed(&mut stages.model, || embed_excerpts(&mut session, &excerpts, sampling.model_windows())).unwrap();
        let tonal = timed(&mut stages.tonal, || tonal.vector());
        let Some(mut pooled) = track.pooled_layers() else { continue };
        windows += track.windows.len();
        audio_s += duration_s;
        pooled.push(tonal);
        timed(&mut stages.writes, || {
            let window_vectors: Vec<&[f32]> = track.windows.iter().map(|w| w.layer_vectors[passage_layer].as_slice()).collect();
            let analysed = AnalysedTrack {
                path: path.clone(),
                stamp: library::stamp_of(path).unwrap(),
                tags: TrackTags::default(),
                duration_s,
                descriptors: Default::default(),
                window_starts_s: track.window_starts_s.iter().map(|&s| s as f32).collect(),
                warnings: Vec::new(),
            };
            writer.stage_track(analysed, &pooled, &window_vectors).unwrap();
            if writer.staged() >= 64 {
                writer.commit().unwrap();
            }
        });
    }
    timed(&mut stages.writes, || writer.commit().unwrap());
    let wall_s = wall.elapsed().as_secs_f64();
    println!(
        "profile, sampling {}: {} files, {audio_s:.0} s of audio, {analysed_s:.0} s decoded, {windows} model windows, one thread, {wall_s:.1} s wall",
        sampling.label(),
        files.len()
    );
    println!("  {:<40} {:>8} {:>14} {:>8}", "stage", "CPU s", "CPU-s/audio-s", "share");
    let total: f64 = stages.rows().iter().map(|(_, s)| s).sum();
    for (name, seconds) in stages.rows() {
        println!("  {name:<40} {seconds:>8.2} {:>14.5} {:>7.1}%", seconds / audio_s, 100.0 * seconds / total);
    }
    println!("  {:<40} {total:>8.2} {:>14.5}   -> {:.0}× real time per core", "all stages", total / audio_s, audio_s / total);
}

fn end_to_end(dir: &Path, data_dir: &DataDir, sampling: Sampling) {
    let mut options = IndexOptions::new(vec![dir.to_path_buf()]);
    options.sampling = sampling;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (sender, events) = crossbeam_channel::bounded(1 << 16);
    let (wall, cpu) = (Instant::now(), process_cpu_s());
    // Each progress event's time and the end it predicts (its time + ETA).
    let drain = std::thread::Builder::new()
        .name("bench-events".into())
        .spawn(move || {
            events
                .iter()
                .filter_map(|event| match event {
                    strata::indexer::IndexEvent::Progress(p) => {
                        let now = wall.elapsed().as_secs_f64();
                        p.eta_s().map(|eta| (now, now + eta))
                    }
                    _ => None,
                })
                .collect::<Vec<(f64, f64)>>()
        })
        .unwrap();
    let control = strata::indexer::IndexControl::default();
    let summary = strata::indexer::run(data_dir, &options, &sender, &control).unwrap();
    let (wall_s, cpu_s) = (wall.elapsed().as_secs_f64(), process_cpu_s() - cpu);
    drop(sender);
    let predictions = drain.join().unwrap();
    println!(
        "end to end (strata::indexer::run, {} analysis workers, {cores} cores): {} tracks, {:.0} s of audio in {wall_s:.1} s = {:.0}× real time; \
         CPU {cpu_s:.1} s = {:.5} CPU-s/audio-s; idle {:.0}% of {cores} cores; peak RSS {:.0} MB",
        options.jobs,
        summary.indexed,
        summary.audio_s,
        summary.audio_s / wall_s,
        cpu_s / summary.audio_s.max(1e-9),
        100.0 * (1.0 - cpu_s / (cores as f64 * wall_s)).max(0.0),
        peak_rss_mb()
    );
    report_eta(&predictions, wall_s);
}

/// How the progress ETA's predicted end compared with the real end `wall_s` as the run went on.
fn report_eta(predictions: &[(f64, f64)], wall_s: f64) {
    let error = |end: f64| 100.0 * (end - wall_s) / wall_s;
    for at in [10.0, 20.0, 30.0, 60.0, 120.0] {
        if let Some(&(t, end)) = predictions.iter().find(|&&(t, _)| t >= at) {
            println!("  ETA at {t:.0} s: predicted end {end:.0} s, actual {wall_s:.0} s ({:+.0} %)", error(end));
        }
    }
    // The last prediction outside ±10 %: from the next one on, every prediction was within.
    let settled = predictions
        .iter()
        .rposition(|&(_, end)| error(end).abs() > 10.0)
        .map_or(0.0, |i| predictions.get(i + 1).map_or(wall_s, |&(t, _)| t));
    println!("  ETA within ±10 % of the real end from {settled:.0} s of {wall_s:.0} s on ({} progress events)", predictions.len());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: cargo bench --bench index_profile -- DIR [DATA_DIR [fast | windows N | PER_MINUTE EXCERPT_S]]");
        return;
    };
    let sampling = match args.get(2..) {
        Some([fast]) if fast == "fast" => Sampling::FAST,
        Some([windows, n]) if windows == "windows" => Sampling::Spread {
            excerpts: Sampling::DEFAULT_EXCERPTS,
            excerpt_s: Sampling::DEFAULT_EXCERPT_S,
            model_windows: Some(n.parse::<usize>().unwrap().max(1)),
        },
        Some([per_minute, excerpt_s]) => {
            Sampling::Scaled { excerpts_per_minute: per_minute.parse().unwrap(), excerpt_s: excerpt_s.parse().unwrap() }
        }
        _ => Sampling::DEFAULT,
    };
    let files: Vec<PathBuf> = library::scan(std::slice::from_ref(&dir)).files.into_iter().map(|f| f.path).collect();
    profile(&files, sampling);
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(args.get(1).map_or(scratch.path(), Path::new));
    end_to_end(&dir, &data_dir, sampling);
}

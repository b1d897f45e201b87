//! ONNX Runtime's session settings for the shipped MusicNN, measured the way
//! indexing runs it: one session per analysis worker, one intra-op thread,
//! one 3 s window per call, on windows of real audio.
//!
//! `cargo bench --profile dev --bench ort_settings -- DIR [WINDOWS] [ROUNDS]`
//! (defaults 200 windows, 3 rounds): DIR's audio files are decoded as
//! indexing samples them, resampled to 16 kHz and cut into windows. Each
//! setting then runs every window, settings interleaved round by round so
//! drift on a busy machine hits them alike. Per setting: CPU ms per window
//! (this thread's own time, `/proc/thread-self/schedstat`; min and median
//! over rounds), beside the shipped setting, and the smallest cosine of any
//! output tensor with the shipped setting's (1 = the same numbers).
//!
//! With one intra-op thread ONNX Runtime runs every kernel on the calling
//! thread, so the session's `set_denormal_as_zero` (which flags only its
//! pool's threads) cannot reach them: "flush denormals" sets FTZ/DAZ in this
//! thread's MXCSR for its runs instead, as an analysis worker would.
//!
//! Linux x86_64 only (CPU time comes from /proc; MXCSR is x86's).
#![allow(clippy::unwrap_used, reason = "a bench fails by panicking")]

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use strata::analysis::{Sampling, decode_excerpts};
use strata::indexer::library;
use strata::model::find_model;

/// CPU time of the calling thread, seconds.
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()).map_or(0.0, |ns| ns / 1e9)
}

/// One way to build and run the session.
struct Setting {
    name: &'static str,
    level: GraphOptimizationLevel,
    memory_pattern: bool,
    prepacking: bool,
    flush_denormals: bool,
}

const SHIPPED: Setting = Setting {
    name: "shipped: all optimisations",
    level: GraphOptimizationLevel::All,
    memory_pattern: true,
    prepacking: true,
    flush_denormals: false,
};

fn settings() -> Vec<Setting> {
    vec![
        SHIPPED,
        Setting { name: "extended optimisations (level 2)", level: GraphOptimizationLevel::Level2, ..SHIPPED },
        Setting { name: "basic optimisations (level 1)", level: GraphOptimizationLevel::Level1, ..SHIPPED },
        Setting { name: "no optimisation", level: GraphOptimizationLevel::Disable, ..SHIPPED },
        Setting { name: "no memory pattern", memory_pattern: false, ..SHIPPED },
        Setting { name: "no weight prepacking", prepacking: false, ..SHIPPED },
        Setting { name: "flush denormals (FTZ/DAZ)", flush_denormals: true, ..SHIPPED },
    ]
}

fn open(model: &Path, setting: &Setting) -> Session {
    let environment = strata::model::onnx_runtime::environment().unwrap();
    Session::builder(environment)
        .unwrap()
        .with_optimization_level(setting.level)
        .unwrap()
        .with_intra_threads(1)
        .unwrap()
        .with_memory_pattern(setting.memory_pattern)
        .unwrap()
        .with_prepacking(setting.prepacking)
        .unwrap()
        .commit_from_file(model)
        .unwrap()
}

/// Sets (or clears) flush-to-zero and denormals-are-zero for this thread; returns the previous MXCSR.
#[allow(unsafe_code, reason = "MXCSR is reachable only through inline assembly")]
fn set_flush_denormals(on: bool) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
        let mut previous: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control register only.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut previous, options(nostack));
            let next = if on { previous | FTZ_DAZ } else { previous & !FTZ_DAZ };
            std::arch::asm!("ldmxcsr [{}]", in(reg) &next, options(nostack, readonly));
        }
        previous
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        0
    }
}

#[allow(unsafe_code, reason = "MXCSR is reachable only through inline assembly")]
fn restore_mxcsr(previous: u32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: restores the value stmxcsr read on this thread.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &previous, options(nostack, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = previous;
}

/// Runs every window; returns CPU seconds and every output tensor of every window, flattened.
fn run_all(session: &mut Session, input_name: &str, windows: &[Vec<f32>], flush_denormals: bool) -> (f64, Vec<Vec<Vec<f32>>>) {
    let previous = set_flush_denormals(flush_denormals);
    let started = thread_cpu_s();
    let mut outputs = Vec::with_capacity(windows.len());
    for window in windows {
        let input = ort::value::TensorRef::from_array_view(([1usize, window.len()], window.as_slice())).unwrap();
        let result = session.run(ort::inputs![input_name => input]).unwrap();
        outputs.push(result.iter().map(|(_, value)| value.try_extract_tensor::<f32>().unwrap().1.to_vec()).collect());
    }
    let cpu_s = thread_cpu_s() - started;
    restore_mxcsr(previous);
    (cpu_s, outputs)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 { if norm(a) == norm(b) { 1.0 } else { 0.0 } } else { dot / denominator }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let dir = PathBuf::from(args.first().expect("usage: ort_settings DIR [WINDOWS] [ROUNDS]"));
    let wanted: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let info = find_model("musicnn", &[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")]).unwrap();
    let rate = info.manifest.sample_rate_hz;
    let window = info.manifest.window_samples();

    // Windows from every file in turn, so every file contributes before any contributes twice.
    let files: Vec<PathBuf> = library::scan(std::slice::from_ref(&dir)).files.into_iter().map(|f| f.path).collect();
    let per_file: Vec<Vec<Vec<f32>>> = files
        .iter()
        .filter_map(|path| decode_excerpts(path, Sampling::DEFAULT).ok())
        .map(|decoded| {
            decoded
                .excerpts
                .into_iter()
                .filter_map(|e| e.audio.resampled(rate).ok())
                .flat_map(|audio| audio.samples.chunks_exact(window).map(<[f32]>::to_vec).collect::<Vec<_>>())
                .collect()
        })
        .collect();
    let mut windows = Vec::new();
    for k in 0.. {
        let before = windows.len();
        windows.extend(per_file.iter().filter_map(|w| w.get(k).cloned()).take(wanted - windows.len()));
        if windows.len() == wanted || windows.len() == before {
            break;
        }
    }
    println!(
        "{} windows of {:.1} s from {} files in {}, {rounds} rounds",
        windows.len(),
        window as f64 / f64::from(rate),
        per_file.len(),
        dir.display()
    );

    let settings = settings();
    let model = info.dir.join("model.onnx");
    let mut sessions: Vec<Session> = settings.iter().map(|s| open(&model, s)).collect();
    let input_name = info.manifest.input_name.clone();
    // Warm-up: a few windows through each session.
    for (session, setting) in sessions.iter_mut().zip(&settings) {
        run_all(session, &input_name, &windows[..windows.len().min(5)], setting.flush_denormals);
    }
    let mut cpu_ms: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
    let mut drift = vec![1.0f64; settings.len()];
    for _ in 0..rounds {
        let mut reference: Option<Vec<Vec<Vec<f32>>>> = None;
        for (i, (session, setting)) in sessions.iter_mut().zip(&settings).enumerate() {
            let (cpu_s, outputs) = run_all(session, &input_name, &windows, setting.flush_denormals);
            cpu_ms[i].push(cpu_s * 1000.0 / windows.len() as f64);
            let reference = reference.get_or_insert_with(|| outputs.clone());
            let smallest =
                reference.iter().zip(&outputs).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| cosine(x, y))).fold(1.0f64, f64::min);
            drift[i] = drift[i].min(smallest);
        }
    }
    let shipped = median(&mut cpu_ms[0].clone());
    println!("{:<36} {:>10} {:>10} {:>9} {:>14}", "setting", "min ms", "median ms", "ratio", "min cosine");
    for (i, setting) in settings.iter().enumerate() {
        let min = cpu_ms[i].iter().copied().fold(f64::INFINITY, f64::min);
        let med = median(&mut cpu_ms[i]);
        println!("{:<36} {min:>10.2} {med:>10.2} {:>8.3}× {:>14.6}", setting.name, med / shipped, drift[i]);
    }
}

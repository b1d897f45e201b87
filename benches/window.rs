//! The window over a large library, frame by frame, per interaction.
//!
//! `cargo bench --profile dev --bench window [-- TRACKS [DATA_DIR [MODEL]]]`
//! (default 300,000 tracks): a synthetic archive (`strata synth-library`,
//! MusicNN layers) is written into DATA_DIR (kept, and reused when it already
//! holds one) or a temporary folder, then the real `StrataApp` runs in
//! egui_kittest at 1440 × 900 and is driven the way a user drives it:
//! - start: the first frame, then every frame until the library is shown and
//!   until the start-up rescan, the probe and the map have finished;
//! - typing in the search box (`/`, then a query one character a frame, then
//!   erasing it);
//! - sorting by each column (a click on its header);
//! - selecting tracks (the results arrive from a worker);
//! - dragging an aspect slider (one weight per frame), with the map coloured
//!   by composer and then by similarity.
//!
//! MODEL opens the archive with another model than MusicNN, such as the
//! 13 × 768 `mert-synthetic` that `synth-library --mert` writes (and this
//! bench, when it writes the archive for that model).
//!
//! Per interaction: frames, and p50 / p99 / worst of each frame's wall time
//! on this thread. That is Strata's own work plus egui's layout and
//! kittest's accessibility tree; painting is not included (kittest draws
//! nothing here), so a real window adds tessellation and the GPU's share.
#![allow(clippy::unwrap_used, reason = "a bench fails by panicking")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use strata::prng::SplitMix64;
use strata::storage::data_dir::DataDir;
use strata::synth::{LibraryOptions, MERT_MODEL, default_root, write_library};
use strata::ui::{AppCommand, Settings, StrataApp};

/// Frame times of one interaction.
#[derive(Default)]
struct Frames(Vec<f64>);

impl Frames {
    /// Steps one frame and records its wall time.
    fn step(&mut self, harness: &mut Harness<'_, StrataApp>) {
        let started = Instant::now();
        harness.step();
        self.0.push(started.elapsed().as_secs_f64() * 1000.0);
    }

    fn report(&self, what: &str) {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            println!("{what:<44} no frames");
            return;
        }
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        println!(
            "{what:<44} {:>6} frames  p50 {:>7.1} ms  p99 {:>7.1} ms  worst {:>7.1} ms",
            sorted.len(),
            at(0.5),
            at(0.99),
            sorted[sorted.len() - 1]
        );
    }
}

/// Steps until `done` holds, recording every frame; gives up after `limit`.
fn frames_until(harness: &mut Harness<'_, StrataApp>, frames: &mut Frames, limit: Duration, done: impl Fn(&StrataApp) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done(harness.state()) {
        if Instant::now() > deadline {
            return false;
        }
        frames.step(harness);
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn main() {
    // As the strata binary does.
    strata::memory::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let tracks: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(args.get(1).map_or(scratch.path().to_path_buf(), PathBuf::from));
    if !data_dir.catalog_path().exists() {
        let written = Instant::now();
        // The MERT-shaped model is written only when it is the one asked for.
        let mert = args.get(2).is_some_and(|model| model == MERT_MODEL);
        let options = LibraryOptions { tracks, seed: 1, mert, root: default_root(&data_dir) };
        write_library(&data_dir, &options, &mut |_, _, _| {}).unwrap();
        println!("{tracks} synthetic tracks written in {:.0} s", written.elapsed().as_secs_f64());
    }

    let started = Instant::now();
    let mut harness = Harness::builder().with_size([1440.0, 900.0]).build_eframe(|cc| {
        let mut settings = Settings::default();
        if let Some(model) = args.get(2) {
            settings.model.clone_from(model);
        }
        StrataApp::new(cc.egui_ctx.clone(), data_dir.clone(), settings)
    });
    println!("first frame after {:.2} s", started.elapsed().as_secs_f64());
    let mut loading = Frames::default();
    frames_until(&mut harness, &mut loading, Duration::from_secs(600), |app| app.library().is_some()).then_some(()).unwrap();
    let shown = harness.state().library().map_or(0, |l| l.snapshot.len());
    println!("library of {shown} tracks shown after {:.2} s", started.elapsed().as_secs_f64());
    loading.report("frames while loading");
    let mut rescan = Frames::default();
    // Settled: the rescan, the probe and the aspect mix's map (its own layout, not one placed) are done,
    // so no background projection shares the cores with the interactions measured next.
    let rescanned = frames_until(&mut harness, &mut rescan, Duration::from_secs(300), |app| {
        !app.is_busy() && app.map_shown().is_some_and(|(points, own)| own && points == shown)
    });
    println!("start-up work {} after {:.1} s", if rescanned { "finished" } else { "still running" }, started.elapsed().as_secs_f64());
    rescan.report("frames during the start-up rescan");
    match harness.state().probe_table() {
        Some(table) => println!(
            "probe: {} layers × {} descriptors; {} aspects resolved",
            table.layers.len(),
            table.targets.len(),
            harness.state().aspects().len()
        ),
        None => println!("no probe table"),
    }
    for _ in 0..10 {
        harness.step();
    }

    // Typing a query, one character a frame, then erasing it.
    let mut typing = Frames::default();
    harness.key_press(egui::Key::Slash);
    typing.step(&mut harness);
    let query = "mozart sym";
    for c in query.chars() {
        harness.event(egui::Event::Text(c.to_string()));
        typing.step(&mut harness);
    }
    for _ in query.chars() {
        harness.key_press(egui::Key::Backspace);
        typing.step(&mut harness);
    }
    harness.key_press(egui::Key::Escape);
    typing.step(&mut harness);
    typing.report("typing in the search box (a frame per key)");

    // Sorting by each column in view: the click's frame and the one after it.
    // (A click lands where the header is drawn: one scrolled out of the
    // library panel would click the map's colour button of the same name.)
    let mut sorting = Frames::default();
    let panel_end = harness.get_by_label("Map").rect().min.x;
    let mut sorted_by = Vec::new();
    for name in ["Composer", "Work", "Catalogue", "Performers", "Conductor", "Date", "Album", "Time", "Title"] {
        let Some(header) = harness.query_all_by_role_and_label(Role::Button, name).find(|b| b.rect().max.x < panel_end) else {
            continue;
        };
        sorted_by.push(name);
        header.click();
        sorting.step(&mut harness);
        sorting.step(&mut harness);
    }
    sorting.report("sorting by a column (click + next frame)");
    println!("  columns in view, sorted by: {}", sorted_by.join(", "));

    // Selecting tracks: every frame until the results arrive.
    let mut selecting = Frames::default();
    let mut rng = SplitMix64(3);
    let mut answered = Vec::new();
    for _ in 0..10 {
        let track = rng.below(shown.max(1));
        let asked = Instant::now();
        harness.state_mut().command(AppCommand::Select(track));
        if frames_until(&mut harness, &mut selecting, Duration::from_secs(60), |app| {
            app.selected() == Some(track) && !app.results().is_empty() && !app.is_busy()
        }) {
            answered.push(asked.elapsed().as_secs_f64() * 1000.0);
        }
        selecting.step(&mut harness);
    }
    answered.sort_by(f64::total_cmp);
    let (median, slowest) = (answered.get(answered.len() / 2).copied(), answered.last().copied());
    println!(
        "{} of 10 selections answered; click to complete results: median {:.0} ms, slowest {:.0} ms",
        answered.len(),
        median.unwrap_or(f64::NAN),
        slowest.unwrap_or(f64::NAN)
    );
    selecting.report("selecting a track (every frame until results)");

    // Dragging an aspect slider: a new weight every frame, with the map
    // coloured by composer, then by similarity to the selected track (each
    // weight recolours the whole library).
    let aspects: Vec<String> = harness.state().aspects().iter().map(|a| a.name.clone()).collect();
    for colouring in ["Composer", "Similarity"] {
        if colouring == "Similarity" {
            harness.get_by_label("Similarity").click();
            harness.run_steps(2);
        }
        let mut dragging = Frames::default();
        if let Some(aspect) = aspects.first() {
            for i in 0..120 {
                let weight = (i as f32 / 20.0 * std::f32::consts::PI).sin().abs();
                harness.state_mut().set_aspect_weight(aspect, weight);
                dragging.step(&mut harness);
            }
        }
        dragging.report(&format!("dragging an aspect slider, map by {}", colouring.to_lowercase()));
    }
    if let Some((p50, p99)) = harness.state().frame_stats().percentiles() {
        println!("Strata's own work per frame over the last frames (its FrameStats): p50 {p50:.1} ms, p99 {p99:.1} ms");
    }
    // Issue 20's memory goal counts what the process holds beyond the mapped
    // store: its anonymous memory; file-backed pages are the store and the binaries.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mb = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    println!(
        "memory at the end: {:.0} MB resident (peak {:.0} MB): {:.0} MB anonymous, {:.0} MB file-backed (the mapped store, the binaries)",
        mb("VmRSS:"),
        mb("VmHWM:"),
        mb("RssAnon:"),
        mb("RssFile:")
    );
}

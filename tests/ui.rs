//! The window driven through egui_kittest over a real indexed library:
//! selecting, reranking with an aspect slider, the probe heatmap, failures,
//! a map that stays on screen while the library grows, and images of the
//! three tabs that a layout change fails.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use strata::indexer::{IndexControl, IndexOptions, run};
use strata::storage::data_dir::DataDir;
use strata::ui::{AppCommand, Settings, Side, StrataApp};

#[test]
fn select_rerank_probe_and_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let music = support::make_library(tmp.path(), 12);
    let data = tmp.path().join("data");
    let (events, _keep) = crossbeam_channel::bounded(1024);
    let mut options = IndexOptions::new(vec![music.clone()]);
    options.jobs = 1;
    let data_dir = DataDir::at(&data);
    let summary = run(&data_dir, &options, &events, &IndexControl::default()).unwrap();
    assert_eq!(summary.indexed, 12);

    let mut harness =
        Harness::builder().with_size([1440.0, 900.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    support::step_until(&mut harness, "the library, its probe and the start-up rescan", |app| {
        app.library().is_some() && !app.aspects().is_empty() && !app.is_busy()
    });
    // Nothing changed on disk: the rescan commits nothing, and the library is not loaded again.
    assert_eq!(harness.state().library().unwrap().generation, 1, "an unchanged library was loaded again after its rescan");

    // Selecting a track in the table shows ranked results.
    harness.get_all_by_label("03 Track").next().unwrap().click(); // its Title cell (a single is also its own work)
    support::step_until(&mut harness, "results", |app| app.selected().is_some() && !app.results().is_empty());
    let selected = harness.state().selected().unwrap();
    let before: Vec<usize> = harness.state().results().iter().map(|r| r.track).collect();
    assert!(!before.contains(&selected), "the query is not its own result");
    assert_eq!(harness.state().results()[0].facet_scores.len(), harness.state().aspects().len());

    // Moving aspect sliders reranks within the same frame, from cached similarities.
    let aspects: Vec<String> = harness.state().aspects().iter().map(|a| a.name.clone()).collect();
    let mut orders = vec![before.clone()];
    for solo in &aspects {
        for name in &aspects {
            let weight = if name == solo { 1.0 } else { 0.0 };
            harness.state_mut().set_aspect_weight(name, weight);
        }
        orders.push(harness.state().results().iter().map(|r| r.track).collect());
    }
    assert!(orders.iter().any(|o| o != &before), "no aspect weighting changed the order: {orders:?}");

    // A burst of selections, more than the search thread's request channel
    // holds, ends with complete results for the last one, a track the burst
    // never selected before (so no earlier answer can stand in for it).
    let tracks = harness.state().library().unwrap().snapshot.len();
    let last = (selected + 1) % tracks;
    let others: Vec<usize> = (0..tracks).filter(|&t| t != last).collect();
    for i in 0..2_000 {
        harness.state_mut().command(AppCommand::Select(others[i % others.len()]));
    }
    harness.state_mut().command(AppCommand::Select(last));
    support::step_until(&mut harness, "the last selection's results", |app| app.selected() == Some(last) && !app.is_busy());
    assert!(!harness.state().results().is_empty() && harness.state().results().iter().all(|r| r.track != last));

    // The probe heatmap lists every layer.
    harness.get_by_label("Layer probe").click();
    harness.run_steps(3);
    let layers = harness.state().library().unwrap().snapshot.layer_names();
    for layer in &layers {
        assert!(harness.query_all_by_label(layer).next().is_some(), "layer {layer} missing from the heatmap");
    }

    // The problems tab shows the broken files with reasons.
    harness.get_by_label_contains("Problems (").click();
    harness.run_steps(3);
    assert!(harness.query_all_by_label_contains("text.ogg").next().is_some());
    assert!(harness.query_all_by_label_contains("too short").next().is_some());
}

#[test]
fn the_map_stays_while_the_library_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let music = support::make_library(&tmp.path().join("first"), 8);
    let data = tmp.path().join("data");
    let (events, _keep) = crossbeam_channel::bounded(1024);
    let mut options = IndexOptions::new(vec![music]);
    options.jobs = 1;
    let data_dir = DataDir::at(&data);
    run(&data_dir, &options, &events, &IndexControl::default()).unwrap();

    let mut harness =
        Harness::builder().with_size([1440.0, 900.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    support::step_until(&mut harness, "the first map", |app| app.map_shown() == Some((8, true)) && !app.is_busy());

    // Adding a folder indexes it in the background; the map keeps its points
    // throughout, places the new tracks, then refreshes the layout.
    let more = support::make_library(&tmp.path().join("second"), 4);
    harness.state_mut().command(strata::ui::AppCommand::AddFolders(vec![more]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    while harness.state().map_shown() != Some((12, true)) || harness.state().is_busy() {
        assert!(Instant::now() < deadline, "the map never showed all 12 tracks: {seen:?}");
        harness.step();
        let shown = harness.state().map_shown();
        assert!(shown.is_some_and(|(points, _)| points >= 8), "the map went blank or lost tracks: {shown:?} after {seen:?}");
        if seen.last() != Some(&shown) {
            seen.push(shown);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("map states while growing: {seen:?}");
}

/// A library large enough that its probe outlasts the start-up rescan: the
/// rescan's reload (a folder gained files since the last run) replaces the
/// library while the first probe still runs, and the aspects must still
/// arrive (the first probe's answer is stale; the reloaded library's probe
/// starts when it ends). Before the fix the window of a synthetic
/// 20,000-track archive never showed its aspect sliders.
#[test]
fn aspects_arrive_when_the_library_reloads_during_its_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(tmp.path().join("data"));
    let options = strata::synth::LibraryOptions { tracks: 20_000, seed: 1, mert: false, root: strata::synth::default_root(&data_dir) };
    strata::synth::write_library(&data_dir, &options, &mut |_, _, _| {}).unwrap();
    // A second folder, empty when indexed, with files in it by the next start.
    let added = tmp.path().join("added");
    std::fs::create_dir_all(added.join("music")).unwrap();
    let (events, _keep) = crossbeam_channel::bounded(1024);
    run(&data_dir, &IndexOptions::new(vec![added.join("music")]), &events, &IndexControl::default()).unwrap();
    support::make_library(&added, 2);
    let mut harness =
        Harness::builder().with_size([1440.0, 900.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    support::step_until(&mut harness, "the library, the start-up rescan and every probe", |app| app.library().is_some() && !app.is_busy());
    assert!(harness.state().library().unwrap().generation > 1, "the rescan's commits reloaded the library");
    assert!(harness.state().probe_table().is_some(), "no probe table after the library settled");
    assert!(!harness.state().aspects().is_empty(), "no aspects after the library settled");
}

/// Images of the Map, Layer probe and Problems tabs of a small library at a
/// fixed window size, compared with tests/snapshots/*.png: a layout change
/// fails here. wgpu renders them (on the CPU through Mesa's lavapipe where
/// there is no GPU: `mesa-vulkan-drivers`); after an intended change,
/// `UPDATE_SNAPSHOTS=1 cargo test --test ui` writes them again.
#[test]
fn images_of_the_tabs() {
    // A fixed folder, because the Problems tab shows the failed files' full
    // paths; the lock keeps two test runs on this machine out of each other's way.
    let root = std::env::temp_dir().join("strata-ui-snapshots");
    let lock = std::fs::File::create(std::env::temp_dir().join("strata-ui-snapshots.lock")).unwrap();
    lock.lock().unwrap();
    let _ = std::fs::remove_dir_all(&root);
    let music = support::make_library(&root, 12);
    let data = root.join("data");
    let (events, _keep) = crossbeam_channel::bounded(1024);
    let mut options = IndexOptions::new(vec![music]);
    options.jobs = 1;
    let data_dir = DataDir::at(&data);
    run(&data_dir, &options, &events, &IndexControl::default()).unwrap();

    let mut harness = Harness::builder()
        .with_size([1100.0, 700.0])
        .wgpu()
        .build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    support::step_until(&mut harness, "the library, its probe, its map and the start-up rescan", |app| {
        app.library().is_some() && !app.aspects().is_empty() && app.map_shown() == Some((12, true)) && !app.is_busy()
    });
    // The rescan's summary says how long it took: not the same twice.
    harness.get_by_label("Dismiss").click();
    harness.run_steps(3);
    // A pixel may differ a little (font antialiasing differs between renderers),
    // and a few hundred may differ more; a moved panel or widget changes thousands.
    let tolerant = SnapshotOptions::new().threshold(1.5).max_failed_pixels(400);
    snapshot_above_player_bar(&mut harness, "tab_map", &tolerant);
    harness.get_by_label("Layer probe").click();
    harness.run_steps(3);
    snapshot_above_player_bar(&mut harness, "tab_layer_probe", &tolerant);
    harness.get_by_label_contains("Problems (").click();
    harness.run_steps(3);
    snapshot_above_player_bar(&mut harness, "tab_problems", &tolerant);
    drop(harness);
    let _ = std::fs::remove_dir_all(&root);
}

/// Rows of pixels at the bottom of the window the player bar takes: it says
/// whether this machine has an audio output, so it is left out of the images.
const PLAYER_BAR_PX: u32 = 26;

/// Compares the window, less the player bar, with the snapshot `name`.
fn snapshot_above_player_bar(harness: &mut Harness<'_, StrataApp>, name: &str, options: &SnapshotOptions) {
    let window = harness.render().unwrap();
    let (width, height) = window.dimensions();
    let above = image::imageops::crop_imm(&window, 0, 0, width, height - PLAYER_BAR_PX).to_image();
    egui_kittest::image_snapshot_options(&above, name, options);
}

/// Writes a classical library whose files carry no WORK tag: the works
/// must come from the titles (a separator, catalogue numbers). Beethoven's
/// Op. 18 No. 1 is there twice (a studio album and two movements live).
fn make_classical_library(root: &std::path::Path) -> std::path::PathBuf {
    let music = root.join("classical");
    let albums: [(&str, &str, &[&str]); 4] = [
        (
            "Beethoven Quartets",
            "Ludwig van Beethoven",
            &[
                "String Quartet in F major, Op. 18 No. 1: I. Allegro con brio",
                "String Quartet in F major, Op. 18 No. 1: II. Adagio affettuoso ed appassionato",
                "String Quartet in F major, Op. 18 No. 1: III. Scherzo. Allegro molto",
                "String Quartet in F major, Op. 18 No. 1: IV. Allegro",
            ],
        ),
        (
            "Cantatas",
            "Johann Sebastian Bach",
            &["Choral: Schau, lieber Gott, BWV 153.1", "Recitativo: Mein liebster Gott, BWV 153.2", "Arie: Fürchte dich nicht, BWV 153.3"],
        ),
        (
            "Hunt",
            "Wolfgang Amadeus Mozart",
            &[
                "Quartet KV 458 'The Hunt' - I. Allegro vivace assai",
                "Quartet KV 458 'The Hunt' - II. Menuetto",
                "Quartet KV 458 'The Hunt' - III. Adagio",
            ],
        ),
        (
            "Quartets Live",
            "Ludwig van Beethoven",
            &["String Quartet in F major, Op.18 Nr.1: I. Allegro con brio", "String Quartet in F major, Op.18 Nr.1: II. Adagio"],
        ),
    ];
    let mut tone_index = 0;
    for (album, composer, titles) in albums {
        std::fs::create_dir_all(music.join(album)).unwrap();
        for (i, title) in titles.iter().enumerate() {
            tone_index += 1;
            let rate = 22_050;
            let mut signal = support::tone(130.0 * (1.0 + tone_index as f32 * 0.29), rate, 9.0);
            if tone_index % 2 == 0 {
                let period = rate as usize * 60 / (70 + 9 * tone_index);
                for (n, s) in signal.iter_mut().enumerate() {
                    if n % period < 300 {
                        *s += 0.4 * (1.0 - (n % period) as f32 / 300.0) * ((n as f32 * 0.7).sin());
                    }
                }
            }
            let wav = music.join(album).join(format!("{:02}.wav", i + 1));
            support::write_wav(&wav, &signal, 1, rate);
            let metadata = [format!("album={album}"), format!("composer={composer}"), format!("title={title}"), format!("track={}", i + 1)];
            let mut args: Vec<&str> = vec!["-c:a", "flac"];
            for m in &metadata {
                args.extend(["-metadata", m]);
            }
            support::ffmpeg(&wav, &wav.with_extension("flac"), &args);
            std::fs::remove_file(&wav).unwrap();
        }
    }
    music
}

/// The top of the library panel's (leftmost) widget whose label contains `part`, to check the order rows are drawn in.
fn top_of(harness: &Harness<'_, StrataApp>, part: &str) -> f32 {
    let rects = harness.query_all_by_label_contains(part).map(|n| n.rect());
    rects.min_by(|a, b| a.left().total_cmp(&b.left())).unwrap_or_else(|| panic!("no {part}")).top()
}

/// Browsing by work, the Works/Tracks switch of the results, a path and
/// catalogue search, on a library without WORK
/// tags; with images of the works tree and of the results by work.
#[test]
fn works_browse_path_and_catalogue_search() {
    let tmp = tempfile::tempdir().unwrap();
    let music = make_classical_library(tmp.path());
    let data = tmp.path().join("data");
    let (events, _keep) = crossbeam_channel::bounded(1024);
    let mut options = IndexOptions::new(vec![music]);
    options.jobs = 1; // one worker commits in scan order: the same catalog, map and results every run
    let data_dir = DataDir::at(&data);
    assert_eq!(run(&data_dir, &options, &events, &IndexControl::default()).unwrap().indexed, 12);

    let app_dir = data_dir.clone();
    let mut harness = Harness::builder()
        .with_size([1280.0, 800.0])
        .wgpu()
        .build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), app_dir, Settings::default()));
    support::step_until(&mut harness, "the library, its probe and the start-up rescan", |app| {
        app.library().is_some() && !app.aspects().is_empty() && !app.is_busy()
    });
    harness.get_by_label("Dismiss").click();
    harness.run_steps(2);

    // The works tree: composer → work → movements in movement order, the work's other recording under it.
    harness.get_by_label("Works").click();
    harness.run_steps(2);
    harness.get_by_label("Ludwig van Beethoven").click();
    harness.run_steps(2);
    let library = harness.state().library().unwrap().clone();
    let studio = library.snapshot.works.works.iter().find(|w| w.tracks.len() == 4).unwrap().clone();
    eprintln!("works: {:?}", library.snapshot.works.works.iter().map(|w| (&w.title, w.source, w.tracks.len())).collect::<Vec<_>>());
    harness.get_all_by_label(&studio.title).next().unwrap().click();
    // The map finished too, so nothing still arriving moves the picture taken below.
    support::step_until(&mut harness, "results for the work's first movement", |app| {
        !app.results().is_empty() && !app.is_busy() && app.map_shown().is_some_and(|(_, own)| own)
    });
    let movements = ["I. Allegro con brio", "II. Adagio affettuoso", "III. Scherzo", "IV. Allegro", "Other recording: Quartets Live"];
    let tops: Vec<f32> = movements.iter().map(|m| top_of(&harness, m)).collect();
    assert!(tops.windows(2).all(|w| w[0] < w[1]), "movements out of order: {tops:?}");
    assert_eq!(harness.state().selected(), Some(studio.tracks[0]));
    assert_eq!(studio.tracks.len(), 4);
    assert_eq!(studio.source, strata::works::WorkSource::TitleSeparator);
    let tolerant = SnapshotOptions::new().threshold(1.5).max_failed_pixels(400);
    snapshot_above_player_bar(&mut harness, "works_tree", &tolerant);

    // The switch ranks whole works: never the query's own, each with its movements.
    let tracks_before: Vec<usize> = harness.state().results().iter().map(|r| r.track).collect();
    harness.get_by_label("Similar works").click();
    support::step_until(&mut harness, "works like the quartet", |app| app.work_results().is_some() && !app.is_busy());
    let works = harness.state().work_results().unwrap().to_vec();
    assert!(!works.is_empty() && works.iter().all(|r| library.snapshot.works.works[r.work].id != studio.id), "{works:?}");
    assert_eq!(works[0].facet_scores.len(), harness.state().aspects().len());
    let first_title = &library.snapshot.works.works[works[0].work].title;
    assert!(harness.query_all_by_label(first_title).count() >= 1, "the first work result {first_title} is not shown");
    snapshot_above_player_bar(&mut harness, "results_works", &tolerant);
    harness.get_by_label("Similar tracks").click();
    support::step_until(&mut harness, "track results again", |app| app.unit() == strata::works::similarity::Unit::Track && !app.is_busy());
    assert_eq!(harness.state().results().iter().map(|r| r.track).collect::<Vec<_>>(), tracks_before);

    // Path to…: right-click a Bach movement (in the Tracks table), "Path to here".
    harness.get_by_label("Tracks").click();
    harness.run_steps(2);
    let bach = "Arie: Fürchte dich nicht, BWV 153.3";
    // The table comes before the results panel, where the same title may be a result.
    harness.get_all_by_label(bach).next().unwrap().click_secondary();
    harness.run_steps(2);
    harness.get_by_label("Path to here").click();
    support::step_until(&mut harness, "the path", |app| app.listing().is_some() && !app.is_busy());
    let path = harness.state().listing().unwrap().to_vec();
    let to = library.snapshot.tracks.iter().position(|t| t.tags.title.as_deref() == Some(bach)).unwrap();
    assert_eq!((path.first(), path.last()), (Some(&studio.tracks[0]), Some(&to)), "{path:?}");
    let mut distinct = path.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), path.len(), "a path repeats no track: {path:?}");
    harness.get_by_label("Back to results").click();
    harness.run_steps(2);
    assert!(harness.state().listing().is_none());

    // Catalogue search: "op 18 1" finds both recordings however their titles spell it, and nothing else.
    harness.get_by_label("Tracks").click();
    harness.run_steps(2);
    harness.get_by(|node| node.placeholder().is_some_and(|p| p.contains("Search title"))).focus();
    harness.run_steps(2);
    harness.get_by(|node| node.placeholder().is_some_and(|p| p.contains("Search title"))).type_text("op 18 1");
    harness.run_steps(3);
    assert!(harness.query_all_by_label_contains("6 of 12 tracks").next().is_some(), "op 18 1 should find six tracks");
    assert!(harness.query_all_by_label("String Quartet in F major, Op.18 Nr.1: II. Adagio").count() >= 1, "the live recording is found");
}

/// Other recordings in the window: found from the audio on request, shown
/// with their evidence under the selected track, linked into one work, and
/// compared live (aligned in a worker, a tempo plot, switching with X).
#[test]
fn other_recordings_are_found_linked_and_compared() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let (pairs, alone) = support::write_versions_library(&music);
    let data_dir = DataDir::at(tmp.path().join("data"));
    let (events, _keep) = crossbeam_channel::bounded(1024);
    let mut options = IndexOptions::new(vec![music]);
    options.jobs = 1;
    run(&data_dir, &options, &events, &IndexControl::default()).unwrap();

    let mut harness =
        Harness::builder().with_size([1440.0, 900.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    support::step_until(&mut harness, "the library and the start-up rescan", |app| app.library().is_some() && !app.is_busy());
    let index_of =
        |app: &StrataApp, path: &std::path::Path| app.library().unwrap().snapshot.tracks.iter().position(|t| t.path == path).unwrap();
    let a = index_of(harness.state(), &pairs[0].0);
    harness.state_mut().command(AppCommand::Select(a));
    harness.run_steps(3);

    // Nothing was searched yet: the section offers the search.
    harness.get_by_label("🔍 Find other recordings").click();
    support::step_until(&mut harness, "the search and the reload after it", |app| {
        !app.is_busy() && app.library().unwrap().snapshot.versions.searched() == 5
    });
    let b = index_of(harness.state(), &pairs[0].1);
    let snapshot = harness.state().library().unwrap().snapshot.clone();
    let sure: Vec<usize> = snapshot.versions.of(a).unwrap().iter().filter(|o| o.is_sure()).map(|o| o.track).collect();
    assert_eq!(sure, [b]);
    let lone = index_of(harness.state(), &alone);
    assert!(snapshot.versions.of(lone).unwrap().iter().all(|o| !o.is_sure()));
    // The two recordings are one work now, found from the audio; the piece alone is not.
    assert_eq!(snapshot.works.work_of(a).work_key, snapshot.works.work_of(b).work_key);
    assert!([a, b].iter().any(|&t| snapshot.works.work_of(t).source == strata::works::WorkSource::Audio));
    assert_ne!(snapshot.works.work_of(lone).work_key, snapshot.works.work_of(a).work_key);
    // "Exclude same work" now leaves the other recording out of the results.
    harness.state_mut().command(AppCommand::Select(a));
    support::step_until(&mut harness, "results", |app| !app.results().is_empty() && !app.is_busy());
    assert!(harness.state().results().iter().any(|r| r.track == b));
    harness.get_by_label("exclude same work").click();
    harness.run_steps(2);
    let results: Vec<usize> = harness.state().results().iter().map(|r| r.track).collect();
    assert!(!results.is_empty() && !results.contains(&b), "{results:?}");
    harness.get_by_label("exclude same work").click();
    harness.run_steps(2);

    // The evidence: confidence, key (B is 2 lower) and tempo once aligned (B plays at 0.45/0.55 of A's tempo).
    harness.state_mut().command(AppCommand::Select(a));
    let deadline = Instant::now() + Duration::from_secs(120);
    while harness.query_by_label_contains("tempo ×").is_none() {
        assert!(Instant::now() < deadline, "no tempo shown");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.get_by_label_contains("% sure · key -2 · tempo ×0.8");
    assert!(harness.query_by_label("1 other recording").is_some());

    // Compare opens on the alignment already made: a tempo curve, and X switches sides.
    harness.get_by_label("↔ Compare").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("Live Compare").is_some());
    let curve = &harness.state().comparison_alignment().unwrap().tempo_curve;
    let median = {
        let mut ratios: Vec<f64> = curve.iter().map(|p| p[1]).collect();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    assert!((median - 0.45 / 0.55).abs() < 0.05, "median tempo ratio {median}");
    assert!(harness.query_by_label("↔ Switch to A").is_some());
    for expected in [Side::A, Side::B, Side::A] {
        harness.key_press(egui::Key::X);
        harness.run_steps(2);
        assert_eq!(harness.state().comparison().unwrap().side, Some(expected));
    }
    harness.get_by_label("✖ Close").click();
    harness.run_steps(2);
    assert!(harness.state().comparison().is_none());
}

/// A library over the thinning threshold shows its map as one texture of
/// markers, drawn where the plot is.
#[test]
fn a_large_map_is_drawn_as_one_texture() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(tmp.path().join("data"));
    let options = strata::synth::LibraryOptions { tracks: 25_000, seed: 3, mert: false, root: strata::synth::default_root(&data_dir) };
    strata::synth::write_library(&data_dir, &options, &mut |_, _, _| {}).unwrap();
    let mut harness = Harness::builder()
        .with_size([1440.0, 900.0])
        .wgpu()
        .build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    support::step_until(&mut harness, "the map of 25,000 tracks", |app| {
        app.map_shown() == Some((25_000, true)) && !app.is_busy() && app.map_texture_shown()
    });
    // The plot's middle (the map panel starts after the 400-point library panel) is full of markers.
    let image = harness.render().unwrap();
    let colours: std::collections::HashSet<[u8; 4]> =
        (560..760).flat_map(|x| (350..550).map(move |y| (x, y))).map(|(x, y)| image.get_pixel(x, y).0).collect();
    assert!(colours.len() > 50, "only {} colours in the middle of the map", colours.len());

    // Coloured by similarity, a slider dragged recolours the map in the background
    // (the frames keep the last colours), and the newest weights' colours arrive.
    harness.get_by_label("Similarity").click();
    harness.state_mut().command(AppCommand::Select(7));
    support::step_until(&mut harness, "the results and their colours", |app| {
        !app.results().is_empty() && !app.is_busy() && app.map_colours_current()
    });
    let aspect = harness.state().aspects().first().map(|a| a.name.clone()).expect("the probe resolves aspects");
    for i in 0..12 {
        harness.state_mut().set_aspect_weight(&aspect, (i % 5) as f32 / 4.0);
        harness.step();
    }
    harness.state_mut().set_aspect_weight(&aspect, 0.3);
    harness.step();
    support::step_until(&mut harness, "the newest weights' colours", |app| app.map_colours_current() && !app.is_busy());
    assert!(harness.query_by_label_contains("similarity 90–100 %").is_some(), "the legend ranks by similarity");
}

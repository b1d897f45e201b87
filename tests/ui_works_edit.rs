//! Correcting works in the window, through egui_kittest over a real indexed
//! library without WORK tags: merge two works, split a movement off, rename a
//! work in the dialog (its field found by its label). Each correction is
//! checked where it lands (the catalog's work edits) and where it shows (the
//! works tree and the reloaded library's works).
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use strata::indexer::{IndexControl, IndexOptions, run};
use strata::storage::catalog::Catalog;
use strata::storage::data_dir::DataDir;
use strata::ui::{Settings, StrataApp};
use strata::works::{Work, WorkEdit};

/// Two albums of one composer (a work on each, the second another
/// recording titled differently) and a third composer's work, as FLAC
/// tagged like a CD rip (album, composer, title, track), without WORK tags.
fn make_library(root: &std::path::Path) -> std::path::PathBuf {
    let music = root.join("classical");
    let albums: [(&str, &str, &[&str]); 3] = [
        (
            "Beethoven Quartets",
            "Ludwig van Beethoven",
            &[
                "String Quartet in F major, Op. 18 No. 1: I. Allegro con brio",
                "String Quartet in F major, Op. 18 No. 1: II. Adagio affettuoso",
                "String Quartet in F major, Op. 18 No. 1: III. Scherzo",
            ],
        ),
        (
            "Hunt",
            "Wolfgang Amadeus Mozart",
            &["Quartet KV 458 'The Hunt' - I. Allegro vivace assai", "Quartet KV 458 'The Hunt' - II. Menuetto"],
        ),
        ("Sonatas", "Ludwig van Beethoven", &["Piano Sonata No. 8, Op. 13: I. Grave", "Piano Sonata No. 8, Op. 13: II. Adagio cantabile"]),
    ];
    let mut tone_index = 0;
    for (album, composer, titles) in albums {
        std::fs::create_dir_all(music.join(album)).unwrap();
        for (i, title) in titles.iter().enumerate() {
            tone_index += 1;
            let rate = 22_050;
            let signal = support::tone(150.0 * (1.0 + tone_index as f32 * 0.31), rate, 6.0);
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

/// The work of the library's track whose title is `title`.
fn work_titled(app: &StrataApp, title: &str) -> Work {
    let snapshot = &app.library().unwrap().snapshot;
    let track = snapshot.tracks.iter().position(|t| t.tags.title.as_deref() == Some(title)).unwrap();
    snapshot.works.work_of(track).clone()
}

/// Waits for a correction to be saved and the library loaded again.
fn reloaded(harness: &mut Harness<'_, StrataApp>, generation: &mut u64, what: &str) {
    let before = *generation;
    support::step_until(harness, what, |app| app.library().is_some_and(|l| l.generation > before) && !app.is_busy());
    *generation = harness.state().library().unwrap().generation;
}

#[test]
fn merge_split_and_rename_works_in_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let music = make_library(tmp.path());
    let data = tmp.path().join("data");
    let (events, _keep) = crossbeam_channel::bounded(1024);
    let mut options = IndexOptions::new(vec![music]);
    options.jobs = 1;
    let data_dir = DataDir::at(&data);
    assert_eq!(run(&data_dir, &options, &events, &IndexControl::default()).unwrap().indexed, 7);
    let edits = || Catalog::open(&data_dir.catalog_path()).unwrap().work_edits().unwrap();

    let app_dir = data_dir.clone();
    let mut harness =
        Harness::builder().with_size([1280.0, 800.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), app_dir, Settings::default()));
    // Seven tracks are too few to probe: no aspects, which corrections do not need.
    support::step_until(&mut harness, "the library and the start-up rescan", |app| app.library().is_some() && !app.is_busy());
    let mut generation = harness.state().library().unwrap().generation;
    if harness.query_by_label("Dismiss").is_some() {
        harness.get_by_label("Dismiss").click();
    }
    harness.get_by_label("Works").click();
    harness.run_steps(2);
    harness.get_by_label("Ludwig van Beethoven").click();
    harness.run_steps(2);

    // Merge: ctrl-click both Beethoven works, then "Merge 2 works".
    let quartet = work_titled(harness.state(), "String Quartet in F major, Op. 18 No. 1: I. Allegro con brio");
    let sonata = work_titled(harness.state(), "Piano Sonata No. 8, Op. 13: I. Grave");
    assert_ne!(quartet.id, sonata.id);
    assert_eq!((quartet.tracks.len(), sonata.tracks.len()), (3, 2));
    for title in [&quartet.title, &sonata.title] {
        harness.get_by_label(title).click_modifiers(egui::Modifiers::COMMAND);
        harness.run_steps(2);
    }
    harness.get_by_label("Merge 2 works").click();
    reloaded(&mut harness, &mut generation, "the merge");
    let merged = work_titled(harness.state(), "Piano Sonata No. 8, Op. 13: II. Adagio cantabile");
    assert_eq!(merged.id, quartet.id, "the first marked work takes the other's movements");
    assert_eq!(merged.tracks.len(), 5);
    assert_eq!(edits().iter().filter(|e| matches!(e, WorkEdit::Assign { work_id, .. } if *work_id == quartet.id)).count(), 2);
    assert!(harness.query_by_label(&sonata.title).is_none(), "the merged work is gone from the tree");

    // Split: open the merged work, ctrl-click one movement, "Split off 1 movement".
    harness.get_by_label(&merged.title).click();
    harness.run_steps(2);
    // The tree is the leftmost panel; the results may list the same movement.
    let in_tree = harness.query_all_by_label_contains("Adagio cantabile").min_by(|a, b| a.rect().left().total_cmp(&b.rect().left()));
    in_tree.unwrap().click_modifiers(egui::Modifiers::COMMAND);
    harness.run_steps(2);
    harness.get_by_label("Split off 1 movement").click();
    reloaded(&mut harness, &mut generation, "the split");
    let split = work_titled(harness.state(), "Piano Sonata No. 8, Op. 13: II. Adagio cantabile");
    assert_eq!(split.id, format!("{}-1", quartet.id), "the movement is a work of its own");
    assert_eq!(split.tracks.len(), 1);
    assert_eq!(work_titled(harness.state(), "Piano Sonata No. 8, Op. 13: I. Grave").tracks.len(), 4);

    // Rename: click the quartet, "Rename…", type the new title in the field labelled "New title", Enter.
    let renamed = "Quartet Op. 18 No. 1 (both movements' sets)";
    harness.run_steps(30); // not a double click with the split's click on the same row
    harness.get_by_label(&merged.title).click();
    harness.run_steps(2);
    assert!(!harness.get_by_label("Rename…").accesskit_node().is_disabled(), "one work is marked");
    harness.get_by_label("Rename…").click();
    harness.run_steps(5); // a new window sizes itself, unseen, in its first frame
    assert!(harness.query_by_label("Rename work").is_some(), "the dialog is open");
    let field = harness.get_by_label("New title");
    field.focus();
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("New title").type_text(renamed);
    harness.run_steps(1);
    harness.get_by_label("Save").click();
    reloaded(&mut harness, &mut generation, "the rename");
    assert_eq!(work_titled(harness.state(), "String Quartet in F major, Op. 18 No. 1: I. Allegro con brio").title, renamed);
    assert!(edits().iter().any(|e| matches!(e, WorkEdit::Rename { work_id, title } if *work_id == quartet.id && title == renamed)));
    assert!(harness.query_by_label(renamed).is_some(), "the tree shows the new title");
}

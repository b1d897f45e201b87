//! The window's Models dialog driven through egui_kittest on a real data
//! folder: it lists the installed models and the installable ones (never
//! the hidden test model), shows the licence and asks for consent before an
//! install, asks before a removal, and an install from a checkpoint that
//! fails says why and leaves nothing installed. No hub install is started:
//! nothing here opens a network connection.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use strata::model::install;
use strata::storage::data_dir::DataDir;
use strata::ui::{AppCommand, Settings, StrataApp};

/// Steps the window until its background work (the survey, reading a checkpoint, an install, a removal) is done.
fn settle(harness: &mut Harness<'_, StrataApp>, what: &str) {
    harness.step();
    support::step_until(harness, what, |app| !app.is_busy());
}

/// The window on `data_dir` (nothing indexed) with the Models dialog open.
fn models_dialog(data_dir: DataDir) -> Harness<'static, StrataApp> {
    let mut harness =
        Harness::builder().with_size([1280.0, 800.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), data_dir, Settings::default()));
    settle(&mut harness, "the empty library");
    harness.get_by_label("Models…").click();
    settle(&mut harness, "the survey of installed models");
    harness
}

fn shown(harness: &Harness<'_, StrataApp>, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

fn shown_containing(harness: &Harness<'_, StrataApp>, part: &str) -> bool {
    harness.query_all_by_label_contains(part).next().is_some()
}

fn disabled(harness: &Harness<'_, StrataApp>, label: &str) -> bool {
    harness.get_by_label(label).accesskit_node().is_disabled()
}

/// The names in `dir` (none when it does not exist).
fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn lists_models_and_asks_before_install_and_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(tmp.path().join("data"));
    support::write_synthetic_model(&data_dir.models_dir(), "synth", &[4, 4]);
    let mut harness = models_dialog(data_dir.clone());

    // The installable models with their download size, licence and layers; never the hidden test model.
    for model in install::installable() {
        assert_eq!(shown(&harness, model.display_name), !model.hidden, "{}", model.name);
    }
    assert!(harness.query_all_by_label("CC-BY-NC-4.0").count() >= 2);
    assert!(shown(&harness, "378 MB download") && shown(&harness, "1.3 GB download"));
    assert!(shown(&harness, "25"), "MERT-v1-330M's 25 hidden states");
    // Installed: the bundled model in use, and one in the data folder, which is the one that can be removed.
    assert!(shown(&harness, "in use") && shown(&harness, "synth") && shown(&harness, "installed"));
    assert_eq!(harness.query_all_by_label("Remove…").count(), 1);

    // Install… shows the licence; Install stays disabled until "I accept" is ticked.
    harness.get_all_by_label("Install…").next().unwrap().click();
    harness.run_steps(2);
    assert!(shown(&harness, "Install MERT-v1-95M"));
    assert!(shown_containing(&harness, "NonCommercial") && shown_containing(&harness, "creativecommons.org/licenses/by-nc/4.0"));
    assert!(disabled(&harness, "Install"));
    harness.get_by_label("I accept").click();
    harness.run_steps(2);
    assert!(!disabled(&harness, "Install"));
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    assert!(!shown(&harness, "Install MERT-v1-95M"), "Cancel closes the licence");
    assert!(!data_dir.downloads_dir().exists(), "nothing was downloaded");

    // Remove… asks first: Cancel keeps the model, Remove deletes its folder.
    harness.get_by_label("Remove…").click();
    harness.run_steps(2);
    assert!(shown(&harness, "Remove synth?"));
    harness.get_by_label("Cancel").click();
    settle(&mut harness, "nothing");
    assert!(data_dir.models_dir().join("synth").is_dir());
    harness.get_by_label("Remove…").click();
    harness.run_steps(2);
    harness.get_by_label("Remove").click();
    settle(&mut harness, "the removal and the survey after it");
    assert!(!data_dir.models_dir().join("synth").exists());
    assert!(shown(&harness, "synth removed"));
    assert!(!shown(&harness, "synth") && harness.query_all_by_label("Remove…").next().is_none());
}

#[test]
fn a_failed_install_says_why_and_leaves_nothing_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(tmp.path().join("data"));
    // A checkpoint that config.json says is the test model, whose weights file holds one unrelated tensor.
    let checkpoint = tmp.path().join("downloaded");
    std::fs::create_dir_all(&checkpoint).unwrap();
    let architecture = install::convert::architecture("mert-tiny").unwrap();
    std::fs::write(checkpoint.join("config.json"), serde_json::to_string(architecture.config()).unwrap()).unwrap();
    std::fs::write(checkpoint.join("model.safetensors"), safetensors_with_one_tensor("unrelated.weight")).unwrap();

    let mut harness = models_dialog(data_dir.clone());
    harness.state_mut().command(AppCommand::CheckpointChosen(checkpoint));
    settle(&mut harness, "reading the checkpoint");
    let tiny = install::find("mert-tiny").unwrap();
    assert!(shown(&harness, &format!("Install {}", tiny.display_name)), "the licence of the model the checkpoint is");
    assert!(disabled(&harness, "Install"));
    harness.get_by_label("I accept").click();
    harness.run_steps(2);
    harness.get_by_label("Install").click();
    settle(&mut harness, "the install");
    assert!(shown_containing(&harness, &format!("{} not installed", tiny.display_name)));
    assert!(shown_containing(&harness, "unrelated.weight") || shown_containing(&harness, "missing"), "the reason is shown");
    assert!(!install::is_installed(&data_dir, "mert-tiny"));
    assert!(!data_dir.models_dir().join("mert-tiny").exists());
    let staged = data_dir.model_install_staging_dir("mert-tiny", std::process::id());
    assert!(!staged.exists(), "the staging folder is left: {:?}", names_in(&data_dir.model_staging_dir()));
}

/// A safetensors file with one 2 × 2 f32 tensor called `name`.
fn safetensors_with_one_tensor(name: &str) -> Vec<u8> {
    let header = format!(r#"{{"{name}":{{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}}}"#);
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 16]);
    bytes
}

/// Clicks the button labelled `button` on the dialog row whose first cell reads `row`.
fn click_in_row(harness: &Harness<'_, StrataApp>, row: &str, button: &str) {
    let top = harness.get_by_label(row).rect().center().y;
    let distance = |node: &egui_kittest::Node<'_>| (node.rect().center().y - top).abs();
    harness.query_all_by_label(button).min_by(|a, b| distance(a).total_cmp(&distance(b))).unwrap().click();
}

#[test]
fn installs_from_a_checkpoint_then_indexes_with_it_and_removes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let music = support::make_library(tmp.path(), 10);
    let data_dir = DataDir::at(tmp.path().join("data"));
    let settings = Settings { roots: vec![music], ..Settings::default() };
    let app_dir = data_dir.clone();
    let mut harness =
        Harness::builder().with_size([1280.0, 800.0]).build_eframe(|cc| StrataApp::new(cc.egui_ctx.clone(), app_dir, settings));
    settle(&mut harness, "the start-up index with the default model");
    assert_eq!(harness.state().library().unwrap().snapshot.model.name(), strata::model::DEFAULT_MODEL);
    harness.get_by_label("Models…").click();
    settle(&mut harness, "the survey of installed models");

    // The fixture checkpoint (random-init tiny MERT, as the exporter saved it) through the real install path.
    let tiny = install::find("mert-tiny").unwrap();
    let checkpoint = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mert-tiny-checkpoint");
    harness.state_mut().command(AppCommand::CheckpointChosen(checkpoint));
    settle(&mut harness, "reading the checkpoint");
    harness.get_by_label("I accept").click();
    harness.run_steps(2);
    harness.get_by_label("Install").click();
    settle(&mut harness, "the install");
    assert!(shown_containing(&harness, &format!("{} installed in", tiny.display_name)), "the install reports success");
    assert!(install::is_installed(&data_dir, "mert-tiny"));
    assert!(shown(&harness, tiny.display_name) && shown_containing(&harness, "CPU · "), "listed, with the variant it runs on the CPU");

    // Index library with this model: the window's model becomes the tiny MERT, and the probe and aspects follow its layers.
    click_in_row(&harness, tiny.display_name, "Index library with this model");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let app = harness.state();
        let done = app.library().is_some_and(|l| l.snapshot.model.name() == "mert-tiny" && l.snapshot.len() == 10)
            && !app.aspects().is_empty()
            && !app.is_busy();
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out indexing with the installed model: {:?}, {} aspects, busy {}, notice {:?}, failures {:?}",
            app.library().map(|l| (l.snapshot.model.name().to_string(), l.snapshot.len())),
            app.aspects().len(),
            app.is_busy(),
            app.notice(),
            app.failures().iter().map(|f| f.reason.clone()).collect::<Vec<_>>()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let library = harness.state().library().unwrap().clone();
    let layers = library.snapshot.layer_names();
    assert!(layers.len() > tiny.layers, "the tiny MERT's hidden states (and the tonal layer): {layers:?}");
    let probe = harness.state().probe_table().unwrap();
    assert_eq!(probe.layers, layers, "the probe is the installed model's");

    // Removing the model in use asks, removes it and switches the window back to the default model.
    harness.get_by_label("Models…").click();
    settle(&mut harness, "the survey of installed models");
    harness.get_by_label("Remove…").click();
    harness.run_steps(2);
    assert!(shown_containing(&harness, &format!("switches back to {}", strata::model::DEFAULT_MODEL)));
    harness.get_by_label("Remove").click();
    settle(&mut harness, "the removal and the library of the default model");
    assert!(!install::is_installed(&data_dir, "mert-tiny"));
    assert_eq!(harness.state().library().unwrap().snapshot.model.name(), strata::model::DEFAULT_MODEL);
}

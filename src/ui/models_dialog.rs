//! The Models dialog: the models installed and those Strata can install
//! (MERT-v1), each with its size, licence, layers and the ONNX Runtime
//! provider and variant it runs on; installing one (after the user accepts
//! its licence) from the Hugging Face hub or from a checkpoint the user
//! downloaded, removing one (after asking), and "Index library with this
//! model", which makes it the window's model (so the probe, the aspects and
//! the layer sweep follow it) and indexes the library with it.
//!
//! Nothing here touches the disk or the network on the UI thread: the
//! survey of installed models, the file picker, identifying a checkpoint,
//! installing and removing each run on a named thread that answers on a
//! bounded channel of one, polled every frame; an install's
//! [`InstallProgress`] is read each frame while it runs. Only the Install
//! button opens a network connection ([`Source::Hub`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use eframe::egui;

use super::{AppCommand, theme};
use crate::model::install::checkpoint::Checkpoint;
use crate::model::install::hub::HubError;
use crate::model::install::{self, InstallError, InstallProgress, InstallableModel, Source, config, convert};
use crate::model::{self, ModelInfo, ModelManifest, Provider, onnx_runtime};
use crate::storage::data_dir::DataDir;

/// What the window tells the dialog each frame.
pub struct ModelsContext<'a> {
    /// Where models are installed.
    pub data_dir: &'a DataDir,
    /// The model the window uses now.
    pub active_model: &'a str,
    /// The library has music folders to index.
    pub has_folders: bool,
    /// An indexing run is under way.
    pub indexing: bool,
}

/// The dialog's state; closed until [`ModelsDialog::open`].
pub struct ModelsDialog {
    /// Woken when a background thread answers.
    ctx: egui::Context,
    open: bool,
    /// The last survey of installed models and of the runtime.
    survey: Option<Survey>,
    /// A survey under way.
    surveying: Option<Receiver<Survey>>,
    /// The file picker, while it is open: the chosen path, if any.
    picking: Option<Receiver<Option<PathBuf>>>,
    /// A chosen checkpoint being identified.
    identifying: Option<Receiver<Result<(&'static InstallableModel, PathBuf), String>>>,
    /// The licence shown before an install, waiting for consent.
    consent: Option<Consent>,
    /// The model the user asked to remove, waiting for confirmation.
    confirm_remove: Option<Removal>,
    /// An install or removal under way.
    job: Option<Job>,
    /// What the last action came to: done (Ok) or why not (Err).
    outcome: Option<Result<String, String>>,
}

/// Installed models and what they run on, gathered off the UI thread.
struct Survey {
    installed: Vec<InstalledModel>,
    /// Whether ONNX Runtime offers CUDA, or why it could not be loaded.
    cuda: Result<bool, String>,
}

struct InstalledModel {
    info: ModelInfo,
    bytes: u64,
    /// Installed into the data folder (the bundled models are not removable).
    removable: bool,
}

struct Consent {
    model: &'static InstallableModel,
    source: Source,
    accepted: bool,
}

/// A model to remove once the user confirms.
struct Removal {
    name: String,
    display_name: String,
}

struct Job {
    /// "Installing MERT-v1-95M", "Removing mert-v1-95m".
    title: String,
    /// The model installed or removed.
    model: String,
    /// An install's progress (a removal has none).
    progress: Option<Arc<InstallProgress>>,
    done: Receiver<Result<String, String>>,
}

/// What one polled channel holds.
enum Polled<T> {
    Waiting,
    Ready(T),
    /// The thread ended without answering (it panicked).
    Lost,
}

fn poll<T>(receiver: &Receiver<T>) -> Polled<T> {
    match receiver.try_recv() {
        Ok(value) => Polled::Ready(value),
        Err(TryRecvError::Empty) => Polled::Waiting,
        Err(TryRecvError::Disconnected) => Polled::Lost,
    }
}

/// Runs `job` on a thread called `name` at background priority; its answer
/// arrives on the returned channel, and the window is woken for it.
fn spawn<T: Send + 'static>(name: &str, ctx: &egui::Context, job: impl FnOnce() -> T + Send + 'static) -> Result<Receiver<T>, String> {
    let (answer, receiver) = bounded(1);
    let ctx = ctx.clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            crate::priority::lower_this_thread();
            let _ = answer.send(job());
            ctx.request_repaint();
        })
        .map_err(|e| format!("could not start {name}: {e}"))?;
    Ok(receiver)
}

impl ModelsDialog {
    /// A closed dialog for the window of `ctx`.
    pub fn new(ctx: egui::Context) -> Self {
        Self {
            ctx,
            open: false,
            survey: None,
            surveying: None,
            picking: None,
            identifying: None,
            consent: None,
            confirm_remove: None,
            job: None,
            outcome: None,
        }
    }

    /// Opens the dialog and surveys the installed models again.
    pub fn open(&mut self, data_dir: &DataDir) {
        self.open = true;
        self.resurvey(data_dir);
    }

    /// Whether a survey, an identification, an install or a removal is under way.
    pub fn busy(&self) -> bool {
        self.surveying.is_some() || self.identifying.is_some() || self.job.is_some()
    }

    /// A checkpoint folder or weights file to install from (the picker's
    /// answer, or a test's): identified off the UI thread, then the licence is shown.
    pub fn checkpoint_chosen(&mut self, path: PathBuf) {
        self.open = true;
        self.outcome = None;
        match spawn("strata-identify-checkpoint", &self.ctx, move || identify(&path).map(|model| (model, path))) {
            Ok(receiver) => self.identifying = Some(receiver),
            Err(e) => self.outcome = Some(Err(e)),
        }
    }

    fn resurvey(&mut self, data_dir: &DataDir) {
        if self.surveying.is_some() {
            return;
        }
        let data_dir = data_dir.clone();
        match spawn("strata-models-survey", &self.ctx, move || survey(&data_dir)) {
            Ok(receiver) => self.surveying = Some(receiver),
            Err(e) => self.outcome = Some(Err(e)),
        }
    }

    /// Takes in what the background threads answered; true when the
    /// installed models changed (the window then discovers them again).
    fn poll_threads(&mut self, models: &ModelsContext<'_>, commands: &mut Vec<AppCommand>) -> bool {
        if let Some(receiver) = &self.surveying {
            match poll(receiver) {
                Polled::Waiting => {}
                Polled::Ready(survey) => {
                    self.survey = Some(survey);
                    self.surveying = None;
                }
                Polled::Lost => {
                    self.outcome = Some(Err("listing the installed models failed (see the log)".into()));
                    self.surveying = None;
                }
            }
        }
        if let Some(receiver) = &self.picking {
            match poll(receiver) {
                Polled::Waiting => {}
                Polled::Ready(chosen) => {
                    self.picking = None;
                    if let Some(path) = chosen {
                        self.checkpoint_chosen(path);
                    }
                }
                Polled::Lost => self.picking = None,
            }
        }
        if let Some(receiver) = &self.identifying {
            match poll(receiver) {
                Polled::Waiting => {}
                Polled::Ready(Ok((model, path))) => {
                    self.consent = Some(Consent { model, source: Source::Path(path), accepted: false });
                    self.identifying = None;
                }
                Polled::Ready(Err(reason)) => {
                    self.outcome = Some(Err(reason));
                    self.identifying = None;
                }
                Polled::Lost => {
                    self.outcome = Some(Err("reading the checkpoint failed (see the log)".into()));
                    self.identifying = None;
                }
            }
        }
        let Some(job) = &self.job else { return false };
        let outcome = match poll(&job.done) {
            Polled::Waiting => return false,
            Polled::Ready(outcome) => outcome,
            Polled::Lost => Err(format!("{} stopped unexpectedly (see the log)", job.title.to_lowercase())),
        };
        let removed_active = job.progress.is_none() && outcome.is_ok() && job.model == models.active_model;
        if removed_active {
            commands.push(AppCommand::SetModel(model::DEFAULT_MODEL.to_string()));
        }
        self.outcome = Some(outcome);
        self.job = None;
        self.resurvey(models.data_dir);
        true
    }

    /// Draws the dialog while it is open, and takes in the background
    /// threads' answers; true when the installed models changed.
    pub fn ui(&mut self, ctx: &egui::Context, models: &ModelsContext<'_>, commands: &mut Vec<AppCommand>) -> bool {
        let changed = self.poll_threads(models, commands);
        if !self.open {
            return changed;
        }
        let mut open = true;
        let window = egui::Window::new("Models").open(&mut open).collapsible(false).resizable(false);
        window.anchor(egui::Align2::CENTER_TOP, [0.0, 60.0]).show(ctx, |ui| {
            self.contents(ui, models, commands);
        });
        self.open = open;
        self.consent_modal(ctx, models.data_dir);
        self.remove_modal(ctx, models);
        // The progress lives in atomics nobody wakes the window for: poll while something runs.
        if self.busy() || self.picking.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        changed
    }

    fn contents(&mut self, ui: &mut egui::Ui, models: &ModelsContext<'_>, commands: &mut Vec<AppCommand>) {
        let Some(survey) = &self.survey else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for installed models…");
            });
            return;
        };
        let mut action = None;
        egui::Grid::new("models-grid").striped(true).num_columns(7).spacing([14.0, 6.0]).show(ui, |ui| {
            for heading in ["Model", "", "Size", "Licence", "Layers", "Runs on", ""] {
                ui.label(egui::RichText::new(heading).strong());
            }
            ui.end_row();
            for installed in &survey.installed {
                if let Some(clicked) = installed_row(ui, installed, &survey.cuda, models, self.job.is_some()) {
                    action = Some(clicked);
                }
                ui.end_row();
            }
            for model in install::installable().iter().filter(|m| !m.hidden) {
                if survey.installed.iter().any(|i| i.info.name() == model.name) {
                    continue;
                }
                if let Some(clicked) = installable_row(ui, model, self.job.is_some()) {
                    action = Some(clicked);
                }
                ui.end_row();
            }
        });
        if !models.has_folders {
            ui.label(egui::RichText::new("Add a music folder to index the library with a model.").weak());
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let idle = self.job.is_none() && self.picking.is_none() && self.identifying.is_none();
            ui.add_enabled_ui(idle, |ui| {
                ui.menu_button("Install from a downloaded checkpoint…", |ui| {
                    if ui.button("A checkpoint folder…").clicked() {
                        action = Some(Action::Pick(Pick::Folder));
                    }
                    if ui.button("A weights file (.safetensors, .bin)…").clicked() {
                        action = Some(Action::Pick(Pick::File));
                    }
                });
            })
            .response
            .on_hover_text("A folder with model.safetensors or pytorch_model.bin and config.json, downloaded from the hub by hand");
            if self.identifying.is_some() {
                ui.spinner();
                ui.label("Reading the checkpoint…");
            }
        });
        if let Some(job) = &self.job {
            ui.separator();
            job_progress(ui, job);
        }
        match &self.outcome {
            Some(Ok(done)) => {
                ui.separator();
                ui.label(done);
            }
            Some(Err(reason)) => {
                ui.separator();
                ui.colored_label(theme::ERROR, reason);
            }
            None => {}
        }
        if let Some(action) = action {
            self.act(action, commands);
        }
    }

    fn act(&mut self, action: Action, commands: &mut Vec<AppCommand>) {
        match action {
            Action::Use(name) => commands.push(AppCommand::SetModel(name)),
            Action::Index(name) => {
                commands.push(AppCommand::SetModel(name));
                commands.push(AppCommand::Reindex);
                self.open = false;
            }
            Action::Install(model) => {
                self.outcome = None;
                self.consent = Some(Consent { model, source: Source::Hub, accepted: false });
            }
            Action::Remove(removal) => {
                self.outcome = None;
                self.confirm_remove = Some(removal);
            }
            Action::Pick(what) => match spawn("strata-pick-checkpoint", &self.ctx, move || what.pick()) {
                Ok(receiver) => self.picking = Some(receiver),
                Err(e) => self.outcome = Some(Err(e)),
            },
        }
    }

    /// The licence and "I accept" before an install; Install starts it.
    fn consent_modal(&mut self, ctx: &egui::Context, data_dir: &DataDir) {
        let job_running = self.job.is_some();
        let Some(consent) = &mut self.consent else { return };
        let model = consent.model;
        let mut start = false;
        let mut close = false;
        egui::Modal::new(egui::Id::unique("models-consent")).show(ctx, |ui| {
            ui.set_max_width(520.0);
            ui.heading(format!("Install {}", model.display_name));
            ui.add_space(4.0);
            match &consent.source {
                Source::Hub => ui.label(format!(
                    "Downloads {} from the Hugging Face hub ({} at revision {}), then converts it for ONNX Runtime on this computer.",
                    format_bytes(model.download_bytes),
                    model.hf_repo,
                    short_revision(model.revision)
                )),
                Source::Path(path) => ui.label(format!("Converts the checkpoint in {} for ONNX Runtime on this computer.", path.display())),
            };
            ui.add_space(6.0);
            ui.label(egui::RichText::new(format!("Licence: {}", model.license)).strong());
            ui.label(model.license_summary);
            ui.hyperlink_to(format!("Read the licence: {}", model.license_url), model.license_url);
            ui.hyperlink_to(format!("The model's page: {}", model.page_url()), model.page_url());
            ui.add_space(6.0);
            ui.checkbox(&mut consent.accepted, "I accept");
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                let install = ui.add_enabled(consent.accepted && !job_running, egui::Button::new("Install"));
                let why_not = if job_running { "Wait for the running install or removal to finish" } else { "Accept the licence first" };
                if install.on_disabled_hover_text(why_not).clicked() {
                    start = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
        if start && let Some(consent) = self.consent.take() {
            self.start_install(data_dir, consent.model, consent.source);
        } else if close {
            self.consent = None;
        }
    }

    /// "Remove …?" before a removal.
    fn remove_modal(&mut self, ctx: &egui::Context, models: &ModelsContext<'_>) {
        let Some(removal) = &self.confirm_remove else { return };
        let mut confirmed = false;
        let mut close = false;
        egui::Modal::new(egui::Id::unique("models-remove")).show(ctx, |ui| {
            ui.set_max_width(480.0);
            ui.heading(format!("Remove {}?", removal.display_name));
            ui.label(
                "Its folder in Strata's data folder is deleted. The vectors it computed for your library stay; \
                 installing it again brings them back into use.",
            );
            if removal.name == models.active_model {
                ui.label(format!("The window switches back to {}.", model::DEFAULT_MODEL));
            }
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                confirmed = ui.button("Remove").clicked();
                close = ui.button("Cancel").clicked();
            });
        });
        if confirmed && let Some(removal) = self.confirm_remove.take() {
            self.start_remove(models.data_dir, removal.name);
        } else if close {
            self.confirm_remove = None;
        }
    }

    fn start_install(&mut self, data_dir: &DataDir, model: &'static InstallableModel, source: Source) {
        let progress = Arc::new(InstallProgress::default());
        let worker_progress = progress.clone();
        let data_dir = data_dir.clone();
        let answer = spawn("strata-model-install", &self.ctx, move || {
            install::install(&data_dir, model, &source, &worker_progress)
                .map(|report| installed_summary(model, &report))
                .map_err(|e| install_failure(model, &e))
        });
        match answer {
            Ok(done) => {
                self.job = Some(Job {
                    title: format!("Installing {}", model.display_name),
                    model: model.name.to_string(),
                    progress: Some(progress),
                    done,
                });
            }
            Err(e) => self.outcome = Some(Err(e)),
        }
    }

    fn start_remove(&mut self, data_dir: &DataDir, name: String) {
        let data_dir = data_dir.clone();
        let removed = name.clone();
        let answer = spawn("strata-model-remove", &self.ctx, move || {
            install::remove(&data_dir, &removed).map(|()| format!("{removed} removed")).map_err(|e| format!("{removed} not removed: {e}"))
        });
        match answer {
            Ok(done) => self.job = Some(Job { title: format!("Removing {name}"), model: name, progress: None, done }),
            Err(e) => self.outcome = Some(Err(e)),
        }
    }
}

/// What a click in the dialog asks for.
enum Action {
    /// Make this model the window's model.
    Use(String),
    /// Make it the window's model and index the library with it.
    Index(String),
    /// Show the licence, then install from the hub.
    Install(&'static InstallableModel),
    /// Ask, then remove.
    Remove(Removal),
    /// Open the file picker.
    Pick(Pick),
}

/// What the checkpoint picker asks for (rfd has no picker for "a folder or a file").
#[derive(Debug, Clone, Copy)]
enum Pick {
    Folder,
    File,
}

impl Pick {
    /// Runs the native dialog (on the picker's thread: it blocks until the user answers).
    fn pick(self) -> Option<PathBuf> {
        let dialog = rfd::FileDialog::new().set_title("Install from a downloaded checkpoint");
        match self {
            Pick::Folder => dialog.pick_folder(),
            Pick::File => dialog.add_filter("Checkpoint weights", &["safetensors", "bin"]).pick_file(),
        }
    }
}

fn installed_row(
    ui: &mut egui::Ui,
    installed: &InstalledModel,
    cuda: &Result<bool, String>,
    models: &ModelsContext<'_>,
    job_running: bool,
) -> Option<Action> {
    let manifest = &installed.info.manifest;
    let name = installed.info.name();
    let active = name == models.active_model;
    ui.label(&manifest.display_name).on_hover_text(&manifest.description);
    ui.label(if active { "in use" } else { "installed" });
    ui.label(format_bytes(installed.bytes));
    licence_cell(ui, &manifest.license);
    ui.label(manifest.layers.len().to_string());
    let runs = ui.label(runs_on(manifest, cuda));
    match cuda {
        Err(reason) => runs.on_hover_text(reason),
        Ok(_) if !manifest.variants.is_empty() => runs.on_hover_text(variants_checked(manifest)),
        Ok(_) => runs,
    };
    let mut action = None;
    ui.horizontal(|ui| {
        if !active && ui.button("Use").on_hover_text("Show the library as this model sees it").clicked() {
            action = Some(Action::Use(name.to_string()));
        }
        let index = ui.add_enabled(models.has_folders && !models.indexing, egui::Button::new("Index library with this model"));
        let index = index
            .on_hover_text("Analyse the library's music folders with this model; the probe, aspects and layer sweep then use it")
            .on_disabled_hover_text(if models.indexing {
                "Indexing is running: wait for it, or cancel it"
            } else {
                "Add a music folder first"
            });
        if index.clicked() {
            action = Some(Action::Index(name.to_string()));
        }
        if installed.removable {
            // The running indexer reads the active model's files.
            let busy = job_running || (active && models.indexing);
            let remove = ui.add_enabled(!busy, egui::Button::new("Remove…"));
            if remove.on_disabled_hover_text("Wait for the running install or indexing to finish").clicked() {
                action = Some(Action::Remove(Removal { name: name.to_string(), display_name: manifest.display_name.clone() }));
            }
        }
    });
    action
}

fn installable_row(ui: &mut egui::Ui, model: &'static InstallableModel, job_running: bool) -> Option<Action> {
    ui.label(model.display_name).on_hover_text(model.page_url());
    ui.label("not installed");
    ui.label(format!("{} download", format_bytes(model.download_bytes)));
    ui.label(model.license).on_hover_text(model.license_summary);
    ui.label(model.layers.to_string());
    ui.label("—");
    let install = ui.add_enabled(!job_running, egui::Button::new("Install…"));
    install.on_disabled_hover_text("Wait for the running install to finish").clicked().then_some(Action::Install(model))
}

fn job_progress(ui: &mut egui::Ui, job: &Job) {
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(&job.title).strong());
        ui.spinner();
    });
    let Some(progress) = &job.progress else { return };
    let stage = progress.stage();
    let (done, total) = (progress.done.load(Ordering::Relaxed), progress.total.load(Ordering::Relaxed));
    ui.horizontal(|ui| {
        let bar = if total > 0 {
            egui::ProgressBar::new((done as f32 / total as f32).clamp(0.0, 1.0)).show_percentage()
        } else {
            egui::ProgressBar::new(0.0).animate(true)
        };
        ui.add(bar.desired_width(420.0).text(if stage.is_empty() { "starting…".to_string() } else { stage }));
        let cancelling = progress.cancel.load(Ordering::Relaxed);
        if ui.add_enabled(!cancelling, egui::Button::new(if cancelling { "Cancelling…" } else { "Cancel" })).clicked() {
            progress.cancel.store(true, Ordering::Relaxed);
        }
    });
}

/// A licence's identifier, the rest of a long licence text on hover.
fn licence_cell(ui: &mut egui::Ui, licence: &str) {
    match licence.split_once(" (") {
        Some((id, _)) => ui.label(id).on_hover_text(licence),
        None => ui.label(licence),
    };
}

/// The provider this machine's ONNX Runtime gives the model, and the
/// variant it then loads ("CPU · int8"); with a CUDA build of the runtime,
/// CUDA, and what runs when no GPU answers.
fn runs_on(manifest: &ModelManifest, cuda: &Result<bool, String>) -> String {
    let on = |provider: Provider| match manifest.choose_variant(None, provider) {
        Ok(Some(variant)) => format!("{provider} · {}", variant.name),
        _ => provider.to_string(),
    };
    match cuda {
        Ok(true) => format!("{} (no GPU: {})", on(Provider::Cuda), on(Provider::Cpu)),
        Ok(false) => on(Provider::Cpu),
        Err(_) => "ONNX Runtime not found".to_string(),
    }
}

/// The variants install kept, each with its drift against fp32 as measured on this machine.
fn variants_checked(manifest: &ModelManifest) -> String {
    let lines: Vec<String> = manifest
        .variants
        .iter()
        .map(|v| match v.min_layer_cosine {
            Some(cosine) => format!("{}: lowest layer cosine to fp32 {cosine:.4}", v.name),
            None => v.name.clone(),
        })
        .collect();
    format!("Variants installed and checked:\n{}", lines.join("\n"))
}

/// Which installable model a checkpoint is, from its config.json.
fn identify(path: &Path) -> Result<&'static InstallableModel, String> {
    let checkpoint = Checkpoint::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(config_path) = checkpoint.config_path() else {
        return Err(format!(
            "no config.json beside {}: choose the folder the checkpoint was downloaded into (it holds config.json)",
            path.display()
        ));
    };
    let found = config::read_config(config_path)?;
    install::installable()
        .iter()
        .find(|m| convert::architecture(m.name).is_ok_and(|arch| config::check_config(&found, arch.config()).is_ok()))
        .ok_or_else(|| {
            format!(
                "this checkpoint ({} layers, hidden size {}) is none of the models Strata installs ({})",
                found.num_hidden_layers,
                found.hidden_size,
                install::installable().iter().filter(|m| !m.hidden).map(|m| m.name).collect::<Vec<_>>().join(", ")
            )
        })
}

fn survey(data_dir: &DataDir) -> Survey {
    let models_dir = data_dir.models_dir();
    let installed = model::discover_models(&data_dir.model_search_dirs())
        .into_iter()
        .filter_map(Result::ok)
        .map(|info| InstalledModel { bytes: folder_bytes(&info.dir), removable: info.dir.starts_with(&models_dir), info })
        .collect();
    let cuda = onnx_runtime::init().map(onnx_runtime::RuntimeInfo::has_cuda).map_err(ToString::to_string);
    Survey { installed, cuda }
}

/// Bytes of the files in `dir` and below.
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => folder_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn installed_summary(model: &InstallableModel, report: &install::InstallReport) -> String {
    let downloaded =
        if report.downloaded_bytes > 0 { format!(", {} downloaded", format_bytes(report.downloaded_bytes)) } else { String::new() };
    format!("{} installed in {:.0} s{downloaded}", model.display_name, report.seconds)
}

/// Why an install failed, with the window's way out where the error names the command line's.
fn install_failure(model: &InstallableModel, error: &InstallError) -> String {
    let reason = match error {
        InstallError::Hub(HubError::Unreachable { endpoint, reason }) => format!(
            "cannot reach the hub at {endpoint}: download the checkpoint yourself and use Install from a downloaded checkpoint… ({reason})"
        ),
        InstallError::Hub(HubError::Interrupted { file, done_bytes, total_bytes, reason }) => {
            format!("download of {file} interrupted at {done_bytes} of {total_bytes} bytes ({reason}); Install again to resume")
        }
        InstallError::Hub(HubError::Corrupt { file, found, expected }) => {
            format!("{file} is corrupt (SHA-256 {found}, the hub says {expected}); it was deleted, Install again")
        }
        InstallError::AlreadyInstalled { .. } => "it is installed already; Remove it first to install it again".to_string(),
        other => other.to_string(),
    };
    format!("{} not installed: {reason}", model.display_name)
}

/// The first 10 characters of a commit id.
fn short_revision(revision: &str) -> &str {
    revision.get(..10).unwrap_or(revision)
}

/// "380 MB", "1.3 GB", "24 kB".
fn format_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_bytes(377_000_000), "377 MB");
        assert_eq!(format_bytes(1_262_000_000), "1.3 GB");
    }
}

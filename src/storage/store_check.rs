//! The store checks itself: are a catalogued track's rows its own?
//!
//! Two depths. [`verify_pointers`] reads one [`RowRecord`] per track and no
//! vectors, so every snapshot load runs it ([`split_damaged`]): a track whose
//! rows lie past the end of the store, whose record names another owner or
//! another write, or who shares rows with another track is left out and
//! reported as [`StoreDamage`] — a damaged store never serves one track's
//! vectors as another's. [`check_store`], behind `strata check`, also reads
//! every row (checksums, finite values) and asks SQLite to check the catalog;
//! [`requeue_damaged`] repairs by forgetting damaged analyses so the next
//! `strata index` redoes them. This module never writes the store files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::model;
use crate::storage::catalog::{ANALYSIS_VERSION, Catalog, StoredAnalysis, Track, path_bytes};
use crate::storage::data_dir::DataDir;
use crate::storage::store::{RowRecord, StoreLayout, StoreReader, owner_key};
use crate::storage::writer_lock::WriterLock;

/// What can be wrong with one track's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Its rows lie past the end of a store file (a truncated or lost file).
    MissingRows,
    /// Its row record was written for another track: the catalog points at vectors that are not its own.
    ForeignRow,
    /// Its row record is missing, or is the track's but from another write (other windows or checksum).
    RecordMismatch,
    /// Another track points at the same row or at overlapping window rows.
    SharedRows,
    /// Its bytes are not the ones written (a torn write, bit rot).
    ChecksumMismatch,
    /// Its rows hold NaN or infinite values.
    NonFinite,
}

impl Problem {
    /// Its name in `strata check`'s output (as in its JSON).
    pub fn name(self) -> &'static str {
        match self {
            Problem::MissingRows => "missing_rows",
            Problem::ForeignRow => "foreign_row",
            Problem::RecordMismatch => "record_mismatch",
            Problem::SharedRows => "shared_rows",
            Problem::ChecksumMismatch => "checksum_mismatch",
            Problem::NonFinite => "non_finite",
        }
    }

    /// What the problem means, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Problem::MissingRows => "rows past the end of a store file",
            Problem::ForeignRow => "the row was written for another track",
            Problem::RecordMismatch => "the row record is missing or from another write of the track",
            Problem::SharedRows => "a row or window rows shared with another track",
            Problem::ChecksumMismatch => "the rows are not the bytes that were written",
            Problem::NonFinite => "NaN or infinite values",
        }
    }

    /// Whether the track's vectors may be another track's (rather than missing or corrupt).
    fn is_not_its_own(self) -> bool {
        matches!(self, Problem::ForeignRow | Problem::RecordMismatch | Problem::SharedRows)
    }
}

/// The cheap verdict on one track's pointers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointerVerdict {
    /// What is wrong; empty when the rows are the track's.
    pub problems: Vec<Problem>,
    /// An older Strata wrote the rows without a record: they cannot be verified.
    pub unverified: bool,
}

/// Checks each catalogued track's pointers against the store's row records
/// and file lengths, and against each other; one verdict per entry, in order.
/// Reads no vectors: 100k tracks cost 100k record comparisons and a sort.
pub fn verify_pointers(store: &StoreReader, entries: &[(Track, StoredAnalysis)]) -> Vec<PointerVerdict> {
    let layout = store.layout();
    let track_rows = (0..layout.model_layers).map(|layer| store.layer_rows(layer)).min().unwrap_or(0);
    let window_rows = store.window_rows_len();
    let mut verdicts: Vec<PointerVerdict> = entries
        .iter()
        .map(|(track, analysis)| {
            let mut verdict = PointerVerdict::default();
            let window_count = analysis.window_starts_s.len() as u64;
            let windows_end = analysis.window_row.checked_add(window_count);
            if analysis.store_row >= track_rows || (window_count > 0 && windows_end.is_none_or(|end| end > window_rows)) {
                verdict.problems.push(Problem::MissingRows);
            }
            match store.row_record(analysis.store_row) {
                Some(record) => {
                    if let Some(problem) = record_problem(&record, track, analysis) {
                        verdict.problems.push(problem);
                    }
                }
                // The catalog says it was written with a record: losing it is damage.
                None if analysis.checksum.is_some() => verdict.problems.push(Problem::RecordMismatch),
                None => verdict.unverified = true,
            }
            verdict
        })
        .collect();
    for index in shared_rows(entries) {
        verdicts[index].problems.push(Problem::SharedRows);
    }
    verdicts
}

/// Whether `record` is the one written for `track` at the catalog's pointers.
fn record_problem(record: &RowRecord, track: &Track, analysis: &StoredAnalysis) -> Option<Problem> {
    if record.owner_key != owner_key(&path_bytes(&track.path)) {
        return Some(Problem::ForeignRow);
    }
    let same_windows = record.window_row == analysis.window_row && record.window_count as usize == analysis.window_starts_s.len();
    let same_checksum = analysis.checksum.is_none_or(|checksum| checksum == record.checksum);
    (!same_windows || !same_checksum).then_some(Problem::RecordMismatch)
}

/// Indices of entries that share a track row or overlapping window rows with another entry.
fn shared_rows(entries: &[(Track, StoredAnalysis)]) -> Vec<usize> {
    let mut shared = vec![false; entries.len()];
    let mut by_row: Vec<usize> = (0..entries.len()).collect();
    by_row.sort_by_key(|&i| entries[i].1.store_row);
    for pair in by_row.windows(2) {
        if entries[pair[0]].1.store_row == entries[pair[1]].1.store_row {
            shared[pair[0]] = true;
            shared[pair[1]] = true;
        }
    }
    let window_range = |i: usize| {
        let analysis = &entries[i].1;
        (analysis.window_row, analysis.window_row.saturating_add(analysis.window_starts_s.len() as u64))
    };
    let mut by_window: Vec<usize> = (0..entries.len()).filter(|&i| !entries[i].1.window_starts_s.is_empty()).collect();
    by_window.sort_by_key(|&i| window_range(i));
    // Sweep in start order: a range starting before the furthest end so far overlaps the range that reaches it.
    let mut furthest: Option<(u64, usize)> = None;
    for &i in &by_window {
        let (start, end) = window_range(i);
        if let Some((furthest_end, holder)) = furthest
            && start < furthest_end
        {
            shared[i] = true;
            shared[holder] = true;
        }
        if furthest.is_none_or(|(furthest_end, _)| end > furthest_end) {
            furthest = Some((end, i));
        }
    }
    (0..entries.len()).filter(|&i| shared[i]).collect()
}

/// Tracks a snapshot left out because the store cannot give them their own vectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreDamage {
    /// Tracks whose catalog rows hold vectors that are not theirs (written
    /// for another track, from another write, or shared with another track).
    pub not_their_own: Vec<PathBuf>,
    /// Tracks whose rows lie past the end of the store files.
    pub missing: Vec<PathBuf>,
}

impl StoreDamage {
    /// Whether every catalogued track was served.
    pub fn is_empty(&self) -> bool {
        self.not_their_own.is_empty() && self.missing.is_empty()
    }

    /// The one message callers show, if the store is damaged.
    pub fn message(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

impl fmt::Display for StoreDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tracks = |n: usize| if n == 1 { "1 track".to_string() } else { format!("{n} tracks") };
        let mut parts = Vec::new();
        if !self.not_their_own.is_empty() {
            let verb = if self.not_their_own.len() == 1 { "points" } else { "point" };
            parts.push(format!("{} {verb} at vectors that are not theirs", tracks(self.not_their_own.len())));
        }
        if !self.missing.is_empty() {
            parts.push(format!("{} point past the end of the store files", tracks(self.missing.len())));
        }
        write!(f, "the store is damaged: {}; run `strata check --repair` (they are left out until then)", parts.join(" and "))
    }
}

/// Splits catalogued tracks into those whose rows are their own (kept, in
/// order) and the damage that left the others out. Unverifiable rows (an
/// older Strata's) are kept: they were served before and nothing says they are wrong.
pub fn split_damaged(store: &StoreReader, entries: Vec<(Track, StoredAnalysis)>) -> (Vec<(Track, StoredAnalysis)>, StoreDamage) {
    let verdicts = verify_pointers(store, &entries);
    let mut damage = StoreDamage::default();
    let mut kept = Vec::with_capacity(entries.len());
    for (entry, verdict) in entries.into_iter().zip(verdicts) {
        if verdict.problems.is_empty() {
            kept.push(entry);
        } else if verdict.problems.iter().any(|p| p.is_not_its_own()) {
            damage.not_their_own.push(entry.0.path);
        } else {
            damage.missing.push(entry.0.path);
        }
    }
    (kept, damage)
}

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No catalog in the data folder.
    #[error("nothing indexed yet in {0} (run `strata index DIR` first)")]
    NothingIndexed(PathBuf),
    /// The catalog could not be read.
    #[error("reading the catalog: {0}")]
    Catalog(#[from] rusqlite::Error),
    /// A store file could not be read.
    #[error("reading the store: {0}")]
    Io(#[from] std::io::Error),
}

/// A damaged track and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DamagedTrack {
    /// Catalog id.
    pub track_id: i64,
    /// The path as indexed.
    pub path: PathBuf,
    /// Every problem found, in [`Problem`] order.
    pub problems: Vec<Problem>,
}

/// What `strata check` found for one model's store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelCheck {
    /// The model.
    pub model: String,
    /// Tracks with a successful analysis for it.
    pub tracks: usize,
    /// Of which rows were verified against their checksum.
    pub verified: usize,
    /// Tracks whose rows an older Strata wrote without a record (not verifiable; not counted as damage).
    pub unverified: usize,
    /// Tracks analysed by another model or analysis version (the next `strata index` redoes them).
    pub other_version: usize,
    /// Tracks whose rows are damaged.
    pub damaged: Vec<DamagedTrack>,
    /// How many damaged tracks have each problem.
    pub problem_counts: BTreeMap<Problem, usize>,
    /// Why the model's store could not be checked (its model is not installed, say).
    pub not_checked: Option<String>,
    /// Ids of the unverifiable tracks, for `--requeue-unverified`.
    #[serde(skip)]
    pub unverified_ids: Vec<i64>,
}

/// What `strata check` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckReport {
    /// What SQLite's integrity check found wrong with the catalog file (empty when sound).
    pub catalog_problems: Vec<String>,
    /// One entry per model checked.
    pub models: Vec<ModelCheck>,
}

impl CheckReport {
    /// Whether nothing is damaged (unverifiable and outdated rows are not damage).
    pub fn is_clean(&self) -> bool {
        self.catalog_problems.is_empty() && self.models.iter().all(|m| m.damaged.is_empty())
    }

    /// How many tracks are damaged, over all models.
    pub fn damaged_tracks(&self) -> usize {
        self.models.iter().map(|m| m.damaged.len()).sum()
    }
}

/// Verifies the catalog against the store in `data_dir`, for `model_name`
/// or (with `None`) every model the catalog has analyses for. Reads every row.
pub fn check_store(data_dir: &DataDir, model_name: Option<&str>) -> Result<CheckReport, CheckError> {
    let catalog_file = data_dir.catalog_path();
    if !catalog_file.exists() {
        return Err(CheckError::NothingIndexed(data_dir.root().to_path_buf()));
    }
    let catalog = Catalog::open(&catalog_file)?;
    let mut report = CheckReport { catalog_problems: catalog.integrity_problems()?, models: Vec::new() };
    let models = match model_name {
        Some(name) => vec![name.to_string()],
        None => catalog.analysed_models()?,
    };
    let search_dirs = data_dir.model_search_dirs();
    for name in models {
        let entries = catalog.analysed_tracks(&name)?;
        let info = match model::find_model(&name, &search_dirs) {
            Ok(info) => info,
            Err(e) => {
                let not_checked = Some(format!("{e}; its {} analysed tracks were not checked", entries.len()));
                report.models.push(ModelCheck { model: name, tracks: entries.len(), not_checked, ..ModelCheck::default() });
                continue;
            }
        };
        let versions = catalog.analysis_versions(&name)?;
        let store = StoreReader::open(&StoreLayout::for_model(data_dir, &info.manifest))?;
        let mut check = check_rows(&store, &entries);
        check.model = name;
        check.other_version = entries
            .iter()
            .filter(|(track, _)| {
                versions
                    .get(&track.id)
                    .is_some_and(|&(model, analysis)| !info.manifest.is_stored_version(model) || analysis != ANALYSIS_VERSION)
            })
            .count();
        report.models.push(check);
    }
    Ok(report)
}

/// The pointer checks, then every row's checksum and values.
fn check_rows(store: &StoreReader, entries: &[(Track, StoredAnalysis)]) -> ModelCheck {
    let verdicts = verify_pointers(store, entries);
    let mut check = ModelCheck { tracks: entries.len(), ..ModelCheck::default() };
    for ((track, analysis), verdict) in entries.iter().zip(verdicts) {
        let mut problems = verdict.problems;
        let window_count = analysis.window_starts_s.len();
        let record = store.row_record(analysis.store_row).filter(|_| !problems.contains(&Problem::ForeignRow));
        if let Some(record) = record {
            match store.row_checksum(analysis.store_row, analysis.window_row, window_count) {
                Some(checksum) if checksum == record.checksum => check.verified += 1,
                Some(_) => problems.push(Problem::ChecksumMismatch),
                // A row written with a record had every layer: one of Strata's own files is short.
                None => problems.push(Problem::MissingRows),
            }
        }
        if verdict.unverified {
            check.unverified += 1;
            check.unverified_ids.push(track.id);
        }
        if has_non_finite(store, analysis) {
            problems.push(Problem::NonFinite);
        }
        if !problems.is_empty() {
            problems.sort();
            problems.dedup();
            for &problem in &problems {
                *check.problem_counts.entry(problem).or_default() += 1;
            }
            check.damaged.push(DamagedTrack { track_id: track.id, path: track.path.clone(), problems });
        }
    }
    check
}

/// Whether any of the track's rows that the store holds has a NaN or infinite value.
fn has_non_finite(store: &StoreReader, analysis: &StoredAnalysis) -> bool {
    let layers = (0..store.layout().layer_dims.len()).filter_map(|layer| store.layer_row(layer, analysis.store_row));
    let windows = store.window_rows(analysis.window_row, analysis.window_starts_s.len());
    layers.chain(windows).any(|row| row.iter().any(|v| !v.is_finite()))
}

/// Forgets the analyses of every damaged track in `report` (and, with
/// `include_unverified`, of tracks whose rows cannot be verified), so the
/// next `strata index` re-analyses them. Holding `_lock` keeps an indexer
/// from committing while the catalog changes. Returns how many analyses were forgotten.
pub fn requeue_damaged(
    data_dir: &DataDir,
    report: &CheckReport,
    include_unverified: bool,
    _lock: &WriterLock,
) -> Result<usize, CheckError> {
    let mut catalog = Catalog::open(&data_dir.catalog_path())?;
    let mut forgotten = 0;
    for check in &report.models {
        let mut ids: Vec<i64> = check.damaged.iter().map(|d| d.track_id).collect();
        if include_unverified {
            ids.extend(&check.unverified_ids);
        }
        forgotten += catalog.requeue(&check.model, &ids)?;
    }
    Ok(forgotten)
}

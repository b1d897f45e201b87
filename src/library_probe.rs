//! Probing a library's layers and keeping the result with the library.
//!
//! Feeds a snapshot's layer matrices and descriptors to [`crate::probe`] and
//! stores the table as `probe-<model>.json` in the data folder, tagged with
//! a fingerprint of the analysed tracks so a stale table is recomputed
//! rather than trusted.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::descriptors::Descriptor;
use crate::probe::{ProbeOptions, ProbeTable, probe};
use crate::snapshot::LibrarySnapshot;

#[derive(Serialize, Deserialize)]
struct StoredProbe {
    fingerprint: u64,
    folds: usize,
    table: ProbeTable,
}

/// Where a model's probe table is kept.
pub fn probe_path(data_root: &Path, model: &str) -> PathBuf {
    data_root.join(format!("probe-{model}.json"))
}

/// Identifies the set of analysed tracks, their rows and the layers.
pub fn fingerprint(snapshot: &LibrarySnapshot) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    snapshot.model.manifest.name.hash(&mut hasher);
    snapshot.model.manifest.version.hash(&mut hasher);
    snapshot.layer_names().hash(&mut hasher);
    for (track, analysis) in snapshot.tracks.iter().zip(&snapshot.analyses) {
        track.id.hash(&mut hasher);
        analysis.store_row.hash(&mut hasher);
    }
    hasher.finish()
}

/// Descriptor values per track, one target per descriptor (NaN where a track has none).
pub fn descriptor_targets(snapshot: &LibrarySnapshot) -> Vec<(String, Vec<f64>)> {
    Descriptor::ALL
        .iter()
        .map(|&d| {
            let values = snapshot
                .tracks
                .iter()
                .map(|t| t.descriptors.map_or(f64::NAN, |v| f64::from(v.get(d))))
                .collect();
            (d.key().to_string(), values)
        })
        .collect()
}

/// Probes every layer of the snapshot against every descriptor.
pub fn run_probe(snapshot: &LibrarySnapshot, options: &ProbeOptions, progress: &mut dyn FnMut(usize, usize)) -> ProbeTable {
    let names = snapshot.layer_names();
    let matrices: Vec<_> = (0..names.len()).map(|l| snapshot.layer_matrix(l)).collect();
    let layers: Vec<_> = names.into_iter().zip(matrices.iter().map(|m| m.view())).collect();
    probe(&layers, &descriptor_targets(snapshot), options, progress)
}

/// The stored table, if it was made from exactly this snapshot's tracks with `folds` folds.
pub fn load_probe(data_root: &Path, snapshot: &LibrarySnapshot, folds: usize) -> Option<ProbeTable> {
    let text = std::fs::read_to_string(probe_path(data_root, &snapshot.model.manifest.name)).ok()?;
    let stored: StoredProbe = serde_json::from_str(&text).ok()?;
    (stored.fingerprint == fingerprint(snapshot) && stored.folds == folds).then_some(stored.table)
}

/// Stores a table for this snapshot (atomically: write then rename).
pub fn save_probe(data_root: &Path, snapshot: &LibrarySnapshot, table: &ProbeTable) -> std::io::Result<()> {
    let stored = StoredProbe { fingerprint: fingerprint(snapshot), folds: table.folds, table: table.clone() };
    let path = probe_path(data_root, &snapshot.model.manifest.name);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

/// The stored table when current, else a fresh probe (which is then stored).
pub fn probe_or_compute(data_root: &Path, snapshot: &LibrarySnapshot) -> ProbeTable {
    let options = ProbeOptions::default();
    if let Some(table) = load_probe(data_root, snapshot, options.folds) {
        return table;
    }
    let table = run_probe(snapshot, &options, &mut |_, _| {});
    if let Err(e) = save_probe(data_root, snapshot, &table) {
        log::warn!("could not store the probe table: {e}");
    }
    table
}

//! Probing a library's layers and keeping the result with the library.
//!
//! Feeds a snapshot's layer matrices and descriptors to [`crate::insight::probe`] and
//! stores the table in the data folder ([`DataDir::probe_cache_path`]), tagged with
//! a fingerprint of the analysed tracks so a stale table is recomputed
//! rather than trusted. The fingerprint is FNV-1a 64 over a byte encoding
//! written out here, so it is the same in every build of Strata.

use serde::{Deserialize, Serialize};

use crate::analysis::descriptors::Descriptor;
use crate::insight::probe::{self, ProbeOptions, ProbeTable};
use crate::storage::data_dir::DataDir;
use crate::storage::snapshot::LibrarySnapshot;

#[derive(Serialize, Deserialize)]
struct StoredProbe {
    /// [`fingerprint`]. Earlier files kept a `DefaultHasher` value under
    /// `fingerprint`, which differs between Rust releases: without this field
    /// they do not parse, and the table is computed again.
    fingerprint_fnv1a: u64,
    folds: usize,
    table: ProbeTable,
}

/// Identifies the set of analysed tracks, their rows and the layers; stable
/// across builds and platforms (see [`fingerprint_of`]).
pub fn fingerprint(snapshot: &LibrarySnapshot) -> u64 {
    let rows = snapshot.tracks.iter().zip(&snapshot.analyses).map(|(track, analysis)| (track.id, analysis.store_row));
    fingerprint_of(&snapshot.model.manifest.name, snapshot.model.manifest.version, &snapshot.layer_names(), rows)
}

/// FNV-1a 64 of: the model name, its version (u32), the number of layers and
/// each layer name, then each track's id (i64) and store row (u64). Integers
/// are little-endian; a string is its byte length (u64) then its UTF-8 bytes,
/// so no two different inputs share an encoding.
pub fn fingerprint_of(model: &str, version: u32, layer_names: &[String], rows: impl Iterator<Item = (i64, u64)>) -> u64 {
    let mut hash = Fnv1a64::default();
    hash.text(model);
    hash.bytes(&version.to_le_bytes());
    hash.bytes(&(layer_names.len() as u64).to_le_bytes());
    for name in layer_names {
        hash.text(name);
    }
    for (track_id, store_row) in rows {
        hash.bytes(&track_id.to_le_bytes());
        hash.bytes(&store_row.to_le_bytes());
    }
    hash.0
}

/// 64-bit FNV-1a (Fowler, Noll, Vo): tiny, fixed by its definition, ample for telling libraries apart.
struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn text(&mut self, text: &str) {
        self.bytes(&(text.len() as u64).to_le_bytes());
        self.bytes(text.as_bytes());
    }
}

/// Descriptor values per track, one target per descriptor (NaN where a track has none).
pub fn descriptor_targets(snapshot: &LibrarySnapshot) -> Vec<(String, Vec<f64>)> {
    Descriptor::ALL
        .iter()
        .map(|&d| {
            let values = snapshot.tracks.iter().map(|t| t.descriptors.map_or(f64::NAN, |v| f64::from(v.get(d)))).collect();
            (d.key().to_string(), values)
        })
        .collect()
}

/// Probes every layer of the snapshot against every descriptor.
///
/// Tracks enter the probe in path order, not catalog order: several
/// analysis workers commit tracks in whatever order they finish, and the
/// folds (a seeded shuffle of row positions) must not change with it.
pub fn run_probe(snapshot: &LibrarySnapshot, options: &ProbeOptions, progress: &mut dyn FnMut(usize, usize)) -> ProbeTable {
    let mut by_path: Vec<usize> = (0..snapshot.tracks.len()).collect();
    by_path.sort_by(|&a, &b| snapshot.tracks[a].path.cmp(&snapshot.tracks[b].path));
    let names = snapshot.layer_names();
    let targets: Vec<_> =
        descriptor_targets(snapshot).into_iter().map(|(name, values)| (name, by_path.iter().map(|&t| values[t]).collect())).collect();
    // Only the (at most a few thousand) tracks the probe reads are converted.
    let rows = probe::rows_read(&targets, options);
    let matrices: Vec<_> = (0..names.len()).map(|l| snapshot.layer_rows(l, rows.iter().map(|&r| by_path[r]))).collect();
    let layers: Vec<_> = names.into_iter().zip(matrices.iter().map(|m| m.view())).collect();
    probe::probe_rows(&layers, &rows, &targets, options, progress)
}

/// The stored table, if it was made from exactly this snapshot's tracks with `folds` folds.
pub fn load_probe(data_dir: &DataDir, snapshot: &LibrarySnapshot, folds: usize) -> Option<ProbeTable> {
    let text = std::fs::read_to_string(data_dir.probe_cache_path(&snapshot.model.manifest.name)).ok()?;
    let stored: StoredProbe = serde_json::from_str(&text).ok()?;
    (stored.fingerprint_fnv1a == fingerprint(snapshot) && stored.folds == folds).then_some(stored.table)
}

/// Stores a table for this snapshot (atomically: write then rename).
pub fn save_probe(data_dir: &DataDir, snapshot: &LibrarySnapshot, table: &ProbeTable) -> std::io::Result<()> {
    let stored = StoredProbe { fingerprint_fnv1a: fingerprint(snapshot), folds: table.folds, table: table.clone() };
    let path = data_dir.probe_cache_path(&snapshot.model.manifest.name);
    crate::storage::data_dir::replace_file(&path, &serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?)
}

/// The stored table when current, else a fresh probe (which is then stored).
pub fn probe_or_compute(data_dir: &DataDir, snapshot: &LibrarySnapshot) -> ProbeTable {
    let options = ProbeOptions::default();
    if let Some(table) = load_probe(data_dir, snapshot, options.folds) {
        return table;
    }
    let table = run_probe(snapshot, &options, &mut |_, _| {});
    if let Err(e) = save_probe(data_dir, snapshot, &table) {
        log::warn!("could not store the probe table: {e}");
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnv1a(bytes: &[u8]) -> u64 {
        let mut hash = Fnv1a64::default();
        hash.bytes(bytes);
        hash.0
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_fingerprint_of_a_fixed_library_is_a_fixed_value() {
        let layers = ["conv1", "penultimate", "tonal"].map(String::from);
        let rows = [(1, 0), (7, 1), (-2, 5)];
        // Computed apart from this code (Python, the encoding in `fingerprint_of`'s doc).
        assert_eq!(fingerprint_of("musicnn", 3, &layers, rows.into_iter()), 0x710c_e662_cb37_f79e);
        assert_eq!(fingerprint_of("musicnn", 3, &[], std::iter::empty()), 0x0b8a_91e8_f530_e13a);
        // Another row, order, version or layer set is another library.
        let moved = [(1, 0), (7, 2), (-2, 5)];
        assert_ne!(fingerprint_of("musicnn", 3, &layers, moved.into_iter()), 0x710c_e662_cb37_f79e);
        assert_ne!(fingerprint_of("musicnn", 3, &layers, rows.into_iter().rev()), 0x710c_e662_cb37_f79e);
        assert_ne!(fingerprint_of("musicnn", 4, &layers, rows.into_iter()), 0x710c_e662_cb37_f79e);
        assert_ne!(fingerprint_of("musicnn", 3, &layers[..2], rows.into_iter()), 0x710c_e662_cb37_f79e);
    }

    #[test]
    fn a_table_stored_with_the_old_unstable_fingerprint_is_not_read() {
        let table = ProbeTable {
            layers: vec!["l".into()],
            targets: vec!["t".into()],
            r2: vec![vec![0.5]],
            alpha: vec![vec![1.0]],
            folds: 5,
            tracks: 20,
        };
        let old = serde_json::json!({"fingerprint": 0x1234_u64, "folds": 5, "table": table});
        assert!(serde_json::from_value::<StoredProbe>(old).is_err());
        let current = serde_json::json!({"fingerprint_fnv1a": 0x1234_u64, "folds": 5, "table": table});
        let stored: StoredProbe = serde_json::from_value(current).unwrap();
        assert_eq!((stored.fingerprint_fnv1a, stored.table), (0x1234, table));
    }
}

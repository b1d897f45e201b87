//! The identification features of a library, kept between runs of `strata versions`.
//!
//! One file in the data folder ([`crate::storage::data_dir::DataDir::versions_cache_path`]),
//! one record per file keyed by its path, size and modification time, so an
//! unchanged file is never decoded twice and a changed one is. CENS and
//! bass-line values lie in 0..1 and are kept as bytes (1/255 steps are far
//! below what the comparison can tell apart). The file is replaced whole (written beside it,
//! then renamed), so a killed run leaves the old cache or the new one. A cache
//! that cannot be read is ignored: everything is recomputed.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::features::{Chroma, IdentFeatures, N_CHROMA};

const MAGIC: &[u8; 8] = b"STRVERS2";

/// What identifies a file's contents without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Length in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 if unknown).
    pub modified_ns: i64,
}

impl FileStamp {
    /// The stamp of `path` now, or `None` if it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Some(Self { size: metadata.len(), modified_ns })
    }
}

/// Cached features by path.
#[derive(Debug, Default)]
pub struct FeatureCache {
    entries: HashMap<PathBuf, (FileStamp, IdentFeatures)>,
}

impl FeatureCache {
    /// Reads the cache at `path`; empty if it is missing or unreadable.
    pub fn load(path: &Path) -> Self {
        let Ok(bytes) = std::fs::read(path) else { return Self::default() };
        Self::parse(&bytes).unwrap_or_default()
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut reader = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut entries = HashMap::new();
        while !reader.is_empty() {
            let path = read_path(&mut reader)?;
            let size = u64::from_le_bytes(take(&mut reader, 8)?.try_into().ok()?);
            let modified_ns = i64::from_le_bytes(take(&mut reader, 8)?.try_into().ok()?);
            let mut mean = [0.0f32; N_CHROMA];
            for value in &mut mean {
                *value = f32::from_le_bytes(take(&mut reader, 4)?.try_into().ok()?);
            }
            let frames = read_u32(&mut reader)? as usize;
            let mut sequence = || -> Option<Vec<Chroma>> {
                let bytes = take(&mut reader, frames.checked_mul(N_CHROMA)?)?;
                Some(bytes.chunks_exact(N_CHROMA).map(|b| std::array::from_fn(|c| f32::from(b[c]) / 255.0)).collect())
            };
            let cens = sequence()?;
            let bass = sequence()?;
            entries.insert(path, (FileStamp { size, modified_ns }, IdentFeatures { cens, bass, mean }));
        }
        Some(Self { entries })
    }

    /// The features of `path` if they were computed from the file as it is now.
    pub fn get(&self, path: &Path, stamp: FileStamp) -> Option<&IdentFeatures> {
        self.entries.get(path).filter(|(s, _)| *s == stamp).map(|(_, f)| f)
    }

    /// Keeps `features` for `path` at `stamp`.
    pub fn insert(&mut self, path: PathBuf, stamp: FileStamp, features: IdentFeatures) {
        self.entries.insert(path, (stamp, features));
    }

    /// Forgets every file not in `keep` (removed from the library).
    pub fn retain(&mut self, keep: &[PathBuf]) {
        let keep: std::collections::HashSet<&PathBuf> = keep.iter().collect();
        self.entries.retain(|path, _| keep.contains(path));
    }

    /// Writes the cache to `path` (beside it first, then renamed over it).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = MAGIC.to_vec();
        for (file, (stamp, features)) in &self.entries {
            put_path(&mut bytes, file)?;
            bytes.extend_from_slice(&stamp.size.to_le_bytes());
            bytes.extend_from_slice(&stamp.modified_ns.to_le_bytes());
            for value in features.mean {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            // Both sequences have one frame per CENS frame.
            if features.bass.len() != features.cens.len() {
                return Err(std::io::Error::other("bass line and CENS differ in length"));
            }
            bytes.extend_from_slice(&u32::try_from(features.cens.len()).map_err(std::io::Error::other)?.to_le_bytes());
            for sequence in [&features.cens, &features.bass] {
                bytes.extend(sequence.iter().flat_map(|v| v.map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)));
            }
        }
        crate::storage::data_dir::replace_file(path, &bytes)
    }
}

/// Appends `path` as its length (u32) and its exact bytes.
pub(super) fn put_path(bytes: &mut Vec<u8>, path: &Path) -> std::io::Result<()> {
    let name = crate::storage::catalog::path_bytes(path);
    bytes.extend_from_slice(&u32::try_from(name.len()).map_err(std::io::Error::other)?.to_le_bytes());
    bytes.extend_from_slice(&name);
    Ok(())
}

/// The next path of `reader`, as [`put_path`] wrote it.
pub(super) fn read_path(reader: &mut &[u8]) -> Option<PathBuf> {
    let len = read_u32(reader)? as usize;
    Some(crate::storage::catalog::path_from_bytes(take(reader, len)?))
}

/// The next `n` bytes of `reader`, if it holds that many.
pub(super) fn take<'a>(reader: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if reader.len() < n {
        return None;
    }
    let (head, rest) = reader.split_at(n);
    *reader = rest;
    Some(head)
}

/// The next little-endian u32 of `reader`.
pub(super) fn read_u32(reader: &mut &[u8]) -> Option<u32> {
    let mut word = [0u8; 4];
    reader.read_exact(&mut word).ok()?;
    Some(u32::from_le_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_come_back_for_the_same_stamp_only_and_a_damaged_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("versions.bin");
        let features = IdentFeatures {
            cens: vec![[0.5; N_CHROMA], [1.0; N_CHROMA]],
            bass: vec![[0.25; N_CHROMA], [0.0; N_CHROMA]],
            mean: [0.75; N_CHROMA],
        };
        let stamp = FileStamp { size: 10, modified_ns: 20 };
        let mut cache = FeatureCache::default();
        cache.insert(PathBuf::from("/music/a.flac"), stamp, features.clone());
        cache.save(&file).unwrap();
        let loaded = FeatureCache::load(&file);
        let back = loaded.get(Path::new("/music/a.flac"), stamp).unwrap();
        assert_eq!(back.mean, features.mean);
        assert!(back.cens.iter().flatten().zip(features.cens.iter().flatten()).all(|(a, b)| (a - b).abs() < 0.003));
        assert_eq!(back.bass.len(), features.bass.len());
        assert!(back.bass.iter().flatten().zip(features.bass.iter().flatten()).all(|(a, b)| (a - b).abs() < 0.003));
        assert!(loaded.get(Path::new("/music/a.flac"), FileStamp { size: 11, modified_ns: 20 }).is_none());
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
        assert!(FeatureCache::load(&file).get(Path::new("/music/a.flac"), stamp).is_none());
    }
}

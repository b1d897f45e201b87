//! The other recordings last found in a library, kept in the data folder.
//!
//! `strata versions` and the window's "Find other recordings" search the
//! whole library ([`search_library`]) and keep the answer in one file
//! ([`DataDir::versions_found_path`]): for every file searched, the other
//! files found, each with its confidence and key shift. The library snapshot
//! reads it ([`TrackVersions`]) to link the works of recordings of one piece
//! ([`crate::works::Works::link_recordings`]) and to show a track's other
//! recordings without decoding anything. The file is replaced whole; one that
//! cannot be read counts as no search yet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::cache::{FeatureCache, put_path, read_path, read_u32, take};
use super::{FeatureError, SearchOptions, find_versions, library_features};
use crate::storage::catalog::Track;
use crate::storage::data_dir::{DataDir, replace_file};

const MAGIC: &[u8; 8] = b"STRFND01";

/// The confidence from which Strata calls a result another recording (the
/// calibrated probability is then more likely than not).
pub const SURE: f32 = 0.5;

/// Another recording found for a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The other file, as indexed.
    pub path: PathBuf,
    /// Estimated probability that it is another recording of the same piece.
    pub confidence: f32,
    /// Semitones the other file is shifted up to match this one's key (0..12).
    pub key_shift: u8,
}

/// What the last search found, by searched file, most likely first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundVersions {
    by_path: HashMap<PathBuf, Vec<Found>>,
}

impl FoundVersions {
    /// Reads the kept answer at `path`; empty if missing or unreadable.
    pub fn load(path: &Path) -> Self {
        std::fs::read(path).ok().and_then(|bytes| Self::parse(&bytes)).unwrap_or_default()
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut reader = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut by_path = HashMap::new();
        while !reader.is_empty() {
            let path = read_path(&mut reader)?;
            let count = read_u32(&mut reader)? as usize;
            let mut found = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                let other = read_path(&mut reader)?;
                let confidence = f32::from_le_bytes(take(&mut reader, 4)?.try_into().ok()?);
                let key_shift = take(&mut reader, 1)?[0] % 12;
                found.push(Found { path: other, confidence, key_shift });
            }
            by_path.insert(path, found);
        }
        Some(Self { by_path })
    }

    /// Writes the answer to `path`, replacing the file whole.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = MAGIC.to_vec();
        for (file, found) in &self.by_path {
            put_path(&mut bytes, file)?;
            bytes.extend_from_slice(&u32::try_from(found.len()).map_err(std::io::Error::other)?.to_le_bytes());
            for other in found {
                put_path(&mut bytes, &other.path)?;
                bytes.extend_from_slice(&other.confidence.to_le_bytes());
                bytes.push(other.key_shift);
            }
        }
        replace_file(path, &bytes)
    }

    /// The other recordings found for `path` (`None`: it was not searched).
    pub fn of(&self, path: &Path) -> Option<&[Found]> {
        self.by_path.get(path).map(Vec::as_slice)
    }

    /// Records what was found for `path`.
    pub fn insert(&mut self, path: PathBuf, found: Vec<Found>) {
        self.by_path.insert(path, found);
    }

    /// Number of files searched.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether no file was searched.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// The answer by index into `tracks`; files no longer among them are left out.
    pub fn for_tracks(&self, tracks: &[Track]) -> TrackVersions {
        if self.by_path.is_empty() {
            return TrackVersions::default();
        }
        let index: HashMap<&Path, usize> = tracks.iter().enumerate().map(|(i, t)| (t.path.as_path(), i)).collect();
        let mut by_track = HashMap::new();
        for (path, found) in &self.by_path {
            let Some(&track) = index.get(path.as_path()) else { continue };
            let others = found
                .iter()
                .filter_map(|f| {
                    let other = *index.get(f.path.as_path())?;
                    Some(OtherRecording { track: other, confidence: f.confidence, key_shift: f.key_shift })
                })
                .collect();
            by_track.insert(track, others);
        }
        TrackVersions { by_track }
    }
}

/// Another recording of a track, by index into the same track list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OtherRecording {
    /// The other track.
    pub track: usize,
    /// Estimated probability that it is another recording of the same piece.
    pub confidence: f32,
    /// Semitones the other track is shifted up to match this one's key (0..12).
    pub key_shift: u8,
}

impl OtherRecording {
    /// Whether Strata calls it another recording ([`SURE`]).
    pub fn is_sure(&self) -> bool {
        self.confidence >= SURE
    }

    /// How many semitones higher the other recording sounds, in −5..=6.
    pub fn semitones_higher(&self) -> i32 {
        semitones_higher(usize::from(self.key_shift))
    }
}

/// How many semitones higher a recording shifted up `key_shift` semitones to match another sounds than it, in −5..=6.
pub fn semitones_higher(key_shift: usize) -> i32 {
    let up = (12 - (key_shift % 12) as i32) % 12;
    if up > 6 { up - 12 } else { up }
}

/// The last search's answer for one list of tracks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackVersions {
    by_track: HashMap<usize, Vec<OtherRecording>>,
}

impl TrackVersions {
    /// The other recordings found for `track`, most likely first (`None`: not searched).
    pub fn of(&self, track: usize) -> Option<&[OtherRecording]> {
        self.by_track.get(&track).map(Vec::as_slice)
    }

    /// Tracks the search covered.
    pub fn searched(&self) -> usize {
        self.by_track.len()
    }

    /// Every pair Strata calls recordings of the same piece (each as found from its first track).
    pub fn sure_pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.by_track.iter().flat_map(|(&track, others)| others.iter().filter(|o| o.is_sure()).map(move |o| (track, o.track)))
    }
}

/// What [`search_library`] found, and the files it could not read.
pub struct LibrarySearch {
    /// Every readable file's other recordings.
    pub found: FoundVersions,
    /// Files left out, with why.
    pub failed: Vec<(PathBuf, FeatureError)>,
}

/// Searches the whole library `paths` for other recordings: features from the
/// data folder's cache where a file is unchanged (the cache is updated), then
/// [`find_versions`]; the answer is kept in the data folder. `progress` is
/// told how many files have their features.
pub fn search_library(
    data_dir: &DataDir,
    paths: &[PathBuf],
    options: SearchOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> std::io::Result<LibrarySearch> {
    let cache_path = data_dir.versions_cache_path();
    let mut cache = FeatureCache::load(&cache_path);
    let features = library_features(paths, &mut cache, progress);
    cache.retain(paths);
    if let Err(error) = cache.save(&cache_path) {
        log::warn!("could not keep the identification features for next time ({}): {error}", cache_path.display());
    }
    let mut usable = Vec::new();
    let mut library = Vec::new();
    let mut failed = Vec::new();
    for (path, result) in paths.iter().zip(features) {
        match result {
            Ok(features) => {
                usable.push(path);
                library.push(features);
            }
            Err(error) => failed.push((path.clone(), error)),
        }
    }
    let mut found = FoundVersions::default();
    for (query, matches) in find_versions(&library, options).into_iter().enumerate() {
        let others = matches
            .iter()
            .map(|m| Found { path: usable[m.track].clone(), confidence: m.confidence, key_shift: m.key_shift as u8 })
            .collect();
        found.insert(usable[query].clone(), others);
    }
    found.save(&data_dir.versions_found_path())?;
    Ok(LibrarySearch { found, failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(path: &str) -> Track {
        Track { id: 0, path: PathBuf::from(path), tags: Default::default(), duration_s: None, descriptors: None }
    }

    #[test]
    fn the_answer_comes_back_by_track_and_a_damaged_file_counts_as_no_search() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("found.bin");
        let mut found = FoundVersions::default();
        found.insert(
            PathBuf::from("/m/a.flac"),
            vec![
                Found { path: PathBuf::from("/m/b.mp3"), confidence: 0.9, key_shift: 9 },
                Found { path: PathBuf::from("/m/gone.ogg"), confidence: 0.7, key_shift: 0 },
                Found { path: PathBuf::from("/m/c.wav"), confidence: 0.1, key_shift: 2 },
            ],
        );
        found.insert(PathBuf::from("/m/b.mp3"), vec![Found { path: PathBuf::from("/m/a.flac"), confidence: 0.8, key_shift: 3 }]);
        found.save(&file).unwrap();
        let loaded = FoundVersions::load(&file);
        assert_eq!(loaded, found);

        let tracks = [track("/m/c.wav"), track("/m/a.flac"), track("/m/b.mp3"), track("/m/new.flac")];
        let versions = loaded.for_tracks(&tracks);
        let of_a = versions.of(1).unwrap();
        assert_eq!(of_a.iter().map(|o| o.track).collect::<Vec<_>>(), [2, 0], "a file no longer indexed is left out");
        assert_eq!(of_a[0].semitones_higher(), 3, "shifted up 9 to match: 3 higher");
        assert_eq!(versions.of(2).unwrap()[0].semitones_higher(), -3);
        assert!(versions.of(3).is_none(), "a track added since was not searched");
        assert_eq!(versions.of(0), None);
        let mut sure: Vec<_> = versions.sure_pairs().collect();
        sure.sort_unstable();
        assert_eq!(sure, [(1, 2), (2, 1)]);

        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
        assert!(FoundVersions::load(&file).is_empty());
    }
}

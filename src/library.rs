//! The user's music folders: finding audio files and reading their tags.
//!
//! Walks library roots (no hidden or system files, no symlink loops) and
//! reads tags with lofty. Read-only: Strata never writes into music folders.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use lofty::prelude::*;

use crate::catalog::{FileStamp, TrackTags};

/// Extensions Strata tries to decode (lower case). Files with other
/// extensions are not audio to us; files with these that fail get a reason.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "flac", "mp3", "mp2", "ogg", "oga", "opus", "wav", "wave", "aif", "aiff", "aifc", "m4a", "m4b", "mp4", "aac", "alac",
    "caf", "mka", "webm",
];

/// Names of files and folders that are never music.
const SYSTEM_NAMES: &[&str] = &["__MACOSX", "$RECYCLE.BIN", "System Volume Information", "lost+found", "@eaDir"];

/// A candidate audio file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Its path, as reached from the root.
    pub path: PathBuf,
    /// Size and modification time.
    pub stamp: FileStamp,
}

/// Whether `path` has an audio extension.
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

fn is_hidden_or_system(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || SYSTEM_NAMES.iter().any(|s| s.eq_ignore_ascii_case(&name))
}

/// Reads the size and modification time of `path`, following symlinks.
pub fn stamp_of(path: &Path) -> std::io::Result<FileStamp> {
    let metadata = std::fs::metadata(path)?;
    let mtime_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok(FileStamp { size: metadata.len(), mtime_ns })
}

/// Every audio file under `roots`, sorted by path. Unreadable folders are
/// reported in the second list and skipped; directory symlinks are followed
/// once (a folder reached twice is walked once).
pub fn scan(roots: &[PathBuf]) -> (Vec<FoundFile>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut visited_dirs = HashSet::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(canonical) = std::fs::canonicalize(&dir) else {
            problems.push((dir, "folder cannot be read".into()));
            continue;
        };
        if !visited_dirs.insert(canonical) {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push((dir, e.to_string()));
                continue;
            }
        };
        for entry in entries.filter_map(Result::ok) {
            if is_hidden_or_system(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            let Ok(metadata) = std::fs::metadata(&path) else { continue };
            if metadata.is_dir() {
                stack.push(path);
            } else if metadata.is_file() && is_audio_path(&path) {
                match stamp_of(&path) {
                    Ok(stamp) => files.push(FoundFile { path, stamp }),
                    Err(e) => problems.push((path, e.to_string())),
                }
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, problems)
}

/// Reads tags and the header duration; a file without readable tags gives
/// empty tags (the audio may still decode).
pub fn read_tags(path: &Path) -> (TrackTags, Option<f64>) {
    let Ok(tagged) = lofty::read_from_path(path) else { return (TrackTags::default(), None) };
    let duration = tagged.properties().duration().as_secs_f64();
    let duration_s = (duration > 0.0).then_some(duration);
    let Some(tag) = tagged.primary_tag().or_else(|| tagged.first_tag()) else {
        return (TrackTags::default(), duration_s);
    };
    let text = |key: ItemKey| tag.get_string(key).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let tags = TrackTags {
        title: tag.title().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        artist: tag.artist().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        album: tag.album().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        album_artist: text(ItemKey::AlbumArtist),
        composer: text(ItemKey::Composer),
        work: text(ItemKey::Work),
        movement: text(ItemKey::Movement),
        disc: tag.disk(),
        track_no: tag.track(),
        genre: tag.genre().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        date: text(ItemKey::RecordingDate).or_else(|| text(ItemKey::Year)),
    };
    (tags, duration_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_skips_hidden_system_and_non_audio_and_survives_symlink_loops() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("A/B")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::create_dir_all(root.join("__MACOSX")).unwrap();
        for f in ["A/1.flac", "A/B/2.MP3", ".hidden/3.flac", "__MACOSX/4.flac", "A/cover.jpg", "A/.5.wav"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("A"), root.join("A/B/loop")).unwrap();
        let (files, problems) = scan(&[root.to_path_buf()]);
        let names: Vec<String> = files.iter().map(|f| f.path.strip_prefix(root).unwrap().display().to_string()).collect();
        assert_eq!(names, vec!["A/1.flac", "A/B/2.MP3"]);
        assert!(problems.is_empty());
    }
}

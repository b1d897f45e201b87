//! The user's music folders: finding audio files and reading their tags.
//!
//! Walks library roots (no hidden or system files; symlink loops and folders
//! reached twice are walked once) and reads tags with lofty, the classical
//! ones (work, movement, performers, …) from each container's own tag (see
//! `tags`), every other item kept in [`TrackTags::other`]. Whatever the
//! file system holds, a scan neither hangs nor stops: FIFOs, sockets and
//! devices are only ever stat'ed, never opened, and they, broken symlinks
//! and unlistable folders come back as reported problems beside the files.
//! Read-only: Strata never writes into music folders.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use lofty::file::FileType;
use lofty::prelude::*;

use crate::storage::catalog::{FileStamp, TrackTags};

mod tags;

/// Extensions Strata tries to decode (lower case). Files with other
/// extensions are not audio to us; files with these that fail get a reason.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "flac", "mp3", "mp2", "ogg", "oga", "opus", "wav", "wave", "aif", "aiff", "aifc", "m4a", "m4b", "mp4", "aac", "alac", "caf", "mka",
    "webm",
];

/// Names of files and folders that are never music.
const SYSTEM_NAMES: &[&str] = &["__MACOSX", "$RECYCLE.BIN", "System Volume Information", "lost+found", "@eaDir"];

/// Header durations above this (a week) come from damaged headers, not audio.
const MAX_HEADER_DURATION_S: f64 = 7.0 * 24.0 * 3600.0;

/// A candidate audio file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Its path, as reached from the root.
    pub path: PathBuf,
    /// Size and modification time.
    pub stamp: FileStamp,
}

/// What a scan of the library roots found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Regular audio files to analyse, sorted by path.
    pub files: Vec<FoundFile>,
    /// Entries that look like audio but cannot be analysed, with why, sorted by
    /// path: FIFOs, sockets, devices (or symlinks to them) with an audio
    /// extension, and entries that cannot be stat'ed at all (broken symlinks,
    /// symlink loops), whatever their name, since they may hide a folder of music.
    pub skipped: Vec<(PathBuf, String)>,
    /// Folders that could not be listed (or only partly), with the OS's reason, sorted by path.
    pub unreadable_dirs: Vec<(PathBuf, String)>,
}

impl Scan {
    /// Every entry the scan counts: files to analyse plus skipped ones.
    pub fn found(&self) -> usize {
        self.files.len() + self.skipped.len()
    }
}

/// Whether `path` has an audio extension.
pub fn is_audio_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

fn is_hidden_or_system(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || SYSTEM_NAMES.iter().any(|s| s.eq_ignore_ascii_case(&name))
}

/// Reads the size and modification time of `path`, following symlinks.
pub fn stamp_of(path: &Path) -> std::io::Result<FileStamp> {
    Ok(stamp_from(&std::fs::metadata(path)?))
}

fn stamp_from(metadata: &Metadata) -> FileStamp {
    let mtime_ns = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64);
    FileStamp { size: metadata.len(), mtime_ns }
}

/// Why a followed entry that cannot be stat'ed is skipped.
fn stat_failure(is_symlink: bool, error: &std::io::Error) -> String {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::ELOOP) {
        return "symlink loop".into();
    }
    if is_symlink && error.kind() == std::io::ErrorKind::NotFound {
        return "broken symlink: its target does not exist".into();
    }
    format!("cannot be read: {error}")
}

/// Every audio file under `roots`, sorted by path, with what was skipped and
/// which folders could not be listed. Folders are walked in name order and
/// each folder once (by its canonical path), so the result is deterministic
/// and symlink loops end. Nothing but folders is opened.
pub fn scan(roots: &[PathBuf]) -> Scan {
    let mut result = Scan::default();
    let mut visited_dirs = HashSet::new();
    // Reversed so the first root and, within folders, the first name is walked first.
    let mut stack: Vec<PathBuf> = roots.iter().rev().cloned().collect();
    while let Some(dir) = stack.pop() {
        let canonical = match std::fs::canonicalize(&dir) {
            Ok(canonical) => canonical,
            Err(e) => {
                result.unreadable_dirs.push((dir, e.to_string()));
                continue;
            }
        };
        if !visited_dirs.insert(canonical) {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                result.unreadable_dirs.push((dir, e.to_string()));
                continue;
            }
        };
        let mut listed = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => listed.push(entry),
                Err(e) => {
                    result.unreadable_dirs.push((dir.clone(), format!("listing stopped early: {e}")));
                    break;
                }
            }
        }
        listed.sort_by_key(|entry| entry.file_name());
        let mut subdirs = Vec::new();
        for entry in listed {
            if is_hidden_or_system(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            let is_symlink = entry.file_type().is_ok_and(|t| t.is_symlink());
            // `metadata` stats (following symlinks) without opening, so FIFOs and devices cannot block us.
            let metadata = match std::fs::metadata(&path) {
                Ok(metadata) => metadata,
                Err(e) => {
                    result.skipped.push((path, stat_failure(is_symlink, &e)));
                    continue;
                }
            };
            if metadata.is_dir() {
                subdirs.push(path);
            } else if is_audio_path(&path) {
                if metadata.is_file() {
                    result.files.push(FoundFile { path, stamp: stamp_from(&metadata) });
                } else {
                    let kind = crate::audio::describe_file_type(metadata.file_type());
                    let reason = if is_symlink {
                        format!("not a regular file (a symlink to {kind})")
                    } else {
                        format!("not a regular file ({kind})")
                    };
                    result.skipped.push((path, reason));
                }
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    result.files.sort_by(|a, b| a.path.cmp(&b.path));
    result.skipped.sort();
    result.unreadable_dirs.sort();
    result
}

/// What [`read_tags`] learned about one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagRead {
    /// The tags; empty when the file has none or they could not be read.
    pub tags: TrackTags,
    /// The duration the container's header states, when plausible.
    pub header_duration_s: Option<f64>,
    /// Why the tags could not be read, when that was not simply "no tags"
    /// (a damaged tag, a crash inside the tag reader). The audio may still decode.
    pub problem: Option<String>,
}

impl TagRead {
    fn problem(problem: String) -> Self {
        Self { problem: Some(problem), ..Self::default() }
    }
}

/// Reads tags and the header duration. Never fails: a file without tags
/// gives empty tags, a damaged one empty tags and a [`TagRead::problem`], and
/// a panic inside the tag reader is contained to this file. Only regular
/// files are opened, so a file swapped for a FIFO since the scan cannot block.
pub fn read_tags(path: &Path) -> TagRead {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(metadata) => {
            return TagRead::problem(format!(
                "tags not read: not a regular file ({})",
                crate::audio::describe_file_type(metadata.file_type())
            ));
        }
        Err(e) => return TagRead::problem(format!("tags not read: {e}")),
    }
    crate::isolation::contain(|| read_regular_file_tags(path))
        .unwrap_or_else(|message| TagRead::problem(format!("tag reader crashed: {message}")))
}

fn read_regular_file_tags(path: &Path) -> TagRead {
    let file = match crate::audio::open_regular_file(path) {
        Ok(file) => file,
        Err(e) => return TagRead::problem(format!("tags not read: {e}")),
    };
    // The same file type guess from the extension as `lofty::read_from_path`;
    // a container lofty does not know has no tags we could read, which is no problem of the file.
    let Some(file_type) = FileType::from_path(path) else { return TagRead::default() };
    let (tagged, container_items) = match tags::read_file(&mut BufReader::new(file), file_type) {
        Ok(read) => read,
        Err(e) if e.is_unknown_format() => return TagRead::default(),
        Err(e) => return TagRead::problem(format!("tags unreadable: {}", error_chain(&e))),
    };
    let duration_s = tagged.properties().duration().as_secs_f64();
    let header_duration_s = (duration_s.is_finite() && duration_s > 0.0 && duration_s <= MAX_HEADER_DURATION_S).then_some(duration_s);
    let Some(tag) = tagged.primary_tag().or_else(|| tagged.first_tag()) else {
        return TagRead { header_duration_s, ..TagRead::default() };
    };
    let text = |key: ItemKey| tag.get_string(key).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let mut tags = TrackTags {
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
        ..TrackTags::default()
    };
    if container_items.is_empty() {
        tags::apply(&tags::generic_items(tag), &mut tags);
    } else {
        tags::apply(&container_items, &mut tags);
    }
    TagRead { tags, header_duration_s, problem: None }
}

/// `error` and its sources, joined: lofty's own message only names the format.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative(root: &Path, paths: impl IntoIterator<Item = PathBuf>) -> Vec<String> {
        paths.into_iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect()
    }

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
        let scan = scan(&[root.to_path_buf()]);
        assert_eq!(relative(root, scan.files.iter().map(|f| f.path.clone())), vec!["A/1.flac", "A/B/2.MP3"]);
        assert_eq!(scan.skipped, vec![]);
        assert_eq!(scan.unreadable_dirs, vec![]);
        assert_eq!(scan.found(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn scan_reports_what_it_cannot_analyse_without_opening_it() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("folder.flac")).unwrap();
        std::fs::write(root.join("folder.flac/inside.wav"), b"x").unwrap();
        let non_utf8 = root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.wav"));
        std::fs::write(&non_utf8, b"x").unwrap();
        // Opening this FIFO for reading would block the scan until a writer came.
        let status = std::process::Command::new("mkfifo").arg(root.join("pipe.flac")).status().unwrap();
        assert!(status.success());
        symlink("/dev/zero", root.join("zero.mp3")).unwrap();
        symlink("/dev/null", root.join("null.txt")).unwrap();
        symlink(root.join("gone.flac"), root.join("dangling.flac")).unwrap();
        symlink(root.join("Unmounted NAS"), root.join("NAS")).unwrap();
        symlink(root.join("self.ogg"), root.join("self.ogg")).unwrap();
        std::fs::write(root.join("notes.txt"), b"x").unwrap();
        let not_a_folder = root.join("notes.txt/inner");

        let scan = scan(&[root.to_path_buf(), not_a_folder.clone()]);
        let files: Vec<PathBuf> = scan.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(files, vec![non_utf8.clone(), root.join("folder.flac/inside.wav")]);
        // The name survives byte for byte.
        assert_eq!(files[0].file_name().unwrap().as_bytes(), b"caf\xe9.wav");
        let skipped: Vec<(String, &str)> =
            scan.skipped.iter().map(|(p, r)| (p.strip_prefix(root).unwrap().display().to_string(), r.as_str())).collect();
        assert_eq!(
            skipped,
            vec![
                ("NAS".to_string(), "broken symlink: its target does not exist"),
                ("dangling.flac".to_string(), "broken symlink: its target does not exist"),
                ("pipe.flac".to_string(), "not a regular file (a FIFO)"),
                ("self.ogg".to_string(), "symlink loop"),
                ("zero.mp3".to_string(), "not a regular file (a symlink to a character device)"),
            ]
        );
        assert_eq!(scan.unreadable_dirs.len(), 1, "{:?}", scan.unreadable_dirs);
        assert_eq!(scan.unreadable_dirs[0].0, not_a_folder);
        assert!(scan.unreadable_dirs[0].1.contains("Not a directory"), "{:?}", scan.unreadable_dirs);
        assert_eq!(scan.found(), 7);
    }

    #[cfg(unix)]
    #[test]
    fn scan_reports_a_folder_it_may_not_list() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("locked")).unwrap();
        std::fs::write(root.join("locked/hidden.flac"), b"x").unwrap();
        std::fs::write(root.join("open.flac"), b"x").unwrap();
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let listable_anyway = std::fs::read_dir(root.join("locked")).is_ok();
        let scan = scan(&[root.to_path_buf()]);
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
        if listable_anyway {
            // Root (CAP_DAC_READ_SEARCH) lists it regardless; tests/filesystem.rs runs the indexer as `nobody` for this case.
            eprintln!("note: running with the right to read any folder, so a mode-000 folder is still listed");
            assert_eq!(scan.files.len(), 2);
            return;
        }
        assert_eq!(relative(root, scan.files.iter().map(|f| f.path.clone())), vec!["open.flac"]);
        assert_eq!(scan.unreadable_dirs.len(), 1);
        assert_eq!(scan.unreadable_dirs[0].0, root.join("locked"));
        assert!(scan.unreadable_dirs[0].1.contains("Permission denied"), "{:?}", scan.unreadable_dirs);
    }

    #[cfg(unix)]
    #[test]
    fn read_tags_refuses_special_files_and_reports_damaged_tags() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let status = std::process::Command::new("mkfifo").arg(root.join("pipe.flac")).status().unwrap();
        assert!(status.success());
        let fifo = read_tags(&root.join("pipe.flac"));
        assert_eq!(fifo.problem.as_deref(), Some("tags not read: not a regular file (a FIFO)"));
        assert_eq!(read_tags(Path::new("/dev/zero")).problem.as_deref(), Some("tags not read: not a regular file (a character device)"));

        // A format lofty does not know is not a damaged tag.
        std::fs::write(root.join("clip.webm"), b"\x1a\x45\xdf\xa3 not really").unwrap();
        assert_eq!(read_tags(&root.join("clip.webm")), TagRead::default());

        // A FLAC whose first metadata block claims more bytes than the file holds.
        let mut damaged = b"fLaC".to_vec();
        damaged.extend_from_slice(&[0x00, 0x00, 0x00, 0x22]);
        damaged.extend_from_slice(&[0u8; 10]);
        std::fs::write(root.join("damaged.flac"), &damaged).unwrap();
        let read = read_tags(&root.join("damaged.flac"));
        assert_eq!(read.tags, TrackTags::default());
        assert_eq!(read.header_duration_s, None);
        let problem = read.problem.unwrap();
        assert!(problem.starts_with("tags unreadable: failed to parse Flac file: "), "{problem}");
    }
}

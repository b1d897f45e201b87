//! File-system oddities in a music folder never hang or crash `strata index`:
//! FIFOs, sockets, devices and symlinks to them, broken symlinks, symlink
//! loops, folders named like audio files, folders that cannot be listed,
//! non-UTF-8 names and damaged tags. Each is reported, and the summary
//! accounts for every entry found.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]
#![cfg(unix)]

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::storage::catalog::Catalog;
use strata::storage::data_dir::DataDir;
use support::*;

/// Far beyond what indexing a few seconds of audio takes: reaching it means the run hung.
const HANG_DEADLINE: Duration = Duration::from_secs(300);

/// Runs `strata --data-dir DATA index --json --jobs 1 ROOTS…` (through `command`,
/// already carrying any user switch) and returns its JSON summary; fails the
/// test if it hangs or exits with an error.
fn index_within_deadline(mut command: Command, data: &Path, roots: &[PathBuf], output_dir: &Path) -> serde_json::Value {
    let stdout_path = output_dir.join("stdout.json");
    let stderr_path = output_dir.join("stderr.txt");
    // Files, not pipes: a chatty child can never block on a full pipe and look hung.
    let mut child = command
        .arg("--data-dir")
        .arg(data)
        .args(["index", "--json", "--jobs", "1"])
        .args(roots)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("strata index hung: no exit after {HANG_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "strata index failed ({status}): {stderr}");
    let stdout = std::fs::read(&stdout_path).unwrap();
    serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&stdout)))
}

/// The `"path": "reason"` pairs of one of the summary's lists.
fn listed(summary: &serde_json::Value, key: &str) -> Vec<(String, String)> {
    let entries = summary[key].as_array().unwrap_or_else(|| panic!("no \"{key}\" list in {summary}"));
    entries.iter().map(|e| (e["path"].as_str().unwrap().to_string(), e["reason"].as_str().unwrap().to_string())).collect()
}

/// A valid WAV long enough for a few model windows.
fn write_track(path: &Path, freq: f32) {
    write_wav(path, &tone(freq, 22_050, 6.0), 1, 22_050);
}

/// A valid WAV whose `id3 ` chunk claims an ID3 version that does not exist:
/// the tag cannot be read, the audio decodes.
fn write_track_with_damaged_tag(path: &Path) {
    write_track(path, 330.0);
    let mut bytes = std::fs::read(path).unwrap();
    let mut id3 = b"ID3\x09\x00\x00\x00\x00\x00\x10".to_vec();
    id3.resize(26, 0);
    bytes.extend_from_slice(b"id3 ");
    bytes.extend_from_slice(&(id3.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&id3);
    let riff_len = (bytes.len() - 8) as u32;
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn oddities_are_skipped_with_reasons_and_everything_else_is_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().canonicalize().unwrap().join("music");
    std::fs::create_dir_all(music.join("Album")).unwrap();
    std::fs::create_dir_all(music.join("folder.flac")).unwrap();
    // Indexed: a plain track, one in a folder named like a FLAC file, one with a
    // name that is not UTF-8 (Latin-1 "café"), one whose tag is damaged.
    write_track(&music.join("Album/01 Plain.wav"), 220.0);
    write_track(&music.join("folder.flac/inside.wav"), 440.0);
    let latin1 = music.join(OsStr::from_bytes(b"caf\xe9.wav"));
    write_track(&latin1, 550.0);
    let damaged_tag = music.join("Album/02 Damaged tag.wav");
    write_track_with_damaged_tag(&damaged_tag);
    // Skipped: a FIFO (opening it would wait forever for a writer), a socket,
    // endless devices behind audio names, a broken symlink and a symlink loop.
    let status = Command::new("mkfifo").arg(music.join("a.flac")).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    let _socket = std::os::unix::net::UnixListener::bind(music.join("sock.flac")).unwrap();
    symlink("/dev/zero", music.join("dev.mp3")).unwrap();
    symlink("/dev/urandom", music.join("urandom.ogg")).unwrap();
    symlink(music.join("nowhere.wav"), music.join("dangling.wav")).unwrap();
    symlink(music.join("loop.flac"), music.join("loop.flac")).unwrap();
    // Walked once: a folder symlinked back to the root.
    symlink(&music, music.join("Album/back to music")).unwrap();
    // Not audio, so not counted: a device behind a non-audio name.
    symlink("/dev/zero", music.join("zero.txt")).unwrap();
    std::fs::write(music.join("notes.txt"), "liner notes").unwrap();
    // A root nobody can list, not even root: one of its components is a file.
    let not_a_folder = music.join("notes.txt/inner");

    let data = tmp.path().join("data");
    let roots = [music.clone(), not_a_folder.clone()];
    let summary = index_within_deadline(strata_bin(), &data, &roots, tmp.path());

    assert_eq!(summary["indexed"], 4, "{summary}");
    assert_eq!(listed(&summary, "failed"), vec![], "{summary}");
    let shown = |p: &Path| p.display().to_string();
    let expected_skipped = vec![
        (shown(&music.join("a.flac")), "not a regular file (a FIFO)".to_string()),
        (shown(&music.join("dangling.wav")), "broken symlink: its target does not exist".to_string()),
        (shown(&music.join("dev.mp3")), "not a regular file (a symlink to a character device)".to_string()),
        (shown(&music.join("loop.flac")), "symlink loop".to_string()),
        (shown(&music.join("sock.flac")), "not a regular file (a socket)".to_string()),
        (shown(&music.join("urandom.ogg")), "not a regular file (a symlink to a character device)".to_string()),
    ];
    assert_eq!(listed(&summary, "skipped"), expected_skipped);
    let unreadable = listed(&summary, "unreadable_dirs");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0].0, shown(&not_a_folder));
    assert!(unreadable[0].1.contains("Not a directory"), "{unreadable:?}");
    // Every entry with an audio name (and every unfollowable link) is accounted for.
    let entries_found = 4 + expected_skipped.len();
    let accounted = |s: &serde_json::Value| {
        s["indexed"].as_u64().unwrap() as usize
            + s["unchanged"].as_u64().unwrap() as usize
            + listed(s, "failed").len()
            + listed(s, "skipped").len()
            + s["not_analysed"].as_u64().unwrap() as usize
    };
    assert_eq!(summary["found"].as_u64(), Some(entries_found as u64), "{summary}");
    assert_eq!(accounted(&summary), entries_found);
    let warned = listed(&summary, "warnings");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].0, shown(&damaged_tag));
    assert!(warned[0].1.starts_with("tags unreadable: "), "{warned:?}");

    // The catalog holds the exact paths, the Latin-1 byte included.
    let catalog = Catalog::open(&DataDir::at(&data).catalog_path()).unwrap();
    let mut paths: Vec<PathBuf> = catalog.track_paths().unwrap().into_iter().map(|(_, p)| p).collect();
    paths.sort();
    let mut expected_paths =
        vec![music.join("Album/01 Plain.wav"), damaged_tag.clone(), latin1.clone(), music.join("folder.flac/inside.wav")];
    expected_paths.sort();
    assert_eq!(paths, expected_paths);
    // The damaged tag did not stop the track; it is a warning beside it.
    let warnings = catalog.warnings("musicnn").unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].path, damaged_tag);
    assert!(warnings[0].reason.starts_with("tags unreadable: "), "{warnings:?}");

    // A second run finds the same oddities and nothing new to analyse.
    let again = index_within_deadline(strata_bin(), &data, &roots, tmp.path());
    assert_eq!((again["indexed"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(4)), "{again}");
    assert_eq!(listed(&again, "skipped"), expected_skipped);
    assert_eq!(again["found"].as_u64(), Some(entries_found as u64), "{again}");
    assert_eq!(accounted(&again), entries_found);
}

#[test]
fn a_folder_that_cannot_be_listed_is_reported_and_the_rest_is_indexed() {
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65_534;
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().canonicalize().unwrap().join("music");
    std::fs::create_dir_all(music.join("locked")).unwrap();
    write_track(&music.join("open.wav"), 220.0);
    write_track(&music.join("locked/inside.wav"), 440.0);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(music.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();

    let mut command = strata_bin();
    if std::fs::read_dir(music.join("locked")).is_ok() {
        // We may list any folder whatever its mode (root), so the indexer runs
        // as `nobody`, for whom mode 000 means what it means to a user.
        eprintln!("note: running the indexer as nobody ({NOBODY}): this user lists mode-000 folders");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).unwrap();
        command.uid(NOBODY).gid(NOBODY).env("HOME", &data);
    }
    let summary = index_within_deadline(command, &data, std::slice::from_ref(&music), &data);
    // Restored before asserting, so the temporary folder can always be removed.
    std::fs::set_permissions(music.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();

    assert_eq!(summary["indexed"], 1, "{summary}");
    let unreadable = listed(&summary, "unreadable_dirs");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0].0, music.join("locked").display().to_string());
    assert!(unreadable[0].1.contains("Permission denied"), "{unreadable:?}");
    assert_eq!(listed(&summary, "skipped"), vec![]);
}

#[test]
fn tracks_behind_an_unplugged_drive_are_kept_not_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let drive = tmp.path().join("drive");
    std::fs::create_dir_all(drive.join("Album")).unwrap();
    std::fs::create_dir_all(&music).unwrap();
    for i in 0..2 {
        write_wav(&drive.join(format!("Album/{i:02} Track.wav")), &tone(220.0 * (i + 1) as f32, 16_000, 4.0), 1, 16_000);
    }
    write_wav(&music.join("local.wav"), &tone(330.0, 16_000, 4.0), 1, 16_000);
    // The collection reaches the drive through a link, as a mount point would.
    symlink(&drive, music.join("External")).unwrap();
    let data = tmp.path().join("data");
    let first = index_within_deadline(strata_bin(), &data, std::slice::from_ref(&music), tmp.path());
    assert_eq!(first["indexed"], 3, "{first}");

    // Unplug the drive: the link dangles. Its tracks are reported, not forgotten.
    std::fs::rename(&drive, tmp.path().join("drive-away")).unwrap();
    let unplugged = index_within_deadline(strata_bin(), &data, std::slice::from_ref(&music), tmp.path());
    assert_eq!(unplugged["removed"], 0, "{unplugged}");
    assert_eq!(unplugged["unchanged"], 1, "{unplugged}");
    assert!(listed(&unplugged, "skipped").iter().any(|(path, _)| path.ends_with("External")), "{unplugged}");
    let catalog = Catalog::open(&DataDir::at(&data).catalog_path()).unwrap();
    assert_eq!(catalog.track_paths().unwrap().len(), 3);

    // Plugged back in, nothing needs analysing again.
    std::fs::rename(tmp.path().join("drive-away"), &drive).unwrap();
    let back = index_within_deadline(strata_bin(), &data, &[music], tmp.path());
    assert_eq!((back["unchanged"].as_u64(), back["indexed"].as_u64()), (Some(3), Some(0)), "{back}");
}

//! `packaging/build-packages.sh` end to end: the .deb and the portable tarball
//! each hold a Strata that finds its MusicNN model and its ONNX Runtime inside
//! the installed tree, with no environment variables and nothing from the
//! source tree (whose `models/` and `.cache/` are compiled into debug builds as
//! the last places searched, so the installed ones must win on their own).
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{tone, write_wav};

const ORT_VERSION: &str = "1.31.1";

/// Runs a tool, failing the test with `hint` when it is not installed.
fn tool(program: &str, hint: &str) -> Command {
    let found = Command::new(program).arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(found, "`{program}` is needed by the packaging test and was not found on PATH: {hint}");
    Command::new(program)
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The one file in `dir` whose name ends with `suffix`.
fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "expected one *{suffix} in {}: {found:?}", dir.display());
    found[0].clone()
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs an installed `strata` with nothing inherited: PATH, a fresh HOME and
/// data folder, and a scratch current directory.
fn installed_strata(bin: &Path, scratch: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let home = scratch.join("home");
    let data = scratch.join("data");
    let cwd = scratch.join("cwd");
    for dir in [&home, &data, &cwd] {
        std::fs::create_dir_all(dir).unwrap();
    }
    run_ok(
        Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &home)
            .env("STRATA_DATA_DIR", &data)
            .current_dir(&cwd),
    )
}

/// Checks an installed tree whose prefix (`usr/` in the .deb, the top folder
/// of the tarball) is `prefix`: its files, and that `bin/strata` uses them.
fn check_installed(prefix: &Path, scratch: &Path, wav: &Path) {
    let prefix = canonical(prefix);
    let bin = prefix.join("bin/strata");
    let lib = prefix.join("lib/strata");
    let share = prefix.join("share");
    for file in [
        bin.clone(),
        lib.join(format!("libonnxruntime.so.{ORT_VERSION}")),
        lib.join("libonnxruntime_providers_shared.so"),
        share.join("strata/models/musicnn/model.onnx"),
        share.join("strata/models/musicnn/manifest.toml"),
        share.join("strata/models/musicnn/LICENSE"),
        share.join("applications/strata.desktop"),
        share.join("metainfo/org.strata.Strata.metainfo.xml"),
        share.join("icons/hicolor/48x48/apps/strata.png"),
        share.join("icons/hicolor/128x128/apps/strata.png"),
        share.join("icons/hicolor/256x256/apps/strata.png"),
        share.join("icons/hicolor/scalable/apps/strata.svg"),
        share.join("doc/strata/ThirdPartyNotices-onnxruntime.txt"),
    ] {
        assert!(file.is_file(), "{} is missing from the package", file.display());
    }
    let link = std::fs::read_link(lib.join("libonnxruntime.so")).expect("lib/strata/libonnxruntime.so is a symlink");
    assert_eq!(link, Path::new(&format!("libonnxruntime.so.{ORT_VERSION}")));
    let copyright = std::fs::read_to_string(share.join("doc/strata/copyright")).unwrap();
    for needle in ["License: MIT", "The Strata developers", "License: ISC", "Music Technology Group", "Microsoft Corporation"] {
        assert!(copyright.contains(needle), "copyright lacks {needle:?}:\n{copyright}");
    }

    // `models --json`: the model from share/strata/models, the runtime from lib/strata.
    let output = installed_strata(&bin, scratch, &["models".as_ref(), "--json".as_ref()]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("models --json: {e}\n{}", String::from_utf8_lossy(&output.stdout)));
    let library = doc["runtime"]["library"].as_str().unwrap_or_else(|| panic!("ONNX Runtime not loaded: {doc:#}"));
    assert!(library.starts_with(prefix.to_str().unwrap()), "ONNX Runtime came from {library}, not from {}", prefix.display());
    assert_eq!(canonical(Path::new(library)), canonical(&lib.join("libonnxruntime.so")), "runtime library");
    let musicnn =
        doc["models"].as_array().unwrap().iter().find(|m| m["name"] == "musicnn").unwrap_or_else(|| panic!("musicnn not listed: {doc:#}"));
    let dir = musicnn["dir"].as_str().unwrap();
    assert!(dir.starts_with(prefix.to_str().unwrap()), "musicnn came from {dir}, not from {}", prefix.display());
    assert_eq!(canonical(Path::new(dir)), canonical(&share.join("strata/models/musicnn")), "model folder");
    assert_eq!(musicnn["error"], serde_json::Value::Null, "{musicnn:#}");
    assert_eq!(musicnn["provider"], "CPU");

    // `tag --json` on a 4 s tone: five tags from the installed tags list.
    let output = installed_strata(&bin, scratch, &["tag".as_ref(), wav.as_os_str(), "--json".as_ref()]);
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("tag --json: {e}\n{}", String::from_utf8_lossy(&output.stdout)));
    let tags = report["tags"].as_array().unwrap_or_else(|| panic!("no tags: {report:#}"));
    assert_eq!(tags.len(), 5, "{report:#}");
    let known = std::fs::read_to_string(share.join("strata/models/musicnn/tags.txt")).unwrap();
    for tag in tags {
        let name = tag[0].as_str().unwrap();
        assert!(known.lines().any(|l| l.trim() == name), "unknown tag {name}");
    }
}

#[test]
fn deb_and_tarball_run_from_their_own_files() {
    let dpkg_hint = "it is part of every Debian/Ubuntu system (apt-get install dpkg)";
    tool("dpkg-deb", dpkg_hint);
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = canonical(tmp.path());
    let out = tmp_path.join("out");
    std::fs::create_dir_all(&out).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/build-packages.sh");
    run_ok(
        tool("bash", "install bash").arg(&script).arg("--binary").arg(env!("CARGO_BIN_EXE_strata")).arg("--out").arg(&out).arg("--fast"),
    );
    let version = env!("CARGO_PKG_VERSION");
    let arch = String::from_utf8(run_ok(tool("dpkg", dpkg_hint).arg("--print-architecture")).stdout).unwrap();
    let deb = out.join(format!("strata_{version}_{}.deb", arch.trim()));
    assert!(deb.is_file(), "{} was not built", deb.display());
    let tarball = only_file(&out, ".tar.gz");
    assert!(tarball.file_name().unwrap().to_string_lossy().starts_with(&format!("strata-{version}-linux-")), "{}", tarball.display());

    // The control file.
    let field = |name: &str| {
        let out = run_ok(tool("dpkg-deb", dpkg_hint).arg("--field").arg(&deb).arg(name)).stdout;
        String::from_utf8(out).unwrap().trim().to_string()
    };
    assert_eq!(field("Package"), "strata");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Architecture"), arch.trim());
    let depends = field("Depends");
    let depends: Vec<&str> = depends.split(',').map(|d| d.split_whitespace().next().unwrap_or("")).collect();
    for needed in ["libasound2", "libc6", "libgl1", "libxkbcommon-x11-0", "libegl1"] {
        assert!(depends.contains(&needed), "Depends lacks {needed}: {depends:?}");
    }

    let wav = tmp_path.join("tone.wav");
    write_wav(&wav, &tone(220.0, 16_000, 4.0), 1, 16_000);

    // The .deb, unpacked into a scratch root as dpkg would install it.
    let root = tmp_path.join("deb-root");
    run_ok(tool("dpkg-deb", dpkg_hint).arg("-x").arg(&deb).arg(&root));
    check_installed(&root.join("usr"), &tmp_path.join("deb-run"), &wav);

    // The tarball, unpacked anywhere.
    let unpacked = tmp_path.join("tar-root");
    std::fs::create_dir_all(&unpacked).unwrap();
    run_ok(tool("tar", "install tar").arg("-xzf").arg(&tarball).arg("-C").arg(&unpacked));
    let top = unpacked.join(format!("strata-{version}"));
    assert!(top.join("README").is_file(), "the tarball has no README");
    check_installed(&top, &tmp_path.join("tar-run"), &wav);
}

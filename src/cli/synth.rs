//! `strata synth-library` (hidden): synthetic archives for measuring Strata at collector scale.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::storage::data_dir::DataDir;
use crate::synth::audio::{AudioFormat, AudioOptions};
use crate::synth::{LibraryOptions, MERT_MODEL};

/// What `synth-library` was asked to write.
pub(super) struct SynthRequest<'a> {
    pub(super) tracks: Option<usize>,
    pub(super) mert: bool,
    pub(super) seed: u64,
    pub(super) root: Option<&'a Path>,
    pub(super) audio: Option<usize>,
    pub(super) out: Option<&'a Path>,
    pub(super) seconds: f32,
    pub(super) formats: &'a [AudioFormat],
}

pub(super) fn synth_library(data_dir: &DataDir, request: &SynthRequest<'_>) -> anyhow::Result<i32> {
    if request.tracks.is_none() && request.audio.is_none() {
        anyhow::bail!("nothing to write: give --tracks N (a catalog and store) and/or --audio N --out DIR (audio files)");
    }
    if let Some(tracks) = request.tracks {
        let root = request.root.map_or_else(|| crate::synth::default_root(data_dir), Path::to_path_buf);
        let options = LibraryOptions { tracks, seed: request.seed, mert: request.mert, root };
        let started = Instant::now();
        let mut last_report = Instant::now();
        let summary = crate::synth::write_library(data_dir, &options, &mut |model, done, total| {
            if last_report.elapsed().as_secs_f32() >= 2.0 || done == total {
                eprintln!("{model}: {done}/{total} tracks");
                last_report = Instant::now();
            }
        })?;
        for (model, bytes) in &summary.models {
            println!("{model}: {} tracks, store {:.0} MB", summary.tracks, *bytes as f64 / 1e6);
        }
        if request.mert {
            println!("({MERT_MODEL} is a manifest only: search, map and probe it with --model {MERT_MODEL}; it cannot analyse audio)");
        }
        println!("wrote {} in {:.1} s", data_dir.root().display(), started.elapsed().as_secs_f64());
    }
    if let Some(files) = request.audio {
        let Some(out) = request.out else { anyhow::bail!("--audio needs --out DIR") };
        let formats = if request.formats.is_empty() { AudioFormat::ALL.to_vec() } else { request.formats.to_vec() };
        let options = AudioOptions { files, seed: request.seed, seconds: request.seconds, formats };
        let started = Instant::now();
        let summary = crate::synth::audio::write_audio(out, &options, &|done, total| {
            if done.is_multiple_of(1000) || done == total {
                eprintln!("audio: {done}/{total} files");
            }
        })?;
        for (format, count) in &summary.per_format {
            println!("{}: {count} files", format.extension());
        }
        if !summary.skipped.is_empty() {
            let names: Vec<&str> = summary.skipped.iter().map(|f| f.extension()).collect();
            println!("not written (ffmpeg is not installed): {}", names.join(", "));
        }
        println!("wrote {} in {:.1} s", PathBuf::from(out).display(), started.elapsed().as_secs_f64());
    }
    Ok(0)
}

//! `strata versions` and `strata align`: other recordings of the same piece, and time maps between two recordings.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::storage::catalog::Catalog;
use crate::storage::data_dir::DataDir;
use crate::versions::found::{SURE, search_library};
use crate::versions::{SearchOptions, align};

/// What `strata versions` was asked for.
pub(super) struct VersionsRequest<'a> {
    pub(super) track: Option<&'a str>,
    pub(super) k: usize,
    pub(super) shortlist: usize,
    pub(super) candidates: usize,
    pub(super) prefilter: bool,
    pub(super) json: bool,
}

pub(super) fn versions(data_dir: &DataDir, request: &VersionsRequest) -> anyhow::Result<i32> {
    let catalog = Catalog::open(&data_dir.catalog_path())?;
    let tracks = catalog.track_paths()?;
    drop(catalog);
    if tracks.is_empty() {
        anyhow::bail!("no tracks are indexed (run `strata index DIR` first)");
    }
    let query = match request.track {
        Some(track) => Some(
            find_track(&tracks, track).ok_or_else(|| anyhow::anyhow!("'{track}' is not an indexed track (give its path or catalog id)"))?,
        ),
        None => None,
    };
    let paths: Vec<PathBuf> = tracks.into_iter().map(|(_, p)| p).collect();
    // The search keeps at least the window's share of results, so what it keeps serves both.
    let options = SearchOptions {
        prefilter: request.prefilter,
        shortlist: request.shortlist.max(1),
        candidates: request.candidates.max(1),
        results: request.k.max(SearchOptions::default().results),
    };
    let search = search_library(data_dir, &paths, options, &|_| {})?;
    // Tracks that cannot be decoded take no part; they answer with no results.
    for (path, error) in &search.failed {
        eprintln!("strata: {} left out: {error}", path.display());
    }
    let queries: Vec<usize> = match query {
        Some(q) => vec![q],
        None => (0..paths.len()).collect(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for q in queries {
        let results = search.found.of(&paths[q]).unwrap_or_default();
        let results = &results[..results.len().min(request.k)];
        if request.json {
            let results: Vec<_> = results
                .iter()
                .map(|r| serde_json::json!({"path": r.path.display().to_string(), "confidence": round3(f64::from(r.confidence))}))
                .collect();
            writeln!(out, "{}", serde_json::json!({"query": paths[q].display().to_string(), "results": results}))?;
        } else {
            let sure = results.iter().filter(|r| r.confidence >= SURE).count();
            writeln!(out, "{} — {sure} other recording(s)", paths[q].display())?;
            for r in results {
                writeln!(out, "  {:.2}  {}", r.confidence, r.path.display())?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

pub(super) fn align_command(a: &Path, b: &Path, json: bool) -> anyhow::Result<i32> {
    let alignment = align::align_files(a, b)?;
    let map: Vec<[f64; 2]> = alignment.map.iter().map(|&(ta, tb)| [round3(ta), round3(tb)]).collect();
    if json {
        println!("{}", serde_json::json!({"a": a.display().to_string(), "b": b.display().to_string(), "map": map}));
    } else {
        println!("{} → {} (B is {} semitone(s) higher)", a.display(), b.display(), (12 - alignment.key_shift) % 12);
        for [ta, tb] in map.iter().step_by(10) {
            println!("{ta:>9.3} s  {tb:>9.3} s");
        }
    }
    Ok(0)
}

/// The catalog entry `track` names: a catalog id, or a path as indexed (or one that resolves to it).
fn find_track(tracks: &[(i64, PathBuf)], track: &str) -> Option<usize> {
    if let Ok(id) = track.parse::<i64>()
        && let Some(index) = tracks.iter().position(|(i, _)| *i == id)
    {
        return Some(index);
    }
    let path = Path::new(track);
    let canonical = std::fs::canonicalize(path).ok();
    tracks.iter().position(|(_, p)| p == path || Some(p) == canonical.as_ref())
}

/// Rounded to 3 decimals (milliseconds, thousandths), for shorter JSON.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

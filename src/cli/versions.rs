//! `strata versions` and `strata align`: other recordings of the same piece, and time maps between two recordings.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::storage::catalog::Catalog;
use crate::storage::data_dir::DataDir;
use crate::versions::cache::FeatureCache;
use crate::versions::{SearchOptions, align, find_versions, library_features};

/// What `strata versions` was asked for.
pub(super) struct VersionsRequest<'a> {
    pub(super) track: Option<&'a str>,
    pub(super) k: usize,
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
    let cache_path = data_dir.versions_cache_path();
    let mut cache = FeatureCache::load(&cache_path);
    let features = library_features(&paths, &mut cache, &|_| {});
    cache.retain(&paths);
    if let Err(error) = cache.save(&cache_path) {
        eprintln!("strata: could not keep the features for next time ({}): {error}", cache_path.display());
    }
    // Tracks that cannot be decoded take no part; they answer with no results.
    let usable: Vec<usize> = (0..paths.len()).filter(|&i| features[i].is_ok()).collect();
    for (path, result) in paths.iter().zip(&features) {
        if let Err(error) = result {
            eprintln!("strata: {} left out: {error}", path.display());
        }
    }
    let library: Vec<_> = features.into_iter().filter_map(Result::ok).collect();
    let options = SearchOptions { prefilter: request.prefilter, candidates: request.candidates.max(1), results: request.k };
    let found = find_versions(&library, options);
    let mut results_of: Vec<Vec<(usize, f32)>> = vec![Vec::new(); paths.len()];
    for (position, matches) in found.iter().enumerate() {
        results_of[usable[position]] = matches.iter().map(|m| (usable[m.track], m.confidence)).collect();
    }
    let queries: Vec<usize> = match query {
        Some(q) => vec![q],
        None => (0..paths.len()).collect(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for q in queries {
        if request.json {
            let results: Vec<_> = results_of[q]
                .iter()
                .map(|&(t, confidence)| serde_json::json!({"path": paths[t].display().to_string(), "confidence": round3(f64::from(confidence))}))
                .collect();
            writeln!(out, "{}", serde_json::json!({"query": paths[q].display().to_string(), "results": results}))?;
        } else {
            let sure = results_of[q].iter().filter(|r| r.1 >= 0.5).count();
            writeln!(out, "{} — {sure} other recording(s)", paths[q].display())?;
            for &(t, confidence) in &results_of[q] {
                writeln!(out, "  {confidence:.2}  {}", paths[t].display())?;
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

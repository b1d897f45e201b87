//! Ground-truth labels for evaluation: from tags, or from a CSV file.
//!
//! `composer`, `album`, `artist`, `genre` and `work` come from the catalog's
//! tags. Any other column (ensemble, era…) comes from a CSV with a `path`
//! column, matched to tracks by path suffix (relative paths in the CSV are
//! relative to the library root). Nothing here touches vectors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::storage::catalog::Track;

/// Label columns read from tags.
pub const TAG_LABELS: &[&str] = &["composer", "album", "artist", "genre", "work"];

/// One label per track (`None` where the track has none).
pub fn track_labels(tracks: &[Track], label: &str, labels_csv: Option<&Path>) -> anyhow::Result<Vec<Option<String>>> {
    if let Some(csv_path) = labels_csv {
        let by_path = read_label_column(csv_path, label)?;
        // Rows by file name, so matching a track looks at a handful of rows, not all of them.
        let mut by_name: HashMap<&std::ffi::OsStr, Vec<(&Path, &str)>> = HashMap::new();
        for (path, value) in &by_path {
            if let Some(name) = path.file_name() {
                by_name.entry(name).or_default().push((path.as_path(), value.as_str()));
            }
        }
        let lookup = |track: &Path| -> Option<String> {
            let rows = by_name.get(track.file_name()?)?;
            rows.iter().find(|(p, _)| track.ends_with(p)).map(|(_, v)| v.to_string())
        };
        return Ok(tracks.iter().map(|t| lookup(&t.path)).collect());
    }
    let pick = |t: &Track| -> Option<String> {
        match label {
            "composer" => t.tags.composer.clone(),
            "album" => t.tags.album.clone(),
            "artist" => t.tags.artist.clone(),
            "genre" => t.tags.genre.clone(),
            "work" => t.tags.work.clone(),
            _ => None,
        }
    };
    if !TAG_LABELS.contains(&label) {
        anyhow::bail!("'{label}' is not a tag label ({}); pass --labels FILE.csv for other columns", TAG_LABELS.join(", "));
    }
    Ok(tracks.iter().map(pick).collect())
}

/// Reads `path → value` for one column of a CSV with a `path` column.
pub fn read_label_column(csv_path: &Path, column: &str) -> anyhow::Result<HashMap<PathBuf, String>> {
    let mut reader = csv::Reader::from_path(csv_path)?;
    let headers = reader.headers()?.clone();
    let path_index =
        headers.iter().position(|h| h == "path").ok_or_else(|| anyhow::anyhow!("{} has no 'path' column", csv_path.display()))?;
    let value_index = headers.iter().position(|h| h == column).ok_or_else(|| {
        anyhow::anyhow!("{} has no '{column}' column (columns: {})", csv_path.display(), headers.iter().collect::<Vec<_>>().join(", "))
    })?;
    let mut map = HashMap::new();
    for record in reader.records() {
        let record = record?;
        if let (Some(path), Some(value)) = (record.get(path_index), record.get(value_index))
            && !value.trim().is_empty()
        {
            map.insert(PathBuf::from(path), value.trim().to_string());
        }
    }
    Ok(map)
}

//! `strata works` and `strata tracks`: the works inferred from tags and titles, their corrections and their score.
//!
//! Both read every catalogued track (analysed or not) and the user's stored
//! corrections. A correction is one short catalog transaction on its own table,
//! which the indexer never writes, so it does not wait for a running index.

use std::path::{Path, PathBuf};

use super::WorksAction;
use crate::insight::label_source::track_labels;
use crate::storage::catalog::{Catalog, Track};
use crate::storage::data_dir::DataDir;
use crate::works::{PairScores, Works, edits, pairwise_scores};

/// The catalog, its tracks and their works.
struct Library {
    catalog: Catalog,
    tracks: Vec<Track>,
    works: Works,
}

impl Library {
    fn open(data_dir: &DataDir) -> anyhow::Result<Self> {
        let catalog_file = data_dir.catalog_path();
        if !catalog_file.exists() {
            anyhow::bail!("nothing indexed yet in {} (run `strata index DIR` first)", data_dir.root().display());
        }
        let catalog = Catalog::open(&catalog_file)?;
        let tracks = catalog.tracks()?;
        let works = Works::infer(&tracks, &catalog.work_edits()?);
        Ok(Self { catalog, tracks, works })
    }

    /// The track with this catalog id or path (as indexed, or any path to the same file).
    fn find_track(&self, query: &str) -> anyhow::Result<usize> {
        let by_id = query.parse::<i64>().ok().and_then(|id| self.tracks.iter().position(|t| t.id == id));
        let path = Path::new(query);
        let canonical = std::fs::canonicalize(path).ok();
        by_id
            .or_else(|| self.tracks.iter().position(|t| t.path == path || Some(&t.path) == canonical.as_ref()))
            .ok_or_else(|| anyhow::anyhow!("'{query}' is not a catalogued track (give its path or catalog id)"))
    }
}

/// `strata works [--score LABELS] [--json]` and its corrections.
pub(super) fn works(data_dir: &DataDir, action: Option<WorksAction>, score: Option<&Path>, json: bool) -> anyhow::Result<i32> {
    let mut library = Library::open(data_dir)?;
    let edits = match action {
        None => {
            return match score {
                Some(labels) => print_score(&library, labels, json),
                None => print_works(&library, json),
            };
        }
        Some(WorksAction::Merge { ids }) => edits::merge(&library.works, &library.tracks, &ids)?,
        Some(WorksAction::Split { id, tracks }) => {
            let moved = tracks.iter().map(|t| library.find_track(t)).collect::<anyhow::Result<Vec<_>>>()?;
            edits::split(&library.works, &library.tracks, &id, &moved)?
        }
        Some(WorksAction::Rename { id, title }) => {
            library.works.find(&id).ok_or_else(|| edits::EditError::UnknownWork(id.clone()))?;
            vec![edits::WorkEdit::Rename { work_id: id, title }]
        }
        Some(WorksAction::Reset { id }) => {
            let inferred = Works::infer(&library.tracks, &[]);
            let (work_ids, paths) = edits::reset_scope(&library.works, &inferred, &library.tracks, &id)?;
            let forgotten = library.catalog.remove_work_edits(&work_ids, &paths)?;
            println!("forgot {forgotten} correction{}", if forgotten == 1 { "" } else { "s" });
            return Ok(0);
        }
    };
    library.catalog.add_work_edits(&edits)?;
    let library = Library::open(data_dir)?;
    print_works(&library, json)
}

/// One line per work: id, source, number of tracks, composer and title (JSON: with the tracks' paths).
fn print_works(library: &Library, json: bool) -> anyhow::Result<i32> {
    for work in &library.works.works {
        if json {
            let paths: Vec<String> = work.tracks.iter().map(|&t| library.tracks[t].path.display().to_string()).collect();
            let line = serde_json::json!({
                "id": work.id, "work_key": work.work_key, "title": work.title, "composer": work.composer,
                "catalogue": work.catalogue, "source": work.source, "tracks": paths,
            });
            println!("{line}");
        } else {
            let composer = work.composer.as_deref().unwrap_or("—");
            println!("{}  {:<16} {:>3}  {composer}: {}", work.id, work.source.name(), work.tracks.len(), work.title);
        }
    }
    Ok(0)
}

/// Pairwise precision, recall and F1 of "same work" against the CSV's `work` column.
fn print_score(library: &Library, labels_csv: &Path, json: bool) -> anyhow::Result<i32> {
    let labels = track_labels(&library.tracks, "work", Some(labels_csv))?;
    let scores = pairwise_scores(&library.works, &labels);
    if json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
    } else {
        println!("{}", describe_scores(&scores));
    }
    Ok(0)
}

/// The pairwise scores in words, as `strata works --score` and `strata eval --unit work` print them.
pub(super) fn describe_scores(scores: &PairScores) -> String {
    format!(
        "{} labelled tracks; pairs: {} labelled, {} inferred, {} agreeing\nprecision {:.3}  recall {:.3}  F1 {:.3}",
        scores.labelled_tracks,
        scores.labelled_pairs,
        scores.inferred_pairs,
        scores.agreeing_pairs,
        scores.precision,
        scores.recall,
        scores.f1
    )
}

/// `strata tracks [--json]`: every catalogued track with its work and every tag read.
pub(super) fn tracks(data_dir: &DataDir, json: bool) -> anyhow::Result<i32> {
    let library = Library::open(data_dir)?;
    for (index, track) in library.tracks.iter().enumerate() {
        let work = library.works.work_of(index);
        let movement = library.works.movement_of_track[index];
        if json {
            let line = serde_json::json!({
                "path": track.path.display().to_string(), "id": track.id, "title": track.display_title(),
                "composer": track.tags.composer, "work": work.title, "work_id": work.id, "work_key": work.work_key,
                "work_source": work.source, "catalogue": work.catalogue, "movement": movement,
                "duration_s": track.duration_s, "tags": track.tags,
            });
            println!("{line}");
        } else {
            let movement = movement.map(|m| m.to_string()).unwrap_or_default();
            let name = track.path.file_name().map(PathBuf::from).unwrap_or_default();
            println!("{:<40} {:<16} {:>3}  {}  [{}]", work.title, work.source.name(), movement, track.display_title(), name.display());
        }
    }
    Ok(0)
}

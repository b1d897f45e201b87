//! The user's corrections to inferred works: merge, split, rename.
//!
//! Corrections are stored in the catalog (table `work_edits`) keyed by a
//! track's path bytes and stable work ids, so they survive re-indexing. Two
//! kinds are enough: [`WorkEdit::Assign`] moves one track into a work (merge
//! assigns every track of the merged works to the first; split assigns the
//! chosen tracks to a new id) and [`WorkEdit::Rename`] gives a work a title.
//! Edits apply in order; a later assignment of the same track wins.

use std::collections::HashMap;

use super::{Work, WorkSource, Works, stable_id};
use crate::storage::catalog::{Track, path_bytes};

/// Why a correction cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// No work has this id.
    #[error("no work has the id '{0}' (see `strata works`)")]
    UnknownWork(String),
    /// A merge needs two works or more.
    #[error("merging needs at least two different works")]
    NothingToMerge,
    /// A track to split out is not in the work.
    #[error("{track} is not in the work '{work}'")]
    NotInWork {
        /// The track's path.
        track: String,
        /// The work's id.
        work: String,
    },
    /// A split must leave the work at least one track and move at least one.
    #[error("a split moves some but not all of a work's tracks (to retitle a work, rename it)")]
    SplitEverything,
}

/// The edits that merge the works `ids` into the first of them.
pub fn merge(works: &Works, tracks: &[Track], ids: &[String]) -> Result<Vec<WorkEdit>, EditError> {
    let indices = ids.iter().map(|id| works.find(id).ok_or_else(|| EditError::UnknownWork(id.clone()))).collect::<Result<Vec<_>, _>>()?;
    let Some((&target, rest)) = indices.split_first() else { return Err(EditError::NothingToMerge) };
    let work_id = &works.works[target].id;
    let edits: Vec<WorkEdit> = rest
        .iter()
        .filter(|&&w| w != target)
        .flat_map(|&w| &works.works[w].tracks)
        .map(|&t| WorkEdit::Assign { track_path: path_bytes(&tracks[t].path), work_id: work_id.clone() })
        .collect();
    if edits.is_empty() {
        return Err(EditError::NothingToMerge);
    }
    Ok(edits)
}

/// The edits that move `moved` (track indices) out of the work `id` into a new work,
/// titled after the first of them; the new work's id derives from `id` and that track's path.
pub fn split(works: &Works, tracks: &[Track], id: &str, moved: &[usize]) -> Result<Vec<WorkEdit>, EditError> {
    let work = &works.works[works.find(id).ok_or_else(|| EditError::UnknownWork(id.to_string()))?];
    if let Some(&outside) = moved.iter().find(|t| !work.tracks.contains(t)) {
        return Err(EditError::NotInWork { track: tracks[outside].path.display().to_string(), work: id.to_string() });
    }
    let mut moved = moved.to_vec();
    moved.sort_by_key(|t| work.tracks.iter().position(|w| w == t));
    moved.dedup();
    let Some(&first) = moved.first().filter(|_| moved.len() < work.tracks.len()) else { return Err(EditError::SplitEverything) };
    let new_id = stable_id(&["split", id, &tracks[first].path.to_string_lossy()]);
    let title = tracks[first].display_title();
    let mut edits: Vec<WorkEdit> =
        moved.iter().map(|&t| WorkEdit::Assign { track_path: path_bytes(&tracks[t].path), work_id: new_id.clone() }).collect();
    edits.push(WorkEdit::Rename { work_id: new_id, title });
    Ok(edits)
}

/// What resetting the work `id` forgets: the edits naming it, and those moving a track
/// it holds now or held as inferred (`inferred`: the same tracks' works without edits).
pub fn reset_scope(works: &Works, inferred: &Works, tracks: &[Track], id: &str) -> Result<(Vec<String>, Vec<Vec<u8>>), EditError> {
    let now = works.find(id).map(|w| works.works[w].tracks.as_slice()).unwrap_or_default();
    let before = inferred.find(id).map(|w| inferred.works[w].tracks.as_slice()).unwrap_or_default();
    if now.is_empty() && before.is_empty() {
        return Err(EditError::UnknownWork(id.to_string()));
    }
    let mut paths: Vec<Vec<u8>> = now.iter().chain(before).map(|&t| path_bytes(&tracks[t].path)).collect();
    paths.sort_unstable();
    paths.dedup();
    Ok((vec![id.to_string()], paths))
}

/// One stored correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkEdit {
    /// Put the track with these path bytes into the work with this id (a new work when no inferred work has it).
    Assign {
        /// The track's path bytes ([`crate::storage::catalog::path_bytes`]).
        track_path: Vec<u8>,
        /// The work's stable id.
        work_id: String,
    },
    /// Give the work with this id this title.
    Rename {
        /// The work's stable id.
        work_id: String,
        /// The new display title.
        title: String,
    },
}

/// Applies `edits` to inferred works; works they touch become [`WorkSource::User`].
pub(super) fn apply(inferred: Works, tracks: &[Track], edits: &[WorkEdit]) -> Works {
    if edits.is_empty() {
        return inferred;
    }
    let index_of_path: HashMap<Vec<u8>, usize> = tracks.iter().enumerate().map(|(i, t)| (path_bytes(&t.path), i)).collect();
    let mut target_of_track: HashMap<usize, &str> = HashMap::new();
    let mut titles: HashMap<&str, &str> = HashMap::new();
    for edit in edits {
        match edit {
            WorkEdit::Assign { track_path, work_id } => {
                if let Some(&track) = index_of_path.get(track_path) {
                    target_of_track.insert(track, work_id);
                }
            }
            WorkEdit::Rename { work_id, title } => {
                titles.insert(work_id, title);
            }
        }
    }
    let mut works = inferred.works;
    for work in &mut works {
        let before = work.tracks.len();
        work.tracks.retain(|t| !target_of_track.contains_key(t));
        if work.tracks.len() != before {
            work.source = WorkSource::User;
        }
    }
    let mut moved: Vec<(usize, &str)> = target_of_track.into_iter().collect();
    moved.sort_unstable();
    for (track, work_id) in moved {
        let index = match works.iter().position(|w| w.id == work_id) {
            Some(index) => index,
            None => {
                let template = &works[inferred.work_of_track[track]];
                works.push(Work {
                    id: work_id.to_string(),
                    work_key: work_id.to_string(),
                    title: tracks[track].display_title(),
                    composer: tracks[track].tags.composer.clone(),
                    catalogue: template.catalogue.clone(),
                    source: WorkSource::User,
                    tracks: Vec::new(),
                });
                works.len() - 1
            }
        };
        works[index].tracks.push(track);
        works[index].source = WorkSource::User;
    }
    for work in &mut works {
        if let Some(title) = titles.get(work.id.as_str()) {
            work.title = title.to_string();
            work.source = WorkSource::User;
        }
        if work.source == WorkSource::User {
            work.tracks.sort_by_key(|&t| (tracks[t].tags.disc, tracks[t].tags.track_no, tracks[t].path.clone()));
        }
    }
    works.retain(|w| !w.tracks.is_empty());
    Works::from_works(works, inferred.movement_of_track)
}

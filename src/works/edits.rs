//! The user's corrections to inferred works: merge, split, rename.
//!
//! Corrections are stored in the catalog (table `work_edits`) keyed by a
//! track's path bytes and stable work ids, so they survive re-indexing. Two
//! kinds are enough: [`WorkEdit::Assign`] moves one track into a work (merge
//! assigns every track of the merged works to the first; split assigns the
//! chosen tracks to a new id) and [`WorkEdit::Rename`] gives a work a title.
//! Edits apply in order; a later assignment of the same track wins.

use std::collections::HashMap;

use super::{Work, WorkSource, Works};
use crate::storage::catalog::{Track, path_bytes};

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

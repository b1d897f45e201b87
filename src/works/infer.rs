//! The inference rules of [`super`], applied to one slice of tracks.

use std::collections::BTreeMap;

use super::{Work, WorkSource, Works, stable_id};
use crate::storage::catalog::Track;

/// Infers every track's work (first version: the WORK tag, else the album).
pub(super) fn infer(tracks: &[Track]) -> Works {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (index, track) in tracks.iter().enumerate() {
        let album = album_key(track);
        let work = track.tags.work.clone().unwrap_or_default();
        groups.entry((album, work)).or_default().push(index);
    }
    let works = groups
        .into_iter()
        .map(|((album, work), mut members)| {
            members.sort_by_key(|&i| (tracks[i].tags.disc, tracks[i].tags.track_no, tracks[i].path.clone()));
            let first = &tracks[members[0]];
            let composer = first.tags.composer.clone();
            let title = if work.is_empty() { first.tags.album.clone().unwrap_or_else(|| album.clone()) } else { work.clone() };
            let work_key = stable_id(&[composer.as_deref().unwrap_or_default(), &title.to_lowercase()]);
            Work {
                id: stable_id(&[&work_key, &album]),
                work_key,
                title,
                composer,
                catalogue: None,
                source: if work.is_empty() { WorkSource::AlbumWork } else { WorkSource::Tag },
                tracks: members,
            }
        })
        .collect();
    Works::from_works(works, vec![None; tracks.len()])
}

/// The album a track belongs to: its album tag and album artist, else its folder.
fn album_key(track: &Track) -> String {
    match &track.tags.album {
        Some(album) => format!("{}\u{1f}{}", album.to_lowercase(), track.tags.album_artist.as_deref().unwrap_or_default().to_lowercase()),
        None => track.path.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
    }
}

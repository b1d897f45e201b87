//! Playlists: the order tracks play in, and the files that keep it.
//!
//! Works stay whole. A ranked list of tracks becomes a playlist in which
//! each work appears once, complete, from its first movement in movement
//! order, never interleaved with another ([`keep_works_whole`]), unless the
//! caller asks for single movements. Similar radio follows the same rule
//! ([`next_for_radio`]): the rest of the current work plays in order before
//! the radio moves on to the most similar work not yet heard.
//!
//! Files are written as M3U (extended, UTF-8) or XSPF (XML, `file://`
//! locations), chosen by the file's extension. Reads no audio and no store:
//! callers hand in tracks, works and rankings.

use std::path::{Path, PathBuf};

use crate::storage::catalog::Track;
use crate::works::Works;

/// One line of a playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistEntry {
    /// The file, exactly as indexed.
    pub path: PathBuf,
    /// Shown title.
    pub title: String,
    /// Composer, else artist, when tagged.
    pub creator: Option<String>,
    /// Album, when tagged.
    pub album: Option<String>,
    /// Length in seconds, when known.
    pub duration_s: Option<f64>,
}

impl PlaylistEntry {
    /// The entry for a catalogued track.
    pub fn of_track(track: &Track) -> Self {
        Self {
            path: track.path.clone(),
            title: track.display_title(),
            creator: track.tags.composer.clone().or_else(|| track.tags.artist.clone()),
            album: track.tags.album.clone(),
            duration_s: track.duration_s,
        }
    }
}

/// The file formats a playlist is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistFormat {
    /// Extended M3U (`#EXTM3U`, `#EXTINF`), one path per entry.
    M3u,
    /// XSPF, the XML Shareable Playlist Format, version 1.
    Xspf,
}

impl PlaylistFormat {
    /// XSPF for a `.xspf` file, M3U otherwise.
    pub fn for_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("xspf") => Self::Xspf,
            _ => Self::M3u,
        }
    }
}

/// `order` (track indices) as playlist entries.
pub fn entries(tracks: &[Track], order: &[usize]) -> Vec<PlaylistEntry> {
    order.iter().filter_map(|&t| tracks.get(t)).map(PlaylistEntry::of_track).collect()
}

/// One line of text: a tag with a line break would start a new playlist line.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The entries as extended M3U text.
pub fn m3u(entries: &[PlaylistEntry]) -> String {
    let mut text = String::from("#EXTM3U\n");
    for entry in entries {
        // -1: length unknown, as the format has it.
        let seconds = entry.duration_s.map_or(-1, |s| s.round() as i64);
        let title = match &entry.creator {
            Some(creator) => format!("{} - {}", one_line(creator), one_line(&entry.title)),
            None => one_line(&entry.title),
        };
        text.push_str(&format!("#EXTINF:{seconds},{title}\n{}\n", entry.path.display()));
    }
    text
}

/// `text` with XML's five special characters escaped, control characters dropped.
fn xml_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A `file://` URI for `path`: every byte outside RFC 3986's unreserved set
/// and `/` percent-encoded, so any file name (spaces, `#`, non-UTF-8) survives.
pub fn file_uri(path: &Path) -> String {
    let bytes = crate::storage::catalog::path_bytes(path);
    let mut uri = String::from("file://");
    for byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// The entries as an XSPF document.
pub fn xspf(entries: &[PlaylistEntry]) -> String {
    let mut text = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<playlist version=\"1\" xmlns=\"http://xspf.org/ns/0/\">\n  <trackList>\n",
    );
    for entry in entries {
        text.push_str("    <track>\n");
        text.push_str(&format!("      <location>{}</location>\n", xml_escaped(&file_uri(&entry.path))));
        text.push_str(&format!("      <title>{}</title>\n", xml_escaped(&entry.title)));
        if let Some(creator) = &entry.creator {
            text.push_str(&format!("      <creator>{}</creator>\n", xml_escaped(creator)));
        }
        if let Some(album) = &entry.album {
            text.push_str(&format!("      <album>{}</album>\n", xml_escaped(album)));
        }
        if let Some(seconds) = entry.duration_s.filter(|s| s.is_finite() && *s >= 0.0) {
            text.push_str(&format!("      <duration>{}</duration>\n", (seconds * 1000.0).round() as u64));
        }
        text.push_str("    </track>\n");
    }
    text.push_str("  </trackList>\n</playlist>\n");
    text
}

/// Writes `entries` to `target` in the format its extension names ([`PlaylistFormat::for_path`]).
pub fn save(target: &Path, entries: &[PlaylistEntry]) -> std::io::Result<()> {
    let text = match PlaylistFormat::for_path(target) {
        PlaylistFormat::M3u => m3u(entries),
        PlaylistFormat::Xspf => xspf(entries),
    };
    std::fs::write(target, text)
}

/// A ranked list of tracks as a play order that keeps works whole: each
/// work once, at the rank of its best-placed track, with all its movements
/// in movement order. With `single_movements`, the ranking as given (each
/// track once). Indices outside `works` are left out.
pub fn keep_works_whole(ranked: &[usize], works: &Works, single_movements: bool) -> Vec<usize> {
    let mut seen = vec![false; if single_movements { works.work_of_track.len() } else { works.works.len() }];
    let mut order = Vec::new();
    for &track in ranked {
        let Some(&work) = works.work_of_track.get(track) else { continue };
        if single_movements {
            if !std::mem::replace(&mut seen[track], true) {
                order.push(track);
            }
        } else if let Some(slot) = seen.get_mut(work)
            && !std::mem::replace(slot, true)
        {
            order.extend(&works.works[work].tracks);
        }
    }
    order
}

/// What similar radio plays after `finished` (the track that just ended):
/// the next movement of its work not yet played, in movement order; once the
/// work is done, the first movement of the best-ranked work in `ranked` (the
/// similar tracks, best first) none of whose movements has been played and
/// that is not another recording of the work just played (same work key,
/// from tags or found from the audio). `None` when nothing qualifies.
pub fn next_for_radio(works: &Works, finished: Option<usize>, ranked: &[usize], played: &dyn Fn(usize) -> bool) -> Option<usize> {
    let current = finished.and_then(|t| works.work_of_track.get(t).copied());
    if let (Some(finished), Some(work)) = (finished, current) {
        let movements = &works.works[work].tracks;
        let after = movements.iter().position(|&t| t == finished).map_or(0, |at| at + 1);
        if let Some(&next) = movements[after..].iter().find(|&&t| !played(t)) {
            return Some(next);
        }
    }
    ranked.iter().filter_map(|&t| works.work_of_track.get(t).copied()).find_map(|work| {
        let movements = &works.works[work].tracks;
        let same_piece = current.is_some_and(|c| works.works[c].work_key == works.works[work].work_key);
        (!same_piece && !movements.iter().any(|&t| played(t))).then(|| movements.first().copied()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::works::{Work, WorkSource};

    /// Works over tracks 0..n from lists of track indices (each in movement order).
    fn works(groups: &[&[usize]]) -> Works {
        let n = groups.iter().map(|g| g.len()).sum();
        let mut work_of_track = vec![0; n];
        let works = groups
            .iter()
            .enumerate()
            .map(|(w, tracks)| {
                for &t in *tracks {
                    work_of_track[t] = w;
                }
                Work {
                    id: format!("w{w}"),
                    work_key: format!("w{w}"),
                    title: format!("Work {w}"),
                    composer: None,
                    catalogue: None,
                    source: WorkSource::AlbumWork,
                    tracks: tracks.to_vec(),
                }
            })
            .collect();
        Works { works, work_of_track, movement_of_track: vec![None; n] }
    }

    #[test]
    fn a_ranking_becomes_whole_works_in_movement_order() {
        // Work 0 is tracks 2, 0, 4 in movement order; work 1 is 1, 3; work 2 is 5.
        let works = works(&[&[2, 0, 4], &[1, 3], &[5]]);
        // Ranked: a middle movement of work 1, then work 0's last, then work 1 again, then work 2.
        assert_eq!(keep_works_whole(&[3, 4, 1, 5], &works, false), vec![1, 3, 2, 0, 4, 5]);
        assert_eq!(keep_works_whole(&[3, 4, 1, 5, 3, 99], &works, true), vec![3, 4, 1, 5]);
        assert!(keep_works_whole(&[], &works, false).is_empty());
    }

    #[test]
    fn radio_finishes_the_work_before_moving_on() {
        let works = works(&[&[2, 0, 4], &[1, 3], &[5], &[6]]);
        let played = |set: &'static [usize]| move |t: usize| set.contains(&t);
        // Movement 2 of work 0 (track 0) ended: movement 3 (track 4) is next, whatever the ranking.
        assert_eq!(next_for_radio(&works, Some(0), &[3, 5], &played(&[2, 0])), Some(4));
        // The work is done: the best-ranked other work, from its first movement (track 1, not the ranked 3).
        assert_eq!(next_for_radio(&works, Some(4), &[0, 3, 5], &played(&[2, 0, 4])), Some(1));
        // A work already heard in part is skipped.
        assert_eq!(next_for_radio(&works, Some(4), &[3, 5], &played(&[2, 0, 4, 3])), Some(5));
        // A movement the listener already heard is not repeated.
        assert_eq!(next_for_radio(&works, Some(2), &[5], &played(&[2, 0])), Some(4));
        // Nothing left.
        assert_eq!(next_for_radio(&works, Some(6), &[6], &played(&[6])), None);
        assert_eq!(next_for_radio(&works, None, &[6, 5], &played(&[])), Some(6));
    }

    #[test]
    fn radio_never_plays_another_recording_of_the_piece_just_heard() {
        let mut works = works(&[&[0], &[1], &[2]]);
        // Work 1 is another recording of work 0 (as the audio search links them).
        works.works[1].work_key = works.works[0].work_key.clone();
        let played = |t: usize| t == 0;
        assert_eq!(next_for_radio(&works, Some(0), &[1, 2], &played), Some(2));
        assert_eq!(next_for_radio(&works, Some(0), &[1], &played), None);
    }

    fn entry(path: &str, title: &str) -> PlaylistEntry {
        PlaylistEntry { path: path.into(), title: title.into(), creator: Some("Bach".into()), album: None, duration_s: Some(61.4) }
    }

    #[test]
    fn m3u_has_one_line_per_field() {
        let text =
            m3u(&[entry("/m/a b.flac", "Air\non a string"), PlaylistEntry { duration_s: None, creator: None, ..entry("/m/c.ogg", "C") }]);
        assert_eq!(text, "#EXTM3U\n#EXTINF:61,Bach - Air on a string\n/m/a b.flac\n#EXTINF:-1,C\n/m/c.ogg\n");
    }

    #[test]
    fn xspf_escapes_text_and_encodes_locations() {
        let text = xspf(&[entry("/m/Bach & Sons/#1 <Air>.flac", "Air <\"1\"> & 'Gigue'")]);
        assert!(text.contains("<location>file:///m/Bach%20%26%20Sons/%231%20%3CAir%3E.flac</location>"), "{text}");
        assert!(text.contains("<title>Air &lt;&quot;1&quot;&gt; &amp; &apos;Gigue&apos;</title>"), "{text}");
        assert!(text.contains("<duration>61400</duration>") && text.contains("<creator>Bach</creator>"), "{text}");
        assert_eq!(PlaylistFormat::for_path(Path::new("x.XSPF")), PlaylistFormat::Xspf);
        assert_eq!(PlaylistFormat::for_path(Path::new("x.m3u8")), PlaylistFormat::M3u);
    }
}

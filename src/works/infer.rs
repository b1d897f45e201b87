//! The inference rules of [`super`], applied album by album.
//!
//! An album is the tracks with the same album tag and album artist (else the
//! same folder), in (disc, track number, path) order. Rules assign tracks in
//! turn, each only the tracks no earlier rule took; the album rule may then
//! take the whole album (tags excepted) or, where some titles name the
//! album's work themselves, the tracks whose titles name nothing else. Tracks
//! of one album with the same work key end up in one [`Work`], unless a
//! movement number comes again: that starts another recording of the work
//! (two performances on one album), with the same key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::catalogue::{self, Catalogue};
use super::title::{clean_title, leading_movement_number, normalise, separator_splits, shared_prefix};
use super::{Work, WorkSource, Works, stable_id};
use crate::storage::catalog::Track;

/// One track's work as a rule found it.
#[derive(Debug, Clone)]
struct Assignment {
    /// What makes two tracks the same work (catalogue number, tag or normalised title), without the composer.
    key: String,
    title: String,
    catalogue: Option<Catalogue>,
    source: WorkSource,
}

impl Assignment {
    fn new(title: &str, catalogue: Option<Catalogue>, source: WorkSource) -> Self {
        let key = match &catalogue {
            Some(c) => format!("catalogue {}", c.normalised()),
            None => normalise(title),
        };
        Self { key, title: title.to_string(), catalogue, source }
    }
}

/// A work being built: one album's tracks with one key.
struct Draft {
    album_key: String,
    assignment: Assignment,
    tracks: Vec<usize>,
}

/// Infers every track's work.
pub(super) fn infer(tracks: &[Track]) -> Works {
    let mut albums: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, track) in tracks.iter().enumerate() {
        albums.entry(album_key(track)).or_default().push(index);
    }
    let mut movement_of_track: Vec<Option<u32>> = vec![None; tracks.len()];
    let mut drafts: Vec<Draft> = Vec::new();
    for (album_key, mut members) in albums {
        members.sort_by(|&a, &b| position(&tracks[a]).cmp(&position(&tracks[b])));
        let assignments = infer_album(tracks, &members, &mut movement_of_track);
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (&track, assignment) in members.iter().zip(assignments) {
            // Loose tracks titled alike are still two works.
            let group = if assignment.source == WorkSource::Single { format!("single {track}") } else { assignment.key.clone() };
            // A movement the work already has starts another recording of it (two performances on one album).
            let repeats = |draft: &Draft| {
                movement_of_track[track].is_some() && draft.tracks.iter().any(|&t| movement_of_track[t] == movement_of_track[track])
            };
            match by_key.get(&group).filter(|&&draft| !repeats(&drafts[draft])) {
                Some(&draft) => {
                    let work = &mut drafts[draft].assignment;
                    // Pieces of one catalogue number titled differently (a cantata's chorales): the number names the work.
                    if work.title != assignment.title
                        && let Some(catalogue) = &work.catalogue
                    {
                        work.title = catalogue.normalised();
                    }
                    drafts[draft].tracks.push(track);
                }
                None => {
                    by_key.insert(group, drafts.len());
                    drafts.push(Draft { album_key: album_key.clone(), assignment, tracks: vec![track] });
                }
            }
        }
    }
    finish(tracks, drafts, movement_of_track)
}

/// The rules for one album's tracks (in album order): one assignment per track.
fn infer_album(tracks: &[Track], members: &[usize], movement_of_track: &mut [Option<u32>]) -> Vec<Assignment> {
    let titles: Vec<String> = members
        .iter()
        .map(|&i| {
            let track = &tracks[i];
            clean_title(&track.display_title(), track.tags.track_no, track.tags.composer.as_deref()).to_string()
        })
        .collect();
    let mut assigned: Vec<Option<Assignment>> = vec![None; members.len()];
    let mut movements: Vec<Option<u32>> = vec![None; members.len()];

    // 1. tag
    for (k, &i) in members.iter().enumerate() {
        let tags = &tracks[i].tags;
        let work = tags.work.as_deref().filter(|w| !w.trim().is_empty());
        let work_id = tags.musicbrainz_work_id.as_deref().filter(|w| !w.trim().is_empty());
        if work.is_none() && work_id.is_none() {
            continue;
        }
        let title =
            work.map(str::to_string).unwrap_or_else(|| separator_splits(&titles[k]).first().map_or(titles[k].clone(), |s| s.0.to_string()));
        let mut assignment = Assignment::new(&title, work.and_then(catalogue::find), WorkSource::Tag);
        if let (None, Some(id)) = (work, work_id) {
            assignment.key = format!("musicbrainz {id}");
        }
        movements[k] = tags.movement.as_deref().and_then(leading_movement_number);
        assigned[k] = Some(assignment);
    }

    // 2. title_separator: the shortest prefix another track of the album shares; alone, one followed by a movement number or carrying a catalogue number.
    let splits: Vec<Vec<(&str, &str)>> = titles.iter().map(|t| separator_splits(t)).collect();
    let mut sharing: HashMap<String, usize> = HashMap::new();
    for (k, track_splits) in splits.iter().enumerate() {
        if assigned[k].is_none() {
            let mut prefixes: Vec<String> = track_splits.iter().map(|(work, _)| normalise(work)).collect();
            prefixes.dedup();
            for prefix in prefixes {
                *sharing.entry(prefix).or_default() += 1;
            }
        }
    }
    for (k, track_splits) in splits.iter().enumerate() {
        if assigned[k].is_some() {
            continue;
        }
        let shared = |work: &str| sharing.get(&normalise(work)).is_some_and(|&n| n >= 2);
        let first_shared = track_splits.iter().find(|(work, _)| shared(work)).copied();
        // A set's title before its piece's ("6 Quartets, Op. 76: No. 2 in D minor - I. Allegro"): the
        // longest prefix shared is the work, and the number after the set's title is its piece.
        let set_piece = first_shared.filter(|(set, _)| names_collection(set)).and_then(|(set, rest)| {
            let deeper = track_splits.iter().rev().find(|(work, _)| shared(work) && work.len() > set.len())?;
            Some((*deeper, leading_movement_number(rest)))
        });
        let chosen = set_piece
            .map(|(split, _)| split)
            .or(first_shared)
            .or_else(|| track_splits.iter().find(|(_, movement)| leading_movement_number(movement).is_some()).copied())
            .or_else(|| track_splits.iter().find(|(work, _)| catalogue::find(work).is_some()).copied());
        if let Some((work, movement)) = chosen {
            let mut found = catalogue::find(work);
            if let (Some(found), Some((_, Some(piece)))) = (found.as_mut(), set_piece)
                && found.piece.is_none()
            {
                found.piece = Some(piece.to_string());
            }
            movements[k] = leading_movement_number(movement).or(found.as_ref().and_then(|c| c.movement));
            assigned[k] = Some(Assignment::new(work, found, WorkSource::TitleSeparator));
        }
    }

    // 3. catalogue_number: the title up to its catalogue number names the work.
    for (k, title) in titles.iter().enumerate() {
        if assigned[k].is_some() {
            continue;
        }
        if let Some(found) = catalogue::find(title) {
            let head = title[..found.span.start].trim_end_matches([' ', ',', '(', '[', '-', ':', '–']);
            let work = if head.is_empty() { found.normalised() } else { format!("{head} {}", found.normalised()) };
            movements[k] =
                found.movement.or_else(|| leading_movement_number(title[found.span.end..].trim_start_matches([':', ',', '-', ' ', ')'])));
            assigned[k] = Some(Assignment::new(&work, Some(found), WorkSource::CatalogueNumber));
        }
    }

    // 4. shared_prefix: runs of consecutive tracks whose titles begin alike.
    let mut k = 0;
    while k + 1 < members.len() {
        let run_prefix = (assigned[k].is_none() && assigned[k + 1].is_none()).then(|| shared_prefix(&titles[k], &titles[k + 1])).flatten();
        let Some(prefix) = run_prefix else {
            k += 1;
            continue;
        };
        let prefix = prefix.to_string();
        let mut end = k + 2;
        while end < members.len()
            && assigned[end].is_none()
            && shared_prefix(&titles[k], &titles[end]).is_some_and(|p| normalise(p) == normalise(&prefix))
        {
            end += 1;
        }
        for j in k..end {
            movements[j] = leading_movement_number(titles[j][prefix.len().min(titles[j].len())..].trim_start_matches([' ', ',', ':', '-']));
            assigned[j] = Some(Assignment::new(&prefix, None, WorkSource::SharedPrefix));
        }
        k = end;
    }

    // 5. album_work (unless the rules above already made the album one work)
    let mut keys = assigned.iter().map(|a| a.as_ref().filter(|a| a.source != WorkSource::Tag).map(|a| &a.key));
    let first_key = keys.next().flatten();
    let one_work_already = first_key.is_some() && keys.all(|k| k == first_key);
    if !one_work_already && let Some(album) = album_as_work(tracks, members, &assigned) {
        // Where titles name the album's work themselves, a track whose title does not is another piece (a mass, then a motet).
        let named_in_titles = assigned.iter().flatten().any(|a| a.source != WorkSource::Tag && a.key == album.key);
        for k in 0..members.len() {
            if assigned[k].as_ref().is_some_and(|a| a.source == WorkSource::Tag) || (named_in_titles && assigned[k].is_none()) {
                continue;
            }
            // A set's pieces are its movements ("Op. 1 No. 3" of "Op. 1").
            let piece = assigned[k].as_ref().and_then(|a| a.catalogue.as_ref()).and_then(|c| c.piece.as_deref()?.parse().ok());
            movements[k] = movements[k].or(piece).or_else(|| leading_movement_number(&titles[k]));
            assigned[k] = Some(album.clone());
        }
    }

    // 6. single
    for (k, &i) in members.iter().enumerate() {
        movement_of_track[i] = tracks[i].tags.movement_number.or(movements[k]);
    }
    assigned
        .into_iter()
        .zip(&titles)
        .map(|(assignment, title)| assignment.unwrap_or_else(|| Assignment::new(title, None, WorkSource::Single)))
        .collect()
}

/// Singular names of one work: an album titled with one (and no plural) is one work.
const WORK_WORDS: &[&str] = &[
    "missa",
    "mass",
    "messe",
    "requiem",
    "magnificat",
    "vespers",
    "vespro",
    "vesperae",
    "passion",
    "passio",
    "oratorio",
    "oratorium",
    "stabat",
    "deum",
    "cantata",
    "kantate",
    "symphony",
    "symphonie",
    "sinfonie",
    "sinfonia",
    "concerto",
    "konzert",
    "sonata",
    "sonate",
    "quartet",
    "quartett",
    "quintet",
    "quintett",
    "trio",
    "suite",
    "partita",
    "variations",
    "variationen",
    "variazioni",
    "variaciones",
    "liederkreis",
    "cycle",
    "zyklus",
    "opera",
    "oper",
];

/// Words for a book of pieces ("Il quinto libro de madrigali", "Madrigals, Book 4"): always one work.
const BOOK_WORDS: &[&str] = &["libro", "book", "buch", "livre"];

/// Plural genre words: an album titled with one is a collection, not a work.
const COLLECTION_WORDS: &[&str] = &[
    "sonatas",
    "sonaten",
    "quartets",
    "quartette",
    "trios",
    "concertos",
    "concerti",
    "symphonies",
    "sinfonien",
    "masses",
    "cantatas",
    "kantaten",
    "songs",
    "lieder",
    "madrigals",
    "madrigali",
    "motets",
    "chorales",
    "choräle",
    "arias",
    "pieces",
    "works",
    "suites",
    "partitas",
    "preludes",
    "etudes",
    "études",
    "nocturnes",
    "waltzes",
    "walzer",
    "mazurkas",
    "polonaises",
    "rags",
    "dances",
    "overtures",
    "hits",
    "highlights",
    "collection",
    "anthology",
    "best",
];

/// The album as one work, when it is one: its title names a work (a mass, a
/// book of madrigals, a set of variations) and no track belongs to another
/// named or numbered work; or its title carries a catalogue number that no
/// track contradicts, or whose pieces are one track each (a set: "Quatre
/// Polonaises, Op. 1"). Every track must have the same composer (or none).
fn album_as_work(tracks: &[Track], members: &[usize], assigned: &[Option<Assignment>]) -> Option<Assignment> {
    let album = tracks[members[0]].tags.album.as_deref()?.trim();
    let mut composers = members.iter().filter_map(|&i| tracks[i].tags.composer.as_deref().map(normalise));
    let first_composer = composers.next();
    if album.is_empty() || composers.any(|c| Some(&c) != first_composer.as_ref()) {
        return None;
    }
    let album_catalogue = catalogue::find(album);
    let album_key = normalise(album);
    let words: Vec<String> = album_key.split(' ').map(str::to_string).collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let names_a_work = has(BOOK_WORDS) || (has(WORK_WORDS) && !has(COLLECTION_WORDS));
    let untagged: Vec<(usize, &Assignment)> =
        assigned.iter().enumerate().filter_map(|(k, a)| a.as_ref().map(|a| (k, a))).filter(|(_, a)| a.source != WorkSource::Tag).collect();
    let same_catalogue = |c: &Catalogue| album_catalogue.as_ref().is_some_and(|a| a.normalised() == c.normalised());
    let contradicting = |a: &Assignment| match &a.catalogue {
        Some(c) => !same_catalogue(c),
        None => normalise(&a.title) != album_key && names_work(&a.title),
    };
    let named = names_a_work && untagged.iter().all(|(_, a)| !contradicting(a));
    let numbered = album_catalogue.as_ref().is_some_and(|set| {
        let mut pieces: HashMap<String, usize> = HashMap::new();
        for (_, a) in &untagged {
            if let Some(c) = &a.catalogue
                && set.piece.is_none()
                && c.set() == set.normalised()
                && a.source == WorkSource::CatalogueNumber
            {
                *pieces.entry(c.normalised()).or_default() += 1;
            }
        }
        untagged.iter().all(|(_, a)| match &a.catalogue {
            Some(c) => same_catalogue(c) || pieces.get(&c.normalised()) == Some(&1),
            None => !(normalise(&a.title) != album_key && names_work(&a.title)),
        })
    });
    (named || numbered).then(|| Assignment::new(album, album_catalogue, WorkSource::AlbumWork))
}

/// Whether a title names a collection by a plural genre word ("6 Quartets, Op. 76", "Nocturnes").
fn names_collection(title: &str) -> bool {
    normalise(title).split(' ').any(|w| COLLECTION_WORDS.contains(&w))
}

/// Whether a title names a work by a genre word ("Symphony No. 5", "Missa brevis").
fn names_work(title: &str) -> bool {
    normalise(title).split(' ').any(|w| WORK_WORDS.contains(&w) || BOOK_WORDS.contains(&w))
}

/// A track's place on its album: disc, track number, then path.
fn position(track: &Track) -> (u32, u32, &Path) {
    (track.tags.disc.unwrap_or(1), track.tags.track_no.unwrap_or(u32::MAX), track.path.as_path())
}

/// The album a track belongs to: its album tag and album artist, else its folder.
fn album_key(track: &Track) -> String {
    match track.tags.album.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(album) => format!("album {}\u{1f}{}", normalise(album), normalise(track.tags.album_artist.as_deref().unwrap_or_default())),
        None => format!("folder {}", track.path.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()),
    }
}

/// Orders each draft's tracks by movement, gives it its ids and builds the lookup tables.
fn finish(tracks: &[Track], drafts: Vec<Draft>, movement_of_track: Vec<Option<u32>>) -> Works {
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let works = drafts
        .into_iter()
        .map(|draft| {
            let mut members = draft.tracks;
            let all_numbered = members.iter().all(|&t| movement_of_track[t].is_some());
            members.sort_by(|&a, &b| {
                let by_movement = if all_numbered { movement_of_track[a].cmp(&movement_of_track[b]) } else { std::cmp::Ordering::Equal };
                by_movement.then_with(|| position(&tracks[a]).cmp(&position(&tracks[b])))
            });
            let composer = members.iter().find_map(|&t| tracks[t].tags.composer.clone());
            let composer_key = composer.as_deref().or(tracks[members[0]].tags.album_artist.as_deref()).map(normalise).unwrap_or_default();
            let work_key = stable_id(&[&composer_key, &draft.assignment.key]);
            let mut id = stable_id(&[&work_key, &draft.album_key]);
            let count = seen_ids.entry(id.clone()).or_default();
            *count += 1;
            if *count > 1 {
                // Two works of one album with one key (two loose tracks titled alike): the first track tells them apart.
                id = stable_id(&[&id, &tracks[members[0]].path.to_string_lossy()]);
            }
            Work {
                id,
                work_key,
                title: draft.assignment.title,
                composer,
                catalogue: draft.assignment.catalogue.map(|c| c.normalised()),
                source: draft.assignment.source,
                tracks: members,
            }
        })
        .collect();
    Works::from_works(works, movement_of_track)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::catalog::TrackTags;

    /// One album's tracks as a CD rip tags them: title, album, composer, track number in order.
    fn album(album: &str, composer: &str, titles: &[&str]) -> Vec<Track> {
        titles
            .iter()
            .enumerate()
            .map(|(i, title)| Track {
                id: i as i64,
                path: format!("/music/{composer}/{album}/{:02} {}.flac", i + 1, title.replace('/', "_")).into(),
                tags: TrackTags {
                    title: Some(title.to_string()),
                    album: Some(album.to_string()),
                    album_artist: Some(composer.to_string()),
                    composer: Some(composer.to_string()),
                    track_no: Some(i as u32 + 1),
                    ..TrackTags::default()
                },
                duration_s: None,
                descriptors: None,
            })
            .collect()
    }

    /// Each work as (title, source, track indices), in the order of their first track.
    fn summary(works: &Works) -> Vec<(String, &'static str, Vec<usize>)> {
        let mut out: Vec<_> = works.works.iter().map(|w| (w.title.clone(), w.source.name(), w.tracks.clone())).collect();
        out.sort_by_key(|(_, _, tracks)| tracks.iter().min().copied());
        out
    }

    #[test]
    fn a_separator_with_movement_numbers_splits_work_from_movement() {
        let tracks = album(
            "Symphonies 5 & 7",
            "Ludwig van Beethoven",
            &[
                "Symphony No. 5 in C minor, Op. 67: I. Allegro con brio",
                "Symphony No. 5 in C minor, Op. 67: II. Andante con moto",
                "Symphony No. 5 in C minor, Op. 67: III. Allegro",
                "Symphony No. 5 in C minor, Op. 67: IV. Allegro",
                "Symphony No. 7 in A major, Op. 92: I. Poco sostenuto - Vivace",
                "Symphony No. 7 in A major, Op. 92: II. Allegretto",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(
            summary(&works),
            vec![
                ("Symphony No. 5 in C minor, Op. 67".to_string(), "title_separator", vec![0, 1, 2, 3]),
                ("Symphony No. 7 in A major, Op. 92".to_string(), "title_separator", vec![4, 5]),
            ]
        );
        assert_eq!(works.work_of(0).catalogue.as_deref(), Some("Op. 67"));
        assert_eq!(works.movement_of_track, vec![Some(1), Some(2), Some(3), Some(4), Some(1), Some(2)]);
    }

    #[test]
    fn recordings_found_from_the_audio_join_the_work_most_of_them_carry() {
        let quartet =
            ["String Quartet in F major, Op. 18 No. 1 - 1. Allegro con brio", "String Quartet in F major, Op. 18 No. 1 - 2. Adagio"];
        let mut tracks = album("Op. 18 (1999)", "Ludwig van Beethoven", &quartet);
        tracks.extend(album("Op. 18 (2010)", "Ludwig van Beethoven", &quartet));
        // A badly tagged recording of the slow movement, and an unrelated piece.
        tracks.extend(album("Favourites", "", &["Track 03", "Track 04"]));
        let mut works = Works::infer(&tracks, &[]);
        let key = |works: &Works, t: usize| works.work_of(t).work_key.clone();
        assert_eq!(key(&works, 0), key(&works, 2));
        assert_ne!(key(&works, 0), key(&works, 5));
        let before = works.clone();
        works.link_recordings([]);
        assert_eq!(works, before, "nothing found, nothing changes");

        works.link_recordings([(5, 1)]);
        assert_eq!(key(&works, 5), key(&works, 0), "joined the work both tagged recordings carry");
        assert_eq!(works.work_of(5).source, WorkSource::Audio);
        assert_eq!(works.work_of(5).id, before.work_of(5).id, "ids stay, for the user's corrections");
        assert_eq!(works.work_of(0).source, WorkSource::TitleSeparator, "the tagged recordings keep their source");
        assert_ne!(key(&works, 4), key(&works, 0));
        assert_eq!(works.work_of_track, before.work_of_track, "no track changes work");
    }

    #[test]
    fn a_link_never_spreads_through_a_weak_shared_key() {
        // Two albums of loose tracks whose titles say nothing: "Track 04" shares one key across them.
        let mut tracks = album("Mix A", "", &["Track 04"]);
        tracks.extend(album("Mix B", "", &["Track 04"]));
        tracks.extend(album("Quartets", "Ludwig van Beethoven", &["String Quartet Op. 18 No. 1 - 2. Adagio"]));
        let mut works = Works::infer(&tracks, &[]);
        let key = |works: &Works, t: usize| works.work_of(t).work_key.clone();
        assert_eq!(key(&works, 0), key(&works, 1), "the weak key is shared");
        works.link_recordings([(0, 2)]);
        assert_eq!(key(&works, 0), key(&works, 2));
        assert_ne!(key(&works, 1), key(&works, 2), "the other Track 04 stays out");
    }

    #[test]
    fn movements_play_in_movement_order_whatever_the_track_numbers() {
        let mut tracks = album("Quartets", "Joseph Haydn", &["Quartet Op. 76 No. 3 - 2. Poco adagio", "Quartet Op. 76 No. 3 - 1. Allegro"]);
        tracks[0].tags.track_no = Some(1);
        tracks[1].tags.track_no = Some(2);
        let works = Works::infer(&tracks, &[]);
        assert_eq!(works.works.len(), 1);
        assert_eq!(works.works[0].tracks, vec![1, 0]);
    }

    #[test]
    fn opus_numbers_with_different_pieces_are_different_works() {
        let tracks = album(
            "String Quartets, Op. 18",
            "Ludwig van Beethoven",
            &[
                "String Quartet No. 1 in F major, Op. 18 No. 1 - 1. Allegro con brio",
                "String Quartet No. 1 in F major, Op. 18 No. 1 - 2. Adagio affettuoso ed appassionato",
                "String Quartet No. 2 in G major, Op. 18 No. 2 - 1. Allegro",
                "String Quartet No. 2 in G major, Op. 18 No. 2 - 2. Adagio cantabile",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        let catalogues: Vec<_> = works.works.iter().map(|w| w.catalogue.clone().unwrap_or_default()).collect();
        assert_eq!(catalogues, vec!["Op. 18 No. 1", "Op. 18 No. 2"]);
        assert_eq!(works.movement_of_track, vec![Some(1), Some(2), Some(1), Some(2)]);
    }

    #[test]
    fn variations_with_a_catalogue_number_are_one_work() {
        let tracks = album(
            "Goldberg-Variationen",
            "Johann Sebastian Bach",
            &[
                "Goldberg-Variationen, BWV 988 - Aria",
                "Goldberg-Variationen, BWV 988 - Variatio 1. a 1 Clav.",
                "Goldberg-Variationen, BWV 988 - Variatio 2. a 1 Clav.",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(summary(&works), vec![("Goldberg-Variationen, BWV 988".to_string(), "title_separator", vec![0, 1, 2])]);
    }

    #[test]
    fn a_cantatas_numbered_movements_keep_their_own_colons() {
        let tracks = album(
            "Cantatas",
            "Johann Sebastian Bach",
            &[
                "Cantata BWV 153 - 1. Chorus: Schau, lieber Gott",
                "Cantata BWV 153 - 2. Recitativo: Mein liebster Gott",
                "Cantata BWV 4 - 1. Sinfonia",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(
            summary(&works),
            vec![("Cantata BWV 153".to_string(), "title_separator", vec![0, 1]), ("Cantata BWV 4".to_string(), "title_separator", vec![2])]
        );
        assert_eq!(works.movement_of_track, vec![Some(1), Some(2), Some(1)]);
    }

    #[test]
    fn catalogue_numbers_group_movements_written_as_suffixes() {
        let tracks = album(
            "Chorales, Vol. 2",
            "Johann Sebastian Bach",
            &[
                "Schau, lieber Gott, wie meine Feind (BWV 153.1)",
                "Ach Gott, vom Himmel sieh darein (BWV 2.6)",
                "Und ob gleich alle Teufel (BWV 153.9)",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(works.works.len(), 2);
        assert_eq!(works.work_of(0).id, works.work_of(2).id);
        assert_eq!(works.work_of(0).source, WorkSource::CatalogueNumber);
        assert_eq!(works.work_of(0).catalogue.as_deref(), Some("BWV 153"));
        assert_eq!(works.movement_of_track, vec![Some(1), Some(6), Some(9)]);
    }

    #[test]
    fn a_mass_is_one_work_by_separator_or_by_its_album() {
        let sections = ["Kyrie", "Gloria", "Credo", "Sanctus", "Agnus Dei"];
        let titled: Vec<String> = sections.iter().map(|s| format!("Missa Papae Marcelli: {s}")).collect();
        let titled =
            Works::infer(&album("Missa Papae Marcelli", "Palestrina", &titled.iter().map(String::as_str).collect::<Vec<_>>()), &[]);
        assert_eq!(summary(&titled), vec![("Missa Papae Marcelli".to_string(), "title_separator", vec![0, 1, 2, 3, 4])]);
        let bare = Works::infer(&album("Missa Papae Marcelli", "Palestrina", &sections), &[]);
        assert_eq!(summary(&bare), vec![("Missa Papae Marcelli".to_string(), "album_work", vec![0, 1, 2, 3, 4])]);
    }

    #[test]
    fn a_book_of_madrigals_is_one_work_and_a_compilation_is_not() {
        let madrigals = ["Sfogava con le stelle", "Cruda Amarilli", "Ah, dolente partita", "Anima mia, perdona"];
        let book = Works::infer(&album("Il quarto libro de madrigali", "Claudio Monteverdi", &madrigals), &[]);
        assert_eq!(summary(&book), vec![("Il quarto libro de madrigali".to_string(), "album_work", vec![0, 1, 2, 3])]);
        let collection = Works::infer(&album("Madrigals", "Claudio Monteverdi", &madrigals), &[]);
        assert!(collection.works.iter().all(|w| w.source == WorkSource::Single && w.tracks.len() == 1));
        let mut loose =
            album("Classical Favourites", "Various", &["Clair de lune", "Für Elise", "Gymnopédie No. 1", "The Swan", "Gymnopédie No. 3"]);
        for (track, composer) in loose.iter_mut().zip(["Debussy", "Beethoven", "Satie", "Saint-Saëns", "Satie"]) {
            track.tags.composer = Some(composer.to_string());
        }
        let loose = Works::infer(&loose, &[]);
        assert_eq!(loose.works.len(), 5);
        assert!(loose.works.iter().all(|w| w.source == WorkSource::Single));
    }

    #[test]
    fn a_set_of_pieces_under_the_albums_opus_number_is_one_work() {
        let tracks = album(
            "12 Études, Op. 10",
            "Frédéric Chopin",
            &["Étude in C major, Op. 10 No. 1", "Étude in A minor, Op. 10 No. 2", "Étude in E major, Op. 10 No. 3"],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(summary(&works), vec![("12 Études, Op. 10".to_string(), "album_work", vec![0, 1, 2])]);
        assert_eq!(works.movement_of_track, vec![Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn consecutive_titles_with_a_long_common_beginning_are_one_work() {
        let tracks = album(
            "Piano Music",
            "Robert Schumann",
            &[
                "Kinderszenen 1 Von fremden Ländern und Menschen",
                "Kinderszenen 2 Kuriose Geschichte",
                "Kinderszenen 3 Hasche-Mann",
                "Arabeske in C major",
                "Blumenstück in D-flat major",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(summary(&works)[0], ("Kinderszenen".to_string(), "shared_prefix", vec![0, 1, 2]));
        assert_eq!(works.works.len(), 3);
        assert_eq!(&works.movement_of_track[..3], &[Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn opera_excerpts_group_by_opera_and_loose_arias_stay_alone() {
        let tracks = album(
            "Opera Arias",
            "Giuseppe Verdi",
            &[
                "Rigoletto: Questa o quella",
                "Rigoletto: La donna è mobile",
                "La traviata: Libiamo ne' lieti calici",
                "Nabucco: Va, pensiero",
            ],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(summary(&works)[0], ("Rigoletto".to_string(), "title_separator", vec![0, 1]));
        assert_eq!(works.works.len(), 3);
    }

    #[test]
    fn a_composer_before_the_title_is_not_a_work() {
        let tracks = album(
            "Beethoven",
            "Ludwig van Beethoven",
            &["Beethoven: Für Elise", "Beethoven: Symphony No. 5: I. Allegro con brio", "Beethoven: Symphony No. 5: II. Andante con moto"],
        );
        let works = Works::infer(&tracks, &[]);
        assert_eq!(summary(&works)[1], ("Symphony No. 5".to_string(), "title_separator", vec![1, 2]));
        assert_eq!(works.work_of(0).source, WorkSource::Single);
    }

    #[test]
    fn tags_win_and_give_the_movement() {
        let mut tracks = album("Sonatas", "Mozart", &["Allegro", "Andante", "Rondo"]);
        for track in &mut tracks[..2] {
            track.tags.work = Some("Piano Sonata No. 11, K. 331".to_string());
        }
        tracks[0].tags.movement_number = Some(1);
        tracks[1].tags.movement = Some("II. Andante".to_string());
        let works = Works::infer(&tracks, &[]);
        assert_eq!(summary(&works)[0], ("Piano Sonata No. 11, K. 331".to_string(), "tag", vec![0, 1]));
        assert_eq!(works.work_of(0).catalogue.as_deref(), Some("K. 331"));
        assert_eq!(&works.movement_of_track[..2], &[Some(1), Some(2)]);
    }

    #[test]
    fn ids_are_stable_and_recordings_share_the_work_key() {
        let first = album(
            "Symphonies",
            "Ludwig van Beethoven",
            &["Symphony No. 5, Op. 67: I. Allegro con brio", "Symphony No. 5, Op. 67: II. Andante"],
        );
        let second = album(
            "Live in Vienna",
            "Ludwig van Beethoven",
            &["Symphony No. 5 in C minor, Op. 67 - 1. Allegro", "Symphony No. 5 in C minor, Op. 67 - 2. Andante"],
        );
        let both: Vec<Track> = first.iter().chain(&second).cloned().collect();
        let works = Works::infer(&both, &[]);
        assert_eq!(works.works.len(), 2);
        assert_eq!(works.work_of(0).work_key, works.work_of(2).work_key);
        assert_ne!(works.work_of(0).id, works.work_of(2).id);
        let reversed: Vec<Track> = both.iter().rev().cloned().collect();
        let again = Works::infer(&reversed, &[]);
        assert_eq!(again.work_of(3).id, works.work_of(0).id);
        assert_eq!(again.work_of(0).id, works.work_of(3).id);
    }
}

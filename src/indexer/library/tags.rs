//! Classical tags as MusicBrainz Picard, mutagen and iTunes write them, read
//! from each container's own tag.
//!
//! lofty's generic [`Tag`] keeps only what it has an [`ItemKey`] for, so it
//! drops ID3v2 `TMCL` and involved-people (`IPLS`/`TIPL`) performers, APE
//! `Work`, MP4 freeform `ARRANGER`/`PERFORMER`, `ENSEMBLE`/`ORCHESTRA` in
//! every container and every item it does not know. Here each container's
//! items become [`RawItem`]s named as the container names them; lofty's key
//! maps say what an item means where they know it, Picard's Vorbis names
//! (`WORK`, `MOVEMENTNAME`, …) where they do not (free-form keys: Vorbis,
//! APE, ID3v2 `TXXX`, MP4 `----`), and what means nothing to Strata lands in
//! [`TrackTags::other`]. Formats read without a container-specific reader
//! fall back to the generic tag's items.

use std::io::{Read, Seek};

use lofty::ape::ApeTag;
use lofty::config::ParseOptions;
use lofty::error::FileParseError;
use lofty::file::{AudioFile, FileType, TaggedFile};
use lofty::id3::v2::{Frame, Id3v2Tag};
use lofty::mp4::{AtomData, AtomIdent, Ilst};
use lofty::ogg::tag::VorbisComments;
use lofty::probe::Probe;
use lofty::tag::{ItemKey, ItemValue, Tag, TagType};

use crate::storage::catalog::TrackTags;

/// What a tag item means to Strata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// Read through lofty's generic accessors into the basic fields (title, artist, album, …).
    Basic,
    Composer,
    Work,
    Movement,
    /// A number, or "number/total" (ID3v2 `MVIN`).
    MovementNumber,
    MovementTotal,
    Conductor,
    Performer,
    Arranger,
    Ensemble,
    MusicBrainzWorkId,
    /// ID3v2 `TIT1`, Vorbis `GROUPING`, MP4 `©grp`.
    Grouping,
    /// iTunes' ID3v2 `GRP1`: Picard writes grouping there, and the work to
    /// `TIT1`, when its "iTunes compatible grouping" option is on.
    AppleGrouping,
    Subtitle,
    DiscSubtitle,
}

/// Picard's names for what lofty's key maps miss in free-form keys; they
/// are Picard's Vorbis comment names, which its APE, `TXXX` and MP4 `----`
/// keys spell the same up to case.
const PICARD_NAMES: &[(&str, Meaning)] = &[
    ("COMPOSER", Meaning::Composer),
    ("WORK", Meaning::Work),
    ("MOVEMENTNAME", Meaning::Movement),
    ("MOVEMENT", Meaning::MovementNumber),
    ("MOVEMENTTOTAL", Meaning::MovementTotal),
    ("CONDUCTOR", Meaning::Conductor),
    ("PERFORMER", Meaning::Performer),
    ("ARRANGER", Meaning::Arranger),
    ("ENSEMBLE", Meaning::Ensemble),
    ("ORCHESTRA", Meaning::Ensemble),
    ("MUSICBRAINZ_WORKID", Meaning::MusicBrainzWorkId),
    ("MusicBrainz Work Id", Meaning::MusicBrainzWorkId),
    ("GROUPING", Meaning::Grouping),
    ("SUBTITLE", Meaning::Subtitle),
    ("DISCSUBTITLE", Meaning::DiscSubtitle),
];

/// ID3v2 involved-people roles (Picard's `TIPL` roles); any other role in
/// `TIPL` (where lofty puts an ID3v2.3 `IPLS`) is an instrument or voice.
const INVOLVED_PEOPLE_ROLES: &[&str] = &["arranger", "engineer", "producer", "DJ-mix", "mix"];

/// Longer values are left out of [`TrackTags::other`]: they are pictures as
/// base64 (Vorbis `COVERART`) or whole texts, which every snapshot would carry.
const MAX_OTHER_VALUE_BYTES: usize = 8 * 1024;

/// One tag item as its container stores it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawItem {
    /// Its key as the container names it (`TXXX:WORK`, `----:com.apple.iTunes:CONDUCTOR`).
    key: String,
    /// What it means, when Strata has a field for it.
    meaning: Option<Meaning>,
    /// Its text, one value.
    value: String,
}

impl RawItem {
    /// An item whose meaning lofty's map for `tag_type` gives under
    /// `lofty_key`, else Picard's name `free_name` (for free-form keys).
    fn new(key: String, tag_type: TagType, lofty_key: &str, free_name: Option<&str>, value: &str) -> Self {
        let meaning = item_key(tag_type, lofty_key).and_then(meaning_of_item_key).or_else(|| free_name.and_then(meaning_of_name));
        Self { key, meaning, value: value.to_string() }
    }
}

/// lofty's [`ItemKey`] for `key` in a `tag_type` tag. Its maps give a
/// number/total pair kept under one key (ID3v2 `TRCK`, `TPOS`, `MVIN`; APE
/// `Track`, `Disc`) the total's key; such an item is the number, "2" or "2/4".
fn item_key(tag_type: TagType, key: &str) -> Option<ItemKey> {
    let item_key = ItemKey::from_key(tag_type, key)?;
    let number = match item_key {
        ItemKey::TrackTotal => ItemKey::TrackNumber,
        ItemKey::DiscTotal => ItemKey::DiscNumber,
        ItemKey::MovementTotal => ItemKey::MovementNumber,
        _ => return Some(item_key),
    };
    let shared = number.map_key(tag_type).is_some_and(|number_key| number_key.eq_ignore_ascii_case(key));
    Some(if shared { number } else { item_key })
}

fn meaning_of_item_key(key: ItemKey) -> Option<Meaning> {
    Some(match key {
        ItemKey::TrackTitle
        | ItemKey::TrackArtist
        | ItemKey::AlbumTitle
        | ItemKey::AlbumArtist
        | ItemKey::DiscNumber
        | ItemKey::TrackNumber
        | ItemKey::Genre
        | ItemKey::RecordingDate
        | ItemKey::Year => Meaning::Basic,
        ItemKey::Composer => Meaning::Composer,
        ItemKey::Work => Meaning::Work,
        ItemKey::Movement => Meaning::Movement,
        ItemKey::MovementNumber => Meaning::MovementNumber,
        ItemKey::MovementTotal => Meaning::MovementTotal,
        ItemKey::Conductor => Meaning::Conductor,
        ItemKey::Performer => Meaning::Performer,
        ItemKey::Arranger => Meaning::Arranger,
        ItemKey::MusicBrainzWorkId => Meaning::MusicBrainzWorkId,
        ItemKey::ContentGroup => Meaning::Grouping,
        ItemKey::AppleId3v2ContentGroup => Meaning::AppleGrouping,
        ItemKey::TrackSubtitle => Meaning::Subtitle,
        ItemKey::SetSubtitle => Meaning::DiscSubtitle,
        _ => return None,
    })
}

fn meaning_of_name(name: &str) -> Option<Meaning> {
    PICARD_NAMES.iter().find(|(picard, _)| picard.eq_ignore_ascii_case(name)).map(|&(_, meaning)| meaning)
}

/// Reads a file of `file_type`: lofty's generic view of it and its
/// containers' own items, the primary tag's first.
pub(super) fn read_file<R: Read + Seek>(reader: &mut R, file_type: FileType) -> Result<(TaggedFile, Vec<RawItem>), FileParseError> {
    use lofty::aac::AacFile;
    use lofty::flac::FlacFile;
    use lofty::iff::aiff::AiffFile;
    use lofty::iff::wav::WavFile;
    use lofty::mp4::Mp4File;
    use lofty::mpeg::MpegFile;
    use lofty::ogg::{OpusFile, VorbisFile};
    match file_type {
        FileType::Flac => read_as(reader, |f: &FlacFile| [f.vorbis_comments().map(vorbis_items), f.id3v2().map(id3v2_items)]),
        FileType::Mpeg => read_as(reader, |f: &MpegFile| [f.id3v2().map(id3v2_items), f.ape().map(ape_items)]),
        FileType::Mp4 => read_as(reader, |f: &Mp4File| [f.ilst().map(ilst_items)]),
        FileType::Vorbis => read_as(reader, |f: &VorbisFile| [Some(vorbis_items(f.vorbis_comments()))]),
        FileType::Opus => read_as(reader, |f: &OpusFile| [Some(vorbis_items(f.vorbis_comments()))]),
        FileType::Wav => read_as(reader, |f: &WavFile| {
            let riff_items = |list: &lofty::iff::wav::RiffInfoList| {
                list.into_iter().map(|(key, value)| RawItem::new(key.clone(), TagType::RiffInfo, key, None, value)).collect()
            };
            [f.id3v2().map(id3v2_items), f.riff_info().map(riff_items)]
        }),
        FileType::Aiff => read_as(reader, |f: &AiffFile| [f.id3v2().map(id3v2_items)]),
        FileType::Aac => read_as(reader, |f: &AacFile| [f.id3v2().map(id3v2_items)]),
        other => Ok((Probe::with_file_type(reader, other).read()?, Vec::new())),
    }
}

fn read_as<F: AudioFile, R: Read + Seek, const N: usize>(
    reader: &mut R,
    items_of: impl Fn(&F) -> [Option<Vec<RawItem>>; N],
) -> Result<(TaggedFile, Vec<RawItem>), FileParseError> {
    let file = F::read_from(reader, ParseOptions::new())?;
    let items = items_of(&file).into_iter().flatten().flatten().collect();
    Ok((file.into(), items))
}

fn vorbis_items(tag: &VorbisComments) -> Vec<RawItem> {
    tag.items().map(|(key, value)| RawItem::new(key.to_string(), TagType::VorbisComments, key, Some(key), value)).collect()
}

fn ape_items(tag: &ApeTag) -> Vec<RawItem> {
    let mut items = Vec::new();
    for item in tag {
        let (ItemValue::Text(text) | ItemValue::Locator(text)) = item.value() else { continue };
        // An APE item holds its values separated by NUL.
        for value in text.split('\0') {
            items.push(RawItem::new(item.key().to_string(), TagType::Ape, item.key(), Some(item.key()), value));
        }
    }
    items
}

fn id3v2_items(tag: &Id3v2Tag) -> Vec<RawItem> {
    let mut items = Vec::new();
    let id3v2 = TagType::Id3v2;
    for frame in tag {
        let id = frame.id_str();
        match frame {
            // ID3v2.4 separates values with NUL; lofty keeps them in one string.
            Frame::Text(text) => items.extend(text.value.split('\0').map(|value| RawItem::new(id.to_string(), id3v2, id, None, value))),
            Frame::UserText(text) => {
                let key = format!("TXXX:{}", text.description);
                items.extend(
                    text.content
                        .split('\0')
                        .map(|value| RawItem::new(key.clone(), id3v2, &text.description, Some(&text.description), value)),
                );
            }
            Frame::KeyValue(list) => {
                for (role, name) in list.key_value_pairs.iter() {
                    items.push(person(id, role, name));
                }
            }
            Frame::Comment(comment) => items.push(described(id, &comment.description, &comment.content)),
            Frame::UnsynchronizedText(lyrics) => items.push(described(id, &lyrics.description, &lyrics.content)),
            Frame::Url(url) => items.push(RawItem::new(id.to_string(), id3v2, id, None, url.url())),
            Frame::UserUrl(url) => items.push(described(id, &url.description, &url.content)),
            Frame::Timestamp(timestamp) => items.push(RawItem::new(id.to_string(), id3v2, id, None, &timestamp.timestamp.to_string())),
            Frame::UniqueFileIdentifier(ufid) => {
                if let Ok(identifier) = std::str::from_utf8(&ufid.identifier) {
                    items.push(described(id, &ufid.owner, identifier));
                }
            }
            // Pictures, counters, binary and structural frames are no text to show.
            _ => {}
        }
    }
    items
}

/// A frame item keyed `ID:description` (`COMM:…`, `UFID:http://musicbrainz.org`), meaning nothing to Strata.
fn described(id: &str, description: &str, value: &str) -> RawItem {
    let key = if description.is_empty() { id.to_string() } else { format!("{id}:{description}") };
    RawItem { key, meaning: None, value: value.to_string() }
}

/// One (role, name) pair of ID3v2 `TMCL` (musicians) or `TIPL` (involved
/// people, where lofty also puts ID3v2.3's `IPLS`, which Picard fills with both).
fn person(frame_id: &str, role: &str, name: &str) -> RawItem {
    let involved = frame_id == "TIPL" && INVOLVED_PEOPLE_ROLES.iter().any(|r| r.eq_ignore_ascii_case(role));
    let (meaning, value) = match (involved, role) {
        (true, _) if role.eq_ignore_ascii_case("arranger") => (Some(Meaning::Arranger), name.to_string()),
        (true, _) => (None, name.to_string()),
        // Picard's "name (instrument)", as in its Vorbis PERFORMER.
        (false, "") => (Some(Meaning::Performer), name.to_string()),
        (false, _) => (Some(Meaning::Performer), format!("{name} ({role})")),
    };
    RawItem { key: format!("{frame_id}:{role}"), meaning, value }
}

fn ilst_items(tag: &Ilst) -> Vec<RawItem> {
    let mut items = Vec::new();
    for atom in tag {
        let (key, free_name) = match atom.ident() {
            // The atom's four bytes are Latin-1 (`©` is 0xA9), as lofty's map spells them.
            AtomIdent::Fourcc(fourcc) => (fourcc.iter().map(|&b| char::from(b)).collect::<String>(), None),
            AtomIdent::Freeform { mean, name } => (format!("----:{mean}:{name}"), Some(name.as_ref())),
        };
        for data in atom.data() {
            let value = match data {
                AtomData::UTF8(text) | AtomData::UTF16(text) => text.clone(),
                AtomData::SignedInteger(number) => number.to_string(),
                AtomData::UnsignedInteger(number) => number.to_string(),
                // Pictures, flags and raw data (`trkn`, `disk`: read by lofty's accessors) are no text to show.
                _ => continue,
            };
            items.push(RawItem::new(key.clone(), TagType::Mp4Ilst, &key, free_name, &value));
        }
    }
    items
}

/// The items of lofty's generic `tag`, for formats read without a container-specific reader.
pub(super) fn generic_items(tag: &Tag) -> Vec<RawItem> {
    tag.items()
        .filter_map(|item| {
            let value = item.value().text()?;
            let key = item.key().map_key(tag.tag_type()).map_or_else(|| format!("{:?}", item.key()), str::to_string);
            Some(RawItem { key, meaning: meaning_of_item_key(item.key()), value: value.to_string() })
        })
        .collect()
}

/// Fills the classical fields of `tags` and [`TrackTags::other`] from
/// `items`, the first value of each meaning winning; composer, work and
/// movement keep what lofty's generic tag gave when the items have none.
pub(super) fn apply(items: &[RawItem], tags: &mut TrackTags) {
    let items: Vec<&RawItem> = items.iter().filter(|item| !item.value.trim().is_empty()).collect();
    let first = |meaning: Meaning| items.iter().find(|item| item.meaning == Some(meaning)).map(|item| item.value.trim().to_string());
    tags.composer = first(Meaning::Composer).or(tags.composer.take());
    let apple_grouping = first(Meaning::AppleGrouping);
    match (first(Meaning::Work), apple_grouping) {
        // Picard's "iTunes compatible grouping": the work in `TIT1`, the grouping in `GRP1`.
        (None, Some(apple_grouping)) if first(Meaning::Grouping).is_some() => {
            tags.work = first(Meaning::Grouping);
            tags.grouping = Some(apple_grouping);
        }
        (work, apple_grouping) => {
            tags.work = work.or(tags.work.take());
            tags.grouping = first(Meaning::Grouping).or(apple_grouping);
        }
    }
    tags.movement = first(Meaning::Movement).or(tags.movement.take());
    let (number, total_with_number) = first(Meaning::MovementNumber).map_or((None, None), |text| {
        let (number, total) = text.split_once('/').map_or((text.as_str(), None), |(number, total)| (number, Some(total)));
        (positive(number), total.and_then(positive))
    });
    tags.movement_number = number;
    tags.movement_total = first(Meaning::MovementTotal).as_deref().and_then(positive).or(total_with_number);
    tags.conductor = first(Meaning::Conductor);
    tags.arranger = first(Meaning::Arranger);
    tags.ensemble = first(Meaning::Ensemble);
    tags.musicbrainz_work_id = first(Meaning::MusicBrainzWorkId);
    tags.subtitle = first(Meaning::Subtitle);
    tags.disc_subtitle = first(Meaning::DiscSubtitle);
    tags.performers.clear();
    for item in items.iter().filter(|item| item.meaning == Some(Meaning::Performer)) {
        let performer = item.value.trim();
        // A file with two tags (ID3v2 and APE) may name the same performer in each.
        if !tags.performers.iter().any(|p| p == performer) {
            tags.performers.push(performer.to_string());
        }
    }
    tags.other.clear();
    for item in items.iter().filter(|item| item.meaning.is_none() && item.value.len() <= MAX_OTHER_VALUE_BYTES) {
        let value = item.value.trim();
        tags.other
            .entry(item.key.clone())
            .and_modify(|joined| {
                if !joined.split("; ").any(|v| v == value) {
                    joined.push_str("; ");
                    joined.push_str(value);
                }
            })
            .or_insert_with(|| value.to_string());
    }
}

/// A movement number or count as written ("2", " 2 "); 0 and text are none.
fn positive(text: &str) -> Option<u32> {
    text.trim().parse::<u32>().ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn item(key: &str, meaning: Option<Meaning>, value: &str) -> RawItem {
        RawItem { key: key.into(), meaning, value: value.into() }
    }

    fn read(items: &[RawItem]) -> TrackTags {
        let mut tags = TrackTags::default();
        apply(items, &mut tags);
        tags
    }

    #[test]
    fn itunes_compatible_grouping_puts_the_work_in_tit1_only_beside_grp1() {
        let tit1 = item("TIT1", Some(Meaning::Grouping), "Mass in B minor");
        let grp1 = item("GRP1", Some(Meaning::AppleGrouping), "Sacred");
        let txxx_work = item("TXXX:WORK", Some(Meaning::Work), "Messe h-Moll");
        let tags = read(&[tit1.clone(), grp1.clone()]);
        assert_eq!((tags.work.as_deref(), tags.grouping.as_deref()), (Some("Mass in B minor"), Some("Sacred")));
        let tags = read(&[tit1.clone(), grp1, txxx_work]);
        assert_eq!((tags.work.as_deref(), tags.grouping.as_deref()), (Some("Messe h-Moll"), Some("Mass in B minor")));
        let tags = read(&[tit1]);
        assert_eq!((tags.work, tags.grouping.as_deref()), (None, Some("Mass in B minor")));
    }

    #[test]
    fn movement_numbers_read_as_number_or_number_and_total() {
        let tags = read(&[item("MVIN", Some(Meaning::MovementNumber), "2/4")]);
        assert_eq!((tags.movement_number, tags.movement_total), (Some(2), Some(4)));
        let tags =
            read(&[item("MOVEMENT", Some(Meaning::MovementNumber), " 3 "), item("MOVEMENTTOTAL", Some(Meaning::MovementTotal), "5")]);
        assert_eq!((tags.movement_number, tags.movement_total), (Some(3), Some(5)));
        let tags =
            read(&[item("MOVEMENT", Some(Meaning::MovementNumber), "III"), item("MOVEMENTTOTAL", Some(Meaning::MovementTotal), "0")]);
        assert_eq!((tags.movement_number, tags.movement_total), (None, None));
    }

    #[test]
    fn involved_people_are_performers_unless_their_role_is_a_production_role() {
        assert_eq!(person("TMCL", "violin", "Anne Müller"), item("TMCL:violin", Some(Meaning::Performer), "Anne Müller (violin)"));
        assert_eq!(person("TIPL", "piano", "Jan Li"), item("TIPL:piano", Some(Meaning::Performer), "Jan Li (piano)"));
        assert_eq!(person("TIPL", "arranger", "Ravel"), item("TIPL:arranger", Some(Meaning::Arranger), "Ravel"));
        assert_eq!(person("TIPL", "producer", "A. Producer"), item("TIPL:producer", None, "A. Producer"));
    }

    #[test]
    fn other_items_keep_their_container_key_and_join_repeated_values() {
        let items =
            [item("LABEL", None, "DG"), item("LABEL", None, "Archiv"), item("LABEL", None, "DG"), item("TITLE", Some(Meaning::Basic), "x")];
        let tags = read(&items);
        assert_eq!(tags.other.into_iter().collect::<Vec<_>>(), vec![("LABEL".to_string(), "DG; Archiv".to_string())]);
        let picture = "A".repeat(MAX_OTHER_VALUE_BYTES + 1);
        assert_eq!(read(&[item("COVERART", None, &picture)]).other, BTreeMap::new());
    }
}

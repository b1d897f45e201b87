//! Classical tags in every container Strata decodes, laid out byte for byte
//! as MusicBrainz Picard (through mutagen) writes them, generated here rather
//! than by lofty's own writer: FLAC, Ogg Vorbis and Opus (Vorbis comments),
//! MP3 with ID3v2.4 (UTF-8, TXXX:WORK, TMCL/TIPL), with ID3v2.3 (UTF-16,
//! iTunes-compatible grouping: work in TIT1 beside GRP1, IPLS) and with
//! APEv2, and M4A (ilst with freeform atoms). Each is indexed with `strata
//! index` and read back from the catalog (Opus too, which Strata cannot
//! decode: a file that fails analysis keeps its tags). Also: an old catalog gains the new
//! columns in place and keeps its rows.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use strata::storage::catalog::{Catalog, FileStamp, TrackTags};
use strata::storage::data_dir::DataDir;
use support::*;

const TITLE: &str = "Gloria: Domine Deus";
const ARTIST: &str = "Collegium Vocale Gent, Philippe Herreweghe";
const ALBUM: &str = "Messe in h-Moll";
const COMPOSER: &str = "Johann Sebastian Bach";
const WORK: &str = "Messe in h-Moll, BWV 232 – Gloria";
const MOVEMENT_NAME: &str = "Domine Deus, Rex cælestis";
const CONDUCTOR: &str = "Philippe Herreweghe";
/// (instrument, name), as ID3v2 `TMCL` pairs them.
const PERFORMERS: [(&str, &str); 3] = [("soprano", "Dorothée Mields"), ("tenor", "Thomas Hobbs"), ("flute", "Patrick Beuckels")];
const ARRANGER: &str = "Carl Friedrich Zelter";
const ENSEMBLE: &str = "Collegium Vocale Gent";
const WORK_ID: &str = "b0b0a1d0-6f0d-4f3a-9c0e-8b6f4c7a2e11";
const GROUPING: &str = "Geistliche Musik";
/// Outside the Basic Multilingual Plane: a surrogate pair in UTF-16.
const SUBTITLE: &str = "Aufnahme 𝄞 live";
const DISC_SUBTITLE: &str = "Gloria";
/// A tag Strata has no field for: it must land in `other`.
const CATALOGUE_NUMBER: &str = "HMC 901614.15";

fn performer_values() -> Vec<String> {
    PERFORMERS.iter().map(|(instrument, name)| format!("{name} ({instrument})")).collect()
}

/// Audio without any tag, encoded by ffmpeg from a generated tone.
fn untagged(dir: &Path, name: &str, codec_args: &[&str]) -> Vec<u8> {
    let wav = dir.join(format!("{name}.source.wav"));
    // 48 kHz suits every encoder here, Opus included; 4 s is more than one model window.
    write_wav(&wav, &tone(330.0, 48_000, 4.0), 1, 48_000);
    let extension = name.rsplit('.').next().unwrap();
    let encoded = dir.join(format!("{name}.untagged.{extension}"));
    let mut args = vec!["-map_metadata", "-1", "-fflags", "+bitexact"];
    args.extend_from_slice(codec_args);
    ffmpeg(&wav, &encoded, &args);
    let bytes = std::fs::read(&encoded).unwrap();
    std::fs::remove_file(&wav).unwrap();
    std::fs::remove_file(&encoded).unwrap();
    bytes
}

// ---------------------------------------------------------------- Vorbis comments

/// Picard's Vorbis comments; `ensemble_key` is ENSEMBLE or ORCHESTRA.
fn vorbis_items(ensemble_key: &str) -> Vec<(String, String)> {
    let mut items: Vec<(&str, String)> = vec![
        ("TITLE", TITLE.into()),
        ("ARTIST", ARTIST.into()),
        ("ALBUM", ALBUM.into()),
        ("COMPOSER", COMPOSER.into()),
        ("WORK", WORK.into()),
        ("MOVEMENTNAME", MOVEMENT_NAME.into()),
        ("MOVEMENT", "2".into()),
        ("MOVEMENTTOTAL", "4".into()),
        ("CONDUCTOR", CONDUCTOR.into()),
    ];
    items.extend(performer_values().into_iter().map(|p| ("PERFORMER", p)));
    items.extend([
        ("ARRANGER", ARRANGER.into()),
        (ensemble_key, ENSEMBLE.into()),
        ("MUSICBRAINZ_WORKID", WORK_ID.into()),
        ("GROUPING", GROUPING.into()),
        ("SUBTITLE", SUBTITLE.into()),
        ("DISCSUBTITLE", DISC_SUBTITLE.into()),
        ("CATALOGNUMBER", CATALOGUE_NUMBER.into()),
        ("TRACKNUMBER", "5".into()),
        ("TRACKTOTAL", "12".into()),
        ("DISCNUMBER", "1".into()),
        ("DISCTOTAL", "2".into()),
        ("DATE", "2011".into()),
    ]);
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A Vorbis comment block: vendor, count, then `KEY=value` strings, lengths little-endian.
fn vorbis_comment_block(items: &[(String, String)]) -> Vec<u8> {
    let vendor = b"Lavf (strata test)";
    let mut block = Vec::new();
    block.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    block.extend_from_slice(vendor);
    block.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for (key, value) in items {
        let comment = format!("{key}={value}");
        block.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        block.extend_from_slice(comment.as_bytes());
    }
    block
}

/// Replaces a FLAC's VORBIS_COMMENT (and padding) with `comments`.
fn flac_with_comments(flac: &[u8], comments: &[u8]) -> Vec<u8> {
    assert_eq!(&flac[..4], b"fLaC");
    let mut blocks: Vec<(u8, &[u8])> = Vec::new();
    let mut at = 4;
    loop {
        let header = flac[at];
        let length = u32::from_be_bytes([0, flac[at + 1], flac[at + 2], flac[at + 3]]) as usize;
        let block_type = header & 0x7f;
        if block_type != 4 && block_type != 1 {
            blocks.push((block_type, &flac[at + 4..at + 4 + length]));
        }
        at += 4 + length;
        if header & 0x80 != 0 {
            break;
        }
    }
    blocks.push((4, comments));
    let mut out = b"fLaC".to_vec();
    for (i, (block_type, body)) in blocks.iter().enumerate() {
        let last = if i + 1 == blocks.len() { 0x80 } else { 0 };
        out.push(last | block_type);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(body);
    }
    out.extend_from_slice(&flac[at..]);
    out
}

/// The Ogg page checksum: CRC-32, polynomial 0x04c11db7, not reflected, initial 0.
fn ogg_crc(page: &[u8]) -> u32 {
    page.iter().fold(0u32, |mut crc, &byte| {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
        crc
    })
}

struct OggPage<'a> {
    header_type: u8,
    granule: [u8; 8],
    serial: [u8; 4],
    lacing: &'a [u8],
    body: &'a [u8],
}

fn ogg_pages(ogg: &[u8]) -> Vec<OggPage<'_>> {
    let mut pages = Vec::new();
    let mut at = 0;
    while at < ogg.len() {
        assert_eq!(&ogg[at..at + 4], b"OggS");
        let segments = ogg[at + 26] as usize;
        let lacing = &ogg[at + 27..at + 27 + segments];
        let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
        let body_at = at + 27 + segments;
        pages.push(OggPage {
            header_type: ogg[at + 5],
            granule: ogg[at + 6..at + 14].try_into().unwrap(),
            serial: ogg[at + 14..at + 18].try_into().unwrap(),
            lacing,
            body: &ogg[body_at..body_at + body_len],
        });
        at = body_at + body_len;
    }
    pages
}

fn write_ogg_page(out: &mut Vec<u8>, header_type: u8, granule: [u8; 8], serial: [u8; 4], sequence: u32, lacing: &[u8], body: &[u8]) {
    let start = out.len();
    out.extend_from_slice(b"OggS\0");
    out.push(header_type);
    out.extend_from_slice(&granule);
    out.extend_from_slice(&serial);
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(lacing.len() as u8);
    out.extend_from_slice(lacing);
    out.extend_from_slice(body);
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// Replaces the comment packet (the second) of an Ogg stream whose first
/// `header_packets` packets are headers: the headers are paginated afresh
/// (as libogg does, at most 255 segments a page) and the audio pages copied
/// with new sequence numbers and checksums.
fn ogg_with_comment_packet(ogg: &[u8], header_packets: usize, comment_packet: Vec<u8>) -> Vec<u8> {
    let pages = ogg_pages(ogg);
    let mut packets: Vec<Vec<u8>> = vec![Vec::new()];
    let mut audio_from = 0;
    for (index, page) in pages.iter().enumerate() {
        let mut at = 0;
        for &length in page.lacing {
            packets.last_mut().unwrap().extend_from_slice(&page.body[at..at + length as usize]);
            at += length as usize;
            if length < 255 {
                packets.push(Vec::new());
            }
        }
        if packets.len() > header_packets {
            // The last header packet ends its page: audio starts on the next.
            assert_eq!(packets.len(), header_packets + 1, "audio shares a page with the headers");
            audio_from = index + 1;
            break;
        }
    }
    packets.truncate(header_packets);
    packets[1] = comment_packet;
    let serial = pages[0].serial;
    let mut out = Vec::new();
    write_ogg_page(&mut out, 0x02, [0; 8], serial, 0, &lacing_of(&packets[0]), &packets[0]);
    let mut sequence = 1;
    let (mut lacing, mut body, mut continued) = (Vec::new(), Vec::new(), false);
    for packet in &packets[1..] {
        let packet_lacing = lacing_of(packet);
        let mut packet_at = 0;
        for length in packet_lacing {
            if lacing.len() == 255 {
                write_ogg_page(&mut out, if continued { 0x01 } else { 0 }, [0; 8], serial, sequence, &lacing, &body);
                sequence += 1;
                continued = packet_at > 0;
                lacing.clear();
                body.clear();
            }
            lacing.push(length);
            body.extend_from_slice(&packet[packet_at..packet_at + length as usize]);
            packet_at += length as usize;
        }
    }
    write_ogg_page(&mut out, if continued { 0x01 } else { 0 }, [0; 8], serial, sequence, &lacing, &body);
    for page in &pages[audio_from..] {
        sequence += 1;
        write_ogg_page(&mut out, page.header_type, page.granule, page.serial, sequence, page.lacing, page.body);
    }
    out
}

/// Ogg lacing values for one whole packet.
fn lacing_of(packet: &[u8]) -> Vec<u8> {
    let mut lacing = vec![255; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    lacing
}

// ---------------------------------------------------------------- ID3v2

/// A text string in ID3v2 `encoding` (1: UTF-16 with BOM, 3: UTF-8) with its terminator, as mutagen writes each value.
fn id3_text(encoding: u8, text: &str) -> Vec<u8> {
    match encoding {
        1 => {
            let mut bytes = vec![0xff, 0xfe];
            bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            bytes.extend_from_slice(&[0, 0]);
            bytes
        }
        3 => {
            let mut bytes = text.as_bytes().to_vec();
            bytes.push(0);
            bytes
        }
        _ => unreachable!("mutagen writes v2.3 in UTF-16 and v2.4 in UTF-8"),
    }
}

enum Id3Frame {
    Text(&'static str, String),
    UserText(&'static str, String),
    /// TMCL, TIPL (v2.4) or IPLS (v2.3): (role, name) pairs.
    People(&'static str, Vec<(String, String)>),
}

/// An ID3v2.`version` tag (3 or 4) with `frames`, plus padding as mutagen leaves it.
fn id3v2_tag(version: u8, frames: &[Id3Frame]) -> Vec<u8> {
    let encoding = if version == 3 { 1 } else { 3 };
    let mut body = Vec::new();
    for frame in frames {
        let (id, mut content) = match frame {
            Id3Frame::Text(id, text) => (*id, id3_text(encoding, text)),
            Id3Frame::UserText(description, text) => ("TXXX", [id3_text(encoding, description), id3_text(encoding, text)].concat()),
            Id3Frame::People(id, pairs) => {
                (*id, pairs.iter().flat_map(|(role, name)| [id3_text(encoding, role), id3_text(encoding, name)].concat()).collect())
            }
        };
        content.insert(0, encoding);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&if version == 4 { syncsafe(content.len()) } else { (content.len() as u32).to_be_bytes() });
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&content);
    }
    body.extend_from_slice(&[0; 100]);
    let mut tag = vec![b'I', b'D', b'3', version, 0, 0];
    tag.extend_from_slice(&syncsafe(body.len()));
    tag.extend_from_slice(&body);
    tag
}

fn syncsafe(n: usize) -> [u8; 4] {
    let n = n as u32;
    [(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f, (n >> 7) as u8 & 0x7f, n as u8 & 0x7f]
}

fn text(id: &'static str, value: &str) -> Id3Frame {
    Id3Frame::Text(id, value.to_string())
}

/// Picard's ID3v2 frames. Version 4: work in TXXX:WORK, grouping in TIT1,
/// performers in TMCL, arranger and producer in TIPL. Version 3, with
/// "iTunes compatible grouping": work in TIT1, grouping in GRP1, TMCL and
/// TIPL merged into IPLS, year in TYER.
fn picard_id3_frames(version: u8) -> Vec<Id3Frame> {
    let musicians: Vec<(String, String)> = PERFORMERS.iter().map(|(role, name)| (role.to_string(), name.to_string())).collect();
    let involved: Vec<(String, String)> = vec![("arranger".into(), ARRANGER.into()), ("producer".into(), "Martin Sauer".into())];
    let mut frames = vec![text("TIT2", TITLE), text("TPE1", ARTIST), text("TALB", ALBUM), text("TCOM", COMPOSER)];
    if version == 4 {
        frames.extend([Id3Frame::UserText("WORK", WORK.into()), text("TIT1", GROUPING)]);
    } else {
        frames.extend([text("TIT1", WORK), text("GRP1", GROUPING)]);
    }
    frames.extend([text("MVNM", MOVEMENT_NAME), text("MVIN", "2/4"), text("TPE3", CONDUCTOR)]);
    if version == 4 {
        frames.extend([Id3Frame::People("TMCL", musicians), Id3Frame::People("TIPL", involved)]);
    } else {
        frames.push(Id3Frame::People("IPLS", [musicians, involved].concat()));
    }
    frames.extend([
        Id3Frame::UserText("ENSEMBLE", ENSEMBLE.into()),
        Id3Frame::UserText("MusicBrainz Work Id", WORK_ID.into()),
        text("TIT3", SUBTITLE),
        text("TSST", DISC_SUBTITLE),
        Id3Frame::UserText("CATALOGNUMBER", CATALOGUE_NUMBER.into()),
        text("TRCK", "5/12"),
        text("TPOS", "1/2"),
        if version == 4 { text("TDRC", "2011") } else { text("TYER", "2011") },
    ]);
    frames
}

// ---------------------------------------------------------------- APEv2

/// An APEv2 tag (header, items, footer) as mutagen appends it; multiple values NUL-separated.
fn apev2_tag() -> Vec<u8> {
    let performers = performer_values().join("\0");
    let items: Vec<(&str, &str)> = vec![
        ("Title", TITLE),
        ("Artist", ARTIST),
        ("Album", ALBUM),
        ("Composer", COMPOSER),
        ("Work", WORK),
        ("MOVEMENTNAME", MOVEMENT_NAME),
        ("MOVEMENT", "2"),
        ("MOVEMENTTOTAL", "4"),
        ("Conductor", CONDUCTOR),
        ("Performer", &performers),
        ("Arranger", ARRANGER),
        ("Ensemble", ENSEMBLE),
        ("MUSICBRAINZ_WORKID", WORK_ID),
        ("Grouping", GROUPING),
        ("Subtitle", SUBTITLE),
        ("DiscSubtitle", DISC_SUBTITLE),
        ("CatalogNumber", CATALOGUE_NUMBER),
        ("Track", "5/12"),
        ("Disc", "1/2"),
        ("Year", "2011"),
    ];
    let mut body = Vec::new();
    for (key, value) in &items {
        body.extend_from_slice(&(value.len() as u32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
    }
    let header_or_footer = |flags: u32| {
        let mut bytes = b"APETAGEX".to_vec();
        bytes.extend_from_slice(&2000u32.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u32 + 32).to_le_bytes());
        bytes.extend_from_slice(&(items.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&flags.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes
    };
    // Header: "has a header" and "is the header"; footer: "has a header".
    [header_or_footer(0xa000_0000), body.clone(), header_or_footer(0x8000_0000)].concat()
}

// ---------------------------------------------------------------- MP4

fn atom(name: &[u8], content: &[u8]) -> Vec<u8> {
    let mut bytes = ((content.len() + 8) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(content);
    bytes
}

/// A `data` atom: type (1 UTF-8, 21 signed integer, 0 implicit), locale 0, payload.
fn data_atom(data_type: u32, payload: &[u8]) -> Vec<u8> {
    atom(b"data", &[&data_type.to_be_bytes()[..], &[0; 4], payload].concat())
}

fn text_atom(name: &[u8], values: &[&str]) -> Vec<u8> {
    atom(name, &values.iter().flat_map(|v| data_atom(1, v.as_bytes())).collect::<Vec<u8>>())
}

/// A freeform `----` atom: mean, name, then one data atom per value (mutagen's layout).
fn freeform_atom(name: &str, values: &[&str]) -> Vec<u8> {
    let mut content = atom(b"mean", &[&[0u8; 4][..], b"com.apple.iTunes"].concat());
    content.extend(atom(b"name", &[&[0u8; 4][..], name.as_bytes()].concat()));
    content.extend(values.iter().flat_map(|v| data_atom(1, v.as_bytes())));
    atom(b"----", &content)
}

fn ilst() -> Vec<u8> {
    let performers = performer_values();
    let performers: Vec<&str> = performers.iter().map(String::as_str).collect();
    [
        text_atom(b"\xa9nam", &[TITLE]),
        text_atom(b"\xa9ART", &[ARTIST]),
        text_atom(b"\xa9alb", &[ALBUM]),
        text_atom(b"\xa9wrt", &[COMPOSER]),
        text_atom(b"\xa9wrk", &[WORK]),
        text_atom(b"\xa9mvn", &[MOVEMENT_NAME]),
        // mutagen writes ©mvi and ©mvc as 2-byte signed integers.
        atom(b"\xa9mvi", &data_atom(21, &2u16.to_be_bytes())),
        atom(b"\xa9mvc", &data_atom(21, &4u16.to_be_bytes())),
        freeform_atom("CONDUCTOR", &[CONDUCTOR]),
        freeform_atom("PERFORMER", &performers),
        freeform_atom("ARRANGER", &[ARRANGER]),
        freeform_atom("ENSEMBLE", &[ENSEMBLE]),
        freeform_atom("MusicBrainz Work Id", &[WORK_ID]),
        text_atom(b"\xa9grp", &[GROUPING]),
        freeform_atom("SUBTITLE", &[SUBTITLE]),
        freeform_atom("DISCSUBTITLE", &[DISC_SUBTITLE]),
        freeform_atom("CATALOGNUMBER", &[CATALOGUE_NUMBER]),
        atom(b"trkn", &data_atom(0, &[0, 0, 0, 5, 0, 12, 0, 0])),
        atom(b"disk", &data_atom(0, &[0, 0, 0, 1, 0, 2])),
        text_atom(b"\xa9day", &["2011"]),
    ]
    .concat()
}

/// Puts moov/udta/meta(hdlr mdir, ilst) into an M4A whose moov follows its
/// mdat (ffmpeg's default), so no chunk offset moves.
fn m4a_with_ilst(m4a: &[u8], ilst_content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut seen_mdat = false;
    while at < m4a.len() {
        let size = u32::from_be_bytes(m4a[at..at + 4].try_into().unwrap()) as usize;
        let name = &m4a[at + 4..at + 8];
        if name == b"mdat" {
            seen_mdat = true;
        }
        if name == b"moov" {
            assert!(seen_mdat, "moov before mdat: the chunk offsets would move");
            let mut children = Vec::new();
            let mut child_at = at + 8;
            while child_at < at + size {
                let child_size = u32::from_be_bytes(m4a[child_at..child_at + 4].try_into().unwrap()) as usize;
                if &m4a[child_at + 4..child_at + 8] != b"udta" {
                    children.extend_from_slice(&m4a[child_at..child_at + child_size]);
                }
                child_at += child_size;
            }
            let hdlr = atom(b"hdlr", &[&[0u8; 8][..], b"mdirappl", &[0; 9]].concat());
            let meta = atom(b"meta", &[&[0u8; 4][..], &hdlr, &atom(b"ilst", ilst_content)].concat());
            children.extend(atom(b"udta", &meta));
            out.extend(atom(b"moov", &children));
        } else {
            out.extend_from_slice(&m4a[at..at + size]);
        }
        at += size;
    }
    out
}

// ---------------------------------------------------------------- the library

/// Writes one file per container into `music`; returns (file name, the key its catalogue number is stored under).
fn write_tagged_library(music: &Path) -> Vec<(&'static str, &'static str)> {
    std::fs::create_dir_all(music).unwrap();
    let scratch = music.parent().unwrap();

    let flac = untagged(scratch, "a.flac", &["-c:a", "flac"]);
    let flac = flac_with_comments(&flac, &vorbis_comment_block(&vorbis_items("ENSEMBLE")));
    std::fs::write(music.join("flac.flac"), flac).unwrap();

    let ogg = untagged(scratch, "a.ogg", &["-c:a", "libvorbis"]);
    let packet = [&b"\x03vorbis"[..], &vorbis_comment_block(&vorbis_items("ORCHESTRA")), &[1]].concat();
    std::fs::write(music.join("vorbis.ogg"), ogg_with_comment_packet(&ogg, 3, packet)).unwrap();

    let opus = untagged(scratch, "a.opus", &["-c:a", "libopus"]);
    let packet = [&b"OpusTags"[..], &vorbis_comment_block(&vorbis_items("ENSEMBLE"))].concat();
    std::fs::write(music.join("opus.opus"), ogg_with_comment_packet(&opus, 2, packet)).unwrap();

    let mp3 = untagged(scratch, "a.mp3", &["-c:a", "libmp3lame", "-id3v2_version", "0", "-write_id3v1", "0"]);
    assert_ne!(&mp3[..3], b"ID3", "ffmpeg wrote an ID3v2 tag of its own");
    std::fs::write(music.join("id3v24.mp3"), [id3v2_tag(4, &picard_id3_frames(4)), mp3.clone()].concat()).unwrap();
    std::fs::write(music.join("id3v23.mp3"), [id3v2_tag(3, &picard_id3_frames(3)), mp3.clone()].concat()).unwrap();
    std::fs::write(music.join("ape.mp3"), [mp3, apev2_tag()].concat()).unwrap();

    let m4a = untagged(scratch, "a.m4a", &["-c:a", "aac"]);
    std::fs::write(music.join("mp4.m4a"), m4a_with_ilst(&m4a, &ilst())).unwrap();

    vec![
        ("flac.flac", "CATALOGNUMBER"),
        ("vorbis.ogg", "CATALOGNUMBER"),
        ("opus.opus", "CATALOGNUMBER"),
        ("id3v24.mp3", "TXXX:CATALOGNUMBER"),
        ("id3v23.mp3", "TXXX:CATALOGNUMBER"),
        ("ape.mp3", "CatalogNumber"),
        ("mp4.m4a", "----:com.apple.iTunes:CATALOGNUMBER"),
    ]
}

fn index(data: &Path, music: &Path) -> serde_json::Value {
    let output = strata_bin().arg("--data-dir").arg(data).args(["index", "--json", "--jobs", "1"]).arg(music).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn catalog_tags(data: &Path) -> BTreeMap<String, TrackTags> {
    let catalog = Catalog::open(&DataDir::at(data).catalog_path()).unwrap();
    // Every catalogued track: Strata's decoder has no Opus, but a file it cannot analyse keeps its tags.
    let tracks = catalog.tracks().unwrap();
    tracks.into_iter().map(|track| (track.path.file_name().unwrap().to_string_lossy().into_owned(), track.tags)).collect()
}

#[test]
fn every_container_gives_every_classical_tag_through_the_index_and_the_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let files = write_tagged_library(&music);
    let data = tmp.path().join("data");
    let summary = index(&data, &music);
    assert_eq!(summary["indexed"], files.len() - 1, "{summary}");
    let failed: Vec<&str> = summary["failed"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(failed, vec![music.join("opus.opus").to_str().unwrap()], "{summary}");
    let tags_by_file = catalog_tags(&data);
    let mut wrong = Vec::new();
    for (file, catalogue_key) in files {
        let tags = &tags_by_file[file];
        let expected_other: BTreeMap<String, String> = [(catalogue_key.to_string(), CATALOGUE_NUMBER.to_string())].into();
        let expected = TrackTags {
            title: Some(TITLE.into()),
            artist: Some(ARTIST.into()),
            album: Some(ALBUM.into()),
            album_artist: None,
            composer: Some(COMPOSER.into()),
            work: Some(WORK.into()),
            movement: Some(MOVEMENT_NAME.into()),
            disc: Some(1),
            track_no: Some(5),
            genre: None,
            date: Some("2011".into()),
            movement_number: Some(2),
            movement_total: Some(4),
            conductor: Some(CONDUCTOR.into()),
            performers: performer_values(),
            arranger: Some(ARRANGER.into()),
            ensemble: Some(ENSEMBLE.into()),
            musicbrainz_work_id: Some(WORK_ID.into()),
            grouping: Some(GROUPING.into()),
            subtitle: Some(SUBTITLE.into()),
            disc_subtitle: Some(DISC_SUBTITLE.into()),
            // Checked below, apart: the containers add their own leftovers.
            other: tags.other.clone(),
        };
        if tags != &expected {
            wrong.push(format!("{file}:\n  read     {tags:?}\n  expected {expected:?}"));
        }
        if !expected_other.iter().all(|(key, value)| tags.other.get(key) == Some(value)) {
            wrong.push(format!("{file}: the catalogue number is not under its own key in {:?}", tags.other));
        }
        // Nothing Strata has a field for is repeated in `other`.
        let repeated: Vec<&String> = tags
            .other
            .iter()
            .filter(|(_, value)| {
                [WORK, MOVEMENT_NAME, CONDUCTOR, ARRANGER, ENSEMBLE, GROUPING, WORK_ID, SUBTITLE].contains(&value.as_str())
            })
            .map(|(key, _)| key)
            .collect();
        if !repeated.is_empty() {
            wrong.push(format!("{file}: {repeated:?} repeated in other: {:?}", tags.other));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Involved people who are neither performers nor the arranger stay, under their role.
    assert_eq!(tags_by_file["id3v24.mp3"].other.get("TIPL:producer").map(String::as_str), Some("Martin Sauer"));
    assert_eq!(tags_by_file["id3v23.mp3"].other.get("TIPL:producer").map(String::as_str), Some("Martin Sauer"));
}

/// The tracks table as Strata made it before the classical tags, with a row.
const OLD_TRACKS_TABLE: &str = "
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    path_bytes BLOB NOT NULL UNIQUE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    title TEXT, artist TEXT, album TEXT, album_artist TEXT, composer TEXT, work TEXT, movement TEXT,
    disc INTEGER, track_no INTEGER, genre TEXT, date TEXT,
    duration_s REAL,
    descriptors TEXT
);
INSERT INTO tracks (id, path_bytes, path, size, mtime_ns, title, composer, work, movement, disc, track_no)
    VALUES (7, CAST('/music/old.flac' AS BLOB), '/music/old.flac', 1234, 99, 'Kyrie', 'Bach', 'Mass in B minor', 'Kyrie eleison', 1, 1);
";

#[test]
fn an_old_catalog_gains_the_new_columns_in_place_and_keeps_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("catalog.sqlite");
    rusqlite::Connection::open(&path).unwrap().execute_batch(OLD_TRACKS_TABLE).unwrap();

    let mut catalog = Catalog::open(&path).unwrap();
    let tracks = catalog.tracks().unwrap();
    assert_eq!(tracks.len(), 1);
    let old = &tracks[0];
    assert_eq!((old.id, old.path.as_path()), (7, Path::new("/music/old.flac")));
    let kept = TrackTags {
        title: Some("Kyrie".into()),
        composer: Some("Bach".into()),
        work: Some("Mass in B minor".into()),
        movement: Some("Kyrie eleison".into()),
        disc: Some(1),
        track_no: Some(1),
        ..TrackTags::default()
    };
    assert_eq!(old.tags, kept);

    // The new fields are stored and read back, lists and maps included.
    let tags = TrackTags {
        movement_number: Some(1),
        movement_total: Some(24),
        conductor: Some(CONDUCTOR.into()),
        performers: performer_values(),
        arranger: Some(ARRANGER.into()),
        ensemble: Some(ENSEMBLE.into()),
        musicbrainz_work_id: Some(WORK_ID.into()),
        grouping: Some(GROUPING.into()),
        subtitle: Some(SUBTITLE.into()),
        disc_subtitle: Some(DISC_SUBTITLE.into()),
        other: [("CATALOGNUMBER".to_string(), CATALOGUE_NUMBER.to_string()), ("LABEL".to_string(), "harmonia mundi".to_string())].into(),
        ..kept
    };
    let batch = catalog.batch().unwrap();
    let id = batch.upsert_track(Path::new("/music/old.flac"), FileStamp { size: 1234, mtime_ns: 99 }, &tags, None, None).unwrap();
    batch.commit().unwrap();
    assert_eq!(id, 7);
    drop(catalog);
    // Opening again finds the columns there and adds nothing.
    let catalog = Catalog::open(&path).unwrap();
    let tracks = catalog.tracks().unwrap();
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].tags, tags);
}

/// After an upgrade that reads more tags, an unchanged file gets them on the
/// next index without being analysed again (as an older Strata left it: the
/// classical columns empty, tags_version 0).
#[test]
fn tags_an_older_strata_read_are_read_again_without_a_new_analysis() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    write_tagged_library(&music);
    let data = tmp.path().join("data");
    let first = index(&data, &music);
    let read_now = catalog_tags(&data);
    let sql = "UPDATE tracks SET work = NULL, movement_number = NULL, conductor = NULL, performers = NULL, other = NULL, tags_version = 0";
    rusqlite::Connection::open(DataDir::at(&data).catalog_path()).unwrap().execute_batch(sql).unwrap();
    assert_ne!(catalog_tags(&data), read_now, "the old catalog lacks the classical tags");

    let again = index(&data, &music);
    assert_eq!((again["indexed"].as_u64(), again["unchanged"].as_u64()), (Some(0), first["indexed"].as_u64()), "{again}");
    assert_eq!(catalog_tags(&data), read_now);
}

//! Length fields checked against the bytes that back them, before the decoder
//! sees a file.
//!
//! symphonia 0.5 sizes some allocations by a count or length read from the
//! file before it reads the bytes those fields describe (MP4 sample tables,
//! ALAC frame lengths, FLAC and Ogg comments and pictures). A 72-byte file
//! can ask for 64 GiB, and an allocation that fails aborts the process, which
//! no panic handler can contain. So every such field is compared here with
//! the room its container actually has; a file whose fields lie is refused
//! with the field named. This reads only headers (a few KB of seeks).

use std::io::{Read, Seek, SeekFrom};

/// Longest ALAC frame Strata accepts, in samples per channel (Apple's encoder writes 4,096).
const MAX_ALAC_FRAME: u32 = 1 << 16;
/// Most ALAC channels (the format's own limit).
const MAX_ALAC_CHANNELS: u8 = 8;
/// How much of an Ogg stream is read to find its comment header; a larger
/// comment (cover art) is left unchecked rather than read whole.
const MAX_OGG_HEADER_BYTES: u64 = 16 << 20;
/// Most MP4 sample sizes read (4 MB: about 12 hours of AAC); longer tables are checked this far.
const MAX_CHECKED_SAMPLES: u64 = 1 << 20;
/// Deepest MP4 box nesting walked (real files nest about 8 deep).
const MAX_BOX_DEPTH: usize = 16;

/// Why a file was refused: its name for a field and what it claimed.
pub type Malformed = String;

/// Checks the length fields of `source` (of `len` bytes) that the decoder
/// would trust; formats without such fields pass unread.
/// Leaves `source` at its start, where the decoder begins reading.
pub fn check<R: Read + Seek>(source: &mut R, len: u64) -> Result<(), Malformed> {
    let verdict = check_fields(source, len);
    source.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    verdict
}

fn check_fields<R: Read + Seek>(source: &mut R, len: u64) -> Result<(), Malformed> {
    let mut head = [0u8; 12];
    let got = read_at(source, 0, &mut head).map_err(|e| e.to_string())?;
    let head = &head[..got];
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return Mp4 { source, len }.boxes(0, len, 0);
    }
    if head.starts_with(b"fLaC") {
        return flac(source, 0, len);
    }
    if head.starts_with(b"ID3") && head.len() >= 10 {
        // An ID3v2 tag before FLAC: its size is syncsafe (7 bits a byte).
        let size = head[6..10].iter().fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
        let start = 10 + size;
        let mut magic = [0u8; 4];
        if read_at(source, start, &mut magic).map_err(|e| e.to_string())? == 4 && &magic == b"fLaC" {
            return flac(source, start, len);
        }
        return Ok(());
    }
    if head.starts_with(b"OggS") {
        return ogg(source, len);
    }
    Ok(())
}

fn read_at<R: Read + Seek>(source: &mut R, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    source.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn be32(bytes: &[u8]) -> u64 {
    bytes.iter().take(4).fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn le32(bytes: &[u8]) -> u64 {
    bytes.iter().take(4).rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

struct Mp4<'a, R> {
    source: &'a mut R,
    len: u64,
}

impl<R: Read + Seek> Mp4<'_, R> {
    /// Walks the boxes between `start` and `end`.
    fn boxes(&mut self, start: u64, end: u64, depth: usize) -> Result<(), Malformed> {
        if depth > MAX_BOX_DEPTH {
            return Err(format!("MP4 boxes nest deeper than {MAX_BOX_DEPTH}"));
        }
        let mut at = start;
        while at + 8 <= end {
            let mut header = [0u8; 16];
            let got = read_at(self.source, at, &mut header).map_err(|e| e.to_string())?;
            if got < 8 {
                break;
            }
            let kind = [header[4], header[5], header[6], header[7]];
            let name = String::from_utf8_lossy(&kind).into_owned();
            let (size, header_len) = match be32(&header[0..4]) {
                0 => (end - at, 8),
                1 if got >= 16 => (header[8..16].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)), 16),
                1 => return Err(format!("MP4 box '{name}' is cut short")),
                size => (size, 8),
            };
            if size < header_len || size > end - at {
                return Err(format!("MP4 box '{name}' claims {size} bytes where {} remain", end - at));
            }
            let (payload, payload_end) = (at + header_len, at + size);
            self.one_box(&kind, payload, payload_end, depth)?;
            at = payload_end;
        }
        Ok(())
    }

    fn one_box(&mut self, kind: &[u8; 4], payload: u64, end: u64, depth: usize) -> Result<(), Malformed> {
        let room = end - payload;
        let mut fields = [0u8; 12];
        let got = read_at(self.source, payload, &mut fields).map_err(|e| e.to_string())?;
        let fields = &fields[..got];
        // Tables: version+flags, a count, then fixed-size entries.
        let table = |entry_bytes: u64, count_at: usize| -> Result<(), Malformed> {
            if fields.len() < count_at + 4 {
                return Err(format!("MP4 table '{}' is cut short", String::from_utf8_lossy(kind)));
            }
            let count = be32(&fields[count_at..]);
            let needed = count.saturating_mul(entry_bytes);
            if needed > room.saturating_sub(count_at as u64 + 4) {
                return Err(format!("MP4 table '{}' claims {count} entries in {room} bytes", String::from_utf8_lossy(kind)));
            }
            Ok(())
        };
        match kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"udta" | b"edts" | b"dinf" | b"mvex" | b"moof" | b"traf" | b"ilst" => {
                self.boxes(payload, end, depth + 1)
            }
            // An iTunes metadata item holds `data` boxes; walking it bounds their sizes.
            [0xa9, ..] | b"covr" | b"trkn" | b"disk" | b"----" | b"aART" | b"gnre" | b"tmpo" => self.boxes(payload, end, depth + 1),
            // ISO `meta` has version and flags before its children; QuickTime's has not.
            b"meta" => {
                let iso = fields.len() >= 8 && be32(&fields[0..4]) == 0 && !fields[4..8].iter().all(u8::is_ascii_alphanumeric);
                self.boxes(if iso { payload + 4 } else { payload }, end, depth + 1)
            }
            b"stsd" => self.sample_descriptions(payload, end),
            b"stsc" => table(12, 4),
            b"stts" | b"ctts" => table(8, 4),
            b"stco" | b"stss" => table(4, 4),
            b"co64" => table(8, 4),
            b"stsz" => {
                if fields.len() < 12 {
                    return Err("MP4 table 'stsz' is cut short".into());
                }
                let sample_size = be32(&fields[4..8]);
                if sample_size > self.len {
                    return Err(format!("MP4 'stsz' claims {sample_size}-byte samples in a {}-byte file", self.len));
                }
                if sample_size != 0 {
                    return Ok(());
                }
                table(4, 8)?;
                self.sample_sizes(payload + 12, be32(&fields[8..12]))
            }
            _ => Ok(()),
        }
    }

    /// Each sample's size sizes the buffer its packet is read into: none may exceed the file.
    fn sample_sizes(&mut self, at: u64, count: u64) -> Result<(), Malformed> {
        let mut entries = vec![0u8; usize::try_from(count.min(MAX_CHECKED_SAMPLES) * 4).unwrap_or(0)];
        let got = read_at(self.source, at, &mut entries).map_err(|e| e.to_string())?;
        match entries[..got].chunks_exact(4).map(be32).find(|&size| size > self.len) {
            Some(size) => Err(format!("MP4 'stsz' claims a {size}-byte sample in a {}-byte file", self.len)),
            None => Ok(()),
        }
    }

    /// Sample descriptions: the ALAC cookie's frame length sizes the decoder's buffers.
    fn sample_descriptions(&mut self, payload: u64, end: u64) -> Result<(), Malformed> {
        let room = usize::try_from((end - payload).min(64 << 10)).unwrap_or(0);
        let mut bytes = vec![0u8; room];
        let got = read_at(self.source, payload, &mut bytes).map_err(|e| e.to_string())?;
        let bytes = &bytes[..got];
        // The cookie box is `size 'alac' version+flags frameLength … numChannels …`;
        // the sample entry itself is also named 'alac', so every occurrence
        // with room for a cookie after it is checked.
        let mut from = 0;
        while let Some(found) = bytes[from..].windows(4).position(|w| w == b"alac") {
            let at = from + found;
            from = at + 4;
            let cookie = at + 8;
            if at < 4 || bytes.len() < cookie + 10 || be32(&bytes[at - 4..at]) != 36 {
                continue;
            }
            let frame_length = be32(&bytes[cookie..]);
            let channels = bytes[cookie + 9];
            if frame_length == 0 || frame_length > u64::from(MAX_ALAC_FRAME) || channels == 0 || channels > MAX_ALAC_CHANNELS {
                return Err(format!("ALAC header claims {frame_length}-sample frames of {channels} channels"));
            }
        }
        Ok(())
    }
}

/// FLAC metadata blocks from `start` (the `fLaC` marker).
fn flac<R: Read + Seek>(source: &mut R, start: u64, len: u64) -> Result<(), Malformed> {
    let mut at = start + 4;
    loop {
        let mut header = [0u8; 4];
        if read_at(source, at, &mut header).map_err(|e| e.to_string())? < 4 {
            return Ok(());
        }
        let last = header[0] & 0x80 != 0;
        let kind = header[0] & 0x7f;
        let block_len = be32(&[0, header[1], header[2], header[3]]);
        let body = at + 4;
        if block_len > len.saturating_sub(body) {
            // A truncated file keeps what it has; only the fields below are sized before reading.
            if kind == 4 || kind == 6 {
                return Err(format!("FLAC metadata block {kind} claims {block_len} bytes where {} remain", len.saturating_sub(body)));
            }
            return Ok(());
        }
        match kind {
            4 => comment_lengths(source, body, block_len, "FLAC comment")?,
            6 => picture_lengths(source, body, block_len)?,
            _ => {}
        }
        if last {
            return Ok(());
        }
        at = body + block_len;
    }
}

/// A Vorbis comment list (vendor string, count, length-prefixed comments),
/// little-endian, in `room` bytes at `at`.
fn comment_lengths<R: Read + Seek>(source: &mut R, at: u64, room: u64, what: &str) -> Result<(), Malformed> {
    let mut block = vec![0u8; usize::try_from(room.min(MAX_OGG_HEADER_BYTES)).unwrap_or(0)];
    let got = read_at(source, at, &mut block).map_err(|e| e.to_string())?;
    comment_fields(&block[..got], room, what)
}

fn comment_fields(block: &[u8], room: u64, what: &str) -> Result<(), Malformed> {
    // Each length is read at `offset`, which then moves past it; a block cut
    // short by the read limit ends the check (nothing more to trust or refuse).
    let take = |offset: &mut u64, field: &str| -> Result<Option<u64>, Malformed> {
        let Some(bytes) = usize::try_from(*offset).ok().and_then(|o| block.get(o..o + 4)) else { return Ok(None) };
        let length = le32(bytes);
        *offset += 4;
        let left = room.saturating_sub(*offset);
        if length > left {
            return Err(format!("{what} {field} claims {length} bytes where {left} remain"));
        }
        Ok(Some(length))
    };
    let mut offset = 0u64;
    let Some(vendor) = take(&mut offset, "vendor string")? else { return Ok(()) };
    offset += vendor;
    let Some(count) = take(&mut offset, "count")? else { return Ok(()) };
    if count.saturating_mul(4) > room.saturating_sub(offset) {
        return Err(format!("{what} claims {count} comments in {} bytes", room.saturating_sub(offset)));
    }
    for _ in 0..count {
        let Some(length) = take(&mut offset, "length")? else { return Ok(()) };
        offset += length;
    }
    Ok(())
}

/// A FLAC picture block: big-endian lengths of the MIME type, description and data.
fn picture_lengths<R: Read + Seek>(source: &mut R, at: u64, room: u64) -> Result<(), Malformed> {
    let mut offset = 4u64; // picture type
    for field in ["MIME type", "description"] {
        let mut word = [0u8; 4];
        if read_at(source, at + offset, &mut word).map_err(|e| e.to_string())? < 4 {
            return Ok(());
        }
        let length = be32(&word);
        offset += 4;
        if length > room.saturating_sub(offset) {
            return Err(format!("FLAC picture {field} claims {length} bytes where {} remain", room.saturating_sub(offset)));
        }
        offset += length;
    }
    offset += 16; // width, height, depth, colours
    let mut word = [0u8; 4];
    if read_at(source, at + offset, &mut word).map_err(|e| e.to_string())? == 4 {
        let length = be32(&word);
        if length > room.saturating_sub(offset + 4) {
            return Err(format!("FLAC picture data claims {length} bytes where {} remain", room.saturating_sub(offset + 4)));
        }
    }
    Ok(())
}

/// The comment header of the first logical stream (Vorbis or Opus), reassembled from its pages.
fn ogg<R: Read + Seek>(source: &mut R, len: u64) -> Result<(), Malformed> {
    let mut packets: Vec<Vec<u8>> = vec![Vec::new()];
    let mut at = 0u64;
    let mut serial = None;
    while at + 27 <= len.min(MAX_OGG_HEADER_BYTES) && packets.len() < 3 {
        let mut header = [0u8; 27];
        if read_at(source, at, &mut header).map_err(|e| e.to_string())? < 27 || &header[0..4] != b"OggS" {
            return Ok(());
        }
        let page_serial = le32(&header[14..18]);
        let segments = usize::from(header[26]);
        let mut table = vec![0u8; segments];
        if read_at(source, at + 27, &mut table).map_err(|e| e.to_string())? < segments {
            return Ok(());
        }
        let mut body_at = at + 27 + segments as u64;
        let page_len: u64 = table.iter().map(|&s| u64::from(s)).sum();
        if *serial.get_or_insert(page_serial) == page_serial {
            for &lace in &table {
                let mut piece = vec![0u8; usize::from(lace)];
                let got = read_at(source, body_at, &mut piece).map_err(|e| e.to_string())?;
                body_at += u64::from(lace);
                if let Some(packet) = packets.last_mut() {
                    packet.extend_from_slice(&piece[..got]);
                }
                if lace < 255 {
                    packets.push(Vec::new());
                }
            }
        }
        at += 27 + segments as u64 + page_len;
    }
    let Some(comment) = packets.get(1).filter(|_| packets.len() >= 3) else { return Ok(()) };
    let (prefix, what) = if comment.starts_with(b"\x03vorbis") {
        (7, "Vorbis comment")
    } else if comment.starts_with(b"OpusTags") {
        (8, "Opus comment")
    } else {
        return Ok(());
    };
    comment_fields(&comment[prefix..], (comment.len() - prefix) as u64, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn checked(bytes: &[u8]) -> Result<(), Malformed> {
        check(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn tables_that_claim_more_entries_than_their_box_holds_are_refused() {
        // The 72-byte file that made symphonia ask for 64 GiB (stsc count 0xffffffff).
        let stsc = hex(
            "00000010667479704d34412000000000000000386d6f6f76000000307472616b000000286d646961000000206d696e66000000187374626c000000107374736300000000ffffffff",
        );
        let error = checked(&stsc).unwrap_err();
        assert!(error.contains("'stsc' claims 4294967295 entries"), "{error}");
        // The same file with an honest count of 0 passes.
        let mut honest = stsc.clone();
        let n = honest.len();
        honest[n - 4..].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(checked(&honest), Ok(()));
    }

    #[test]
    fn flac_comment_and_picture_lengths_beyond_their_block_are_refused() {
        let comment = hex("664c61438400000c0000000001000000f0ffffff");
        assert!(checked(&comment).unwrap_err().contains("FLAC comment"), "{:?}", checked(&comment));
        let picture = hex("664c614386010000ff6681816361ff81");
        assert!(checked(&picture).is_err());
        // A well-formed comment block: vendor "x", one comment "a=b".
        let mut good = b"fLaC".to_vec();
        let body: Vec<u8> = [&1u32.to_le_bytes()[..], b"x", &1u32.to_le_bytes(), &3u32.to_le_bytes(), b"a=b"].concat();
        good.extend_from_slice(&[0x84, 0, 0, body.len() as u8]);
        good.extend_from_slice(&body);
        assert_eq!(checked(&good), Ok(()));
    }

    #[test]
    fn other_bytes_pass_unread() {
        assert_eq!(checked(b"RIFF\x00\x00\x00\x00WAVE"), Ok(()));
        assert_eq!(checked(b""), Ok(()));
    }
}

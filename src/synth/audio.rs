//! Real short audio files for indexing runs: chords and melodies whose
//! character follows the planned composer, work and recording, tagged like
//! the planned tracks.
//!
//! WAV (RIFF INFO tags) and FLAC (uncompressed "verbatim" frames, Vorbis
//! comments) are written here; MP3, Ogg Vorbis and M4A (AAC) are encoded by
//! ffmpeg when it is installed (a WAV written here, converted, removed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::storage::catalog::TrackTags;
use crate::synth::SynthError;
use crate::synth::catalogue::{self, PlannedTrack};

/// Sample rate of the written audio (Hz).
const RATE_HZ: u32 = 22_050;

/// Frames per FLAC block.
const FLAC_BLOCK: usize = 4096;

/// A file format the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AudioFormat {
    /// 16-bit PCM WAV, written here.
    Wav,
    /// FLAC, written here.
    Flac,
    /// MP3 (ffmpeg, libmp3lame).
    Mp3,
    /// Ogg Vorbis (ffmpeg, libvorbis).
    Ogg,
    /// AAC in MP4 (ffmpeg).
    M4a,
}

impl AudioFormat {
    /// Every format, in the order files cycle through them.
    pub const ALL: [AudioFormat; 5] = [AudioFormat::Flac, AudioFormat::Wav, AudioFormat::Mp3, AudioFormat::Ogg, AudioFormat::M4a];

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Flac => "flac",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Ogg => "ogg",
            AudioFormat::M4a => "m4a",
        }
    }

    /// ffmpeg's codec arguments, for the formats it encodes.
    fn ffmpeg_codec(self) -> Option<&'static [&'static str]> {
        match self {
            AudioFormat::Wav | AudioFormat::Flac => None,
            AudioFormat::Mp3 => Some(&["-c:a", "libmp3lame", "-b:a", "128k"]),
            AudioFormat::Ogg => Some(&["-c:a", "libvorbis", "-q:a", "3"]),
            AudioFormat::M4a => Some(&["-c:a", "aac", "-b:a", "128k"]),
        }
    }
}

/// What audio to write.
#[derive(Debug, Clone)]
pub struct AudioOptions {
    /// Number of files.
    pub files: usize,
    /// Seed for the plan (the same as a catalog's gives the same tags).
    pub seed: u64,
    /// Length of each file (s).
    pub seconds: f32,
    /// Formats, cycled through file by file.
    pub formats: Vec<AudioFormat>,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct AudioSummary {
    /// Files written per format.
    pub per_format: Vec<(AudioFormat, usize)>,
    /// Formats asked for but left out because ffmpeg is not installed.
    pub skipped: Vec<AudioFormat>,
}

/// Whether ffmpeg can be run.
pub fn ffmpeg_available() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok_and(|o| o.status.success())
}

/// Writes `options.files` tagged files below `out` (`Artist/Album (year)/d-nn Title.ext`),
/// on every core; `progress(done, total)` is called as files are finished.
pub fn write_audio(out: &Path, options: &AudioOptions, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<AudioSummary, SynthError> {
    let ffmpeg = ffmpeg_available();
    let (formats, skipped): (Vec<AudioFormat>, Vec<AudioFormat>) =
        options.formats.iter().partition(|f| ffmpeg || f.ffmpeg_codec().is_none());
    let formats = if formats.is_empty() { vec![AudioFormat::Flac, AudioFormat::Wav] } else { formats };
    let plan = catalogue::plan(options.files, options.seed);
    let done = AtomicUsize::new(0);
    let write_range = |range: std::ops::Range<usize>| -> Result<(), SynthError> {
        for i in range {
            let format = formats[i % formats.len()];
            let path = out.join(&plan[i].relative_path).with_extension(format.extension());
            write_file(&path, &plan[i], i, format, options.seconds)?;
            let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
            if finished.is_multiple_of(100) || finished == plan.len() {
                progress(finished, plan.len());
            }
        }
        Ok(())
    };
    crate::parallel::map_ranges("synth-audio", plan.len(), 16, write_range).into_iter().collect::<Result<Vec<()>, _>>()?;
    let per_format = formats.iter().map(|&f| (f, (0..plan.len()).filter(|i| formats[i % formats.len()] == f).count())).collect();
    Ok(AudioSummary { per_format, skipped })
}

/// Wraps an I/O error with the file it concerns.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |error| SynthError::Io { path: path.to_path_buf(), error }
}

fn write_file(path: &Path, track: &PlannedTrack, index: usize, format: AudioFormat, seconds: f32) -> Result<(), SynthError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let samples = synthesize(track, index, seconds);
    match format.ffmpeg_codec() {
        None if format == AudioFormat::Flac => std::fs::write(path, flac_bytes(&samples, &track.tags)).map_err(io(path)),
        None => std::fs::write(path, wav_bytes(&samples, &track.tags)).map_err(io(path)),
        Some(codec) => {
            let temporary = PathBuf::from(format!("{}.tmp.wav", path.display()));
            std::fs::write(&temporary, wav_bytes(&samples, &TrackTags::default())).map_err(io(&temporary))?;
            let mut command = Command::new("ffmpeg");
            command.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"]).arg(&temporary).args(codec);
            for (key, value) in tag_pairs(&track.tags) {
                command.arg("-metadata").arg(format!("{key}={value}"));
            }
            let status = command.arg(path).status();
            let _ = std::fs::remove_file(&temporary);
            match status {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => Err(io(path)(std::io::Error::other(format!("ffmpeg failed ({status})")))),
                Err(error) => Err(io(path)(error)),
            }
        }
    }
}

/// The planned tags as (Vorbis comment / ffmpeg metadata key, value) pairs.
fn tag_pairs(tags: &TrackTags) -> Vec<(&'static str, String)> {
    let text = [
        ("title", &tags.title),
        ("artist", &tags.artist),
        ("album", &tags.album),
        ("album_artist", &tags.album_artist),
        ("composer", &tags.composer),
        ("work", &tags.work),
        ("genre", &tags.genre),
        ("date", &tags.date),
    ];
    let mut pairs: Vec<(&'static str, String)> = text.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))).collect();
    pairs.extend(tags.track_no.map(|n| ("track", n.to_string())));
    pairs.extend(tags.disc.map(|n| ("disc", n.to_string())));
    pairs
}

/// A few seconds of a chord with a melody over it: the composer sets the key,
/// the work the mode and tempo, the recording the timbre (number of harmonics).
fn synthesize(track: &PlannedTrack, index: usize, seconds: f32) -> Vec<f32> {
    let hash = |group: usize, salt: u64| crate::prng::SplitMix64(group as u64 ^ salt).next_u64();
    let root_hz = 110.0 * 2f32.powf((hash(track.composer, 1) % 12) as f32 / 12.0);
    let third = if hash(track.work, 2) % 2 == 0 { 4.0 } else { 3.0 };
    let beats_per_s = 1.0 + (hash(track.work, 3) % 200) as f32 / 100.0;
    let harmonics = 1 + (hash(track.album, 4) % 6) as usize;
    let melody_seed = hash(index, 5);
    let scale = [0.0, 2.0, third, 5.0, 7.0, 9.0, 11.0, 12.0];
    let n = (seconds.max(0.1) * RATE_HZ as f32) as usize;
    let tau = std::f32::consts::TAU;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE_HZ as f32;
            let beat = (t * beats_per_s) as u64;
            let step = scale[((melody_seed >> (beat % 16 * 3)) % scale.len() as u64) as usize];
            let melody_hz = 2.0 * root_hz * 2f32.powf(step / 12.0);
            let beat_phase = (t * beats_per_s).fract();
            let mut v = 0.0;
            for h in 1..=harmonics {
                let h = h as f32;
                for interval in [0.0, third, 7.0] {
                    v += 0.12 * (tau * root_hz * 2f32.powf(interval / 12.0) * h * t).sin() / h;
                }
                v += 0.25 * (-4.0 * beat_phase).exp() * (tau * melody_hz * h * t).sin() / h;
            }
            (0.5 * v).clamp(-1.0, 1.0)
        })
        .collect()
}

fn pcm16(samples: &[f32]) -> impl Iterator<Item = i16> + '_ {
    samples.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
}

/// A mono 16-bit WAV with a RIFF INFO list (title, artist, album, composer, genre, date, track).
fn wav_bytes(samples: &[f32], tags: &TrackTags) -> Vec<u8> {
    let mut info = Vec::new();
    let items = [
        ("INAM", tags.title.clone()),
        ("IART", tags.artist.clone()),
        ("IPRD", tags.album.clone()),
        ("IMUS", tags.composer.clone()),
        ("IGNR", tags.genre.clone()),
        ("ICRD", tags.date.clone()),
        ("IPRT", tags.track_no.map(|n| n.to_string())),
    ];
    for (id, value) in items.iter().filter_map(|(id, v)| v.as_ref().map(|v| (id, v))) {
        let mut text = value.as_bytes().to_vec();
        text.push(0);
        info.extend_from_slice(id.as_bytes());
        info.extend_from_slice(&(text.len() as u32).to_le_bytes());
        info.extend_from_slice(&text);
        if text.len() % 2 == 1 {
            info.push(0);
        }
    }
    let data_len = samples.len() * 2;
    let list_len = if info.is_empty() { 0 } else { 12 + info.len() };
    let mut bytes = Vec::with_capacity(44 + list_len + data_len);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&((36 + list_len + data_len) as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&RATE_HZ.to_le_bytes());
    bytes.extend_from_slice(&(RATE_HZ * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    if !info.is_empty() {
        bytes.extend_from_slice(b"LIST");
        bytes.extend_from_slice(&((4 + info.len()) as u32).to_le_bytes());
        bytes.extend_from_slice(b"INFO");
        bytes.extend_from_slice(&info);
    }
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data_len as u32).to_le_bytes());
    for s in pcm16(samples) {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    bytes
}

/// A mono 16-bit FLAC of uncompressed ("verbatim") subframes, with Vorbis comments.
fn flac_bytes(samples: &[f32], tags: &TrackTags) -> Vec<u8> {
    let mut bytes = b"fLaC".to_vec();
    // STREAMINFO: block sizes, unknown frame sizes, rate / channels / bits / total samples, no MD5.
    bytes.extend_from_slice(&[0x00, 0x00, 0x00, 34]);
    bytes.extend_from_slice(&(FLAC_BLOCK as u16).to_be_bytes());
    bytes.extend_from_slice(&(FLAC_BLOCK as u16).to_be_bytes());
    bytes.extend_from_slice(&[0; 6]);
    let packed: u64 = (u64::from(RATE_HZ) << 44) | (15 << 36) | samples.len() as u64;
    bytes.extend_from_slice(&packed.to_be_bytes());
    bytes.extend_from_slice(&[0; 16]);
    // VORBIS_COMMENT, the last metadata block.
    let vendor = b"strata synth-library";
    let mut comments = Vec::new();
    comments.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    comments.extend_from_slice(vendor);
    let pairs: Vec<String> = tag_pairs(tags)
        .into_iter()
        .map(|(k, v)| match k {
            "album_artist" => format!("ALBUMARTIST={v}"),
            "track" => format!("TRACKNUMBER={v}"),
            "disc" => format!("DISCNUMBER={v}"),
            _ => format!("{}={v}", k.to_uppercase()),
        })
        .collect();
    comments.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for pair in &pairs {
        comments.extend_from_slice(&(pair.len() as u32).to_le_bytes());
        comments.extend_from_slice(pair.as_bytes());
    }
    bytes.push(0x84);
    bytes.extend_from_slice(&(comments.len() as u32).to_be_bytes()[1..]);
    bytes.extend_from_slice(&comments);
    let pcm: Vec<i16> = pcm16(samples).collect();
    for (number, block) in pcm.chunks(FLAC_BLOCK).enumerate() {
        let start = bytes.len();
        // Fixed block size; block size from the 16 bits after the number; rate from STREAMINFO; mono, 16 bits.
        bytes.extend_from_slice(&[0xFF, 0xF8, 0x70, 0x08]);
        utf8_number(&mut bytes, number as u32);
        bytes.extend_from_slice(&((block.len() - 1) as u16).to_be_bytes());
        let header_crc = crc8(&bytes[start..]);
        bytes.push(header_crc);
        // Subframe: verbatim, no wasted bits.
        bytes.push(0x02);
        for s in block {
            bytes.extend_from_slice(&s.to_be_bytes());
        }
        let frame_crc = crc16(&bytes[start..]);
        bytes.extend_from_slice(&frame_crc.to_be_bytes());
    }
    bytes
}

/// FLAC's UTF-8-like coding of a frame number (up to 2²¹ frames, hours of audio).
fn utf8_number(bytes: &mut Vec<u8>, n: u32) {
    match n {
        0..0x80 => bytes.push(n as u8),
        0x80..0x800 => bytes.extend_from_slice(&[0xC0 | (n >> 6) as u8, 0x80 | (n & 0x3F) as u8]),
        0x800..0x1_0000 => bytes.extend_from_slice(&[0xE0 | (n >> 12) as u8, 0x80 | ((n >> 6) & 0x3F) as u8, 0x80 | (n & 0x3F) as u8]),
        _ => bytes.extend_from_slice(&[
            0xF0 | ((n >> 18) & 0x07) as u8,
            0x80 | ((n >> 12) & 0x3F) as u8,
            0x80 | ((n >> 6) & 0x3F) as u8,
            0x80 | (n & 0x3F) as u8,
        ]),
    }
}

/// CRC-8, polynomial x⁸+x²+x+1, as FLAC frame headers use.
fn crc8(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |crc, &byte| (0..8).fold(crc ^ byte, |c, _| if c & 0x80 != 0 { (c << 1) ^ 0x07 } else { c << 1 }))
}

/// CRC-16, polynomial x¹⁶+x¹⁵+x²+1, as FLAC frames use.
fn crc16(data: &[u8]) -> u16 {
    data.iter()
        .fold(0u16, |crc, &byte| (0..8).fold(crc ^ (u16::from(byte) << 8), |c, _| if c & 0x8000 != 0 { (c << 1) ^ 0x8005 } else { c << 1 }))
}

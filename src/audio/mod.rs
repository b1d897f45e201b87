//! Decoding audio files to mono f32 and resampling.
//!
//! Symphonia (the same 0.5 release rodio plays with) reads FLAC, MP3, Ogg
//! Vorbis, WAV/PCM, AAC/M4A, ALAC and AIFF; rubato resamples. This module owns
//! turning a path into samples, whole or as excerpts found by seeking. It knows
//! nothing of models, descriptors or the catalog.
//!
//! [`AudioFile::read_excerpt`] seeks accurately and drops the frames before
//! the requested one. For WAV, AIFF, FLAC and ALAC the excerpt is the very
//! samples a full decode has there; for the lossy formats it is not yet
//! (tests/audio_decoding.rs measures each): MP3 lands about 2 samples off and
//! its first frame differs (no bit reservoir), Ogg Vorbis lands 1023 samples
//! (23 ms) late with identical samples, AAC up to 30 samples off with a
//! different first frame. A format that cannot seek makes `read_excerpt`
//! return `None`, and indexing decodes the whole file instead.
//!
//! Every public entry point is safe on hostile bytes: panics inside symphonia
//! or rubato are contained ([`crate::isolation`]) and become
//! [`AudioError::Crashed`], non-finite samples are replaced by silence and
//! counted ([`DecodeProblems`]), sample rates outside
//! [`MIN_SAMPLE_RATE_HZ`]..=[`MAX_SAMPLE_RATE_HZ`] are refused, and nothing
//! that is not a regular file (a FIFO, a device) is opened.

pub mod player;
pub mod preflight;

use std::fs::File;
use std::path::Path;

use rubato::Resampler as _;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

/// Longest stretch of audio decoded in one piece; longer files are cut here
/// so a corrupt header or an endless stream cannot exhaust memory.
pub const MAX_DECODE_S: f64 = 3.0 * 3600.0;

/// Lowest sample rate Strata decodes (telephone-era and test files go down to 1 kHz).
pub const MIN_SAMPLE_RATE_HZ: u32 = 1_000;

/// Highest sample rate Strata decodes (DXD is 352.8 kHz, some converters 768 kHz).
pub const MAX_SAMPLE_RATE_HZ: u32 = 768_000;

/// Problems met while decoding that did not stop it, counted so they can be
/// shown beside the track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeProblems {
    /// Packets that failed to decode and were skipped.
    pub skipped_packets: usize,
    /// NaN or infinite samples replaced by silence.
    pub non_finite_samples: usize,
    /// Samples beyond ±[`MAX_SAMPLE_MAGNITUDE`] (garbage in a float file), clipped there.
    pub out_of_range_samples: usize,
}

/// Largest sample magnitude kept: float files may go past ±1 (24 dB of
/// headroom covers any real mix); values near f32::MAX would overflow the
/// resampler's FFT into NaN.
pub const MAX_SAMPLE_MAGNITUDE: f32 = 16.0;

impl DecodeProblems {
    /// Adds another decoder's counts to these.
    pub fn add(&mut self, other: DecodeProblems) {
        self.skipped_packets += other.skipped_packets;
        self.non_finite_samples += other.non_finite_samples;
        self.out_of_range_samples += other.out_of_range_samples;
    }

    /// One line per kind of problem, for people; empty when there were none.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.skipped_packets > 0 {
            lines.push(format!("{} corrupt packet(s) skipped", self.skipped_packets));
        }
        if self.non_finite_samples > 0 {
            lines.push(format!("{} non-finite (NaN/Inf) sample(s) replaced by silence", self.non_finite_samples));
        }
        if self.out_of_range_samples > 0 {
            lines.push(format!("{} sample(s) far out of range clipped to ±{MAX_SAMPLE_MAGNITUDE}", self.out_of_range_samples));
        }
        lines
    }
}

/// Why a file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read.
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a format Strata can decode.
    #[error("not a supported audio format ({0})")]
    Unsupported(String),
    /// The container holds no decodable audio track.
    #[error("no audio track")]
    NoAudioTrack,
    /// Decoding failed before any audio came out.
    #[error("decoding failed: {0}")]
    Decode(String),
    /// The file decoded to no samples at all.
    #[error("contains no audio samples")]
    Empty,
    /// Resampling failed.
    #[error("resampling failed: {0}")]
    Resample(String),
    /// The stream states a sample rate Strata does not decode.
    #[error("sample rate {0} Hz is outside {MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz")]
    SampleRate(u32),
    /// Every sample decoded was NaN or infinite.
    #[error("every sample is NaN or infinite")]
    NonFinite,
    /// A length field claims more than the file holds (see [`preflight`]).
    #[error("malformed file: {0}")]
    Malformed(String),
    /// The decoder or resampler panicked on this file; the panic was contained.
    #[error("decoder crashed: {0}")]
    Crashed(String),
}

/// Runs decoder work with panics contained (see [`crate::isolation`]).
fn guarded<T>(work: impl FnOnce() -> Result<T, AudioError>) -> Result<T, AudioError> {
    crate::isolation::contain(work).unwrap_or_else(|message| Err(AudioError::Crashed(message)))
}

/// Mono samples at a known rate.
#[derive(Debug, Clone, PartialEq)]
pub struct MonoAudio {
    /// Samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Their sample rate.
    pub sample_rate_hz: u32,
}

impl MonoAudio {
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate_hz.max(1))
    }

    /// The same audio at `target_hz`.
    pub fn resampled(self, target_hz: u32) -> Result<MonoAudio, AudioError> {
        if self.sample_rate_hz == target_hz {
            return Ok(self);
        }
        Ok(MonoAudio { samples: resample(&self.samples, self.sample_rate_hz, target_hz)?, sample_rate_hz: target_hz })
    }
}

/// An open audio file, positioned for sequential or excerpt reads.
pub struct AudioFile {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_rate_hz: u32,
    duration_s: Option<f64>,
    sample_buffer: Option<SampleBuffer<f32>>,
    problems: DecodeProblems,
}

/// Opens `path` for reading only if it is (still) a regular file. On Unix the
/// open itself cannot block (`O_NONBLOCK`: a FIFO would otherwise wait for a
/// writer), and the check is on the opened handle, so a file swapped for a
/// FIFO or a device after the library was scanned is refused, not read.
pub fn open_regular_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other(format!("not a regular file ({})", describe_file_type(metadata.file_type()))));
    }
    Ok(file)
}

/// What a file that is not a regular file is, in words ("a FIFO", "a folder"…),
/// for the reasons Strata gives when it refuses one.
pub fn describe_file_type(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    "an unusual entry"
}

impl AudioFile {
    /// Opens and probes `path`; the extension is only a hint, the bytes decide.
    /// Anything but a regular file is refused before it is opened, so a FIFO
    /// or a device named like music never blocks or streams for ever.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let mut file = open_regular_file(path)?;
        let len = file.metadata()?.len();
        preflight::check(&mut file, len).map_err(AudioError::Malformed)?;
        Self::probe(Box::new(file), path.extension().and_then(|e| e.to_str()))
    }

    /// Opens audio held in memory; `extension_hint` plays the part of a file's extension.
    pub fn from_bytes(bytes: Vec<u8>, extension_hint: Option<&str>) -> Result<Self, AudioError> {
        let len = bytes.len() as u64;
        let mut cursor = std::io::Cursor::new(bytes);
        preflight::check(&mut cursor, len).map_err(AudioError::Malformed)?;
        Self::probe(Box::new(cursor), extension_hint)
    }

    fn probe(source: Box<dyn MediaSource>, extension_hint: Option<&str>) -> Result<Self, AudioError> {
        guarded(|| Self::probe_unguarded(source, extension_hint))
    }

    fn probe_unguarded(source: Box<dyn MediaSource>, extension_hint: Option<&str>) -> Result<Self, AudioError> {
        let stream = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension_hint {
            hint.with_extension(ext);
        }
        let format_options = FormatOptions { enable_gapless: true, ..FormatOptions::default() };
        let probed =
            symphonia::default::get_probe().format(&hint, stream, &format_options, &MetadataOptions::default()).map_err(|e| match e {
                SymphoniaError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => AudioError::Io(io),
                other => AudioError::Unsupported(other.to_string()),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some())
            .ok_or(AudioError::NoAudioTrack)?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let sample_rate_hz = params.sample_rate.ok_or(AudioError::NoAudioTrack)?;
        if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz) {
            return Err(AudioError::SampleRate(sample_rate_hz));
        }
        let duration_s = match (params.n_frames, params.time_base) {
            (Some(frames), Some(time_base)) if time_base.denom > 0 => {
                let time = time_base.calc_time(frames);
                Some(time.seconds as f64 + time.frac)
            }
            (Some(frames), _) => Some(frames as f64 / f64::from(sample_rate_hz)),
            _ => None,
        }
        .filter(|d| d.is_finite() && *d > 0.0);
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| AudioError::Unsupported(e.to_string()))?;
        Ok(Self { format, decoder, track_id, sample_rate_hz, duration_s, sample_buffer: None, problems: DecodeProblems::default() })
    }

    /// The file's native sample rate.
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// Duration from the container header, when it states one. Headers can lie
    /// (a truncated file keeps its original length); decoding has the last word.
    pub fn header_duration_s(&self) -> Option<f64> {
        self.duration_s
    }

    /// What went wrong so far without stopping the decode.
    pub fn problems(&self) -> DecodeProblems {
        self.problems
    }

    /// Decodes from the current position to the end (at most [`MAX_DECODE_S`]).
    pub fn read_to_end(&mut self) -> Result<MonoAudio, AudioError> {
        let max_frames = (MAX_DECODE_S * f64::from(self.sample_rate_hz)) as usize;
        let samples = guarded(|| self.decode_frames(0, max_frames))?;
        if samples.is_empty() {
            return Err(AudioError::Empty);
        }
        Ok(MonoAudio { samples, sample_rate_hz: self.sample_rate_hz })
    }

    /// Seeks to `start_s` and decodes `length_s` seconds (less at the end of the
    /// file). Returns `None` when the format cannot seek there.
    pub fn read_excerpt(&mut self, start_s: f64, length_s: f64) -> Result<Option<MonoAudio>, AudioError> {
        if !start_s.is_finite() || !length_s.is_finite() || length_s <= 0.0 || length_s > MAX_DECODE_S {
            return Ok(Some(MonoAudio { samples: Vec::new(), sample_rate_hz: self.sample_rate_hz }));
        }
        guarded(|| self.read_excerpt_unguarded(start_s, length_s))
    }

    fn read_excerpt_unguarded(&mut self, start_s: f64, length_s: f64) -> Result<Option<MonoAudio>, AudioError> {
        let seeked =
            self.format.seek(SeekMode::Accurate, SeekTo::Time { time: Time::from(start_s.max(0.0)), track_id: Some(self.track_id) });
        let Ok(seeked) = seeked else { return Ok(None) };
        self.decoder.reset();
        let skip = seeked.required_ts.saturating_sub(seeked.actual_ts) as usize;
        let frames = (length_s * f64::from(self.sample_rate_hz)).round() as usize;
        let samples = self.decode_frames(skip, frames)?;
        Ok(Some(MonoAudio { samples, sample_rate_hz: self.sample_rate_hz }))
    }

    /// Decodes packets, drops the first `skip` mono frames, and returns up to
    /// `max_frames` frames. Corrupt packets are skipped; a read error after some
    /// audio ends the stream (a truncated file keeps what it has).
    fn decode_frames(&mut self, mut skip: usize, max_frames: usize) -> Result<Vec<f32>, AudioError> {
        let mut mono = Vec::new();
        let mut non_finite_here = 0;
        let mut first_error: Option<String> = None;
        while mono.len() < max_frames {
            let packet = match self.format.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(_)) => break,
                Err(SymphoniaError::ResetRequired) => break,
                Err(e) => {
                    first_error.get_or_insert_with(|| e.to_string());
                    break;
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(SymphoniaError::DecodeError(e)) => {
                    self.problems.skipped_packets += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                    continue;
                }
                Err(SymphoniaError::IoError(_)) => break,
                Err(e) => {
                    first_error.get_or_insert_with(|| e.to_string());
                    break;
                }
            };
            let spec = *decoded.spec();
            let channels = spec.channels.count().max(1);
            let capacity = decoded.capacity() as u64;
            let buffer = match &mut self.sample_buffer {
                Some(buffer) if buffer.capacity() >= decoded.capacity() * channels => buffer,
                slot => slot.insert(SampleBuffer::new(capacity, spec)),
            };
            buffer.copy_interleaved_ref(decoded);
            let interleaved = buffer.samples();
            let frames = interleaved.len() / channels;
            let start = skip.min(frames);
            skip -= start;
            let scale = 1.0 / channels as f32;
            let wanted = (max_frames - mono.len()).min(frames - start);
            let (mut non_finite, mut out_of_range) = (0, 0);
            mono.extend(interleaved[start * channels..(start + wanted) * channels].chunks_exact(channels).map(|frame| {
                let value = frame.iter().sum::<f32>() * scale;
                if !value.is_finite() {
                    non_finite += 1;
                    0.0
                } else if value.abs() > MAX_SAMPLE_MAGNITUDE {
                    out_of_range += 1;
                    value.clamp(-MAX_SAMPLE_MAGNITUDE, MAX_SAMPLE_MAGNITUDE)
                } else {
                    value
                }
            }));
            self.problems.non_finite_samples += non_finite;
            self.problems.out_of_range_samples += out_of_range;
            non_finite_here += non_finite;
        }
        if !mono.is_empty() && non_finite_here == mono.len() {
            return Err(AudioError::NonFinite);
        }
        match first_error {
            Some(reason) if mono.is_empty() => Err(AudioError::Decode(reason)),
            _ => Ok(mono),
        }
    }
}

/// Decodes a whole file to mono at `target_hz` (or its own rate when `None`).
pub fn decode_mono(path: &Path, target_hz: Option<u32>) -> Result<MonoAudio, AudioError> {
    let audio = AudioFile::open(path)?.read_to_end()?;
    match target_hz {
        Some(rate) => audio.resampled(rate),
        None => Ok(audio),
    }
}

/// How many samples [`resample`] returns for `len` samples from `from_hz` to `to_hz`.
pub fn resampled_len(len: usize, from_hz: u32, to_hz: u32) -> usize {
    if from_hz == to_hz || from_hz == 0 { len } else { (len as u64 * u64::from(to_hz)).div_ceil(u64::from(from_hz)) as usize }
}

/// Resamples mono `samples` from `from_hz` to `to_hz` with rubato's FFT
/// resampler, compensating its delay so output sample `i` lines up with
/// input time `i / to_hz`.
/// Non-finite input samples are resampled as silence (rubato's FFT panics
/// on NaN); rates outside [`MIN_SAMPLE_RATE_HZ`]..=[`MAX_SAMPLE_RATE_HZ`] are refused.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    if from_hz == to_hz || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    for rate in [from_hz, to_hz] {
        if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&rate) {
            return Err(AudioError::SampleRate(rate));
        }
    }
    let in_range = |v: f32| v.is_finite() && v.abs() <= MAX_SAMPLE_MAGNITUDE;
    if samples.iter().all(|&v| in_range(v)) {
        guarded(|| resample_finite(samples, from_hz, to_hz))
    } else {
        let finite: Vec<f32> =
            samples.iter().map(|&v| if v.is_finite() { v.clamp(-MAX_SAMPLE_MAGNITUDE, MAX_SAMPLE_MAGNITUDE) } else { 0.0 }).collect();
        guarded(|| resample_finite(&finite, from_hz, to_hz))
    }
}

/// Flush calls in a row that may write nothing before the resampler counts as drained:
/// enough for an FFT input of 64 chunks (rate pairs with a large common period).
const MAX_SILENT_FLUSHES: usize = 64;

fn resample_finite(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    const CHUNK: usize = 4096;
    let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
    let mut resampler = rubato::FftFixedIn::<f32>::new(from_hz as usize, to_hz as usize, CHUNK, 2, 1).map_err(|e| err(&e))?;
    let expected = resampled_len(samples.len(), from_hz, to_hz);
    let delay = resampler.output_delay();
    let mut output = Vec::with_capacity(expected + delay + CHUNK);
    let mut out_buffer = resampler.output_buffer_allocate(true);
    let mut position = 0;
    while position < samples.len() {
        let need = resampler.input_frames_next();
        let end = (position + need).min(samples.len());
        let chunk = &samples[position..end];
        let (_, written) = if chunk.len() == need {
            resampler.process_into_buffer(&[chunk], &mut out_buffer, None)
        } else {
            resampler.process_partial_into_buffer(Some(&[chunk]), &mut out_buffer, None)
        }
        .map_err(|e| err(&e))?;
        output.extend_from_slice(&out_buffer[0][..written]);
        position = end;
    }
    // Flush with silence. At unusual rate pairs the FFT needs many chunks
    // before it writes anything, so calls that write nothing do not end the
    // flush; a bounded number of them in a row does.
    let mut silent_calls = 0;
    while output.len() < expected + delay && silent_calls < MAX_SILENT_FLUSHES {
        let (_, written) = resampler.process_partial_into_buffer(None::<&[&[f32]]>, &mut out_buffer, None).map_err(|e| err(&e))?;
        silent_calls = if written == 0 { silent_calls + 1 } else { 0 };
        output.extend_from_slice(&out_buffer[0][..written]);
    }
    let end = (delay + expected).min(output.len());
    Ok(output[delay.min(end)..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize).map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin()).collect()
    }

    #[test]
    fn resampling_keeps_length_frequency_and_alignment() {
        let input = sine(440.0, 44_100, 2.0);
        let output = resample(&input, 44_100, 16_000).unwrap();
        assert_eq!(output.len(), 32_000);
        let reference = sine(440.0, 16_000, 2.0);
        // Away from the edges the resampled sine matches the ideal one; the
        // residual is a sub-sample (<0.2 sample) group delay of the filter.
        let max_error = output[1000..31_000].iter().zip(&reference[1000..31_000]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(max_error < 0.05, "max error {max_error}");
        // Shifting by a whole sample would be far worse: alignment is right.
        let shifted = output[1001..31_001].iter().zip(&reference[1000..31_000]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(shifted > 2.0 * max_error, "misaligned: {shifted} vs {max_error}");
    }

    #[test]
    fn resampling_at_rates_with_a_long_common_period_keeps_every_sample() {
        // The FFT here needs ~28 chunks before it writes anything; the flush used to stop at the first empty call.
        assert_eq!(resample(&[0.5], 226_718, 332_232).unwrap().len(), 2);
        let input = sine(440.0, 226_718, 1.0);
        assert_eq!(resample(&input, 226_718, 332_232).unwrap().len(), 332_232);
    }

    #[test]
    fn out_of_range_and_non_finite_input_resamples_to_finite_output() {
        let mut input = sine(440.0, 44_100, 0.5);
        input[100] = 3.0e38;
        input[200] = f32::NAN;
        assert!(resample(&input, 44_100, 16_000).unwrap().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn resampling_same_rate_is_identity() {
        let input = sine(100.0, 16_000, 0.1);
        assert_eq!(resample(&input, 16_000, 16_000).unwrap(), input);
    }
}

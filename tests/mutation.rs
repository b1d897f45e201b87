//! Thousands of mutated copies of a small fixture per format through every
//! decode entry point: no panic may escape, no sample may be NaN or
//! infinite, no excerpt may be longer than asked for, and no input may hang
//! (20 s each) or hold more than [`PEAK_BUDGET_BYTES`] at once.
//!
//! Mutants are bit flips, byte overwrites with boundary values, truncations,
//! edits of header fields (to 0, 1, the maximum, ±1, random…), random 4-byte
//! windows near the start, and chunk duplications, deletions and splices,
//! alone or stacked. Mutant `i` of a format depends only on the format and
//! `i`, so a failure names a mutant that can be rebuilt; failing inputs are
//! saved under `target/tmp/mutation/`. Ogg page and FLAC frame checksums are
//! recomputed for most mutants so they reach the decoders instead of
//! stopping at a CRC check.
//!
//! Each format runs in a child process (this binary again), because an
//! allocation the machine cannot back aborts a process rather than panicking:
//! the abort fails that format with the mutant named, and the child restarts
//! past it. Within the child a named worker thread decodes while the test
//! thread watches the deadline.
//!
//! Panics that Strata contains (`AudioError::Crashed`, a tag reader crash)
//! are expected from the libraries below and counted per panic site;
//! `--nocapture` prints them with counts, timings and peak allocation.
//! `STRATA_MUTANTS=n` sets the number of mutants per format and
//! `STRATA_FIRST_MUTANT=i` the first one, so `STRATA_FIRST_MUTANT=49
//! STRATA_MUTANTS=1 cargo test --test mutation flac` reruns one;
//! `STRATA_ALLOC_LIMIT_MB=m` lowers the allocation limit; with
//! `STRATA_MUTATION_CHILD=1` (no child process) and `RUST_BACKTRACE=1` an
//! allocation over it aborts with the backtrace of the code that asked.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata::analysis::{Sampling, decode_excerpts};
use strata::audio::{AudioError, AudioFile, MAX_DECODE_S, decode_mono};
use strata::prng::SplitMix64;
use support::{ffmpeg, stereo, tone};

/// Mutants per format unless `STRATA_MUTANTS` says otherwise.
const DEFAULT_MUTANTS: usize = 3_000;
/// An input that takes longer than this has hung.
const DEADLINE: Duration = Duration::from_secs(20);
/// Most bytes one input may hold allocated at once (decoded audio included).
/// (An ID3v2 frame may legitimately claim 256 MiB, its 28-bit size's limit;
/// symphonia allocates that lazily before reading, which this allows.)
const PEAK_BUDGET_BYTES: usize = 512 << 20;
/// A decode asking for more than this is refused on the spot (the process
/// aborts), so a runaway input cannot exhaust the machine's memory. It is
/// above 4 GiB so that a buffer sized by a 32-bit length field from the file
/// (allocated lazily, mostly never touched) is reported with its mutant
/// against [`PEAK_BUDGET_BYTES`] instead of ending the run.
const HARD_LIMIT_BYTES: usize = 5 << 30;

/// [`HARD_LIMIT_BYTES`] or `STRATA_ALLOC_LIMIT_MB`, read once before any mutant runs.
static ALLOC_LIMIT_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(HARD_LIMIT_BYTES);
/// Length of each excerpt read after a seek.
const EXCERPT_S: f64 = 0.25;
/// The models' sample rate, which decoded audio is resampled to.
const MODEL_RATE_HZ: u32 = 16_000;
/// Excerpt sampling short enough that a 1 s fixture takes the seeking path.
const SPREAD: Sampling = Sampling::Spread { excerpts: 4, excerpt_s: 0.1, model_windows: None };

// ---------------------------------------------------------------------------
// Allocation accounting: per thread, so two formats running side by side do
// not see each other's bytes. Only the thread decoding mutants is limited.

thread_local! {
    static LIVE_BYTES: Cell<usize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<usize> = const { Cell::new(0) };
    static LARGEST_REQUEST: Cell<usize> = const { Cell::new(0) };
    static LIMITED: Cell<bool> = const { Cell::new(false) };
    /// Which mutant the thread is decoding, for the message when the limit is hit.
    static IN_FLIGHT: RefCell<String> = const { RefCell::new(String::new()) };
}

struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Counts `bytes` more as live on this thread; false when a limited thread
/// would pass [`ALLOC_LIMIT_BYTES`].
fn grow(bytes: usize) -> bool {
    let live = LIVE_BYTES.try_with(|live| live.get()).unwrap_or(0).saturating_add(bytes);
    if live > ALLOC_LIMIT_BYTES.load(std::sync::atomic::Ordering::Relaxed) && LIMITED.try_with(Cell::get).unwrap_or(false) {
        use std::io::Write as _;
        // No formatting here: this runs inside the allocator.
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(OVER_LIMIT.as_bytes());
        let _ = IN_FLIGHT.try_with(|in_flight| in_flight.try_borrow().map(|text| stderr.write_all(text.as_bytes())));
        let _ = stderr.write_all(b"\n");
        return false;
    }
    let _ = LIVE_BYTES.try_with(|cell| cell.set(live));
    let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(live)));
    let _ = LARGEST_REQUEST.try_with(|largest| largest.set(largest.get().max(bytes)));
    true
}

fn shrink(bytes: usize) {
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded to the system allocator unchanged (or
// refused with null, which callers handle); the bookkeeping only touches
// const-initialised thread-locals without destructors, and never allocates.
#[allow(unsafe_code, reason = "a counting global allocator is the only way to see what one input allocates")]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout contract is passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            if !grow(new_size - layout.size()) {
                return std::ptr::null_mut();
            }
        } else {
            shrink(layout.size() - new_size);
        }
        // SAFETY: `ptr` came from `System` through this allocator with `layout`; the caller's contract holds.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts a peak measurement on this thread; returns the live bytes now.
fn start_peak() -> usize {
    let live = LIVE_BYTES.with(Cell::get);
    PEAK_BYTES.with(|peak| peak.set(live));
    LARGEST_REQUEST.with(|largest| largest.set(0));
    live
}

// ---------------------------------------------------------------------------
// Escaped panics: a hook that, on threads decoding mutants, records the panic
// instead of printing it. It must be installed before Strata's own hook
// (crate::isolation), which wraps it and keeps contained panics from it.

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static LAST_ESCAPE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_escape_recorder() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if RECORDING.with(Cell::get) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let site = info.location().map_or("unknown place".into(), |l| format!("{}:{}", short_path(l.file()), l.line()));
                LAST_ESCAPE.with(|last| *last.borrow_mut() = Some(format!("{message} (at {site})")));
            } else {
                default_hook(info);
            }
        }));
    });
}

/// A dependency's source path from its crate folder on ("symphonia-core-0.5.5/src/…").
fn short_path(file: &str) -> String {
    match file.split_once("/registry/src/") {
        Some((_, rest)) => rest.split_once('/').map_or(rest, |(_, path)| path).to_string(),
        None => file.to_string(),
    }
}

/// The panic site of a contained panic's message, which ends "(at file:line)".
fn contained_site(message: &str) -> String {
    message.rsplit_once("(at ").map_or_else(|| message.to_string(), |(_, site)| short_path(site.trim_end_matches(')')))
}

// ---------------------------------------------------------------------------
// One mutant through every entry point.

/// What one input did to the entry points.
#[derive(Debug, Default)]
struct MutantReport {
    /// Panics that unwound out of an entry point: "entry point: message (at site)".
    escapes: Vec<String>,
    /// Entry points that returned a NaN or infinite sample.
    non_finite: Vec<String>,
    /// Excerpts longer than asked for.
    oversized: Vec<String>,
    /// Sites of panics the entry points contained.
    contained: Vec<String>,
    /// Whether `read_to_end` returned audio.
    decoded: bool,
    /// Most samples any one call returned.
    most_samples: usize,
    /// Most bytes allocated at once while the input was being decoded.
    peak_bytes: usize,
    /// The largest single allocation (or growth of one) among them.
    largest_request_bytes: usize,
    elapsed: Duration,
}

impl MutantReport {
    /// Calls one entry point; an escaped panic or a contained one is noted.
    fn call<T>(&mut self, entry_point: &str, work: impl FnOnce() -> Result<T, AudioError>) -> Option<T> {
        match self.call_infallible(entry_point, work)? {
            Ok(value) => Some(value),
            Err(AudioError::Crashed(message)) => {
                self.contained.push(contained_site(&message));
                None
            }
            Err(_) => None,
        }
    }

    fn call_infallible<T>(&mut self, entry_point: &str, work: impl FnOnce() -> T) -> Option<T> {
        RECORDING.with(|recording| recording.set(true));
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(work));
        RECORDING.with(|recording| recording.set(false));
        match outcome {
            Ok(value) => Some(value),
            Err(_) => {
                let message = LAST_ESCAPE.with(|last| last.borrow_mut().take()).unwrap_or_else(|| "unknown panic".into());
                self.escapes.push(format!("{entry_point}: {message}"));
                None
            }
        }
    }

    /// Checks the samples one call returned; `most` is how many it may return.
    fn check(&mut self, entry_point: &str, samples: &[f32], most: Option<usize>) {
        self.most_samples = self.most_samples.max(samples.len());
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            self.non_finite.push(format!("{entry_point}: sample {i} of {} is {}", samples.len(), samples[i]));
        }
        if let Some(most) = most.filter(|&most| samples.len() > most) {
            self.oversized.push(format!("{entry_point}: {} samples, asked for {most}", samples.len()));
        }
    }
}

/// Runs `bytes` through every decode entry point: from memory and from a file
/// at `path` (whose extension is the format's), whole, by seeking, as the
/// indexer samples excerpts, resampled, and through the tag reader.
fn exercise(bytes: &[u8], extension: &str, path: &Path) -> MutantReport {
    let mut report = MutantReport::default();
    let started = Instant::now();
    // Written first, so the file on disk is the input in flight should the process abort.
    std::fs::write(path, bytes).expect("write the mutant");
    let live_before = start_peak();

    if let Some(mut file) = report.call("AudioFile::from_bytes", || AudioFile::from_bytes(bytes.to_vec(), Some(extension))) {
        let rate_hz = file.sample_rate_hz();
        if let Some(audio) = report.call("read_to_end", || file.read_to_end()) {
            report.decoded = true;
            report.check("read_to_end", &audio.samples, Some((MAX_DECODE_S * f64::from(rate_hz)) as usize));
        }
    }

    if let Some(mut file) = report.call("AudioFile::open", || AudioFile::open(path)) {
        let rate_hz = file.sample_rate_hz();
        let most = (EXCERPT_S * f64::from(rate_hz)).round() as usize;
        let stated_s = file.header_duration_s().unwrap_or(1.0);
        // The start, the middle, past the end, and back.
        for start_s in [0.0, stated_s / 2.0, stated_s + 10.0, 0.1] {
            if let Some(Some(excerpt)) = report.call("read_excerpt", || file.read_excerpt(start_s, EXCERPT_S)) {
                report.check("read_excerpt", &excerpt.samples, Some(most));
            }
        }
    }
    if let Some(decoded) = report.call("decode_excerpts", || decode_excerpts(path, SPREAD)) {
        for excerpt in &decoded.excerpts {
            report.check("decode_excerpts", &excerpt.audio.samples, None);
        }
    }
    if let Some(audio) = report.call("decode_mono", || decode_mono(path, Some(MODEL_RATE_HZ))) {
        report.check("decode_mono", &audio.samples, None);
    }
    if let Some(tags) = report.call_infallible("read_tags", || strata::indexer::library::read_tags(path))
        && let Some(problem) = tags.problem.as_deref().and_then(|p| p.strip_prefix("tag reader crashed: "))
    {
        report.contained.push(contained_site(problem));
    }

    report.peak_bytes = PEAK_BYTES.with(Cell::get).saturating_sub(live_before);
    report.largest_request_bytes = LARGEST_REQUEST.with(Cell::get);
    report.elapsed = started.elapsed();
    report
}

// ---------------------------------------------------------------------------
// Fixtures.

#[derive(Clone, Copy)]
enum WavSample {
    Pcm16,
    Pcm24,
    Float32,
}

/// A WAV with the chunks real files carry: `fmt ` (the extensible form when
/// asked), `fact` for float, a `LIST` INFO title, then `data`.
fn wav_bytes(interleaved: &[f32], channels: u16, rate_hz: u32, sample: WavSample, extensible: bool) -> Vec<u8> {
    let (format_tag, bits) = match sample {
        WavSample::Pcm16 => (1u16, 16u16),
        WavSample::Pcm24 => (1, 24),
        WavSample::Float32 => (3, 32),
    };
    let block_align = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&(if extensible { 0xFFFEu16 } else { format_tag }).to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate_hz.to_le_bytes());
    fmt.extend_from_slice(&(rate_hz * u32::from(block_align)).to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt.extend_from_slice(&(if channels == 1 { 0x4u32 } else { 0x3 }).to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the format tag, then a fixed GUID tail.
        fmt.extend_from_slice(&u32::from(format_tag).to_le_bytes());
        fmt.extend_from_slice(&[0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]);
    }
    let mut data = Vec::new();
    for &s in interleaved {
        match sample {
            WavSample::Pcm16 => data.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()),
            WavSample::Pcm24 => data.extend_from_slice(&((s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32).to_le_bytes()[..3]),
            WavSample::Float32 => data.extend_from_slice(&s.to_le_bytes()),
        }
    }
    let frames = (interleaved.len() / usize::from(channels)) as u32;
    let mut chunks: Vec<(&[u8; 4], Vec<u8>)> = vec![(b"fmt ", fmt)];
    if matches!(sample, WavSample::Float32) {
        chunks.push((b"fact", frames.to_le_bytes().to_vec()));
    }
    let mut info = b"INFOINAM".to_vec();
    info.extend_from_slice(&8u32.to_le_bytes());
    info.extend_from_slice(b"mutant\0\0");
    chunks.push((b"LIST", info));
    chunks.push((b"data", data));
    let mut body = b"WAVE".to_vec();
    for (id, chunk) in chunks {
        body.extend_from_slice(id);
        body.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        body.extend_from_slice(&chunk);
        if chunk.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

/// A short stereo tone, ffmpeg-encoded with `codec_args` into a file named `name`.
fn encoded(dir: &Path, name: &str, rate_hz: u32, seconds: f32, codec_args: &[&str]) -> Vec<u8> {
    let source = dir.join(format!("{name}.source.wav"));
    std::fs::write(&source, wav_bytes(&stereo(&tone(330.0, rate_hz, seconds)), 2, rate_hz, WavSample::Pcm16, false)).expect("write source");
    let mut args = codec_args.to_vec();
    args.extend(["-metadata", "title=mutant", "-metadata", "artist=Strata"]);
    let encoded = ffmpeg(&source, &dir.join(name), &args);
    std::fs::read(encoded).expect("read the encoded fixture")
}

/// A header field relative to an anchor: (offset from the anchor, width in bytes, big-endian).
type FieldSpec = (isize, usize, bool);
/// The bytes that mark a structure (a chunk id, a box name, a sync code) and the fields after them.
type AnchoredFields = (&'static [u8], &'static [FieldSpec]);

/// The formats mutated, one test each.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Wav16,
    Wav24,
    WavFloat,
    Flac,
    Mp3,
    Vorbis,
    Aac,
    Aiff,
    Alac,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Wav16 => "wav-16",
            Format::Wav24 => "wav-24-extensible",
            Format::WavFloat => "wav-float",
            Format::Flac => "flac",
            Format::Mp3 => "mp3",
            Format::Vorbis => "ogg-vorbis",
            Format::Aac => "m4a-aac",
            Format::Aiff => "aiff",
            Format::Alac => "m4a-alac",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Wav16 | Format::Wav24 | Format::WavFloat => "wav",
            Format::Flac => "flac",
            Format::Mp3 => "mp3",
            Format::Vorbis => "ogg",
            Format::Aac | Format::Alac => "m4a",
            Format::Aiff => "aiff",
        }
    }

    /// About a second of audio or less: small files keep mutants fast and put
    /// a larger share of the mutations in headers.
    fn fixture(self, dir: &Path) -> Vec<u8> {
        match self {
            Format::Wav16 => wav_bytes(&stereo(&tone(330.0, 22_050, 0.5)), 2, 22_050, WavSample::Pcm16, false),
            Format::Wav24 => wav_bytes(&tone(330.0, 48_000, 0.3), 1, 48_000, WavSample::Pcm24, true),
            Format::WavFloat => wav_bytes(&stereo(&tone(330.0, 32_000, 0.4)), 2, 32_000, WavSample::Float32, false),
            Format::Flac => encoded(dir, "fixture.flac", 44_100, 1.0, &["-c:a", "flac", "-frame_size", "2048"]),
            Format::Mp3 => encoded(dir, "fixture.mp3", 44_100, 1.0, &["-c:a", "libmp3lame", "-b:a", "96k"]),
            Format::Vorbis => encoded(dir, "fixture.ogg", 44_100, 1.0, &["-c:a", "libvorbis", "-q:a", "2"]),
            Format::Aac => encoded(dir, "fixture.m4a", 44_100, 1.0, &["-c:a", "aac", "-b:a", "96k"]),
            Format::Aiff => encoded(dir, "fixture.aiff", 22_050, 0.5, &["-c:a", "pcm_s16be"]),
            Format::Alac => encoded(dir, "fixture.alac.m4a", 22_050, 0.5, &["-c:a", "alac"]),
        }
    }

    /// Header fields worth editing, by the bytes that mark where they are.
    fn field_specs(self) -> &'static [AnchoredFields] {
        const RIFF: &[AnchoredFields] = &[
            (b"RIFF", &[(4, 4, false)]),
            (
                b"fmt ",
                &[
                    (4, 4, false),
                    (8, 2, false),
                    (10, 2, false),
                    (12, 4, false),
                    (16, 4, false),
                    (20, 2, false),
                    (22, 2, false),
                    (24, 2, false),
                    (26, 2, false),
                    (28, 4, false),
                    (32, 2, false),
                ],
            ),
            (b"fact", &[(4, 4, false), (8, 4, false)]),
            (b"LIST", &[(4, 4, false), (16, 4, false)]),
            (b"data", &[(4, 4, false)]),
        ];
        const FLAC: &[AnchoredFields] = &[(
            b"fLaC",
            // STREAMINFO: block sizes, frame sizes, the packed rate/channels/bits/total, MD5.
            &[
                (4, 1, true),
                (5, 3, true),
                (8, 2, true),
                (10, 2, true),
                (12, 3, true),
                (15, 3, true),
                (18, 3, true),
                (20, 1, true),
                (21, 1, true),
                (22, 4, true),
                (18, 8, true),
                (26, 4, true),
            ],
        )];
        const MP3: &[AnchoredFields] = &[
            (b"ID3", &[(3, 2, true), (5, 1, true), (6, 4, true), (10, 4, true), (14, 4, true)]),
            (b"Info", &[(4, 4, true), (8, 4, true), (12, 4, true)]),
            (b"Xing", &[(4, 4, true), (8, 4, true), (12, 4, true)]),
            (b"LAME", &[(9, 1, true), (21, 3, true)]),
            (&[0xFF, 0xFB], &[(0, 4, true), (2, 1, true), (3, 1, true)]),
        ];
        const OGG: &[AnchoredFields] = &[
            (b"OggS", &[(4, 1, false), (5, 1, false), (6, 8, false), (14, 4, false), (18, 4, false), (26, 1, false), (27, 1, false)]),
            (
                b"\x01vorbis",
                &[
                    (7, 4, false),
                    (11, 1, false),
                    (12, 4, false),
                    (16, 4, false),
                    (20, 4, false),
                    (24, 4, false),
                    (28, 1, false),
                    (29, 1, false),
                ],
            ),
            (b"\x03vorbis", &[(7, 4, false), (11, 4, false)]),
            (
                b"\x05vorbis",
                &[(7, 1, false), (8, 3, false), (11, 2, false), (13, 3, false), (16, 1, false), (17, 1, false), (18, 4, false)],
            ),
        ];
        const MP4_WORDS: &[FieldSpec] = &[
            (-4, 4, true),
            (4, 4, true),
            (8, 4, true),
            (12, 4, true),
            (16, 4, true),
            (20, 2, true),
            (22, 2, true),
            (24, 4, true),
            (28, 4, true),
        ];
        const MP4: &[AnchoredFields] = &[
            (b"ftyp", MP4_WORDS),
            (b"moov", MP4_WORDS),
            (b"mvhd", MP4_WORDS),
            (b"trak", MP4_WORDS),
            (b"tkhd", MP4_WORDS),
            (b"mdia", MP4_WORDS),
            (b"mdhd", MP4_WORDS),
            (b"hdlr", MP4_WORDS),
            (b"minf", MP4_WORDS),
            (b"stbl", MP4_WORDS),
            (b"stsd", MP4_WORDS),
            (b"mp4a", MP4_WORDS),
            (b"alac", MP4_WORDS),
            (b"esds", MP4_WORDS),
            (b"stts", MP4_WORDS),
            (b"stsc", MP4_WORDS),
            (b"stsz", MP4_WORDS),
            (b"stco", MP4_WORDS),
            (b"co64", MP4_WORDS),
            (b"edts", MP4_WORDS),
            (b"elst", MP4_WORDS),
            (b"sgpd", MP4_WORDS),
            (b"sbgp", MP4_WORDS),
            (b"udta", MP4_WORDS),
            (b"meta", MP4_WORDS),
            (b"ilst", MP4_WORDS),
            (b"mdat", MP4_WORDS),
        ];
        const AIFF: &[AnchoredFields] = &[
            (b"FORM", &[(4, 4, true)]),
            (b"COMM", &[(4, 4, true), (8, 2, true), (10, 4, true), (14, 2, true), (16, 2, true), (18, 4, true), (22, 4, true)]),
            (b"SSND", &[(4, 4, true), (8, 4, true), (12, 4, true)]),
        ];
        match self {
            Format::Wav16 | Format::Wav24 | Format::WavFloat => RIFF,
            Format::Flac => FLAC,
            Format::Mp3 => MP3,
            Format::Vorbis => OGG,
            Format::Aac | Format::Alac => MP4,
            Format::Aiff => AIFF,
        }
    }
}

// ---------------------------------------------------------------------------
// Checksums, so most mutants get past the container's integrity checks.

fn crc_msb_first(bytes: &[u8], poly: u32, width: u32) -> u32 {
    let top = 1u32 << (width - 1);
    let mask = if width == 32 { u32::MAX } else { (1 << width) - 1 };
    let mut crc = 0u32;
    for &byte in bytes {
        crc ^= u32::from(byte) << (width - 8);
        for _ in 0..8 {
            crc = if crc & top != 0 { (crc << 1) ^ poly } else { crc << 1 } & mask;
        }
    }
    crc
}

/// Recomputes the CRC of every complete Ogg page.
fn fix_ogg_crcs(bytes: &mut [u8]) {
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], b"OggS") {
        let page = at + found;
        at = page + 4;
        let Some(&segments) = bytes.get(page + 26) else { break };
        let lacing_end = page + 27 + usize::from(segments);
        let Some(lacing) = bytes.get(page + 27..lacing_end) else { break };
        let end = lacing_end + lacing.iter().map(|&l| usize::from(l)).sum::<usize>();
        if end > bytes.len() {
            break;
        }
        bytes[page + 22..page + 26].fill(0);
        let crc = crc_msb_first(&bytes[page..end], 0x04C1_1DB7, 32);
        bytes[page + 22..page + 26].copy_from_slice(&crc.to_le_bytes());
    }
}

/// A FLAC frame of the unmutated fixture: where it starts and ends, and its header's length.
#[derive(Clone, Copy, Debug)]
struct FlacFrame {
    start: usize,
    header_len: usize,
    end: usize,
}

/// The fixture's frames: sync codes whose header CRC-8 and frame CRC-16 check out.
fn flac_frames(bytes: &[u8]) -> Vec<FlacFrame> {
    let header_at = |p: usize| -> Option<usize> {
        if bytes.get(p) != Some(&0xFF) || bytes.get(p + 1).is_none_or(|b| b & 0xFE != 0xF8) {
            return None;
        }
        (4..=16).find(|&h| bytes.get(p + h).is_some_and(|&crc| crc_msb_first(&bytes[p..p + h], 0x07, 8) == u32::from(crc)))
    };
    let starts: Vec<(usize, usize)> = (4..bytes.len()).filter_map(|p| header_at(p).map(|h| (p, h))).collect();
    let mut frames = Vec::new();
    for (i, &(start, header_len)) in starts.iter().enumerate() {
        // The next sync whose frame CRC-16 closes this one (a sync pattern can occur inside audio data).
        let ends = starts[i + 1..].iter().map(|&(next, _)| next).chain([bytes.len()]);
        for end in ends {
            let crc = crc_msb_first(&bytes[start..end - 2], 0x8005, 16);
            if u32::from(u16::from_be_bytes([bytes[end - 2], bytes[end - 1]])) == crc {
                frames.push(FlacFrame { start, header_len, end });
                break;
            }
        }
    }
    frames
}

/// Rewrites the CRC-8 and CRC-16 of every fixture frame still wholly inside `bytes`.
fn fix_flac_crcs(bytes: &mut [u8], frames: &[FlacFrame]) {
    let len = bytes.len();
    for frame in frames.iter().filter(|f| f.end <= len) {
        let header_end = frame.start + frame.header_len;
        bytes[header_end] = crc_msb_first(&bytes[frame.start..header_end], 0x07, 8) as u8;
        let crc = crc_msb_first(&bytes[frame.start..frame.end - 2], 0x8005, 16) as u16;
        bytes[frame.end - 2..frame.end].copy_from_slice(&crc.to_be_bytes());
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Mutation.

/// A header field of the fixture: `width` bytes at `offset`.
#[derive(Clone, Copy, Debug)]
struct Field {
    offset: usize,
    width: usize,
    big_endian: bool,
}

/// A fixture and what the mutator knows of its structure.
struct Fixture {
    format: Format,
    bytes: Vec<u8>,
    /// Where structures start (chunk ids, page and frame headers): mutations cluster around them.
    anchors: Vec<usize>,
    fields: Vec<Field>,
    flac_frames: Vec<FlacFrame>,
}

impl Fixture {
    fn new(format: Format, dir: &Path) -> Fixture {
        let bytes = format.fixture(dir);
        let flac_frames = if format == Format::Flac { flac_frames(&bytes) } else { Vec::new() };
        let mut anchors = Vec::new();
        let mut fields = Vec::new();
        let mut add_fields = |anchor: usize, specs: &[FieldSpec], anchors: &mut Vec<usize>| {
            anchors.push(anchor);
            for &(offset, width, big_endian) in specs {
                let Some(offset) = anchor.checked_add_signed(offset) else { continue };
                if offset + width <= bytes.len() {
                    fields.push(Field { offset, width, big_endian });
                }
            }
        };
        for &(pattern, specs) in format.field_specs() {
            // Every occurrence for the small headers; at most 32 for the repeated ones (pages, frames).
            let mut at = 0;
            let mut seen = 0;
            while let Some(found) = find(&bytes[at..], pattern) {
                add_fields(at + found, specs, &mut anchors);
                at += found + 1;
                seen += 1;
                if seen == 32 {
                    break;
                }
            }
        }
        // FLAC frame headers: block size and rate codes, channels and bits, the frame number.
        for frame in flac_frames.iter().take(32) {
            add_fields(frame.start, &[(2, 1, true), (3, 1, true), (4, 1, true), (5, 1, true)], &mut anchors);
        }
        anchors.sort_unstable();
        anchors.dedup();
        Fixture { format, bytes, anchors, fields, flac_frames }
    }

    /// Mutant `index`: its bytes and what was done, rebuilt the same way every time.
    fn mutant(&self, index: usize) -> (Vec<u8>, String) {
        let seed = self.format.name().bytes().fold(0x5EED_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut rng = SplitMix64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut bytes = self.bytes.clone();
        let steps = if rng.below(4) == 0 { 2 + rng.below(3) } else { 1 };
        let mut layout_kept = true;
        let mut done = Vec::new();
        for _ in 0..steps {
            done.push(self.mutate_once(&mut bytes, &mut rng, &mut layout_kept));
        }
        // Most mutants get valid checksums so they reach the decoder; some keep the broken ones.
        if rng.below(4) != 0 {
            match self.format {
                Format::Vorbis => {
                    fix_ogg_crcs(&mut bytes);
                    done.push("Ogg CRCs fixed".into());
                }
                Format::Flac if layout_kept => {
                    fix_flac_crcs(&mut bytes, &self.flac_frames);
                    done.push("FLAC CRCs fixed".into());
                }
                _ => {}
            }
        }
        (bytes, done.join("; "))
    }

    /// Somewhere to mutate: anywhere, near the start, near a structure, or near the end.
    fn offset(&self, len: usize, rng: &mut SplitMix64) -> usize {
        match rng.below(4) {
            0 => rng.below(len),
            1 => rng.below(len.min(256)),
            2 if !self.anchors.is_empty() => (self.anchors[rng.below(self.anchors.len())] + rng.below(48)).min(len - 1),
            _ => len - 1 - rng.below(len.min(256)),
        }
    }

    fn mutate_once(&self, bytes: &mut Vec<u8>, rng: &mut SplitMix64, layout_kept: &mut bool) -> String {
        const INTERESTING: [u8; 4] = [0x00, 0xFF, 0x7F, 0x80];
        let len = bytes.len();
        if len < 8 {
            bytes.push(rng.next_u64() as u8);
            return "append a byte".into();
        }
        match rng.below(100) {
            0..25 => {
                let flips = 1 + rng.below(16);
                let mut at = Vec::new();
                for _ in 0..flips {
                    let offset = self.offset(len, rng);
                    bytes[offset] ^= 1 << rng.below(8);
                    at.push(format!("{offset:#x}"));
                }
                format!("flip bits at {}", at.join(","))
            }
            25..40 => {
                let count = 1 + rng.below(8);
                let offset = self.offset(len, rng);
                let value = INTERESTING[rng.below(INTERESTING.len())];
                let end = (offset + count).min(len);
                bytes[offset..end].fill(value);
                format!("set {}..{} to {value:#04x}", offset, end)
            }
            40..52 => {
                let keep = match rng.below(3) {
                    0 => rng.below(len),
                    1 => rng.below(len.min(1024)),
                    _ => len - 1 - rng.below(len.min(64)),
                };
                bytes.truncate(keep);
                format!("truncate to {keep} bytes")
            }
            52..75 if !self.fields.is_empty() => {
                let field = self.fields[rng.below(self.fields.len())];
                if field.offset + field.width > len {
                    return "field edit past the end (none)".into();
                }
                let span = &mut bytes[field.offset..field.offset + field.width];
                let mut padded = [0u8; 8];
                let old = if field.big_endian {
                    padded[8 - field.width..].copy_from_slice(span);
                    u64::from_be_bytes(padded)
                } else {
                    padded[..field.width].copy_from_slice(span);
                    u64::from_le_bytes(padded)
                };
                let bits = 8 * field.width as u32;
                let max = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
                let new = match rng.below(11) {
                    0 => 0,
                    1 => 1,
                    2 => max,
                    3 => max >> 1,
                    4 => 1 << (bits - 1),
                    5 => old.wrapping_add(1),
                    6 => old.wrapping_sub(1),
                    7 => old.wrapping_mul(2),
                    8 => old / 2,
                    9 => rng.below(16) as u64,
                    _ => rng.next_u64(),
                } & max;
                if field.big_endian {
                    span.copy_from_slice(&new.to_be_bytes()[8 - field.width..]);
                } else {
                    span.copy_from_slice(&new.to_le_bytes()[..field.width]);
                }
                format!("field at {:#x} ({} bytes) {old} -> {new}", field.offset, field.width)
            }
            52..85 => {
                let offset = rng.below(len.min(128) - 3);
                let value = match rng.below(3) {
                    0 => 0,
                    1 => u32::MAX,
                    _ => rng.next_u64() as u32,
                };
                bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
                format!("window at {offset:#x} = {value:#010x}")
            }
            _ => {
                *layout_kept = false;
                let from = self.offset(len, rng);
                let length = 1 + rng.below((len - from).min(4096));
                let to = self.offset(len, rng);
                match rng.below(4) {
                    0 => {
                        let chunk = bytes[from..from + length].to_vec();
                        bytes.splice(to..to, chunk);
                        format!("copy {from}..{} in at {to}", from + length)
                    }
                    1 => {
                        bytes.drain(from..from + length);
                        format!("delete {from}..{}", from + length)
                    }
                    2 => {
                        let chunk = bytes[from..from + length].to_vec();
                        let end = (to + length).min(len);
                        bytes[to..end].copy_from_slice(&chunk[..end - to]);
                        format!("copy {from}..{} over {to}", from + length)
                    }
                    _ => {
                        let head = bytes[..1 + rng.below(len.min(512))].to_vec();
                        let head_len = head.len();
                        bytes.splice(to..to, head);
                        format!("repeat the first {head_len} bytes at {to}")
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Running a format: a named worker decodes mutants one at a time, this thread
// watches the deadline and sums up.

fn failure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mutation")
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|n| n.parse().ok())
}

/// Totals over one format's mutants.
#[derive(Default)]
struct Summary {
    decoded: usize,
    contained: BTreeMap<String, usize>,
    failures: Vec<String>,
    slowest: (Duration, usize),
    peak_bytes: (usize, usize),
    most_samples: usize,
}

/// Set in the child process that decodes one format's mutants.
const CHILD_ENV: &str = "STRATA_MUTATION_CHILD";
/// The start of the allocator's message when an input goes over the limit.
const OVER_LIMIT: &str = "mutation test: over the allocation limit while decoding ";
/// The start of the line a child prints for each failing mutant as soon as it
/// is found, so the parent has it even when a later mutant aborts the child.
const FAILURE: &str = "mutation failure: ";

/// Runs a format's mutants in a child process (this test binary, running
/// only `test_name`): an allocation too large for the machine aborts a
/// process, and that must fail this format with its mutant named, not end
/// every format's run. After an abort the child is started again past the
/// mutant that caused it.
fn run_format(format: Format, test_name: &str) {
    let first = env_number("STRATA_FIRST_MUTANT").unwrap_or(0);
    let end = first + env_number("STRATA_MUTANTS").unwrap_or(DEFAULT_MUTANTS);
    if let Some(limit_mb) = env_number("STRATA_ALLOC_LIMIT_MB") {
        ALLOC_LIMIT_BYTES.store(limit_mb << 20, std::sync::atomic::Ordering::Relaxed);
    }
    if std::env::var_os(CHILD_ENV).is_some() {
        run_mutants(format, first, end);
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut failures = Vec::new();
    let mut next = first;
    while next < end {
        let output = std::process::Command::new(&exe)
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .env("STRATA_FIRST_MUTANT", next.to_string())
            .env("STRATA_MUTANTS", (end - next).to_string())
            .output()
            .expect("start the mutation child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The harness prints "test name ... " just before the child's own first line.
        let mut child_failures = 0;
        for line in stdout.lines() {
            if let Some(at) = line.find(FAILURE) {
                failures.push(line[at + FAILURE.len()..].to_string());
                child_failures += 1;
            } else if let Some(at) = line.find("mutation ").or_else(|| line.find("  contained")) {
                println!("{}", &line[at..]);
            }
        }
        if output.status.success() {
            break;
        }
        let aborted_at = stderr.lines().find_map(|line| {
            let rest = line.strip_prefix(OVER_LIMIT)?;
            let (_, after) = rest.split_once(" mutant ")?;
            Some((line.to_string(), after.split_once(' ')?.0.parse::<usize>().ok()?))
        });
        match aborted_at {
            Some((_, index)) => {
                // The file in flight is the mutant that aborted the child; keep it before the restart overwrites it.
                let dir = failure_dir().join(format.name());
                let saved = dir.join(format!("mutant-{index}.{}", format.extension()));
                std::fs::copy(dir.join(format!("in-flight.{}", format.extension())), &saved).expect("keep the aborting mutant");
                failures.push(format!(
                    "mutant {index}: aborted the process by asking for more than {} MiB (STRATA_ALLOC_LIMIT_MB); saved as {}",
                    ALLOC_LIMIT_BYTES.load(std::sync::atomic::Ordering::Relaxed) >> 20,
                    saved.display()
                ));
                println!("mutation {}: mutants {next}..{index} decoded before mutant {index} aborted the process", format.name());
                next = index + 1;
            }
            None if child_failures > 0 => break,
            None => {
                let tail: Vec<&str> = stderr
                    .lines()
                    .filter(|l| !l.starts_with("  ") && !l.starts_with("stack backtrace") && !l.starts_with("note: "))
                    .collect();
                failures.push(format!("{} (mutants {next}..{end}):\n{}", output.status, tail[tail.len().saturating_sub(40)..].join("\n")));
                break;
            }
        }
    }
    let shown = failures.len().min(30);
    assert!(
        failures.is_empty(),
        "{}: {} failing mutants (first {shown} here):\n{}",
        format.name(),
        failures.len(),
        failures[..shown].join("\n")
    );
}

/// Decodes mutants `first..end` of `format` here, watching each one's time and memory.
fn run_mutants(format: Format, first: usize, end: usize) {
    install_escape_recorder();
    let tmp = tempfile::tempdir().expect("temp dir");
    let fixture = std::sync::Arc::new(Fixture::new(format, tmp.path()));
    let mutants = end - first;
    let work_dir = failure_dir().join(format.name());
    std::fs::create_dir_all(&work_dir).expect("mutation folder");
    let mutant_path = work_dir.join(format!("in-flight.{}", format.extension()));

    // The unmutated fixture must decode cleanly, or the mutants test nothing.
    let clean = exercise(&fixture.bytes, format.extension(), &mutant_path);
    assert!(clean.decoded && clean.escapes.is_empty() && clean.contained.is_empty(), "{}: the fixture itself: {clean:?}", format.name());

    let (sender, receiver) = crossbeam_channel::bounded(16);
    let worker_fixture = std::sync::Arc::clone(&fixture);
    let worker_path = mutant_path.clone();
    let worker = std::thread::Builder::new()
        .name(format!("mutation-{}", format.name()))
        .spawn(move || {
            LIMITED.with(|limited| limited.set(true));
            for index in first..end {
                let (bytes, description) = worker_fixture.mutant(index);
                let text = format!("{} mutant {index} ({description}), saved as {}", worker_fixture.format.name(), worker_path.display());
                IN_FLIGHT.with(|in_flight| *in_flight.borrow_mut() = text);
                let report = exercise(&bytes, worker_fixture.format.extension(), &worker_path);
                if sender.send((index, report)).is_err() {
                    return;
                }
            }
        })
        .expect("spawn the mutation worker");

    let started = Instant::now();
    let mut summary = Summary::default();
    for expected in first..end {
        let (index, report) = match receiver.recv_timeout(DEADLINE) {
            Ok(received) => received,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let (bytes, description) = fixture.mutant(expected);
                let saved = save_failure(format, expected, &bytes);
                panic!(
                    "{}: mutant {expected} ({description}) still decoding after {DEADLINE:?}; saved as {}",
                    format.name(),
                    saved.display()
                );
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                panic!("{}: the mutation worker stopped at mutant {expected}", format.name())
            }
        };
        summary.decoded += usize::from(report.decoded);
        for site in &report.contained {
            *summary.contained.entry(site.clone()).or_default() += 1;
        }
        summary.slowest = summary.slowest.max((report.elapsed, index));
        summary.peak_bytes = summary.peak_bytes.max((report.peak_bytes, index));
        summary.most_samples = summary.most_samples.max(report.most_samples);
        let mut problems: Vec<String> = report.escapes.iter().map(|e| format!("escaped panic: {e}")).collect();
        problems.extend(report.non_finite.iter().map(|e| format!("non-finite sample: {e}")));
        problems.extend(report.oversized.iter().map(|e| format!("excerpt too long: {e}")));
        if report.peak_bytes > PEAK_BUDGET_BYTES {
            problems.push(format!(
                "held {} MiB at once, {} MiB in one allocation",
                report.peak_bytes >> 20,
                report.largest_request_bytes >> 20
            ));
        }
        if !problems.is_empty() {
            let (bytes, description) = fixture.mutant(index);
            let saved = save_failure(format, index, &bytes);
            let failure = format!("mutant {index} ({description}), saved as {}: {}", saved.display(), problems.join(" | "));
            println!("{FAILURE}{failure}");
            summary.failures.push(failure);
        }
    }
    worker.join().expect("the mutation worker panicked outside the entry points");

    let elapsed = started.elapsed();
    let contained_total: usize = summary.contained.values().sum();
    println!(
        "mutation {}: mutants {first}..{end} of a {}-byte fixture in {:.1} s; {} decoded; slowest {:.3} s (mutant {}); peak {:.1} MiB (mutant {}); most samples from one call {}; {} contained panics at {} sites; {} failures",
        format.name(),
        fixture.bytes.len(),
        elapsed.as_secs_f64(),
        summary.decoded,
        summary.slowest.0.as_secs_f64(),
        summary.slowest.1,
        summary.peak_bytes.0 as f64 / f64::from(1 << 20),
        summary.peak_bytes.1,
        summary.most_samples,
        contained_total,
        summary.contained.len(),
        summary.failures.len(),
    );
    for (site, count) in &summary.contained {
        println!("  contained ×{count}: {site}");
    }
    let shown: Vec<&String> = summary.failures.iter().take(20).collect();
    assert!(
        summary.failures.is_empty(),
        "{}: {} of {mutants} mutants broke the decode entry points' promises:\n{}",
        format.name(),
        summary.failures.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
    // Many mutants should still decode: otherwise they are rejected at the door and test little.
    assert!(mutants < 100 || summary.decoded * 10 >= mutants, "{}: only {} of {mutants} mutants decoded", format.name(), summary.decoded);
}

fn save_failure(format: Format, index: usize, bytes: &[u8]) -> PathBuf {
    let path = failure_dir().join(format.name()).join(format!("mutant-{index}.{}", format.extension()));
    std::fs::write(&path, bytes).expect("save the failing mutant");
    path
}

#[test]
fn wav_16_bit_mutants() {
    run_format(Format::Wav16, "wav_16_bit_mutants");
}

#[test]
fn wav_24_bit_extensible_mutants() {
    run_format(Format::Wav24, "wav_24_bit_extensible_mutants");
}

#[test]
fn wav_float_mutants() {
    run_format(Format::WavFloat, "wav_float_mutants");
}

#[test]
fn flac_mutants() {
    run_format(Format::Flac, "flac_mutants");
}

#[test]
fn mp3_mutants() {
    run_format(Format::Mp3, "mp3_mutants");
}

#[test]
fn ogg_vorbis_mutants() {
    run_format(Format::Vorbis, "ogg_vorbis_mutants");
}

#[test]
fn m4a_aac_mutants() {
    run_format(Format::Aac, "m4a_aac_mutants");
}

#[test]
fn aiff_mutants() {
    run_format(Format::Aiff, "aiff_mutants");
}

#[test]
fn m4a_alac_mutants() {
    run_format(Format::Alac, "m4a_alac_mutants");
}

/// The checks above would pass vacuously if the harness missed what it looks for.
#[test]
fn the_harness_sees_escaped_panics_bad_samples_and_its_own_checksums() {
    install_escape_recorder();
    let mut report = MutantReport::default();
    let value: Option<u8> = report.call("self-check", || panic!("escaping on purpose"));
    assert!(value.is_none());
    assert_eq!(report.escapes.len(), 1, "{report:?}");
    assert!(report.escapes[0].starts_with("self-check: escaping on purpose (at tests/mutation.rs:"), "{report:?}");
    let _: Option<()> =
        report.call("self-check", || Err(AudioError::Crashed("inner (at /x/registry/src/index/symphonia-core-0.5.5/src/a.rs:7)".into())));
    assert_eq!(report.contained, ["symphonia-core-0.5.5/src/a.rs:7"]);
    report.check("self-check", &[0.0, f32::NAN], Some(1));
    assert_eq!((report.non_finite.len(), report.oversized.len()), (1, 1), "{report:?}");

    // Checksums recomputed on unmutated fixtures change nothing: the CRCs are the formats' own.
    let tmp = tempfile::tempdir().unwrap();
    let flac = Fixture::new(Format::Flac, tmp.path());
    assert!(flac.flac_frames.len() >= 10, "found {} FLAC frames", flac.flac_frames.len());
    let mut refixed = flac.bytes.clone();
    fix_flac_crcs(&mut refixed, &flac.flac_frames);
    assert!(refixed == flac.bytes);
    let ogg = Fixture::new(Format::Vorbis, tmp.path());
    let mut refixed = ogg.bytes.clone();
    fix_ogg_crcs(&mut refixed);
    assert!(refixed == ogg.bytes);
    // And a mutant differs from its fixture, reproducibly.
    let (first, description) = ogg.mutant(3);
    assert!(first != ogg.bytes, "{description}");
    assert!(ogg.mutant(3).0 == first);
}

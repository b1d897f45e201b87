//! Arbitrary bytes through Strata's decode entry points: probing
//! ([`AudioFile::from_bytes`]), decoding to the end, resampling what came out
//! to the models' rate, and seeking for excerpts on a fresh reader, as the
//! indexer's excerpt sampler does.
//!
//! Crashes here are what Strata promises never happens: a panic escaping an
//! entry point (panics inside symphonia or rubato must come back as
//! [`AudioError::Crashed`]), a non-finite sample, an excerpt longer than
//! asked for, or an allocation past libFuzzer's `-malloc_limit_mb`.
//! Contained panics are findings for upstream, not crashes: each new panic
//! site is printed once (`contained panic at …`) and, when
//! `STRATA_FUZZ_CONTAINED_DIR` is set, its input is saved there.
//!
//! Without a sanitizer libFuzzer cannot see single allocations, so this
//! target's allocator aborts on any request over [`LARGEST_ALLOCATION_BYTES`]
//! (a buffer sized from a length field in the file), which libFuzzer then
//! reports as a crash with the input.
//!
//! The first byte steers: its low nibble picks the extension hint, its high
//! nibble where in the stated duration to seek.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use strata::audio::{AudioError, AudioFile, MAX_DECODE_S, MonoAudio};

/// Extension hints; symphonia probes the bytes either way, the hint only orders the guesses.
const HINTS: [Option<&str>; 10] =
    [None, Some("wav"), Some("flac"), Some("mp3"), Some("ogg"), Some("m4a"), Some("aiff"), Some("caf"), Some("mkv"), Some("aac")];

/// The models' sample rate, which every decoded track is resampled to.
const MODEL_RATE_HZ: u32 = 16_000;

/// Length of each excerpt read after a seek.
const EXCERPT_S: f64 = 0.5;

/// Far more than any decode of a fuzzer-sized input needs (a few MiB).
const LARGEST_ALLOCATION_BYTES: usize = 256 << 20;

struct CappedAllocator;

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

// SAFETY: forwards to the system allocator; only refuses by aborting.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check_size(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check_size(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check_size(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn check_size(bytes: usize) {
    if bytes > LARGEST_ALLOCATION_BYTES {
        // Formatting and the backtrace allocate too, but only small amounts, which pass this check.
        let trace = std::backtrace::Backtrace::force_capture();
        eprintln!("decode target: an allocation of {bytes} bytes was asked for, at:\n{trace}");
        std::process::abort();
    }
}

/// Panic sites ("file:line") already reported.
static CONTAINED_SITES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The value of an entry point's result, noting a contained panic on the way.
fn survived<T>(result: Result<T, AudioError>, input: &[u8]) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(AudioError::Crashed(message)) => {
            note_contained(&message, input);
            None
        }
        Err(_) => None,
    }
}

fn note_contained(message: &str, input: &[u8]) {
    // The message ends "(at file:line)"; the site, not the message's numbers, says which bug it is.
    let site = message.rsplit_once("(at ").map_or(message, |(_, site)| site.trim_end_matches(')')).to_string();
    let Ok(mut sites) = CONTAINED_SITES.lock() else { return };
    if !sites.insert(site.clone()) {
        return;
    }
    eprintln!("contained panic at {site}: {message} (input of {} bytes)", input.len());
    if let Ok(dir) = std::env::var("STRATA_FUZZ_CONTAINED_DIR") {
        let name = site.replace(['/', ':', '\\'], "_");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(std::path::Path::new(&dir).join(format!("contained-{name}")), input);
    }
}

fn assert_finite(audio: &MonoAudio, what: &str) {
    if let Some(i) = audio.samples.iter().position(|s| !s.is_finite()) {
        panic!("{what}: sample {i} of {} is {}", audio.samples.len(), audio.samples[i]);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else { return };
    let hint = HINTS[usize::from(control & 0x0f) % HINTS.len()];
    let seek_fraction = f64::from(control >> 4) / 15.0;

    let Some(mut file) = survived(AudioFile::from_bytes(bytes.to_vec(), hint), data) else { return };
    let rate_hz = file.sample_rate_hz();
    let header_duration_s = file.header_duration_s();
    if let Some(audio) = survived(file.read_to_end(), data) {
        assert_finite(&audio, "read_to_end");
        assert!(audio.samples.len() as f64 <= MAX_DECODE_S * f64::from(rate_hz) + 1.0, "read_to_end past MAX_DECODE_S");
        if let Some(resampled) = survived(audio.resampled(MODEL_RATE_HZ), data) {
            assert_finite(&resampled, "resampled");
        }
    }

    let Some(mut file) = survived(AudioFile::from_bytes(bytes.to_vec(), hint), data) else { return };
    let duration_s = header_duration_s.unwrap_or(1.0);
    // Somewhere inside, past the end, and back to the start.
    for start_s in [seek_fraction * duration_s, duration_s + 1.0, 0.0] {
        if let Some(Some(excerpt)) = survived(file.read_excerpt(start_s, EXCERPT_S), data) {
            assert_finite(&excerpt, "read_excerpt");
            let most = (EXCERPT_S * f64::from(rate_hz)).round() as usize;
            assert!(excerpt.samples.len() <= most, "excerpt of {} samples, asked for {most}", excerpt.samples.len());
        }
    }
});

//! Arbitrary samples and rates through [`strata::audio::resample`].
//!
//! Crashes here: a panic escaping (rubato's own panics must come back as
//! `AudioError::Crashed`), an output length other than
//! `ceil(len · to / from)`, or a non-finite output from inputs a decoder can
//! produce (finite, within ±1000).
//!
//! `STRATA_FUZZ_SKIP_LENGTH=1` skips the length check, to look past a known
//! length bug for other crashes.
//!
//! Bytes 0..4 and 4..8 are the two rates; when byte 8 is even they are folded
//! into the accepted range so most inputs reach rubato, otherwise they are
//! used as they are (refusal is the expected answer). The rest are f32 samples.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use strata::audio::{AudioError, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ, resample};

/// At most this many samples, so one input stays a few milliseconds.
const MAX_SAMPLES: usize = 1 << 16;

static CHECK_LENGTH: LazyLock<bool> = LazyLock::new(|| std::env::var_os("STRATA_FUZZ_SKIP_LENGTH").is_none());

fn rate_from(bytes: [u8; 4], fold: bool) -> u32 {
    let raw = u32::from_le_bytes(bytes);
    if fold { MIN_SAMPLE_RATE_HZ + raw % (MAX_SAMPLE_RATE_HZ - MIN_SAMPLE_RATE_HZ + 1) } else { raw }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, body)) = data.split_at_checked(9) else { return };
    let fold = header[8] % 2 == 0;
    let from_hz = rate_from([header[0], header[1], header[2], header[3]], fold);
    let to_hz = rate_from([header[4], header[5], header[6], header[7]], fold);
    let samples: Vec<f32> =
        body.chunks_exact(4).take(MAX_SAMPLES).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    match resample(&samples, from_hz, to_hz) {
        Ok(output) => {
            if *CHECK_LENGTH && from_hz != to_hz && !samples.is_empty() {
                let expected = (samples.len() as u64 * u64::from(to_hz)).div_ceil(u64::from(from_hz)) as usize;
                assert_eq!(output.len(), expected, "{} samples from {from_hz} Hz to {to_hz} Hz", samples.len());
            }
            if samples.iter().all(|s| s.is_finite() && s.abs() <= 1000.0) {
                assert!(output.iter().all(|s| s.is_finite()), "non-finite output from finite input, {from_hz} → {to_hz} Hz");
            }
        }
        Err(AudioError::Crashed(message)) => eprintln!("contained panic: {message}"),
        Err(_) => {}
    }
});

//! Arbitrary bytes through [`Checkpoint::from_bytes`] (safetensors headers, torch.save zips and
//! the legacy-format check), then every tensor read back as f32.
//!
//! Crashes here: a panic, or memory past `-rss_limit_mb` (a header's size field trusted before it
//! was checked against the input's length). Errors are the expected answer.
//! Seeds: tests/fixtures/checkpoint/ (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::model::install::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(ckpt) = Checkpoint::from_bytes(data.to_vec()) {
        for name in ckpt.names() {
            let info = ckpt.info(name).expect("listed");
            if let Ok(values) = ckpt.read_f32(name) {
                assert_eq!(Some(values.len()), info.element_count(), "{name}");
            }
        }
    }
});

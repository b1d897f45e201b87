//! Arbitrary bytes through [`read_state_dict`], the pickle reader behind `pytorch_model.bin`.
//!
//! Crashes here: a panic, a stack overflow (deep nesting), or memory past `-rss_limit_mb`
//! (a length or memo index that makes the reader allocate). Errors are the expected answer.
//! Seeds: `data.pkl` of tests/fixtures/checkpoint/*.bin (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::model::install::checkpoint::pickle::read_state_dict;

fuzz_target!(|data: &[u8]| {
    if let Ok(tensors) = read_state_dict(data) {
        for tensor in tensors {
            // What the zip reader relies on: the tensor lies within its storage.
            let elements = tensor.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).expect("checked by the reader");
            assert!(elements == 0 || tensor.offset_elements + elements <= tensor.storage_elements, "{tensor:?}");
        }
    }
});

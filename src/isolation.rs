//! Containing panics from the libraries below Strata, so one file's crash
//! fails only that file.
//!
//! Decoders, resamplers, tag readers and model bindings are code Strata does
//! not control; a hostile file can make any of them panic. [`contain`] runs a
//! piece of per-file work and turns a panic into an error message, and a
//! process-wide panic hook keeps such contained panics out of the terminal
//! (they are logged at debug level and reported with the file instead).
//! Panics outside [`contain`] still print as usual.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// How many [`contain`] calls are active on this thread.
    static CONTAINING: Cell<usize> = const { Cell::new(0) };
    /// The message of the last panic contained on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    match info.location() {
        Some(location) => format!("{message} (at {}:{})", location.file(), location.line()),
        None => message,
    }
}

fn install_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(Cell::get) > 0 {
                let message = describe(info);
                log::debug!("contained panic: {message}");
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `work`; a panic inside it becomes `Err(message)` (with the panic's
/// location) instead of unwinding further. State that `work` mutated may be
/// half-updated after a panic: callers discard it (see the indexer's workers).
pub fn contain<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    CONTAINING.with(|depth| depth.set(depth.get() + 1));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(work));
    CONTAINING.with(|depth| depth.set(depth.get() - 1));
    outcome.map_err(|_| LAST_PANIC.with(|last| last.borrow_mut().take()).unwrap_or_else(|| "unknown panic".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message_and_work_continues() {
        let crashed: Result<u32, String> = contain(|| panic!("bad packet {}", 7));
        let message = crashed.expect_err("the panic is contained");
        assert!(message.starts_with("bad packet 7 (at "), "{message}");
        assert!(message.contains("isolation.rs"), "{message}");
        assert_eq!(contain(|| 41 + 1), Ok(42));
        // Nested: the inner panic is contained by the inner call.
        assert_eq!(contain(|| contain(|| -> u8 { panic!("inner") }).is_err()), Ok(true));
    }
}

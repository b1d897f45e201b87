//! Handing freed memory back to the system.
//!
//! glibc keeps what a thread frees in that thread's arena for reuse, and
//! returns it to the system only from the top of each heap. After the
//! window loads a 300,000-track library, replaces one, or projects a map,
//! about 0.5 GB of freed memory stayed resident that way (measured: anonymous
//! memory at rest 1,533 MB before `malloc_trim`, 1,057 MB after).
#![allow(unsafe_code, reason = "malloc_trim through libc: std has no API for it")]

/// Returns the free pages of every arena to the system. Call it after large
/// transient work has been freed, off the UI thread: it takes each arena's
/// lock while it walks that arena's free lists.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer and only touches the allocator's own state, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    fn anonymous_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap_or_default();
        line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).unwrap_or(0)
    }

    #[test]
    fn freed_memory_inside_the_heap_goes_back_to_the_system() {
        // 256 MB in 32 KB blocks (below glibc's mmap threshold, so in the
        // heap), every 16th kept: the freed runs between them are not at the
        // heap's top, so free() alone leaves them resident.
        let blocks: Vec<Vec<u8>> = (0..8_192).map(|i| vec![(i % 251) as u8 + 1; 32 * 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.into_iter().enumerate().filter(|(i, _)| i % 16 == 0).map(|(_, b)| b).collect();
        let before = anonymous_kb();
        super::release_freed();
        let after = anonymous_kb();
        assert!(before.saturating_sub(after) > 100 * 1024, "resident anonymous memory {before} kB before, {after} kB after");
        assert!(kept.iter().all(|b| b[0] != 0), "the kept blocks are intact");
    }
}

//! Handing freed memory back to the system, and keeping the memory a
//! search reuses.
//!
//! glibc keeps what a thread frees in that thread's arena for reuse, and
//! returns it to the system only from the top of each heap. After the
//! window loads a 300,000-track library, replaces one, or projects a map,
//! about 0.5 GB of freed memory stayed resident that way (measured: anonymous
//! memory at rest 1,533 MB before `malloc_trim`, 1,057 MB after).
#![allow(unsafe_code, reason = "malloc_trim and mallopt through libc: std has no API for them")]

/// Allocations up to this size come from the heap, not from their own mapping.
const HEAP_UP_TO_BYTES: i32 = 32 << 20;

/// Free memory at the top of a heap is returned to the system beyond this.
const KEEP_FREE_TOP_BYTES: i32 = 64 << 20;

/// Sets the allocator up for Strata's work; call it once at start, before
/// threads. A search at 300,000 tracks allocates and frees tens of arrays of
/// a megabyte or two per query. By default glibc maps each one afresh and
/// faults its pages in (zeroed) on every query, and trims the heap's top
/// back to the system after each, until its dynamic threshold happens to
/// rise after some large free: 13-layer queries took 40 ms in one process
/// and 26 ms in another, on the same heads. Fixed thresholds at what the
/// dynamic one rises to (32 MB, trimming beyond twice that) keep that
/// memory for the next query. The cost: each arena may keep up to 64 MB
/// free at its top, which [`release_freed`] does not hand back (it returns
/// the free pages inside the arenas). Measured on the window at 300,000
/// tracks: 751–816 MB anonymous at rest, under its 1 GB goal.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only sets the allocator's own parameters, under its lock.
    unsafe {
        // mallopt returns 0 when it refuses a setting; the defaults then stay, and only speed differs.
        if libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_UP_TO_BYTES) == 0 || libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREE_TOP_BYTES) == 0 {
            log::debug!("the allocator kept its default thresholds");
        }
    }
}

/// Returns the free pages of every arena to the system. Call it after large
/// transient work has been freed and its result handed on, off the UI
/// thread. It holds each arena's lock while it releases that arena's pages,
/// so another thread that allocates from the same arena meanwhile waits; the
/// UI thread's own (main) arena holds little that background work freed.
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
        // Other tests allocate beside this one: a few tries, one must show the drop.
        let fill = |i: usize| (i % 251) as u8;
        let mut drops = Vec::new();
        for _ in 0..3 {
            let blocks: Vec<Vec<u8>> = (0..8_192).map(|i| vec![fill(i); 32 * 1024]).collect();
            let kept: Vec<(usize, Vec<u8>)> = blocks.into_iter().enumerate().filter(|(i, _)| i % 16 == 0).collect();
            let before = anonymous_kb();
            super::release_freed();
            let after = anonymous_kb();
            assert!(kept.iter().all(|(i, b)| b.iter().all(|&v| v == fill(*i))), "a kept block changed");
            drops.push(before.saturating_sub(after));
            if drops.last().is_some_and(|&kb| kb > 100 * 1024) {
                return;
            }
        }
        panic!("resident anonymous memory did not drop by 100 MB: {drops:?} kB");
    }
}

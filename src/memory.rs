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
/// memory for the next query; [`release_freed`] still hands back what large
/// transient work frees.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only sets the allocator's own parameters, under its lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_UP_TO_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREE_TOP_BYTES);
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

    /// Page faults this thread has taken so far.
    fn thread_faults() -> i64 {
        // SAFETY: getrusage writes into the struct it is given and nothing else.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
            usage.ru_minflt
        }
    }

    #[test]
    fn arrays_a_query_allocates_again_are_not_faulted_in_again() {
        super::tune_allocator();
        // As a 13-layer query at 300,000 tracks: 13 arrays of 2.4 MB alive at
        // once (the layers' bounds), every page written, then all freed.
        let bytes = 2_400_000;
        let mut sums = 0u64;
        let mut query = || {
            let arrays: Vec<Vec<u8>> = (0..13).map(|_| vec![1u8; bytes]).collect();
            sums += arrays.iter().map(|a| u64::from(std::hint::black_box(a)[bytes - 1])).sum::<u64>();
        };
        query();
        let before = thread_faults();
        for _ in 0..20 {
            query();
        }
        let faults = thread_faults() - before;
        assert_eq!(sums, 21 * 13);
        // Trimmed and faulted in afresh, each query takes about 7,600 faults; kept, next to none.
        assert!(faults < 512, "{faults} page faults for 20 queries' arrays already allocated once");
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

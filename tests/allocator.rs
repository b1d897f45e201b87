//! The allocator settings of `memory::tune_allocator`, in a process of
//! their own: they are process-wide, and would change every other test's
//! allocations beside them.
#![cfg(all(target_os = "linux", target_env = "gnu"))]
#![allow(unsafe_code, reason = "getrusage through libc, to count this thread's page faults")]

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
    strata::memory::tune_allocator();
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

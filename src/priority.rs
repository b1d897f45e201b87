//! Background work yields the CPU to the window.
//!
//! Indexing keeps every core busy; at normal priority it competes with the UI
//! thread, whose frames then wait for a time slice. Threads that do
//! background work lower their own scheduling priority, and the threads they
//! start (decode workers, ONNX Runtime's pool) inherit it.
#![allow(unsafe_code, reason = "per-thread nice values through libc: std has no API for them")]

/// How far background threads step down (Linux nice value).
const BACKGROUND_NICE: libc::c_int = 10;

/// Lowers the calling thread's priority so interactive threads run first; a
/// refusal by the OS only costs smoothness, so it is logged, not returned.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        // On Linux the nice value belongs to the thread, addressed by its tid.
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        // SAFETY: getpriority and setpriority only read their integer arguments.
        let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
        // Only ever lower: a process started under `nice 15` stays at 15.
        // SAFETY: as above, integer arguments only.
        let status = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, current.max(BACKGROUND_NICE)) };
        if status != 0 {
            log::debug!("could not lower a background thread's priority: {}", std::io::Error::last_os_error());
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_lowered_thread_runs_at_the_background_priority() {
        let nice = std::thread::Builder::new()
            .name("strata-test-nice".into())
            .spawn(|| {
                super::lower_this_thread();
                // SAFETY: as above.
                let tid = unsafe { libc::syscall(libc::SYS_gettid) };
                // SAFETY: as above.
                unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
            })
            .unwrap()
            .join()
            .unwrap();
        // SAFETY: as above.
        let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(nice, own.max(super::BACKGROUND_NICE));
        // The caller's own priority is untouched (unless the tests already run that low).
        assert!(own < super::BACKGROUND_NICE || own == nice);
    }
}

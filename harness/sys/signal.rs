//! A stop flag raised by SIGTERM and SIGINT, for a long-running helper process (the lab's
//! delay element) that must report its counts before it ends. `sockbench` itself handles
//! Ctrl-C through the ctrlc crate.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn raise_stop(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGTERM and SIGINT; afterwards [`stop_requested`] turns true
/// once either arrives. System calls interrupted by them return EINTR (no SA_RESTART), so
/// a wait ends at once.
pub fn stop_on_term() -> std::io::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: sigaction is plain old data, zeroes are valid; the handler only stores
        // to an atomic, which is async-signal-safe.
        let rc = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = raise_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT arrived since [`stop_on_term`].
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

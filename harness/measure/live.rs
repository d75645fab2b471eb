//! What is measured beside the flows' own counts while a test runs: how many things are
//! open at once (a [`Gauge`]), and the process's resident memory at an instant (an
//! [`RssSampler`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// A count of things open at once and the most there have been, measured as they open
/// and close (crr: connections from the requester's socket to its close).
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicU64,
    max: AtomicU64,
}

impl Gauge {
    /// One more is open.
    pub fn up(&self) {
        let n = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(n, Ordering::Relaxed);
    }
    /// One has closed.
    pub fn down(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
    /// The most that were open at once.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

/// Samples this process's resident memory at an instant, when every connection's buffers
/// are live, on a thread that a test's end wakes and joins however the test ends.
pub struct RssSampler {
    rss: Arc<AtomicU64>,
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    /// Starts the sampler: it samples at `at`, unless the test's end comes first.
    pub fn start(at: Instant) -> RssSampler {
        let rss = Arc::new(AtomicU64::new(0));
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let (out, wake) = (rss.clone(), done.clone());
        let thread = std::thread::Builder::new()
            .name("sockbench-rss".into())
            .spawn(move || {
                let (lock, cvar) = &*wake;
                let mut finished = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !*finished {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        out.store(super::rss_kib().unwrap_or(0), Ordering::Relaxed);
                        return;
                    }
                    finished = cvar
                        .wait_timeout(finished, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            })
            .ok();
        RssSampler { rss, done, thread }
    }

    /// Stops the sampler (if it has not sampled yet) and joins it; the sample, if any.
    /// Roles that all ended before the sample time (a paced flow whose next send would
    /// fall after the end stops early) are sampled now, as they end.
    pub fn finish(mut self) -> Option<u64> {
        let (lock, cvar) = &*self.done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let sampled = self.rss.load(Ordering::Relaxed);
        let rss = if sampled > 0 {
            Some(sampled)
        } else {
            super::rss_kib()
        };
        rss.filter(|&k| k > 0)
    }
}

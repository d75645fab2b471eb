//! The daemon's shared state: the connections not running a test (and which one a new
//! connection evicts), the running tests' count and memory, and its rate-limited log.

use super::*;

/// The connections of a daemon that are not running a test: those in their handshake,
/// and (without a key, when anyone can complete one) those idle between tests. A new
/// connection beyond the caps evicts the one that has made no progress (no byte read) for
/// longest — of its source's block (/24, /56) when that block is at its cap, else of all —
/// so that a flood of connections that go silent evicts itself, never a sender whose
/// handshake is arriving.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) next_id: u64,
    pub(super) conns: Vec<PendingConn>,
}

pub(super) struct PendingConn {
    pub(super) id: u64,
    /// The source's address block ([`source_block`]).
    pub(super) source: IpAddr,
    /// When a byte last came from it (or it connected, or finished a test).
    pub(super) progress: Instant,
    /// A second handle on the socket, to shut it down when evicted.
    pub(super) sock: TcpStream,
}

/// Shared state of one daemon.
pub(super) struct Daemon {
    pub(super) opts: ServeOptions,
    pub(super) facts: HostFacts,
    pub(super) pending: Mutex<Pending>,
    /// Tests running now.
    pub(super) tests: AtomicUsize,
    /// Authenticated control connections open now (each holds a thread and a descriptor
    /// until it closes or idles out): at most `--max-pending`.
    pub(super) keyed: AtomicUsize,
    /// Memory the running tests need, by [`memory_estimate`].
    pub(super) memory: AtomicU64,
    pub(super) log: Mutex<LogLimit>,
}

/// At most [`LOG_BURST`] lines per [`LOG_WINDOW`]; the rest are counted and the count is
/// logged once the window has passed, so that a flood of connections cannot flood the log.
pub(super) struct LogLimit {
    pub(super) window: Instant,
    pub(super) lines: u32,
    pub(super) suppressed: u64,
}

pub(super) const LOG_BURST: u32 = 20;
/// Longest log line, in characters.
pub(super) const LOG_LINE_MAX: usize = 600;
pub(super) const LOG_WINDOW: Duration = Duration::from_secs(10);

/// A registration in [`Pending`], removed when dropped.
pub(super) struct PendingGuard<'a> {
    pub(super) daemon: &'a Daemon,
    pub(super) id: Option<u64>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.daemon.unregister(id);
        }
    }
}

impl Daemon {
    /// Logs one line, its control characters escaped and its length clipped: it may hold
    /// a peer's bytes (a JSON decode error before authentication quotes them).
    pub(super) fn log(&self, line: &str) {
        if self.opts.quiet {
            return;
        }
        let line = &control::clean(line, LOG_LINE_MAX);
        let mut l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(l.window) >= LOG_WINDOW {
            if l.suppressed > 0 {
                eprintln!(
                    "sockbench serve: ({} more lines in {:?} not logged)",
                    l.suppressed, LOG_WINDOW
                );
            }
            l.window = now;
            l.lines = 0;
            l.suppressed = 0;
        }
        if l.lines < LOG_BURST {
            l.lines += 1;
            eprintln!("sockbench serve: {line}");
        } else {
            l.suppressed += 1;
        }
    }

    /// Registers a connection that is not running a test, evicting the oldest ones
    /// beyond the caps.
    pub(super) fn register(&self, stream: &TcpStream, source: IpAddr) -> PendingGuard<'_> {
        let Ok(sock) = stream.try_clone() else {
            return PendingGuard {
                daemon: self,
                id: None,
            };
        };
        let source = source_block(source);
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let same = p.conns.iter().filter(|c| c.source == source).count();
        let stalest = |only: Option<IpAddr>| {
            p.conns
                .iter()
                .enumerate()
                .filter(|(_, c)| only.map_or(true, |s| c.source == s))
                .min_by_key(|(_, c)| c.progress)
                .map(|(i, _)| i)
        };
        let victim = if same >= self.opts.max_per_source {
            stalest(Some(source))
        } else if p.conns.len() >= self.opts.max_pending {
            stalest(None)
        } else {
            None
        };
        let evicted = victim.map(|i| p.conns.remove(i));
        p.next_id += 1;
        let id = p.next_id;
        p.conns.push(PendingConn {
            id,
            source,
            progress: Instant::now(),
            sock,
        });
        drop(p);
        if let Some(old) = evicted {
            let _ = old.sock.shutdown(Shutdown::Both);
            self.log(&format!(
                "{}: closed an idle or unauthenticated connection to make room (--max-pending {}, --max-per-source {})",
                old.source, self.opts.max_pending, self.opts.max_per_source
            ));
        }
        PendingGuard {
            daemon: self,
            id: Some(id),
        }
    }

    /// Notes that a pending connection made progress: a byte came.
    pub(super) fn touch(&self, id: Option<u64>) {
        let Some(id) = id else { return };
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == id) {
            c.progress = Instant::now();
        }
    }

    pub(super) fn unregister(&self, id: u64) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.conns.retain(|c| c.id != id);
    }
}

/// The block a source address counts in for `--max-per-source`: its /24 (IPv4) or /56
/// (IPv6), so that one host with many addresses is one source.
pub(super) fn source_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => std::net::Ipv4Addr::from(u32::from(v4) & 0xffff_ff00).into(),
        IpAddr::V6(v6) => std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 72) - 1)).into(),
    }
}

/// A handshake's reader that tells the daemon of every byte that comes, so that a
/// connection whose handshake is arriving is never the one evicted.
pub(super) struct Touching<'a, R> {
    pub(super) inner: R,
    pub(super) daemon: &'a Daemon,
    pub(super) id: Option<u64>,
}

impl<R: std::io::Read> std::io::Read for Touching<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.daemon.touch(self.id);
        }
        Ok(n)
    }
}

/// An authenticated session's place among the `keyed` ones, given back when dropped.
pub(super) struct KeyedGuard<'a>(pub(super) &'a Daemon);

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        self.0.keyed.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Daemon {
    /// A place for one more authenticated session, if fewer than `--max-pending` are open:
    /// a key holder's idle sessions cannot take every descriptor and thread.
    pub(super) fn keyed_session(&self) -> Option<KeyedGuard<'_>> {
        if self.keyed.fetch_add(1, Ordering::SeqCst) < self.opts.max_pending {
            return Some(KeyedGuard(self));
        }
        self.keyed.fetch_sub(1, Ordering::SeqCst);
        None
    }
}

/// The name of the daemon's threads that serve one control connection each.
pub(super) const CONN_THREAD: &str = "sockbench-conn";

thread_local! {
    /// This thread runs a connection's handler ([`handling`]).
    static IN_HANDLER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The panic message of this thread's handler, for the log.
    static PANICKED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The longest panic message logged: the log line clips at [`LOG_LINE_MAX`], and what
/// follows the message must stay.
const PANIC_MESSAGE_MAX: usize = 400;

/// A panic inside a connection's handler or its attach thread ([`handling`]) is not
/// printed by the hook that was there, which writes each one straight to stderr (a peer able to make handlers
/// panic would flood it): its message and place are kept for the handler's line in the
/// rate-limited log. Panics elsewhere, and every panic when `RUST_BACKTRACE` asks for
/// backtraces, go to the hook that was there.
pub(super) fn route_handler_panics() {
    let before = std::panic::take_hook();
    let backtraces = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    std::panic::set_hook(Box::new(move |info| {
        let in_handler = IN_HANDLER.try_with(|c| c.get()).unwrap_or(false);
        if !in_handler || backtraces {
            before(info);
        }
        if in_handler {
            let _ = PANICKED.try_with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    *p = Some(info.to_string());
                }
            });
        }
    }));
}

/// Runs a connection's handler: its result, or the message of its panic (with its place
/// when [`route_handler_panics`] kept it), clipped to [`PANIC_MESSAGE_MAX`].
pub(super) fn handling<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    IN_HANDLER.with(|c| c.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_HANDLER.with(|c| c.set(false));
    result.map_err(|_| {
        let kept = PANICKED.with(|p| p.borrow_mut().take());
        let message = kept.unwrap_or_else(|| "no message".into());
        message.chars().take(PANIC_MESSAGE_MAX).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler's panic is kept, with its place, for the rate-limited log; the default
    /// hook is put back afterwards (other tests' panics print as always).
    #[test]
    fn a_handlers_panic_is_kept_for_the_log() {
        route_handler_panics();
        let long = "x".repeat(2 * PANIC_MESSAGE_MAX);
        let kept = thread::spawn(move || {
            let forged = handling(|| panic!("a forged frame"));
            let long = handling(|| panic!("{long}"));
            (forged, long, handling(|| 7))
        })
        .join()
        .unwrap();
        let _ = std::panic::take_hook();
        let (forged, long, fine) = kept;
        let message = forged.expect_err("a panic");
        assert!(
            message.contains("a forged frame") && message.contains("daemon.rs"),
            "{message}"
        );
        assert_eq!(
            long.expect_err("a panic").chars().count(),
            PANIC_MESSAGE_MAX
        );
        assert_eq!(fine, Ok(7));
    }
}

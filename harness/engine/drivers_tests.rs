//! Both drivers run the same flows alike: spawned flows fold into their parent, and a
//! flow that never moves is cut by the abort flag or the stall limit.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use std::time::{Duration, Instant};

use super::blocking::run_flow;
use super::epoll::run_worker;
use super::flow::{Cx, Flow, Want};
use super::{EngineError, RoleCtx};
use crate::measure::RoleReport;
use crate::net::transport::is_timeout;
use crate::spec::config::TestSpec;
use crate::sys::RawFd;

/// Reads its socket to the end, counting.
struct Sink {
    sock: UnixStream,
    rep: RoleReport,
    /// Sockets to hand to the driver as spawned flows on the first step.
    spawn: Vec<UnixStream>,
}

impl Flow for Sink {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }
    fn step(&mut self, cx: &mut Cx) -> Result<Want, EngineError> {
        for sock in self.spawn.drain(..) {
            // A spawner hands its flows non-blocking sockets (the flow rule).
            sock.set_nonblocking(true).unwrap();
            cx.spawned.push(Box::new(Sink {
                sock,
                rep: RoleReport::default(),
                spawn: Vec::new(),
            }));
            self.rep.connections += 1;
        }
        loop {
            match self.sock.read(cx.scratch) {
                Ok(0) => return Ok(Want::Done),
                Ok(n) => self.rep.bytes_received += n as u64,
                Err(e) if is_timeout(&e) => return Ok(Want::Read),
                Err(e) => return Err(EngineError::io("read")(e)),
            }
        }
    }
    fn finish(&mut self, _cx: &mut Cx) {}
    fn report(&mut self) -> &mut RoleReport {
        &mut self.rep
    }
    fn progress(&self) -> u64 {
        self.rep.bytes_received
    }
}

fn ctx() -> RoleCtx {
    let spec = TestSpec {
        duration: Duration::from_secs(2),
        warmup: Duration::ZERO,
        ..TestSpec::default()
    };
    RoleCtx {
        spec: Arc::new(spec),
        t0: Instant::now(),
        abort: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        spin: false,
        in_flight: Default::default(),
    }
}

/// A parent that spawns two flows; each peer writes some bytes and closes. The
/// spawned flows' counts end up in the parent's one report.
fn spawner() -> Box<dyn Flow> {
    let mut socks = Vec::new();
    for n in [100usize, 2000, 30000] {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            peer.write_all(&vec![7u8; n]).unwrap();
        });
        socks.push(mine);
    }
    let own = socks.remove(0);
    Box::new(Sink {
        sock: own,
        rep: RoleReport {
            conn: 9,
            ..RoleReport::default()
        },
        spawn: socks,
    })
}

#[test]
fn spawned_flows_are_folded_into_their_parent_on_both_drivers() {
    let reports = run_worker(vec![spawner()], ctx());
    assert_eq!(reports.len(), 1, "one report for the parent and its spawn");
    let r = &reports[0];
    assert_eq!((r.conn, r.bytes_received, r.connections), (9, 32100, 2));
    assert!(r.error.is_none(), "{:?}", r.error);
    let r = run_flow(spawner(), &ctx());
    assert_eq!((r.conn, r.bytes_received, r.connections), (9, 32100, 2));
    assert!(r.error.is_none(), "{:?}", r.error);
}

fn silent_sink() -> (Box<dyn Flow>, UnixStream) {
    let (mine, peer) = UnixStream::pair().unwrap();
    let sink = Sink {
        sock: mine,
        rep: RoleReport::default(),
        spawn: Vec::new(),
    };
    (Box::new(sink), peer)
}

#[test]
fn a_flow_that_never_moves_is_cut_by_the_abort_flag_or_the_stall_limit() {
    let (sink, _peer) = silent_sink();
    let c = ctx();
    let abort = c.abort.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        abort.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let e = run_worker(vec![sink], c)[0]
        .error
        .clone()
        .unwrap_or_default();
    assert!(e.contains("read: the test was aborted"), "{e}");
    let (sink, _peer) = silent_sink();
    let e = run_worker(vec![sink], ctx())[0]
        .error
        .clone()
        .unwrap_or_default();
    assert!(e.contains("read: stalled, no progress for 10s"), "{e}");
}

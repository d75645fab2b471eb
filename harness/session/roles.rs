//! A side's roles running: one thread per blocking-driver connection, epoll workers for
//! the rest, all started together at the start of traffic, and their reports gathered
//! into the side's report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{blocking, choose, epoll, role_for, Driver, RoleCtx, STALL};
use crate::measure::live::RssSampler;
use crate::measure::{RoleReport, SideReport};
use crate::net::transport::DataConn;
use crate::spec::config::Side;

/// The role threads of one side of a test.
pub struct RunningRoles {
    reports: std::sync::mpsc::Receiver<(RoleReport, Instant)>,
    /// Reports taken from the channel by [`RunningRoles::all_ended`] before the join.
    early: Vec<(RoleReport, Instant)>,
    conns: Vec<u32>,
    t0: Instant,
    /// Past this, a role still running is reported, not waited for: a bug that wedges one
    /// role must not wedge the daemon.
    deadline: Instant,
    /// The process's memory, sampled just before the end of the transfer.
    rss: RssSampler,
}

/// Starts this side's roles: the main connections on the driver [`choose`] picks (epoll
/// workers, one per CPU, connections dealt round robin by flow so that both directions of
/// a bidir flow share a worker and cannot wedge each other across workers), every other
/// connection (a probe) on a thread of its own.
///
/// Every thread is made first and waits; the start of traffic (`ctx.t0`) is taken once
/// the last one exists, and they all go together. A machine loaded far beyond its cores
/// once took more than the whole test to make 64 role threads one after the other, and
/// the last 16 connections, started past the end, moved nothing in a run reported `ok`.
pub fn spawn_roles(conns: Vec<DataConn>, side: Side, ctx: &mut RoleCtx) -> RunningRoles {
    let (tx, rx) = std::sync::mpsc::channel();
    let ids = conns.iter().map(|c| c.plan.id).collect();
    let main = ctx.spec.main_kind();
    let (mains, mut threads): (Vec<DataConn>, Vec<DataConn>) =
        conns.into_iter().partition(|c| c.plan.kind == main);
    // The gate every thread waits at: held for writing while they are made, then opened
    // with the start of traffic in it. On Linux and Windows opening it wakes every reader
    // in one call (a futex wake-all); a wake-up per thread lets each woken role take the
    // CPU from the one waking the rest, and on a loaded machine the last started a whole
    // test late (seen: 25 to 60 ms a thread). macOS's lock wakes them one by one, but all
    // share the one start of traffic still.
    let gate = Arc::new(std::sync::RwLock::new(None::<RoleCtx>));
    let mut closed = gate.write().unwrap_or_else(|p| p.into_inner());
    let waiting = |run: Box<dyn FnOnce(RoleCtx) + Send>| {
        let gate = gate.clone();
        std::thread::spawn(move || {
            let ctx = gate.read().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(ctx) = ctx {
                run(ctx);
            }
        });
    };
    if choose(&ctx.spec, side, mains.len()) == Driver::Epoll {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let mut shares: Vec<Vec<DataConn>> = (0..workers).map(|_| Vec::new()).collect();
        for conn in mains {
            let share = conn.plan.flow as usize % workers;
            shares[share].push(conn);
        }
        for share in shares.into_iter().filter(|s| !s.is_empty()) {
            let tx = tx.clone();
            waiting(Box::new(move |mut ctx: RoleCtx| {
                let flows = share.into_iter().map(|c| role_for(c, side, &ctx)).collect();
                // --spin: the worker polls epoll without sleeping in the kernel.
                ctx.spin = ctx.spec.knobs(side).spin;
                for rep in epoll::run_worker(flows, ctx) {
                    let _ = tx.send((rep, Instant::now()));
                }
            }));
        }
    } else {
        threads.extend(mains);
    }
    for conn in threads {
        let tx = tx.clone();
        waiting(Box::new(move |ctx: RoleCtx| {
            let rep = blocking::run(conn, side, ctx);
            let _ = tx.send((rep, Instant::now()));
        }));
    }
    ctx.t0 = Instant::now();
    *closed = Some(ctx.clone());
    drop(closed);
    let sample_at = ctx.send_end() - (ctx.spec.duration / 10).min(Duration::from_millis(200));
    RunningRoles {
        reports: rx,
        early: Vec::new(),
        conns: ids,
        t0: ctx.t0,
        deadline: ctx.hard_deadline() + STALL,
        rss: RssSampler::start(sample_at),
    }
}

impl RunningRoles {
    /// Whether every role has ended, without waiting.
    pub fn all_ended(&mut self) -> bool {
        while let Ok(r) = self.reports.try_recv() {
            self.early.push(r);
        }
        self.early.len() >= self.conns.len()
    }

    /// Gathers every role's report (each role is bounded by its hard deadline; one that
    /// is not by then is named as stuck).
    pub fn join(mut self) -> SideReport {
        let mut report = SideReport {
            os: Some(crate::sys::HOST),
            ..SideReport::default()
        };
        let mut last_end = self.t0;
        for (rep, end) in std::mem::take(&mut self.early) {
            last_end = last_end.max(end);
            report.roles.push(rep);
        }
        while report.roles.len() < self.conns.len() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok((rep, end)) => {
                    last_end = last_end.max(end);
                    report.roles.push(rep);
                }
                Err(_) => break,
            }
        }
        // Sorted first: with 100,000 connections, a scan per connection takes minutes.
        report.roles.sort_by_key(|r| r.conn);
        for id in &self.conns {
            if report.roles.binary_search_by_key(id, |r| r.conn).is_err() {
                report.warnings.push(format!(
                    "connection {id}: its role panicked or did not finish by the deadline"
                ));
            }
        }
        let refused: u64 = report.roles.iter().map(|r| r.refused).sum();
        if refused > 0 {
            report.warnings.push(format!(
                "{refused} refusal(s) by the peer's end (an ICMP port unreachable, or a Unix \
                 datagram peer gone): a datagram found the peer's socket closed (a send that \
                 reported one sent nothing; a request it hit is counted as timed out)"
            ));
        }
        if let Some(w) = sent_nothing(&report.roles) {
            report.warnings.push(w);
        }
        report.rss_kib = self.rss.finish();
        report.wall_ns = last_end.duration_since(self.t0).as_nanos() as u64;
        report
    }
}

/// The warning for the active roles that ended without error and sent nothing (and were
/// not refused by the peer, which has its own warning): their
/// threads were not run in the test's time (seen with 64 connections on two CPUs loaded
/// far beyond them: 15 of 64 moved no byte). The run's figures are then those of fewer
/// connections than asked for, and says so.
fn sent_nothing(roles: &[RoleReport]) -> Option<String> {
    let active = roles.iter().filter(|r| r.active).count();
    let idle: Vec<String> = roles
        .iter()
        .filter(|r| r.active && r.error.is_none() && r.bytes_sent == 0 && r.refused == 0)
        .map(|r| r.conn.to_string())
        .collect();
    if idle.is_empty() {
        return None;
    }
    const SHOWN: usize = 10;
    let more = idle.len().saturating_sub(SHOWN);
    let mut list = idle[..idle.len().min(SHOWN)].join(" ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    Some(format!(
        "{} of {active} connection(s) sent nothing in the test's time (connection {list}): \
         this host did not run them, loaded beyond its CPUs",
        idle.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_roles_that_sent_nothing_are_named() {
        let role = |conn: u32, active: bool, bytes_sent: u64, error: Option<&str>| RoleReport {
            conn,
            active,
            bytes_sent,
            error: error.map(str::to_string),
            ..RoleReport::default()
        };
        // Passive roles send nothing by design; a role that failed says why itself.
        let roles = [
            role(0, true, 16384, None),
            role(1, false, 0, None),
            role(2, true, 0, Some("connection 2: reset")),
        ];
        assert_eq!(sent_nothing(&roles), None);
        let mut roles: Vec<RoleReport> = (0..14).map(|c| role(c, true, 0, None)).collect();
        roles[3].bytes_sent = 1;
        let w = sent_nothing(&roles).expect("a warning");
        assert!(
            w.starts_with("13 of 14 connection(s) sent nothing")
                && w.contains("(connection 0 1 2 4 5 6 7 8 9 10 and 3 more)"),
            "{w}"
        );
    }
}

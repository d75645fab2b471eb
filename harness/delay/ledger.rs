//! The time the system takes from the delay element, counted as the element goes, so
//! that a frame's lateness splits into the system's share and the element's own
//! ([`crate::line::Departure`]).
//!
//! The system takes the element's time in three ways:
//! - it wakes the element later than the element asked (or than it owed it a frame);
//! - it holds the element's thread off the CPU while the element works: the wall clock
//!   runs on and the thread's CPU clock does not (a host taking the virtual CPU, a
//!   stop signal);
//! - the kernel spends CPU time inside a send, carrying the frame through the peer's
//!   whole stack, while the frames behind it wait.
//!
//! The ledger keeps a running total of that time, marked at every send, at the start of
//! every wait and at every wake. A frame due at `t` and sent now is excused what the
//! total grew by since `t`: whatever the system took in between, in this turn or in the
//! turns before it (a frame can fall due while the element works and leave only in the
//! next turn). Between two marks the ledger does not know when the system took its time:
//! of the stretch that holds `t`, it excuses at most the part after `t`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The system's running total and the element's clocks at its last mark while working.
pub struct Ledger {
    taken: Duration,
    wall: Instant,
    cpu_ns: u64,
    marks: VecDeque<(Instant, Duration)>,
}

impl Ledger {
    /// A ledger from `wall`, the thread's CPU clock then reading `cpu_ns`.
    pub fn new(wall: Instant, cpu_ns: u64) -> Ledger {
        Ledger {
            taken: Duration::ZERO,
            wall,
            cpu_ns,
            marks: VecDeque::from([(wall, Duration::ZERO)]),
        }
    }

    /// The element, working since the last mark, reads its clocks: the wall time since
    /// then that its thread did not run is the system's.
    pub fn mark(&mut self, wall: Instant, cpu_ns: u64) {
        let ran = Duration::from_nanos(cpu_ns.saturating_sub(self.cpu_ns));
        self.taken += wall
            .saturating_duration_since(self.wall)
            .saturating_sub(ran);
        (self.wall, self.cpu_ns) = (wall, cpu_ns);
        self.marks.push_back((wall, self.taken));
    }

    /// The element woke from a wait at `wall`, `late` after it asked or was owed a frame.
    /// Its thread slept in the wait, so nothing of the wait counts as held off.
    pub fn woke(&mut self, wall: Instant, cpu_ns: u64, late: Duration) {
        self.taken += late;
        (self.wall, self.cpu_ns) = (wall, cpu_ns);
        self.marks.push_back((wall, self.taken));
    }

    /// A send took `cpu` of the thread's CPU time.
    pub fn sent(&mut self, cpu: Duration) {
        self.taken += cpu;
    }

    /// What the system has taken since `due`: all it took after the first mark past
    /// `due`, and of the stretch before that mark, no more than the time from `due`.
    pub fn since(&self, due: Instant) -> Duration {
        let i = self.marks.partition_point(|m| m.0 <= due);
        let Some(&(next_at, next_taken)) = self.marks.get(i) else {
            let last = self.marks.back().map_or(Duration::ZERO, |m| m.1);
            return self.taken.saturating_sub(last);
        };
        let before = match i.checked_sub(1) {
            Some(j) => next_taken.saturating_sub(self.marks[j].1),
            None => Duration::ZERO,
        };
        let stretch = before.min(next_at.saturating_duration_since(due));
        self.taken.saturating_sub(next_taken) + stretch
    }

    /// No frame will fall due before `t`: the marks before the last one at or before it
    /// are no longer needed.
    pub fn forget_before(&mut self, t: Instant) {
        let i = self.marks.partition_point(|m| m.0 <= t);
        self.marks.drain(..i.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_system_is_charged_for_late_wakes_time_off_the_cpu_and_sends() {
        let t0 = Instant::now();
        let mut l = Ledger::new(t0, 0);
        // Works 1 ms on the CPU, then waits; woken 2 ms late at t0 + 10 ms.
        l.mark(t0 + MS, 1_000_000);
        assert_eq!(l.since(t0), Duration::ZERO);
        l.woke(t0 + 10 * MS, 1_000_000, 2 * MS);
        // A frame due at t0 + 8 ms, sent at once: all 2 ms of its lateness excused.
        l.mark(t0 + 10 * MS, 1_000_000);
        assert_eq!(l.since(t0 + 8 * MS), 2 * MS);
        // Its send takes 0.5 ms of CPU; then the thread is held off for 3 ms while it
        // runs 0.25 ms: the frame behind it is excused all of that too.
        l.sent(MS / 2);
        l.mark(t0 + 13 * MS + MS / 2 + MS / 4, 1_750_000);
        assert_eq!(l.since(t0 + 8 * MS), 2 * MS + MS / 2 + 3 * MS);
        // A frame due after the wake is not excused the wake's lateness.
        assert_eq!(l.since(t0 + 10 * MS), MS / 2 + 3 * MS);
    }

    #[test]
    fn a_frame_is_excused_only_what_the_system_took_after_its_time() {
        let t0 = Instant::now();
        let mut l = Ledger::new(t0, 0);
        // Woken 3 ms late at t0 + 10 ms: a frame due 0.1 ms before the wake is excused
        // 0.1 ms of it, not the 3 ms, so the element's own work after the wake counts.
        l.mark(t0 + MS, 1_000_000);
        l.woke(t0 + 10 * MS, 1_000_000, 3 * MS);
        l.mark(t0 + 12 * MS, 3_000_000);
        assert_eq!(l.since(t0 + 10 * MS - MS / 10), MS / 10);
        assert_eq!(l.since(t0 + 7 * MS), 3 * MS);
        // Held off 4 ms of 5 at the end of a turn, before its wait began: a frame due
        // 2 ms before the wait is excused 2 ms, one due 4.5 ms before it the 4 ms.
        l.mark(t0 + 17 * MS, 4_000_000);
        assert_eq!(l.since(t0 + 15 * MS), 2 * MS);
        assert_eq!(l.since(t0 + 12 * MS + MS / 2), 4 * MS);
    }

    #[test]
    fn forgetting_keeps_the_mark_that_answers_for_the_earliest_frame_to_come() {
        let t0 = Instant::now();
        let mut l = Ledger::new(t0, 0);
        for i in 1..=10u32 {
            l.mark(t0 + i * MS, 0);
        }
        // Held off all the time: 1 ms per mark.
        assert_eq!(l.since(t0 + 3 * MS + MS / 2), 6 * MS + MS / 2);
        l.forget_before(t0 + 3 * MS + MS / 2);
        assert_eq!(l.since(t0 + 3 * MS + MS / 2), 6 * MS + MS / 2);
        assert_eq!(l.marks.len(), 8);
        // Forgetting past the last mark keeps it, and what came after.
        l.forget_before(t0 + 20 * MS);
        assert_eq!(l.marks.len(), 1);
        l.mark(t0 + 11 * MS, 0);
        assert_eq!(l.since(t0 + 10 * MS), MS);
    }
}

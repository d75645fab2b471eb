//! The delay element's counts: a JSON file rewritten while it runs (tests and scripts read
//! it) and lines printed when it ends.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::line::Counts;

/// One direction's counts, named by its interfaces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Direction {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// How late the system woke the element (a real-time process where it may be one):
/// every turn, against the earlier of the time it asked to be woken and the kernel's
/// receive time of a frame that was waiting. A frame the element sent late on a turn it
/// was woken late is the system's lateness, not the element's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Wakes {
    pub wakes: u64,
    pub wake_late_max_ns: u64,
    pub wakes_late_over_1ms: u64,
}

impl Wakes {
    pub fn record(&mut self, late: std::time::Duration) {
        self.wakes += 1;
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.wake_late_max_ns = self.wake_late_max_ns.max(ns);
        self.wakes_late_over_1ms += u64::from(ns > 1_000_000);
    }
}

/// The stats file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub delay_ns: u64,
    pub jitter_ns: u64,
    /// The share of IP frames dropped, 0..=1.
    pub loss: f64,
    pub seed: u64,
    /// False once the element has stopped: the counts are final.
    pub running: bool,
    #[serde(flatten)]
    pub wakes: Wakes,
    pub directions: Vec<Direction>,
}

impl Stats {
    /// Replaces the file at once (a temporary file renamed over it), so that a reader
    /// sees the previous counts or the new ones, always whole.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// One line per direction, as printed at the end, and one of the element's timing.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for d in &self.directions {
            let c = &d.counts;
            let _ = writeln!(
                out,
                "{} -> {}: received {}, forwarded {}, dropped {} (tcp {}, udp {}, other {}), \
                 overflow {}, oversize {}, send errors {}, still queued {}; \
                 {} over 1 ms late (latest {} us, of it the element's {} us)",
                d.from,
                d.to,
                c.received,
                c.forwarded,
                c.dropped,
                c.dropped_tcp,
                c.dropped_udp,
                c.dropped_other,
                c.overflow,
                c.oversize,
                c.send_errors,
                c.queued,
                c.late_over_1ms,
                c.late_max_ns / 1000,
                c.own_late_max_ns / 1000
            );
        }
        let w = &self.wakes;
        let _ = writeln!(
            out,
            "woken {} times, {} over 1 ms late (latest {} us)",
            w.wakes,
            w.wakes_late_over_1ms,
            w.wake_late_max_ns / 1000
        );
        out
    }
}

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

    /// One line per direction, as printed at the end.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for d in &self.directions {
            let c = &d.counts;
            let _ = writeln!(
                out,
                "{} -> {}: received {}, forwarded {}, dropped {} (tcp {}, udp {}, other {}), \
                 overflow {}, oversize {}, send errors {}, still queued {}",
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
                c.queued
            );
        }
        out
    }
}

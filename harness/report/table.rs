//! The case table of a results directory: one row per case, with the columns chosen by
//! what the run varied (a knob whose cells differ between cases) and what it measured
//! (p50/p99/p99.9 for rr and crr, goodput for streams), so that it fits the page and
//! the figures an rr comparison is about are never scrolled out of sight. Whatever is the
//! same in every case is said once, above the table.

use std::fmt::Write;

use super::esc;
use super::{Case, ResultsDir};
use crate::output::figure::{mean_ci, Scale};
use crate::output::summary::{SizeReq, SummaryRow};
use crate::spec::units::format_size_human;

/// One column of the table: its heading and a cell per case.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub head: String,
    /// Text (left-aligned) rather than a figure.
    pub text: bool,
    /// Read back from the sockets (`–` where it does not apply), not a knob as written.
    pub read_back: bool,
    pub cells: Vec<String>,
}

impl Column {
    fn of(head: &str, text: bool, cases: &[Case], cell: impl Fn(&Case) -> String) -> Column {
        Column {
            head: head.to_string(),
            text,
            read_back: false,
            cells: cases.iter().map(cell).collect(),
        }
    }
    fn read_back(mut self) -> Column {
        self.read_back = true;
        self
    }
    /// Every case has the same cell; for a read-back (`–` where it does not apply, as
    /// the MSS of a UDP case), every case it applies to.
    fn constant(&self) -> bool {
        let mut cells = self
            .cells
            .iter()
            .filter(|c| !self.read_back || **c != dash());
        let first = cells.next();
        cells.all(|c| Some(c) == first)
    }
}

fn dash() -> String {
    "–".to_string()
}

/// Knobs of a case label that a read-back column shows already (requested → effective)
/// or that the row names itself.
const SHOWN_BY_ROW: [&str; 9] = [
    "proto",
    "protocol",
    "pattern",
    "direction",
    "flows",
    "sndbuf",
    "rcvbuf",
    "mss",
    "congestion",
];

/// A buffer as asked and as the kernel made it; an autotuned one also with its size at
/// the end (`sndbuf_end`), as the terminal's table shows it: grown, or shrunk under
/// memory pressure.
fn size_cell(req: Option<u64>, eff: Option<u64>, end: Option<u64>) -> String {
    let r = req.map_or_else(|| "auto".to_string(), format_size_human);
    let e = eff.map_or_else(dash, format_size_human);
    match (req, end) {
        (None, Some(end)) if Some(end) != eff => {
            let how = if eff.is_some_and(|e| end < e) {
                "ended at"
            } else {
                "grew to"
            };
            format!("{r} → {e}, {how} {}", format_size_human(end))
        }
        _ => format!("{r} → {e}"),
    }
}

/// A socket buffer as asked and as the kernel made it (the same in every repetition),
/// and, autotuned, its size at the end of the first repetition; from the aggregate row
/// when there is no repetition's.
fn buffer(c: &Case, send: bool) -> String {
    let pick = |f: &SummaryRow| {
        if send {
            (f.sndbuf_req, f.sndbuf_eff, f.sndbuf_end)
        } else {
            (f.rcvbuf_req, f.rcvbuf_eff, f.rcvbuf_end)
        }
    };
    let row = if send {
        (c.row.sndbuf_req, c.row.sndbuf_eff)
    } else {
        (c.row.rcvbuf_req, c.row.rcvbuf_eff)
    };
    // cases.csv keeps no end size: only a repetition's row tells what a buffer grew to.
    let (req, eff, end) = c.first.as_ref().map_or((row.0, row.1, None), pick);
    size_cell(
        req.and_then(SizeReq::bytes)
            .or(row.0.and_then(SizeReq::bytes)),
        eff.or(row.1),
        end,
    )
}

/// What describes a case: the pair of hosts, the transport and pattern, the knobs of its
/// label, the buffers and MSS as asked and as read back, the congestion control used.
fn descriptions(cases: &[Case]) -> Vec<Column> {
    let mut cols = vec![
        Column::of("path", true, cases, |c| {
            if c.row.src.is_empty() {
                dash()
            } else {
                format!("{}→{}", c.row.src, c.row.dst)
            }
        }),
        Column::of("test", true, cases, |c| {
            format!("{} {}", c.row.protocol, c.row.pattern)
        }),
        Column::of("direction", true, cases, |c| c.row.direction.to_string()),
        Column::of("flows", false, cases, |c| c.row.flows.to_string()),
    ];
    let mut keys: Vec<String> = Vec::new();
    for c in cases {
        for (k, _) in c.knobs() {
            if !keys.contains(&k) && !SHOWN_BY_ROW.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    for k in keys {
        cols.push(Column::of(&k, true, cases, |c| {
            c.knob(&k).unwrap_or_else(dash)
        }));
    }
    cols.push(Column::of("sndbuf", false, cases, |c| buffer(c, true)).read_back());
    cols.push(Column::of("rcvbuf", false, cases, |c| buffer(c, false)).read_back());
    cols.push(
        Column::of("MSS", false, cases, |c| {
            match (c.row.mss_req, c.row.mss_eff) {
                (None, None) => dash(),
                (q, e) => format!(
                    "{} → {}",
                    q.map_or_else(|| "auto".to_string(), |v| v.to_string()),
                    e.map_or_else(dash, |v| v.to_string())
                ),
            }
        })
        .read_back(),
    );
    cols.push(
        Column::of("congestion", true, cases, |c| {
            let cc: Vec<&str> = c.congestion.iter().map(String::as_str).collect();
            if cc.is_empty() {
                dash()
            } else {
                cc.join(", ")
            }
        })
        .read_back(),
    );
    cols
}

fn us(v: Option<f64>) -> String {
    v.map_or_else(dash, |v| format!("{:.1}", v / 1e3))
}

/// What the run measured: repetitions always; goodput for streams; transactions/s and
/// the round-trip percentiles for rr and crr (or a probe); loss, retransmits and CPU
/// where there are any.
fn measurements(cases: &[Case]) -> Vec<Column> {
    let any = |f: &dyn Fn(&Case) -> bool| cases.iter().any(f);
    let mut cols = vec![Column::of("reps ok", false, cases, |c| {
        format!("{}/{}", c.row.repetitions_ok, c.row.repetitions)
    })];
    if any(&|c| !c.is_transactional()) {
        cols.push(Column::of("goodput (95% CI)", false, cases, |c| {
            let r = &c.row;
            mean_ci(
                r.goodput_bps_mean,
                r.goodput_bps_ci95_low,
                r.goodput_bps_ci95_high,
                Scale::bits,
            )
        }));
    }
    if any(&|c| c.is_transactional()) {
        cols.push(Column::of("transactions/s", false, cases, |c| {
            c.row
                .transactions_per_s_mean
                .map_or_else(dash, |v| format!("{v:.0}"))
        }));
    }
    if any(&|c| c.row.rtt_p99_ns_mean.is_some()) {
        cols.push(Column::of("p50 (µs)", false, cases, |c| {
            us(c.row.rtt_p50_ns_mean)
        }));
        cols.push(Column::of("p99 (µs)", false, cases, |c| {
            us(c.row.rtt_p99_ns_mean)
        }));
        cols.push(Column::of("p99.9 (µs)", false, cases, |c| {
            us(c.row.rtt_p999_ns_mean)
        }));
    }
    let count = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.0}"));
    if any(&|c| c.row.protocol.is_datagram() || c.row.lost_mean.is_some_and(|v| v > 0.0)) {
        cols.push(Column::of("lost", false, cases, |c| count(c.row.lost_mean)));
    }
    if any(&|c| c.row.tcp_retrans_mean.is_some_and(|v| v > 0.0)) {
        cols.push(Column::of("retrans", false, cases, |c| {
            count(c.row.tcp_retrans_mean)
        }));
    }
    let cpu = |c: &Case, pick: fn(&super::Rep) -> Option<f64>| {
        let v = c.rep_values(pick);
        (!v.is_empty()).then(|| format!("{:.0}", v.iter().sum::<f64>() / v.len() as f64))
    };
    if any(&|c| cpu(c, |r| r.sender_cpu_pct).is_some()) {
        cols.push(Column::of("CPU % snd/rcv", false, cases, |c| {
            format!(
                "{} / {}",
                cpu(c, |r| r.sender_cpu_pct).unwrap_or_else(dash),
                cpu(c, |r| r.receiver_cpu_pct).unwrap_or_else(dash)
            )
        }));
    }
    cols
}

/// The table's columns, and what is the same in every case (`heading`, value), for the
/// line above it. A single case keeps its descriptions as columns.
pub fn columns(cases: &[Case]) -> (Vec<Column>, Vec<(String, String)>) {
    let mut shown = Vec::new();
    let mut same = Vec::new();
    for col in descriptions(cases) {
        if col.constant() && cases.len() > 1 {
            if let Some(v) = col.cells.first().filter(|v| **v != dash()) {
                same.push((col.head.clone(), v.clone()));
            }
        } else if col.cells.iter().any(|v| *v != dash()) {
            shown.push(col);
        }
    }
    shown.extend(measurements(cases));
    (shown, same)
}

/// The case table of one directory, with the line of what every case shares.
pub fn case_table(d: &ResultsDir) -> String {
    let (cols, same) = columns(&d.cases);
    let mut t = String::new();
    if !same.is_empty() {
        let facts: Vec<String> = same
            .iter()
            .map(|(k, v)| format!("{} <b>{}</b>", esc(k), esc(v)))
            .collect();
        let _ = write!(
            t,
            "<p class=meta>The same in every case: {}.</p>",
            facts.join(" · ")
        );
    }
    t.push_str("<div class=scroll><table class=cases><tr><th>case</th>");
    for c in &cols {
        let class = if c.text { " class=l" } else { "" };
        let _ = write!(t, "<th{class}>{}</th>", esc(&c.head));
    }
    t.push_str("</tr>");
    for (i, case) in d.cases.iter().enumerate() {
        // The whole label on hover: the knobs as the workload wrote them.
        let _ = write!(
            t,
            "<tr><td title=\"{}\">{}</td>",
            esc(case.label()),
            case.id()
        );
        for c in &cols {
            let class = if c.text { " class=l" } else { "" };
            let _ = write!(t, "<td{class}>{}</td>", esc(&c.cells[i]));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table></div>");
    if d.cases_not_shown() > 0 {
        let _ = write!(
            t,
            "<p class=note>The first {} of {} cases are shown and charted; cases.csv and summary.csv ({} rows) hold them all.</p>",
            d.cases.len(),
            d.cases_total,
            d.rows_total
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::size_cell;

    /// An autotuned buffer shows what it grew to, as the terminal's `auto:2.3M` does; a
    /// set one, or one that did not grow, its request and read-back only.
    #[test]
    fn an_autotuned_buffer_shows_what_it_grew_to() {
        let k = |n: u64| Some(n * 1024);
        assert_eq!(
            size_cell(None, k(128), Some(2_425_088)),
            "auto → 128K, grew to 2.3M"
        );
        assert_eq!(size_cell(None, k(128), k(128)), "auto → 128K");
        assert_eq!(size_cell(None, k(128), None), "auto → 128K");
        assert_eq!(size_cell(k(64), k(128), k(128)), "64K → 128K");
        assert_eq!(size_cell(None, k(128), k(64)), "auto → 128K, ended at 64K");
    }
}

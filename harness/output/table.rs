//! The short human-readable table `run` prints: one line per finished test showing what
//! the run varied (the swept knobs' requested values, the kernel's beside them where they
//! differ) and what it measured (goodput, or transactions/s for rr and crr), then one line
//! per case with the mean and its 95% interval over the repetitions. At most [`WIDTH`]
//! columns: abbreviated, the CSV files hold every detail.

use crate::output::cases::{CaseRecord, CaseRow};
use crate::output::figure::{mean_ci, Scale};
use crate::results::CaseRun;
use crate::spec::units::{format_bps, format_ns, format_size_human, parse_size};
use crate::spec::workload::PlannedCase;

/// The widest line the table prints.
pub const WIDTH: usize = 120;

/// The columns before and after the knobs: `case rep ` and the figures.
const LEAD: usize = 9;
const FIGURES: usize = 2 + 13 + 1 + 9 + 1 + 9 + 1 + 8 + 1 + 6 + 2 + 7;
const KNOB_MIN: usize = 6;
const KNOB_MAX: usize = 16;

/// The layout of one run's table.
pub struct Table {
    /// The knob columns and their widths.
    columns: Vec<(String, usize)>,
    /// Varied knobs that did not fit.
    hidden: usize,
    /// What the rate column holds: goodput, transactions/s, or each by its pattern.
    rate_header: &'static str,
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The value a case label gives `key` (`sndbuf=64K msg_size=16K` → `64K`).
fn label_value<'a>(label: &'a str, key: &str) -> Option<&'a str> {
    label
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

impl Table {
    /// The layout for `cases`, whose `varied` keys differ between cases. A run that varies
    /// nothing shows its buffers, which the kernel may have autotuned.
    pub fn new(cases: &[PlannedCase], varied: &[String]) -> Table {
        let keys: Vec<String> = if varied.is_empty() {
            vec!["sndbuf".into(), "rcvbuf".into()]
        } else {
            varied.to_vec()
        };
        let mut room = WIDTH - LEAD - FIGURES;
        let mut columns = Vec::new();
        let mut hidden = 0;
        for key in keys {
            let widest = cases
                .iter()
                .filter_map(|c| {
                    let named = label_value(&c.label, &key).map(|v| v.chars().count());
                    named.or_else(|| c.spec.value_of(&key).map(|v| v.chars().count()))
                })
                .max()
                .unwrap_or(4);
            // Room for an effective value beside the requested one (`auto:399.5K`).
            let extra = if has_effective(&key) { 7 } else { 0 };
            let width = (widest + extra)
                .max(key.chars().count().min(KNOB_MAX))
                .clamp(KNOB_MIN, KNOB_MAX);
            if width + 1 > room {
                hidden += 1;
                continue;
            }
            room -= width + 1;
            columns.push((key, width));
        }
        let streams = cases.iter().any(|c| !c.spec.pattern.is_transactional());
        let transactions = cases.iter().any(|c| c.spec.pattern.is_transactional());
        let rate_header = match (streams, transactions) {
            (true, true) => "goodput|tx/s",
            (false, true) => "tx/s",
            _ => "goodput",
        };
        Table {
            columns,
            hidden,
            rate_header,
        }
    }

    pub fn header(&self) -> String {
        let mut s = format!("{:>4} {:>3} ", "case", "rep");
        for (key, width) in &self.columns {
            s.push_str(&format!("{:<width$} ", fit(key, *width)));
        }
        s.push_str(&format!(
            " {:>13} {:>9} {:>9} {:>8} {:>6}  {:<7}",
            self.rate_header, "rtt p50", "rtt p99", "lost", "retr", "status"
        ));
        s.trim_end().to_string()
    }

    /// A note under the header when some varied knobs did not fit.
    pub fn note(&self) -> Option<String> {
        (self.hidden > 0).then(|| {
            format!(
                "({} more varied knob(s) not shown: see case_label in summary.csv)",
                self.hidden
            )
        })
    }

    pub fn line(&self, run: &CaseRun) -> String {
        let dash = || "-".to_string();
        let mut s = format!("{:>4} {:>3} ", run.case, run.repetition);
        for (key, width) in &self.columns {
            s.push_str(&format!("{:<width$} ", fit(&knob_cell(run, key), *width)));
        }
        let rtt = run.rtt();
        s.push_str(&format!(
            " {:>13} {:>9} {:>9} {:>8} {:>6}  {:<7}",
            rate_cell(run).unwrap_or_else(dash),
            rtt.map(|p| format_ns(p.p50)).unwrap_or_else(dash),
            rtt.map(|p| format_ns(p.p99)).unwrap_or_else(dash),
            run.lost().map(|l| l.to_string()).unwrap_or_else(dash),
            run.tcp_retrans()
                .map(|l| l.to_string())
                .unwrap_or_else(dash),
            run.status().as_str(),
        ));
        fit(s.trim_end(), WIDTH)
    }

    /// One line per case: the mean of its ok repetitions and its 95% interval, for the
    /// rate and the p99 round trip, as cases.csv has them.
    pub fn case_summary(&self, records: &[CaseRecord]) -> Vec<String> {
        let mut out = vec![format!(
            "{:>4} {:<38} {:>36} {:>28} {:>7}",
            "case", "mean (95% CI) over ok repetitions", self.rate_header, "rtt p99", "ok/reps"
        )];
        let mut sorted: Vec<&CaseRecord> = records.iter().collect();
        sorted.sort_by_key(|c| c.case);
        for c in sorted {
            let row = CaseRow::of(c);
            let tx = c.pattern.is_transactional();
            let rate = if tx {
                mean_ci(
                    row.transactions_per_s_mean,
                    row.transactions_per_s_ci95_low,
                    row.transactions_per_s_ci95_high,
                    Scale::transactions,
                )
            } else {
                mean_ci(
                    row.goodput_bps_mean,
                    row.goodput_bps_ci95_low,
                    row.goodput_bps_ci95_high,
                    Scale::bits,
                )
            };
            let p99 = mean_ci(
                row.rtt_p99_ns_mean,
                row.rtt_p99_ns_ci95_low,
                row.rtt_p99_ns_ci95_high,
                Scale::nanos,
            );
            let label = if c.label.is_empty() {
                format!("{} {}", c.protocol, c.pattern)
            } else {
                c.label.clone()
            };
            out.push(fit(
                &format!(
                    "{:>4} {:<38} {:>36} {:>28} {:>7}",
                    c.case,
                    fit(&label, 38),
                    rate,
                    p99,
                    format!("{}/{}", row.repetitions_ok, row.repetitions)
                ),
                WIDTH,
            ));
        }
        out
    }
}

fn format_tps(v: f64) -> String {
    Scale::transactions(v).show(v)
}

/// Goodput for a stream, transactions per second for rr and crr.
fn rate_cell(run: &CaseRun) -> Option<String> {
    if !run.spec.pattern.is_transactional() {
        run.goodput_bps().map(format_bps)
    } else {
        let tx = run.sum(|r| r.transactions);
        run.measured_s()
            .filter(|s| *s > 0.0 && tx > 0)
            .map(|s| format_tps(tx as f64 / s))
    }
}

fn has_effective(key: &str) -> bool {
    matches!(
        key,
        "sndbuf" | "rcvbuf" | "mss" | "congestion" | "tos" | "notsent_lowat" | "linger"
    )
}

/// `req→eff` where the kernel's value differs from what was asked, else the requested
/// value alone.
fn with_effective(req: &str, eff: Option<String>) -> String {
    match eff {
        Some(e) if e != req => format!("{req}→{e}"),
        _ => req.to_string(),
    }
}

/// A size as asked (`64K`) against the kernel's (`128K`: Linux doubles buffers).
fn size_cell(req: &str, eff: Option<u64>) -> String {
    let normal = parse_size(req).map(format_size_human).ok();
    with_effective(normal.as_deref().unwrap_or(req), eff.map(format_size_human))
}

/// The cell of a knob column for one run.
fn knob_cell(run: &CaseRun, key: &str) -> String {
    if run.not_applicable.iter().any(|k| k == key) {
        return "n/a".to_string();
    }
    let (active, passive) = run.first_conn_ends();
    // As the sweep wrote it; a case that does not name the key has the spec's value.
    let spec_value = run.spec.value_of(key);
    let req = label_value(&run.label, key).or(spec_value.as_deref());
    match key {
        "sndbuf" | "rcvbuf" => {
            let end = if key == "sndbuf" { active } else { passive };
            let Some(end) = end else {
                return req.unwrap_or("-").to_string();
            };
            let (asked, eff, last) = if key == "sndbuf" {
                (
                    end.knobs.requested.sndbuf,
                    end.knobs.effective.sndbuf,
                    end.sndbuf_end,
                )
            } else {
                (
                    end.knobs.requested.rcvbuf,
                    end.knobs.effective.rcvbuf,
                    end.rcvbuf_end,
                )
            };
            match asked {
                Some(a) => size_cell(&format_size_human(a), eff),
                // Autotuned: what it grew to by the end.
                None => match last {
                    Some(l) => format!("auto:{}", format_size_human(l)),
                    None => "auto".to_string(),
                },
            }
        }
        "mss" => with_effective(
            req.unwrap_or("-"),
            active
                .and_then(|r| r.tcp_info.as_ref())
                .map(|i| i.snd_mss.to_string()),
        ),
        "congestion" => with_effective(
            req.unwrap_or("-"),
            active.and_then(|r| r.knobs.effective.congestion.clone()),
        ),
        "notsent_lowat" => match req {
            Some(r) => size_cell(
                r,
                active
                    .and_then(|a| a.knobs.effective.notsent_lowat)
                    .map(u64::from),
            ),
            None => "-".to_string(),
        },
        // The kernel reports SO_LINGER off or its seconds.
        "linger" => match (req, active) {
            (Some(r), Some(a)) => with_effective(
                r,
                Some(
                    a.knobs
                        .effective
                        .linger
                        .map_or("off".into(), |s| s.to_string()),
                ),
            ),
            (r, _) => r.unwrap_or("-").to_string(),
        },
        _ => req.unwrap_or("-").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::config::{SpecBuilder, TestSpec};

    fn case(label: &str, settings: &[(&str, &str)]) -> PlannedCase {
        let mut b = SpecBuilder::new();
        for (k, v) in settings {
            b.set(k, v).unwrap();
        }
        PlannedCase {
            label: label.into(),
            spec: b.build().unwrap(),
            not_applicable: Vec::new(),
        }
    }

    #[test]
    fn the_header_names_what_varied_and_fits() {
        let cases = vec![
            case("sndbuf=64K pattern=stream", &[("sndbuf", "64K")]),
            case(
                "sndbuf=1M pattern=rr",
                &[("sndbuf", "1M"), ("pattern", "rr")],
            ),
        ];
        let t = Table::new(&cases, &["sndbuf".into(), "pattern".into()]);
        let h = t.header();
        assert!(h.contains("sndbuf") && h.contains("pattern"), "{h}");
        assert!(h.contains("goodput|tx/s"), "{h}");
        assert!(h.chars().count() <= WIDTH);
        assert!(t.note().is_none());
        // Too many varied knobs: the rest are counted, the line still fits.
        let many: Vec<String> = (0..20).map(|i| format!("knob_number_{i}")).collect();
        let t = Table::new(&[PlannedCase::default()], &many);
        assert!(t.header().chars().count() <= WIDTH, "{}", t.header());
        assert!(t.note().unwrap().contains("not shown"));
        let rr = Table::new(&[case("", &[("pattern", "rr")])], &[]);
        assert!(rr.header().contains("tx/s") && !rr.header().contains("goodput"));
        let _ = TestSpec::default();
    }

    #[test]
    fn cells_are_cut_to_their_width_and_show_effective_values() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(size_cell("64K", Some(131072)), "64K→128K");
        assert_eq!(size_cell("64K", Some(65536)), "64K");
        assert_eq!(with_effective("bbr", Some("cubic".into())), "bbr→cubic");
        assert_eq!(
            label_value("sndbuf=64K msg_size=16K", "msg_size"),
            Some("16K")
        );
        assert_eq!(label_value("sndbuf=64K", "rcvbuf"), None);
        // One format for a symmetric and an asymmetric interval, the unit once.
        assert_eq!(
            mean_ci(Some(2e9), Some(1e9), Some(3e9), Scale::bits),
            "2.00 Gbit/s (95% CI 1.00–3.00)"
        );
        assert_eq!(
            mean_ci(Some(5.0), None, None, Scale::transactions),
            "5 tx/s (no CI)"
        );
        assert_eq!(
            mean_ci(Some(100.0), Some(90.0), Some(130.0), Scale::transactions),
            "100 tx/s (95% CI 90–130)"
        );
        assert_eq!(format_tps(13_800.0), "13.8k tx/s");
    }
}

//! The report page: one self-contained HTML file — inline CSS, inline SVG, no script and
//! nothing fetched — so it opens offline and can be mailed or archived.

use std::fmt::Write;

use super::charts::Chart;
use std::collections::{BTreeMap, BTreeSet};

use super::compare::{pair, Verdict};
use super::ResultsDir;
use crate::measure::hostinfo::HostFacts;
use crate::sys::Os;

pub use super::esc;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1240px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .45em;text-align:right;white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0}td.l,th.l{text-align:left}table.cases th{white-space:normal}
figure{margin:1em 0}figure svg{width:100%;height:auto;display:block}figcaption{font-size:.9em;color:#555}
details{margin:.4em 0}summary{cursor:pointer;color:#1f4e99}
.improved{background:#e3f6e3;color:#14632a}.regressed{background:#fbe4e4;color:#8c1d1d}
.nochange{color:#555}.inconclusive{color:#8a6d00}
.meta{font-size:.9em;color:#444}.note{font-size:.85em;color:#8a6d00}
";

fn dash() -> String {
    "–".to_string()
}

/// The congestion control the data sockets ran, as read back from them.
fn congestion_used(d: &ResultsDir) -> String {
    let used: BTreeSet<&str> = d
        .cases
        .iter()
        .flat_map(|c| c.congestion.iter().map(String::as_str))
        .collect();
    if used.is_empty() {
        dash()
    } else {
        used.into_iter().collect::<Vec<_>>().join(", ")
    }
}

fn host_line(h: Option<&HostFacts>, side: &str) -> String {
    let Some(h) = h else {
        return format!("{side}: –");
    };
    let sys = |k: &str| esc(&h.sysctls.get(k).cloned().unwrap_or_else(|| "?".into()));
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    // Each system's own limits: what capped a buffer there.
    let limits = match h.system {
        Some(Os::Macos) => format!("kern.ipc.maxsockbuf {}", sys("kern.ipc.maxsockbuf")),
        Some(Os::Freebsd) => format!(
            "kern.ipc.maxsockbuf {} — default congestion control {}",
            sys("kern.ipc.maxsockbuf"),
            sys("net.inet.tcp.cc.algorithm")
        ),
        Some(Os::Windows) => format!(
            "no buffer limit reported; a new TCP socket's SO_SNDBUF {} SO_RCVBUF {}",
            n(h.default_sndbuf),
            n(h.default_rcvbuf)
        ),
        Some(Os::Linux) | None => format!(
            "rmem_max {} wmem_max {} — default congestion control {}",
            sys("net.core.rmem_max"),
            sys("net.core.wmem_max"),
            sys("net.ipv4.tcp_congestion_control")
        ),
    };
    let system = h.system.map_or("?", Os::title);
    format!(
        "{side}: {} — {system}: {} {} — {} ({} cores) — {limits}",
        esc(&h.hostname),
        esc(&h.os),
        esc(&h.kernel),
        esc(&h.cpu_model),
        h.cores,
    )
}

/// A value in the unit's scale (`divisor`), with the decimals its size needs.
fn fmt_value(v: f64, divisor: f64) -> String {
    let v = v / divisor;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Everything meta.json says of a directory, flattened to `key → value`: host facts of
/// both sides, the run's facts, and each knob's values over the cases.
fn facts(d: &ResultsDir) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let m = &d.meta;
    out.insert("sockbench version".into(), m.sockbench_version.clone());
    out.insert("git revision".into(), m.git_revision.clone());
    out.insert("receiver".into(), m.receiver.clone());
    out.insert("repetitions".into(), m.repeat.to_string());
    out.insert("workload".into(), m.workload_name.clone());
    // The path measured on (SOCKBENCH_PATH, `lab.sh exec`): a loss or a delay of its own
    // explains a difference no knob does.
    let path = m.path.as_ref().map_or("not recorded", |p| p.note.as_str());
    out.insert("path".into(), path.to_string());
    for (side, h) in [
        ("sender", Some(&m.hosts.sender)),
        ("receiver", m.hosts.receiver.as_ref()),
    ] {
        let Some(h) = h else { continue };
        let mut flat = BTreeMap::new();
        flatten(
            &format!("{side} host"),
            &serde_json::to_value(h).unwrap_or_default(),
            &mut flat,
        );
        for (k, v) in flat {
            out.insert(k, v.into_iter().collect::<Vec<_>>().join(", "));
        }
    }
    let mut knobs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &m.cases {
        flatten(
            "knob",
            &serde_json::to_value(&c.spec).unwrap_or_default(),
            &mut knobs,
        );
    }
    for (k, v) in knobs {
        out.insert(k.clone(), knob_values(&k, v));
    }
    out.insert("congestion control (read back)".into(), congestion_used(d));
    out
}

/// A knob's values over the cases, in order: a size knob's (`knob sender sndbuf`) as
/// sizes from the smallest up (`64K, 256K, 1M`), not as bytes in text order.
fn knob_values(key: &str, values: BTreeSet<String>) -> String {
    let field = key.rsplit(' ').next().unwrap_or(key);
    let sized = crate::spec::config::is_size_key(field);
    // A size not set is left to the kernel: `auto`, as the matrix and the tables say.
    let mut v: Vec<String> = values
        .into_iter()
        .map(|s| match s.parse::<u64>() {
            Ok(n) if sized => crate::spec::units::format_size(n),
            _ if sized && s == "–" => "auto".to_string(),
            _ => s,
        })
        .collect();
    v.sort_by_key(|s| super::value_order(s));
    v.join(", ")
}

/// A duration as serde writes one (`{"secs": 2, "nanos": 500000000}`), as `2.5s`.
fn as_duration(map: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let (secs, nanos) = (map.get("secs")?.as_u64()?, map.get("nanos")?.as_u64()?);
    let d = std::time::Duration::new(secs, u32::try_from(nanos).ok()?);
    (map.len() == 2).then(|| crate::spec::units::format_duration(d))
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, BTreeSet<String>>) {
    if let Some(d) = v.as_object().and_then(as_duration) {
        out.entry(prefix.to_string()).or_default().insert(d);
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix} {k}"), v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.entry(prefix.to_string()).or_default().insert(s.clone());
        }
        serde_json::Value::Null => {
            out.entry(prefix.to_string())
                .or_default()
                .insert("–".into());
        }
        other => {
            out.entry(prefix.to_string())
                .or_default()
                .insert(other.to_string());
        }
    }
}

/// What differs between the baseline and another directory: knobs and host facts.
fn differences(base: &ResultsDir, other: &ResultsDir) -> String {
    let (fb, fo) = (facts(base), facts(other));
    let keys: BTreeSet<&String> = fb.keys().chain(fo.keys()).collect();
    let mut rows = String::new();
    for k in keys {
        // A fact one side did not record (a sysctl a network namespace does not have) is
        // said to be so, not shown as the `–` of a knob not set.
        let fact =
            |f: &BTreeMap<String, String>| f.get(k).map_or("not recorded", |s| s).to_string();
        let (b, o) = (fact(&fb), fact(&fo));
        if b != o {
            let _ = write!(
                rows,
                "<tr><td class=l>{}</td><td class=l>{}</td><td class=l>{}</td></tr>",
                esc(k),
                esc(&b),
                esc(&o)
            );
        }
    }
    if rows.is_empty() {
        return "<p class=meta>The two directories have the same knobs and host facts (meta.json).</p>".into();
    }
    format!(
        "<p class=meta>What differs (meta.json and the sockets' read-back):</p><div class=scroll><table class=diff><tr><th class=l>fact</th><th class=l>{}</th><th class=l>{}</th></tr>{rows}</table></div>",
        esc(&base.name),
        esc(&other.name)
    )
}

fn comparison(dirs: &[ResultsDir]) -> String {
    let mut s = String::new();
    let base = &dirs[0];
    for other in &dirs[1..] {
        let pairs = pair(base, other);
        let _ = write!(
            s,
            "<h2>{} against the baseline {}</h2>",
            esc(&other.name),
            esc(&base.name)
        );
        s.push_str(&differences(base, other));
        if pairs.is_empty() {
            let _ = write!(
                s,
                "<p class=note>No case of {} has the knob values of a case of {}: the two runs measured different things, and nothing is compared. <code>--baseline</code> picks the directory to compare against.</p>",
                esc(&other.name),
                esc(&base.name)
            );
            continue;
        }
        let _ = write!(
            s,
            "<p class=meta>{} of {} cases paired by their knob values. \
             Verdicts from Welch's t-test on the repetitions at 95%: a difference within the noise is “no change”; \
             with fewer than two repetitions on a side it is “inconclusive”.</p>",
            pairs.len(),
            base.cases.len()
        );
        s.push_str("<div class=scroll><table><tr><th class=l>case</th><th class=l>figure (unit)</th><th>baseline</th><th>this</th><th>ratio</th><th class=l>verdict</th></tr>");
        for p in &pairs {
            for ch in &p.changes {
                let cells = figure_cells(
                    ch.figure.name,
                    ch.figure.metric,
                    ch.base_mean,
                    ch.other_mean,
                );
                let class = match ch.verdict {
                    Verdict::Improved => "improved",
                    Verdict::Regressed => "regressed",
                    Verdict::NoChange => "nochange",
                    Verdict::Inconclusive => "inconclusive",
                };
                let _ = write!(
                    s,
                    "<tr><td class=l>{}</td><td class=l>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td class=\"l {class}\">{}</td></tr>",
                    esc(&p.key),
                    cells[0],
                    cells[1],
                    cells[2],
                    ch.ratio,
                    ch.verdict.as_str()
                );
            }
        }
        s.push_str("</table></div>");
    }
    s
}

/// A comparison row's figure and its two values: in one unit, named with the figure
/// (`goodput (Mbit/s)`, `31.2`, `95.6`), when both read in it; else each value with its
/// own (`18.0 Gbit/s` beside `21.9 Mbit/s`), so that neither shows as `0.02`.
fn figure_cells(
    name: &str,
    metric: crate::output::metric::Metric,
    base: f64,
    other: f64,
) -> [String; 3] {
    let (divisor, unit) = metric.unit_for(base.max(other));
    // One unit, unless the smaller value would read under 0.1 in the larger's.
    let small = base.min(other);
    if small == 0.0 || small / divisor >= 0.1 {
        return [
            format!("{name} ({unit})"),
            fmt_value(base, divisor),
            fmt_value(other, divisor),
        ];
    }
    let (b, o) = (metric.unit_for(base), metric.unit_for(other));
    [
        name.to_string(),
        format!("{} {}", fmt_value(base, b.0), b.1),
        format!("{} {}", fmt_value(other, o.0), o.1),
    ]
}

pub fn page(dirs: &[ResultsDir], charts: &[Chart]) -> String {
    let mut s = String::new();
    let title = if dirs.len() == 1 {
        format!("sockbench report: {}", dirs[0].name)
    } else {
        format!("sockbench report: {} results directories", dirs.len())
    };
    let _ = write!(s, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{}</title><style>{STYLE}</style></head><body>", esc(&title));
    let _ = write!(s, "<h1>{}</h1>", esc(&title));
    s.push_str(&runs(dirs));
    if dirs.len() > 1 {
        s.push_str("<section id=comparison>");
        s.push_str(&comparison(dirs));
        s.push_str("</section>");
    }
    s.push_str(&charts_section(dirs, charts));
    s.push_str("</section><section id=cases>");
    for d in dirs {
        let _ = write!(s, "<h2>Cases: {}</h2>", esc(&d.name));
        s.push_str(&super::table::case_table(d));
    }
    s.push_str("</section><p class=meta>Requested → effective: what was asked for and what the kernel reported (Linux doubles socket buffers and caps them at net.core.rmem_max / wmem_max). Goodput: payload received after the warm-up over the receiver's measured time. Latency: merged HdrHistograms.</p></body></html>\n");
    s
}

/// The runs section: each directory's workload, versions, hosts, and a tune's answer.
fn runs(dirs: &[ResultsDir]) -> String {
    let mut s = String::new();
    s.push_str("<section id=runs>");
    for (i, d) in dirs.iter().enumerate() {
        let m = &d.meta;
        let role = if dirs.len() > 1 && i == 0 {
            " (baseline)"
        } else {
            ""
        };
        let _ = write!(
            s,
            "<p class=meta><b>{}</b>{role}: workload <i>{}</i>, {} case(s), {} test(s), started {}, sockbench {} ({})<br>congestion control of the data sockets (read back): {}<br>{}<br>{}</p>",
            esc(&d.name),
            esc(&m.workload_name),
            d.cases_total,
            d.rows_total,
            esc(&m.started_utc),
            esc(&m.sockbench_version),
            esc(&m.git_revision),
            esc(&congestion_used(d)),
            host_line(Some(&m.hosts.sender), if m.fleet.is_empty() { "sender" } else { "controller" }),
            if m.fleet.is_empty() {
                host_line(m.hosts.receiver.as_ref(), "receiver")
            } else {
                m.fleet
                    .iter()
                    .map(|h| host_line(h.facts.as_ref(), &esc(&format!("{} ({})", h.name, h.address))))
                    .collect::<Vec<_>>()
                    .join("<br>")
            },
        );
        if let Some(path) = &m.path {
            let _ = write!(s, "<p class=meta>path: {}</p>", esc(&path.note));
        }
        if !m.workload_description.is_empty() {
            let _ = write!(s, "<p class=meta>{}</p>", esc(&m.workload_description));
        }
        if let Some((answer, _)) = &d.tune {
            s.push_str(&tune_answer(answer));
        }
    }
    s.push_str("</section>");
    s
}

/// The charts section, each chart with its caption (or folded away).
fn charts_section(dirs: &[ResultsDir], charts: &[Chart]) -> String {
    let mut s = String::new();
    s.push_str("<section id=charts><h2>Charts</h2>");
    for c in charts {
        if c.collapsed {
            let _ = write!(
                s,
                "<details id=\"{}\"><summary>{}</summary><figure>{}</figure></details>",
                esc(&c.id),
                esc(&c.title),
                c.svg
            );
        } else {
            let _ = write!(
                s,
                "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>",
                esc(&c.id),
                c.svg,
                esc(&c.title)
            );
        }
    }
    if dirs
        .iter()
        .any(|d| d.cases.len() > super::MAX_INTERVAL_CASES)
    {
        let _ = write!(
            s,
            "<p class=note>Per-interval charts are drawn for the first {} cases of each directory; intervals.csv holds every case.</p>",
            super::MAX_INTERVAL_CASES
        );
    }
    s
}

/// A tune directory's answer, on top: status, settings, the goal's and constraints'
/// figures with their intervals, what it cost, and why.
fn tune_answer(a: &crate::tune::Answer) -> String {
    let settings: Vec<String> = a
        .settings
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    // As the terminal says them: `goodput 31.20 Gbit/s (95% CI 30.10–32.40)`.
    let figures: Vec<String> = (a.figures.iter())
        .map(|(k, f)| format!("{} {}", k.name(), f.show(*k)))
        .collect();
    let constraints = if a.constraints.is_empty() {
        String::new()
    } else {
        format!(" with {}", a.constraints.join(", "))
    };
    format!(
        "<p class=answer><b>tune: {}{}</b> → <b>{}</b>: {}<br>{}<br>{} test(s) run; the full grid is {}<br>{}</p>",
        esc(&a.goal),
        esc(&constraints),
        format!("{:?}", a.status).to_lowercase(),
        esc(&settings.join(", ")),
        esc(&figures.join("; ")),
        a.tests_run,
        a.grid_tests,
        esc(&a.why)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test's durations read as durations in "What differs", not as serde's fields.
    #[test]
    fn durations_in_the_knobs_read_as_durations() {
        let spec = crate::spec::config::TestSpec {
            duration: std::time::Duration::from_millis(2500),
            ..Default::default()
        };
        let mut out = BTreeMap::new();
        flatten("knob", &serde_json::to_value(&spec).unwrap(), &mut out);
        let shown: Vec<&String> = out["knob duration"].iter().collect();
        assert_eq!(shown, ["2500ms"]);
        assert!(!out
            .keys()
            .any(|k| k.ends_with(" secs") || k.ends_with(" nanos")));
    }

    /// Sizes read as sizes from the smallest up; numbers go in numeric order.
    #[test]
    fn size_knobs_read_as_sizes_in_order() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let sizes = set(&["1048576", "262144", "65536"]);
        assert_eq!(
            knob_values("knob sender sndbuf", sizes.clone()),
            "64K, 256K, 1M"
        );
        assert_eq!(
            knob_values("knob msg_size", set(&["131072", "1000"])),
            "1000, 128K"
        );
        assert_eq!(knob_values("knob flows", set(&["10", "2"])), "2, 10");
        assert_eq!(
            knob_values("knob receiver rcvbuf", set(&["–", "4096"])),
            "4K, auto"
        );
        assert_eq!(
            knob_values("knob sender mss", set(&["–", "1400"])),
            "1400, –"
        );
    }

    /// Values of one unit share it in the figure's cell; values that read in different
    /// units each carry their own.
    #[test]
    fn a_comparison_row_keeps_each_value_readable() {
        use crate::output::metric::Metric;
        let cells = figure_cells("goodput", Metric::GoodputBps, 31.16e6, 95.64e6);
        assert_eq!(cells, ["goodput (Mbit/s)", "31.2", "95.6"]);
        let cells = figure_cells("goodput", Metric::GoodputBps, 18.0e9, 21.89e6);
        assert_eq!(cells, ["goodput", "18.0 Gbit/s", "21.9 Mbit/s"]);
        // Close values on either side of a unit's edge keep one unit.
        let cells = figure_cells("goodput", Metric::GoodputBps, 1.98e9, 2.02e9);
        assert_eq!(cells, ["goodput (Gbit/s)", "1.98", "2.02"]);
    }
}

//! The report page: one self-contained HTML file — inline CSS, inline SVG, no script and
//! nothing fetched — so it opens offline and can be mailed or archived.

use std::fmt::Write;

use super::charts::Chart;
use super::compare::{pair, Verdict};
use super::{Case, ResultsDir};
use crate::units::{format_bps, format_ns, format_size_human};

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;width:100%}
th,td{border:1px solid #ddd;padding:.25em .45em;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
details{margin:.4em 0}summary{cursor:pointer;color:#1f4e99}
.improved{background:#e3f6e3;color:#14632a}.regressed{background:#fbe4e4;color:#8c1d1d}
.nochange{color:#555}.inconclusive{color:#8a6d00}
.meta{font-size:.85em;color:#444}.clamped{color:#8c1d1d}
";

fn opt(v: Option<String>) -> String {
    v.unwrap_or_else(|| "–".to_string())
}

fn size_cell(req: &str, eff: &str) -> String {
    let r = if req.is_empty() || req == "auto" {
        "auto".to_string()
    } else {
        format_size_human(req.parse().unwrap_or(0))
    };
    let e = if eff.is_empty() {
        "–".to_string()
    } else {
        format_size_human(eff.parse().unwrap_or(0))
    };
    format!("{r} → {e}")
}

fn ns_cell(c: &Case, col: &str) -> String {
    opt(c.num(col).map(|v| format_ns(v as u64)))
}

fn case_table(d: &ResultsDir) -> String {
    let mut t = String::from(
        "<table><tr><th>case</th><th class=l>knobs</th><th class=l>protocol</th><th class=l>pattern</th>\
         <th>reps</th><th>SO_SNDBUF req → eff</th><th>SO_RCVBUF req → eff</th><th>MSS req → eff</th>\
         <th>goodput mean ± 95% CI</th><th>p50</th><th>p99</th><th>p99.9</th><th>lost</th>\
         <th>retrans</th><th>CPU snd / rcv</th></tr>",
    );
    for c in &d.cases {
        let goodput = match (
            c.num("goodput_bps_mean"),
            c.num("goodput_bps_ci95_low"),
            c.num("goodput_bps_ci95_high"),
        ) {
            (Some(m), Some(lo), Some(hi)) => {
                format!("{} ± {}", format_bps(m), format_bps((hi - lo) / 2.0))
            }
            (Some(m), _, _) => format_bps(m),
            _ => "–".into(),
        };
        let cpu = |col: &str| {
            let v = c.rep_values(col);
            if v.is_empty() {
                "–".to_string()
            } else {
                format!("{:.0}%", v.iter().sum::<f64>() / v.len() as f64)
            }
        };
        let mss = if c.rep("mss_req").is_empty() && c.rep("mss_eff").is_empty() {
            "–".to_string()
        } else {
            format!(
                "{} → {}",
                if c.rep("mss_req").is_empty() {
                    "auto"
                } else {
                    c.rep("mss_req")
                },
                opt(Some(c.rep("mss_eff").to_string()).filter(|s| !s.is_empty()))
            )
        };
        let _ = write!(
            t,
            "<tr><td>{}</td><td class=l>{}</td><td class=l>{}</td><td class=l>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
            c.case,
            esc(&c.label),
            esc(c.get("protocol")),
            esc(c.get("pattern")),
            c.get("repetitions_ok"),
            c.get("repetitions"),
            size_cell(c.rep("sndbuf_req"), c.rep("sndbuf_eff")),
            size_cell(c.rep("rcvbuf_req"), c.rep("rcvbuf_eff")),
            mss,
            goodput,
            ns_cell(c, "rtt_p50_ns_mean"),
            ns_cell(c, "rtt_p99_ns_mean"),
            ns_cell(c, "rtt_p999_ns_mean"),
            opt(c.num("lost_mean").map(|v| format!("{v:.0}"))),
            opt(c.num("tcp_retrans_mean").map(|v| format!("{v:.0}"))),
            cpu("sender_cpu_pct"),
            cpu("receiver_cpu_pct"),
        );
    }
    t.push_str("</table>");
    t
}

fn host_line(meta: &serde_json::Value, side: &str) -> String {
    let h = &meta["hosts"][side];
    if h.is_null() {
        return format!("{side}: –");
    }
    let s = |k: &str| h[k].as_str().unwrap_or("").to_string();
    let sys = |k: &str| h["sysctls"][k].as_str().unwrap_or("?").to_string();
    format!(
        "{side}: {} — Linux {} — {} ({} cores) — rmem_max {} wmem_max {} — cc {}",
        esc(&s("hostname")),
        esc(&s("kernel")),
        esc(&s("cpu_model")),
        h["cores"],
        esc(&sys("net.core.rmem_max")),
        esc(&sys("net.core.wmem_max")),
        esc(&sys("net.ipv4.tcp_congestion_control"))
    )
}

fn fmt_metric(metric: &str, v: f64) -> String {
    if metric.ends_with("_ns") {
        format_ns(v as u64)
    } else if metric == "goodput_bps" {
        format_bps(v)
    } else {
        format!("{v:.1}")
    }
}

fn comparison(dirs: &[ResultsDir]) -> String {
    let mut s = String::new();
    let base = &dirs[0];
    for other in &dirs[1..] {
        let pairs = pair(base, other);
        let _ = write!(
            s,
            "<h2>{} against the baseline {}</h2><p class=meta>{} of {} cases paired by their knob values. \
             Verdicts from Welch's t-test on the repetitions at 95%: a difference within the noise is “no change”; \
             with fewer than two repetitions on a side it is “inconclusive”.</p>",
            esc(&other.name),
            esc(&base.name),
            pairs.len(),
            base.cases.len()
        );
        if pairs.is_empty() {
            continue;
        }
        s.push_str("<table><tr><th class=l>case</th><th class=l>figure</th><th>baseline</th><th>this</th><th>ratio</th><th class=l>verdict</th></tr>");
        for p in &pairs {
            for ch in &p.changes {
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
                    ch.metric,
                    fmt_metric(ch.metric, ch.base_mean),
                    fmt_metric(ch.metric, ch.other_mean),
                    ch.ratio,
                    ch.verdict.as_str()
                );
            }
        }
        s.push_str("</table>");
    }
    s
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
            "<p class=meta><b>{}</b>{role}: workload <i>{}</i>, {} case(s), started {}, sockbench {} ({})<br>{}<br>{}</p>",
            esc(&d.name),
            esc(m["workload_name"].as_str().unwrap_or("")),
            d.cases.len(),
            esc(m["started_utc"].as_str().unwrap_or("")),
            esc(m["sockbench_version"].as_str().unwrap_or("")),
            esc(m["git_revision"].as_str().unwrap_or("")),
            host_line(m, "sender"),
            host_line(m, "receiver"),
        );
        if let Some(desc) = m["workload_description"].as_str().filter(|d| !d.is_empty()) {
            let _ = write!(s, "<p class=meta>{}</p>", esc(desc));
        }
    }
    s.push_str("</section>");
    if dirs.len() > 1 {
        s.push_str("<section id=comparison>");
        s.push_str(&comparison(dirs));
        s.push_str("</section>");
    }
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
    s.push_str("</section><section id=cases>");
    for d in dirs {
        let _ = write!(s, "<h2>Cases: {}</h2>", esc(&d.name));
        s.push_str(&case_table(d));
    }
    s.push_str("</section><p class=meta>Requested → effective: what was asked for and what the kernel reported (Linux doubles socket buffers and caps them at net.core.rmem_max / wmem_max). Goodput: payload received after the warm-up over the receiver's measured time. Latency: merged HdrHistograms.</p></body></html>\n");
    s
}

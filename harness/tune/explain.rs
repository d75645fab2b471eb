//! The answer of `tune`, explained from what was measured: read back from the results
//! directory (summary.csv, meta.json, answer.json) with the types that wrote them, so the
//! explanation of a finished tune can be rebuilt and checked from its files alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::race::median;
use super::{Answer, TuneError};
use crate::measure::outcome::Status;
use crate::output::meta::Meta;
use crate::output::summary::{SizeReq, SummaryRow};
use crate::spec::units::{format_bps, format_ns, format_size_human, parse_size};

/// The bandwidth-delay product and where its two factors came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Bdp {
    /// The best mean goodput of any candidate tested twice or more (of any, when none
    /// was), bits/s.
    pub rate_bps: f64,
    /// The candidate that reached it.
    pub rate_from: String,
    /// The base round trip, seconds.
    pub rtt_s: f64,
    /// What the round trip is: TCP_INFO min_rtt, or the probe's median.
    pub rtt_from: String,
    /// `tcp_info_min_rtt` or `rtt_p50`.
    pub rtt_source: &'static str,
    pub bytes: f64,
}

/// Where goodput stops growing along one size: the smallest size measured whose median
/// goodput reaches `share` (0.95, or the goal's) of the best median along it (sizes tested
/// twice or more, when two sizes were), as the race judges sizes by their medians.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct KneeAt {
    pub key: String,
    /// As written in the matrix (`256K`).
    pub value: String,
    pub bytes: u64,
    /// Its median goodput, and the best median along the key.
    pub goodput_bps: f64,
    pub best_goodput_bps: f64,
    /// The share of the best median the knee reaches: the goal's (`goodput>=F*max`), else
    /// 0.95.
    pub share: f64,
    /// The sizes of the key measured, repeated or not.
    pub sizes_measured: usize,
    /// The sizes the knee was judged among: those tested twice or more, when two were
    /// (else every size measured).
    pub sizes_compared: usize,
}

/// answer.json's `explain`: the explanation's numbers, each from measured figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Numbers {
    /// Bandwidth-delay product, bytes: `bottleneck_bps` / 8 × `base_rtt_ns`.
    pub bdp_bytes: Option<u64>,
    /// The base round trip: the smallest TCP_INFO min_rtt of any ok test (µs resolution),
    /// or without it the smallest median round trip of the probe or the rr pattern.
    pub base_rtt_ns: Option<u64>,
    /// Which of the two `base_rtt_ns` is: `tcp_info_min_rtt` or `rtt_p50`.
    pub base_rtt_from: String,
    /// The bottleneck's rate as measured: the best mean goodput of any candidate tested
    /// twice or more (of any candidate, when none was).
    pub bottleneck_bps: Option<f64>,
    /// The candidate that reached it (a case label).
    pub bottleneck_from: String,
    pub knee: Option<KneeAt>,
    /// The answer's buffers as the kernel reported them (getsockopt after setting).
    pub sndbuf_eff: Option<u64>,
    pub rcvbuf_eff: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Explanation {
    pub bdp: Option<Bdp>,
    pub numbers: Numbers,
    /// Sentences, each from a measured figure.
    pub sentences: Vec<String>,
    pub c_snippet: Vec<String>,
    pub rust_snippet: Vec<String>,
    pub sysctl_lines: Vec<String>,
}

/// The rows of a results directory's summary.csv.
pub fn read_summary(dir: &Path) -> Result<Vec<SummaryRow>, TuneError> {
    let path = dir.join("summary.csv");
    let mut r = csv::Reader::from_path(&path).map_err(TuneError::csv(&path))?;
    r.deserialize()
        .collect::<Result<Vec<SummaryRow>, _>>()
        .map_err(TuneError::csv(&path))
}

fn parse_label(label: &str) -> BTreeMap<String, String> {
    label
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `64K`, `4.1M`, `1400 bytes`.
fn bytes_human(n: u64) -> String {
    let s = format_size_human(n);
    if s.chars().all(|c| c.is_ascii_digit()) {
        format!("{s} bytes")
    } else {
        s
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The bandwidth-delay product from the rows: the best candidate's mean goodput × the
/// smallest TCP_INFO min_rtt of any test (or, without TCP_INFO, the smallest median
/// round trip of the probe or the rr pattern).
pub fn bdp_of(rows: &[SummaryRow]) -> Option<Bdp> {
    let ok: Vec<&SummaryRow> = rows.iter().filter(|r| r.status == Status::Ok).collect();
    let mut by_label: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &ok {
        if let Some(g) = r.goodput_bps {
            by_label.entry(&r.case_label).or_default().push(g);
        }
    }
    // Candidates tested twice or more when there are any: one test's figure is no rate.
    let repeated = by_label.values().any(|v| v.len() >= 2);
    let (rate_from, rate_bps) = by_label
        .iter()
        .filter(|(_, v)| !repeated || v.len() >= 2)
        .filter_map(|(l, v)| mean(v.iter().copied()).map(|m| (*l, m)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let min_rtt_us = ok
        .iter()
        .filter_map(|r| r.tcp_min_rtt_us)
        .filter(|&u| u > 0)
        .min();
    let (rtt_s, rtt_from, rtt_source) = match min_rtt_us {
        Some(us) => (
            us as f64 / 1e6,
            "TCP_INFO min_rtt of the sending socket, the smallest over all tests".to_string(),
            "tcp_info_min_rtt",
        ),
        None => (
            ok.iter().filter_map(|r| r.rtt_p50_ns).min()? as f64 / 1e9,
            "the median round trip of the latency probe, the smallest over all tests".to_string(),
            "rtt_p50",
        ),
    };
    Some(Bdp {
        rate_bps,
        rate_from: rate_from.to_string(),
        rtt_s,
        rtt_from,
        rtt_source,
        bytes: rate_bps / 8.0 * rtt_s,
    })
}

/// The explanation of the tune in `dir`.
pub fn explain(dir: &Path) -> Result<Explanation, TuneError> {
    let rows = read_summary(dir)?;
    let path = dir.join("answer.json");
    let bytes = std::fs::read(&path).map_err(|error| TuneError::Read {
        path: path.clone(),
        error,
    })?;
    let answer: Answer =
        serde_json::from_slice(&bytes).map_err(|error| TuneError::Json { path, error })?;
    let meta: Meta = std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Ok(explain_rows(&rows, &answer, &meta))
}

pub fn explain_rows(rows: &[SummaryRow], answer: &Answer, meta: &Meta) -> Explanation {
    let mut ex = Explanation {
        bdp: bdp_of(rows),
        ..Default::default()
    };
    let ok: Vec<&SummaryRow> = rows.iter().filter(|r| r.status == Status::Ok).collect();
    let (share, below) = (knee_share(&answer.goal), why_below(answer));
    let chosen = ok.iter().filter(|r| r.case_label == answer.label);
    let auto = |req: Option<SizeReq>| req == Some(SizeReq::Auto);
    let effective = Effective {
        sndbuf: chosen.clone().find_map(|r| r.sndbuf_eff),
        rcvbuf: chosen.clone().find_map(|r| r.rcvbuf_eff),
        sndbuf_auto: chosen.clone().any(|r| auto(r.sndbuf_req)),
        rcvbuf_auto: chosen.clone().any(|r| auto(r.rcvbuf_req)),
    };
    if let Some(b) = &ex.bdp {
        ex.sentences.push(bdp_sentence(b, &effective));
        ex.sentences.extend(path_limit_sentence(b, &ok, meta));
    }
    ex.numbers = Numbers {
        bdp_bytes: ex.bdp.as_ref().map(|b| b.bytes.round() as u64),
        base_rtt_ns: ex.bdp.as_ref().map(|b| (b.rtt_s * 1e9).round() as u64),
        base_rtt_from: ex.bdp.as_ref().map_or("", |b| b.rtt_source).to_string(),
        bottleneck_bps: ex.bdp.as_ref().map(|b| b.rate_bps),
        bottleneck_from: ex
            .bdp
            .as_ref()
            .map_or(String::new(), |b| b.rate_from.clone()),
        knee: knee_of(&ok, &answer.settings, share),
        sndbuf_eff: effective.sndbuf,
        rcvbuf_eff: effective.rcvbuf,
    };
    // Along each size the answer sets: where goodput stops growing, where latency
    // grows. Only the candidates equal to the answer in every other key count.
    for (key, value) in &answer.settings {
        if parse_size(value).is_ok() {
            ex.sentences
                .extend(along_sentences(&ok, &answer.settings, key, (share, &below)));
        }
    }
    if let (Some(b), Some(k)) = (&ex.bdp, &ex.numbers.knee) {
        // A socket's snd_mss is at most half the largest window its peer offered: the
        // path's MSS is the largest any test read back.
        let mss = ok.iter().filter_map(|r| r.mss_eff).max();
        ex.sentences.extend(segment_sentence(b, k, mss));
    }
    ex.sentences.extend(capped_sentences(&ok, meta));
    // The snippet: the answer's settings as code.
    for (key, value) in &answer.settings {
        snippet(&mut ex, key, value, meta, &effective);
    }
    ex
}

/// When the path's recorded rate (`SOCKBENCH_PATH`) is more than twice the best goodput,
/// it is said; on a path with loss, with the retransmits that point at it.
fn path_limit_sentence(b: &Bdp, ok: &[&SummaryRow], meta: &Meta) -> Option<String> {
    let path = meta.path.as_ref()?;
    let rate = path.rate_bps? as f64;
    if b.rate_bps * 2.0 > rate {
        return None;
    }
    let retrans: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.tcp_retrans)
        .map(|n| n as f64)
        .collect();
    // Loss is named only on a path that has some: a bottleneck's queue drops too.
    let lossy = match mean(retrans.iter().copied()) {
        Some(m) if m > 0.0 && path.loss_pct.is_some_and(|l| l > 0.0) => format!(
            "; TCP retransmitted {m:.0} segments per test on average: loss, not the buffers, limits goodput here, and the bandwidth-delay product above is that of the goodput reached, not of the path"
        ),
        _ => String::new(),
    };
    Some(format!(
        "The best goodput, {}, is {:.0}% of the path's recorded rate, {} ({PATH_ENV}){lossy}.",
        format_bps(b.rate_bps),
        b.rate_bps * 100.0 / rate,
        format_bps(rate),
        PATH_ENV = crate::spec::path::PATH_ENV,
    ))
}

/// The effective buffers of the answer's own sockets.
struct Effective {
    sndbuf: Option<u64>,
    rcvbuf: Option<u64>,
    /// Left to the kernel's autotuning: the effective size is the one read when the
    /// socket was configured, and the kernel grows it during the test.
    sndbuf_auto: bool,
    rcvbuf_auto: bool,
}

/// The sysctls of the sending host, or of the receiving one (the sender's when unknown).
fn sysctls(meta: &Meta, receiver: bool) -> &BTreeMap<String, String> {
    let h = &meta.hosts;
    let f = if receiver {
        h.receiver.as_ref().unwrap_or(&h.sender)
    } else {
        &h.sender
    };
    &f.sysctls
}

fn bdp_sentence(b: &Bdp, effective: &Effective) -> String {
    let mut s = format!(
        "Bandwidth-delay product: {} (the best mean goodput, {}) x {} ({}) = {}.",
        format_bps(b.rate_bps),
        b.rate_from,
        format_ns((b.rtt_s * 1e9) as u64),
        b.rtt_from,
        bytes_human(b.bytes as u64)
    );
    let buffers = [
        ("send", effective.sndbuf, effective.sndbuf_auto),
        ("receive", effective.rcvbuf, effective.rcvbuf_auto),
    ];
    for (name, eff, auto) in buffers {
        if let (Some(eff), true, true) = (eff, auto, b.bytes > 0.0) {
            // An autotuned buffer's size when configured says nothing of the window the
            // test reached: no ratio to the BDP.
            s.push_str(&format!(
                " The answer leaves the {name} buffer to the kernel's autotuning: {} when the socket was configured, grown by the kernel as the connection needs.",
                bytes_human(eff)
            ));
        } else if let (Some(eff), true) = (eff, b.bytes > 0.0) {
            s.push_str(&format!(
                " The answer's effective {name} buffer is {} = {:.1}x the BDP (Linux counts its bookkeeping in it: about half holds data).",
                bytes_human(eff),
                eff as f64 / b.bytes
            ));
        }
    }
    s
}

/// On a path whose BDP is under one segment (loopback's MSS is about 64K), a receive
/// buffer's knee lies far above the BDP, at one to four segments: said, with the MSS read
/// back. (A send buffer's knee there comes from how the kernel charges a segment's
/// memory, not from the window: nothing is said of it.)
fn segment_sentence(b: &Bdp, k: &KneeAt, mss: Option<u32>) -> Option<String> {
    let mss = f64::from(mss.filter(|&m| m > 0)?);
    let segments = k.bytes as f64 / mss;
    // A receive buffer's knee of one to four segments, well above a BDP under one.
    let receive_buffer = matches!(k.key.as_str(), "rcvbuf" | "receiver.rcvbuf");
    let said = receive_buffer
        && b.bytes < mss
        && (1.0..=4.0).contains(&segments)
        && k.bytes as f64 >= 2.0 * b.bytes;
    if !said {
        return None;
    }
    Some(format!(
        "The bandwidth-delay product, {}, is less than one segment: the largest MSS a test's socket read back is {} (TCP_INFO snd_mss). A receiver opens its window in whole segments, and none under one, so on such a path segments place the knee, not the BDP: {}={} asks for {:.1} segments.",
        bytes_human(b.bytes as u64),
        bytes_human(mss as u64),
        k.key,
        k.value,
        segments
    ))
}

/// The knee along the answer's first size key that has two sizes compared or more.
fn knee_of(ok: &[&SummaryRow], settings: &BTreeMap<String, String>, share: f64) -> Option<KneeAt> {
    // An answer of `auto` along a key has no knee among its sizes.
    let sized = settings.iter().filter(|(_, v)| parse_size(v).is_ok());
    sized
        .map(|(key, _)| key)
        .find_map(|key| knee_along(ok, key, &along(ok, settings, key), share))
}

/// The share of the best goodput the knee must reach: the goal's (`goodput>=0.9*max`),
/// else 0.95.
fn knee_share(goal: &str) -> f64 {
    match super::goal::Goal::parse(goal) {
        Ok(super::goal::Goal::Fraction {
            metric: crate::output::metric::Metric::GoodputBps,
            fraction,
        }) => fraction,
        _ => 0.95,
    }
}

/// Why an answer may lie below the knee: on a goodput goal without constraints, the race
/// found it as good on its own repetitions; else the goal or the constraints chose it.
fn why_below(answer: &Answer) -> String {
    use super::goal::Goal;
    use crate::output::metric::Metric::GoodputBps;
    let on_goodput = matches!(
        Goal::parse(&answer.goal),
        Ok(Goal::Optimise {
            metric: GoodputBps,
            ..
        } | Goal::Fraction {
            metric: GoodputBps,
            ..
        })
    );
    if on_goodput && answer.constraints.is_empty() {
        return "on the race's repetitions its median was as good as the larger sizes' (within the margin, or reaching the share), and the race answers the cheaper".into();
    }
    let mut by = format!("the goal, {}", answer.goal);
    if !answer.constraints.is_empty() {
        by.push_str(&format!(
            ", and the constraints, {},",
            answer.constraints.join(", ")
        ));
    }
    format!("{by} chose it, not goodput alone")
}

/// Where goodput stops growing along `key`: the smallest size whose median goodput
/// reaches `share` of the best median along it, as the race judges (by medians); `None`
/// with fewer than two sizes to compare.
fn knee_along(ok: &[&SummaryRow], key: &str, a: &Along, share: f64) -> Option<KneeAt> {
    if a.goodput.len() < 2 {
        return None;
    }
    let best = a.goodput.iter().map(|g| g.1).fold(f64::MIN, f64::max);
    let (bytes, g) = a.goodput.iter().find(|(_, g)| *g >= share * best)?;
    let value = ok
        .iter()
        .filter_map(|r| parse_label(&r.case_label).remove(key))
        .find(|v| parse_size(v).ok() == Some(*bytes))
        .unwrap_or_else(|| crate::spec::units::format_size(*bytes));
    Some(KneeAt {
        key: key.to_string(),
        value,
        bytes: *bytes,
        goodput_bps: *g,
        best_goodput_bps: best,
        share,
        sizes_measured: a.measured,
        sizes_compared: a.goodput.len(),
    })
}

/// Median goodput and median p99 by size along one key, the other keys as in the
/// answer, and how many sizes of the key were measured in all.
struct Along {
    goodput: Vec<(u64, f64)>,
    rtt: Vec<(u64, f64)>,
    measured: usize,
    /// The sizes tested once were left out (two or more were tested twice or more).
    repeated_only: bool,
}

impl Along {
    /// "4 sizes of rcvbuf were measured", or, when only the repeated ones are compared,
    /// "3 sizes of rcvbuf were compared, those tested twice or more (4 measured)".
    fn sizes(&self, compared: usize, key: &str) -> String {
        if !self.repeated_only {
            format!("{compared} sizes of {key} were measured")
        } else {
            format!(
                "{compared} sizes of {key} were compared, those tested twice or more ({} measured)",
                self.measured
            )
        }
    }
}

fn along(ok: &[&SummaryRow], settings: &BTreeMap<String, String>, key: &str) -> Along {
    let mut along: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in ok {
        let l = parse_label(&r.case_label);
        let same_elsewhere = settings
            .iter()
            .all(|(k, v)| k == key || l.get(k) == Some(v));
        let Some(size) = l.get(key).and_then(|v| parse_size(v).ok()) else {
            continue;
        };
        if !same_elsewhere {
            continue;
        }
        let e = along.entry(size).or_default();
        e.0.extend(r.goodput_bps);
        e.1.extend(r.rtt_p99_ns.map(|v| v as f64));
    }
    let measured = along.len();
    // Only the sizes tested twice or more, when two are: no shape from single tests.
    if along.values().filter(|(g, _)| g.len() >= 2).count() >= 2 {
        along.retain(|_, (g, _)| g.len() >= 2);
    }
    let repeated_only = along.len() < measured;
    let by = |second: bool| -> Vec<(u64, f64)> {
        let of = |(g, r): &(Vec<f64>, Vec<f64>)| median(if second { r } else { g });
        along
            .iter()
            .filter_map(|(s, v)| of(v).map(|m| (*s, m)))
            .collect()
    };
    Along {
        goodput: by(false),
        rtt: by(true),
        measured,
        repeated_only,
    }
}

/// Goodput and p99 medians by size along one key, the other keys as in the answer.
fn along_sentences(
    ok: &[&SummaryRow],
    settings: &BTreeMap<String, String>,
    key: &str,
    (share, below): (f64, &str),
) -> Vec<String> {
    let a = along(ok, settings, key);
    let knee = knee_along(ok, key, &a, share).map(|k| {
        let mut s = knee_sentence(&k, &a);
        let answer = &settings[key];
        if parse_size(answer).is_ok_and(|b| b < k.bytes) {
            s.push_str(&format!(
                " The answer, {key}={answer}, is smaller still: {below}."
            ));
        }
        s
    });
    knee.into_iter().chain(growth_sentence(key, &a)).collect()
}

/// Where goodput reaches the share of the best median along the knee's key.
fn knee_sentence(k: &KneeAt, a: &Along) -> String {
    let key = &k.key;
    let smaller = a.goodput.iter().take_while(|(s, _)| *s < k.bytes).last();
    let from = smaller.map_or(String::new(), |(s, gs)| {
        format!(
            " (from {} at {key}={})",
            format_bps(*gs),
            crate::spec::units::format_size(*s)
        )
    });
    format!(
        "Goodput stops growing at {key}={}: its median there, {}, reaches {}% of the best median, {}{from}; {}.",
        crate::spec::units::format_size(k.bytes),
        format_bps(k.goodput_bps),
        (k.share * 1000.0).round() / 10.0,
        format_bps(k.best_goodput_bps),
        a.sizes(a.goodput.len(), key)
    )
}

/// Whether and where the p99 round trip grows along `key`.
fn growth_sentence(key: &str, a: &Along) -> Option<String> {
    let rtt = &a.rtt;
    if rtt.len() < 2 {
        return None;
    }
    let least = rtt.iter().map(|r| r.1).fold(f64::MAX, f64::min);
    // The first size whose p99 is half again the least of the smaller sizes'.
    // The sizes between it and the one measured below it were not measured: the growth
    // starts somewhere between the two.
    let grows = rtt.iter().enumerate().skip(1).find_map(|(i, (s, r))| {
        let below = rtt[..i].iter().map(|r| r.1).fold(f64::MAX, f64::min);
        (*r > 1.5 * below).then_some((rtt[i - 1].0, *s, *r, below))
    });
    let Some((prev, s, r, below)) = grows else {
        return Some(format!(
            "The p99 round trip does not grow with {key} (within 1.5x of {}): {}.",
            format_ns(least as u64),
            a.sizes(rtt.len(), key)
        ));
    };
    let (top, top_rtt) = rtt
        .iter()
        .filter(|(size, _)| *size >= s)
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((s, r));
    let up_to = if top > s {
        format!(
            ", up to {} at {key}={}",
            format_ns(top_rtt as u64),
            crate::spec::units::format_size(top)
        )
    } else {
        String::new()
    };
    Some(format!(
        "The p99 round trip grows with {key} between {} and {}, the sizes measured on either side: {} at {} against {} at the smaller sizes{up_to} (a fuller queue: bufferbloat).",
        crate::spec::units::format_size(prev),
        crate::spec::units::format_size(s),
        format_ns(r as u64),
        crate::spec::units::format_size(s),
        format_ns(below as u64)
    ))
}

/// A request the kernel did not grant: effective below twice the request.
fn capped_sentences(ok: &[&SummaryRow], meta: &Meta) -> Vec<String> {
    let mut capped: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in ok {
        for (sysctl, req, eff) in [
            ("net.core.wmem_max", r.sndbuf_req, r.sndbuf_eff),
            ("net.core.rmem_max", r.rcvbuf_req, r.rcvbuf_eff),
        ] {
            if let (Some(SizeReq::Bytes(req)), Some(eff)) = (req, eff) {
                if eff < 2 * req {
                    let e = capped.entry(sysctl).or_insert((req, eff));
                    if req < e.0 {
                        *e = (req, eff);
                    }
                }
            }
        }
    }
    capped
        .iter()
        .map(|(sysctl, (req, eff))| {
            let limit = sysctls(meta, sysctl.contains("rmem"))
                .get(*sysctl)
                .cloned()
                .unwrap_or_else(|| "?".into());
            format!(
                "{sysctl} ({limit}) capped the requests from {} up: the kernel gave {} where it doubles a granted request; larger requests there measure the same socket.",
                format_size_human(*req),
                bytes_human(*eff)
            )
        })
        .collect()
}

/// One setting of the answer as C, Rust and the sysctl or module it needs.
fn snippet(ex: &mut Explanation, key: &str, value: &str, meta: &Meta, effective: &Effective) {
    let knob = key.rsplit('.').next().unwrap_or(key);
    let bytes = parse_size(value).ok();
    let (c, rust) = match (knob, bytes) {
        ("sndbuf" | "rcvbuf", Some(n)) => {
            buffer_snippet(ex, knob, n, meta, effective);
            return;
        }
        ("sndbuf" | "rcvbuf", None) if value == "auto" => {
            let opt = if knob == "sndbuf" { "SO_SNDBUF" } else { "SO_RCVBUF" };
            (
                format!("/* {key} = auto: leave {opt} unset (the kernel's autotuning) */"),
                format!("// {key} = auto: leave {opt} unset (the kernel's autotuning)"),
            )
        }
        ("nodelay", _) if value == "true" => (
            "int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);".into(),
            "socket.set_tcp_nodelay(true)?;".into(),
        ),
        ("congestion", _) => {
            let allowed = sysctls(meta, false)
                .get("net.ipv4.tcp_allowed_congestion_control")
                .cloned();
            if allowed.is_some_and(|a| !a.split_whitespace().any(|c| c == value)) {
                ex.sysctl_lines.push(format!("modprobe tcp_{value}"));
            }
            (
                format!(
                    "setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, \"{value}\", {});",
                    value.len()
                ),
                format!("socket.set_tcp_congestion(b\"{value}\")?;"),
            )
        }
        ("mss", Some(n)) => (
            format!("int mss = {n}; setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);"),
            format!("socket.set_tcp_mss({n})?;"),
        ),
        ("notsent_lowat", Some(n)) => (
            format!(
                "int lowat = {n}; setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);"
            ),
            format!("socket.set_tcp_notsent_lowat({n})?;"),
        ),
        ("linger", _) if value != "off" => (
            format!(
                "struct linger l = {{ .l_onoff = 1, .l_linger = {value} }}; setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);"
            ),
            format!("socket.set_linger(Some(std::time::Duration::from_secs({value})))?;"),
        ),
        ("msg_size" | "response_size", Some(n)) => (
            format!("/* write in chunks of {n} bytes ({key}) */"),
            format!("// write in chunks of {n} bytes ({key})"),
        ),
        (_, _) => (
            format!("/* {key} = {value} */"),
            format!("// {key} = {value}"),
        ),
    };
    ex.c_snippet.push(c);
    ex.rust_snippet.push(rust);
}

/// SO_SNDBUF or SO_RCVBUF of `n` bytes, and the sysctl that lets the kernel grant it when
/// its limit is below the request or the answer's own sockets show the cap (effective
/// below twice the request).
fn buffer_snippet(ex: &mut Explanation, knob: &str, n: u64, meta: &Meta, effective: &Effective) {
    let (opt, call, sysctl, own_eff) = if knob == "sndbuf" {
        (
            "SO_SNDBUF",
            "set_send_buffer_size",
            "net.core.wmem_max",
            effective.sndbuf,
        )
    } else {
        (
            "SO_RCVBUF",
            "set_recv_buffer_size",
            "net.core.rmem_max",
            effective.rcvbuf,
        )
    };
    ex.c_snippet.push(format!(
        "int {knob} = {n}; setsockopt(fd, SOL_SOCKET, {opt}, &{knob}, sizeof {knob});  /* before connect()/listen() */"
    ));
    ex.rust_snippet.push(format!(
        "socket.{call}({n})?; // {opt}, before connect/listen"
    ));
    let limit: Option<u64> = sysctls(meta, knob == "rcvbuf")
        .get(sysctl)
        .and_then(|v| v.trim().parse().ok());
    if limit.is_some_and(|l| l < n) || own_eff.is_some_and(|e| e < 2 * n) {
        ex.sysctl_lines.push(format!("sysctl -w {sysctl}={n}"));
    }
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;

//! `sockbench report`: the HTML it writes, the directories it refuses, and what a real
//! browser shows of it.

mod common;

use sockbench::output::summary::SizeReq;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

/// Two small sweeps (with a latency probe and an rr case), made once for all tests here.
fn fixture() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-fixture");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let wl = root.join("w.toml");
        std::fs::write(
            &wl,
            "name = \"fixture\"\ndescription = \"Answers: does the report draw?\"\n[defaults]\nduration = \"400ms\"\nwarmup = \"100ms\"\nrepeat = 2\nprobe = \"rr\"\n[matrix]\nsndbuf = [\"auto\", \"64K\", \"1M\"]\n[[case]]\npattern = \"rr\"\nproto = \"udp\"\nprobe = \"none\"\n",
        )
        .unwrap();
        let mut dirs = Vec::new();
        for name in ["a", "b"] {
            let out = root.join(name);
            let o = sockbench(&["run", wl.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"], Duration::from_secs(120));
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            dirs.push(out);
        }
        (dirs[0].clone(), dirs[1].clone())
    })
}

fn report(args: &[&str]) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("report.html");
    let mut all = vec!["report", "-o", html.to_str().unwrap()];
    all.extend(args);
    (sockbench(&all, Duration::from_secs(60)), html, tmp)
}

/// The page's outline: headings and figure ids in order.
fn outline(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        for tag in ["<h1>", "<h2>"] {
            if let Some(body) = rest.strip_prefix(tag) {
                let end = body.find("</").unwrap();
                out.push(format!("{tag}{}", &body[..end]));
            }
        }
        for open in ["<figure id=\"", "<details id=\""] {
            if let Some(body) = rest.strip_prefix(open) {
                out.push(format!("#{}", &body[..body.find('"').unwrap()]));
            }
        }
        rest = &rest[1..];
    }
    out
}

#[test]
fn the_report_is_self_contained_and_complete() {
    let (a, b) = fixture();
    let svg_dir = tempfile::tempdir().unwrap();
    let (out, html_path, _tmp) = report(&[
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--svg-dir",
        svg_dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Nothing runs and nothing is fetched.
    assert!(!html.contains("<script"), "no scripts");
    for fetch in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
    // The structure, as a golden outline.
    let o = outline(&html);
    let expected_start = [
        "<h1>sockbench report: 2 results directories",
        "<h2>b against the baseline a",
        "<h2>Charts",
        "#goodput-vs-sndbuf",
        "#latency-spectrum",
        "#bufferbloat-1",
        "#bufferbloat-2",
    ];
    assert_eq!(&o[..expected_start.len()], expected_start, "{o:#?}");
    // One interval chart per case per directory, folded as there are many.
    let folded: Vec<&String> = o.iter().filter(|s| s.starts_with("#intervals-")).collect();
    assert_eq!(folded.len(), 2 * 4, "{o:#?}");
    assert!(html.contains("<details id=\"intervals-d1-case1\">"));
    assert_eq!(&o[o.len() - 2..], ["<h2>Cases: a", "<h2>Cases: b"]);
    // Every chart is inline and also standalone.
    let inline = html.matches("<svg ").count();
    let files = std::fs::read_dir(svg_dir.path()).unwrap().count();
    assert_eq!(inline, files);
    assert_eq!(inline, 4 + 8);
    // Every chart of a real run keeps the rules (legend off the data, distinct colours,
    // one tick format per axis, nothing negative).
    let mut problems = Vec::new();
    for f in std::fs::read_dir(svg_dir.path()).unwrap() {
        let f = f.unwrap().path();
        let svg = std::fs::read_to_string(&f).unwrap();
        problems.extend(chart_problems(
            &f.file_name().unwrap().to_string_lossy(),
            &svg,
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Requested and effective knobs, and the comparison verdicts.
    assert!(
        html.contains("64K → 128K"),
        "the doubling of SO_SNDBUF is shown"
    );
    assert!(["no change", "improved", "regressed"]
        .iter()
        .any(|v| html.contains(v)));
    assert_eq!(
        html.matches("<tr><td class=l>tcp stream forward").count(),
        3 * 5,
        "3 stream cases x 5 figures paired"
    );
}

#[test]
fn a_baseline_can_be_named() {
    let (a, b) = fixture();
    let (out, html_path, _tmp) = report(&[
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--baseline",
        b.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let html = std::fs::read_to_string(html_path).unwrap();
    assert!(html.contains("<h2>a against the baseline b</h2>"));
}

#[test]
fn unusable_directories_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _, _t) = report(&["/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("/no/such/dir") && err.lines().count() == 1,
        "{err}"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (out, _, _t) = report(&[empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.csv is missing"));
    // A copy of a real directory whose cases.csv lost a column.
    let (a, _) = fixture();
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in std::fs::read_dir(a).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, broken.join(f.file_name().unwrap())).unwrap();
    }
    let cases = std::fs::read_to_string(broken.join("cases.csv")).unwrap();
    std::fs::write(
        broken.join("cases.csv"),
        cases.replacen("goodput_bps_mean", "goodput_mean", 1),
    )
    .unwrap();
    let (out, _, _t) = report(&[broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cases.csv") && err.contains("missing column goodput_bps_mean"),
        "{err}"
    );
}

/// Renders the report in Debian's Chromium, headless, and checks the picture is not blank.
#[test]
fn a_real_browser_renders_the_report() {
    let chromium = find_tool(&["chromium", "chromium-browser"]);
    if !require(
        chromium.is_some(),
        "chromium",
        "apt-get install -y chromium",
    ) {
        return;
    }
    let chromium = chromium.unwrap();
    let (a, _) = fixture();
    let (out, html_path, tmp) = report(&[a.to_str().unwrap()]);
    assert!(out.status.success());
    let png = tmp.path().join("shot.png");
    let profile = tmp.path().join("profile");
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1400,1600")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html_path.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let (frac, colours) = ink(&png);
    // Text, axes and coloured lines cover a real share of the page in several colours.
    assert!(
        frac > 0.02,
        "the page is nearly blank: {:.2}% ink",
        frac * 100.0
    );
    assert!(
        colours >= 5,
        "only {colours} distinct colours: the charts did not draw"
    );
}

/// The share of pixels that are not near-white, and how many distinct saturated colours.
fn ink(path: &Path) -> (f64, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let mut inked = 0usize;
    let mut colours = std::collections::HashSet::new();
    let n = px.len() / channels;
    for p in px.chunks(channels) {
        let (r, g, b) = (p[0], p[1], p[2]);
        if r < 230 || g < 230 || b < 230 {
            inked += 1;
        }
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        if max - min > 60 {
            colours.insert((r / 32, g / 32, b / 32));
        }
    }
    (inked as f64 / n as f64, colours.len())
}

// ---- The charts' geometry, read from their SVG ----

/// One element of a plotters SVG: its name, attributes and text.
#[derive(Debug, Clone)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl El {
    fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    fn num(&self, k: &str) -> f64 {
        self.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    }
    /// Every point the element draws through: polyline and polygon vertices, line ends,
    /// rectangle corners.
    fn points(&self) -> Vec<(f64, f64)> {
        match self.name.as_str() {
            "polyline" | "polygon" => self
                .get("points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect(),
            "line" => vec![
                (self.num("x1"), self.num("y1")),
                (self.num("x2"), self.num("y2")),
            ],
            "rect" => {
                let (x, y, w, h) = (
                    self.num("x"),
                    self.num("y"),
                    self.num("width"),
                    self.num("height"),
                );
                vec![(x, y), (x + w, y), (x, y + h), (x + w, y + h)]
            }
            _ => vec![],
        }
    }
    /// The colour it is drawn in (stroke, else fill), when saturated: series colours, not
    /// the black, grey and white of axes, grid and backgrounds.
    fn colour(&self) -> Option<(u8, u8, u8)> {
        for k in ["stroke", "fill"] {
            let Some(v) = self.get(k).and_then(|v| v.strip_prefix('#')) else {
                continue;
            };
            let c = |i: usize| u8::from_str_radix(&v[i..i + 2], 16).unwrap_or(0);
            let (r, g, b) = (c(0), c(2), c(4));
            if r.max(g).max(b) - r.min(g).min(b) > 30 {
                return Some((r, g, b));
            }
        }
        None
    }
}

fn parse_svg(svg: &str) -> Vec<El> {
    let mut out: Vec<El> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("a closed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('/') || tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_alphanumeric()).collect();
        let mut attrs = Vec::new();
        let mut a = &tag[name.len()..];
        while let Some(eq) = a.find("=\"") {
            let key = a[..eq].trim().to_string();
            let v = &a[eq + 2..];
            let close = v.find('"').unwrap();
            attrs.push((key, v[..close].to_string()));
            a = &v[close + 1..];
        }
        let text = if name == "text" {
            rest[..rest.find("</text>").unwrap()].trim().to_string()
        } else {
            String::new()
        };
        out.push(El { name, attrs, text });
    }
    out
}

/// The legend box: the rectangle drawn in the legend's own border colour.
fn legend_index(els: &[El]) -> Option<usize> {
    let border = {
        let c = sockbench::report::charts::LEGEND_BORDER;
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    };
    els.iter()
        .position(|e| e.name == "rect" && e.get("stroke") == Some(border.as_str()))
}

/// A legend row: its label and how its sample is drawn (colour, segments, filled box).
#[derive(Debug)]
struct LegendRow {
    label: String,
    colour: Option<(u8, u8, u8)>,
    segments: usize,
    band: bool,
}

fn legend_rows(els: &[El]) -> Vec<LegendRow> {
    let Some(li) = legend_index(els) else {
        return vec![];
    };
    let rows: Vec<&El> = els[li + 1..].iter().filter(|e| e.name == "text").collect();
    rows.iter()
        .map(|t| {
            let y = t.num("y");
            let near = |e: &&El| e.points().iter().all(|p| (p.1 - y).abs() <= 8.0);
            let parts: Vec<&El> = els[li + 1..]
                .iter()
                .filter(|e| e.name != "text" && !e.points().is_empty())
                .filter(near)
                .collect();
            LegendRow {
                label: t.text.clone(),
                colour: parts.iter().find_map(|e| e.colour()),
                segments: parts.iter().filter(|e| e.name == "polyline").count(),
                band: parts.iter().any(|e| e.name == "rect"),
            }
        })
        .collect()
}

/// What is wrong with a chart, by the rules every chart keeps.
fn chart_problems(id: &str, svg: &str) -> Vec<String> {
    let els = parse_svg(svg);
    let mut bad = Vec::new();
    let root = &els[0];
    if root.get("viewBox").is_none() {
        bad.push(format!("{id}: no viewBox, so it cannot scale to the page"));
    }
    // Text at least 12 px.
    for t in els.iter().filter(|e| e.name == "text") {
        if t.num("font-size") < 12.0 {
            bad.push(format!(
                "{id}: text {:?} at {} px",
                t.text,
                t.num("font-size")
            ));
        }
    }
    // The legend covers no plotted point.
    let Some(li) = legend_index(&els) else {
        bad.push(format!("{id}: no legend"));
        return bad;
    };
    let pts = els[li].points();
    let (x0, y0, x1, y1) = (pts[0].0, pts[0].1, pts[3].0, pts[3].1);
    for e in els[..li].iter().filter(|e| e.colour().is_some()) {
        let p = e.points();
        // Points along each segment too: a line can cross a box between its vertices.
        for w in p.windows(2).chain(p.chunks(1)) {
            let (a, b) = (w[0], *w.last().unwrap());
            for k in 0..=10 {
                let t = k as f64 / 10.0;
                let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
                if x > x0 && x < x1 && y > y0 && y < y1 {
                    bad.push(format!("{id}: the legend covers data at ({x}, {y})"));
                    return bad;
                }
            }
        }
    }
    // No two legend rows drawn alike, and every colour of the data is in the legend.
    let rows = legend_rows(&els);
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        let kind = (r.colour, r.segments.min(2), r.band);
        if !seen.insert(kind) {
            bad.push(format!(
                "{id}: legend row {:?} drawn like another ({kind:?})",
                r.label
            ));
        }
    }
    let legend_colours: std::collections::HashSet<_> =
        rows.iter().filter_map(|r| r.colour).collect();
    let solid: Vec<_> = rows
        .iter()
        .filter(|r| r.segments == 1 && !r.band)
        .filter_map(|r| r.colour)
        .collect();
    let unique: std::collections::HashSet<_> = solid.iter().collect();
    if unique.len() != solid.len() {
        bad.push(format!("{id}: two lines share a colour: {solid:?}"));
    }
    for e in els[..li].iter() {
        if let Some(c) = e.colour() {
            // Heatmap cells shade between the two ends the legend shows.
            if !legend_colours.contains(&c) && !id.starts_with("heatmap") {
                bad.push(format!(
                    "{id}: colour {c:?} in the plot is not in the legend"
                ));
                break;
            }
        }
    }
    bad.extend(tick_problems(id, &els[..li]));
    bad
}

/// Tick labels: grouped by axis (right-aligned at one x: a y axis; centred at one y: an
/// x axis), each group in one format, and no negative value.
fn tick_problems(id: &str, els: &[El]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut groups: std::collections::BTreeMap<(String, i64), Vec<String>> = Default::default();
    for t in els
        .iter()
        .filter(|e| e.name == "text" && e.get("transform").is_none() && !e.text.is_empty())
    {
        let key = match t.get("text-anchor") {
            Some("end") | Some("start") => (
                format!("y{}", t.get("text-anchor").unwrap()),
                t.num("x") as i64,
            ),
            _ => ("x".to_string(), t.num("y") as i64),
        };
        groups.entry(key).or_default().push(t.text.clone());
    }
    for (axis, labels) in groups.into_iter().filter(|g| g.1.len() >= 3) {
        let class = |l: &str| -> String {
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if let Some(p) = l.strip_suffix('%') {
                return format!(
                    "percent{}",
                    p.split_once('.').map_or(0, |d| d.1.len()).min(1)
                );
            }
            if l.len() > 1
                && l[..l.len() - 1].chars().all(|c| c.is_ascii_digit())
                && l.ends_with(['K', 'M', 'G'])
            {
                return "size".into();
            }
            if digits(l) {
                return "integer".into();
            }
            match l.split_once('.') {
                Some((a, b)) if digits(a) && digits(b) => format!("decimal{}", b.len()),
                _ => "text".into(),
            }
        };
        for l in &labels {
            if l.starts_with('-') || l.starts_with('−') {
                bad.push(format!("{id}: negative tick {l} on axis {axis:?}"));
            }
        }
        let mut classes: std::collections::BTreeSet<String> =
            labels.iter().map(|l| class(l)).collect();
        // A size axis may hold small byte counts (512) and the `auto` category.
        if classes.contains("size") {
            let small = labels
                .iter()
                .all(|l| class(l) != "integer" || l.parse::<u64>().unwrap() < 1024);
            if small {
                classes.remove("integer");
            }
            if labels.iter().any(|l| l == "auto")
                && labels.iter().filter(|l| class(l) == "text").count() == 1
            {
                classes.remove("text");
            }
        }
        // Percentiles: 90%, 99%, 99.9% are one format.
        if classes.iter().all(|c| c.starts_with("percent")) {
            classes = ["percent".to_string()].into();
        }
        if classes.len() > 1 {
            bad.push(format!(
                "{id}: tick labels in mixed formats on axis {axis:?}: {labels:?}"
            ));
        }
    }
    bad
}

// ---- Reports built in memory from the writers' rows: no process, no traffic ----

use sockbench::output::cases::CaseRow;
use sockbench::output::meta::Meta;
use sockbench::output::summary::SummaryRow;
use sockbench::report::{charts, html, Case, IntervalPoint, ResultsDir};

/// A case as the run would have written it: its repetitions' rows and their aggregate.
struct Made {
    label: &'static str,
    protocol: &'static str,
    pattern: &'static str,
    goodputs: Vec<f64>,
    tps: Option<f64>,
    p50_p99_ns: Option<(u64, u64)>,
    sndbuf: Option<(u64, u64)>,
    probe: bool,
    congestion: &'static str,
}

impl Made {
    fn stream(label: &'static str, goodputs: &[f64]) -> Made {
        Made {
            label,
            protocol: "tcp",
            pattern: "stream",
            goodputs: goodputs.to_vec(),
            tps: None,
            p50_p99_ns: None,
            sndbuf: None,
            probe: false,
            congestion: "cubic",
        }
    }
}

fn made_case(id: u32, m: &Made) -> Case {
    let s = sockbench::results::stats::summarize(&m.goodputs);
    let mut c = Case::new(CaseRow {
        case: id,
        case_label: m.label.into(),
        protocol: m.protocol.into(),
        pattern: m.pattern.into(),
        direction: "forward".into(),
        flows: 1,
        msg_size: 65536,
        repetitions: m.goodputs.len().max(1),
        repetitions_ok: m.goodputs.len().max(1),
        goodput_bps_mean: s.map(|s| s.mean),
        goodput_bps_ci95_low: s.and_then(|s| s.ci95).map(|c| c.0),
        goodput_bps_ci95_high: s.and_then(|s| s.ci95).map(|c| c.1),
        transactions_per_s_mean: m.tps,
        rtt_p50_ns_mean: m.p50_p99_ns.map(|p| p.0 as f64),
        rtt_p99_ns_mean: m.p50_p99_ns.map(|p| p.1 as f64),
        sndbuf_req: Some(m.sndbuf.map_or(SizeReq::Auto, |s| SizeReq::Bytes(s.0))),
        sndbuf_eff: m.sndbuf.map(|s| s.1),
        ..Default::default()
    });
    if let Some((p50, p99)) = m.p50_p99_ns {
        // 10,000 round trips: half at or below p50, 99% at or below p99, a tail beyond.
        let mut h = sockbench::measure::latency_histogram();
        for k in 0..10_000u64 {
            let v = match k {
                0..=4_999 => p50 * 9 / 10 + k % 100,
                5_000..=9_899 => p50 + (p99 - p50) * (k - 5_000) / 4_900,
                _ => p99 + (k - 9_900) * p99 / 50,
            };
            h.record(v).unwrap();
        }
        c.histograms.insert("rtt".into(), h);
    }
    let reps = m.goodputs.len().max(1);
    for rep in 0..reps {
        c.add_rep(SummaryRow {
            case: id,
            repetition: rep as u32 + 1,
            protocol: m.protocol.into(),
            pattern: m.pattern.into(),
            status: "ok".into(),
            goodput_bps: m.goodputs.get(rep).copied(),
            transactions_per_s: m.tps,
            rtt_p50_ns: m.p50_p99_ns.map(|p| p.0),
            rtt_p99_ns: m.p50_p99_ns.map(|p| p.1),
            sndbuf_req: Some(m.sndbuf.map_or(SizeReq::Auto, |s| SizeReq::Bytes(s.0))),
            sndbuf_eff: m.sndbuf.map(|s| s.1),
            congestion: Some(m.congestion.into()),
            probe: m.probe,
            warmup_s: 0.5,
            case_label: m.label.into(),
            ..Default::default()
        });
        // One second of 4 intervals of 0.25 s after a 0.5 s warm-up.
        for i in 0..6 {
            c.intervals.push(IntervalPoint {
                repetition: rep as u32 + 1,
                start_s: i as f64 * 0.25,
                end_s: (i as f64 + 1.0) * 0.25,
                bps: m.goodputs.get(rep).copied().unwrap_or(1e6) * (1.0 + 0.01 * i as f64),
            });
        }
    }
    c
}

fn made_dir(name: &str, cases: &[Made]) -> ResultsDir {
    made_dir_with(name, cases, Meta::default())
}

fn made_dir_with(name: &str, cases: &[Made], meta: Meta) -> ResultsDir {
    let cases: Vec<Case> = cases
        .iter()
        .enumerate()
        .map(|(i, m)| made_case(i as u32 + 1, m))
        .collect();
    ResultsDir {
        path: name.into(),
        name: name.into(),
        meta,
        cases_total: cases.len() as u64,
        rows_total: cases.iter().map(|c| c.reps.len() as u64).sum(),
        cases,
        matrix: Vec::new(),
        tune: None,
        sizes: Vec::new(),
    }
}

const SIZES: [&str; 5] = ["64K", "256K", "1M", "4M", "auto"];

/// sndbuf × rcvbuf, 5 × 5, two repetitions each (so wide 95% intervals), in the order a
/// workload file gives them.
fn buffer_sweep() -> Vec<Made> {
    let mut out = Vec::new();
    for (i, s) in SIZES.iter().enumerate() {
        for (j, r) in ["4M", "auto", "64K", "1M", "256K"].iter().enumerate() {
            let label: &'static str = Box::leak(format!("sndbuf={s} rcvbuf={r}").into_boxed_str());
            let g = 10e9 + 1e9 * (i * 5 + j) as f64;
            // One case's repetitions disagree wildly: its interval (three repetitions, the
            // fewest that give one) runs far above every mean.
            let spread = if i == 1 && j == 1 { 8e9 } else { 0.2e9 };
            out.push(Made::stream(label, &[g - spread, g, g + spread]));
        }
    }
    out
}

fn chart<'a>(all: &'a [charts::Chart], id: &str) -> &'a charts::Chart {
    all.iter().find(|c| c.id == id).unwrap_or_else(|| {
        panic!(
            "no chart {id} in {:?}",
            all.iter().map(|c| &c.id).collect::<Vec<_>>()
        )
    })
}

#[test]
fn every_chart_keeps_the_rules() {
    let mut sweep = buffer_sweep();
    sweep.extend(rr_cases());
    sweep.extend(probe_cases());
    let dirs = [made_dir("sweep", &sweep)];
    let all = charts::all(&dirs);
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    for want in [
        "goodput-vs-sndbuf",
        "goodput-vs-rcvbuf",
        "heatmap-d1",
        "latency-spectrum",
        "bufferbloat-1",
        "transactions-d1",
        "intervals-d1-case1",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let problems: Vec<String> = all
        .iter()
        .flat_map(|c| chart_problems(&c.id, &c.svg))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn sweep_legends_are_in_numeric_order_with_auto_dashed_and_last() {
    let dirs = [made_dir("sweep", &buffer_sweep())];
    let all = charts::all(&dirs);
    let els = parse_svg(&chart(&all, "goodput-vs-sndbuf").svg);
    let rows = legend_rows(&els);
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        &labels[..5],
        [
            "rcvbuf=64K",
            "rcvbuf=256K",
            "rcvbuf=1M",
            "rcvbuf=4M",
            "rcvbuf=auto"
        ],
        "{labels:?}"
    );
    // sndbuf=auto of each line: its own dashed line, named in the legend.
    let autos: Vec<&LegendRow> = rows
        .iter()
        .filter(|r| r.label.contains("sndbuf=auto"))
        .collect();
    assert_eq!(autos.len(), 5, "{labels:?}");
    assert!(
        autos.iter().all(|r| r.segments >= 2),
        "auto lines are dashed in the legend: {rows:?}"
    );
    // auto is no tick of the size axis; the ticks are sizes, one format.
    let ticks: Vec<&str> = els
        .iter()
        .filter(|e| {
            e.name == "text"
                && e.get("text-anchor") == Some("middle")
                && e.get("transform").is_none()
        })
        .map(|e| e.text.as_str())
        .filter(|t| !t.is_empty() && !t.contains(' '))
        .collect();
    assert!(ticks.contains(&"64K") && ticks.contains(&"4M"), "{ticks:?}");
    assert!(!ticks.contains(&"auto"), "{ticks:?}");
}

#[test]
fn a_wide_interval_is_cut_at_the_axis_and_marked() {
    let dirs = [made_dir("sweep", &buffer_sweep())];
    let all = charts::all(&dirs);
    let els = parse_svg(&chart(&all, "goodput-vs-sndbuf").svg);
    // The largest mean is 34 Gbit/s; one case's interval runs far above it (intervals on
    // log values never run below 0, so only the top is cut).
    let li = legend_index(&els).unwrap();
    let y_ticks: Vec<f64> = els[..li]
        .iter()
        .filter(|e| e.name == "text" && e.get("text-anchor") == Some("end"))
        .filter_map(|e| e.text.parse().ok())
        .collect();
    let top = y_ticks.iter().copied().fold(0.0, f64::max);
    assert!(
        (34.0..=45.0).contains(&top),
        "the axis follows the data, not the interval: {y_ticks:?}"
    );
    assert!(y_ticks.iter().all(|v| *v >= 0.0), "{y_ticks:?}");
    // Arrow heads (8 px wide, 12 long: no marker's shape) mark the cut interval.
    let arrows = els[..li]
        .iter()
        .filter(|e| e.name == "polygon" && e.points().len() == 3)
        .filter(|e| {
            let p = e.points();
            let span = |f: fn(&(f64, f64)) -> f64| {
                p.iter().map(f).fold(f64::MIN, f64::max) - p.iter().map(f).fold(f64::MAX, f64::min)
            };
            span(|q| q.0) == 8.0 && span(|q| q.1) == 12.0
        })
        .count();
    assert!(arrows >= 1, "the cut interval is marked where it is cut");
}

#[test]
fn a_two_dimensional_sweep_gets_a_heatmap_with_its_values() {
    let dirs = [made_dir("sweep", &buffer_sweep())];
    let all = charts::all(&dirs);
    let els = parse_svg(&chart(&all, "heatmap-d1").svg);
    let li = legend_index(&els).unwrap();
    let values: Vec<f64> = els[..li]
        .iter()
        .filter(|e| e.name == "text" && e.get("text-anchor") == Some("middle"))
        .filter_map(|e| e.text.parse().ok())
        .collect();
    // 25 cells, each with its mean in Gbit/s: 10.0 .. 34.0.
    let mut want: Vec<f64> = (0..25).map(|k| 10.0 + k as f64).collect();
    let mut got: Vec<f64> = values.iter().copied().filter(|v| *v >= 10.0).collect();
    got.sort_by(f64::total_cmp);
    want.sort_by(f64::total_cmp);
    assert_eq!(got, want, "{values:?}");
}

fn rr_cases() -> Vec<Made> {
    [
        ("tcp", 20_000.0, (40_000, 90_000)),
        ("udp", 25_000.0, (30_000, 70_000)),
    ]
    .into_iter()
    .map(|(p, tps, lat)| Made {
        label: if p == "tcp" { "proto=tcp" } else { "proto=udp" },
        protocol: p,
        pattern: "rr",
        goodputs: vec![],
        tps: Some(tps),
        p50_p99_ns: Some(lat),
        sndbuf: None,
        probe: false,
        congestion: "cubic",
    })
    .collect()
}

fn probe_cases() -> Vec<Made> {
    // Requested 64K, 256K, 1M and auto; the kernel doubled the fixed ones.
    [
        (Some(65536u64), 20e9, 50_000u64),
        (Some(262144), 25e9, 150_000),
        (Some(1 << 20), 26e9, 600_000),
        (None, 27e9, 900_000),
    ]
    .into_iter()
    .map(|(req, g, p99)| Made {
        label: match req {
            Some(65536) => "probe=rr sndbuf=64K",
            Some(262144) => "probe=rr sndbuf=256K",
            Some(_) => "probe=rr sndbuf=1M",
            None => "probe=rr sndbuf=auto",
        },
        protocol: "tcp",
        pattern: "stream",
        goodputs: vec![g, g * 1.01, g * 0.99],
        tps: None,
        p50_p99_ns: Some((p99 / 2, p99)),
        sndbuf: req
            .map(|r| (r, 2 * r))
            .or(Some((0, 4 << 20)))
            .filter(|s| s.0 > 0),
        probe: true,
        congestion: "cubic",
    })
    .collect()
}

#[test]
fn the_bufferbloat_chart_puts_requested_sizes_on_x_and_auto_apart() {
    let dirs = [made_dir("bb", &probe_cases())];
    let all = charts::all(&dirs);
    let els = parse_svg(&chart(&all, "bufferbloat-1").svg);
    let li = legend_index(&els).unwrap();
    let tick_x = |label: &str| {
        els[..li]
            .iter()
            .find(|e| e.name == "text" && e.text == label)
            .map(|e| e.num("x"))
    };
    // Goodput markers (the first colour's polygons) sit on the requested sizes' ticks.
    let goodput = legend_rows(&els)[0].colour.unwrap();
    let xs: Vec<f64> = els[..li]
        .iter()
        .filter(|e| e.name == "polygon" && e.colour() == Some(goodput))
        .map(|e| {
            let p = e.points();
            (p.iter().map(|q| q.0).fold(f64::MAX, f64::min)
                + p.iter().map(|q| q.0).fold(f64::MIN, f64::max))
                / 2.0
        })
        .collect();
    assert_eq!(xs.len(), 3, "three fixed sizes; auto is no point: {xs:?}");
    for (size, x) in ["64K", "256K", "1M"].iter().zip(&xs) {
        let t = tick_x(size).unwrap_or_else(|| panic!("no tick {size}"));
        assert!((t - x).abs() <= 2.0, "{size}: marker at {x}, tick at {t}");
    }
    let labels: Vec<String> = legend_rows(&els).into_iter().map(|r| r.label).collect();
    assert!(
        labels
            .iter()
            .any(|l| l.contains("goodput") && l.contains("auto")),
        "{labels:?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l.contains("p99") && l.contains("auto")),
        "{labels:?}"
    );
}

#[test]
fn the_comparison_names_its_units_and_what_differs() {
    let mut ma = Meta::default();
    ma.hosts.sender.kernel = "6.1.0".into();
    ma.hosts
        .sender
        .sysctls
        .insert("net.ipv4.tcp_congestion_control".into(), "bbr".into());
    let mut mb = ma.clone();
    mb.hosts.sender.kernel = "6.12.0".into();
    let a = made_dir_with("a", &rr_cases(), ma);
    let mut b_cases = rr_cases();
    for c in &mut b_cases {
        c.congestion = "reno";
    }
    let b = made_dir_with("b", &b_cases, mb);
    let dirs = [a, b];
    let page = html::page(&dirs, &charts::all(&dirs));
    assert!(
        page.contains("p50 round trip (µs)"),
        "the unit of the values is named"
    );
    assert!(!page.contains(">rtt_p50_ns<"));
    // Congestion control from the sockets' read-back, not the sysctl default.
    assert!(page.contains("(read back): cubic<"), "run a used cubic");
    assert!(page.contains("(read back): reno<"), "run b used reno");
    // What differs, at the top of the comparison: the kernel and the congestion control.
    let cmp = &page[page.find("against the baseline").unwrap()..];
    let diff = &cmp[..cmp.find("cases paired").unwrap()];
    assert!(
        diff.contains("sender host kernel") && diff.contains("6.12.0"),
        "{diff}"
    );
    assert!(
        diff.contains("congestion control (read back)") && diff.contains("reno"),
        "{diff}"
    );
    assert!(
        !diff.contains("sender host hostname"),
        "only what differs: {diff}"
    );
    // Scaling charts and scrolling tables.
    assert!(page.contains("figure svg{width:100%"));
    assert!(page.contains("<div class=scroll><table>"));
}

#[test]
fn the_checks_catch_what_they_look_for() {
    // A legend drawn over a line, two lines in one colour, -10 on an axis, mixed ticks.
    let border = {
        let c = charts::LEGEND_BORDER;
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    };
    let text = |x: u32, y: u32, anchor: &str, t: &str| {
        format!(
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\" font-size=\"13\">\n{t}\n</text>\n"
        )
    };
    let mut svg = String::from("<svg width=\"100\" height=\"100\" viewBox=\"0 0 100 100\">\n");
    svg += "<polyline fill=\"none\" stroke=\"#1F77B4\" points=\"10,50 90,50 \"/>\n";
    svg += "<polyline fill=\"none\" stroke=\"#D62728\" points=\"10,80 90,80 \"/>\n";
    for (y, t) in [(10, "-10"), (20, "0"), (30, "10")] {
        svg += &text(5, y, "end", t);
    }
    for (x, t) in [(10, "256K"), (20, "314573"), (30, "1M")] {
        svg += &text(x, 95, "middle", t);
    }
    svg += &format!(
        "<rect x=\"40\" y=\"40\" width=\"40\" height=\"50\" fill=\"none\" stroke=\"{border}\"/>\n"
    );
    for (y, c) in [(55, "#1F77B4"), (75, "#1F77B4")] {
        svg += &format!("<polyline fill=\"none\" stroke=\"{c}\" points=\"42,{y} 50,{y} \"/>\n");
        svg += &text(52, y, "start", "series");
    }
    svg += "</svg>";
    let p = chart_problems("bad", &svg);
    assert!(p.iter().any(|s| s.contains("covers data")), "{p:?}");
    // With the legend moved off the data, the other defects show.
    let moved = svg
        .replace(
            "y=\"40\" width=\"40\" height=\"50\"",
            "y=\"52\" width=\"40\" height=\"26\"",
        )
        .replace("points=\"10,50 90,50 \"", "points=\"10,50 30,50 \"")
        .replace("points=\"10,80 90,80 \"", "points=\"10,80 30,80 \"");
    let p = chart_problems("bad", &moved);
    assert!(p.iter().any(|s| s.contains("drawn like another")), "{p:?}");
    assert!(p.iter().any(|s| s.contains("not in the legend")), "{p:?}");
    assert!(p.iter().any(|s| s.contains("negative tick -10")), "{p:?}");
    assert!(p.iter().any(|s| s.contains("mixed formats")), "{p:?}");
}

// ---- Input: typed, checked, streamed ----

/// A copy of the fixture's first directory, to spoil.
fn copy_of_fixture(tmp: &Path) -> PathBuf {
    let (a, _) = fixture();
    let out = tmp.join("copy");
    std::fs::create_dir(&out).unwrap();
    for f in std::fs::read_dir(a).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, out.join(f.file_name().unwrap())).unwrap();
    }
    out
}

#[test]
fn a_cell_that_does_not_parse_is_refused_with_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of_fixture(tmp.path());
    let path = dir.join("summary.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "goodput_bps").unwrap();
    // Line 3: the second row.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    cells[col] = "banana".into();
    lines[2] = cells.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (out, html, _t) = report(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}:3: column goodput_bps: \"banana\" is not a number",
            path.display()
        )),
        "{err}"
    );
    assert!(!html.exists(), "no report from bad input");
}

#[test]
fn a_summary_without_rows_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of_fixture(tmp.path());
    let path = dir.join("summary.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{}\n", text.lines().next().unwrap())).unwrap();
    let (out, html, _t) = report(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{}:2: no rows", path.display())),
        "{err}"
    );
    assert!(!html.exists());
}

#[test]
fn columns_added_later_do_not_disturb_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of_fixture(tmp.path());
    for f in ["summary.csv", "cases.csv", "intervals.csv"] {
        let path = dir.join(f);
        let text = std::fs::read_to_string(&path).unwrap();
        let widened: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{l},{}", if i == 0 { "a_new_column" } else { "x" }))
            .collect();
        std::fs::write(&path, widened.join("\n") + "\n").unwrap();
    }
    let (out, html, _t) = report(&[dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(html)
        .unwrap()
        .contains("<h2>Cases: copy"));
}

/// The summary row of every repetition of one case of `big_results`.
fn big_summary_row(case: u32, label: &str, g: f64) -> SummaryRow {
    SummaryRow {
        case,
        repetition: 1,
        protocol: "tcp".into(),
        pattern: "stream".into(),
        direction: "forward".into(),
        flows: 1,
        msg_size: 131072,
        duration_s: 1.0,
        bytes_sent: 1 << 30,
        bytes_received: 1 << 30,
        goodput_bps: Some(g),
        status: "ok".into(),
        warmup_s: 0.2,
        case_label: label.to_string(),
        congestion: Some("cubic".into()),
        ..Default::default()
    }
}

/// The cases.csv row of one case of `big_results`.
fn big_case_row(case: u32, label: &str, reps: u32, g: f64) -> CaseRow {
    CaseRow {
        case,
        case_label: label.to_string(),
        protocol: "tcp".into(),
        pattern: "stream".into(),
        direction: "forward".into(),
        flows: 1,
        msg_size: 131072,
        repetitions: reps as usize,
        repetitions_ok: reps as usize,
        goodput_bps_mean: Some(g),
        goodput_bps_sd: Some(0.0),
        goodput_bps_ci95_low: Some(g),
        goodput_bps_ci95_high: Some(g),
        ..Default::default()
    }
}

/// Interval `i` of one case of `big_results` (the first is the warm-up's).
fn big_interval_row(case: u32, i: u32) -> sockbench::output::intervals::IntervalRow {
    sockbench::output::intervals::IntervalRow {
        case,
        repetition: 1,
        flow: 0,
        conn: 0,
        direction: "forward",
        measured_by: "receiver",
        interval: i,
        start_s: i as f64 * 0.4,
        end_s: (i + 1) as f64 * 0.4,
        warmup: i == 0,
        bytes: 50_000_000,
        messages: Some(0),
        throughput_bps: Some(1e9),
        src: String::new(),
        dst: String::new(),
    }
}

/// Writes a results directory of `cases` cases × `reps` repetitions from the writers' row
/// structs (one row serialized per case, its repetitions written from it), with a few
/// intervals per case and meta.json listing every case.
fn big_results(dir: &Path, cases: u32, reps: u32) {
    use sockbench::output::header_of;
    use sockbench::output::intervals::IntervalRow;
    std::fs::create_dir_all(dir).unwrap();
    let line_of = |row: &SummaryRow| {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        w.serialize(row).unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    };
    let mut summary =
        std::io::BufWriter::new(std::fs::File::create(dir.join("summary.csv")).unwrap());
    let mut cases_csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(dir.join("cases.csv"))
        .unwrap();
    let mut intervals = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(dir.join("intervals.csv"))
        .unwrap();
    use std::io::Write;
    writeln!(summary, "{}", header_of::<SummaryRow>().join(",")).unwrap();
    cases_csv.write_record(header_of::<CaseRow>()).unwrap();
    intervals.write_record(header_of::<IntervalRow>()).unwrap();
    let mut meta = Meta::default();
    let sizes = ["auto", "64K", "256K", "1M", "4M"];
    for case in 1..=cases {
        let label = format!(
            "sndbuf={} rcvbuf={} n={}",
            sizes[case as usize % 5],
            sizes[case as usize / 5 % 5],
            case / 25
        );
        let g = 1e9 + case as f64;
        let row = big_summary_row(case, &label, g);
        // The row's text after "case,repetition,": the same for every repetition.
        let line = line_of(&row);
        let rest = &line[line.find(',').unwrap() + 1..];
        let rest = &rest[rest.find(',').unwrap() + 1..];
        for rep in 1..=reps {
            write!(summary, "{case},{rep},{rest}").unwrap();
        }
        cases_csv
            .serialize(big_case_row(case, &label, reps, g))
            .unwrap();
        if case <= 100 {
            for i in 0..3 {
                intervals.serialize(big_interval_row(case, i)).unwrap();
            }
        }
        meta.cases.push(sockbench::output::meta::CaseMeta {
            case,
            label,
            spec: Default::default(),
        });
    }
    summary.flush().unwrap();
    cases_csv.flush().unwrap();
    intervals.flush().unwrap();
    std::fs::write(dir.join("latency.hlog"), "#no latency measured\n").unwrap();
    meta.runs = (cases * reps) as usize;
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
}

/// Runs `sockbench report` on `dir` and returns its exit status, wall time and peak
/// resident memory (the child's own ru_maxrss, from wait4).
// The child is reaped by wait4, which also gives its resource usage.
#[allow(clippy::zombie_processes)]
fn report_rss(dir: &Path, html: &Path) -> (i32, Duration, u64) {
    let started = std::time::Instant::now();
    let child = Command::new(bin())
        .args([
            "report",
            "-o",
            html.to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned and reaped
    // nowhere else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, started.elapsed(), usage.ru_maxrss as u64 * 1024)
}

fn big_report(cases: u32, reps: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    let t = std::time::Instant::now();
    big_results(&dir, cases, reps);
    let made = t.elapsed();
    let summary_bytes = std::fs::metadata(dir.join("summary.csv")).unwrap().len();
    let html = tmp.path().join("big.html");
    let (code, took, rss) = report_rss(&dir, &html);
    println!(
        "report of {} summary rows ({cases} cases, {:.0} MB; made in {made:.1?}): exit {code}, {took:.1?}, peak RSS {:.0} MB",
        cases as u64 * reps as u64,
        summary_bytes as f64 / 1e6,
        rss as f64 / 1e6
    );
    assert_eq!(code, 0);
    assert!(rss < 1 << 30, "peak RSS {rss} bytes");
    let page = std::fs::read_to_string(&html).unwrap();
    // It says what it left out, and counted every row.
    assert!(
        page.contains(&format!("The first 1000 of {cases} cases are shown")),
        "the report names the cases it does not show"
    );
    assert!(page.contains(&format!("{} rows", cases as u64 * reps as u64)));
}

#[test]
fn a_report_of_100_thousand_rows_streams() {
    big_report(10_000, 10);
}

#[test]
fn a_report_of_a_million_rows_stays_under_1_gb() {
    big_report(100_000, 10);
}

/// A tune directory's report shows the answer on top and the search as a chart; a run of
/// an application profile with varying sizes gets round trips by message size.
#[test]
fn tune_and_profile_directories_get_their_own_views() {
    let tmp = tempfile::tempdir().unwrap();
    let tune = tmp.path().join("tune");
    let out = sockbench(
        &[
            "tune",
            "--set",
            r#"rcvbuf="16K..64K""#,
            "--set",
            "duration=200ms",
            "--set",
            "warmup=0s",
            "--goal",
            "goodput",
            "--quiet",
            "--out",
            tune.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = tmp.path().join("profile");
    let rpc = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/profiles/rpc.toml");
    let out = sockbench(
        &[
            "run",
            rpc.to_str().unwrap(),
            "--set",
            "duration=500ms",
            "--set",
            "warmup=0s",
            "--set",
            "repeat=1",
            "--quiet",
            "--out",
            profile.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (dir, svg, text) in [
        (&tune, "tune-d1.svg", "tune: "),
        (&profile, "sizes-d1.svg", ""),
    ] {
        let html = dir.join("report.html");
        let svgs = dir.join("svg");
        let out = sockbench(
            &[
                "report",
                dir.to_str().unwrap(),
                "-o",
                html.to_str().unwrap(),
                "--svg-dir",
                svgs.to_str().unwrap(),
            ],
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            svgs.join(svg).is_file(),
            "{svg} in {:?}",
            std::fs::read_dir(&svgs).unwrap().collect::<Vec<_>>()
        );
        assert!(std::fs::read_to_string(&html).unwrap().contains(text));
    }
}

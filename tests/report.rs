//! `sockbench report`: the HTML it writes, the directories it refuses, and what a real
//! browser shows of it.

mod common;

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

/// `report results/*`: the glob also matches the README beside the runs, and a run
/// stopped before its first test left a directory with no case. They are passed over,
/// each said in one line, when another path holds results; alone, each is refused.
#[test]
fn a_glob_over_results_passes_over_what_holds_none() {
    let (a, _) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let readme = tmp.path().join("README.md");
    std::fs::write(&readme, "# results\n").unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (r, e) = (readme.to_str().unwrap(), empty.to_str().unwrap());
    let (out, html, _t) = report(&[a.to_str().unwrap(), r, e]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(std::fs::read_to_string(html).unwrap().contains("<figure"));
    let passed: Vec<&str> = err.lines().filter(|l| l.contains("passed over")).collect();
    assert_eq!(passed.len(), 2, "{err}");
    assert!(passed[0].contains("README.md") && passed[1].contains("summary.csv is missing"));
    for alone in [r, e] {
        let (out, _, _t) = report(&[alone]);
        assert_eq!(out.status.code(), Some(2), "{alone}");
    }
    let (out, _, _t) = report(&[r, e]);
    assert_eq!(out.status.code(), Some(2), "none usable");
    // A path that does not exist is a typo, not a glob's: refused among others too.
    let (out, _, _t) = report(&[a.to_str().unwrap(), "/no/such/run"]);
    assert_eq!(out.status.code(), Some(2), "a missing path");
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
    let status = Command::new(&chromium)
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
    // The case table fits a 1400 px window: nothing scrolls sideways, and its last
    // column (the round trip's p99.9, the point of an rr comparison) is in sight.
    let widths = case_table_in_browser(Path::new(&chromium), &html_path, tmp.path());
    assert!(!widths.is_empty(), "no case table measured");
    for (scroll, room, right, window) in widths {
        assert!(
            scroll <= room && right <= window,
            "the case table is {scroll} px wide in {room} px (right edge {right} of {window}): it scrolls sideways"
        );
    }
}

/// Each case table as Chromium lays it out at 1400 px: its width, the width of its box,
/// its right edge, the window's width. A copy of the page gets a script that writes them
/// into its title, which `--dump-dom` prints (the report itself runs no script).
fn case_table_in_browser(chromium: &Path, html: &Path, tmp: &Path) -> Vec<(u32, u32, u32, u32)> {
    let page = std::fs::read_to_string(html).unwrap();
    let probe = "<script>document.title = Array.from(document.querySelectorAll('#cases table'))\
        .map(t => [t.scrollWidth, t.parentElement.clientWidth, \
        Math.ceil(t.getBoundingClientRect().right), window.innerWidth].join(',')).join(' ');</script>";
    let copy = tmp.join("measured.html");
    std::fs::write(&copy, page.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1400,1600",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.join("profile-dom").display()
        ))
        .arg(format!("file://{}", copy.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let title = dom
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or_default();
    title
        .split_whitespace()
        .filter_map(|t| {
            let v: Vec<u32> = t.split(',').filter_map(|n| n.parse().ok()).collect();
            (v.len() == 4).then(|| (v[0], v[1], v[2], v[3]))
        })
        .collect()
}

use common::svg::*;

use sockbench::output::cases::CaseRow;
use sockbench::output::intervals::IntervalRow;
use sockbench::output::meta::Meta;
use sockbench::output::summary::SummaryRow;

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
        protocol: sockbench::Protocol::Tcp,
        pattern: sockbench::Pattern::Stream,
        direction: sockbench::Direction::Forward,
        flows: 1,
        msg_size: 131072,
        duration_s: 1.0,
        bytes_sent: Some(1 << 30),
        bytes_received: Some(1 << 30),
        goodput_bps: Some(g),
        status: sockbench::Status::Ok,
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
        protocol: sockbench::Protocol::Tcp,
        pattern: sockbench::Pattern::Stream,
        direction: sockbench::Direction::Forward,
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
        direction: sockbench::output::intervals::FlowDirection::Forward,
        measured_by: Some(sockbench::spec::config::Side::Receiver),
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
    results_at(dir, cases, reps, 1e9)
}

/// [`big_results`] with case N's goodput `g0 + N` bit/s.
fn results_at(dir: &Path, cases: u32, reps: u32, g0: f64) {
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
        let g = g0 + case as f64;
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

/// The comparison shows each figure in a unit its values read in: goodput on a
/// 100 Mbit/s path in Mbit/s (in Gbit/s it read 0.03 against 0.03 for 31.2 and 31.4).
#[test]
fn a_comparison_shows_its_figures_in_a_readable_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    results_at(&a, 2, 3, 31.16e6);
    results_at(&b, 2, 3, 95.64e6);
    let (out, html, _t) = report(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(html).unwrap();
    let row = "<td class=l>goodput (Mbit/s)</td><td>31.2</td><td>95.6</td>";
    assert_eq!(html.matches(row).count(), 2, "{html}");
    assert!(!html.contains("goodput (Gbit/s)"));
}

/// Two runs that share no case (other knobs, other patterns) are not compared: the page
/// and stderr say so, and name `--baseline`, instead of a verdict table with no rows.
#[test]
fn runs_without_a_case_in_common_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("other");
    results_at(&a, 2, 3, 31.16e6);
    let (sweep, _) = fixture();
    let (out, html, _t) = report(&[sweep.to_str().unwrap(), a.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("report: other shares no case with the baseline a")
            && stderr.contains("--baseline"),
        "{stderr}"
    );
    let html = std::fs::read_to_string(html).unwrap();
    assert!(
        html.contains("No case of other has the knob values of a case of a:"),
        "{html}"
    );
    assert!(!html.contains("cases paired by their knob values"));
    // Runs that do share cases are compared, and stderr says nothing of pairing.
    let (out, html, _t) = report(&[a.to_str().unwrap(), a.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("shares no case"));
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("2 of 2 cases paired"), "{html}");
}

/// Two directories measured on different paths differ by their path: said in "What
/// differs" and in each directory's header, as meta.json records it.
#[test]
fn the_path_measured_on_is_a_difference_and_in_the_header() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    results_at(&a, 2, 3, 31.16e6);
    results_at(&b, 2, 3, 95.64e6);
    let meta_path = b.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let path = sockbench::spec::path::PathNote::parse("delay=10ms,loss=1%").unwrap();
    meta["path"] = serde_json::to_value(path).unwrap();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    // A sysctl one side recorded and the other did not (a namespace has fewer).
    let meta_a = a.join("meta.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_a).unwrap()).unwrap();
    m["hosts"]["sender"]["sysctls"]["net.core.busy_poll"] = "0".into();
    std::fs::write(&meta_a, serde_json::to_vec(&m).unwrap()).unwrap();
    let (out, html, _t) = report(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(html).unwrap();
    let row = "<tr><td class=l>path</td><td class=l>not recorded</td><td class=l>delay=10ms,loss=1%</td></tr>";
    assert!(html.contains(row), "{html}");
    let row = "<td class=l>sender host sysctls net.core.busy_poll</td><td class=l>0</td><td class=l>not recorded</td>";
    assert!(html.contains(row), "{html}");
    assert_eq!(
        html.matches("<p class=meta>path: delay=10ms,loss=1%</p>")
            .count(),
        1
    );
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
    // This test is about the report's tune view, which an `inconclusive` answer (exit 3:
    // 200 ms tests on a loaded machine may not tell 16K from 32K) gets as well; whether
    // tune concludes is tests/tune.rs's business.
    assert!(
        out.status.code().is_some_and(|c| c <= 1 || c == 3),
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
    answer_reads_as_the_terminal(&tune.join("report.html"));
}

/// A tune report's answer names its figures as the terminal does, not by CSV column.
fn answer_reads_as_the_terminal(html: &Path) {
    let html = std::fs::read_to_string(html).unwrap();
    let answer = html.split("<p class=answer>").nth(1).unwrap();
    let answer = answer.split("</p>").next().unwrap();
    assert!(answer.contains("<br>goodput "), "{answer}");
    assert!(!answer.contains("goodput_bps"), "{answer}");
}

/// rr's last response lands just after the deadline: it joins the last interval instead
/// of making a slot of a few microseconds (a spike of one transaction over 4 µs), and the
/// interval chart says which direction its bytes went.
#[test]
fn rr_intervals_end_without_a_sliver_and_name_their_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rr");
    let o = sockbench(
        &[
            "run",
            "--pattern",
            "rr",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--set",
            "interval=250ms",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<IntervalRow> = csv::Reader::from_path(out.join("intervals.csv"))
        .unwrap()
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(rows.len() >= 2, "{} rows", rows.len());
    let last = rows.last().unwrap();
    assert!(
        last.end_s - last.start_s >= 0.25 / 4.0,
        "a sliver of {} s ends the series",
        last.end_s - last.start_s
    );
    let dir = sockbench::report::ResultsDir::load(&out).unwrap();
    let all = sockbench::report::charts::all(std::slice::from_ref(&dir));
    let svg = &all
        .iter()
        .find(|c| c.id == "intervals-d1-case1")
        .expect("an interval chart")
        .svg;
    assert!(svg.contains("responses, receiver → sender"), "{svg}");
    // Every drawn rate is the bytes of its interval over the interval's real length.
    for (p, r) in dir.cases[0].intervals.iter().zip(&rows) {
        let want = r.bytes as f64 * 8.0 / (r.end_s - r.start_s);
        assert!((p.bps - want).abs() <= want * 1e-9, "{p:?} vs {r:?}");
    }
}

/// Two connections whose last intervals end at different times: the case's point is
/// their bytes over the span they cover, not the sum of their rates.
#[test]
fn a_shorter_last_interval_weighs_by_its_length() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of_fixture(tmp.path());
    let row = |conn: u32, interval: u32, start_s: f64, end_s: f64, bytes: u64| IntervalRow {
        case: 1,
        repetition: 1,
        flow: 0,
        conn,
        direction: sockbench::output::intervals::FlowDirection::Forward,
        measured_by: Some(sockbench::spec::config::Side::Receiver),
        interval,
        start_s,
        end_s,
        bytes,
        throughput_bps: Some(bytes as f64 * 8.0 / (end_s - start_s)),
        ..Default::default()
    };
    let mut w = csv::Writer::from_path(dir.join("intervals.csv")).unwrap();
    for r in [
        row(0, 0, 0.0, 1.0, 1000),
        row(0, 1, 1.0, 2.0, 1000),
        row(1, 0, 0.0, 1.0, 1000),
        row(1, 1, 1.0, 1.5, 500),
    ] {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
    let d = sockbench::report::ResultsDir::load(&dir).unwrap();
    let bps: Vec<f64> = d.cases[0].intervals.iter().map(|p| p.bps).collect();
    assert_eq!(
        bps,
        [16_000.0, 12_000.0],
        "1,500 bytes over 1 s, not 8 + 8 kbit/s"
    );
}

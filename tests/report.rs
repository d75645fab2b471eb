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
        .arg("--window-size=1200,1600")
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

//! Reports built in memory from the writers' rows: no process, no traffic. Each chart keeps
//! the rules every chart keeps, and each defect once seen has a check here.

#[path = "../common/mod.rs"]
mod common;

mod case_table;

use common::made::*;
use common::svg::*;
use sockbench::output::meta::Meta;
use sockbench::report::{charts, html};

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

/// A run both ways draws each direction as its own line, named; one way says which.
#[test]
fn interval_charts_name_the_direction_they_show() {
    let mut dirs = [made_dir("iv", &[Made::stream("sndbuf=64K", &[1e9])])];
    let c = &mut dirs[0].cases[0];
    let reverse: Vec<_> = c
        .intervals
        .iter()
        .map(|p| sockbench::report::IntervalPoint {
            direction: sockbench::output::intervals::FlowDirection::Reverse,
            bps: p.bps / 2.0,
            ..p.clone()
        })
        .collect();
    let one_way = charts::all(&dirs);
    let svg = &chart(&one_way, "intervals-d1-case1").svg;
    assert!(svg.contains("forward (sender → receiver)"), "{svg}");
    dirs[0].cases[0].intervals.extend(reverse);
    let both = charts::all(&dirs);
    let svg = &chart(&both, "intervals-d1-case1").svg;
    assert!(svg.contains("both directions"), "{svg}");
    let labels: Vec<String> = legend_rows(&parse_svg(svg))
        .into_iter()
        .map(|r| r.label)
        .collect();
    assert_eq!(
        labels,
        [
            "warm-up (not in goodput)",
            "repetition 1, forward",
            "repetition 1, reverse"
        ]
    );
    assert!(chart_problems("intervals", svg).is_empty());
}

/// Buckets of 1 and 5 round trips have no p99: they show their n and no point, and the
/// axis is not stretched by their largest sample; a bucket of 1,500 has its p99.
#[test]
fn a_size_bucket_shows_its_n_and_no_p99_from_too_few_round_trips() {
    let mut dirs = [made_dir("sizes", &rr_cases()[..1])];
    let bucket = |size: u64, n: u64, p99_us: u64| sockbench::report::SizeBucket {
        case: 1,
        size_bucket: size,
        messages: n,
        bytes: n * size,
        rtt_p50_ns: Some(p99_us * 500),
        rtt_p99_ns: Some(p99_us * 1000),
        transactions: n,
        fewest_transactions: Some(n),
    };
    dirs[0].sizes = vec![
        bucket(64, 1, 900),
        bucket(256, 5, 800),
        bucket(1024, 1500, 50),
        bucket(4096, 2500, 60),
    ];
    let all = charts::all(&dirs);
    let svg = &chart(&all, "sizes-d1").svg;
    let els = parse_svg(svg);
    let texts: Vec<&str> = els
        .iter()
        .filter(|e| e.name == "text")
        .map(|e| e.text.as_str())
        .collect();
    for n in ["n=1", "n=5", "n=1.5k", "n=2.5k"] {
        assert!(texts.contains(&n), "{n} not in {texts:?}");
    }
    let y_ticks: Vec<f64> = els
        .iter()
        .filter(|e| e.name == "text" && e.get("text-anchor") == Some("end"))
        .filter_map(|e| e.text.parse().ok())
        .collect();
    let top = y_ticks.iter().copied().fold(0.0, f64::max);
    assert!(
        (60.0..200.0).contains(&top),
        "the p99 axis ends at {top} µs: a bucket of 1 round trip drew its p99"
    );
    assert!(
        chart_problems("sizes-d1", svg).is_empty(),
        "{:?}",
        chart_problems("sizes-d1", svg)
    );
}

/// Goodput and the probe's p99 are two charts on one x axis, not two y axes; each line
/// has its legend row (two series' `auto` cases are four dashed lines, four rows), and
/// the repetitions' 95% intervals are drawn.
#[test]
fn the_bufferbloat_chart_has_one_y_axis_per_figure_intervals_and_a_row_per_line() {
    let mut cases = probe_cases();
    for (label, g) in [
        ("probe=rr rcvbuf=1M sndbuf=64K", 21e9),
        ("probe=rr rcvbuf=1M sndbuf=auto", 28e9),
    ] {
        let mut m = Made::stream(label, &[g, g * 1.02, g * 0.98]);
        m.probe = true;
        m.p50_p99_ns = Some((100_000, 400_000));
        cases.push(m);
    }
    let mut dirs = [made_dir("bb", &cases)];
    for c in &mut dirs[0].cases {
        let p99 = c.row.rtt_p99_ns_mean.unwrap();
        c.row.rtt_p99_ns_ci95_low = Some(p99 * 0.9);
        c.row.rtt_p99_ns_ci95_high = Some(p99 * 1.1);
    }
    let all = charts::all(&dirs);
    let svg = &chart(&all, "bufferbloat-1").svg;
    let els = parse_svg(svg);
    let li = legend_index(&els).unwrap();
    let right_axis = els[..li]
        .iter()
        .filter(|e| e.name == "text" && e.get("text-anchor") == Some("start"))
        .count();
    assert_eq!(right_axis, 0, "a second y axis on the right");
    let labels: Vec<String> = legend_rows(&els).into_iter().map(|r| r.label).collect();
    let autos = labels.iter().filter(|l| l.contains("sndbuf=auto")).count();
    assert_eq!(autos, 4, "{labels:?}");
    // Both figures are named on their own axes.
    let texts: Vec<&str> = els.iter().map(|e| e.text.as_str()).collect();
    assert!(
        texts.iter().any(|t| t.starts_with("goodput (")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("probe p99 (µs)")),
        "{texts:?}"
    );
    // Interval whiskers: the lighter vertical strokes.
    assert!(
        svg.matches("opacity=\"0.6\"").count() >= 6,
        "no intervals drawn"
    );
    assert!(
        chart_problems("bufferbloat-1", svg).is_empty(),
        "{:?}",
        chart_problems("bufferbloat-1", svg)
    );
}

/// A tune directory of `steps` (value of `metric` per test), answer `sndbuf=1M`.
fn tune_dir(
    metric: sockbench::output::metric::Metric,
    values: &[f64],
) -> [sockbench::report::ResultsDir; 1] {
    let mut d = made_dir("tune", &[Made::stream("sndbuf=1M", &[1e9])]);
    let steps = values
        .iter()
        .enumerate()
        .map(|(i, v)| sockbench::tune::search::TuneRow {
            step: i as u64 + 1,
            phase: if i < 2 { "screen" } else { "race" }.into(),
            case: Some(1),
            candidate: if i % 2 == 0 {
                "sndbuf=1M"
            } else {
                "sndbuf=64K"
            }
            .into(),
            repetition: Some(1),
            metric,
            value: Some(*v),
            ..Default::default()
        })
        .collect();
    let answer = sockbench::tune::Answer {
        label: "sndbuf=1M".into(),
        goal: "maximise goodput".into(),
        ..Default::default()
    };
    d.tune = Some((answer, steps));
    [d]
}

/// The search chart's y axis names the figure as a reader does, with its unit
/// (`goodput (Gbit/s)`, `p99 round trip (ms)`), never a column name (`goodput_bps`).
#[test]
fn the_tune_chart_names_its_figure_and_unit() {
    use sockbench::output::metric::Metric;
    for (metric, values, want) in [
        (
            Metric::GoodputBps,
            vec![20e9, 31e9, 29e9],
            "goodput (Gbit/s)",
        ),
        (
            Metric::RttP99Ns,
            vec![2.1e6, 3.5e6, 2.4e6],
            "p99 round trip (ms)",
        ),
        (
            Metric::TransactionsPerS,
            vec![40e3, 55e3],
            "transactions (k/s)",
        ),
    ] {
        let dirs = tune_dir(metric, &values);
        let all = charts::all(&dirs);
        let c = chart(&all, "tune-d1");
        let els = parse_svg(&c.svg);
        let texts: Vec<&str> = els.iter().map(|e| e.text.as_str()).collect();
        assert!(texts.contains(&want), "{want} not in {texts:?}");
        for t in texts.iter().chain([&c.title.as_str()]) {
            assert!(!t.contains(metric.column()), "a column's name: {t}");
        }
        assert!(
            chart_problems("tune-d1", &c.svg).is_empty(),
            "{:?}",
            chart_problems("tune-d1", &c.svg)
        );
    }
}

/// A mesh of three hosts where the path a→c measures half the others: `reps`
/// repetitions per pair, with 95% intervals when there are enough of them.
fn mesh_dir(reps: usize) -> [sockbench::report::ResultsDir; 1] {
    let mut d = made_dir("mesh", &[Made::stream("", &[1e9])]);
    d.cases.clear();
    for (src, dst) in [
        ("a", "b"),
        ("a", "c"),
        ("b", "a"),
        ("b", "c"),
        ("c", "a"),
        ("c", "b"),
    ] {
        let g = if (src, dst) == ("a", "c") { 15e9 } else { 30e9 };
        let ci = (reps >= 3).then_some((g * 0.95, g * 1.05));
        d.matrix.push(sockbench::session::mesh::MatrixRow {
            case: 1,
            case_label: "sndbuf=1M".into(),
            src: src.into(),
            dst: dst.into(),
            repetitions: reps,
            repetitions_ok: reps,
            goodput_bps: Some(g),
            goodput_bps_ci95_low: ci.map(|c| c.0),
            goodput_bps_ci95_high: ci.map(|c| c.1),
            status: "ok".into(),
            ..Default::default()
        });
    }
    [d]
}

/// The mesh heatmap has a colour scale with its smallest and largest values, flags a
/// path only when its interval says so, and says n = 1 where one test is all there is
/// (a single loopback repetition was once flagged as a bad path).
#[test]
fn the_mesh_heatmap_has_a_colour_scale_and_flags_only_with_an_interval() {
    for (reps, flagged) in [(1, false), (3, true)] {
        let dirs = mesh_dir(reps);
        let all = charts::all(&dirs);
        let c = chart(&all, "fleet-d1-case1-goodput");
        let els = parse_svg(&c.svg);
        let texts: Vec<&str> = els.iter().map(|e| e.text.as_str()).collect();
        assert!(texts.contains(&"min 15.0 Gbit/s"), "reps {reps}: {texts:?}");
        assert!(texts.contains(&"max 30.0 Gbit/s"), "reps {reps}: {texts:?}");
        // The scale's shades run from light (the worst, smallest goodput) to dark.
        let fills: Vec<(u8, u8, u8)> = els
            .iter()
            .filter(|e| e.name == "rect")
            .filter_map(|e| e.get("fill"))
            .filter_map(|f| {
                let h = f.strip_prefix('#')?;
                let b = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
                Some((b(0)?, b(2)?, b(4)?))
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = fills.iter().collect();
        assert!(distinct.len() >= 10, "no colour scale: {distinct:?}");
        let marks = texts.iter().filter(|t| **t == "!").count();
        assert_eq!(marks, usize::from(flagged), "reps {reps}: {texts:?}");
        let n1 = texts.iter().filter(|t| **t == "n = 1").count();
        assert_eq!(n1, if reps == 1 { 6 } else { 0 }, "{texts:?}");
        let problems = chart_problems(&c.id, &c.svg);
        assert!(problems.is_empty(), "{problems:?}");
    }
}

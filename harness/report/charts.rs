//! The report's charts, drawn by plotters into SVG strings (no font files, no scripts).

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::{Case, ResultsDir};
use crate::units::{format_size, parse_size};

/// One chart: an id (for --svg-dir file names and anchors), a title, the SVG.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub svg: String,
    /// Shown folded (one of many similar charts).
    pub collapsed: bool,
}

const W: u32 = 760;
const H: u32 = 420;
type Res = Result<(), Box<dyn std::error::Error>>;

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

fn draw(
    id: String,
    title: String,
    f: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Res,
) -> Option<Chart> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        f(root).ok()?;
    }
    Some(Chart {
        id,
        title,
        svg,
        collapsed: false,
    })
}

/// A point of a sweep: x value, mean, 95% CI.
#[derive(Debug, Clone)]
struct Point {
    x: String,
    mean: f64,
    lo: f64,
    hi: f64,
}

fn series_name(dirs: &[ResultsDir], d: usize, rest: &str) -> String {
    match (dirs.len() > 1, rest.is_empty()) {
        (true, true) => dirs[d].name.clone(),
        (true, false) => format!("{} {rest}", dirs[d].name),
        (false, true) => "goodput".to_string(),
        (false, false) => rest.to_string(),
    }
}

/// Goodput against each swept knob, one line per other varied dimension (and per
/// directory), with 95% confidence intervals from the repetitions.
fn goodput_vs_knobs(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut knobs: Vec<String> = Vec::new();
    for d in dirs {
        for c in &d.cases {
            for (k, _) in c.knobs() {
                if !knobs.contains(&k) {
                    knobs.push(k);
                }
            }
        }
    }
    let mut out = Vec::new();
    for knob in knobs {
        // series name -> points
        let mut series: BTreeMap<String, Vec<Point>> = BTreeMap::new();
        for (di, d) in dirs.iter().enumerate() {
            for c in &d.cases {
                let kv = c.knobs();
                let Some((_, x)) = kv.iter().find(|(k, _)| *k == knob) else {
                    continue;
                };
                let Some(mean) = c.num("goodput_bps_mean") else {
                    continue;
                };
                if c.get("pattern") != "stream" {
                    continue;
                }
                let rest: Vec<String> = kv
                    .iter()
                    .filter(|(k, _)| *k != knob)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let p = Point {
                    x: x.clone(),
                    mean,
                    lo: c.num("goodput_bps_ci95_low").unwrap_or(mean),
                    hi: c.num("goodput_bps_ci95_high").unwrap_or(mean),
                };
                series
                    .entry(series_name(dirs, di, &rest.join(" ")))
                    .or_default()
                    .push(p);
            }
        }
        let distinct: std::collections::BTreeSet<&str> =
            series.values().flatten().map(|p| p.x.as_str()).collect();
        if distinct.len() < 2 {
            continue;
        }
        let sizes = distinct
            .iter()
            .all(|x| *x == "auto" || parse_size(x).is_ok());
        let id = format!("goodput-vs-{}", knob.replace('.', "-"));
        let title = format!("Goodput against {knob}");
        let chart = if sizes {
            draw(id, title, |root| size_axis_chart(root, &knob, &series))
        } else {
            let cats: Vec<String> = {
                let mut v: Vec<String> = Vec::new();
                for p in series.values().flatten() {
                    if !v.contains(&p.x) {
                        v.push(p.x.clone());
                    }
                }
                v
            };
            draw(id, title, |root| {
                category_chart(root, &knob, &cats, &series)
            })
        };
        out.extend(chart);
    }
    out
}

fn ymax_of(series: &BTreeMap<String, Vec<Point>>) -> f64 {
    series
        .values()
        .flatten()
        .map(|p| p.hi.max(p.mean))
        .fold(0.0, f64::max)
        * 1.1
        + 1.0
}

fn size_axis_chart(
    root: DrawingArea<SVGBackend, plotters::coord::Shift>,
    knob: &str,
    series: &BTreeMap<String, Vec<Point>>,
) -> Res {
    let xs: Vec<f64> = series
        .values()
        .flatten()
        .filter_map(|p| parse_size(&p.x).ok())
        .map(|v| v as f64)
        .collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let (xmin, xmax) = if xs.is_empty() {
        (1024.0, 2048.0)
    } else {
        (xmin / 1.5, xmax * 1.5)
    };
    let ymax = ymax_of(series) / 1e9;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Goodput against {knob} (95% CI; dashed: auto)"),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((xmin..xmax).log_scale().base(2.0), 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc(format!("{knob} (bytes, log2)"))
        .y_desc("goodput (Gbit/s)")
        .x_label_formatter(&|v| format_size(v.round() as u64))
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = color(i);
        let mut numeric: Vec<(f64, &Point)> = pts
            .iter()
            .filter_map(|p| parse_size(&p.x).ok().map(|x| (x as f64, p)))
            .collect();
        numeric.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                numeric.iter().map(|(x, p)| (*x, p.mean / 1e9)),
                c.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart.draw_series(numeric.iter().map(|(x, p)| {
            ErrorBar::new_vertical(*x, p.lo / 1e9, p.mean / 1e9, p.hi / 1e9, c.filled(), 6)
        }))?;
        for p in pts.iter().filter(|p| p.x == "auto") {
            chart.draw_series(DashedLineSeries::new(
                vec![(xmin, p.mean / 1e9), (xmax, p.mean / 1e9)],
                6,
                4,
                c.stroke_width(1),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn category_chart(
    root: DrawingArea<SVGBackend, plotters::coord::Shift>,
    knob: &str,
    cats: &[String],
    series: &BTreeMap<String, Vec<Point>>,
) -> Res {
    let ymax = ymax_of(series) / 1e9;
    let n = cats.len() as f64;
    let labels = cats.to_vec();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Goodput against {knob} (95% CI)"),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc(knob)
        .y_desc("goodput (Gbit/s)")
        .x_labels(cats.len())
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()?;
    let k = series.len().max(1) as f64;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = color(i);
        let offset = (i as f64 - (k - 1.0) / 2.0) * 0.6 / k;
        let xy: Vec<(f64, &Point)> = pts
            .iter()
            .filter_map(|p| {
                cats.iter()
                    .position(|c| *c == p.x)
                    .map(|ix| (ix as f64 + offset, p))
            })
            .collect();
        chart
            .draw_series(
                xy.iter()
                    .map(|(x, p)| Circle::new((*x, p.mean / 1e9), 4, c.filled())),
            )?
            .label(name.clone())
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        chart.draw_series(xy.iter().map(|(x, p)| {
            ErrorBar::new_vertical(*x, p.lo / 1e9, p.mean / 1e9, p.hi / 1e9, c.filled(), 6)
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The percentile spectrum of round trips (the HdrHistogram view): x = percentile on a
/// 1/(1-q) log axis, y = round trip, one line per case (and directory).
fn latency_spectrum(dirs: &[ResultsDir]) -> Option<Chart> {
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for d in dirs {
        for c in &d.cases {
            let Some(h) = c.histograms.get("rtt") else {
                continue;
            };
            if h.is_empty() {
                continue;
            }
            let mut pts = Vec::new();
            // q from 0 up to the last quantile the sample count supports.
            let max_x = (h.len() as f64).min(1e5);
            let mut i = 0;
            loop {
                let x = 10f64.powf(i as f64 / 20.0);
                if x > max_x {
                    break;
                }
                let q = 1.0 - 1.0 / x;
                pts.push((x, h.value_at_quantile(q) as f64 / 1e3));
                i += 1;
            }
            let mut name = format!("case {} {} {}", c.case, c.get("protocol"), c.get("pattern"));
            if !c.label.is_empty() {
                name = format!("{name} {}", c.label);
            }
            if dirs.len() > 1 {
                name = format!("{}: {name}", d.name);
            }
            lines.push((name, pts));
        }
    }
    if lines.is_empty() {
        return None;
    }
    let ymax = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(1.0, f64::max)
        * 1.5;
    let ymin = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(f64::MAX, f64::min)
        .max(0.1)
        / 1.5;
    let xmax = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.0))
        .fold(10.0, f64::max);
    draw(
        "latency-spectrum".into(),
        "Round-trip percentile spectrum".into(),
        |root| {
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    "Round trips by percentile (merged histograms)",
                    ("sans-serif", 17),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d((1f64..xmax).log_scale(), (ymin..ymax).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("round trip (us)")
                .x_label_formatter(&|x| {
                    let q = 100.0 * (1.0 - 1.0 / x);
                    let digits = if q < 99.0 {
                        0
                    } else {
                        ((1.0 / (100.0 - q)).log10().ceil() as usize).min(4)
                    };
                    format!("{q:.digits$}%")
                })
                .draw()?;
            for (i, (name, pts)) in lines.iter().enumerate() {
                let c = color(i);
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                    .label(name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
            Ok(())
        },
    )
}

/// Throughput and the probe's round trips together against the send buffer: the
/// bufferbloat trade-off, when a probe ran.
fn bufferbloat(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for d in dirs {
        let mut pts: Vec<(f64, f64, f64)> = d
            .cases
            .iter()
            .filter(|c| c.rep("probe") == "true")
            .filter_map(|c| {
                let sndbuf: f64 = c.rep("sndbuf_eff").parse().ok()?;
                Some((
                    sndbuf,
                    c.num("goodput_bps_mean")? / 1e9,
                    c.num("rtt_p99_ns_mean")? / 1e3,
                ))
            })
            .collect();
        if pts.len() < 2 {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (xmin, xmax) = (pts[0].0 / 1.5, pts[pts.len() - 1].0 * 1.5);
        let gmax = pts.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15 + 0.01;
        let rmax = pts.iter().map(|p| p.2).fold(0.0, f64::max) * 1.15 + 1.0;
        let id = format!("bufferbloat-{}", out.len() + 1);
        let title = format!(
            "Throughput and latency under load against the send buffer ({})",
            d.name
        );
        out.extend(draw(id, title, |root| {
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    "Goodput (left) and probe p99 round trip (right) against SO_SNDBUF",
                    ("sans-serif", 17),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .right_y_label_area_size(60)
                .build_cartesian_2d((xmin..xmax).log_scale().base(2.0), 0f64..gmax)?
                .set_secondary_coord((xmin..xmax).log_scale().base(2.0), 0f64..rmax);
            chart
                .configure_mesh()
                .x_desc("SO_SNDBUF as the kernel reported it (bytes, log2)")
                .y_desc("goodput (Gbit/s)")
                .x_label_formatter(&|v| format_size(v.round() as u64))
                .draw()?;
            chart
                .configure_secondary_axes()
                .y_desc("probe p99 round trip (us)")
                .draw()?;
            let (c0, c1) = (color(0), color(1));
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    c0.stroke_width(2),
                ))?
                .label("goodput")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c0.stroke_width(2))
                });
            chart
                .draw_secondary_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.2)),
                    c1.stroke_width(2),
                ))?
                .label("probe p99 round trip")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c1.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
            Ok(())
        }));
    }
    out
}

/// Per-interval throughput over time, one chart per case, one line per repetition.
fn intervals(dirs: &[ResultsDir]) -> Vec<Chart> {
    let total: usize = dirs.iter().map(|d| d.cases.len()).sum();
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        for c in d.cases.iter().filter(|c| !c.intervals.is_empty()) {
            let id = format!("intervals-d{}-case{}", di + 1, c.case);
            let title = format!(
                "{}case {}: {} {} {}: throughput per interval",
                if dirs.len() > 1 {
                    format!("{}: ", d.name)
                } else {
                    String::new()
                },
                c.case,
                c.get("protocol"),
                c.get("pattern"),
                c.label
            );
            out.extend(
                draw(id, title.clone(), |root| interval_chart(root, &title, c)).map(|mut ch| {
                    ch.collapsed = total > 4;
                    ch
                }),
            );
        }
    }
    out
}

fn interval_chart(
    root: DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    c: &Case,
) -> Res {
    let tmax = c.intervals.iter().map(|v| v.1).fold(1.0, f64::max) + 1.0;
    let ymax = c.intervals.iter().map(|v| v.2).fold(0.0, f64::max) * 1.15 + 1.0;
    let (scale, unit) = if ymax > 2e9 {
        (1e9, "Gbit/s")
    } else if ymax > 2e6 {
        (1e6, "Mbit/s")
    } else {
        (1e3, "kbit/s")
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..tmax, 0f64..ymax / scale)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the start (warm-up included)")
        .y_desc(format!("throughput ({unit})"))
        .draw()?;
    let reps: std::collections::BTreeSet<u32> = c.intervals.iter().map(|v| v.0).collect();
    for (i, rep) in reps.into_iter().enumerate() {
        let col = color(i);
        let pts: Vec<(f64, f64)> = c
            .intervals
            .iter()
            .filter(|v| v.0 == rep)
            .map(|v| (v.1, v.2 / scale))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))?
            .label(format!("repetition {rep}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Every chart the data supports, in reading order.
pub fn all(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = goodput_vs_knobs(dirs);
    out.extend(latency_spectrum(dirs));
    out.extend(bufferbloat(dirs));
    out.extend(intervals(dirs));
    out
}

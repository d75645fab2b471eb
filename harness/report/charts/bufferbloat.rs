//! Goodput and the latency probe's p99 against the send buffer: the bufferbloat trade-off,
//! as two charts one above the other on one x axis (no second y axis), with the 95%
//! intervals of the repetitions and one legend row per line.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::report::{label_order, Case, ResultsDir};
use crate::spec::units::parse_size;

/// The send buffer a case asked for: from its label, else its summary row; `None` = auto.
fn requested_sndbuf(c: &Case) -> Option<Option<u64>> {
    match c.knob("sndbuf") {
        Some(v) if v == "auto" => Some(None),
        Some(v) => parse_size(&v).ok().map(Some),
        None => c.first.as_ref().map(|r| {
            r.sndbuf_req
                .and_then(crate::output::summary::SizeReq::bytes)
        }),
    }
}

/// One case of the chart: the send buffer requested (`None` = auto), goodput (bit/s) and
/// the probe's p99 (µs, shown in ms from 2 ms), each a mean with its 95% interval.
#[derive(Debug, Clone, Copy)]
struct Bb {
    sndbuf: Option<u64>,
    goodput: Point,
    p99: Point,
    reps: usize,
}

/// The cases that share every other knob: one line in each of the two charts.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    points: Vec<Bb>,
}

fn bb_of(c: &Case) -> Option<Bb> {
    let r = &c.row;
    let us = |v: Option<f64>| v.map(|v| v / 1e3);
    Some(Bb {
        sndbuf: requested_sndbuf(c)?,
        goodput: Point {
            x: 0.0,
            mean: r.goodput_bps_mean?,
            ci: r.goodput_bps_ci95_low.zip(r.goodput_bps_ci95_high),
        },
        p99: Point {
            x: 0.0,
            mean: r.rtt_p99_ns_mean? / 1e3,
            ci: us(r.rtt_p99_ns_ci95_low).zip(us(r.rtt_p99_ns_ci95_high)),
        },
        reps: r.repetitions_ok,
    })
}

/// A series' place among the others: its knobs' values in reading order.
type LabelOrder = Vec<(String, (u8, u64, String))>;

/// The probe cases of a directory as lines, by their other knobs; of two cases at one
/// send buffer in one line (a tune's baseline run twice), the one with more repetitions.
fn series_of(d: &ResultsDir) -> Vec<Series> {
    let mut by: BTreeMap<LabelOrder, Series> = BTreeMap::new();
    for c in d.cases.iter().filter(|c| c.probe()) {
        let Some(p) = bb_of(c) else { continue };
        let rest: Vec<String> = c
            .knobs()
            .into_iter()
            .filter(|(k, _)| k != "sndbuf" && k != "probe")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let rest = rest.join(" ");
        let s = by.entry(label_order(&rest)).or_insert_with(|| Series {
            name: rest,
            points: Vec::new(),
        });
        match s.points.iter_mut().find(|q| q.sndbuf == p.sndbuf) {
            Some(q) if q.reps < p.reps => *q = p,
            Some(_) => {}
            None => s.points.push(p),
        }
    }
    by.into_values()
        .filter(|s| s.points.iter().any(|p| p.sndbuf.is_some()))
        .take(MAX_SERIES / 2)
        .collect()
}

/// Throughput and the probe's p99 round trip against the send buffer as requested: the
/// bufferbloat trade-off, when a latency probe ran.
pub(super) fn bufferbloat(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for d in dirs {
        let series = series_of(d);
        let cases: usize = series.iter().map(|s| s.points.len()).sum();
        if cases < 2 {
            continue;
        }
        let id = format!("bufferbloat-{}", out.len() + 1);
        let title = format!(
            "Throughput and latency under load against the send buffer ({})",
            d.name
        );
        out.extend(draw(
            id,
            title,
            "Goodput (top) and probe p99 round trip (bottom) against SO_SNDBUF (mean, 95% CI)",
            |a| bufferbloat_chart(a, &series),
        ));
    }
    out
}

/// Which figure a panel shows: its name, its pick, its unit's scale and name.
struct Figure {
    name: &'static str,
    pick: fn(&Bb) -> Point,
    scale: f64,
    unit: &'static str,
}

fn bufferbloat_chart(
    area: &Area<'_>,
    series: &[Series],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let xs: Vec<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.sndbuf))
        .collect();
    let x = size_range(&xs);
    let gmax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.goodput.mean))
        .fold(0.0, f64::max);
    let (scale, unit) = bps_unit(gmax);
    let (_, h) = area.dim_in_pixel();
    let (upper, lower) = area.split_vertically(h / 2);
    let colors = palette(2 * series.len());
    let goodput = Figure {
        name: "goodput",
        pick: |b| b.goodput,
        scale,
        unit,
    };
    let pmax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.p99.mean))
        .fold(0.0, f64::max);
    // The probe's p99 is in µs: shown in ms once a queue has grown it past 2 ms.
    let (scale, unit) = if pmax >= 2e3 {
        (1e3, "ms")
    } else {
        (1.0, "µs")
    };
    let p99 = Figure {
        name: "probe p99",
        pick: |b| b.p99,
        scale,
        unit,
    };
    let mut entries = Vec::new();
    let mut autos = Vec::new();
    let mut cut = false;
    for (k, (panel, fig)) in [(&upper, goodput), (&lower, p99)].into_iter().enumerate() {
        let looks: Vec<Look> = (0..series.len())
            .map(|i| Look::line(colors[2 * i + k], Marker::nth(2 * i + k)))
            .collect();
        let (e, a, c) = bb_panel(panel, series, &fig, &looks, x, k == 1)?;
        entries.extend(e);
        autos.extend(a);
        cut |= c;
    }
    entries.extend(autos);
    entries.extend(cut_entry(cut));
    Ok(entries)
}

/// A legend row's name: the figure, then the series' other knobs.
fn named(s: &Series, what: &str) -> String {
    if s.name.is_empty() {
        what.to_string()
    } else {
        format!("{what}, {}", s.name)
    }
}

/// Legend rows of a panel's lines, of its `auto` lines, and whether an interval was cut.
type PanelRows = (Vec<(String, Look)>, Vec<(String, Look)>, bool);

/// One figure against log2 sizes: a line per series with intervals, each series' `auto`
/// case a dashed line across. Both panels share the x range and the y label width, so
/// their x axes line up.
fn bb_panel(
    area: &Area<'_>,
    series: &[Series],
    fig: &Figure,
    looks: &[Look],
    (xmin, xmax): (f64, f64),
    bottom: bool,
) -> Result<PanelRows, Box<dyn std::error::Error>> {
    let pts = |s: &Series| -> Vec<(Option<u64>, Point)> {
        s.points
            .iter()
            .map(|b| {
                let p = (fig.pick)(b);
                let ci = p.ci.map(|(l, h)| (l / fig.scale, h / fig.scale));
                (
                    b.sndbuf,
                    Point {
                        x: 0.0,
                        mean: p.mean / fig.scale,
                        ci,
                    },
                )
            })
            .collect()
    };
    let max = series
        .iter()
        .flat_map(|s| pts(s).into_iter().map(|p| p.1.mean))
        .fold(0.0, f64::max);
    let (top, ny, decimals) = zero_axis_in(max, 4.0);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(if bottom { 50 } else { 30 })
        .y_label_area_size(70)
        .build_cartesian_2d(xmin..xmax, 0f64..top)?;
    let mut m = mesh(&mut chart);
    if bottom {
        m.x_desc("SO_SNDBUF as requested (bytes, log2 scale)");
    }
    m.y_desc(format!("{} ({})", fig.name, fig.unit))
        .x_labels(((xmax - xmin).ceil() as usize + 1).max(2))
        .y_labels(ny)
        .x_label_formatter(&size_label)
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let (mut entries, mut autos, mut cut) = (Vec::new(), Vec::new(), false);
    for (s, look) in series.iter().zip(looks) {
        let all = pts(s);
        let mut fixed_pts: Vec<Point> = all
            .iter()
            .filter_map(|(x, p)| {
                Some(Point {
                    x: ((*x)?.max(1) as f64).log2(),
                    ..*p
                })
            })
            .collect();
        fixed_pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        chart.draw_series(LineSeries::new(
            fixed_pts.iter().map(|p| (p.x, p.mean)),
            look.color.stroke_width(2),
        ))?;
        cut |= ci_bars(&mut chart, &fixed_pts, top, look.color)?;
        let m = look.marker.unwrap_or(Marker::Circle);
        chart.draw_series(
            fixed_pts
                .iter()
                .map(|p| marker!((p.x, p.mean), m, look.color)),
        )?;
        entries.push((named(s, fig.name), *look));
        for (_, p) in all.iter().filter(|p| p.0.is_none()) {
            chart.draw_series(DashedLineSeries::new(
                vec![(xmin, p.mean), (xmax, p.mean)],
                8,
                5,
                look.color.stroke_width(2),
            ))?;
            let what = format!("{}, sndbuf=auto", fig.name);
            autos.push((named(s, &what), Look::dashed(look.color)));
        }
    }
    Ok((entries, autos, cut))
}

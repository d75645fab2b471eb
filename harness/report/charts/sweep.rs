//! Goodput against each swept knob: sizes on a log2 axis with `auto` dashed apart, other values as categories.

use std::collections::{BTreeMap, BTreeSet};

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::report::{label_order, value_order, ResultsDir};
use crate::spec::units::parse_size;

/// One line of a sweep chart: its name, its points at numeric x, its `auto` point.
#[derive(Debug, Clone)]
struct SweepSeries {
    name: String,
    order: Vec<(String, (u8, u64, String))>,
    points: Vec<(String, Point)>,
}

/// Goodput (stream cases) against each swept knob, one line per value of the other knobs
/// (and per directory), with 95% confidence intervals from the repetitions.
pub(super) fn goodput_vs_knobs(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut knobs: Vec<String> = Vec::new();
    for c in dirs.iter().flat_map(|d| &d.cases) {
        for (k, _) in c.knobs() {
            if !knobs.contains(&k) {
                knobs.push(k);
            }
        }
    }
    let mut out = Vec::new();
    for knob in knobs {
        let mut series = sweep_series(dirs, &knob);
        let distinct: BTreeSet<&str> = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0.as_str()))
            .collect();
        if distinct.len() < 2 {
            continue;
        }
        let sizes = distinct
            .iter()
            .all(|x| *x == "auto" || parse_size(x).is_ok());
        sweep_charts(&knob, sizes, &mut series, &mut out);
    }
    out
}

/// The lines of the goodput chart of one knob, in the order of their names' values.
fn sweep_series(dirs: &[ResultsDir], knob: &str) -> Vec<SweepSeries> {
    let mut series: BTreeMap<(usize, String), SweepSeries> = BTreeMap::new();
    for (di, d) in dirs.iter().enumerate() {
        for c in d.cases.iter().filter(|c| !c.is_transactional()) {
            let Some(x) = c.knob(knob) else { continue };
            let Some(mean) = c.row.goodput_bps_mean else {
                continue;
            };
            let rest: Vec<String> = c
                .knobs()
                .into_iter()
                .filter(|(k, _)| k != knob)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let rest = rest.join(" ");
            let name = match (dirs.len() > 1, rest.is_empty()) {
                (true, true) => d.name.clone(),
                (true, false) => format!("{} {rest}", d.name),
                (false, true) => "goodput".to_string(),
                (false, false) => rest.clone(),
            };
            let ci = c.row.goodput_bps_ci95_low.zip(c.row.goodput_bps_ci95_high);
            series
                .entry((di, name.clone()))
                .or_insert_with(|| SweepSeries {
                    name,
                    order: label_order(&rest),
                    points: Vec::new(),
                })
                .points
                .push((x, Point { x: 0.0, mean, ci }));
        }
    }
    let mut v: Vec<((usize, String), SweepSeries)> = series.into_iter().collect();
    v.sort_by(|a, b| (a.0 .0, &a.1.order).cmp(&(b.0 .0, &b.1.order)));
    v.into_iter().map(|(_, s)| s).collect()
}

/// The goodput charts of one knob, `MAX_SERIES` lines each.
fn sweep_charts(knob: &str, sizes: bool, series: &mut [SweepSeries], out: &mut Vec<Chart>) {
    let all = series.len();
    for (part, chunk) in series.chunks_mut(MAX_SERIES).enumerate() {
        let id = format!(
            "goodput-vs-{}{}",
            knob.replace('.', "-"),
            if part == 0 {
                String::new()
            } else {
                format!("-{}", part + 1)
            }
        );
        let shown = if all > MAX_SERIES {
            format!(
                " (lines {}–{} of {all})",
                part * MAX_SERIES + 1,
                part * MAX_SERIES + chunk.len()
            )
        } else {
            String::new()
        };
        let title = format!("Goodput against {knob} as requested{shown}");
        let has_auto = chunk.iter().any(|s| s.points.iter().any(|p| p.0 == "auto"));
        let chart = if sizes {
            let dashed = if has_auto {
                format!("; dashed: {knob}=auto")
            } else {
                String::new()
            };
            let cap = format!("Goodput against {knob} (mean, 95% CI{dashed}){shown}");
            draw(id, title, &cap, |a| size_sweep(a, knob, chunk))
        } else {
            let cap = format!("Goodput against {knob} (mean, 95% CI){shown}");
            draw(id, title, &cap, |a| category_sweep(a, knob, chunk))
        };
        out.extend(chart);
    }
}

fn size_sweep(
    area: &Area<'_>,
    knob: &str,
    series: &mut [SweepSeries],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let xs: Vec<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| parse_size(&p.0).ok()))
        .collect();
    let (xmin, xmax) = size_range(&xs);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.mean))
        .fold(0.0, f64::max);
    let (scale, unit) = bps_unit(max);
    let (top, ny, decimals) = zero_axis(max / scale);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(xmin..xmax, 0f64..top)?;
    mesh(&mut chart)
        .x_desc(format!("{knob} as requested (bytes, log2 scale)"))
        .y_desc(format!("goodput ({unit})"))
        .x_labels(((xmax - xmin).ceil() as usize + 1).max(2))
        .y_labels(ny)
        .x_label_formatter(&size_label)
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let colors = palette(series.len());
    let series_len = series.len();
    let mut entries = Vec::new();
    let mut autos = Vec::new();
    let mut cut = false;
    for (i, s) in series.iter_mut().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        let mut pts: Vec<Point> = s
            .points
            .iter()
            .filter_map(|(x, p)| {
                let v = parse_size(x).ok()?;
                Some(Point {
                    x: (v.max(1) as f64).log2(),
                    mean: p.mean / scale,
                    ci: p.ci.map(|(l, h)| (l / scale, h / scale)),
                })
            })
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        if !pts.is_empty() {
            chart.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.x, p.mean)),
                look.color.stroke_width(2),
            ))?;
            // Intervals of the lines at one size side by side, not on top of each other.
            let k = series_len as f64;
            let dodge = (i as f64 - (k - 1.0) / 2.0) * 0.25 / k;
            let dodged: Vec<Point> = pts
                .iter()
                .map(|p| Point {
                    x: p.x + dodge,
                    ..*p
                })
                .collect();
            cut |= ci_bars(&mut chart, &dodged, top, look.color)?;
            chart.draw_series(
                pts.iter()
                    .map(|p| marker!((p.x, p.mean), Marker::nth(i), look.color)),
            )?;
            entries.push((s.name.clone(), look));
        }
        for (_, p) in s.points.iter().filter(|p| p.0 == "auto") {
            let y = p.mean / scale;
            chart.draw_series(DashedLineSeries::new(
                vec![(xmin, y), (xmax, y)],
                8,
                5,
                look.color.stroke_width(2),
            ))?;
            autos.push((format!("{} {knob}=auto", s.name), Look::dashed(look.color)));
        }
    }
    entries.extend(autos);
    entries.extend(cut_entry(cut));
    Ok(entries)
}

fn category_sweep(
    area: &Area<'_>,
    knob: &str,
    series: &mut [SweepSeries],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let mut cats: Vec<String> = Vec::new();
    for s in series.iter() {
        for (x, _) in &s.points {
            if !cats.contains(x) {
                cats.push(x.clone());
            }
        }
    }
    cats.sort_by_key(|c| value_order(c));
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.mean))
        .fold(0.0, f64::max);
    let (scale, unit) = bps_unit(max);
    let (top, ny, decimals) = zero_axis(max / scale);
    let n = cats.len() as f64;
    let labels = cats.clone();
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top)?;
    let cat_label = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 0.01 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    mesh(&mut chart)
        .x_desc(knob.to_string())
        .y_desc(format!("goodput ({unit})"))
        .x_labels(cats.len())
        .y_labels(ny)
        .x_label_formatter(&cat_label)
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let colors = palette(series.len());
    let k = series.len().max(1) as f64;
    let mut entries = Vec::new();
    let mut cut = false;
    for (i, s) in series.iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        let offset = (i as f64 - (k - 1.0) / 2.0) * 0.5 / k;
        let pts: Vec<Point> = s
            .points
            .iter()
            .filter_map(|(x, p)| {
                let ix = cats.iter().position(|c| c == x)?;
                Some(Point {
                    x: ix as f64 + offset,
                    mean: p.mean / scale,
                    ci: p.ci.map(|(l, h)| (l / scale, h / scale)),
                })
            })
            .collect();
        cut |= ci_bars(&mut chart, &pts, top, look.color)?;
        chart.draw_series(
            pts.iter()
                .map(|p| marker!((p.x, p.mean), Marker::nth(i), look.color)),
        )?;
        // Points, not lines: categories have no order to join.
        entries.push((s.name.clone(), Look::points(look.color, Marker::nth(i))));
    }
    entries.extend(cut_entry(cut));
    Ok(entries)
}

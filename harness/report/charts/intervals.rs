//! Per-interval throughput over time, one chart per case.

use std::collections::BTreeSet;

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::output::intervals::FlowDirection;
use crate::report::{Case, IntervalPoint, ResultsDir};

/// Per-interval throughput over time, one chart per case, one line per repetition; the
/// warm-up (excluded from goodput) shaded; the axis ends where the data ends.
pub(super) fn intervals(dirs: &[ResultsDir]) -> Vec<Chart> {
    let total: usize = dirs.iter().map(|d| d.cases.len()).sum();
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        for c in d.cases.iter().filter(|c| !c.intervals.is_empty()) {
            // In a fleet run one case number covers every pair.
            let id = if c.row.src.is_empty() {
                format!("intervals-d{}-case{}", di + 1, c.id())
            } else {
                format!(
                    "intervals-d{}-case{}-{}-{}",
                    di + 1,
                    c.id(),
                    c.row.src,
                    c.row.dst
                )
            };
            let title = format!(
                "{}case {}: {} {} {}: throughput per interval",
                if dirs.len() > 1 {
                    format!("{}: ", d.name)
                } else {
                    String::new()
                },
                c.id(),
                c.row.protocol,
                c.row.pattern,
                c.label()
            );
            let caption = format!("{title} — {}", shown_direction(c));
            out.extend(
                draw(id, title, &caption, |a| interval_chart(a, c)).map(|mut ch| {
                    ch.collapsed = total > 4;
                    ch
                }),
            );
        }
    }
    out
}

fn interval_chart(
    area: &Area<'_>,
    c: &Case,
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let tmax = c.intervals.iter().map(|v| v.end_s).fold(0.0, f64::max);
    let tmax = if tmax > 0.0 { tmax } else { 1.0 };
    let (scale, unit) = bps_unit(c.intervals.iter().map(|v| v.bps).fold(0.0, f64::max));
    let (top, ny, decimals) =
        zero_axis(c.intervals.iter().map(|v| v.bps).fold(0.0, f64::max) / scale);
    let (step, xdec) = nice_step(tmax, 8.0);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..tmax, 0f64..top)?;
    mesh(&mut chart)
        .x_desc("seconds from the start of traffic")
        .y_desc(format!("throughput ({unit})"))
        .x_labels((tmax / step) as usize + 1)
        .y_labels(ny)
        .x_label_formatter(&fixed(xdec))
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let mut entries = Vec::new();
    if let Some(w) = c.warmup_s().filter(|w| *w > 0.0) {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (w.min(tmax), top)],
            WARMUP.filled(),
        )))?;
        entries.push(("warm-up (not in goodput)".to_string(), Look::band(WARMUP)));
    }
    // One line per repetition and direction (both, when the run went both ways).
    let lines: BTreeSet<(u32, FlowDirection)> = c
        .intervals
        .iter()
        .map(|v| (v.repetition, v.direction))
        .collect();
    let directions: BTreeSet<FlowDirection> = lines.iter().map(|l| l.1).collect();
    let colors = palette(lines.len());
    for (i, (rep, dir)) in lines.into_iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        let of_line = |v: &&IntervalPoint| v.repetition == rep && v.direction == dir;
        // A step per interval: each rate holds over the interval it was measured in,
        // a partial last interval over its real length.
        let pts: Vec<(f64, f64)> = c
            .intervals
            .iter()
            .filter(of_line)
            .flat_map(|v| [(v.start_s, v.bps / scale), (v.end_s, v.bps / scale)])
            .collect();
        chart.draw_series(LineSeries::new(pts, look.color.stroke_width(2)))?;
        chart.draw_series(c.intervals.iter().filter(of_line).map(|v| {
            marker!(
                ((v.start_s + v.end_s) / 2.0, v.bps / scale),
                Marker::nth(i),
                look.color
            )
        }))?;
        let name = if directions.len() > 1 {
            format!("repetition {rep}, {dir}")
        } else {
            format!("repetition {rep}")
        };
        entries.push((name, look));
    }
    Ok(entries)
}

/// What the chart's bytes are, in words: the direction, and for request/response the
/// responses the requester counted.
fn shown_direction(c: &Case) -> String {
    let dirs: BTreeSet<FlowDirection> = c.intervals.iter().map(|v| v.direction).collect();
    let words = |d: FlowDirection| match d {
        FlowDirection::Forward => "sender → receiver",
        FlowDirection::Reverse => "receiver → sender",
        FlowDirection::Probe => "",
    };
    let shown: Vec<&str> = dirs
        .iter()
        .map(|&d| words(d))
        .filter(|w| !w.is_empty())
        .collect();
    match (shown.as_slice(), c.is_transactional()) {
        ([one], true) => format!("responses, {one}"),
        ([one], false) => format!("{} ({one})", dirs.iter().next().map_or("", |d| d.as_str())),
        _ => "both directions".to_string(),
    }
}

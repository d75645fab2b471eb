//! Per-interval throughput over time, one chart per case.

use std::collections::BTreeSet;

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::report::{Case, ResultsDir};

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
            out.extend(
                draw(id, title.clone(), &title, |a| interval_chart(a, c)).map(|mut ch| {
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
    let reps: BTreeSet<u32> = c.intervals.iter().map(|v| v.repetition).collect();
    let colors = palette(reps.len());
    for (i, rep) in reps.into_iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        // A step per interval: each rate holds over the interval it was measured in.
        let pts: Vec<(f64, f64)> = c
            .intervals
            .iter()
            .filter(|v| v.repetition == rep)
            .flat_map(|v| [(v.start_s, v.bps / scale), (v.end_s, v.bps / scale)])
            .collect();
        chart.draw_series(LineSeries::new(pts.clone(), look.color.stroke_width(2)))?;
        chart.draw_series(c.intervals.iter().filter(|v| v.repetition == rep).map(|v| {
            marker!(
                ((v.start_s + v.end_s) / 2.0, v.bps / scale),
                Marker::nth(i),
                look.color
            )
        }))?;
        entries.push((format!("repetition {rep}"), look));
    }
    Ok(entries)
}

//! Round trips by message size (sizes.csv, application traffic profiles).

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::report::ResultsDir;

/// Round trips against message size, per case (sizes.csv): which messages suffer.
pub(super) fn latency_by_size(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for c in &d.cases {
            let pts: Vec<(f64, f64)> = d
                .sizes
                .iter()
                .filter(|b| b.case == c.id() && b.size_bucket > 0)
                .filter_map(|b| Some(((b.size_bucket as f64).log2(), b.rtt_p99_ns? as f64 / 1e3)))
                .collect();
            if pts.len() >= 2 {
                lines.push((case_name(c), pts));
            }
            if lines.len() >= MAX_SERIES {
                break;
            }
        }
        if lines.is_empty() {
            continue;
        }
        let who = if dirs.len() > 1 {
            format!(" ({})", d.name)
        } else {
            String::new()
        };
        let title = format!("p99 round trip by message size{who}");
        out.extend(draw(
            format!("sizes-d{}", di + 1),
            title.clone(),
            &title,
            |a| size_latency_chart(a, &lines),
        ));
    }
    out
}

fn size_latency_chart(
    area: &Area<'_>,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|v| v.0));
    let (xlo, xhi) = (
        xs.clone().fold(f64::MAX, f64::min) - 0.4,
        xs.fold(f64::MIN, f64::max) + 0.4,
    );
    let max = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(0.0, f64::max);
    let (top, yt, decimals) = zero_axis(max);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(xlo..xhi, 0f64..top)?;
    mesh(&mut chart)
        .x_desc("message size (the bucket's smallest, log2 axis)")
        .y_desc("p99 round trip (µs)")
        .x_labels(((xhi - xlo) as usize + 1).min(16))
        .y_labels(yt)
        .x_label_formatter(&size_label)
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let colors = palette(lines.len());
    let mut entries = Vec::new();
    for (i, (name, pts)) in lines.iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        chart.draw_series(LineSeries::new(pts.clone(), look.color.stroke_width(2)))?;
        chart.draw_series(pts.iter().map(|p| marker!(*p, Marker::nth(i), look.color)))?;
        entries.push((shorten(name, 34), look));
    }
    Ok(entries)
}

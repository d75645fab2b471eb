//! The percentile spectrum of round trips (the HdrHistogram view).

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::report::ResultsDir;

/// The percentile spectrum of round trips (the HdrHistogram view): one line per case
/// (and directory), at most `MAX_SERIES` per chart.
pub(super) fn latency_spectrum(dirs: &[ResultsDir]) -> Vec<Chart> {
    // (prefix naming the case, its name, the curve)
    type Line = ((String, String), Vec<(f64, f64)>);
    let mut lines: Vec<Line> = Vec::new();
    for d in dirs {
        for c in &d.cases {
            let Some(h) = c.histograms.get("rtt").filter(|h| !h.is_empty()) else {
                continue;
            };
            let mut pts = Vec::new();
            // From the median of nothing (q = 0) to the last quantile the count supports.
            let max_u = (h.len() as f64).log10().min(5.0);
            let mut i = 0;
            loop {
                let u = i as f64 / 20.0;
                if u > max_u {
                    break;
                }
                let q = 1.0 - 10f64.powf(-u);
                pts.push((u, (h.value_at_quantile(q).max(1) as f64).log10()));
                i += 1;
            }
            let prefix = if dirs.len() > 1 {
                format!("{} {}:", d.name, c.id())
            } else {
                format!("{}:", c.id())
            };
            lines.push(((prefix, case_name(c)), pts));
        }
    }
    let (names, common) = without_common_words(lines.iter().map(|l| l.0 .1.as_str()));
    let lines: Vec<(String, Vec<(f64, f64)>)> = lines
        .into_iter()
        .zip(names)
        .map(|(((prefix, _), pts), name)| (format!("{prefix} {name}"), pts))
        .collect();
    let total = lines.len();
    let mut out = Vec::new();
    for (part, chunk) in lines.chunks(MAX_SERIES).enumerate() {
        let shown = if total > MAX_SERIES {
            format!(
                " (cases {}–{} of {total})",
                part * MAX_SERIES + 1,
                part * MAX_SERIES + chunk.len()
            )
        } else {
            String::new()
        };
        let id = if part == 0 {
            "latency-spectrum".to_string()
        } else {
            format!("latency-spectrum-{}", part + 1)
        };
        out.extend(draw(
            id,
            format!("Round-trip percentile spectrum{shown}"),
            &format!("Round trips by percentile (merged histograms){common}{shown}"),
            |a| spectrum(a, chunk),
        ));
    }
    out
}

fn spectrum(
    area: &Area<'_>,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    // Microseconds, unless a round trip took less than one (then nanoseconds): either way
    // every decade label is a whole number.
    let ns_min = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(f64::MAX, f64::min);
    let (shift, unit) = if ns_min < 3.0 {
        (0.0, "ns")
    } else {
        (3.0, "µs")
    };
    let lines: Vec<(String, Vec<(f64, f64)>)> = lines
        .iter()
        .map(|(n, p)| (n.clone(), p.iter().map(|v| (v.0, v.1 - shift)).collect()))
        .collect();
    let ys = lines.iter().flat_map(|(_, p)| p.iter().map(|v| v.1));
    let lo = ys.clone().fold(f64::MAX, f64::min).floor();
    let hi = ys.fold(f64::MIN, f64::max).ceil();
    let hi = if hi <= lo { lo + 1.0 } else { hi };
    let umax = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.0))
        .fold(1.0, f64::max)
        .ceil();
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..umax, lo..hi)?;
    mesh(&mut chart)
        .x_desc("percentile (log scale of 1 / (1 − q))")
        .y_desc(format!("round trip ({unit}, log scale)"))
        .x_labels(umax as usize + 1)
        .y_labels((hi - lo) as usize + 1)
        .x_label_formatter(&percentile_label)
        .y_label_formatter(&decade_label)
        .draw()?;
    let colors = palette(lines.len());
    let mut entries = Vec::new();
    for (i, (name, pts)) in lines.iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        chart.draw_series(LineSeries::new(pts.clone(), look.color.stroke_width(2)))?;
        // A marker at each whole decade, so lines of similar colour stay apart.
        chart.draw_series(
            pts.iter()
                .filter(|p| (p.0 - p.0.round()).abs() < 1e-9)
                .map(|p| marker!(*p, Marker::nth(i), look.color)),
        )?;
        entries.push((name.clone(), look));
    }
    Ok(entries)
}

//! A tune directory's search: each test's figure in the order run.

use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::output::metric::Metric;
use crate::report::ResultsDir;

/// An axis's label: the figure's name and its unit, `goodput (Gbit/s)`,
/// `p99 round trip (ms)`.
pub(super) fn axis_label(metric: Metric, unit: &str) -> String {
    if unit.is_empty() {
        metric.name().to_string()
    } else {
        format!("{} ({unit})", metric.name())
    }
}

/// A tune directory's search: each test's value of the goal's figure, in the order run,
/// by phase (screening, racing, the kernel's defaults, the next larger setting), the
/// answer's tests marked.
pub(super) fn tune_search(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        let Some((answer, steps)) = &d.tune else {
            continue;
        };
        let tests: Vec<&crate::tune::search::TuneRow> = steps
            .iter()
            .filter(|r| r.case.is_some() && r.value.is_some())
            .collect();
        if tests.is_empty() {
            continue;
        }
        let metric = tests[0].metric;
        let who = if dirs.len() > 1 {
            format!(" ({})", d.name)
        } else {
            String::new()
        };
        let title = format!(
            "The search: {} of each test, in the order run{who}",
            metric.name()
        );
        let cap = format!(
            "tune {}: {} test(s), answer {}{who}",
            answer.goal,
            tests.len(),
            answer.label
        );
        out.extend(draw(format!("tune-d{}", di + 1), title, &cap, |a| {
            search_chart(a, &tests, metric, &answer.label)
        }));
    }
    out
}

fn search_chart(
    area: &Area<'_>,
    tests: &[&crate::tune::search::TuneRow],
    metric: Metric,
    answer: &str,
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let max = tests.iter().filter_map(|t| t.value).fold(0.0, f64::max);
    let (scale, unit) = metric.unit_for(max);
    let (top, yt, decimals) = zero_axis(max / scale);
    let n = tests.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..n + 0.5, 0f64..top)?;
    mesh(&mut chart)
        .x_desc("test, in the order run")
        .y_desc(axis_label(metric, unit))
        .x_labels((tests.len() + 1).min(12))
        .y_labels(yt)
        .x_label_formatter(&fixed(0))
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let phases: Vec<String> = {
        let mut p: Vec<String> = tests.iter().map(|t| t.phase.clone()).collect();
        p.dedup();
        let mut seen = Vec::new();
        for x in p {
            if !seen.contains(&x) {
                seen.push(x);
            }
        }
        seen
    };
    let colors = palette(phases.len() + 1);
    let pts: Vec<(f64, f64)> = tests
        .iter()
        .enumerate()
        .map(|(i, t)| ((i + 1) as f64, t.value.unwrap_or(0.0) / scale))
        .collect();
    chart.draw_series(LineSeries::new(pts.clone(), GRID.stroke_width(1)))?;
    let mut entries = Vec::new();
    for (pi, phase) in phases.iter().enumerate() {
        let look = Look::points(colors[pi], Marker::nth(pi));
        chart.draw_series(
            tests
                .iter()
                .zip(&pts)
                .filter(|(t, _)| t.phase == *phase)
                .map(|(_, p)| marker!(*p, Marker::nth(pi), look.color)),
        )?;
        entries.push((phase.clone(), look));
    }
    let star = colors[phases.len()];
    let chosen: Vec<(f64, f64)> = tests
        .iter()
        .zip(&pts)
        .filter(|(t, _)| t.candidate == answer)
        .map(|(_, p)| *p)
        .collect();
    if !chosen.is_empty() {
        chart.draw_series(chosen.iter().map(|p| {
            Rectangle::new(
                [(p.0 - 0.3, p.1 - top * 0.03), (p.0 + 0.3, p.1 + top * 0.03)],
                star.stroke_width(2),
            )
        }))?;
        entries.push((
            format!("framed: the answer, {}", shorten(answer, 24)),
            Look::band(star),
        ));
    }
    Ok(entries)
}

//! A fleet run's matrices: a figure of every ordered pair of hosts.

use std::collections::BTreeSet;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::common::*;
use super::Chart;
use crate::report::ResultsDir;

/// A fleet run's matrices: per case, goodput and (when measured) the p99 round trip of
/// every ordered pair, rows = sender, columns = receiver, the value in each cell; a path
/// more than 10% worse than the median path (goodput below, p99 above) is marked.
pub(super) fn fleet_matrices(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        if d.matrix.is_empty() {
            continue;
        }
        let hosts: Vec<String> = if d.meta.fleet.is_empty() {
            let mut h: Vec<String> = d
                .matrix
                .iter()
                .flat_map(|r| [r.src.clone(), r.dst.clone()])
                .collect();
            h.sort();
            h.dedup();
            h
        } else {
            d.meta.fleet.iter().map(|h| h.name.clone()).collect()
        };
        let cases: BTreeSet<u32> = d.matrix.iter().map(|r| r.case).collect();
        for case in cases {
            let rows: Vec<&crate::session::mesh::MatrixRow> =
                d.matrix.iter().filter(|r| r.case == case).collect();
            let label = rows.first().map_or("", |r| r.case_label.as_str());
            let who = if dirs.len() > 1 {
                format!(" ({})", d.name)
            } else {
                String::new()
            };
            let what = if label.is_empty() {
                format!("case {case}")
            } else {
                format!("case {case} ({label})")
            };
            let figures: [(&str, &str, MatrixFigure, bool); 2] = [
                ("goodput", "Goodput", |r| r.goodput_bps, true),
                ("p99", "p99 round trip", |r| r.rtt_p99_ns, false),
            ];
            for (tag, name, pick, higher_is_better) in figures {
                let cells: Vec<FleetCell> = rows
                    .iter()
                    .filter_map(|r| {
                        let v = pick(r)?;
                        Some(FleetCell {
                            src: hosts.iter().position(|h| *h == r.src)?,
                            dst: hosts.iter().position(|h| *h == r.dst)?,
                            value: v,
                            outlier: false,
                        })
                    })
                    .collect();
                if cells.is_empty() {
                    continue;
                }
                let cells = mark_outliers(cells, higher_is_better);
                let id = format!("fleet-d{}-case{case}-{tag}", di + 1);
                let title = format!("{name} between every pair of hosts, {what}{who}");
                let cap = format!("{name}: rows send, columns receive — {what}{who}");
                out.extend(draw(id, title, &cap, |a| {
                    fleet_matrix(a, &hosts, &cells, higher_is_better)
                }));
            }
        }
    }
    out
}

/// Picks one figure of a matrix.csv row.
type MatrixFigure = fn(&crate::session::mesh::MatrixRow) -> Option<f64>;

/// One cell of a fleet matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetCell {
    pub src: usize,
    pub dst: usize,
    pub value: f64,
    /// More than 10% worse than the median path.
    pub outlier: bool,
}

/// Marks the cells more than 10% worse than the median cell.
pub fn mark_outliers(mut cells: Vec<FleetCell>, higher_is_better: bool) -> Vec<FleetCell> {
    let mut values: Vec<f64> = cells.iter().map(|c| c.value).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    for c in &mut cells {
        c.outlier = if higher_is_better {
            c.value < 0.9 * median
        } else {
            c.value > 1.1 * median
        };
    }
    cells
}

fn fleet_matrix(
    area: &Area<'_>,
    hosts: &[String],
    cells: &[FleetCell],
    higher_is_better: bool,
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let max = cells.iter().map(|c| c.value).fold(0.0, f64::max);
    let min = cells.iter().map(|c| c.value).fold(f64::MAX, f64::min);
    let (scale, unit) = if higher_is_better {
        bps_unit(max)
    } else {
        (1e3, "µs")
    };
    let n = hosts.len();
    let labels = hosts.to_vec();
    let cat = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 0.01 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (n as f64 - 0.5)..-0.5f64)?;
    mesh(&mut chart)
        .disable_mesh()
        .x_desc("receiver")
        .y_desc("sender")
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&cat)
        .y_label_formatter(&cat)
        .draw()?;
    let outline = RGBColor(200, 30, 30);
    for c in cells {
        let t = if max > min {
            (c.value - min) / (max - min)
        } else {
            1.0
        };
        // Darker is better either way.
        let (fill, ink) = heat(if higher_is_better { t } else { 1.0 - t });
        let (x, y) = (c.dst as f64, c.src as f64);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
            fill.filled(),
        )))?;
        if c.outlier {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.45, y - 0.45), (x + 0.45, y + 0.45)],
                outline.stroke_width(4),
            )))?;
        }
        let v = c.value / scale;
        let decimals = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        chart.draw_series(std::iter::once(Text::new(
            format!("{v:.decimals$}{}", if c.outlier { " !" } else { "" }),
            (x, y),
            ("sans-serif", 17)
                .into_font()
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        )))?;
    }
    let (best, worst) = (heat(1.0).0, heat(0.0).0);
    Ok(vec![
        (format!("in {unit}; darker is better"), Look::band(best)),
        (
            format!(
                "! >10% {} median path",
                if higher_is_better { "below" } else { "above" }
            ),
            Look::band(outline),
        ),
        ("lightest: worst path".to_string(), Look::band(worst)),
    ])
}

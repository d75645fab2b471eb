//! A fleet run's matrices: a figure of every ordered pair of hosts.

use std::collections::BTreeSet;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::common::*;
use super::Chart;
use crate::report::ResultsDir;
use crate::session::mesh::MatrixRow;

/// A fleet run's matrices: per case, goodput and (when measured) the p99 round trip of
/// every ordered pair, rows = sender, columns = receiver, the value in each cell and a
/// colour scale from the smallest to the largest value. A path is flagged only when its
/// 95% interval lies wholly more than 10% worse than the median path (goodput below, p99
/// above); a cell without an interval (fewer repetitions than one needs) says its n.
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
            let rows: Vec<&MatrixRow> = d.matrix.iter().filter(|r| r.case == case).collect();
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
            for figure in FIGURES {
                let cells = matrix_cells(d, &hosts, &rows, &figure);
                if cells.is_empty() {
                    continue;
                }
                let cells = mark_outliers(cells, figure.higher_is_better);
                let id = format!("fleet-d{}-case{case}-{}", di + 1, figure.tag);
                let title = format!("{} between every pair of hosts, {what}{who}", figure.name);
                let cap = format!("{}: rows send, columns receive — {what}{who}", figure.name);
                out.extend(draw(id, title, &cap, |a| {
                    fleet_matrix(a, &hosts, &cells, figure.higher_is_better)
                }));
            }
        }
    }
    out
}

/// One figure a matrix shows: its tag (in the chart's id), name, value and 95% interval
/// of a pair, and which way is better.
struct MatrixFigure {
    tag: &'static str,
    name: &'static str,
    value: fn(&MatrixRow) -> Option<f64>,
    /// The interval, from the pair's matrix.csv row or its cases.csv row.
    ci: PairInterval,
    higher_is_better: bool,
}

/// A pair's 95% interval of one figure, from its matrix.csv row or its cases.csv row.
type PairInterval = fn(&MatrixRow, Option<&crate::output::cases::CaseRow>) -> Option<(f64, f64)>;

const FIGURES: [MatrixFigure; 2] = [
    MatrixFigure {
        tag: "goodput",
        name: "Goodput",
        value: |r| r.goodput_bps,
        ci: |r, _| r.goodput_bps_ci95_low.zip(r.goodput_bps_ci95_high),
        higher_is_better: true,
    },
    MatrixFigure {
        tag: "p99",
        name: "p99 round trip",
        value: |r| r.rtt_p99_ns,
        ci: |_, c| c.and_then(|c| c.rtt_p99_ns_ci95_low.zip(c.rtt_p99_ns_ci95_high)),
        higher_is_better: false,
    },
];

/// The cells of one figure of one case: value, interval and repetitions of each pair.
fn matrix_cells(
    d: &ResultsDir,
    hosts: &[String],
    rows: &[&MatrixRow],
    figure: &MatrixFigure,
) -> Vec<FleetCell> {
    rows.iter()
        .filter_map(|r| {
            let case = d
                .cases
                .iter()
                .find(|c| c.rows_key() == (r.case, r.src.clone(), r.dst.clone()))
                .map(|c| &c.row);
            Some(FleetCell {
                src: hosts.iter().position(|h| *h == r.src)?,
                dst: hosts.iter().position(|h| *h == r.dst)?,
                value: (figure.value)(r)?,
                ci: (figure.ci)(r, case),
                n: r.repetitions_ok,
                outlier: false,
            })
        })
        .collect()
}

/// One cell of a fleet matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetCell {
    pub src: usize,
    pub dst: usize,
    /// The mean over the pair's ok repetitions.
    pub value: f64,
    /// Its 95% interval, when the repetitions give one.
    pub ci: Option<(f64, f64)>,
    /// The pair's ok repetitions.
    pub n: usize,
    /// Its 95% interval lies wholly more than 10% worse than the median path.
    pub outlier: bool,
}

/// Marks the cells whose interval lies wholly more than 10% worse than the median cell;
/// a cell without an interval (one repetition, say) is never marked, however far its
/// value: one loopback test is not a bad path.
pub fn mark_outliers(mut cells: Vec<FleetCell>, higher_is_better: bool) -> Vec<FleetCell> {
    let mut values: Vec<f64> = cells.iter().map(|c| c.value).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return cells;
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    for c in &mut cells {
        c.outlier = c.ci.is_some_and(|(lo, hi)| {
            if higher_is_better {
                hi < 0.9 * median
            } else {
                lo > 1.1 * median
            }
        });
    }
    cells
}

/// A value's shade: darker is better, whichever way better goes.
fn shade(v: f64, (min, max): (f64, f64), higher_is_better: bool) -> (RGBColor, RGBColor) {
    let t = if max > min {
        (v - min) / (max - min)
    } else {
        1.0
    };
    heat(if higher_is_better { t } else { 1.0 - t })
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
    let values = cells.iter().map(|c| c.value);
    let text = MatrixText::new(
        values,
        (scale, unit),
        decimals(max / scale),
        higher_is_better,
    );
    let (_, h) = area.dim_in_pixel();
    let (plot, bar) = area.split_vertically(h.saturating_sub(SCALE_H));
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
    let mut chart = ChartBuilder::on(&plot)
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
    let font = |size: u32, ink: &RGBColor| {
        ("sans-serif", size)
            .into_font()
            .color(ink)
            .pos(Pos::new(HPos::Center, VPos::Center))
    };
    for c in cells {
        let (fill, ink) = shade(c.value, (min, max), higher_is_better);
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
        let cell = text.cell(c.value);
        chart.draw_series(std::iter::once(Text::new(cell, (x, y), font(17, &ink))))?;
        if c.outlier {
            chart.draw_series(std::iter::once(Text::new(
                "!",
                (x + 0.35, y - 0.3),
                font(17, &outline),
            )))?;
        }
        if c.ci.is_none() {
            // Too few repetitions for an interval: the value is one test's (or two's).
            chart.draw_series(std::iter::once(Text::new(
                format!("n = {}", c.n),
                (x, y + 0.22),
                font(16, &ink),
            )))?;
        }
    }
    colour_scale(&bar, (min, max), &text, higher_is_better)?;
    Ok(matrix_legend(cells, higher_is_better, outline))
}

/// The matrix's legend: what the frame and `!` mean, and what a cell's n means.
fn matrix_legend(
    cells: &[FleetCell],
    higher_is_better: bool,
    outline: RGBColor,
) -> Vec<(String, Look)> {
    let mut entries = vec![(
        format!(
            "! 95% interval >10% {} median path",
            if higher_is_better { "below" } else { "above" }
        ),
        Look::band(outline),
    )];
    if cells.iter().any(|c| c.ci.is_none()) {
        entries.push((
            "n = 1 or 2: no interval, never flagged".to_string(),
            Look {
                color: BLACK,
                marker: None,
                stroke: Stroke::None,
            },
        ));
    }
    entries
}

/// Pixels under the matrix for its colour scale.
const SCALE_H: u32 = 64;

/// The colour scale under a matrix: a bar shaded from the smallest value (left) to the
/// largest (right), each end labelled with its value and unit.
fn colour_scale(
    bar: &Area<'_>,
    (min, max): (f64, f64),
    text: &MatrixText,
    higher_is_better: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let (w, _) = bar.dim_in_pixel();
    let (x0, x1) = (100i32, (w as i32 - 20).max(160));
    let (y0, y1) = (8i32, 26i32);
    let steps = 24;
    for k in 0..steps {
        let a = x0 + (x1 - x0) * k / steps;
        let b = x0 + (x1 - x0) * (k + 1) / steps;
        let v = min + (max - min) * f64::from(k) / f64::from(steps - 1);
        let (fill, _) = shade(v, (min, max), higher_is_better);
        bar.draw(&Rectangle::new([(a, y0), (b, y1)], fill.filled()))?;
    }
    bar.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        RGBColor(160, 160, 160).stroke_width(1),
    ))?;
    let font = |h: HPos| {
        ("sans-serif", 16)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(h, VPos::Top))
    };
    let better = if higher_is_better { "max" } else { "min" };
    bar.draw(&Text::new(
        format!("min {}", text.full(min)),
        (x0, y1 + 6),
        font(HPos::Left),
    ))?;
    bar.draw(&Text::new(
        format!("max {}", text.full(max)),
        (x1, y1 + 6),
        font(HPos::Right),
    ))?;
    bar.draw(&Text::new(
        format!("darker is better ({better})"),
        ((x0 + x1) / 2, y1 + 6),
        font(HPos::Center),
    ))?;
    Ok(())
}

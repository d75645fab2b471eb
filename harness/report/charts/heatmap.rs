//! A 2-D sweep (two knobs varied) as a heatmap of goodput.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::common::*;
use super::Chart;
use crate::report::{value_order, Case, ResultsDir};

/// The knobs that vary over a set of cases, with their values in reading order.
fn varied_knobs<'c>(cases: impl Iterator<Item = &'c Case>) -> Vec<(String, Vec<String>)> {
    let mut values: Vec<(String, Vec<String>)> = Vec::new();
    for c in cases {
        for (k, v) in c.knobs() {
            match values.iter_mut().find(|(key, _)| *key == k) {
                Some((_, vs)) => {
                    if !vs.contains(&v) {
                        vs.push(v);
                    }
                }
                None => values.push((k, vec![v])),
            }
        }
    }
    for (_, vs) in &mut values {
        vs.sort_by_key(|v| value_order(v));
    }
    values.retain(|(_, vs)| vs.len() > 1);
    values
}

/// A 2-D sweep (two knobs varied, e.g. sndbuf × rcvbuf): goodput of each combination as
/// a coloured cell with its value written in it.
pub(super) fn heatmaps(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        let stream: Vec<&Case> = d
            .cases
            .iter()
            .filter(|c| !c.is_transactional() && c.row.goodput_bps_mean.is_some())
            .collect();
        let knobs = varied_knobs(stream.iter().copied());
        if knobs.len() != 2 {
            continue;
        }
        let (kx, xs) = &knobs[0];
        let (ky, ys) = &knobs[1];
        let mut cells: Vec<(usize, usize, f64, usize)> = Vec::new();
        for c in &stream {
            let (Some(x), Some(y)) = (c.knob(kx), c.knob(ky)) else {
                continue;
            };
            let (Some(ix), Some(iy)) = (
                xs.iter().position(|v| *v == x),
                ys.iter().position(|v| *v == y),
            ) else {
                continue;
            };
            let mean = c.row.goodput_bps_mean.unwrap_or(0.0);
            cells.push((ix, iy, mean, c.row.repetitions_ok));
        }
        if cells.len() < 4 {
            continue;
        }
        let id = format!("heatmap-d{}", di + 1);
        let who = if dirs.len() > 1 {
            format!(" ({})", d.name)
        } else {
            String::new()
        };
        let title = format!("Goodput by {kx} × {ky}{who}");
        let cap = format!("Goodput (mean) by {kx} × {ky} as requested{who}");
        out.extend(draw(id, title, &cap, |a| {
            heatmap(a, (kx, xs), (ky, ys), &cells)
        }));
    }
    out
}

fn heatmap(
    area: &Area<'_>,
    (kx, xs): (&String, &Vec<String>),
    (ky, ys): (&String, &Vec<String>),
    cells: &[(usize, usize, f64, usize)],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let max = cells.iter().map(|c| c.2).fold(0.0, f64::max);
    let min = cells.iter().map(|c| c.2).fold(f64::MAX, f64::min);
    let (scale, unit) = bps_unit(max);
    let (xl, yl) = (xs.clone(), ys.clone());
    let cat = |labels: Vec<String>| {
        move |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
    };
    let (fx, fy) = (cat(xl), cat(yl));
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            -0.5f64..xs.len() as f64 - 0.5,
            -0.5f64..ys.len() as f64 - 0.5,
        )?;
    mesh(&mut chart)
        .disable_mesh()
        .x_desc(format!("{kx} as requested"))
        .y_desc(format!("{ky} as requested"))
        .x_labels(xs.len())
        .y_labels(ys.len())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .draw()?;
    let (_, decimals) = nice_step(max / scale, 100.0);
    let text = MatrixText::new(
        cells.iter().map(|c| c.2),
        (scale, unit),
        decimals.min(2),
        true,
    );
    for &(ix, iy, v, _) in cells {
        let t = if max > min {
            (v - min) / (max - min)
        } else {
            1.0
        };
        let (fill, ink) = heat(t);
        let (x, y) = (ix as f64, iy as f64);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
            fill.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            text.cell(v),
            (x, y),
            ("sans-serif", 17)
                .into_font()
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        )))?;
    }
    let (lo, _) = heat(0.0);
    let (hi, _) = heat(1.0);
    Ok(vec![
        (format!("{} (lowest)", text.full(min)), Look::band(lo)),
        (format!("{} (highest)", text.full(max)), Look::band(hi)),
    ])
}

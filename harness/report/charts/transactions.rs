//! Request/response cases side by side: transactions per second and round trips.

use plotters::prelude::*;

use super::common::*;
use super::{Chart, W};
use crate::report::ResultsDir;

/// Request/response cases side by side: transactions per second, and the p50 and p99
/// round trips, per case (protocol, pattern and knobs), one chart per directory.
pub(super) fn transactions(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        let rows: Vec<(String, f64, Option<f64>, Option<f64>)> = d
            .cases
            .iter()
            .filter(|c| c.is_transactional())
            .filter_map(|c| {
                Some((
                    case_name(c),
                    c.row.transactions_per_s_mean?,
                    c.row.rtt_p50_ns_mean.map(|v| v / 1e3),
                    c.row.rtt_p99_ns_mean.map(|v| v / 1e3),
                ))
            })
            .take(24)
            .collect();
        if rows.len() < 2 {
            continue;
        }
        let (names, common) = without_common_words(rows.iter().map(|r| r.0.as_str()));
        let rows: Vec<_> = rows
            .into_iter()
            .zip(names)
            .map(|(r, n)| (n, r.1, r.2, r.3))
            .collect();
        let who = if dirs.len() > 1 {
            format!(" ({})", d.name)
        } else {
            String::new()
        };
        out.extend(draw(
            format!("transactions-d{}", di + 1),
            format!("Request/response by protocol and pattern{who}"),
            &format!(
                "Transactions per second (left) and round trips (right) per case{who}{common}"
            ),
            |a| transactions_chart(a, &rows),
        ));
    }
    out
}

fn transactions_chart(
    area: &Area<'_>,
    rows: &[(String, f64, Option<f64>, Option<f64>)],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let n = rows.len() as f64;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let name_of = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 0.01 && i >= 0.0 {
            shorten(names.get(i as usize).map_or("", |s| s.as_str()), 34)
        } else {
            String::new()
        }
    };
    let (left, right) = area.split_horizontally((W - LEGEND_W) * 11 / 20);
    let tmax = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let (tscale, tunit) = if tmax >= 1e4 {
        (1e3, "thousand transactions per second")
    } else {
        (1.0, "transactions per second")
    };
    let (ttop, tn, tdec) = zero_axis_in(tmax / tscale, 4.0);
    let rmax = rows
        .iter()
        .flat_map(|r| [r.2, r.3])
        .flatten()
        .fold(0.0, f64::max);
    let (rtop, rn, rdec) = zero_axis_in(rmax, 4.0);
    let c = palette(3);
    // Case 0 at the top.
    let mut tx = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(250)
        .build_cartesian_2d(0f64..ttop, (n - 0.5)..-0.5f64)?;
    mesh(&mut tx)
        .disable_y_mesh()
        .x_desc(tunit)
        .y_labels(rows.len())
        .x_labels(tn)
        .y_label_formatter(&name_of)
        .x_label_formatter(&fixed(tdec))
        .draw()?;
    tx.draw_series(rows.iter().enumerate().map(|(i, r)| {
        let y = i as f64;
        Rectangle::new([(0.0, y - 0.3), (r.1 / tscale, y + 0.3)], c[0].filled())
    }))?;
    let mut rt = ChartBuilder::on(&right)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..rtop, (n - 0.5)..-0.5f64)?;
    mesh(&mut rt)
        .disable_y_mesh()
        .x_desc("round trip (µs)")
        .y_labels(0)
        .x_labels(rn)
        .x_label_formatter(&fixed(rdec))
        .draw()?;
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64;
        if let (Some(p50), Some(p99)) = (r.2, r.3) {
            rt.draw_series(std::iter::once(PathElement::new(
                vec![(p50, y), (p99, y)],
                RGBColor(150, 150, 150).stroke_width(1),
            )))?;
        }
        if let Some(p50) = r.2 {
            rt.draw_series(std::iter::once(marker!((p50, y), Marker::Circle, c[1])))?;
        }
        if let Some(p99) = r.3 {
            rt.draw_series(std::iter::once(marker!((p99, y), Marker::Triangle, c[2])))?;
        }
    }
    Ok(vec![
        ("transactions per second".into(), Look::band(c[0])),
        ("p50 round trip".into(), Look::points(c[1], Marker::Circle)),
        (
            "p99 round trip".into(),
            Look::points(c[2], Marker::Triangle),
        ),
    ])
}

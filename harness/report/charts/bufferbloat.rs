//! Goodput and the latency probe's p99 against the send buffer: the bufferbloat trade-off.

use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::common::*;
use super::Chart;
use crate::report::{Case, ResultsDir};
use crate::spec::units::parse_size;

/// The send buffer a case asked for: from its label, else its summary row; `None` = auto.
fn requested_sndbuf(c: &Case) -> Option<Option<u64>> {
    match c.knob("sndbuf") {
        Some(v) if v == "auto" => Some(None),
        Some(v) => parse_size(&v).ok().map(Some),
        None => c.first.as_ref().map(|r| {
            r.sndbuf_req
                .and_then(crate::output::summary::SizeReq::bytes)
        }),
    }
}

/// Throughput and the probe's p99 round trip together against the send buffer as
/// requested: the bufferbloat trade-off, when a latency probe ran.
pub(super) fn bufferbloat(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for d in dirs {
        // (requested sndbuf or auto, goodput, p99)
        let pts: Vec<(Option<u64>, f64, f64)> = d
            .cases
            .iter()
            .filter(|c| c.probe())
            .filter_map(|c| {
                Some((
                    requested_sndbuf(c)?,
                    c.row.goodput_bps_mean?,
                    c.row.rtt_p99_ns_mean? / 1e3,
                ))
            })
            .collect();
        if pts.len() < 2 || pts.iter().all(|p| p.0.is_none()) {
            continue;
        }
        let id = format!("bufferbloat-{}", out.len() + 1);
        let title = format!(
            "Throughput and latency under load against the send buffer ({})",
            d.name
        );
        out.extend(draw(
            id,
            title,
            "Goodput (left axis) and probe p99 round trip (right axis) against SO_SNDBUF",
            |a| bufferbloat_chart(a, &pts),
        ));
    }
    out
}

fn bufferbloat_chart(
    area: &Area<'_>,
    pts: &[(Option<u64>, f64, f64)],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let mut fixed_pts: Vec<(f64, f64, f64)> = pts
        .iter()
        .filter_map(|p| Some(((p.0?.max(1) as f64).log2(), p.1, p.2)))
        .collect();
    fixed_pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let autos: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| p.0.is_none())
        .map(|p| (p.1, p.2))
        .collect();
    let xs: Vec<u64> = pts.iter().filter_map(|p| p.0).collect();
    let (xmin, xmax) = size_range(&xs);
    let gmax = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    let (scale, unit) = bps_unit(gmax);
    let (gtop, gn, gdec) = zero_axis(gmax / scale);
    let (rtop, rn, rdec) = zero_axis(pts.iter().map(|p| p.2).fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(xmin..xmax, 0f64..gtop)?
        .set_secondary_coord(xmin..xmax, 0f64..rtop);
    mesh(&mut chart)
        .x_desc("SO_SNDBUF as requested (bytes, log2 scale)")
        .y_desc(format!("goodput ({unit})"))
        .x_labels(((xmax - xmin).ceil() as usize + 1).max(2))
        .y_labels(gn)
        .x_label_formatter(&size_label)
        .y_label_formatter(&fixed(gdec))
        .draw()?;
    chart
        .configure_secondary_axes()
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", LABEL + 1))
        .y_desc("probe p99 round trip (µs)")
        .y_labels(rn)
        .y_label_formatter(&fixed(rdec))
        .draw()?;
    bufferbloat_lines(&mut chart, &fixed_pts, &autos, scale, (xmin, xmax))
}

/// The bufferbloat chart's two coordinate systems: goodput on the left, the probe's p99
/// on the right, both over log2 sizes.
type Dual<'a> = DualCoordChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
>;

/// Goodput and the probe's p99 at each fixed size, and each `auto` run as a dashed
/// (goodput) and a dotted (p99) line across.
fn bufferbloat_lines(
    chart: &mut Dual<'_>,
    fixed_pts: &[(f64, f64, f64)],
    autos: &[(f64, f64)],
    scale: f64,
    (xmin, xmax): (f64, f64),
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let c = palette(2);
    let (g, r) = (
        Look::line(c[0], Marker::Circle),
        Look::line(c[1], Marker::Triangle),
    );
    chart.draw_series(LineSeries::new(
        fixed_pts.iter().map(|p| (p.0, p.1 / scale)),
        g.color.stroke_width(2),
    ))?;
    chart.draw_series(
        fixed_pts
            .iter()
            .map(|p| marker!((p.0, p.1 / scale), Marker::Circle, g.color)),
    )?;
    chart.draw_secondary_series(LineSeries::new(
        fixed_pts.iter().map(|p| (p.0, p.2)),
        r.color.stroke_width(2),
    ))?;
    chart.draw_secondary_series(
        fixed_pts
            .iter()
            .map(|p| marker!((p.0, p.2), Marker::Triangle, r.color)),
    )?;
    let mut entries = vec![
        ("goodput".to_string(), g),
        ("probe p99 round trip".to_string(), r),
    ];
    for (gv, rv) in autos {
        chart.draw_series(DashedLineSeries::new(
            vec![(xmin, gv / scale), (xmax, gv / scale)],
            8,
            5,
            g.color.stroke_width(2),
        ))?;
        chart.draw_secondary_series(DashedLineSeries::new(
            vec![(xmin, *rv), (xmax, *rv)],
            3,
            4,
            r.color.stroke_width(2),
        ))?;
    }
    if !autos.is_empty() {
        entries.push(("goodput, sndbuf=auto".into(), Look::dashed(g.color)));
        entries.push(("probe p99, sndbuf=auto".into(), Look::dotted(r.color)));
    }
    Ok(entries)
}

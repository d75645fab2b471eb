//! Round trips by message size (sizes.csv, application traffic profiles).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::common::*;
use super::Chart;
use crate::report::{samples_needed, ResultsDir, SizeBucket};

/// One size bucket of one line: x (log2 of its smallest size), its round trips `n`, its
/// p99 in µs when the bucket has the samples a p99 needs.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    x: f64,
    n: u64,
    p99_us: Option<f64>,
}

impl Bucket {
    fn of(b: &SizeBucket) -> Option<Bucket> {
        let n = b.transactions;
        let enough = b
            .fewest_transactions
            .is_some_and(|f| f >= samples_needed(0.99));
        (b.size_bucket > 0 && n > 0).then(|| Bucket {
            x: (b.size_bucket as f64).log2(),
            n,
            p99_us: b.rtt_p99_ns.filter(|_| enough).map(|v| v as f64 / 1e3),
        })
    }
}

/// Round trips against message size, per case (sizes.csv): which messages suffer. Each
/// bucket is labelled with its round trips (n); a bucket with fewer than a p99 needs
/// (100, in every repetition) gets its n but no point.
pub(super) fn latency_by_size(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (di, d) in dirs.iter().enumerate() {
        let mut lines: Vec<(String, Vec<Bucket>)> = Vec::new();
        for c in &d.cases {
            let pts: Vec<Bucket> = d
                .sizes
                .iter()
                .filter(|b| b.case == c.id())
                .filter_map(Bucket::of)
                .collect();
            if pts.iter().filter(|b| b.p99_us.is_some()).count() >= 1 && pts.len() >= 2 {
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
        let cap = format!(
            "p99 round trip by message size, n = round trips per bucket (p99 from n ≥ {}){who}",
            samples_needed(0.99)
        );
        out.extend(draw(format!("sizes-d{}", di + 1), title, &cap, |a| {
            size_latency_chart(a, &lines)
        }));
    }
    out
}

/// A count in a few characters: 5, 950, 1.5k, 12k, 3.4M.
pub(super) fn count_label(n: u64) -> String {
    let v = n as f64;
    if n < 1000 {
        format!("{n}")
    } else if n < 10_000 {
        format!("{:.1}k", v / 1e3)
    } else if n < 1_000_000 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{:.1}M", v / 1e6)
    }
}

fn size_latency_chart(
    area: &Area<'_>,
    lines: &[(String, Vec<Bucket>)],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|b| b.x));
    let (xlo, xhi) = (
        xs.clone().fold(f64::MAX, f64::min) - 0.4,
        xs.fold(f64::MIN, f64::max) + 0.4,
    );
    let max = lines
        .iter()
        .flat_map(|(_, p)| p.iter().filter_map(|b| b.p99_us))
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
    let mut too_few = false;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        let drawn: Vec<(f64, f64)> = pts.iter().filter_map(|b| Some((b.x, b.p99_us?))).collect();
        // Joined only between neighbouring buckets that both have a p99: no line across
        // a bucket whose p99 is not known.
        for w in pts.windows(2) {
            if let (Some(a), Some(b)) = (w[0].p99_us, w[1].p99_us) {
                chart.draw_series(LineSeries::new(
                    [(w[0].x, a), (w[1].x, b)],
                    look.color.stroke_width(2),
                ))?;
            }
        }
        chart.draw_series(
            drawn
                .iter()
                .map(|p| marker!(*p, Marker::nth(i), look.color)),
        )?;
        // n beside every bucket: over its point, or on the axis (grey) where there is none.
        let font = ("sans-serif", LABEL).into_font();
        for b in pts {
            let (y, ink, pos) = match b.p99_us {
                Some(v) => (v, look.color, VPos::Bottom),
                None => {
                    too_few = true;
                    (0.0, RGBColor(110, 110, 110), VPos::Bottom)
                }
            };
            chart.draw_series(std::iter::once(
                EmptyElement::at((b.x, y))
                    + Text::new(
                        format!("n={}", count_label(b.n)),
                        (0, -8 - 16 * i as i32),
                        font.clone().color(&ink).pos(Pos::new(HPos::Center, pos)),
                    ),
            ))?;
        }
        entries.push((shorten(name, 34), look));
    }
    if too_few {
        entries.push((
            format!("grey n: under {}, no p99 drawn", samples_needed(0.99)),
            Look::points(RGBColor(110, 110, 110), Marker::Cross),
        ));
    }
    Ok(entries)
}

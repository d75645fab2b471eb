//! The report's charts, drawn by plotters into SVG strings (no font files, no scripts).
//!
//! Conventions every chart keeps, so that none of them misleads at a glance:
//! - x is the knob as *requested* (the table beside shows what the kernel made of it);
//!   `auto` (kernel autotuning) is never a point on a size axis but its own dashed line,
//!   named in the legend;
//! - the legend sits in its own panel right of the plot, so it never covers data, and
//!   lists its series in the knobs' numeric order (64K, 256K, 1M, auto);
//! - no two series of a chart share a colour, and each also has its own marker shape;
//! - axes of non-negative quantities start at zero (or a decade, on log axes), and a
//!   confidence interval longer than the data's range is drawn to the edge and marked
//!   with an arrow rather than stretching the axis;
//! - the tick labels of an axis share one format: sizes as `256K`, percentiles with `%`,
//!   every decade of a log axis labelled.

use std::collections::{BTreeMap, BTreeSet};

use plotters::chart::{DualCoordChartContext, MeshStyle};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{label_order, value_order, Case, ResultsDir};
use crate::spec::units::{format_size, parse_size};

/// One chart: an id (for --svg-dir file names and anchors), a title, the SVG.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub svg: String,
    /// Shown folded (one of many similar charts).
    pub collapsed: bool,
}

/// The drawing size; the page scales it to its width (viewBox).
pub const W: u32 = 1100;
pub const H: u32 = 500;
/// Width of the legend panel right of the plot.
const LEGEND_W: u32 = 330;
/// The legend's border: a colour nothing else is drawn in, so a reader of the SVG (and
/// the tests) can find the legend box.
pub const LEGEND_BORDER: RGBColor = RGBColor(0x40, 0x40, 0x41);
/// Lines per chart at most; more are split over several charts.
const MAX_SERIES: usize = 12;
/// Font sizes in plotters' units: SVG text is drawn at size / 1.24, so 16 is 12.9 px.
const LABEL: u32 = 16;
const CAPTION: u32 = 21;
const GRID: RGBColor = RGBColor(226, 226, 226);
const GRID_FINE: RGBColor = RGBColor(246, 246, 246);
const WARMUP: RGBColor = RGBColor(225, 225, 225);

type Res = Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// `n` colours, all different: a qualitative palette, then hues spread by the golden
/// angle at alternating lightness.
pub fn palette(n: usize) -> Vec<RGBColor> {
    const BASE: [RGBColor; 9] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
    ];
    let mut out: Vec<RGBColor> = BASE.iter().copied().take(n).collect();
    let mut i = 0usize;
    while out.len() < n {
        let h = (i as f64 * 137.508).rem_euclid(360.0);
        let v = if i % 2 == 0 { 0.55 } else { 0.8 };
        let c = hsv(h, 0.8, v);
        if !out.contains(&c) {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn hsv(h: f64, s: f64, v: f64) -> RGBColor {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0).rem_euclid(2.0) - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |f: f64| ((f + m) * 255.0).round() as u8;
    RGBColor(to(r), to(g), to(b))
}

/// Marker shapes, cycled beside the colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
    TriangleDown,
    /// The head of a cut confidence interval (legend only).
    Arrow,
}

impl Marker {
    fn nth(i: usize) -> Marker {
        const ALL: [Marker; 6] = [
            Marker::Circle,
            Marker::Square,
            Marker::Triangle,
            Marker::Diamond,
            Marker::Cross,
            Marker::TriangleDown,
        ];
        ALL[i % ALL.len()]
    }

    /// The outline in pixels around the point.
    fn outline(self) -> Vec<(i32, i32)> {
        match self {
            Marker::Circle => (0..12)
                .map(|k| {
                    let a = k as f64 * std::f64::consts::PI / 6.0;
                    (
                        (5.0 * a.cos()).round() as i32,
                        (5.0 * a.sin()).round() as i32,
                    )
                })
                .collect(),
            Marker::Square => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
            Marker::Triangle => vec![(0, -6), (5, 4), (-5, 4)],
            Marker::TriangleDown => vec![(0, 6), (5, -4), (-5, -4)],
            Marker::Diamond => vec![(0, -6), (5, 0), (0, 6), (-5, 0)],
            Marker::Arrow => vec![(0, -6), (4, 6), (-4, 6)],
            Marker::Cross => vec![
                (-2, -6),
                (2, -6),
                (2, -2),
                (6, -2),
                (6, 2),
                (2, 2),
                (2, 6),
                (-2, 6),
                (-2, 2),
                (-6, 2),
                (-6, -2),
                (-2, -2),
            ],
        }
    }
}

/// How a series' sample is drawn in the legend (and its data in the plot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
    /// Markers only.
    None,
    /// A filled area (a bar, the warm-up, a heatmap colour).
    Band,
}

/// How one series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub color: RGBColor,
    pub marker: Option<Marker>,
    pub stroke: Stroke,
}

impl Look {
    fn line(color: RGBColor, marker: Marker) -> Look {
        Look {
            color,
            marker: Some(marker),
            stroke: Stroke::Solid,
        }
    }
    fn points(color: RGBColor, marker: Marker) -> Look {
        Look {
            color,
            marker: Some(marker),
            stroke: Stroke::None,
        }
    }
    fn dashed(color: RGBColor) -> Look {
        Look {
            color,
            marker: None,
            stroke: Stroke::Dashed,
        }
    }
    fn dotted(color: RGBColor) -> Look {
        Look {
            color,
            marker: None,
            stroke: Stroke::Dotted,
        }
    }
    fn band(color: RGBColor) -> Look {
        Look {
            color,
            marker: None,
            stroke: Stroke::Band,
        }
    }
}

/// A marker of shape `$m` in colour `$c` at the point `$at` (chart or pixel coordinates).
macro_rules! marker {
    ($at:expr, $m:expr, $c:expr) => {
        EmptyElement::at($at) + Polygon::new($m.outline(), $c.filled())
    };
}

/// The legend, in its own panel: one row per entry, in the order given.
fn legend(area: &Area<'_>, entries: &[(String, Look)]) -> Res {
    if entries.is_empty() {
        return Ok(());
    }
    let row = 22i32;
    let (w, _) = area.dim_in_pixel();
    let w = w as i32;
    let top = 40;
    let bottom = top + 8 + row * entries.len() as i32;
    area.draw(&Rectangle::new([(6, top), (w - 6, bottom)], WHITE.filled()))?;
    area.draw(&Rectangle::new(
        [(6, top), (w - 6, bottom)],
        LEGEND_BORDER.stroke_width(1),
    ))?;
    let max_chars = ((w - 64) / 7).max(8) as usize;
    for (i, (label, look)) in entries.iter().enumerate() {
        let y = top + 4 + row * i as i32 + row / 2;
        let (x0, x1) = (14, 46);
        match look.stroke {
            Stroke::Band => {
                area.draw(&Rectangle::new(
                    [(x0, y - 7), (x1, y + 7)],
                    look.color.filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x0, y - 7), (x1, y + 7)],
                    RGBColor(160, 160, 160).stroke_width(1),
                ))?;
            }
            Stroke::Dashed | Stroke::Dotted => {
                let (len, gap) = if look.stroke == Stroke::Dashed {
                    (8, 4)
                } else {
                    (3, 4)
                };
                let mut a = x0;
                while a < x1 {
                    area.draw(&PathElement::new(
                        vec![(a, y), ((a + len).min(x1), y)],
                        look.color.stroke_width(2),
                    ))?;
                    a += len + gap;
                }
            }
            Stroke::Solid => {
                area.draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    look.color.stroke_width(2),
                ))?;
            }
            Stroke::None => {}
        }
        if let Some(m) = look.marker {
            area.draw(&marker!((30, y), m, look.color))?;
        }
        let text = shorten(label, max_chars);
        area.draw(&Text::new(
            text,
            (54, y),
            ("sans-serif", 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// A label cut to `max` characters in the middle, where names that differ at both ends
/// (directory names, then knob values) keep what tells them apart.
pub fn shorten(label: &str, max: usize) -> String {
    let n = label.chars().count();
    if n <= max {
        return label.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = label.chars().take(head).collect();
    let end: String = label.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Draws a chart: a caption over the whole width, the plot left, the legend right.
fn draw(
    id: String,
    title: String,
    caption: &str,
    f: impl FnOnce(&Area<'_>) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>>,
) -> Option<Chart> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let body = root
            .titled(caption, ("sans-serif", CAPTION).into_font())
            .ok()?;
        let (plot, side) = body.split_horizontally(W - LEGEND_W);
        let entries = f(&plot).ok()?;
        legend(&side, &entries).ok()?;
        root.present().ok()?;
    }
    Some(Chart {
        id,
        title,
        svg,
        collapsed: false,
    })
}

/// A "nice" tick step (1, 2 or 5 × 10^k) that divides `0..span` into at most `ticks`
/// parts, and the decimals its labels need.
fn nice_step(span: f64, ticks: f64) -> (f64, usize) {
    let raw = (span / ticks).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    (step, decimals)
}

/// A linear axis from zero over non-negative values: its top (a whole number of steps
/// above the largest value), how many labels, and their decimals.
fn zero_axis(max: f64) -> (f64, usize, usize) {
    zero_axis_in(max, 6.0)
}

/// `zero_axis` with about `ticks` steps.
fn zero_axis_in(max: f64, ticks: f64) -> (f64, usize, usize) {
    let max = if max > 0.0 { max * 1.08 } else { 1.0 };
    let (step, decimals) = nice_step(max, ticks);
    let n = (max / step).ceil().max(1.0);
    (n * step, n as usize + 1, decimals)
}

/// A unit for bits per second that keeps the numbers readable.
fn bps_unit(max: f64) -> (f64, &'static str) {
    if max >= 2e9 {
        (1e9, "Gbit/s")
    } else if max >= 2e6 {
        (1e6, "Mbit/s")
    } else if max >= 2e3 {
        (1e3, "kbit/s")
    } else {
        (1.0, "bit/s")
    }
}

/// A point of a chart: x, the mean, its 95% confidence interval (if any).
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    mean: f64,
    ci: Option<(f64, f64)>,
}

/// Draws 95% CI bars inside `0..top`; an interval beyond it is drawn to the edge with an
/// arrow head there. Returns whether any was cut.
fn ci_bars<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    pts: &[Point],
    top: f64,
    color: RGBColor,
) -> Result<bool, Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let mut cut = false;
    for p in pts {
        let Some((lo, hi)) = p.ci else { continue };
        let (lo_c, hi_c) = (lo.max(0.0), hi.min(top));
        // Lighter than the line it belongs to: the mean is the figure, the interval its doubt.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(p.x, lo_c), (p.x, hi_c)],
            color.mix(0.6).stroke_width(1),
        )))?;
        for (v, clipped, up) in [(lo_c, lo < 0.0, false), (hi_c, hi > top, true)] {
            if clipped {
                cut = true;
                // Narrower and longer than a triangle marker: an arrow head, tip on the edge.
                let head = if up {
                    vec![(0, 0), (4, 12), (-4, 12)]
                } else {
                    vec![(0, 0), (4, -12), (-4, -12)]
                };
                chart.draw_series(std::iter::once(
                    EmptyElement::at((p.x, v)) + Polygon::new(head, color.filled()),
                ))?;
            } else {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((p.x, v))
                        + PathElement::new(vec![(-5, 0), (5, 0)], color.mix(0.6).stroke_width(1)),
                ))?;
            }
        }
    }
    Ok(cut)
}

/// The legend row that explains an arrow head, when an interval was cut.
fn cut_entry(cut: bool) -> Option<(String, Look)> {
    cut.then(|| {
        (
            "95% CI beyond the axis".to_string(),
            Look::points(RGBColor(110, 110, 110), Marker::Arrow),
        )
    })
}

/// The mesh every chart draws: light grid, labels at 12.9 px, one format per axis.
fn mesh<'a, 'b, X, Y>(
    chart: &'b mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> MeshStyle<'a, 'b, X, Y, SVGBackend<'a>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut m = chart.configure_mesh();
    m.label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", LABEL + 1))
        .light_line_style(GRID_FINE)
        .bold_line_style(GRID);
    m
}

/// Sizes on a log2 axis, labelled at whole powers of two only (`64K`, `1M`).
fn size_label(v: &f64) -> String {
    let r = v.round();
    if (v - r).abs() < 1e-6 && r >= 0.0 {
        format_size(2f64.powf(r) as u64)
    } else {
        String::new()
    }
}

fn size_range(xs: &[u64]) -> (f64, f64) {
    let l: Vec<f64> = xs.iter().map(|&x| (x.max(1) as f64).log2()).collect();
    let lo = l.iter().copied().fold(f64::MAX, f64::min);
    let hi = l.iter().copied().fold(f64::MIN, f64::max);
    if l.is_empty() {
        (9.5, 11.5)
    } else {
        (lo - 0.4, hi + 0.4)
    }
}

fn fixed(decimals: usize) -> impl Fn(&f64) -> String {
    move |v: &f64| format!("{v:.decimals$}")
}

/// One line of a sweep chart: its name, its points at numeric x, its `auto` point.
#[derive(Debug, Clone)]
struct SweepSeries {
    name: String,
    order: Vec<(String, (u8, u64, String))>,
    points: Vec<(String, Point)>,
}

/// Goodput (stream cases) against each swept knob, one line per value of the other knobs
/// (and per directory), with 95% confidence intervals from the repetitions.
fn goodput_vs_knobs(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut knobs: Vec<String> = Vec::new();
    for c in dirs.iter().flat_map(|d| &d.cases) {
        for (k, _) in c.knobs() {
            if !knobs.contains(&k) {
                knobs.push(k);
            }
        }
    }
    let mut out = Vec::new();
    for knob in knobs {
        let mut series = sweep_series(dirs, &knob);
        let distinct: BTreeSet<&str> = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0.as_str()))
            .collect();
        if distinct.len() < 2 {
            continue;
        }
        let sizes = distinct
            .iter()
            .all(|x| *x == "auto" || parse_size(x).is_ok());
        sweep_charts(&knob, sizes, &mut series, &mut out);
    }
    out
}

/// The lines of the goodput chart of one knob, in the order of their names' values.
fn sweep_series(dirs: &[ResultsDir], knob: &str) -> Vec<SweepSeries> {
    let mut series: BTreeMap<(usize, String), SweepSeries> = BTreeMap::new();
    for (di, d) in dirs.iter().enumerate() {
        for c in d.cases.iter().filter(|c| !c.is_transactional()) {
            let Some(x) = c.knob(knob) else { continue };
            let Some(mean) = c.row.goodput_bps_mean else {
                continue;
            };
            let rest: Vec<String> = c
                .knobs()
                .into_iter()
                .filter(|(k, _)| k != knob)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let rest = rest.join(" ");
            let name = match (dirs.len() > 1, rest.is_empty()) {
                (true, true) => d.name.clone(),
                (true, false) => format!("{} {rest}", d.name),
                (false, true) => "goodput".to_string(),
                (false, false) => rest.clone(),
            };
            let ci = c.row.goodput_bps_ci95_low.zip(c.row.goodput_bps_ci95_high);
            series
                .entry((di, name.clone()))
                .or_insert_with(|| SweepSeries {
                    name,
                    order: label_order(&rest),
                    points: Vec::new(),
                })
                .points
                .push((x, Point { x: 0.0, mean, ci }));
        }
    }
    let mut v: Vec<((usize, String), SweepSeries)> = series.into_iter().collect();
    v.sort_by(|a, b| (a.0 .0, &a.1.order).cmp(&(b.0 .0, &b.1.order)));
    v.into_iter().map(|(_, s)| s).collect()
}

/// The goodput charts of one knob, `MAX_SERIES` lines each.
fn sweep_charts(knob: &str, sizes: bool, series: &mut [SweepSeries], out: &mut Vec<Chart>) {
    let all = series.len();
    for (part, chunk) in series.chunks_mut(MAX_SERIES).enumerate() {
        let id = format!(
            "goodput-vs-{}{}",
            knob.replace('.', "-"),
            if part == 0 {
                String::new()
            } else {
                format!("-{}", part + 1)
            }
        );
        let shown = if all > MAX_SERIES {
            format!(
                " (lines {}–{} of {all})",
                part * MAX_SERIES + 1,
                part * MAX_SERIES + chunk.len()
            )
        } else {
            String::new()
        };
        let title = format!("Goodput against {knob} as requested{shown}");
        let has_auto = chunk.iter().any(|s| s.points.iter().any(|p| p.0 == "auto"));
        let chart = if sizes {
            let dashed = if has_auto {
                format!("; dashed: {knob}=auto")
            } else {
                String::new()
            };
            let cap = format!("Goodput against {knob} (mean, 95% CI{dashed}){shown}");
            draw(id, title, &cap, |a| size_sweep(a, knob, chunk))
        } else {
            let cap = format!("Goodput against {knob} (mean, 95% CI){shown}");
            draw(id, title, &cap, |a| category_sweep(a, knob, chunk))
        };
        out.extend(chart);
    }
}

fn size_sweep(
    area: &Area<'_>,
    knob: &str,
    series: &mut [SweepSeries],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let xs: Vec<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| parse_size(&p.0).ok()))
        .collect();
    let (xmin, xmax) = size_range(&xs);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.mean))
        .fold(0.0, f64::max);
    let (scale, unit) = bps_unit(max);
    let (top, ny, decimals) = zero_axis(max / scale);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(xmin..xmax, 0f64..top)?;
    mesh(&mut chart)
        .x_desc(format!("{knob} as requested (bytes, log2 scale)"))
        .y_desc(format!("goodput ({unit})"))
        .x_labels(((xmax - xmin).ceil() as usize + 1).max(2))
        .y_labels(ny)
        .x_label_formatter(&size_label)
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let colors = palette(series.len());
    let series_len = series.len();
    let mut entries = Vec::new();
    let mut autos = Vec::new();
    let mut cut = false;
    for (i, s) in series.iter_mut().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        let mut pts: Vec<Point> = s
            .points
            .iter()
            .filter_map(|(x, p)| {
                let v = parse_size(x).ok()?;
                Some(Point {
                    x: (v.max(1) as f64).log2(),
                    mean: p.mean / scale,
                    ci: p.ci.map(|(l, h)| (l / scale, h / scale)),
                })
            })
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        if !pts.is_empty() {
            chart.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.x, p.mean)),
                look.color.stroke_width(2),
            ))?;
            // Intervals of the lines at one size side by side, not on top of each other.
            let k = series_len as f64;
            let dodge = (i as f64 - (k - 1.0) / 2.0) * 0.25 / k;
            let dodged: Vec<Point> = pts
                .iter()
                .map(|p| Point {
                    x: p.x + dodge,
                    ..*p
                })
                .collect();
            cut |= ci_bars(&mut chart, &dodged, top, look.color)?;
            chart.draw_series(
                pts.iter()
                    .map(|p| marker!((p.x, p.mean), Marker::nth(i), look.color)),
            )?;
            entries.push((s.name.clone(), look));
        }
        for (_, p) in s.points.iter().filter(|p| p.0 == "auto") {
            let y = p.mean / scale;
            chart.draw_series(DashedLineSeries::new(
                vec![(xmin, y), (xmax, y)],
                8,
                5,
                look.color.stroke_width(2),
            ))?;
            autos.push((format!("{} {knob}=auto", s.name), Look::dashed(look.color)));
        }
    }
    entries.extend(autos);
    entries.extend(cut_entry(cut));
    Ok(entries)
}

fn category_sweep(
    area: &Area<'_>,
    knob: &str,
    series: &mut [SweepSeries],
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let mut cats: Vec<String> = Vec::new();
    for s in series.iter() {
        for (x, _) in &s.points {
            if !cats.contains(x) {
                cats.push(x.clone());
            }
        }
    }
    cats.sort_by_key(|c| value_order(c));
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.mean))
        .fold(0.0, f64::max);
    let (scale, unit) = bps_unit(max);
    let (top, ny, decimals) = zero_axis(max / scale);
    let n = cats.len() as f64;
    let labels = cats.clone();
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top)?;
    let cat_label = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 0.01 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    mesh(&mut chart)
        .x_desc(knob.to_string())
        .y_desc(format!("goodput ({unit})"))
        .x_labels(cats.len())
        .y_labels(ny)
        .x_label_formatter(&cat_label)
        .y_label_formatter(&fixed(decimals))
        .draw()?;
    let colors = palette(series.len());
    let k = series.len().max(1) as f64;
    let mut entries = Vec::new();
    let mut cut = false;
    for (i, s) in series.iter().enumerate() {
        let look = Look::line(colors[i], Marker::nth(i));
        let offset = (i as f64 - (k - 1.0) / 2.0) * 0.5 / k;
        let pts: Vec<Point> = s
            .points
            .iter()
            .filter_map(|(x, p)| {
                let ix = cats.iter().position(|c| c == x)?;
                Some(Point {
                    x: ix as f64 + offset,
                    mean: p.mean / scale,
                    ci: p.ci.map(|(l, h)| (l / scale, h / scale)),
                })
            })
            .collect();
        cut |= ci_bars(&mut chart, &pts, top, look.color)?;
        chart.draw_series(
            pts.iter()
                .map(|p| marker!((p.x, p.mean), Marker::nth(i), look.color)),
        )?;
        // Points, not lines: categories have no order to join.
        entries.push((s.name.clone(), Look::points(look.color, Marker::nth(i))));
    }
    entries.extend(cut_entry(cut));
    Ok(entries)
}

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
fn heatmaps(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// A fleet run's matrices: per case, goodput and (when measured) the p99 round trip of
/// every ordered pair, rows = sender, columns = receiver, the value in each cell; a path
/// more than 10% worse than the median path (goodput below, p99 above) is marked.
fn fleet_matrices(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// A tune directory's search: each test's value of the goal's figure, in the order run,
/// by phase (screening, racing, the kernel's defaults, the next larger setting), the
/// answer's tests marked.
fn tune_search(dirs: &[ResultsDir]) -> Vec<Chart> {
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
        let metric = tests[0].metric.column();
        let who = if dirs.len() > 1 {
            format!(" ({})", d.name)
        } else {
            String::new()
        };
        let title = format!("The search: {metric} of each test, in the order run{who}");
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
    metric: &str,
    answer: &str,
) -> Result<Vec<(String, Look)>, Box<dyn std::error::Error>> {
    let bits = metric.ends_with("_bps");
    let ns = metric.ends_with("_ns");
    let max = tests.iter().filter_map(|t| t.value).fold(0.0, f64::max);
    let (scale, unit) = if bits {
        bps_unit(max)
    } else if ns {
        (1e3, "µs")
    } else {
        (1.0, "")
    };
    let (top, yt, decimals) = zero_axis(max / scale);
    let n = tests.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..n + 0.5, 0f64..top)?;
    mesh(&mut chart)
        .x_desc("test, in the order run")
        .y_desc(format!("{metric} ({unit})").replace(" ()", ""))
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

/// Round trips against message size, per case (sizes.csv): which messages suffer.
fn latency_by_size(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// A sequential colour scale from light to dark blue, and a text colour readable on it.
fn heat(t: f64) -> (RGBColor, RGBColor) {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    let c = RGBColor(lerp(239.0, 8.0), lerp(243.0, 48.0), lerp(255.0, 107.0));
    (c, if t > 0.5 { WHITE } else { BLACK })
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
    let decimals = decimals.min(2);
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
            format!("{:.decimals$}", v / scale),
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
        (
            format!("{:.decimals$} {unit} (lowest)", min / scale),
            Look::band(lo),
        ),
        (
            format!("{:.decimals$} {unit} (highest)", max / scale),
            Look::band(hi),
        ),
    ])
}

/// Percentile axis: x = log10(1 / (1 - q)), labelled at whole decades: 0%, 90%, 99%, ...
fn percentile_label(v: &f64) -> String {
    let r = v.round();
    if (v - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    let q = 100.0 * (1.0 - 10f64.powf(-r));
    let digits = (r as usize).saturating_sub(2);
    format!("{q:.digits$}%")
}

/// Log axis in decades (of a unit chosen so that none is below 1): labels at every power
/// of ten, as whole numbers.
fn decade_label(v: &f64) -> String {
    let r = v.round();
    if (v - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    format!("{:.0}", 10f64.powf(r))
}

/// The percentile spectrum of round trips (the HdrHistogram view): one line per case
/// (and directory), at most `MAX_SERIES` per chart.
fn latency_spectrum(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// A case in a few words: protocol and pattern unless its knobs name them, then its knobs.
fn case_name(c: &Case) -> String {
    let knobs = c.knobs();
    let has = |k: &str| knobs.iter().any(|(key, _)| key == k);
    let mut words = Vec::new();
    if !has("proto") {
        words.push(c.row.protocol.clone());
    }
    if !has("pattern") {
        words.push(c.row.pattern.clone());
    }
    if !c.label().is_empty() {
        words.push(c.label().to_string());
    }
    words.join(" ")
}

/// Names without the words every one of them has (all `tcp`, all `rr`), and those words
/// for the caption (` — every case: tcp rr`).
fn without_common_words<'n>(names: impl Iterator<Item = &'n str> + Clone) -> (Vec<String>, String) {
    let sets: Vec<Vec<&str>> = names.map(|n| n.split_whitespace().collect()).collect();
    let common: Vec<&str> = match sets.first() {
        Some(first) if sets.len() > 1 => first
            .iter()
            .copied()
            .filter(|w| sets.iter().all(|s| s.contains(w)))
            .collect(),
        _ => Vec::new(),
    };
    let names = sets
        .iter()
        .map(|s| {
            let rest: Vec<&str> = s.iter().copied().filter(|w| !common.contains(w)).collect();
            rest.join(" ")
        })
        .collect();
    let caption = if common.is_empty() {
        String::new()
    } else {
        format!(" — every case: {}", common.join(" "))
    };
    (names, caption)
}

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
fn bufferbloat(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// Request/response cases side by side: transactions per second, and the p50 and p99
/// round trips, per case (protocol, pattern and knobs), one chart per directory.
fn transactions(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// Per-interval throughput over time, one chart per case, one line per repetition; the
/// warm-up (excluded from goodput) shaded; the axis ends where the data ends.
fn intervals(dirs: &[ResultsDir]) -> Vec<Chart> {
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

/// Every chart the data supports, in reading order.
pub fn all(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = goodput_vs_knobs(dirs);
    out.extend(tune_search(dirs));
    out.extend(fleet_matrices(dirs));
    out.extend(heatmaps(dirs));
    out.extend(latency_spectrum(dirs));
    out.extend(bufferbloat(dirs));
    out.extend(transactions(dirs));
    out.extend(latency_by_size(dirs));
    out.extend(intervals(dirs));
    out
}

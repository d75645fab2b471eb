//! What every chart shares: the palette, markers and legend, the frame a chart is drawn
//! in, the axes' scales and tick formats, confidence-interval bars, case names.

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Chart, H, W};
use crate::report::Case;
use crate::spec::units::format_size;

pub(super) const LEGEND_W: u32 = 330;
/// The legend's border: a colour nothing else is drawn in, so a reader of the SVG (and
/// the tests) can find the legend box.
pub const LEGEND_BORDER: RGBColor = RGBColor(0x40, 0x40, 0x41);
/// Lines per chart at most; more are split over several charts.
pub(super) const MAX_SERIES: usize = 12;
/// Font sizes in plotters' units: SVG text is drawn at size / 1.24, so 16 is 12.9 px.
pub(super) const LABEL: u32 = 16;
pub(super) const CAPTION: u32 = 21;
pub(super) const GRID: RGBColor = RGBColor(226, 226, 226);
pub(super) const GRID_FINE: RGBColor = RGBColor(246, 246, 246);
pub(super) const WARMUP: RGBColor = RGBColor(225, 225, 225);

pub(super) type Res = Result<(), Box<dyn std::error::Error>>;
pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

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
    pub(super) fn nth(i: usize) -> Marker {
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
    pub(super) fn outline(self) -> Vec<(i32, i32)> {
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
    pub(super) fn line(color: RGBColor, marker: Marker) -> Look {
        Look {
            color,
            marker: Some(marker),
            stroke: Stroke::Solid,
        }
    }
    pub(super) fn points(color: RGBColor, marker: Marker) -> Look {
        Look {
            color,
            marker: Some(marker),
            stroke: Stroke::None,
        }
    }
    pub(super) fn dashed(color: RGBColor) -> Look {
        Look {
            color,
            marker: None,
            stroke: Stroke::Dashed,
        }
    }
    pub(super) fn band(color: RGBColor) -> Look {
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
pub(super) fn legend(area: &Area<'_>, entries: &[(String, Look)]) -> Res {
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
pub(super) fn draw(
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
pub(super) fn nice_step(span: f64, ticks: f64) -> (f64, usize) {
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
pub(super) fn zero_axis(max: f64) -> (f64, usize, usize) {
    zero_axis_in(max, 6.0)
}

/// `zero_axis` with about `ticks` steps.
pub(super) fn zero_axis_in(max: f64, ticks: f64) -> (f64, usize, usize) {
    let max = if max > 0.0 { max * 1.08 } else { 1.0 };
    let (step, decimals) = nice_step(max, ticks);
    let n = (max / step).ceil().max(1.0);
    (n * step, n as usize + 1, decimals)
}

pub(super) use crate::output::metric::bps_unit;

/// The decimals a value up to `max` is written with: three significant digits from 1 on.
pub(super) fn decimals(max: f64) -> usize {
    if max >= 100.0 {
        0
    } else if max >= 10.0 {
        1
    } else {
        2
    }
}

/// How a matrix writes its values: every cell in the unit and with the decimals of its
/// largest value, so that cells compare at a glance. But when a goodput's cell would
/// keep under two significant digits (48 Mbit/s among 25 Gbit/s reads "0.0", as if the
/// path were dead), every cell is in its own unit, its prefix beside it: "47.9M", "25.1G".
pub(super) struct MatrixText {
    scale: f64,
    unit: &'static str,
    decimals: usize,
    own_units: bool,
}

impl MatrixText {
    /// The matrix's `values`, written in `unit` (`scale` of them is one) with `decimals`;
    /// `bps` when they are bits per second, which may then take their own units (judged
    /// by the smallest above 0: a dead path is 0 in any unit).
    pub fn new(
        values: impl Iterator<Item = f64>,
        (scale, unit): (f64, &'static str),
        decimals: usize,
        bps: bool,
    ) -> Self {
        let smallest = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        let last_digits = (smallest / scale * 10f64.powi(decimals as i32)).round();
        MatrixText {
            scale,
            unit,
            decimals,
            own_units: bps && last_digits < 10.0,
        }
    }

    /// A cell's text: `25.1`, or `47.9M` in its own unit (`1500 bit/s` under 2 kbit/s).
    pub fn cell(&self, v: f64) -> String {
        if !self.own_units {
            return format!("{:.d$}", v / self.scale, d = self.decimals);
        }
        let (x, d, unit) = own_unit(v);
        match unit.strip_suffix("bit/s") {
            Some("") => format!("{x:.d$} bit/s"),
            Some(prefix) => format!("{x:.d$}{prefix}"),
            None => format!("{x:.d$} {unit}"),
        }
    }

    /// A value with its unit, for a legend or a scale's end: `25.1 Gbit/s`.
    pub fn full(&self, v: f64) -> String {
        if !self.own_units {
            return format!("{:.d$} {}", v / self.scale, self.unit, d = self.decimals);
        }
        let (x, d, unit) = own_unit(v);
        format!("{x:.d$} {unit}")
    }
}

/// A goodput in its own unit: the number, its decimals (three significant digits, chosen
/// after rounding: 99.96 is 100, not 100.0) and the unit.
fn own_unit(v: f64) -> (f64, usize, &'static str) {
    let (scale, unit) = bps_unit(v);
    let x = v / scale;
    let d = decimals(x);
    let rounded = (x * 10f64.powi(d as i32)).round() / 10f64.powi(d as i32);
    (x, decimals(rounded), unit)
}

/// A point of a chart: x, the mean, its 95% confidence interval (if any).
#[derive(Debug, Clone, Copy)]
pub(super) struct Point {
    pub x: f64,
    pub mean: f64,
    pub ci: Option<(f64, f64)>,
}

/// Draws 95% CI bars inside `0..top`; an interval beyond it is drawn to the edge with an
/// arrow head there. Returns whether any was cut.
pub(super) fn ci_bars<'a, X, Y>(
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
pub(super) fn cut_entry(cut: bool) -> Option<(String, Look)> {
    cut.then(|| {
        (
            "95% CI beyond the axis".to_string(),
            Look::points(RGBColor(110, 110, 110), Marker::Arrow),
        )
    })
}

/// The mesh every chart draws: light grid, labels at 12.9 px, one format per axis.
pub(super) fn mesh<'a, 'b, X, Y>(
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
pub(super) fn size_label(v: &f64) -> String {
    let r = v.round();
    if (v - r).abs() < 1e-6 && r >= 0.0 {
        format_size(2f64.powf(r) as u64)
    } else {
        String::new()
    }
}

pub(super) fn size_range(xs: &[u64]) -> (f64, f64) {
    let l: Vec<f64> = xs.iter().map(|&x| (x.max(1) as f64).log2()).collect();
    let lo = l.iter().copied().fold(f64::MAX, f64::min);
    let hi = l.iter().copied().fold(f64::MIN, f64::max);
    if l.is_empty() {
        (9.5, 11.5)
    } else {
        (lo - 0.4, hi + 0.4)
    }
}

pub(super) fn fixed(decimals: usize) -> impl Fn(&f64) -> String {
    move |v: &f64| format!("{v:.decimals$}")
}

/// A sequential colour scale from light to dark blue, and a text colour readable on it.
pub(super) fn heat(t: f64) -> (RGBColor, RGBColor) {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    let c = RGBColor(lerp(239.0, 8.0), lerp(243.0, 48.0), lerp(255.0, 107.0));
    (c, if t > 0.5 { WHITE } else { BLACK })
}

/// Percentile axis: x = log10(1 / (1 - q)), labelled at whole decades: 0%, 90%, 99%, ...
pub(super) fn percentile_label(v: &f64) -> String {
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
pub(super) fn decade_label(v: &f64) -> String {
    let r = v.round();
    if (v - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    format!("{:.0}", 10f64.powf(r))
}

/// A case in a few words: protocol and pattern unless its knobs name them, then its knobs.
pub(super) fn case_name(c: &Case) -> String {
    let knobs = c.knobs();
    let has = |k: &str| knobs.iter().any(|(key, _)| key == k);
    let mut words = Vec::new();
    if !has("proto") {
        words.push(c.row.protocol.to_string());
    }
    if !has("pattern") {
        words.push(c.row.pattern.to_string());
    }
    if !c.label().is_empty() {
        words.push(c.label().to_string());
    }
    words.join(" ")
}

/// Names without the words every one of them has (all `tcp`, all `rr`), and those words
/// for the caption (` — every case: tcp rr`).
pub(super) fn without_common_words<'n>(
    names: impl Iterator<Item = &'n str> + Clone,
) -> (Vec<String>, String) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow path among fast ones keeps its digits, each cell in its own unit; a matrix
    /// whose smallest value keeps two digits keeps one unit for all.
    #[test]
    fn a_matrix_writes_its_smallest_goodput_with_two_digits_at_least() {
        let (min, max) = (47.9e6, 25.1e9);
        let text = |values: &[f64]| {
            let max = values.iter().copied().fold(0.0, f64::max);
            let (scale, unit) = bps_unit(max);
            MatrixText::new(
                values.iter().copied(),
                (scale, unit),
                decimals(max / scale),
                true,
            )
        };
        let t = text(&[min, max]);
        assert_eq!([t.cell(min), t.cell(max)], ["47.9M", "25.1G"]);
        assert_eq!([t.full(min), t.full(max)], ["47.9 Mbit/s", "25.1 Gbit/s"]);
        // A dead path beside them does not hide the slow one; under 2 kbit/s, the unit in
        // full; decimals after rounding.
        let t = text(&[0.0, min, max]);
        assert_eq!([t.cell(0.0), t.cell(min)], ["0.00 bit/s", "47.9M"]);
        assert_eq!([t.cell(1500.0), t.cell(99.96e6)], ["1500 bit/s", "100M"]);
        let t = text(&[1.2e9, max]);
        assert_eq!([t.cell(1.2e9), t.cell(max)], ["1.2", "25.1"]);
        assert_eq!(t.full(1.2e9), "1.2 Gbit/s");
        // Round trips keep the matrix's unit and decimals.
        let t = MatrixText::new(
            [6e3, 250e3].into_iter(),
            (1e3, "µs"),
            decimals(250.0),
            false,
        );
        assert_eq!([t.cell(6e3), t.full(250e3)], ["6", "250 µs"]);
    }
}

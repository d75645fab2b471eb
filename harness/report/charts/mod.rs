//! The report's charts, drawn by plotters into SVG strings (no font files, no scripts),
//! one file per chart (criterion's `plot/` model) and one for what they share.
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

/// A marker of shape `$m` in colour `$c` at the point `$at` (chart or pixel coordinates).
macro_rules! marker {
    ($at:expr, $m:expr, $c:expr) => {
        EmptyElement::at($at) + Polygon::new($m.outline(), $c.filled())
    };
}

mod bufferbloat;
mod common;
mod fleet;
mod heatmap;
mod intervals;
mod sizes;
mod spectrum;
mod sweep;
mod transactions;
mod tune;

pub use common::{palette, shorten, Look, Marker, Stroke, LEGEND_BORDER};
pub use fleet::{mark_outliers, FleetCell};

use super::ResultsDir;

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
/// Every chart the data supports, in reading order.
pub fn all(dirs: &[ResultsDir]) -> Vec<Chart> {
    let mut out = sweep::goodput_vs_knobs(dirs);
    out.extend(tune::tune_search(dirs));
    out.extend(fleet::fleet_matrices(dirs));
    out.extend(heatmap::heatmaps(dirs));
    out.extend(spectrum::latency_spectrum(dirs));
    out.extend(bufferbloat::bufferbloat(dirs));
    out.extend(transactions::transactions(dirs));
    out.extend(sizes::latency_by_size(dirs));
    out.extend(intervals::intervals(dirs));
    out
}

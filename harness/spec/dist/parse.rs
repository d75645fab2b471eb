//! A distribution's text read into a [`DistSpec`] and resolved against the protocol's
//! bounds; files of an application's message sizes.

use super::sample::Base;
use super::*;

/// The `KEY=VALUE,...` after a distribution's name: each key one `dist` takes, once,
/// lowercased; values trimmed.
pub(super) fn dist_fields(
    dist: &str,
    rest: &str,
    keys: &[&str],
) -> Result<Vec<(String, String)>, DistError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            derr(
                None,
                format!("'{part}' in a {dist} distribution is not KEY=VALUE"),
            )
        })?;
        let k = k.trim().to_ascii_lowercase();
        if !keys.contains(&k.as_str()) {
            return Err(derr(
                Some(&k),
                format!("{dist} takes {}, not '{k}'", keys.join(", ")),
            ));
        }
        if fields.iter().any(|(f, _)| *f == k) {
            return Err(derr(Some(&k), format!("{k} is given twice")));
        }
        fields.push((k, v.trim().to_string()));
    }
    Ok(fields)
}

impl DistSpec {
    /// Parses `DIST:KEY=VALUE,...`. A relative empirical file is found from `base_dir`.
    pub fn parse(text: &str, base_dir: Option<&Path>) -> Result<DistSpec, DistError> {
        let (dist, rest) = text.split_once(':').unwrap_or((text, ""));
        let dist = dist.trim().to_ascii_lowercase();
        let keys = keys_of(&dist).ok_or_else(|| {
            derr(
                Some("dist"),
                format!("unknown dist '{dist}' (expected one of: {DISTS})"),
            )
        })?;
        let fields = dist_fields(&dist, rest, keys)?;
        let mut spec = DistSpec {
            dist,
            fields,
            knots: None,
        };
        let need: &[&str] = match spec.dist.as_str() {
            "uniform" => &["min", "max"],
            "lognormal" => &["median", "p99"],
            "empirical" => &["file"],
            _ => &[],
        };
        for k in need {
            if spec.get(k).is_none() {
                return Err(derr(
                    None,
                    format!("a {} distribution needs {k}", spec.dist),
                ));
            }
        }
        if spec.dist == "empirical" {
            let file = spec.get("file").unwrap_or_default().to_string();
            let path = match base_dir {
                Some(d) if Path::new(&file).is_relative() => d.join(&file),
                _ => Path::new(&file).to_path_buf(),
            };
            let knots = read_sizes_file(&path).map_err(|e| derr(Some("file"), e.to_string()))?;
            // Absolute from now on: the setting may be re-parsed from elsewhere.
            let shown = path.display().to_string();
            if let Some(f) = spec.fields.iter_mut().find(|(k, _)| k == "file") {
                f.1 = shown;
            }
            spec.knots = Some(knots);
        }
        // Everything that does not depend on the protocol is checked now.
        spec.resolve(1, u32::MAX)?;
        Ok(spec)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn size(&self, key: &str) -> Result<Option<u32>, DistError> {
        self.get(key).map(|v| size_field(key, v)).transpose()
    }

    fn real(&self, key: &str) -> Result<Option<f64>, DistError> {
        self.get(key).map(|v| real_field(key, v)).transpose()
    }

    /// The text form, as a setting would be written.
    pub fn text(&self) -> String {
        dist_text(&self.dist, &self.fields)
    }

    /// Resolves against the smallest (`floor`) and largest (`ceiling`) message the
    /// protocol can carry: unbounded distributions are cut at their 99.99th percentile
    /// or the ceiling, whichever is smaller.
    pub fn resolve(&self, floor: u32, ceiling: u32) -> Result<SizeDist, DistError> {
        let bounds = Bounds {
            min: self.size("min")?,
            max: self.size("max")?,
            floor,
            ceiling,
        };
        let dist = match self.dist.as_str() {
            "uniform" => self.uniform(&bounds)?,
            "lognormal" => self.lognormal(&bounds)?,
            "pareto" => self.pareto(&bounds)?,
            "empirical" => {
                let knots = self.knots.clone().unwrap_or_default();
                let top = knots.last().map(|k| k.0).unwrap_or(1.0);
                let (lo, hi) = bounds.cut(ceil_quantile(top))?;
                SizeDist::Empirical {
                    file: self.get("file").unwrap_or_default().to_string(),
                    knots,
                    min: lo,
                    max: hi,
                }
            }
            other => {
                return Err(derr(
                    Some("dist"),
                    format!("unknown dist '{other}' (expected one of: {DISTS})"),
                ))
            }
        };
        // The truncation must keep some probability, or there is nothing to draw.
        let s = SizeSampler::new(&dist);
        let mass = s.b - s.a;
        if mass.is_nan() || mass <= 1e-12 {
            return Err(derr(
                Some("min"),
                format!(
                    "the distribution has no sizes between {} and {} bytes",
                    dist.min(),
                    dist.max()
                ),
            ));
        }
        Ok(dist)
    }

    fn uniform(&self, bounds: &Bounds) -> Result<SizeDist, DistError> {
        let (min_v, max_v) = (
            self.size("min")?.unwrap_or(0),
            self.size("max")?.unwrap_or(0),
        );
        if max_v < min_v {
            return Err(derr(
                Some("max"),
                format!("max ({max_v}) is below min ({min_v})"),
            ));
        }
        let (lo, hi) = bounds.cut(max_v)?;
        Ok(SizeDist::Uniform { min: lo, max: hi })
    }

    fn lognormal(&self, bounds: &Bounds) -> Result<SizeDist, DistError> {
        let median = self.size("median")?.unwrap_or(0);
        let p99 = self.size("p99")?.unwrap_or(0);
        if median == 0 {
            return Err(derr(
                Some("median"),
                "median: must be more than 0 bytes".into(),
            ));
        }
        if p99 <= median {
            return Err(derr(
                Some("p99"),
                format!("p99 ({p99}) must be above the median ({median})"),
            ));
        }
        let base = Base::lognormal(median, p99);
        let (lo, hi) = bounds.cut(ceil_quantile(base.inv(0.9999)))?;
        Ok(SizeDist::Lognormal {
            median,
            p99,
            min: lo,
            max: hi,
        })
    }

    fn pareto(&self, bounds: &Bounds) -> Result<SizeDist, DistError> {
        let location = self.real("location")?.unwrap_or(ETC_LOCATION);
        let scale = self.real("scale")?.unwrap_or(ETC_SCALE);
        let shape = self.real("shape")?.unwrap_or(ETC_SHAPE);
        if location < 0.0 {
            return Err(derr(
                Some("location"),
                format!("location: {location} is negative; sizes start at 0 bytes"),
            ));
        }
        if scale <= 0.0 {
            return Err(derr(
                Some("scale"),
                format!("scale: {scale} must be more than 0"),
            ));
        }
        if !(-10.0..=10.0).contains(&shape) {
            return Err(derr(
                Some("shape"),
                format!("shape: {shape} is out of range (-10 to 10)"),
            ));
        }
        let base = Base::Gpd {
            location,
            scale,
            shape,
        };
        let (lo, hi) = bounds.cut(ceil_quantile(base.inv(0.9999)))?;
        Ok(SizeDist::Pareto {
            location,
            scale,
            shape,
            min: lo,
            max: hi,
        })
    }
}

/// The sizes a distribution is cut to: the `min` and `max` the user gave, within what the
/// protocol carries (`floor` to `ceiling`).
struct Bounds {
    min: Option<u32>,
    max: Option<u32>,
    floor: u32,
    ceiling: u32,
}

impl Bounds {
    /// The range a distribution whose own largest size is `natural_max` is cut to.
    fn cut(&self, natural_max: u32) -> Result<(u32, u32), DistError> {
        let lo = self.min.unwrap_or(self.floor).max(self.floor);
        let hi = self.max.unwrap_or(natural_max).min(self.ceiling);
        if let Some(m) = self.max {
            if m > self.ceiling {
                return Err(derr(
                    Some("max"),
                    format!(
                        "max: {m} bytes is more than this protocol's largest message ({})",
                        self.ceiling
                    ),
                ));
            }
        }
        if hi < lo {
            return Err(derr(
                Some(if self.max.is_some() { "max" } else { "min" }),
                format!("the sizes run from {lo} to {hi} bytes: max is below min"),
            ));
        }
        Ok((lo, hi))
    }
}

/// A quantile rounded up to a whole size of at least 1 byte (u32::MAX when beyond).
fn ceil_quantile(q: f64) -> u32 {
    if q.is_finite() && q < u32::MAX as f64 {
        (q.ceil() as u32).max(1)
    } else {
        u32::MAX
    }
}

/// Reads a file of the application's message sizes: CSV with a header, `size,cdf`
/// (cumulative probability at each size, nondecreasing to 1; sizes between two rows are
/// spread evenly) or `size,count` (how often each exact size occurs). `#` starts a
/// comment. Returns the knots of the CDF.
pub fn read_sizes_file(path: &Path) -> Result<Vec<(f64, f64)>, SizesFileError> {
    let read = |source| SizesFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() || meta.len() > 16 << 20 {
        return Err(SizesFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    parse_sizes(&text).map_err(|error| SizesFileError::Line {
        path: path.to_path_buf(),
        error,
    })
}

/// Parses the text of a sizes file (see [`read_sizes_file`]); errors carry the line.
pub fn parse_sizes(text: &str) -> Result<Vec<(f64, f64)>, LineError> {
    let mut cdf: Option<bool> = None;
    let mut rows: Vec<(u32, f64, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != 2 {
            return Err(line_err(
                i + 1,
                format!("expected two columns, found {}", cols.len()),
            ));
        }
        if cdf.is_none() {
            let kind = cols[1].to_ascii_lowercase();
            cdf = Some(match kind.as_str() {
                "cdf" | "cumulative" | "p" | "probability" => true,
                "count" | "weight" | "frequency" | "messages" => false,
                _ => {
                    return Err(line_err(
                        i + 1,
                        "expected a header line: size,cdf or size,count",
                    ))
                }
            });
            continue;
        }
        let size = size_field("size", cols[0]).map_err(|e| line_err(i + 1, e.msg))?;
        let v = real_field("value", cols[1]).map_err(|e| line_err(i + 1, e.msg))?;
        if v < 0.0 {
            return Err(line_err(i + 1, format!("{} is negative", cols[1])));
        }
        if size == 0 {
            return Err(line_err(i + 1, "a message has at least 1 byte"));
        }
        if let Some(&(prev, pv, _)) = rows.last() {
            if size <= prev {
                return Err(line_err(
                    i + 1,
                    format!("sizes must increase from row to row ({size} after {prev})"),
                ));
            }
            if cdf == Some(true) && v < pv {
                return Err(line_err(
                    i + 1,
                    format!("the CDF must not decrease ({v} after {pv})"),
                ));
            }
        }
        rows.push((size, v, i + 1));
    }
    let Some(&(_, last, last_line)) = rows.last() else {
        return Err(line_err(1, "no sizes: the file is empty"));
    };
    let mut knots = Vec::with_capacity(rows.len() * 2);
    if cdf == Some(true) {
        if (last - 1.0).abs() > 1e-6 {
            return Err(line_err(
                last_line,
                format!("the CDF must end at 1, not {last}"),
            ));
        }
        knots.push((rows[0].0 as f64 - 1.0, 0.0));
        for (s, c, _) in &rows {
            knots.push((*s as f64, c.min(1.0)));
        }
    } else {
        let total: f64 = rows.iter().map(|r| r.1).sum();
        if total <= 0.0 {
            return Err(line_err(last_line, "the counts add up to nothing"));
        }
        let mut acc = 0.0;
        for (s, w, _) in &rows {
            knots.push((*s as f64 - 1.0, acc / total));
            acc += w;
            knots.push((*s as f64, (acc / total).min(1.0)));
        }
    }
    Ok(knots)
}

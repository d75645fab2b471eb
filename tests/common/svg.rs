//! The charts' geometry, read from their SVG, and the ink of a screenshot: the checks
//! `tests/report.rs` and `tests/charts/` share.

use std::path::Path;

/// The share of pixels that are not near-white, and how many distinct saturated colours.
pub fn ink(path: &Path) -> (f64, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let mut inked = 0usize;
    let mut colours = std::collections::HashSet::new();
    let n = px.len() / channels;
    for p in px.chunks(channels) {
        let (r, g, b) = (p[0], p[1], p[2]);
        if r < 230 || g < 230 || b < 230 {
            inked += 1;
        }
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        if max - min > 60 {
            colours.insert((r / 32, g / 32, b / 32));
        }
    }
    (inked as f64 / n as f64, colours.len())
}

// ---- The charts' geometry, read from their SVG ----

/// One element of a plotters SVG: its name, attributes and text.
#[derive(Debug, Clone)]
pub struct El {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

impl El {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn num(&self, k: &str) -> f64 {
        self.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    }
    /// Every point the element draws through: polyline and polygon vertices, line ends,
    /// rectangle corners.
    pub fn points(&self) -> Vec<(f64, f64)> {
        match self.name.as_str() {
            "polyline" | "polygon" => self
                .get("points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect(),
            "line" => vec![
                (self.num("x1"), self.num("y1")),
                (self.num("x2"), self.num("y2")),
            ],
            "rect" => {
                let (x, y, w, h) = (
                    self.num("x"),
                    self.num("y"),
                    self.num("width"),
                    self.num("height"),
                );
                vec![(x, y), (x + w, y), (x, y + h), (x + w, y + h)]
            }
            _ => vec![],
        }
    }
    /// The colour it is drawn in (stroke, else fill), when saturated: series colours, not
    /// the black, grey and white of axes, grid and backgrounds.
    pub fn colour(&self) -> Option<(u8, u8, u8)> {
        for k in ["stroke", "fill"] {
            let Some(v) = self.get(k).and_then(|v| v.strip_prefix('#')) else {
                continue;
            };
            let c = |i: usize| u8::from_str_radix(&v[i..i + 2], 16).unwrap_or(0);
            let (r, g, b) = (c(0), c(2), c(4));
            if r.max(g).max(b) - r.min(g).min(b) > 30 {
                return Some((r, g, b));
            }
        }
        None
    }
}

pub fn parse_svg(svg: &str) -> Vec<El> {
    let mut out: Vec<El> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("a closed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('/') || tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_alphanumeric()).collect();
        let mut attrs = Vec::new();
        let mut a = &tag[name.len()..];
        while let Some(eq) = a.find("=\"") {
            let key = a[..eq].trim().to_string();
            let v = &a[eq + 2..];
            let close = v.find('"').unwrap();
            attrs.push((key, v[..close].to_string()));
            a = &v[close + 1..];
        }
        let text = if name == "text" {
            rest[..rest.find("</text>").unwrap()].trim().to_string()
        } else {
            String::new()
        };
        out.push(El { name, attrs, text });
    }
    out
}

/// The legend box: the rectangle drawn in the legend's own border colour.
pub fn legend_index(els: &[El]) -> Option<usize> {
    let border = {
        let c = sockbench::report::charts::LEGEND_BORDER;
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    };
    els.iter()
        .position(|e| e.name == "rect" && e.get("stroke") == Some(border.as_str()))
}

/// A legend row: its label and how its sample is drawn (colour, segments, filled box).
#[derive(Debug)]
pub struct LegendRow {
    pub label: String,
    pub colour: Option<(u8, u8, u8)>,
    pub segments: usize,
    pub band: bool,
}

pub fn legend_rows(els: &[El]) -> Vec<LegendRow> {
    let Some(li) = legend_index(els) else {
        return vec![];
    };
    let rows: Vec<&El> = els[li + 1..].iter().filter(|e| e.name == "text").collect();
    rows.iter()
        .map(|t| {
            let y = t.num("y");
            let near = |e: &&El| e.points().iter().all(|p| (p.1 - y).abs() <= 8.0);
            let parts: Vec<&El> = els[li + 1..]
                .iter()
                .filter(|e| e.name != "text" && !e.points().is_empty())
                .filter(near)
                .collect();
            LegendRow {
                label: t.text.clone(),
                colour: parts.iter().find_map(|e| e.colour()),
                segments: parts.iter().filter(|e| e.name == "polyline").count(),
                band: parts.iter().any(|e| e.name == "rect"),
            }
        })
        .collect()
}

/// What is wrong with a chart, by the rules every chart keeps.
pub fn chart_problems(id: &str, svg: &str) -> Vec<String> {
    let els = parse_svg(svg);
    let mut bad = Vec::new();
    let root = &els[0];
    if root.get("viewBox").is_none() {
        bad.push(format!("{id}: no viewBox, so it cannot scale to the page"));
    }
    // Text at least 12 px.
    for t in els.iter().filter(|e| e.name == "text") {
        if t.num("font-size") < 12.0 {
            bad.push(format!(
                "{id}: text {:?} at {} px",
                t.text,
                t.num("font-size")
            ));
        }
    }
    // The legend covers no plotted point.
    let Some(li) = legend_index(&els) else {
        bad.push(format!("{id}: no legend"));
        return bad;
    };
    let pts = els[li].points();
    let (x0, y0, x1, y1) = (pts[0].0, pts[0].1, pts[3].0, pts[3].1);
    for e in els[..li].iter().filter(|e| e.colour().is_some()) {
        let p = e.points();
        // Points along each segment too: a line can cross a box between its vertices.
        for w in p.windows(2).chain(p.chunks(1)) {
            let (a, b) = (w[0], *w.last().unwrap());
            for k in 0..=10 {
                let t = k as f64 / 10.0;
                let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
                if x > x0 && x < x1 && y > y0 && y < y1 {
                    bad.push(format!("{id}: the legend covers data at ({x}, {y})"));
                    return bad;
                }
            }
        }
    }
    // No two legend rows drawn alike, and every colour of the data is in the legend.
    let rows = legend_rows(&els);
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        let kind = (r.colour, r.segments.min(2), r.band);
        if !seen.insert(kind) {
            bad.push(format!(
                "{id}: legend row {:?} drawn like another ({kind:?})",
                r.label
            ));
        }
    }
    let legend_colours: std::collections::HashSet<_> =
        rows.iter().filter_map(|r| r.colour).collect();
    let solid: Vec<_> = rows
        .iter()
        .filter(|r| r.segments == 1 && !r.band)
        .filter_map(|r| r.colour)
        .collect();
    let unique: std::collections::HashSet<_> = solid.iter().collect();
    if unique.len() != solid.len() {
        bad.push(format!("{id}: two lines share a colour: {solid:?}"));
    }
    for e in els[..li].iter() {
        if let Some(c) = e.colour() {
            // Heatmap cells shade between the ends of their colour scale.
            if !legend_colours.contains(&c)
                && !id.starts_with("heatmap")
                && !id.starts_with("fleet")
            {
                bad.push(format!(
                    "{id}: colour {c:?} in the plot is not in the legend"
                ));
                break;
            }
        }
    }
    bad.extend(tick_problems(id, &els[..li]));
    bad
}

/// Tick labels: grouped by axis (right-aligned at one x: a y axis; centred at one y: an
/// x axis), each group in one format, and no negative value.
pub fn tick_problems(id: &str, els: &[El]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut groups: std::collections::BTreeMap<(String, i64), Vec<String>> = Default::default();
    for t in els
        .iter()
        .filter(|e| e.name == "text" && e.get("transform").is_none() && !e.text.is_empty())
    {
        let key = match t.get("text-anchor") {
            Some("end") | Some("start") => (
                format!("y{}", t.get("text-anchor").unwrap()),
                t.num("x") as i64,
            ),
            _ => ("x".to_string(), t.num("y") as i64),
        };
        groups.entry(key).or_default().push(t.text.clone());
    }
    for (axis, labels) in groups.into_iter().filter(|g| g.1.len() >= 3) {
        let class = |l: &str| -> String {
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if let Some(p) = l.strip_suffix('%') {
                return format!(
                    "percent{}",
                    p.split_once('.').map_or(0, |d| d.1.len()).min(1)
                );
            }
            if l.len() > 1
                && l[..l.len() - 1].chars().all(|c| c.is_ascii_digit())
                && l.ends_with(['K', 'M', 'G'])
            {
                return "size".into();
            }
            if digits(l) {
                return "integer".into();
            }
            match l.split_once('.') {
                Some((a, b)) if digits(a) && digits(b) => format!("decimal{}", b.len()),
                _ => "text".into(),
            }
        };
        for l in &labels {
            if l.starts_with('-') || l.starts_with('−') {
                bad.push(format!("{id}: negative tick {l} on axis {axis:?}"));
            }
        }
        let mut classes: std::collections::BTreeSet<String> =
            labels.iter().map(|l| class(l)).collect();
        // A size axis may hold small byte counts (512) and the `auto` category.
        if classes.contains("size") {
            let small = labels
                .iter()
                .all(|l| class(l) != "integer" || l.parse::<u64>().unwrap() < 1024);
            if small {
                classes.remove("integer");
            }
            if labels.iter().any(|l| l == "auto")
                && labels.iter().filter(|l| class(l) == "text").count() == 1
            {
                classes.remove("text");
            }
        }
        // Percentiles: 90%, 99%, 99.9% are one format.
        if classes.iter().all(|c| c.starts_with("percent")) {
            classes = ["percent".to_string()].into();
        }
        if classes.len() > 1 {
            bad.push(format!(
                "{id}: tick labels in mixed formats on axis {axis:?}: {labels:?}"
            ));
        }
    }
    bad
}

//! Reading a workload file's TOML: each table and value, with the line and column of
//! every mistake.

use super::*;

/// The message for a top-level key a workload does not take.
pub(super) fn unknown_top_key(other: &str) -> String {
    let hint = if known_keys().contains(&other) || other.contains('.') {
        format!("a knob goes in [defaults] or [matrix]; expected {TOP_KEYS}")
    } else {
        let top = [
            "name",
            "description",
            "repeat",
            "shuffle",
            "seed",
            "defaults",
            "matrix",
            "case",
        ];
        match nearest_key(other, &top) {
            Some(near) => format!("did you mean '{near}'?"),
            None => format!("expected {TOP_KEYS}"),
        }
    };
    format!("unknown key '{other}' ({hint})")
}

/// Parsing context: the text, for turning spans into lines and columns.
pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) source: &'a str,
}

impl Ctx<'_> {
    pub(super) fn at(&self, at: Option<Pos>, msg: impl std::fmt::Display) -> WorkloadError {
        WorkloadError::At {
            file: self.source.to_string(),
            at,
            problem: msg.to_string(),
        }
    }

    pub(super) fn err(&self, offset: usize, msg: impl std::fmt::Display) -> WorkloadError {
        self.at(Some(pos_of(self.text, offset)), msg)
    }

    /// The `[[case]]` tables.
    pub(super) fn cases(
        &self,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<Vec<Vec<Setting>>, WorkloadError> {
        let DeValue::Array(cases) = value.get_ref() else {
            return Err(self.err(value.span().start, "case: expected tables ([[case]])"));
        };
        let mut out = Vec::new();
        for c in cases.iter() {
            let DeValue::Table(t) = c.get_ref() else {
                return Err(self.err(c.span().start, "case: expected a table"));
            };
            let settings = self.flatten(t, "")?;
            if let Some(s) = settings.iter().find(|s| RUN_KEYS.contains(&s.key.as_str())) {
                return Err(self.at(
                    s.at,
                    format!("{} applies to the whole run, not to one case", s.key),
                ));
            }
            out.push(settings);
        }
        Ok(out)
    }

    pub(super) fn scalar(
        &self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
    ) -> Result<Setting, WorkloadError> {
        let value = scalar_text(v.get_ref()).ok_or_else(|| {
            self.err(
                v.span().start,
                format!("{key}: expected a string, number or boolean"),
            )
        })?;
        Ok(Setting {
            key: key.to_string(),
            value,
            at: Some(pos_of(self.text, v.span().start)),
        })
    }

    /// The settings of a table; `sender.x` / `receiver.x` sub-tables flatten to dotted keys.
    pub(super) fn flatten(
        &self,
        t: &DeTable<'_>,
        prefix: &str,
    ) -> Result<Vec<Setting>, WorkloadError> {
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let key = format!("{prefix}{}", k.get_ref());
            match v.get_ref() {
                DeValue::Table(sub)
                    if prefix.is_empty() && (key == "sender" || key == "receiver") =>
                {
                    out.extend(self.flatten(sub, &format!("{key}."))?);
                }
                DeValue::Table(sub) if takes_dist(&key) => {
                    out.push(self.dist_setting(&key, sub, v.span().start)?);
                }
                DeValue::Table(_) | DeValue::Array(_) => {
                    return Err(self.err(
                        v.span().start,
                        format!("{key}: expected one value (lists go in [matrix])"),
                    ));
                }
                _ => {
                    let s = self.scalar(&key, v)?;
                    if !RUN_KEYS.contains(&key.as_str()) {
                        check_setting(&s).map_err(|e| self.at(s.at, e))?;
                    }
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn matrix(
        &self,
        t: &DeTable<'_>,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<Setting>)>, WorkloadError> {
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let key = format!("{prefix}{}", k.get_ref());
            match v.get_ref() {
                DeValue::Table(sub)
                    if prefix.is_empty() && (key == "sender" || key == "receiver") =>
                {
                    out.extend(self.matrix(sub, &format!("{key}."))?);
                }
                DeValue::Array(items) => {
                    if RUN_KEYS.contains(&key.as_str()) {
                        return Err(self.err(
                            v.span().start,
                            format!("{key} applies to the whole run and cannot be swept"),
                        ));
                    }
                    if items.is_empty() {
                        return Err(self.err(
                            v.span().start,
                            format!("{key}: an empty list sweeps nothing"),
                        ));
                    }
                    let mut values = Vec::new();
                    for item in items.iter() {
                        if let (DeValue::Table(sub), true) = (item.get_ref(), takes_dist(&key)) {
                            values.push(self.dist_setting(&key, sub, item.span().start)?);
                            continue;
                        }
                        let s = self.scalar(&key, item)?;
                        check_setting(&s).map_err(|e| self.at(s.at, e))?;
                        values.push(s);
                    }
                    out.push((key, values));
                }
                DeValue::String(text) if text.contains("..") => {
                    let at = Some(pos_of(self.text, v.span().start));
                    let values = size_range(&key, text).map_err(|e| self.at(at, e))?;
                    let values: Vec<Setting> = values
                        .into_iter()
                        .map(|value| Setting {
                            key: key.clone(),
                            value,
                            at,
                        })
                        .collect();
                    for s in &values {
                        check_setting(s).map_err(|e| self.at(s.at, e))?;
                    }
                    out.push((key, values));
                }
                _ => {
                    return Err(self.err(
                        v.span().start,
                        format!("{key}: a matrix entry is a list of values, e.g. {key} = [\"a\", \"b\"], or a size range, e.g. {key} = \"16K..16M\""),
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl Ctx<'_> {
    /// A size distribution written as an inline table, `{dist = "lognormal", median =
    /// "1K", p99 = "64K"}`, as the setting text the knob parser takes. A mistake points
    /// at the entry it concerns; an empirical file is found beside the workload file.
    pub(super) fn dist_setting(
        &self,
        key: &str,
        t: &DeTable<'_>,
        at: usize,
    ) -> Result<Setting, WorkloadError> {
        let mut dist: Option<String> = None;
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut spans: Vec<(String, usize)> = Vec::new();
        for (k, v) in t.iter() {
            let name = k.get_ref().to_string();
            let text = scalar_text(v.get_ref()).ok_or_else(|| {
                self.err(
                    v.span().start,
                    format!("{key}.{name}: expected a string or a number"),
                )
            })?;
            spans.push((name.clone(), v.span().start));
            if name == "dist" {
                dist = Some(text);
            } else {
                fields.push((name, text));
            }
        }
        let Some(dist) = dist else {
            return Err(self.err(
                at,
                format!(
                    "{key}: a size table needs dist = one of {}",
                    crate::spec::dist::DISTS
                ),
            ));
        };
        let base = Path::new(self.source).parent();
        let text = crate::spec::dist::dist_text(&dist, &fields);
        let parsed = if key == "think_time" {
            crate::spec::dist::TimeDist::parse(&text).map(|t| t.text())
        } else {
            crate::spec::dist::DistSpec::parse(&text, base).map(|d| d.text())
        };
        let value = parsed.map_err(|e| {
            let offset = e
                .field
                .as_ref()
                .and_then(|f| spans.iter().find(|(n, _)| n == f))
                .map_or(at, |(_, o)| *o);
            self.err(offset, format!("{key}: {}", e.msg))
        })?;
        let s = Setting {
            key: key.to_string(),
            value,
            at: Some(pos_of(self.text, at)),
        };
        check_setting(&s).map_err(|e| self.at(s.at, e))?;
        Ok(s)
    }
}

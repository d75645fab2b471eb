//! Setting values: several assignments in one, `--set` lists, inline distributions,
//! size ranges, and the check of one setting where it stands.

use super::*;

/// `--set 'a=1 b=2'`: several assignments in one, written as they should be
/// (`--set a=1 --set b=2`); None for one assignment.
pub(super) fn several_assignments(key: &str, value: &str) -> Option<String> {
    let value = value.trim();
    // The first value: a list up to its last bracket (TOML or not), else the first word.
    let (first, rest) = match value.starts_with('[') {
        true => value.split_at(value.rfind(']').map_or(value.len(), |i| i + 1)),
        false => value.split_at(value.find(char::is_whitespace).unwrap_or(value.len())),
    };
    let rest: Vec<&str> = rest.split_whitespace().collect();
    let several = !rest.is_empty()
        && DeValue::parse(value).is_err()
        && rest.iter().all(|w| {
            w.split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && !k.contains(['"', '[', '\'']))
        });
    several.then(|| {
        std::iter::once(format!("{key}={first}"))
            .chain(rest.iter().map(|w| w.to_string()))
            .map(|a| format!("--set {a}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// `--set`'s value as TOML or a bare word: the list it sweeps, if it is one, and the text
/// of the single value it is otherwise. A key of free text (`lists` false: a name, a
/// description) takes a value that starts with `[` as its text.
pub(super) fn set_values(
    value: &str,
    lists: bool,
) -> Result<(Option<Vec<String>>, String), ConfigError> {
    let parsed = DeValue::parse(value.trim()).ok();
    if let (None, Some(inner), true) = (&parsed, value.trim().strip_prefix('['), lists) {
        return Err(not_a_list(
            value.trim(),
            inner.strip_suffix(']').unwrap_or(inner),
        ));
    }
    let values: Option<Vec<String>> = match parsed.as_ref().map(|v| v.get_ref()) {
        Some(DeValue::Array(items)) => Some(
            items
                .iter()
                .map(|i| match i.get_ref() {
                    DeValue::Table(t) => inline_dist_text(t),
                    v => scalar_text(v).ok_or_else(|| {
                        ConfigError::value(
                            "list items must be strings, numbers, booleans or size tables",
                        )
                    }),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => None,
    };
    let single = match parsed.as_ref().map(|v| v.get_ref()) {
        Some(
            v
            @ (DeValue::String(_) | DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)),
        ) => scalar_text(v).unwrap_or_default(),
        // `msg_size={dist="lognormal", median="1K", p99="64K"}`, as in a workload file.
        Some(DeValue::Table(t)) => inline_dist_text(t)?,
        _ => value.trim().to_string(),
    };
    Ok((values, single))
}

/// A `--set` list that is not TOML (`[64K,1M]`): how to write it (`["64K", "1M"]`).
fn not_a_list(value: &str, inner: &str) -> ConfigError {
    // The items, a distribution's further fields (`max=1400`) kept with it.
    let mut items: Vec<String> = Vec::new();
    for v in inner.split(',').map(|v| v.trim().trim_matches(['"', '\''])) {
        match items.last_mut() {
            Some(last) if v.contains('=') && !v.contains(':') => *last = format!("{last},{v}"),
            _ => items.push(v.to_string()),
        }
    }
    let quoted: Vec<String> = (items.iter())
        .map(
            |v| match DeValue::parse(v.as_str()).map(|d| d.into_inner()) {
                Ok(DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)) => v.to_string(),
                _ => format!("\"{v}\""),
            },
        )
        .collect();
    ConfigError::Value(format!(
        "'{value}' is not a TOML list: quote each value that is not a number or a boolean, \
         as in [{}] (in a shell, inside single quotes)",
        quoted.join(", ")
    ))
}

/// An inline table given to `--set` (`{dist="lognormal", median="1K", p99="64K"}`) as the
/// `DIST:KEY=VALUE,...` text the knob parsers read; they check the fields.
pub(super) fn inline_dist_text(t: &DeTable<'_>) -> Result<String, ConfigError> {
    let mut dist = None;
    let mut fields = Vec::new();
    for (k, v) in t.iter() {
        let name = k.get_ref().to_string();
        let text = scalar_text(v.get_ref()).ok_or_else(|| {
            ConfigError::Value(format!(
                "{name}: expected a string or a number in the table"
            ))
        })?;
        if name == "dist" {
            dist = Some(text);
        } else {
            fields.push((name, text));
        }
    }
    let dist = dist.ok_or_else(|| {
        ConfigError::Value(format!(
            "a size table needs dist = one of {}",
            crate::spec::dist::DISTS
        ))
    })?;
    Ok(crate::spec::dist::dist_text(&dist, &fields))
}

/// Whether a knob's value turns something on (`nodelay = false` or `sndbuf = "auto"` on a
/// case it does not apply to is no loss worth naming).
pub(super) fn sets_something(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "false" | "off" | "no" | "0" | "auto" | "none" | ""
    )
}

/// A size range `"16K..16M"`: the first end, every power of two strictly between the two,
/// and the last end, in the order written (`"16M..16K"` runs downwards). Each value is
/// written as a user would type it (`64K`).
pub fn size_range(key: &str, text: &str) -> Result<Vec<String>, ConfigError> {
    if !is_size_key(key) {
        let sizes = size_keys();
        return Err(ConfigError::Value(format!(
            "{key}: '{text}' is a range, which only a size takes ({}); list the values instead",
            sizes.join(", ")
        )));
    }
    let bad = || {
        ConfigError::Value(format!(
            "{key}: '{text}' is not a size range such as \"16K..16M\""
        ))
    };
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (a, b) = (
        crate::spec::units::parse_size(a).map_err(|_| bad())?,
        crate::spec::units::parse_size(b.trim_start_matches('=')).map_err(|_| bad())?,
    );
    let (lo, hi) = (a.min(b), a.max(b));
    if lo == 0 {
        return Err(ConfigError::Value(format!(
            "{key}: '{text}': a range starts above 0"
        )));
    }
    let mut sizes = vec![lo];
    let mut p = lo.next_power_of_two();
    if p == lo {
        p = p.saturating_mul(2);
    }
    while p < hi {
        sizes.push(p);
        p = p.saturating_mul(2);
    }
    if hi != lo {
        sizes.push(hi);
    }
    if sizes.len() > 64 {
        return Err(bad());
    }
    if a > b {
        sizes.reverse();
    }
    Ok(sizes
        .into_iter()
        .map(crate::spec::units::format_size)
        .collect())
}

/// Checks one setting alone: a known key, a value its parser takes, and a test of the
/// defaults with just this setting that validates on some protocol (an MSS of 10 is wrong
/// anywhere; `gso = true` is right on udp, which another setting may choose).
pub(super) fn check_setting(s: &Setting) -> Result<(), ConfigError> {
    if let Some(msg) = unknown_key(&s.key) {
        return Err(ConfigError::Value(msg));
    }
    let mut b = SpecBuilder::new();
    b.set(&s.key, &s.value)?;
    // Arrivals, connection reuse and pipelining apply to patterns that other settings
    // choose: the case is checked whole when it is built.
    if matches!(
        s.key.as_str(),
        "arrival" | "requests_per_conn" | "pipeline" | "think_time"
    ) {
        return Ok(());
    }
    let first = match b.build() {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    if s.key != "proto" {
        for p in [Protocol::Udp, Protocol::UnixStream, Protocol::UnixDgram] {
            let mut on = SpecBuilder::new();
            on.set("proto", p.as_str())?;
            on.set(&s.key, &s.value)?;
            if on.build().is_ok() {
                return Ok(());
            }
        }
    }
    Err(first)
}

pub(super) fn scalar_text(v: &DeValue<'_>) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let digits = digits
                .trim_start_matches("0x")
                .trim_start_matches("0o")
                .trim_start_matches("0b");
            i64::from_str_radix(digits, i.radix())
                .ok()
                .map(|n| n.to_string())
        }
        DeValue::Float(f) => Some(f.as_str().replace('_', "")),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

//! Workload files: `[defaults]`, a `[matrix]` whose cartesian product gives the cases,
//! explicit `[[case]]` tables, and run-level keys (`repeat`, `shuffle`, `seed`). Every
//! setting is checked where it stands, so a mistake is reported with its file, line and
//! column before any traffic. `--set KEY=VALUE` and the knob flags edit a workload the same
//! way a file does.

use std::path::Path;

use thiserror::Error;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::spec::config::{ConfigError, Protocol, SpecBuilder, TestSpec, KNOB_KEYS};
use crate::spec::knobs::{knob, knob_works_on, socket_keys, KNOBS};
use crate::sys::HOST;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct WorkloadError(pub String);

/// Where a setting stands in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One `key = value`, as text the knob parser takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub at: Option<Pos>,
}

/// A case of the run: its settings beyond the defaults, and the resolved test.
#[derive(Debug, Clone, Default)]
pub struct PlannedCase {
    /// `sndbuf=64K rcvbuf=auto`: what distinguishes this case.
    pub label: String,
    pub spec: TestSpec,
    /// In a sweep, the knobs set for the run that do not apply to this case's protocol
    /// (`nodelay` on a udp case) and were left out of it, as written (`sender.mss`).
    pub not_applicable: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub name: String,
    pub description: String,
    /// The file it came from, or "command line".
    pub source: String,
    pub defaults: Vec<Setting>,
    /// Matrix dimensions in file order; the last varies fastest.
    pub matrix: Vec<(String, Vec<Setting>)>,
    pub cases: Vec<Vec<Setting>>,
    pub repeat: u32,
    pub shuffle: bool,
    pub seed: Option<u64>,
}

const RUN_KEYS: &[&str] = &["repeat", "shuffle", "seed"];
const TOP_KEYS: &str = "name, description, repeat, shuffle, seed, [defaults], [matrix], [[case]]";

/// More tests than this in one run (cases × repetitions) are refused without `--force`:
/// a typo in a matrix should not start a week of traffic.
pub const MAX_RUNS: u64 = 100_000;

/// The largest workload file read: far beyond any real one, and short of what a mistaken
/// path (a log, a disk image) would cost.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Whether a socket knob means anything on `proto` (what `SocketKnobs::validate` refuses
/// otherwise, from the knob table); the keys of the test as a whole apply to every
/// protocol.
pub fn knob_applies(key: &str, proto: Protocol) -> bool {
    knob(key).map_or(true, |k| k.applies.to(proto))
}

/// Every key a workload file or `--set` takes.
pub fn known_keys() -> Vec<&'static str> {
    ["name", "description"]
        .iter()
        .chain(RUN_KEYS)
        .chain(KNOB_KEYS)
        .copied()
        .chain(socket_keys())
        .collect()
}

/// The known key nearest to a mistyped one, if one is near enough to be what was meant.
pub fn nearest_key<'a>(key: &str, among: &[&'a str]) -> Option<&'a str> {
    let key = key.replace('-', "_");
    among
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1) || k.contains(&*key) && key.len() >= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `None` for a key that a workload or `--set` takes; else the message: the nearest known
/// key when one is close, or the list of them.
fn unknown_key(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('.') {
        Some((side @ ("sender" | "receiver"), k)) => (Some(side), k),
        _ => (None, key),
    };
    let among: Vec<&str> = match prefix {
        Some(_) if knob(name).is_some() || KNOB_KEYS.contains(&name) => return None,
        Some(_) => socket_keys().collect(),
        None if known_keys().contains(&name) => return None,
        None => known_keys(),
    };
    let side = prefix.map(|p| format!("{p}.")).unwrap_or_default();
    Some(match nearest_key(name, &among) {
        Some(near) => format!("unknown key '{key}' (did you mean '{side}{near}'?)"),
        None => format!("unknown key '{key}' (known: {})", among.join(", ")),
    })
}

fn pos_of(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Pos { line, col }
}

impl Workload {
    /// An empty workload (one case of defaults) named `name`, for flags-only runs.
    pub fn new(name: &str) -> Workload {
        Workload {
            name: name.to_string(),
            source: "command line".into(),
            repeat: 1,
            ..Default::default()
        }
    }

    pub fn from_file(path: &Path) -> Result<Workload, WorkloadError> {
        let shown = path.display();
        // A FIFO or a device would block or never end: only a regular file is read.
        let meta = std::fs::metadata(path).map_err(|e| WorkloadError(format!("{shown}: {e}")))?;
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            return Err(WorkloadError(format!(
                "{shown}: {what}; a workload is a TOML file (workloads/*.toml)"
            )));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(WorkloadError(format!(
                "{shown}: {} bytes is too large for a workload file (at most {MAX_FILE_BYTES})",
                meta.len()
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| WorkloadError(format!("{shown}: {e}")))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Workload::parse(&text, &path.display().to_string(), &stem)
    }

    /// Parses a workload's text. `source` names it in messages; `default_name` is used when
    /// the file has no `name`.
    pub fn parse(text: &str, source: &str, default_name: &str) -> Result<Workload, WorkloadError> {
        let err_at = |offset: usize, msg: String| {
            let p = pos_of(text, offset);
            WorkloadError(format!("{source}:{}:{}: {msg}", p.line, p.col))
        };
        let doc = DeTable::parse(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            err_at(offset, format!("not valid TOML: {}", e.message().trim()))
        })?;
        if doc.get_ref().iter().next().is_none() {
            return Err(WorkloadError(format!(
                "{source}: the workload is empty; give it [defaults], a [matrix] or [[case]] tables (see workloads/quickstart.toml), or run without a file for one default test"
            )));
        }
        let mut w = Workload::new(default_name);
        w.source = source.to_string();
        let ctx = Ctx { text, source };
        for (key, value) in doc.get_ref().iter() {
            let k: &str = key.get_ref();
            let at = value.span().start;
            match k {
                "name" | "description" => {
                    let s = value
                        .get_ref()
                        .as_str()
                        .ok_or_else(|| err_at(at, format!("{k}: expected a string")))?;
                    if k == "name" {
                        w.name = s.to_string();
                    } else {
                        w.description = s.to_string();
                    }
                }
                "repeat" | "shuffle" | "seed" => {
                    let s = ctx.scalar(k, value)?;
                    w.set_run_key(&s).map_err(|e| err_at(at, e.0))?;
                }
                "defaults" => {
                    let DeValue::Table(t) = value.get_ref() else {
                        return Err(err_at(at, "defaults: expected a table ([defaults])".into()));
                    };
                    for s in ctx.flatten(t, "")? {
                        if RUN_KEYS.contains(&s.key.as_str()) {
                            w.set_run_key(&s).map_err(|e| ctx.at(s.at, e))?;
                        } else {
                            w.defaults.push(s);
                        }
                    }
                }
                "matrix" => {
                    let DeValue::Table(t) = value.get_ref() else {
                        return Err(err_at(at, "matrix: expected a table ([matrix])".into()));
                    };
                    w.matrix = ctx.matrix(t, "")?;
                    if w.matrix.is_empty() {
                        return Err(err_at(at, "the matrix is empty: give each swept knob a list of values, e.g. sndbuf = [\"64K\", \"1M\"]".into()));
                    }
                }
                "case" => w.cases = ctx.cases(value)?,
                other => {
                    return Err(ctx.err(key.span().start, unknown_top_key(other)));
                }
            }
        }
        // Every combination is checked now, unless there are too many to build: the
        // caller refuses such a run from its count (`case_count`) before building it.
        if w.case_count() <= MAX_RUNS {
            w.expand()?;
        }
        Ok(w)
    }

    /// How many cases `expand` gives, computed from the matrix's dimensions without
    /// building them (saturating: a count beyond u64 is u64::MAX).
    pub fn case_count(&self) -> u64 {
        let product = if self.matrix.is_empty() {
            u64::from(self.cases.is_empty())
        } else {
            self.matrix
                .iter()
                .fold(1u64, |n, (_, values)| n.saturating_mul(values.len() as u64))
        };
        product.saturating_add(self.cases.len() as u64)
    }

    /// The keys whose values differ between cases: the matrix's, then those of the
    /// explicit cases, in order, each once.
    pub fn varied_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let all = self
            .matrix
            .iter()
            .map(|(k, _)| k)
            .chain(self.cases.iter().flatten().map(|s| &s.key));
        for k in all {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        keys
    }

    fn set_run_key(&mut self, s: &Setting) -> Result<(), ConfigError> {
        let v = s.value.trim();
        match s.key.as_str() {
            "repeat" => match v.parse::<u32>() {
                Ok(n) if n >= 1 => self.repeat = n,
                _ => {
                    return Err(ConfigError(format!(
                        "repeat: '{v}' is not a whole number of 1 or more"
                    )))
                }
            },
            "shuffle" => {
                self.shuffle = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ConfigError(format!("shuffle: '{v}' is not true or false"))),
                }
            }
            "seed" => {
                self.seed = Some(
                    v.parse()
                        .map_err(|_| ConfigError(format!("seed: '{v}' is not a whole number")))?,
                )
            }
            other => return Err(ConfigError(format!("unknown run key '{other}'"))),
        }
        Ok(())
    }

    /// Sets one knob for every case (a knob flag): replaces the default and any sweep of
    /// the same key.
    pub fn set_default(&mut self, key: &str, value: &str) {
        self.defaults.retain(|d| d.key != key);
        self.defaults.push(Setting {
            key: key.to_string(),
            value: value.to_string(),
            at: None,
        });
        self.matrix.retain(|(k, _)| k != key);
    }

    /// Applies `--set KEY=VALUE`. VALUE is TOML (`1`, `true`, `"64K"`, `["16K", "64K"]`)
    /// or a bare word (`64K`). A list sweeps the key; a single value sets it for every case.
    pub fn set(&mut self, assignment: &str) -> Result<(), WorkloadError> {
        let bad = |msg: String| WorkloadError(format!("--set {assignment}: {msg}"));
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE".to_string()))?;
        // `msg-size`, as the flag is spelled, is the key `msg_size`.
        let key = key.trim().replace('-', "_");
        let key = key.as_str();
        if let Some(each) = several_assignments(key, value) {
            return Err(bad(format!("one assignment per --set: {each}")));
        }
        let (section, key) = match key.split_once('.') {
            Some(("matrix", k)) => (Some("matrix"), k),
            Some(("defaults", k)) => (Some("defaults"), k),
            _ => (None, key),
        };
        let (values, single) = set_values(value).map_err(|e| bad(e.0))?;
        // `--set sndbuf=16K..16M`: a size range sweeps every power of two between.
        let values = match values {
            None if single.contains("..") => Some(size_range(key, &single).map_err(|e| bad(e.0))?),
            v => v,
        };
        self.assign(section, key, values, single)
            .map_err(|e| bad(e.0))
    }

    /// `--set`'s value (a list, or one value) given to a key, in [matrix] or [defaults] if
    /// the key said so.
    fn assign(
        &mut self,
        section: Option<&str>,
        key: &str,
        values: Option<Vec<String>>,
        single: String,
    ) -> Result<(), ConfigError> {
        let setting = |v: String| Setting {
            key: key.to_string(),
            value: v,
            at: None,
        };
        let refuse = |msg: &str| Err(ConfigError(msg.to_string()));
        match (key, values) {
            ("name", None) => self.name = single,
            ("description", None) => self.description = single,
            (k, None) if RUN_KEYS.contains(&k) => self.set_run_key(&setting(single))?,
            (k, Some(_)) if RUN_KEYS.contains(&k) || k == "name" || k == "description" => {
                return refuse(&format!("{k} takes one value, not a list"));
            }
            (_, Some(_)) if section == Some("defaults") => {
                return refuse("defaults take one value, not a list")
            }
            (_, Some(list)) if list.is_empty() => return refuse("an empty list sweeps nothing"),
            (_, Some(list)) => {
                let settings: Vec<Setting> = list.into_iter().map(setting).collect();
                for s in &settings {
                    check_setting(s)?;
                }
                match self.matrix.iter_mut().find(|(k, _)| k == key) {
                    Some((_, vals)) => *vals = settings,
                    None => self.matrix.push((key.to_string(), settings)),
                }
            }
            (_, None) if section == Some("matrix") => {
                return refuse("a matrix key takes a list, e.g. [\"64K\", \"1M\"]")
            }
            (_, None) => {
                check_setting(&setting(single.clone()))?;
                // A single value on the command line overrides a sweep of the same knob.
                self.set_default(key, &single);
            }
        }
        Ok(())
    }

    /// The cases of the run in order: the matrix's product, then the explicit cases; a
    /// workload with neither is one case of its defaults.
    pub fn expand(&self) -> Result<Vec<PlannedCase>, WorkloadError> {
        let sweep = self.case_count() > 1;
        let mut combos: Vec<Vec<&Setting>> = vec![Vec::new()];
        for (_, values) in &self.matrix {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut next = c.clone();
                        next.push(v);
                        next
                    })
                })
                .collect();
        }
        if self.matrix.is_empty() && !self.cases.is_empty() {
            combos.clear();
        }
        combos.extend(self.cases.iter().map(|c| c.iter().collect()));
        let mut out = Vec::with_capacity(combos.len());
        for (i, combo) in combos.iter().enumerate() {
            let label = combo
                .iter()
                .map(|s| format!("{}={}", s.key, s.value))
                .collect::<Vec<_>>()
                .join(" ");
            // In a sweep, a knob that does not apply to this case's protocol (nodelay on
            // udp) is left out of this case and named; a single case is refused instead.
            let proto = self
                .defaults
                .iter()
                .chain(combo.iter().copied())
                .rfind(|s| s.key == "proto")
                .and_then(|s| s.value.parse::<Protocol>().ok())
                .unwrap_or(TestSpec::default().protocol);
            let mut not_applicable: Vec<String> = Vec::new();
            let mut b = SpecBuilder::new();
            for s in self.defaults.iter().chain(combo.iter().copied()) {
                let knob = s.key.rsplit('.').next().unwrap_or(&s.key);
                // So is a knob this host's system cannot apply (--gso off Linux).
                if sweep && !(knob_applies(knob, proto) && knob_works_on(knob, HOST)) {
                    if sets_something(&s.value) && !not_applicable.contains(&s.key) {
                        not_applicable.push(s.key.clone());
                    }
                    continue;
                }
                b.set(&s.key, &s.value)
                    .map_err(|e| self.located(s.at, e.0))?;
            }
            let spec = b.build().map_err(|e| {
                let what = if label.is_empty() {
                    String::new()
                } else {
                    format!(" ({label})")
                };
                WorkloadError(format!("{}: case {}{what}: {e}", self.source, i + 1))
            })?;
            out.push(PlannedCase {
                label,
                spec,
                not_applicable,
            });
        }
        Ok(out)
    }

    fn located(&self, at: Option<Pos>, msg: String) -> WorkloadError {
        match at {
            Some(p) => WorkloadError(format!("{}:{}:{}: {msg}", self.source, p.line, p.col)),
            None => WorkloadError(format!("{}: {msg}", self.source)),
        }
    }
}

/// `--set 'a=1 b=2'`: several assignments in one, written as they should be
/// (`--set a=1 --set b=2`); None for one assignment.
fn several_assignments(key: &str, value: &str) -> Option<String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let several = words.len() > 1
        && DeValue::parse(value.trim()).is_err()
        && words[1..].iter().all(|w| {
            w.split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && !k.contains(['"', '[', '\'']))
        });
    several.then(|| {
        std::iter::once(format!("{key}={}", words[0]))
            .chain(words[1..].iter().map(|w| w.to_string()))
            .map(|a| format!("--set {a}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// `--set`'s value as TOML or a bare word: the list it sweeps, if it is one, and the text
/// of the single value it is otherwise.
fn set_values(value: &str) -> Result<(Option<Vec<String>>, String), ConfigError> {
    let parsed = DeValue::parse(value.trim()).ok();
    let values: Option<Vec<String>> = match parsed.as_ref().map(|v| v.get_ref()) {
        Some(DeValue::Array(items)) => Some(
            items
                .iter()
                .map(|i| match i.get_ref() {
                    DeValue::Table(t) => inline_dist_text(t),
                    v => scalar_text(v).ok_or_else(|| {
                        ConfigError::new(
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

/// An inline table given to `--set` (`{dist="lognormal", median="1K", p99="64K"}`) as the
/// `DIST:KEY=VALUE,...` text the knob parsers read; they check the fields.
fn inline_dist_text(t: &DeTable<'_>) -> Result<String, ConfigError> {
    let mut dist = None;
    let mut fields = Vec::new();
    for (k, v) in t.iter() {
        let name = k.get_ref().to_string();
        let text = scalar_text(v.get_ref()).ok_or_else(|| {
            ConfigError(format!(
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
        ConfigError(format!(
            "a size table needs dist = one of {}",
            crate::spec::dist::DISTS
        ))
    })?;
    Ok(crate::spec::dist::dist_text(&dist, &fields))
}

/// Whether a knob's value turns something on (`nodelay = false` or `sndbuf = "auto"` on a
/// case it does not apply to is no loss worth naming).
fn sets_something(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "false" | "off" | "no" | "0" | "auto" | "none" | ""
    )
}

/// The keys of the test as a whole whose value is a byte size.
const TEST_SIZE_KEYS: &[&str] = &["msg_size", "response_size", "probe_size"];

/// The keys whose value is a byte size, which a matrix may sweep as a range: the socket
/// knobs that take a SIZE, and the test's sizes.
fn size_keys() -> Vec<&'static str> {
    KNOBS
        .iter()
        .filter(|k| k.takes_size())
        .map(|k| k.key)
        .chain(TEST_SIZE_KEYS.iter().copied())
        .collect()
}

/// A size range `"16K..16M"`: the first end, every power of two strictly between the two,
/// and the last end, in the order written (`"16M..16K"` runs downwards). Each value is
/// written as a user would type it (`64K`).
pub fn size_range(key: &str, text: &str) -> Result<Vec<String>, ConfigError> {
    let knob = key.rsplit('.').next().unwrap_or(key);
    let sizes = size_keys();
    if !sizes.contains(&knob) {
        return Err(ConfigError(format!(
            "{key}: '{text}' is a range, which only a size takes ({}); list the values instead",
            sizes.join(", ")
        )));
    }
    let bad = || {
        ConfigError(format!(
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
        return Err(ConfigError(format!(
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
fn check_setting(s: &Setting) -> Result<(), ConfigError> {
    if let Some(msg) = unknown_key(&s.key) {
        return Err(ConfigError(msg));
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

fn scalar_text(v: &DeValue<'_>) -> Option<String> {
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

/// The message for a top-level key a workload does not take.
fn unknown_top_key(other: &str) -> String {
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
struct Ctx<'a> {
    text: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    fn at(&self, at: Option<Pos>, msg: impl std::fmt::Display) -> WorkloadError {
        match at {
            Some(p) => WorkloadError(format!("{}:{}:{}: {msg}", self.source, p.line, p.col)),
            None => WorkloadError(format!("{}: {msg}", self.source)),
        }
    }

    fn err(&self, offset: usize, msg: impl std::fmt::Display) -> WorkloadError {
        self.at(Some(pos_of(self.text, offset)), msg)
    }

    /// The `[[case]]` tables.
    fn cases(&self, value: &Spanned<DeValue<'_>>) -> Result<Vec<Vec<Setting>>, WorkloadError> {
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

    fn scalar(&self, key: &str, v: &Spanned<DeValue<'_>>) -> Result<Setting, WorkloadError> {
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
    fn flatten(&self, t: &DeTable<'_>, prefix: &str) -> Result<Vec<Setting>, WorkloadError> {
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let key = format!("{prefix}{}", k.get_ref());
            match v.get_ref() {
                DeValue::Table(sub)
                    if prefix.is_empty() && (key == "sender" || key == "receiver") =>
                {
                    out.extend(self.flatten(sub, &format!("{key}."))?);
                }
                DeValue::Table(sub) if is_size_key(&key) => {
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

    fn matrix(
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
                        if let (DeValue::Table(sub), true) = (item.get_ref(), is_size_key(&key)) {
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

/// The keys whose value may be a distribution table (sizes; think time).
fn is_size_key(key: &str) -> bool {
    matches!(key, "msg_size" | "response_size" | "think_time")
}

impl Ctx<'_> {
    /// A size distribution written as an inline table, `{dist = "lognormal", median =
    /// "1K", p99 = "64K"}`, as the setting text the knob parser takes. A mistake points
    /// at the entry it concerns; an empirical file is found beside the workload file.
    fn dist_setting(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Workload, WorkloadError> {
        Workload::parse(text, "w.toml", "w")
    }

    const SWEEP: &str = r#"
name = "buffers"
description = "what buffers do"

[defaults]
proto = "tcp"
duration = "2s"
repeat = 3

[matrix]
sndbuf = ["auto", "64K"]
rcvbuf = ["256K", "1M", "4M"]

[[case]]
proto = "udp"
msg_size = 1400
"#;

    #[test]
    fn the_matrix_expands_to_its_product_then_the_explicit_cases() {
        let w = parse(SWEEP).unwrap();
        assert_eq!((w.name.as_str(), w.repeat), ("buffers", 3));
        let cases = w.expand().unwrap();
        assert_eq!(cases.len(), 2 * 3 + 1);
        // The last key varies fastest.
        assert_eq!(cases[0].label, "sndbuf=auto rcvbuf=256K");
        assert_eq!(cases[1].label, "sndbuf=auto rcvbuf=1M");
        assert_eq!(cases[3].label, "sndbuf=64K rcvbuf=256K");
        assert_eq!(cases[3].spec.sender.sndbuf, Some(65536));
        assert_eq!(cases[3].spec.duration, std::time::Duration::from_secs(2));
        assert_eq!(cases[6].spec.protocol, crate::spec::config::Protocol::Udp);
        assert_eq!(cases[6].spec.msg_size, 1400);
    }

    #[test]
    fn per_side_knobs_and_defaults_only() {
        let w =
            parse("[defaults]\nsender.sndbuf = \"64K\"\n[defaults.receiver]\nrcvbuf = \"1M\"\n")
                .unwrap();
        let cases = w.expand().unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].spec.sender.sndbuf, Some(65536));
        assert_eq!(cases[0].spec.receiver.sndbuf, None);
        assert_eq!(cases[0].spec.receiver.rcvbuf, Some(1 << 20));
        let w = parse("[matrix]\nreceiver.rcvbuf = [\"64K\", \"1M\"]\n").unwrap();
        assert_eq!(w.expand().unwrap()[1].spec.receiver.rcvbuf, Some(1 << 20));
    }

    #[test]
    fn set_overrides_and_sweeps() {
        let mut w = parse(SWEEP).unwrap();
        w.set("repeat=1").unwrap();
        assert_eq!(w.repeat, 1);
        w.set(r#"msg_size=["16K", "64K"]"#).unwrap();
        w.set("rcvbuf=2M").unwrap();
        let cases = w.expand().unwrap();
        // sndbuf (2) x msg_size (2); rcvbuf left the matrix; plus the explicit case.
        assert_eq!(cases.len(), 2 * 2 + 1);
        assert!(cases[..4]
            .iter()
            .all(|c| c.spec.receiver.rcvbuf == Some(2 << 20)));
        assert_eq!(cases[1].label, "sndbuf=auto msg_size=64K");
        w.set("duration=1s").unwrap();
        assert_eq!(
            w.expand().unwrap()[0].spec.duration,
            std::time::Duration::from_secs(1)
        );
        w.set("shuffle=true").unwrap();
        w.set("seed=42").unwrap();
        assert!(w.shuffle && w.seed == Some(42));
        for bad in [
            "msg_size",
            "repeat=0",
            "colour=blue",
            "msg_size=[]",
            "sndbuf=lots",
            "repeat=[1,2]",
        ] {
            let err = w.set(bad).unwrap_err().0;
            assert!(err.starts_with(&format!("--set {bad}:")), "{err}");
        }
    }

    fn error_of(text: &str) -> String {
        parse(text).unwrap_err().0
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = error_of("name = \"x\"\n[defaults]\nproto = \"tcp\"\nmsg_size = \"lots\"\n");
        assert!(
            e.starts_with("w.toml:4:12: msg_size: 'lots' is not a size"),
            "{e}"
        );
        let e = error_of("[defaults]\n  sndbuff = \"64K\"\n");
        assert!(
            e.starts_with("w.toml:2:13:") && e.contains("unknown key 'sndbuff'"),
            "{e}"
        );
        let e = error_of("colour = \"blue\"\n");
        assert!(e.starts_with("w.toml:1:1: unknown key 'colour'"), "{e}");
        let e = error_of("[matrix]\n");
        assert!(
            e.starts_with("w.toml:1:1:") && e.contains("matrix is empty"),
            "{e}"
        );
        let e = error_of("[matrix]\nsndbuf = []\n");
        assert!(
            e.starts_with("w.toml:2:10:") && e.contains("empty list"),
            "{e}"
        );
        let e = error_of("[matrix]\nsndbuf = \"64K\"\n");
        assert!(
            e.starts_with("w.toml:2:10:") && e.contains("list of values"),
            "{e}"
        );
        let e = error_of("[defaults]\nduration = [1, 2]\n");
        assert!(e.starts_with("w.toml:2:12:"), "{e}");
        let e = error_of("[defaults]\nnodelay = 3\n");
        assert!(
            e.starts_with("w.toml:2:11: nodelay: '3' is not true or false"),
            "{e}"
        );
        let e = error_of("[defaults\nproto = 1\n");
        assert!(
            e.starts_with("w.toml:1:") && e.contains("not valid TOML"),
            "{e}"
        );
        let e = error_of("repeat = \"many\"\n");
        assert!(e.starts_with("w.toml:1:10: repeat:"), "{e}");
        // A combination that is invalid only as a whole names its case.
        let e = error_of(
            "[defaults]\npattern = \"rr\"\n[matrix]\ndirection = [\"forward\", \"bidir\"]\n",
        );
        assert!(e.contains("case 2 (direction=bidir)"), "{e}");
    }

    /// The table of which knob applies to which protocol agrees with the validation that
    /// refuses a knob on a protocol (so a sweep skips exactly what a single case refuses).
    #[test]
    fn knob_applicability_matches_validation() {
        let value = |key: &str| knob(key).unwrap().example;
        for proto in [
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Mptcp,
            Protocol::UnixStream,
            Protocol::UnixDgram,
        ] {
            for knob in socket_keys() {
                // Knobs whose other rules (pattern, combinations) are not the protocol's.
                if ["sendfile", "splice", "spin", "cpu_affinity"].contains(&knob) {
                    continue;
                }
                let mut b = SpecBuilder::new();
                b.set("proto", proto.as_str()).unwrap();
                b.set(knob, value(knob)).unwrap();
                let built = b.build();
                assert_eq!(
                    built.is_ok(),
                    knob_applies(knob, proto),
                    "{knob} on {proto}: {built:?}"
                );
            }
        }
    }

    #[test]
    fn a_sweep_leaves_out_what_does_not_apply_and_names_it() {
        let mut w = Workload::new("");
        w.set_default("nodelay", "true");
        w.set_default("sender.mss", "1000");
        w.set_default("cork", "false");
        w.set(r#"proto=["tcp","udp"]"#).unwrap();
        let cases = w.expand().unwrap();
        assert_eq!(cases[0].not_applicable, Vec::<String>::new());
        assert!(cases[0].spec.sender.nodelay);
        assert_eq!(cases[1].not_applicable, ["nodelay", "sender.mss"]);
        assert!(!cases[1].spec.sender.nodelay);
        // One case: refused, as before.
        let mut one = Workload::new("");
        one.set_default("nodelay", "true");
        one.set_default("proto", "udp");
        assert!(one
            .expand()
            .unwrap_err()
            .0
            .contains("--nodelay applies to tcp"));
        // A knob that needs a protocol other than the default is fine where it is set.
        let w = parse("[defaults]\nproto = \"udp\"\ngso = true\nbatch = 1\n").unwrap();
        assert!(w.expand().unwrap()[0].spec.sender.udp_gso.is_some());
    }

    #[test]
    fn a_size_range_sweeps_every_power_of_two() {
        let w =
            parse("[matrix]\nrcvbuf = \"4K..4M\"\ncongestion = [\"cubic\", \"reno\"]\n").unwrap();
        let values: Vec<&str> = w.matrix[0].1.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(
            values,
            ["4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M", "2M", "4M"]
        );
        assert_eq!(w.case_count(), 22);
        let cases = w.expand().unwrap();
        assert_eq!(cases[21].spec.receiver.rcvbuf, Some(4 << 20));
        assert_eq!(cases[0].label, "rcvbuf=4K congestion=cubic");
        // Ends that are not powers of two are kept; a reversed range runs downwards.
        assert_eq!(
            size_range("msg_size", "1400..5000").unwrap(),
            ["1400", "2K", "4K", "5000"]
        );
        assert_eq!(
            size_range("sndbuf", "64K..16K").unwrap(),
            ["64K", "32K", "16K"]
        );
        assert_eq!(size_range("sender.sndbuf", "1M..1M").unwrap(), ["1M"]);
        // --set takes the same range.
        let mut w = Workload::new("");
        w.set("sndbuf=16K..64K").unwrap();
        assert_eq!(w.case_count(), 3);
        assert_eq!(w.expand().unwrap()[2].spec.sender.sndbuf, Some(64 << 10));
        // Mistakes are named with their place.
        let e = error_of("[matrix]\nsndbuf = \"16K..lots\"\n");
        assert!(
            e.starts_with("w.toml:2:10: sndbuf: '16K..lots' is not a size range"),
            "{e}"
        );
        let e = error_of("[matrix]\ncongestion = \"a..b\"\n");
        assert!(e.contains("only a size takes"), "{e}");
        assert!(size_range("rcvbuf", "0..4K").is_err());
        assert!(Workload::new("")
            .set("flows=1..4")
            .unwrap_err()
            .0
            .contains("only a size"));
    }

    #[test]
    fn cases_are_counted_without_building_them() {
        let w = parse(SWEEP).unwrap();
        assert_eq!(w.case_count(), 2 * 3 + 1);
        assert_eq!(w.case_count(), w.expand().unwrap().len() as u64);
        assert_eq!(w.varied_keys(), ["sndbuf", "rcvbuf", "proto", "msg_size"]);
        assert_eq!(Workload::new("").case_count(), 1);
        // A million cases: counted, never built (parse skips building them too).
        let list: Vec<String> = (1..=100).map(|i| format!("\"{i}K\"")).collect();
        let text = format!(
            "[matrix]\nsndbuf = [{0}]\nrcvbuf = [{0}]\nmsg_size = [{0}]\n",
            list.join(",")
        );
        assert_eq!(parse(&text).unwrap().case_count(), 1_000_000);
        let mut huge = Workload::new("");
        for k in [
            "sndbuf",
            "rcvbuf",
            "msg_size",
            "notsent_lowat",
            "response_size",
        ] {
            huge.matrix
                .push((k.into(), parse(&text).unwrap().matrix[0].1.clone()));
        }
        for _ in 0..6 {
            huge.matrix.push(huge.matrix[0].clone());
        }
        assert_eq!(huge.case_count(), u64::MAX, "saturates");
    }

    #[test]
    fn unknown_keys_suggest_the_nearest() {
        assert_eq!(nearest_key("sndbuff", &known_keys()), Some("sndbuf"));
        assert_eq!(nearest_key("msg-size", &known_keys()), Some("msg_size"));
        assert_eq!(nearest_key("shufle", &known_keys()), Some("shuffle"));
        assert_eq!(nearest_key("colour", &known_keys()), None);
        assert!(unknown_key("repeat").is_none() && unknown_key("sender.mss").is_none());
        assert!(unknown_key("sender.mms").unwrap().contains("'sender.mss'"));
        let mut w = Workload::new("");
        w.set("msg-size=1K").unwrap();
        w.set("response-size=2K").unwrap();
        let spec = &w.expand().unwrap()[0].spec;
        assert_eq!((spec.msg_size, spec.response_size), (1024, 2048));
        let e = w.set("repeat=2 seed=3").unwrap_err().0;
        assert!(
            e.ends_with("one assignment per --set: --set repeat=2 --set seed=3"),
            "{e}"
        );
        // A list with spaces is one value, not several assignments.
        w.set(r#"sndbuf=["64K", "1M"]"#).unwrap();
    }

    #[test]
    fn an_empty_file_and_a_fifo_are_refused() {
        assert!(parse("# comment only\n\n")
            .unwrap_err()
            .0
            .contains("the workload is empty"));
        let tmp = std::env::temp_dir().join(format!("sockbench-fifo-{}", std::process::id()));
        // The mkfifo(1) command rather than mkfifo(3): raw calls live in harness/sys only.
        let made = std::process::Command::new("mkfifo").arg(&tmp).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", tmp.display());
        let e = Workload::from_file(&tmp).unwrap_err().0;
        let _ = std::fs::remove_file(&tmp);
        assert!(e.contains("not a regular file"), "{e}");
    }
}

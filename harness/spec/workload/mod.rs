//! Workload files: `[defaults]`, a `[matrix]` whose cartesian product gives the cases,
//! explicit `[[case]]` tables, and run-level keys (`repeat`, `shuffle`, `seed`). Every
//! setting is checked where it stands, so a mistake is reported with its file, line and
//! column before any traffic. `--set KEY=VALUE` and the knob flags edit a workload the same
//! way a file does.

mod reader;
mod values;

use reader::{unknown_top_key, Ctx};
pub use values::size_range;
use values::{check_setting, scalar_text, set_values, sets_something, several_assignments};

use std::path::Path;

use thiserror::Error;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::spec::config::{
    is_size_key, size_keys, takes_dist, test_key, test_keys, ConfigError, Protocol, SpecBuilder,
    TestSpec,
};
use crate::spec::knobs::{knob, knob_works_on, socket_keys};
use crate::sys::HOST;

/// A workload that cannot be read or run: which file or assignment, where in it, and what.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WorkloadError {
    /// The file cannot be read (the system's reason).
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// A directory, FIFO or device given as the workload.
    #[error("{path}: {what}; a workload is a TOML file (workloads/*.toml)")]
    NotAFile { path: String, what: &'static str },
    #[error("{path}: {bytes} bytes is too large for a workload file (at most {MAX_FILE_BYTES})")]
    TooLarge { path: String, bytes: u64 },
    #[error("{file}: the workload is empty; give it [defaults], a [matrix] or [[case]] tables (see workloads/quickstart.toml), or run without a file for one default test")]
    Empty { file: String },
    /// A mistake in the file: where it stands, when that is known, and what it is.
    #[error("{file}:{}{problem}", at.map_or(" ".to_string(), |p| format!("{}:{}: ", p.line, p.col)))]
    At {
        file: String,
        at: Option<Pos>,
        problem: String,
    },
    /// A `--set` assignment that does not apply.
    #[error("--set {assignment}: {problem}")]
    Set { assignment: String, problem: String },
    /// A case whose settings do not make a test (numbered from 1; its label, if any).
    #[error("{file}: case {case}{}: {error}", if label.is_empty() { String::new() } else { format!(" ({label})") })]
    Case {
        file: String,
        case: usize,
        label: String,
        error: ConfigError,
    },
}

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
    /// Whether the file or `--set` gave `repeat` (else it is the default, 1).
    pub repeat_given: bool,
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
        .copied()
        .chain(test_keys())
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
        Some(_) if knob(name).is_some() || test_key(name).is_some() => return None,
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
        let unreadable = |e: std::io::Error| WorkloadError::Unreadable {
            path: shown.to_string(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            return Err(WorkloadError::NotAFile {
                path: shown.to_string(),
                what,
            });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(WorkloadError::TooLarge {
                path: shown.to_string(),
                bytes: meta.len(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Workload::parse(&text, &path.display().to_string(), &stem)
    }

    /// Parses a workload's text. `source` names it in messages; `default_name` is used when
    /// the file has no `name`.
    pub fn parse(text: &str, source: &str, default_name: &str) -> Result<Workload, WorkloadError> {
        let err_at = |offset: usize, problem: String| WorkloadError::At {
            file: source.to_string(),
            at: Some(pos_of(text, offset)),
            problem,
        };
        let doc = DeTable::parse(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            err_at(offset, format!("not valid TOML: {}", e.message().trim()))
        })?;
        if doc.get_ref().iter().next().is_none() {
            return Err(WorkloadError::Empty {
                file: source.to_string(),
            });
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
                    w.set_run_key(&s).map_err(|e| err_at(at, e.to_string()))?;
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
                Ok(n) if n >= 1 => (self.repeat, self.repeat_given) = (n, true),
                _ => {
                    return Err(ConfigError::Value(format!(
                        "repeat: '{v}' is not a whole number of 1 or more"
                    )))
                }
            },
            "shuffle" => {
                self.shuffle = match v {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ConfigError::Value(format!(
                            "shuffle: '{v}' is not true or false"
                        )))
                    }
                }
            }
            "seed" => {
                self.seed = Some(v.parse().map_err(|_| {
                    ConfigError::Value(format!("seed: '{v}' is not a whole number"))
                })?)
            }
            other => return Err(ConfigError::Value(format!("unknown run key '{other}'"))),
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
        let bad = |problem: String| WorkloadError::Set {
            assignment: assignment.to_string(),
            problem,
        };
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
        let lists = !matches!(key, "name" | "description");
        let (values, single) = set_values(value, lists).map_err(|e| bad(e.to_string()))?;
        // `--set sndbuf=16K..16M`: a size range sweeps every power of two between.
        let values = match values {
            None if single.contains("..") => {
                Some(size_range(key, &single).map_err(|e| bad(e.to_string()))?)
            }
            v => v,
        };
        self.assign(section, key, values, single)
            .map_err(|e| bad(e.to_string()))
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
        let refuse = |msg: &str| Err(ConfigError::Value(msg.to_string()));
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
                    .map_err(|e| self.located(s.at, e.to_string()))?;
            }
            let spec = b.build().map_err(|error| WorkloadError::Case {
                file: self.source.clone(),
                case: i + 1,
                label: label.clone(),
                error,
            })?;
            out.push(PlannedCase {
                label,
                spec,
                not_applicable,
            });
        }
        Ok(out)
    }

    /// Cases that measure what an earlier case does (a `[[case]]` that repeats a point of
    /// the matrix, a default written out): each with the first of its kind, by position
    /// from 0, later first.
    /// One pass, each test by its serialised form: a matrix may hold 100,000 cases.
    pub fn repeated(cases: &[PlannedCase]) -> Vec<(usize, usize)> {
        let mut first: std::collections::HashMap<String, usize> = Default::default();
        (cases.iter().enumerate())
            .filter_map(|(j, c)| {
                let test = serde_json::to_string(&c.spec).ok()?;
                let i = *first.entry(test).or_insert(j);
                (i != j).then_some((j, i))
            })
            .collect()
    }

    fn located(&self, at: Option<Pos>, problem: String) -> WorkloadError {
        WorkloadError::At {
            file: self.source.clone(),
            at,
            problem,
        }
    }
}

#[cfg(test)]
mod tests;

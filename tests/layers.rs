//! The library's modules are layers (harness/lib.rs): a module may use its own layer and
//! the layers below it, never one above. This test reads every `crate::` path in the
//! library's source and fails on one that reaches up, naming the file and line.

use std::path::{Path, PathBuf};

/// Lowest first. A top-level module not listed here fails the test, so that a new module
/// is given its place.
const LAYERS: &[&str] = &[
    "sys", "spec", "measure", "net", "engine", "results", "output", "session", "tune", "report",
    "api", "cli", "fuzzing",
    // The lab's delay element, a program of its own (harness/delay/main.rs): it uses the
    // library from outside, as `sockbench::`, never `crate::`.
    "delay",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's source files (under harness/), sorted, and harness/ itself.
fn harness_files() -> (PathBuf, Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    (root, files)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

/// The top-level module a file under harness/ belongs to (None: lib.rs, main.rs).
fn module_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Every `crate::NAME` in a line of code (comments skipped).
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
        rest = after;
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let (root, files) = harness_files();
    let mut bad = Vec::new();
    for file in &files {
        let Some(module) = module_of(&root, file) else {
            continue;
        };
        let own = layer_of(&module)
            .unwrap_or_else(|| panic!("{}: module `{module}` has no layer", file.display()));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in crate_paths(line) {
                let Some(other) = layer_of(&used) else {
                    bad.push(format!(
                        "{}:{}: crate::{used} is no module",
                        file.display(),
                        n + 1
                    ));
                    continue;
                };
                if other > own {
                    bad.push(format!(
                        "{}:{}: {module} uses crate::{used}, a higher layer",
                        file.strip_prefix(&root).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    assert_eq!(
        crate_paths("use crate::engine::stream; // crate::cli"),
        ["engine"]
    );
    assert!(layer_of("engine") > layer_of("net"));
}

/// Every `#[allow(...)]` of the crate's code (library, tests, benches), with its place.
fn allows() -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["harness", "tests", "benches"] {
        sources(&base.join(dir), &mut files);
    }
    files.sort();
    let mut out = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if t.starts_with("#[allow(") || t.starts_with("#![allow(") {
                let reason = n > 0 && lines[n - 1].trim_start().starts_with("//");
                let place = file.strip_prefix(base).unwrap().display();
                out.push(format!(
                    "{place}:{}{}",
                    n + 1,
                    if reason { "" } else { " (no reason)" }
                ));
            }
        }
    }
    out
}

#[test]
fn no_unsafe_outside_sys() {
    // The issue's check: `grep -rn "unsafe" harness/ | grep -v "^harness/sys/"` finds
    // nothing, comments included.
    let (root, files) = harness_files();
    let mut bad = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(root.join("sys"))) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("unsafe") {
                bad.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "unsafe outside harness/sys:\n{}",
        bad.join("\n")
    );
}

#[test]
fn at_most_three_allows_each_with_a_reason() {
    let found = allows();
    assert!(
        found.len() <= 3,
        "more than three #[allow]s:\n{}",
        found.join("\n")
    );
    let bare: Vec<&String> = found
        .iter()
        .filter(|a| a.ends_with("(no reason)"))
        .collect();
    assert!(
        bare.is_empty(),
        "an #[allow] needs a one-line reason above it: {bare:?}"
    );
}

/// A module's path below the crate root, from its file: `engine/epoll.rs` and
/// `engine/epoll/mod.rs` are both `["engine", "epoll"]`.
fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a source with its comments (line and doc comments) blanked out.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths of a use tree that starts at `s` (just after `crate::` or `super::`):
/// `a::b::{c, d::e}` gives `a::b::c` and `a::b::d::e`. Returns the paths' segments and
/// what follows the tree.
fn use_tree(s: &str) -> (Vec<Vec<String>>, &str) {
    let mut prefix = Vec::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut out = Vec::new();
            let mut inner = group;
            loop {
                inner = inner.trim_start();
                if let Some(after) = inner.strip_prefix('}') {
                    return (out, after);
                }
                let (paths, after) = use_tree(inner);
                out.extend(paths.into_iter().map(|p| [prefix.clone(), p].concat()));
                inner = after.trim_start();
                inner = inner.strip_prefix(',').unwrap_or(inner);
                if inner.is_empty() {
                    return (out, inner);
                }
            }
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            return (vec![prefix], rest);
        }
        rest = &rest[name.len()..];
        prefix.push(name);
        match rest.trim_start().strip_prefix("::") {
            Some(after) => rest = after.trim_start(),
            None => return (vec![prefix], rest),
        }
    }
}

/// Every module `file` names through `crate::` or `super::` paths: for each path, the
/// longest prefix that is a module of the crate. `super::` is read as the file's parent;
/// inside an inline `mod { }` (unit tests) it may resolve to no module and is skipped.
fn imported_modules(
    own: &[String],
    code: &str,
    modules: &std::collections::BTreeSet<Vec<String>>,
) -> std::collections::BTreeSet<Vec<String>> {
    let mut found = std::collections::BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest
        .find("crate::")
        .into_iter()
        .chain(rest.find("super::"))
        .min()
    {
        let starts_word = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        let (base, after) = if rest[i..].starts_with("crate::") {
            (Vec::new(), &rest[i + "crate::".len()..])
        } else {
            // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` too (its module is `a::b`).
            let mut base = own.to_vec();
            let mut after = &rest[i..];
            while let Some(a) = after.strip_prefix("super::") {
                base.pop();
                after = a;
            }
            (base, after)
        };
        let (paths, tail) = use_tree(after);
        if starts_word {
            for p in paths {
                let full = [base.clone(), p].concat();
                let module = (1..=full.len())
                    .rev()
                    .map(|n| full[..n].to_vec())
                    .find(|m| modules.contains(m));
                if let Some(m) = module {
                    found.insert(m);
                }
            }
        }
        rest = if tail.len() < rest.len() - i {
            tail
        } else {
            &rest[i + 1..]
        };
    }
    found
}

/// The module graph of harness/, between siblings: a file naming a module that is not its
/// ancestor or descendant gives an edge between the two siblings that hold them (the
/// children of their closest common ancestor), so `spec/config/parse.rs` using
/// `spec::knobs` is `spec::config -> spec::knobs`. A parent and its children are the
/// tree, not a cycle: a parent declares and re-exports its children, children use its
/// items.
fn module_graph() -> std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>>
{
    let (root, mut files) = harness_files();
    files.retain(|f| module_of(&root, f).is_some_and(|m| m != "delay"));
    let modules: std::collections::BTreeSet<Vec<String>> =
        files.iter().map(|f| module_path(&root, f)).collect();
    let mut graph = std::collections::BTreeMap::new();
    for file in &files {
        let own = module_path(&root, file);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for used in imported_modules(&own, &code, &modules) {
            if used.starts_with(&own) || own.starts_with(&used) {
                continue;
            }
            let common = own.iter().zip(&used).take_while(|(a, b)| a == b).count();
            graph
                .entry(own[..=common].to_vec())
                .or_insert_with(std::collections::BTreeSet::new)
                .insert(used[..=common].to_vec());
        }
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan), each sorted.
fn cycles(
    graph: &std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>>,
) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>>,
        index: std::collections::HashMap<&'a Vec<String>, (usize, usize)>,
        stack: Vec<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a Vec<String>) {
        st.index.insert(v, (st.next, st.next));
        st.next += 1;
        st.stack.push(v);
        for w in st.graph.get(v).into_iter().flatten() {
            let Some((w, _)) = st.graph.get_key_value(w) else {
                continue;
            };
            if !st.index.contains_key(w) {
                visit(st, w);
                let low = st.index[w].1.min(st.index[v].1);
                st.index.get_mut(v).unwrap().1 = low;
            } else if st.stack.contains(&w) {
                let low = st.index[w].0.min(st.index[v].1);
                st.index.get_mut(v).unwrap().1 = low;
            }
        }
        if st.index[v].0 == st.index[v].1 {
            let mut scc = Vec::new();
            while let Some(w) = st.stack.pop() {
                scc.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                st.out.push(scc);
            }
        }
    }
    let mut st = State {
        graph,
        index: std::collections::HashMap::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !st.index.contains_key(v) {
            visit(&mut st, v);
        }
    }
    st.out.sort();
    st.out
}

/// Import cycles that exist today in files another change is rewriting, each a sorted
/// set of modules. Remove an entry when its cycle is broken (the test fails on a stale
/// one).
const ALLOWED_CYCLES: &[&[&str]] = &[];

#[test]
fn no_import_cycle_between_modules() {
    let graph = module_graph();
    let found = cycles(&graph);
    let allowed: Vec<Vec<String>> = ALLOWED_CYCLES
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let bad: Vec<String> = found
        .iter()
        .filter(|c| !allowed.contains(c))
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|m| {
                    let from: Vec<String> = m.split("::").map(String::from).collect();
                    graph[&from]
                        .iter()
                        .map(|t| t.join("::"))
                        .filter(|t| c.contains(t))
                        .map(move |t| format!("{m} -> {t}"))
                })
                .collect();
            format!("{{{}}}: {}", c.join(", "), edges.join(", "))
        })
        .collect();
    assert!(bad.is_empty(), "import cycles:\n{}", bad.join("\n"));
    let stale: Vec<&Vec<String>> = allowed.iter().filter(|a| !found.contains(a)).collect();
    assert!(
        stale.is_empty(),
        "ALLOWED_CYCLES lists cycles that are gone; remove them: {stale:?}"
    );
}

#[test]
fn the_cycle_check_sees_a_cycle_and_reads_use_trees() {
    let (paths, _) = use_tree("output::{histograms, summary::SummaryRow, self};");
    assert_eq!(
        paths,
        [
            vec!["output", "histograms"],
            vec!["output", "summary", "SummaryRow"],
            vec!["output", "self"],
        ]
    );
    let m = |s: &str| -> Vec<String> { s.split("::").map(String::from).collect() };
    let modules = [m("engine"), m("engine::epoll"), m("engine::blocking")]
        .into_iter()
        .collect();
    let found = imported_modules(
        &m("engine::epoll"),
        "use super::blocking::Worker; x::crate::no",
        &modules,
    );
    assert_eq!(found, [m("engine::blocking")].into_iter().collect());
    let graph = [
        (m("a"), [m("b")].into_iter().collect()),
        (m("b"), [m("c")].into_iter().collect()),
        (m("c"), [m("a")].into_iter().collect()),
        (m("d"), [m("a")].into_iter().collect()),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycles(&graph), [vec!["a", "b", "c"]]);
}

/// The longest a source file under harness/ may be (docs/architecture.md): past it a
/// reader loses the thread; split it by concern, tests in a sibling `tests.rs`.
const MAX_LINES: usize = 800;

/// Files allowed over `MAX_LINES`: none. An entry would name a file in a change of its
/// own that shrinks it; the test fails while a listed file is already short enough.
const ALLOWED_LONG: &[&str] = &[];

#[test]
fn no_source_file_over_800_lines() {
    let (root, files) = harness_files();
    let mut long = Vec::new();
    let mut stale = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let lines = std::fs::read_to_string(file).unwrap().lines().count();
        let allowed = ALLOWED_LONG.contains(&rel.as_str());
        if lines > MAX_LINES && !allowed {
            long.push(format!("harness/{rel}: {lines} lines"));
        } else if lines <= MAX_LINES && allowed {
            stale.push(format!("harness/{rel}: {lines} lines"));
        }
    }
    for listed in ALLOWED_LONG {
        if !root.join(listed).exists() {
            stale.push(format!("harness/{listed}: no such file"));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
    assert!(
        stale.is_empty(),
        "ALLOWED_LONG lists files that are not over {MAX_LINES} lines; remove them:\n{}",
        stale.join("\n")
    );
}

/// The strings that stand for the library's enum values, from the enums themselves.
fn enum_value_strings() -> Vec<&'static str> {
    use sockbench::{Direction, Pattern, Protocol, Status};
    // Exhaustive: a new status fails to compile here until it is listed.
    let status = |s: Status| match s {
        Status::Ok | Status::Aborted | Status::Error => s.as_str(),
    };
    let mut out: Vec<&'static str> = [Status::Ok, Status::Aborted, Status::Error]
        .into_iter()
        .map(status)
        .collect();
    out.extend(Pattern::ALL.iter().map(|p| p.as_str()));
    out.extend(Protocol::ALL.iter().map(|p| p.as_str()));
    out.extend(Direction::ALL.iter().map(|d| d.as_str()));
    // intervals.csv's direction adds only "probe", which is also a key's name: a
    // comparison with its field is caught by ENUM_FIELDS.
    out
}

/// Fields of the rows that hold an enum's value as text: compared with any literal, they
/// are an enum compared as a string.
const ENUM_FIELDS: &[&str] = &["status", "direction", "pattern", "protocol", "measured_by"];

/// What is wrong with one line of code, if it compares an enum value as a string:
/// `x == Status::Ok.as_str()`, `row.pattern != "stream"`, `iv.direction == "probe"`.
fn string_compared_enum(code: &str, values: &[&str]) -> Option<String> {
    for op in ["==", "!="] {
        let mut rest = code;
        while let Some(i) = rest.find(op) {
            let left = rest[..i].trim_end();
            let right = rest[i + 2..].trim_start();
            rest = &rest[i + 2..];
            let literal = |s: &str| -> Option<String> {
                let s = s.strip_prefix('"')?;
                Some(s[..s.find('"')?].to_string())
            };
            let rlit = literal(right);
            let llit = left
                .strip_suffix('"')
                .and_then(|l| l.rfind('"').map(|j| l[j + 1..].to_string()));
            let right_word: String = right
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "_:.()".contains(*c))
                .collect();
            if let Some(j) = right_word.find(".as_str()") {
                let called = &right_word[..j + ".as_str()".len()];
                if called.contains("::") {
                    return Some(format!("compares with `{called}`"));
                }
            }
            let field: String = left
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            let is_field = left[..left.len() - field.len()].ends_with('.');
            if let Some(lit) = rlit.or(llit) {
                if values.contains(&lit.as_str()) {
                    return Some(format!("compares with \"{lit}\", an enum's value"));
                }
                if is_field && ENUM_FIELDS.contains(&field.as_str()) {
                    return Some(format!("compares `.{field}` with \"{lit}\""));
                }
            }
        }
    }
    None
}

/// Enum values compared as strings today in files another change is rewriting, as
/// `file:text of the line` (trimmed). Remove an entry when its line is gone: the test
/// fails on a stale one.
const ALLOWED_STRING_COMPARES: &[&str] = &[];

#[test]
fn no_enum_value_compared_as_a_string() {
    let (root, files) = harness_files();
    let values = enum_value_strings();
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Unit tests compare what was written, as text.
            if line.starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or("");
            if let Some(why) = string_compared_enum(code, &values) {
                let key = format!("{rel}:{}", line.trim());
                if ALLOWED_STRING_COMPARES.contains(&key.as_str()) {
                    seen.push(key);
                } else {
                    bad.push(format!("harness/{rel}:{}: {why}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "enum values compared as strings (compare the enums):\n{}",
        bad.join("\n")
    );
    let stale: Vec<&&str> = ALLOWED_STRING_COMPARES
        .iter()
        .filter(|a| !seen.iter().any(|s| s == *a))
        .collect();
    assert!(
        stale.is_empty(),
        "ALLOWED_STRING_COMPARES lists lines that are gone; remove them: {stale:?}"
    );
}

#[test]
fn the_string_compare_check_sees_the_patterns() {
    let values = enum_value_strings();
    for bad in [
        r#"ok: r.status == crate::measure::outcome::Status::Ok.as_str(),"#,
        r#"self.row.pattern != "stream""#,
        r#"if iv.direction == "probe" || probe_flow {"#,
        r#"if proto == "udp" {"#,
        r#".filter(|r| r.status == Status::Ok.as_str())"#,
    ] {
        assert!(string_compared_enum(bad, &values).is_some(), "{bad}");
    }
    for fine in [
        r#"if k == "name" {"#,
        r#"if text == "auto" {"#,
        r#"if self.pattern == Pattern::Stream {"#,
        r#"let x = a == b;"#,
    ] {
        assert!(string_compared_enum(fine, &values).is_none(), "{fine}");
    }
}

/// The enums whose variants a test's code depends on by pattern: compared with `==` or
/// `!=`, a variant stands for a class ("not stream" for "transactional") that a new
/// variant silently falls into. Match on them exhaustively, or call a method whose body
/// is an exhaustive match (`Pattern::is_transactional`, `Protocol::delivery`).
const MATCH_ONLY_ENUMS: &[&str] = &["Pattern", "Traffic", "ConnKind", "Delivery"];

/// What is wrong with one line of code, if it compares a variant of a match-only enum.
fn variant_compared(code: &str) -> Option<String> {
    let names_variant = |s: &str| {
        let s = s.trim_start();
        let s = s
            .strip_prefix("Some(")
            .or_else(|| s.strip_prefix("Ok("))
            .unwrap_or(s);
        let path: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_:".contains(*c))
            .collect();
        let mut parts = path.rsplit("::");
        let (variant, ty) = (parts.next()?, parts.next()?);
        (MATCH_ONLY_ENUMS.contains(&ty) && !variant.is_empty()).then(|| format!("{ty}::{variant}"))
    };
    for op in ["==", "!="] {
        let mut rest = code;
        while let Some(i) = rest.find(op) {
            let left = rest[..i].trim_end();
            let right = &rest[i + 2..];
            rest = right;
            let left_word: String = left
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || "_:".contains(*c))
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            if let Some(v) = names_variant(right).or_else(|| names_variant(&left_word)) {
                return Some(format!("compares with `{v}` (`{op}`): match on it"));
            }
        }
    }
    None
}

#[test]
fn no_pattern_variant_compared_with_eq() {
    let (root, files) = harness_files();
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(why) = variant_compared(code) {
                let rel = file.strip_prefix(&root).unwrap().display();
                bad.push(format!("harness/{rel}:{}: {why}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "a pattern compared with == or != stands in for a class a new pattern falls into \
         unseen; match exhaustively, or use a method whose body does:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_variant_compare_check_sees_the_patterns() {
    for bad in [
        "transactions: (spec.pattern != Pattern::Stream || spec.probe)",
        "if conn.kind == ConnKind::Crr {",
        "let tx = c.pattern.parse() != Ok(Pattern::Stream);",
        "if data_from_sender == (role.kind == Some(ConnKind::Stream)) {",
        "if spec.pattern != crate::spec::config::Pattern::Stream",
        "if Pattern::Crr == spec.pattern {",
        "if role.kind.is_some_and(|k| k != Pattern::Stream) {",
        "matches!(d, x) && delivery == Delivery::Datagram",
    ] {
        assert!(variant_compared(bad).is_some(), "{bad}");
    }
    for fine in [
        "if self.protocol == Protocol::Udp {",
        "if self.direction != Direction::Forward {",
        "match spec.pattern { Pattern::Stream => 1, Pattern::Rr | Pattern::Crr => 2 }",
        "if spec.pattern.is_transactional() {",
        "let x = a == b;",
    ] {
        assert!(variant_compared(fine).is_none(), "{fine}");
    }
}

/// A tuple struct holding one message string that derives `Error`, in `code`: its name.
/// An error says what went wrong with variants or named fields a caller can match.
fn bare_message_errors(code: &str) -> Vec<String> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(rest) = t
            .strip_prefix("pub struct ")
            .or_else(|| t.strip_prefix("struct "))
        else {
            continue;
        };
        let Some((name, fields)) = rest.split_once('(') else {
            continue;
        };
        let bare = matches!(fields.trim_end(), "pub String);" | "String);");
        let derives_error = lines[n.saturating_sub(4)..n]
            .iter()
            .any(|l| l.contains("derive(") && l.contains("Error"));
        if bare && derives_error {
            out.push(name.trim().to_string());
        }
    }
    out
}

#[test]
fn no_error_type_is_one_message_string() {
    let (root, files) = harness_files();
    let mut bad = Vec::new();
    for file in &files {
        for name in bare_message_errors(&std::fs::read_to_string(file).unwrap()) {
            let rel = file.strip_prefix(&root).unwrap().display();
            bad.push(format!("harness/{rel}: {name}"));
        }
    }
    assert!(
        bad.is_empty(),
        "error types that are one message string (give them variants or fields):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_message_error_check_sees_one() {
    let code = "#[derive(Debug, thiserror::Error)]\n#[error(\"{0}\")]\npub struct GoalError(pub String);\n";
    assert_eq!(bare_message_errors(code), ["GoalError"]);
    let fine = "#[derive(Debug, Error)]\npub enum GoalError {\n    Bad(String),\n}\n#[derive(Debug)]\npub struct Name(pub String);\n";
    assert!(bare_message_errors(fine).is_empty());
}

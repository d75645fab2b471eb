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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
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
    // The check: `grep -rn "unsafe" harness/ | grep -v "^harness/sys/"` finds
    // nothing, comments included.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let mut files = Vec::new();
    sources(&root, &mut files);
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

//! The library's modules are layers (harness/lib.rs): a module may use its own layer and
//! the layers below it, never one above. This test reads every `crate::` path in the
//! library's source and fails on one that reaches up, naming the file and line.

use std::path::{Path, PathBuf};

/// Lowest first. A top-level module not listed here fails the test, so that a new module
/// is given its place.
const LAYERS: &[&str] = &[
    "sys", "spec", "measure", "net", "engine", "results", "output", "session", "tune", "report",
    "cli", "fuzzing",
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

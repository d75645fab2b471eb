//! The README stays a short user's guide and every document's links resolve: a relative
//! link names a file that exists, and an `#anchor` a heading of that file. User-facing
//! documents carry no issue numbers or "this round" (history is the CHANGELOG's).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file a user reads: the README, the CHANGELOG, docs/ (recursively), and
/// the READMEs of deploy/ and results/.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![
        root().join("README.md"),
        root().join("CHANGELOG.md"),
        root().join("deploy/README.md"),
        root().join("results/README.md"),
    ];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings, outside fenced code blocks.
fn anchors(text: &str) -> HashSet<String> {
    let mut fenced = false;
    let mut out = HashSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the inline links `[text](target)` outside fenced code blocks and code
/// spans.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop code spans, which may hold `[x](y)` as an example.
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

fn check_link(doc: &Path, target: &str) -> Result<(), String> {
    if target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("mailto:")
    {
        return Ok(());
    }
    let (file, frag) = match target.split_once('#') {
        Some((f, a)) => (f, Some(a)),
        None => (target, None),
    };
    let path = if file.is_empty() {
        doc.to_path_buf()
    } else {
        doc.parent().unwrap().join(file)
    };
    if !path.exists() {
        return Err(format!("{}: link to {target}: no such file", doc.display()));
    }
    if let Some(frag) = frag {
        if path.is_file() {
            let text = fs::read_to_string(&path).unwrap();
            if !anchors(&text).contains(frag) {
                return Err(format!(
                    "{}: link to {target}: no such heading",
                    doc.display()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_link_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        for target in links(&text) {
            if let Err(e) = check_link(&doc, &target) {
                broken.push(e);
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_a_short_guide_that_starts_with_the_two_commands() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; the detail belongs in docs/"
    );
    let first_block: String = readme.split("```").nth(1).unwrap_or_default().to_string();
    assert!(
        first_block.contains("cargo run --release -- run workloads/quickstart.toml")
            && first_block.contains("cargo test"),
        "the README's first code block must be the two commands:\n{first_block}"
    );
}

#[test]
fn user_facing_documents_carry_no_issue_numbers_or_rounds() {
    let mut found = Vec::new();
    for doc in documents() {
        if doc.ends_with("CHANGELOG.md") {
            continue;
        }
        let text = fs::read_to_string(&doc).unwrap();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let issue = lower
                .match_indices("issue ")
                .any(|(i, m)| lower[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()));
            if issue || lower.contains("this round") {
                found.push(format!("{}:{}: {line}", doc.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "history belongs in CHANGELOG.md:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_guide_pages_exist() {
    for page in [
        "docs/guide/workloads.md",
        "docs/guide/two-hosts.md",
        "docs/guide/security.md",
        "docs/guide/tune.md",
        "docs/guide/reports.md",
        "docs/guide/fleets.md",
        "docs/guide/paths.md",
        "docs/architecture.md",
        "docs/performance.md",
        "docs/testing.md",
        "docs/results.md",
        "CHANGELOG.md",
    ] {
        assert!(root().join(page).is_file(), "{page} is missing");
    }
}

#[test]
fn the_link_checker_finds_a_broken_link_and_a_missing_heading() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("a.md");
    fs::write(&doc, "# Title\n\n## Some section\n").unwrap();
    assert!(check_link(&doc, "#some-section").is_ok());
    assert!(check_link(&doc, "#title").is_ok());
    assert!(check_link(&doc, "#nowhere").is_err());
    assert!(check_link(&doc, "b.md").is_err());
    assert_eq!(
        links("see [x](y.md) and `[no](z.md)`"),
        vec!["y.md".to_string()]
    );
}

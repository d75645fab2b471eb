//! docs/results.md is the results schema users read: every column the code writes must be
//! in it, in the section of its file, so the document cannot drift from the row structs.

use sockbench::output::cases::CaseRow;
use sockbench::output::header_of;
use sockbench::output::histograms::HistogramRow;
use sockbench::output::intervals::IntervalRow;
use sockbench::output::summary::{SummaryRow, SPEC_COLUMNS};

fn doc() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the `## FILE` section, up to the next `## `.
fn section<'a>(doc: &'a str, file: &str) -> &'a str {
    let head = format!("\n## {file}\n");
    let start = doc
        .find(&head)
        .unwrap_or_else(|| panic!("docs/results.md has no section '## {file}'"))
        + head.len();
    let end = doc[start..].find("\n## ").map_or(doc.len(), |e| start + e);
    &doc[start..end]
}

fn check(file: &str, columns: &[String]) {
    let doc = doc();
    let text = section(&doc, file);
    let missing: Vec<&String> = columns
        .iter()
        .filter(|c| !text.contains(&format!("| `{c}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/results.md, section {file}, does not describe {missing:?} (a table row \
         starting with | `column` |)"
    );
}

#[test]
fn every_summary_column_is_documented() {
    let header = header_of::<SummaryRow>();
    check("summary.csv", &header);
    // The contract's columns come first, as the document says.
    assert_eq!(&header[..SPEC_COLUMNS.len()], SPEC_COLUMNS);
    assert!(doc().contains(&format!(
        "The first {} columns are the contract",
        SPEC_COLUMNS.len()
    )));
}

#[test]
fn every_cases_column_is_documented() {
    check("cases.csv", &header_of::<CaseRow>());
}

#[test]
fn every_intervals_column_is_documented() {
    check("intervals.csv", &header_of::<IntervalRow>());
}

#[test]
fn every_histograms_column_is_documented() {
    check("histograms.csv", &header_of::<HistogramRow>());
}

#[test]
fn the_check_catches_an_undocumented_column() {
    let result = std::panic::catch_unwind(|| {
        check("intervals.csv", &["no_such_column_anywhere".to_string()])
    });
    assert!(result.is_err());
}

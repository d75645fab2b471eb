//! docs/platforms.md's knob table is the knob table's own list of systems: for every knob,
//! on each of Linux, macOS, FreeBSD and Windows, how it is read back there, or `refused`.
//! A knob added to the table, or a system added to or taken from one, fails here until the
//! document says so.

use sockbench::spec::knobs::KNOBS;
use sockbench::sys::Os;

#[test]
fn the_platforms_page_lists_every_knob_on_every_system_as_the_table_does() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/platforms.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let header = "| knob | Linux | macOS | FreeBSD | Windows |";
    assert!(
        doc.contains(header),
        "docs/platforms.md lacks the knob table"
    );
    let order = [Os::Linux, Os::Macos, Os::Freebsd, Os::Windows];
    for knob in KNOBS {
        let start = format!("| `{}` |", knob.flag());
        let line = doc
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("docs/platforms.md has no row for {}", knob.flag()));
        let cells: Vec<&str> = line
            .trim_matches('|')
            .split(" | ")
            .map(str::trim)
            .skip(1)
            .collect();
        let want: Vec<&str> = order
            .iter()
            .map(|&os| knob.on(os).map_or("refused", |o| o.read_back))
            .collect();
        assert_eq!(cells, want, "docs/platforms.md, {}", knob.flag());
    }
}

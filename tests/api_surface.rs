//! The library facade's public surface, pinned: every public item of `harness/api/` and
//! every name `harness/lib.rs` re-exports, each with its signature, is listed in
//! `tests/api_surface.txt`. Adding, removing, renaming an item or changing a signature —
//! by accident or on purpose — fails here until the list is updated (set
//! SOCKBENCH_BLESS_API=1 to rewrite it; the diff then shows the change for review).
//!
//! The list is extracted from the source: rustdoc's JSON would be exact, but needs
//! nightly. What a line-based reading cannot see, the second test pins by compiling: the
//! variants of the re-exported enums (an exhaustive `match`) and the fields of
//! `Percentiles` (a struct literal without `..`).

use std::path::Path;
use std::time::Duration;

use sockbench::{Direction, Pattern, Percentiles, Protocol, Status};

/// Whitespace collapsed; the opening brace or the final `;`/`,` of a declaration dropped.
fn normalize(decl: &str) -> String {
    let one = decl.split_whitespace().collect::<Vec<_>>().join(" ");
    let one = one
        .replace("{ ", "{")
        .replace(", }", "}")
        .replace(",}", "}")
        .replace(" }", "}");
    one.trim_end_matches(['{', ';', ','])
        .trim_end()
        .replace("( ", "(")
        .replace(", )", ")")
        .replace(",)", ")")
}

/// The public items of one facade source: `pub` declarations not marked
/// `#[doc(hidden)]`, each prefixed by its enclosing item (`impl Test`, `struct Outcome`),
/// and the variants of its public enums.
fn surface_of(file: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut context = String::new();
    let mut in_pub_enum = false;
    let mut hidden = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        let indent = line.len() - t.len();
        i += 1;
        if t.starts_with("#[doc(hidden)]") {
            hidden = true;
            continue;
        }
        if t.starts_with("//") || t.starts_with("#[") || t.starts_with("#![") || t.is_empty() {
            continue;
        }
        let was_hidden = std::mem::replace(&mut hidden, false);
        if indent == 0 {
            in_pub_enum = false;
            context.clear();
            if t.starts_with("impl") {
                context = normalize(t);
            }
        }
        if in_pub_enum && indent == 4 && t.starts_with(|c: char| c.is_ascii_uppercase()) {
            let name: String = t.chars().take_while(|c| c.is_alphanumeric()).collect();
            out.push(format!("{file}: {context}: variant {name}"));
            continue;
        }
        if !t.starts_with("pub ") || was_hidden {
            continue;
        }
        // A declaration spans lines until its body or its end.
        let mut decl = t.to_string();
        while !decl.trim_end().ends_with(['{', ';', ',', ')']) && i < lines.len() {
            decl.push(' ');
            decl.push_str(lines[i].trim());
            i += 1;
        }
        while (decl.starts_with("pub fn") && !decl.trim_end().ends_with(['{', ';'])
            || decl.starts_with("pub use") && !decl.trim_end().ends_with(';'))
            && i < lines.len()
        {
            decl.push(' ');
            decl.push_str(lines[i].trim());
            i += 1;
        }
        let decl = normalize(&decl);
        let item = if context.is_empty() {
            decl.clone()
        } else {
            format!("{context}: {decl}")
        };
        out.push(format!("{file}: {item}"));
        if indent == 0 && (decl.starts_with("pub struct") || decl.starts_with("pub enum")) {
            context = decl
                .trim_start_matches("pub ")
                .split(['<', '('])
                .next()
                .unwrap_or_default()
                .to_string();
            in_pub_enum = decl.starts_with("pub enum");
        }
    }
    out
}

fn facade_surface() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for file in [
        "harness/lib.rs",
        "harness/api/mod.rs",
        "harness/api/criterion.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let items = surface_of(file, &text);
        if file == "harness/lib.rs" {
            // The crate root: its re-exports only (the hidden modules are not API).
            out.extend(items.into_iter().filter(|i| i.contains("pub use")));
        } else {
            out.extend(items);
        }
    }
    out
}

#[test]
fn the_facade_surface_is_the_checked_in_list() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api_surface.txt");
    let now = facade_surface().join("\n") + "\n";
    if std::env::var_os("SOCKBENCH_BLESS_API").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    let (now_lines, pinned_lines): (Vec<&str>, Vec<&str>) =
        (now.lines().collect(), pinned.lines().collect());
    let added: Vec<&&str> = now_lines
        .iter()
        .filter(|l| !pinned_lines.contains(l))
        .collect();
    let gone: Vec<&&str> = pinned_lines
        .iter()
        .filter(|l| !now_lines.contains(l))
        .collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "the library's public surface changed (a semver matter: review, then update \
         tests/api_surface.txt, or run with SOCKBENCH_BLESS_API=1)\nadded:\n{}\ngone:\n{}",
        added
            .iter()
            .map(|l| format!("  + {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        gone.iter()
            .map(|l| format!("  - {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

#[test]
fn the_extraction_sees_a_changed_signature_an_added_item_and_skips_hidden_ones() {
    let before = "impl Test {\n    pub fn msg_size(self, bytes: u64) -> Test {\n    }\n}\n";
    let after = "impl Test {\n    pub fn msg_size(self, bytes: u32) -> Test {\n    }\n}\n";
    assert_eq!(
        surface_of("f", before),
        ["f: impl Test: pub fn msg_size(self, bytes: u64) -> Test"]
    );
    assert_ne!(surface_of("f", before), surface_of("f", after));
    let more = "pub enum E {\n    A,\n    /// doc\n    B { x: u8 },\n}\n#[doc(hidden)]\npub fn h() {}\npub(crate) fn c() {}\npub fn run(\n    a: u8,\n    b: u8,\n) -> u8 {\n}\npub use m::{\n    A, B,\n};\n";
    assert_eq!(
        surface_of("f", more),
        [
            "f: pub enum E",
            "f: enum E: variant A",
            "f: enum E: variant B",
            "f: pub fn run(a: u8, b: u8) -> u8",
            "f: pub use m::{A, B}"
        ]
    );
}

/// Compiled, not run for its figures: a new variant or field of a re-exported type fails
/// to compile here.
#[test]
fn the_reexported_enums_and_percentiles_are_pinned() {
    let protocols = Protocol::ALL.iter().map(|p| match p {
        Protocol::Tcp
        | Protocol::Udp
        | Protocol::Mptcp
        | Protocol::UnixStream
        | Protocol::UnixDgram
        | Protocol::Sctp
        | Protocol::Dccp => p.as_str(),
    });
    assert_eq!(protocols.count(), 7);
    let pattern = |p: Pattern| match p {
        Pattern::Stream | Pattern::Rr | Pattern::Crr => p.as_str(),
    };
    assert_eq!(pattern(Pattern::Rr), "rr");
    let direction = |d: Direction| match d {
        Direction::Forward | Direction::Reverse | Direction::Bidir => d.as_str(),
    };
    assert_eq!(direction(Direction::Bidir), "bidir");
    let status = |s: Status| match s {
        Status::Ok | Status::Aborted | Status::Error => s.as_str(),
    };
    assert_eq!(status(Status::Aborted), "aborted");
    let p = Percentiles {
        count: 1,
        p50: 2,
        p90: 3,
        p99: 4,
        p999: 5,
        max: 6,
        mean: 7.0,
    };
    assert_eq!(p.p999, 5);
    // The builder's typed values are the CLI's: the label reads as `--set` would take it.
    let t = sockbench::Test::new()
        .duration(Duration::from_millis(250))
        .sndbuf(256 << 10);
    assert_eq!(t.label(), "duration=250ms sndbuf=256K");
}

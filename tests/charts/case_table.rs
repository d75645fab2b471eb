//! The case table: its columns are what the run varied and what it measured, so that it
//! fits the page and an rr comparison's p99 and p99.9 are in sight.

use super::common::made::*;
use sockbench::report::{charts, html};

/// The case table of a page: its headings and rows of cells (tags stripped).
pub fn cases_table(page: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let section = &page[page.find("<section id=cases>").expect("a cases section")..];
    let table = &section[section.find("<table").unwrap()..section.find("</table>").unwrap()];
    let cells = |row: &str, tag: &str| -> Vec<String> {
        row.split(&format!("<{tag}"))
            .skip(1)
            .map(|c| {
                let body = &c[c.find('>').unwrap() + 1..];
                body[..body.find(&format!("</{tag}>")).unwrap()].to_string()
            })
            .collect()
    };
    let rows: Vec<&str> = table.split("<tr").skip(1).collect();
    let head = cells(rows[0], "th");
    let body = rows[1..].iter().map(|r| cells(r, "td")).collect();
    (head, body)
}

/// How wide a table's text makes it: per column its longest cell at 7.5 px a character
/// (0.85em of a 16 px sans-serif) plus its padding and border.
pub fn text_width_px(head: &[String], body: &[Vec<String>]) -> f64 {
    (0..head.len())
        .map(|i| {
            let longest = std::iter::once(&head[i])
                .chain(body.iter().filter_map(|r| r.get(i)))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0);
            longest as f64 * 7.5 + 16.0
        })
        .sum()
}

/// An rr sweep of the send buffer whose labels carry many knobs that never change.
fn rr_sweep() -> Vec<Made> {
    let mut out = Vec::new();
    for (i, s) in ["64K", "256K", "1M", "auto"].iter().enumerate() {
        let label: &'static str = Box::leak(
            format!(
                "sndbuf={s} rcvbuf=1M nodelay=true pipeline=1 tos=0 busy_poll=50 linger=off \
                 msg_size=64 response_size=64 think_time=none cpu_affinity=0"
            )
            .into_boxed_str(),
        );
        let mut m = Made::stream(label, &[]);
        m.pattern = "rr";
        m.tps = Some(40_000.0 + 1000.0 * i as f64);
        m.p50_p99_ns = Some((20_000, 90_000 + 5_000 * i as u64));
        m.sndbuf = (*s != "auto").then(|| {
            let b = sockbench::spec::units::parse_size(s).unwrap();
            (b, 2 * b)
        });
        out.push(m);
    }
    out
}

/// An rr sweep with many constant knobs: the table shows the one knob varied (as asked
/// and as the kernel made it) and p50, p99, p99.9 beside transactions/s; the constant
/// knobs are said once above it, and it fits the page without scrolling sideways.
#[test]
fn an_rr_sweep_shows_its_percentiles_and_only_what_varied() {
    let dirs = [made_dir("rr", &rr_sweep())];
    let page = html::page(&dirs, &charts::all(&dirs));
    let (head, body) = cases_table(&page);
    for want in ["p50 (µs)", "p99 (µs)", "p99.9 (µs)", "transactions/s"] {
        assert!(head.iter().any(|h| h == want), "{want} not in {head:?}");
    }
    assert!(
        head.len() <= 9,
        "{} columns, more than the run varied and measured: {head:?}",
        head.len()
    );
    assert!(
        !head
            .iter()
            .any(|h| h == "goodput (95% CI)" || h.contains("goodput")),
        "goodput is not what an rr run is about: {head:?}"
    );
    let width = text_width_px(&head, &body);
    assert!(
        width <= 1240.0,
        "the table is {width:.0} px wide: it scrolls at 1400 px\n{head:?}\n{body:?}"
    );
    // The varied knob, requested and effective; the whole label only on hover.
    assert!(
        body.iter().any(|r| r.contains(&"64K → 128K".to_string())),
        "{body:?}"
    );
    assert!(
        !body.iter().flatten().any(|c| c.contains("nodelay")),
        "a column holds the whole label: {body:?}"
    );
    let same = &page[page
        .find("The same in every case")
        .expect("the constant knobs")..];
    let same = &same[..same.find("</p>").unwrap()];
    for k in [
        "nodelay <b>true</b>",
        "busy_poll <b>50</b>",
        "test <b>tcp rr</b>",
    ] {
        assert!(same.contains(k), "{k} not in {same}");
    }
}

/// A stream sweep shows goodput with its interval, and no empty percentile columns.
#[test]
fn a_stream_sweep_shows_goodput_and_no_empty_percentiles() {
    let dirs = [made_dir("sweep", &buffer_sweep())];
    let page = html::page(&dirs, &charts::all(&dirs));
    let (head, body) = cases_table(&page);
    assert!(head.iter().any(|h| h == "goodput (95% CI)"), "{head:?}");
    assert!(!head.iter().any(|h| h.starts_with("p99")), "{head:?}");
    assert!(!head.iter().any(|h| h == "transactions/s"), "{head:?}");
    assert!(
        body.iter().flatten().any(|c| c.contains("Gbit/s (95% CI ")),
        "{body:?}"
    );
    assert!(text_width_px(&head, &body) <= 1240.0, "{head:?}");
}

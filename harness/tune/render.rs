//! The tune answer as the terminal shows it: the figures table, the sentences, the
//! settings snippet.

use std::collections::BTreeMap;

use super::goal::{short_name, Metric};
use super::search::Status;
use super::{explain, Answer, FigureCi, Neighbour};

/// The answer as the terminal shows it: the table, the sentences, the snippet.
pub fn render(
    answer: &Answer,
    ex: &explain::Explanation,
    metrics: &[Metric],
    dir: &std::path::Path,
) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    let status = match answer.status {
        Status::Ok => "ok",
        Status::Inconclusive => "inconclusive",
        Status::Unsatisfiable => "unsatisfiable",
    };
    lines.push(format!("answer ({status}): {}", answer.label));
    lines.push(format!("  {}", answer.why));
    if !answer.indistinguishable.is_empty() {
        let set: Vec<String> = answer
            .indistinguishable
            .iter()
            .map(|s| {
                s.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let how = if answer.status == Status::Ok {
            "equivalent within the margin"
        } else {
            "cannot be told apart from it"
        };
        lines.push(format!("  {how}: {}", set.join("; ")));
    }
    figures_table(answer, metrics, &mut lines);
    lines.push(String::new());
    lines.extend(ex.sentences.iter().map(|s| format!("  {s}")));
    if answer.status != Status::Unsatisfiable && !ex.c_snippet.is_empty() {
        snippets(ex, &mut lines);
    }
    lines.push(String::new());
    let spent: Vec<String> = ["screen", "race", "baseline"]
        .iter()
        .filter_map(|phase| {
            answer
                .tests_by_phase
                .get(*phase)
                .map(|n| format!("{n} {phase}"))
        })
        .collect();
    lines.push(format!(
        "tests: {} run ({}) of a budget of {}; the full grid would be {}; search: {}; results: {}",
        answer.tests_run,
        spent.join(", "),
        answer.budget,
        answer.grid_tests,
        dir.join("tune.csv").display(),
        dir.display()
    ));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The figures of the answer, the kernel default and the next larger setting, and what
/// the next larger setting changes.
fn figures_table(answer: &Answer, metrics: &[Metric], lines: &mut Vec<String>) {
    let what = if answer.status == Status::Unsatisfiable {
        "closest"
    } else {
        "recommended"
    };
    let shown: Vec<Metric> = metrics
        .iter()
        .copied()
        .filter(|m| answer.figures.contains_key(m) || answer.kernel_default.contains_key(m))
        .collect();
    let mut header = format!("  {:<28}", "");
    for m in &shown {
        header.push_str(&format!("{:<46}", short_name(*m)));
    }
    lines.push(header.trim_end().to_string());
    let mut table_row = |name: String, figures: &BTreeMap<Metric, FigureCi>| {
        if figures.is_empty() {
            return;
        }
        let mut s = format!("  {name:<28}");
        for m in &shown {
            let cell = figures.get(m).map_or("-".to_string(), |f| f.show(*m));
            s.push_str(&format!("{cell:<44}  "));
        }
        lines.push(s.trim_end().to_string());
    };
    table_row(what.to_string(), &answer.figures);
    table_row("kernel default (auto)".to_string(), &answer.kernel_default);
    if let Some(n) = &answer.next_larger {
        table_row(format!("next larger ({})", n.label), &n.figures);
    }
    if let Some(n) = &answer.next_larger {
        lines.push(format!("  {}", next_larger_line(answer, n)));
    }
}

/// What the next larger setting changes, only where both sides' 95% intervals (three
/// repetitions or more) say so; otherwise how little was measured.
fn next_larger_line(answer: &Answer, n: &Neighbour) -> String {
    let mut apart = Vec::new();
    let mut overlap = Vec::new();
    for (m, there) in &n.figures {
        let Some(here) = answer.figures.get(m) else {
            continue;
        };
        let (Some(hl), Some(hh), Some(tl), Some(th)) = (
            here.ci95_low,
            here.ci95_high,
            there.ci95_low,
            there.ci95_high,
        ) else {
            continue;
        };
        if (th < hl || tl > hh) && here.mean > 0.0 {
            apart.push(format!(
                "{} {:+.1}%",
                short_name(*m),
                (there.mean / here.mean - 1.0) * 100.0
            ));
        } else {
            overlap.push(short_name(*m));
        }
    }
    let n_here = answer.figures.values().map(|f| f.n).max().unwrap_or(0);
    let n_there = n.figures.values().map(|f| f.n).max().unwrap_or(0);
    if apart.is_empty() && overlap.is_empty() {
        let tests = if n_here <= 1 && n_there <= 1 {
            "one test each".to_string()
        } else {
            format!("{n_there} test(s) against {n_here}")
        };
        return format!(
            "the next larger setting ({}): {tests}, too few for a 95% interval: no difference is claimed",
            n.label
        );
    }
    let mut s = format!("the next larger setting ({})", n.label);
    if !apart.is_empty() {
        s.push_str(&format!(
            " changes {} (95% intervals apart)",
            apart.join(", ")
        ));
    }
    if !overlap.is_empty() {
        let join = if apart.is_empty() { ":" } else { ";" };
        s.push_str(&format!(
            "{join} {} cannot be told apart (intervals overlap)",
            overlap.join(", ")
        ));
    }
    s
}

/// The answer as C, Rust and sysctl lines.
fn snippets(ex: &explain::Explanation, lines: &mut Vec<String>) {
    lines.push(String::new());
    lines.push("  C:".into());
    lines.extend(ex.c_snippet.iter().map(|s| format!("    {s}")));
    lines.push("  Rust (socket2):".into());
    lines.extend(ex.rust_snippet.iter().map(|s| format!("    {s}")));
    if !ex.sysctl_lines.is_empty() {
        lines.push("  sysctl (as root, on the host that sets the buffer):".into());
        lines.extend(ex.sysctl_lines.iter().map(|s| format!("    {s}")));
    }
}

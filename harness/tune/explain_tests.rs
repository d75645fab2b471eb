//! The explanation's sentences and numbers, from rows as `tune` writes them.

use super::*;

/// An answer that sets one key: its settings and its case label.
fn answer_for(key: &str, value: &str) -> Answer {
    Answer {
        settings: BTreeMap::from([(key.into(), value.into())]),
        label: format!("{key}={value}"),
        ..Default::default()
    }
}

/// The explanation's sentences that contain `needle`.
fn saying<'a>(ex: &'a Explanation, needle: &str) -> Vec<&'a String> {
    ex.sentences.iter().filter(|s| s.contains(needle)).collect()
}

fn row(label: &str, goodput: f64, min_rtt_us: u32) -> SummaryRow {
    SummaryRow {
        case_label: label.into(),
        status: Status::Ok,
        goodput_bps: Some(goodput),
        tcp_min_rtt_us: Some(min_rtt_us),
        sndbuf_req: Some(SizeReq::Bytes(
            parse_size(label.trim_start_matches("sndbuf=")).unwrap(),
        )),
        sndbuf_eff: Some(2 * parse_size(label.trim_start_matches("sndbuf=")).unwrap()),
        ..Default::default()
    }
}

/// On a path whose recorded rate the goodput stays far below, with retransmits, the
/// explanation says loss limits it; on one it nearly fills, nothing is said.
#[test]
fn a_goodput_far_below_the_paths_rate_is_said_with_its_retransmits() {
    let answer = answer_for("sndbuf", "16K");
    let lossy = |label: &str, g: f64| SummaryRow {
        tcp_retrans: Some(30),
        ..row(label, g, 20_000)
    };
    let rows = [lossy("sndbuf=16K", 7.0e6), lossy("sndbuf=64K", 7.2e6)];
    let meta = |rate: &str| Meta {
        path: Some(crate::spec::path::PathNote::parse(rate).unwrap()),
        ..Meta::default()
    };
    let ex = explain_rows(&rows, &answer, &meta("rate=100mbit,loss=1%"));
    let said = saying(&ex, "recorded rate");
    assert_eq!(said.len(), 1, "{:?}", ex.sentences);
    assert!(
        said[0].contains("7% of the path's recorded rate, 100.00 Mbit/s"),
        "{}",
        said[0]
    );
    assert!(
        said[0].contains("retransmitted 30 segments per test"),
        "{}",
        said[0]
    );
    let ex = explain_rows(&rows, &answer, &meta("rate=10mbit"));
    assert!(saying(&ex, "recorded rate").is_empty());
    // No loss on the path: the rate is said, loss is not blamed.
    let ex = explain_rows(&rows, &answer, &meta("rate=100mbit"));
    let said = saying(&ex, "recorded rate");
    assert_eq!(said.len(), 1, "{:?}", ex.sentences);
    assert!(!said[0].contains("loss"), "{}", said[0]);
}

/// A results directory written as `tune` writes it, read back: the BDP is the best
/// case's mean goodput times the smallest min_rtt, both as found in summary.csv.
#[test]
fn the_bdp_is_rate_times_rtt_from_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        row("sndbuf=64K", 2.0e8, 900),
        row("sndbuf=64K", 2.2e8, 850),
        row("sndbuf=256K", 4.7e8, 1200),
        row("sndbuf=256K", 4.9e8, 1100),
        row("sndbuf=1M", 4.8e8, 5000),
        row("sndbuf=1M", 4.6e8, 4000),
    ];
    let mut w = csv::Writer::from_path(dir.path().join("summary.csv")).unwrap();
    for r in &rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
    let answer = answer_for("sndbuf", "256K");
    std::fs::write(
        dir.path().join("answer.json"),
        serde_json::to_vec(&answer).unwrap(),
    )
    .unwrap();
    let ex = explain(dir.path()).unwrap();
    let bdp = ex.bdp.unwrap();
    // Independently from the CSV: the best mean goodput, the least min_rtt.
    let back = read_summary(dir.path()).unwrap();
    let mut means: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &back {
        means
            .entry(r.case_label.clone())
            .or_default()
            .push(r.goodput_bps.unwrap());
    }
    let rate = means
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .fold(0.0, f64::max);
    let rtt = back.iter().filter_map(|r| r.tcp_min_rtt_us).min().unwrap() as f64 / 1e6;
    assert_eq!(rate, 4.8e8);
    assert!((bdp.bytes - rate / 8.0 * rtt).abs() < 1e-6, "{bdp:?}");
    assert_eq!(bdp.rate_from, "sndbuf=256K");
    assert!((bdp.bytes - 51_000.0).abs() < 1e-6);
    // The sentences say it, and where goodput stops growing.
    assert!(
        ex.sentences[0].contains("Bandwidth-delay product"),
        "{:?}",
        ex.sentences
    );
    assert!(
        ex.sentences
            .iter()
            .any(|s| s.contains("stops growing at sndbuf=256K")),
        "{:?}",
        ex.sentences
    );
    assert!(ex.c_snippet[0].contains("SO_SNDBUF") && ex.c_snippet[0].contains("262144"));
    assert_eq!(
        ex.rust_snippet[0],
        "socket.set_send_buffer_size(262144)?; // SO_SNDBUF, before connect/listen"
    );
}

/// A set buffer is compared with the BDP; an autotuned one is not (its size when
/// configured is not the window the test reached).
#[test]
fn only_a_set_buffer_is_compared_with_the_bdp() {
    let answer = answer_for("rcvbuf", "256K");
    let rows = [SummaryRow {
        case_label: "rcvbuf=256K".into(),
        sndbuf_req: Some(SizeReq::Auto),
        sndbuf_eff: Some(69_120),
        rcvbuf_req: Some(SizeReq::Bytes(262_144)),
        rcvbuf_eff: Some(524_288),
        status: Status::Ok,
        goodput_bps: Some(4.8e8),
        tcp_min_rtt_us: Some(1000),
        ..Default::default()
    }];
    let ex = explain_rows(&rows, &answer, &Meta::default());
    let s = &ex.sentences[0];
    assert!(
        s.contains("leaves the send buffer to the kernel's autotuning")
            && !s.contains("send buffer is"),
        "{s}"
    );
    assert!(s.contains("effective receive buffer is 512"), "{s}");
}

/// An answer of `auto`: no knee among the sizes it left, and code that leaves the
/// buffer unset.
#[test]
fn an_auto_answer_has_no_knee_and_sets_no_buffer() {
    let answer = answer_for("sndbuf", "auto");
    let mut auto = row("sndbuf=16K", 2.4e10, 3);
    (auto.case_label, auto.sndbuf_req) = ("sndbuf=auto".into(), Some(SizeReq::Auto));
    let rows = [
        row("sndbuf=16K", 1.6e7, 3),
        row("sndbuf=64K", 1.2e9, 3),
        auto,
    ];
    let ex = explain_rows(&rows, &answer, &Meta::default());
    assert_eq!(ex.numbers.knee, None);
    assert!(
        ex.c_snippet[0].contains("leave SO_SNDBUF unset"),
        "{:?}",
        ex.c_snippet
    );
    assert!(
        ex.rust_snippet[0].contains("leave SO_SNDBUF unset"),
        "{:?}",
        ex.rust_snippet
    );
}

#[test]
fn latency_growth_is_found_from_the_smaller_sizes_up() {
    let with_rtt = |label: &str, rtt_ms: u64| SummaryRow {
        rtt_p99_ns: Some(rtt_ms * 1_000_000),
        ..row(label, 5e7, 20_000)
    };
    let answer = answer_for("sndbuf", "64K");
    let rows = [
        with_rtt("sndbuf=16K", 21),
        with_rtt("sndbuf=64K", 22),
        with_rtt("sndbuf=256K", 60),
        with_rtt("sndbuf=1M", 190),
    ];
    let ex = explain_rows(&rows, &answer, &Meta::default());
    assert!(
        ex.sentences.iter().any(|s| s.starts_with(
            "The p99 round trip grows with sndbuf between 64K and 256K, the sizes measured on either side: 60.00ms at 256K against 21.00ms"
        )),
        "{:?}",
        ex.sentences
    );
    // Falling latency is not growth.
    let rows = [with_rtt("sndbuf=16K", 30), with_rtt("sndbuf=64K", 10)];
    let ex = explain_rows(&rows, &answer, &Meta::default());
    assert!(
        ex.sentences.iter().any(|s| s.contains("does not grow")),
        "{:?}",
        ex.sentences
    );
}

#[test]
fn a_capped_request_names_the_sysctl() {
    let mut capped = row("sndbuf=8M", 4.8e8, 900);
    capped.sndbuf_eff = Some(425_984);
    let mut meta = Meta::default();
    meta.hosts
        .sender
        .sysctls
        .insert("net.core.wmem_max".into(), "212992".into());
    let answer = answer_for("sndbuf", "8M");
    let ex = explain_rows(&[row("sndbuf=64K", 2e8, 900), capped], &answer, &meta);
    assert!(
        ex.sentences
            .iter()
            .any(|s| s.starts_with("net.core.wmem_max (212992) capped")),
        "{:?}",
        ex.sentences
    );
    assert_eq!(ex.sysctl_lines, ["sysctl -w net.core.wmem_max=8388608"]);
    // An answer below the cap needs no sysctl, though a larger candidate was capped.
    let answer = answer_for("sndbuf", "64K");
    let mut capped = row("sndbuf=8M", 4.8e8, 900);
    capped.sndbuf_eff = Some(425_984);
    let ex = explain_rows(&[row("sndbuf=64K", 2e8, 900), capped], &answer, &meta);
    assert!(ex.sysctl_lines.is_empty(), "{:?}", ex.sysctl_lines);
}

/// The knee is judged by medians, as the race judges the answer: one starved repetition
/// of 16K (a loaded machine) pulls its mean under 95% of the best but leaves its median
/// where it was, so the knee is the answer's 16K, not 32K. A size tested once is left out
/// of the comparison, and the sentence says how many were measured.
#[test]
fn the_knee_is_judged_by_medians_and_counts_every_size_measured() {
    let answer = answer_for("sndbuf", "16K");
    let mut rows = vec![row("sndbuf=4K", 1.0e7, 900)];
    for g in [2.0e7, 9.9e7, 1.0e8] {
        rows.push(row("sndbuf=16K", g, 900));
    }
    for g in [1.0e8, 1.0e8, 1.0e8] {
        rows.push(row("sndbuf=32K", g, 900));
    }
    rows.push(row("sndbuf=64K", 1.0e8, 900));
    rows.push(row("sndbuf=64K", 1.0e8, 900));
    let ex = explain_rows(&rows, &answer, &Meta::default());
    let knee = ex.numbers.knee.as_ref().expect("a knee");
    assert_eq!((knee.value.as_str(), knee.goodput_bps), ("16K", 9.9e7));
    assert_eq!((knee.sizes_measured, knee.sizes_compared), (4, 3));
    assert!(
        ex.sentences.iter().any(|s| s.contains(
            "stops growing at sndbuf=16K: its median there, 99.00 Mbit/s, reaches 95% of the best median, 100.00 Mbit/s; 3 sizes of sndbuf were compared, those tested twice or more (4 measured)."
        )),
        "{:?}",
        ex.sentences
    );
}

/// The knee reaches the goal's share (0.95 unless `goodput>=F*max` names another); an
/// answer below the knee (the race found it as good on its own repetitions) is said to
/// be, instead of leaving the two sizes to contradict each other.
#[test]
fn the_knee_takes_the_goals_share_and_an_answer_below_it_is_said() {
    let mut answer = Answer {
        goal: "goodput".into(),
        ..answer_for("sndbuf", "16K")
    };
    let mut rows = Vec::new();
    for (label, g) in [("sndbuf=16K", 9.4e7), ("sndbuf=32K", 1.0e8)] {
        rows.push(row(label, g, 900));
        rows.push(row(label, g, 900));
    }
    let knee_of = |answer: &Answer| {
        let ex = explain_rows(&rows, answer, &Meta::default());
        let knee = ex.numbers.knee.clone().expect("a knee");
        let said = ex
            .sentences
            .iter()
            .find(|s| s.starts_with("Goodput stops"))
            .cloned();
        (knee.value, knee.share, said.expect("the knee said"))
    };
    let (value, share, said) = knee_of(&answer);
    assert_eq!((value.as_str(), share), ("32K", 0.95));
    assert!(
        said.contains("The answer, sndbuf=16K, is smaller still"),
        "{said}"
    );
    assert!(said.contains("the race answers the cheaper"), "{said}");
    // A constraint (or another goal) chose it: said so, not the race's equivalence.
    answer.constraints = vec!["rtt_p99<2ms".into()];
    let (_, _, said) = knee_of(&answer);
    assert!(
        said.contains("the goal, goodput, and the constraints, rtt_p99<2ms, chose it"),
        "{said}"
    );
    answer.constraints.clear();
    answer.goal = "goodput>=0.9*max".into();
    let (value, share, said) = knee_of(&answer);
    assert_eq!((value.as_str(), share), ("16K", 0.9));
    assert!(said.contains("reaches 90% of the best median"), "{said}");
    assert!(!said.contains("smaller still"), "{said}");
    answer.goal = "goodput>=0.975*max".into();
    let (_, _, said) = knee_of(&answer);
    assert!(said.contains("reaches 97.5% of the best median"), "{said}");
}

/// On loopback the BDP is under one segment and a receive buffer's knee lies far above
/// it: the explanation says so with the largest MSS read back (a small window lowers a
/// socket's snd_mss); a send buffer's knee, a path whose BDP holds many segments, or rows
/// without the MSS get no word of segments.
#[test]
fn a_bdp_under_one_segment_is_said_with_the_mss() {
    // snd_mss as read back here on loopback: at most half the largest window offered.
    let sizes = [
        ("16K", 10.0e9, 8192),
        ("64K", 22.0e9, 48771),
        ("256K", 22.5e9, 65483),
    ];
    let rows = |key: &str, min_rtt_us: u32, mss: bool| -> Vec<SummaryRow> {
        sizes
            .iter()
            .flat_map(|&(size, g, m)| [(size, g, m), (size, g * 1.01, m)])
            .map(|(size, g, m)| SummaryRow {
                case_label: format!("{key}={size}"),
                mss_eff: mss.then_some(m),
                ..row(&format!("sndbuf={size}"), g, min_rtt_us)
            })
            .collect()
    };
    let segments = |key: &str, rows: &[SummaryRow]| -> Vec<String> {
        let ex = explain_rows(rows, &answer_for(key, "64K"), &Meta::default());
        assert_eq!(ex.numbers.knee.as_ref().map(|k| k.bytes), Some(65536));
        saying(&ex, "segment").into_iter().cloned().collect()
    };
    let said = segments("rcvbuf", &rows("rcvbuf", 3, true));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0]
            .contains("less than one segment: the largest MSS a test's socket read back is 63.9K"),
        "{}",
        said[0]
    );
    assert!(
        said[0].contains("rcvbuf=64K asks for 1.0 segments"),
        "{}",
        said[0]
    );
    assert!(segments("sndbuf", &rows("sndbuf", 3, true)).is_empty());
    assert!(segments("rcvbuf", &rows("rcvbuf", 3, false)).is_empty());
    // 20 ms: a BDP of about 56M, hundreds of segments.
    assert!(segments("rcvbuf", &rows("rcvbuf", 20_000, true)).is_empty());
}

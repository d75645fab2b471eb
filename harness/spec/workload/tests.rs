use super::*;

fn parse(text: &str) -> Result<Workload, WorkloadError> {
    Workload::parse(text, "w.toml", "w")
}

const SWEEP: &str = r#"
name = "buffers"
description = "what buffers do"

[defaults]
proto = "tcp"
duration = "2s"
repeat = 3

[matrix]
sndbuf = ["auto", "64K"]
rcvbuf = ["256K", "1M", "4M"]

[[case]]
proto = "udp"
msg_size = 1400
"#;

#[test]
fn the_matrix_expands_to_its_product_then_the_explicit_cases() {
    let w = parse(SWEEP).unwrap();
    assert_eq!((w.name.as_str(), w.repeat), ("buffers", 3));
    let cases = w.expand().unwrap();
    assert_eq!(cases.len(), 2 * 3 + 1);
    // The last key varies fastest.
    assert_eq!(cases[0].label, "sndbuf=auto rcvbuf=256K");
    assert_eq!(cases[1].label, "sndbuf=auto rcvbuf=1M");
    assert_eq!(cases[3].label, "sndbuf=64K rcvbuf=256K");
    assert_eq!(cases[3].spec.sender.sndbuf, Some(65536));
    assert_eq!(cases[3].spec.duration, std::time::Duration::from_secs(2));
    assert_eq!(cases[6].spec.protocol, crate::spec::config::Protocol::Udp);
    assert_eq!(cases[6].spec.msg_size, 1400);
}

#[test]
fn per_side_knobs_and_defaults_only() {
    let w = parse("[defaults]\nsender.sndbuf = \"64K\"\n[defaults.receiver]\nrcvbuf = \"1M\"\n")
        .unwrap();
    let cases = w.expand().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].spec.sender.sndbuf, Some(65536));
    assert_eq!(cases[0].spec.receiver.sndbuf, None);
    assert_eq!(cases[0].spec.receiver.rcvbuf, Some(1 << 20));
    let w = parse("[matrix]\nreceiver.rcvbuf = [\"64K\", \"1M\"]\n").unwrap();
    assert_eq!(w.expand().unwrap()[1].spec.receiver.rcvbuf, Some(1 << 20));
}

#[test]
fn set_overrides_and_sweeps() {
    let mut w = parse(SWEEP).unwrap();
    w.set("repeat=1").unwrap();
    assert_eq!(w.repeat, 1);
    w.set(r#"msg_size=["16K", "64K"]"#).unwrap();
    w.set("rcvbuf=2M").unwrap();
    let cases = w.expand().unwrap();
    // sndbuf (2) x msg_size (2); rcvbuf left the matrix; plus the explicit case.
    assert_eq!(cases.len(), 2 * 2 + 1);
    assert!(cases[..4]
        .iter()
        .all(|c| c.spec.receiver.rcvbuf == Some(2 << 20)));
    assert_eq!(cases[1].label, "sndbuf=auto msg_size=64K");
    w.set("duration=1s").unwrap();
    assert_eq!(
        w.expand().unwrap()[0].spec.duration,
        std::time::Duration::from_secs(1)
    );
    w.set("shuffle=true").unwrap();
    w.set("seed=42").unwrap();
    assert!(w.shuffle && w.seed == Some(42));
    for bad in [
        "msg_size",
        "repeat=0",
        "colour=blue",
        "msg_size=[]",
        "sndbuf=lots",
        "repeat=[1,2]",
    ] {
        let err = w.set(bad).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--set {bad}:")), "{err}");
    }
}

/// A list written as a shell user would (`[64K,1M]`) is not TOML: the error shows it
/// written as TOML, a distribution's fields kept together.
#[test]
fn an_unquoted_set_list_is_shown_quoted() {
    let mut w = parse(SWEEP).unwrap();
    for (bad, shown) in [
        ("sndbuf=[64K,1M]", r#"["64K", "1M"]"#),
        ("linger=[off, 0]", r#"["off", 0]"#),
        (
            "msg_size=[uniform:min=1,max=9, 1K]",
            r#"["uniform:min=1,max=9", "1K"]"#,
        ),
        (
            "msg_size=[1K, uniform:min=1,max=9]",
            r#"["1K", "uniform:min=1,max=9"]"#,
        ),
    ] {
        let err = w.set(bad).unwrap_err().to_string();
        assert!(
            err.contains("is not a TOML list") && err.contains(shown),
            "{err}"
        );
        let (key, _) = bad.split_once('=').unwrap();
        w.set(&format!("{key}={shown}")).unwrap();
    }
    // A list, then another assignment: two assignments, each shown as its own --set.
    let e = w
        .set(r#"msg_size=["64K","1M"] sndbuf=2M"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(r#"one assignment per --set: --set msg_size=["64K","1M"] --set sndbuf=2M"#),
        "{e}"
    );
    let e = w.set("name=[v2] repeat=3").unwrap_err().to_string();
    assert!(e.ends_with("--set name=[v2] --set repeat=3"), "{e}");
    // Free text may start with a bracket.
    w.set("description=[draft] small buffers").unwrap();
    w.set("name=[v2]").unwrap();
    assert_eq!(
        (w.description.as_str(), w.name.as_str()),
        ("[draft] small buffers", "[v2]")
    );
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn errors_carry_line_and_column() {
    let e = error_of("name = \"x\"\n[defaults]\nproto = \"tcp\"\nmsg_size = \"lots\"\n");
    assert!(
        e.starts_with("w.toml:4:12: msg_size: 'lots' is not a size"),
        "{e}"
    );
    let e = error_of("[defaults]\n  sndbuff = \"64K\"\n");
    assert!(
        e.starts_with("w.toml:2:13:") && e.contains("unknown key 'sndbuff'"),
        "{e}"
    );
    let e = error_of("colour = \"blue\"\n");
    assert!(e.starts_with("w.toml:1:1: unknown key 'colour'"), "{e}");
    let e = error_of("[matrix]\n");
    assert!(
        e.starts_with("w.toml:1:1:") && e.contains("matrix is empty"),
        "{e}"
    );
    let e = error_of("[matrix]\nsndbuf = []\n");
    assert!(
        e.starts_with("w.toml:2:10:") && e.contains("empty list"),
        "{e}"
    );
    let e = error_of("[matrix]\nsndbuf = \"64K\"\n");
    assert!(
        e.starts_with("w.toml:2:10:") && e.contains("list of values"),
        "{e}"
    );
    let e = error_of("[defaults]\nduration = [1, 2]\n");
    assert!(e.starts_with("w.toml:2:12:"), "{e}");
    let e = error_of("[defaults]\nnodelay = 3\n");
    assert!(
        e.starts_with("w.toml:2:11: nodelay: '3' is not true or false"),
        "{e}"
    );
    let e = error_of("[defaults\nproto = 1\n");
    assert!(
        e.starts_with("w.toml:1:") && e.contains("not valid TOML"),
        "{e}"
    );
    let e = error_of("repeat = \"many\"\n");
    assert!(e.starts_with("w.toml:1:10: repeat:"), "{e}");
    // A combination that is invalid only as a whole names its case.
    let e =
        error_of("[defaults]\npattern = \"rr\"\n[matrix]\ndirection = [\"forward\", \"bidir\"]\n");
    assert!(e.contains("case 2 (direction=bidir)"), "{e}");
}

/// The table of which knob applies to which protocol agrees with the validation that
/// refuses a knob on a protocol (so a sweep skips exactly what a single case refuses).
#[test]
fn knob_applicability_matches_validation() {
    let value = |key: &str| knob(key).unwrap().example;
    for proto in [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Mptcp,
        Protocol::UnixStream,
        Protocol::UnixDgram,
    ] {
        for knob in socket_keys() {
            // Knobs whose other rules (pattern, combinations) are not the protocol's.
            if ["sendfile", "splice", "spin", "cpu_affinity"].contains(&knob) {
                continue;
            }
            let mut b = SpecBuilder::new();
            b.set("proto", proto.as_str()).unwrap();
            b.set(knob, value(knob)).unwrap();
            let built = b.build();
            assert_eq!(
                built.is_ok(),
                knob_applies(knob, proto),
                "{knob} on {proto}: {built:?}"
            );
        }
    }
}

#[test]
fn a_sweep_leaves_out_what_does_not_apply_and_names_it() {
    let mut w = Workload::new("");
    w.set_default("nodelay", "true");
    w.set_default("sender.mss", "1000");
    w.set_default("cork", "false");
    w.set(r#"proto=["tcp","udp"]"#).unwrap();
    let cases = w.expand().unwrap();
    assert_eq!(cases[0].not_applicable, Vec::<String>::new());
    assert!(cases[0].spec.sender.nodelay);
    assert_eq!(cases[1].not_applicable, ["nodelay", "sender.mss"]);
    assert!(!cases[1].spec.sender.nodelay);
    // One case: refused, as before.
    let mut one = Workload::new("");
    one.set_default("nodelay", "true");
    one.set_default("proto", "udp");
    assert!(one
        .expand()
        .unwrap_err()
        .to_string()
        .contains("--nodelay applies to tcp"));
    // A knob that needs a protocol other than the default is fine where it is set.
    let w = parse("[defaults]\nproto = \"udp\"\ngso = true\nbatch = 1\n").unwrap();
    assert!(w.expand().unwrap()[0].spec.sender.udp_gso.is_some());
}

#[test]
fn a_size_range_sweeps_every_power_of_two() {
    let w = parse("[matrix]\nrcvbuf = \"4K..4M\"\ncongestion = [\"cubic\", \"reno\"]\n").unwrap();
    let values: Vec<&str> = w.matrix[0].1.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(
        values,
        ["4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M", "2M", "4M"]
    );
    assert_eq!(w.case_count(), 22);
    let cases = w.expand().unwrap();
    assert_eq!(cases[21].spec.receiver.rcvbuf, Some(4 << 20));
    assert_eq!(cases[0].label, "rcvbuf=4K congestion=cubic");
    // Ends that are not powers of two are kept; a reversed range runs downwards.
    assert_eq!(
        size_range("msg_size", "1400..5000").unwrap(),
        ["1400", "2K", "4K", "5000"]
    );
    assert_eq!(
        size_range("sndbuf", "64K..16K").unwrap(),
        ["64K", "32K", "16K"]
    );
    assert_eq!(size_range("sender.sndbuf", "1M..1M").unwrap(), ["1M"]);
    // --set takes the same range.
    let mut w = Workload::new("");
    w.set("sndbuf=16K..64K").unwrap();
    assert_eq!(w.case_count(), 3);
    assert_eq!(w.expand().unwrap()[2].spec.sender.sndbuf, Some(64 << 10));
    // Mistakes are named with their place.
    let e = error_of("[matrix]\nsndbuf = \"16K..lots\"\n");
    assert!(
        e.starts_with("w.toml:2:10: sndbuf: '16K..lots' is not a size range"),
        "{e}"
    );
    let e = error_of("[matrix]\ncongestion = \"a..b\"\n");
    assert!(e.contains("only a size takes"), "{e}");
    assert!(size_range("rcvbuf", "0..4K").is_err());
    assert!(Workload::new("")
        .set("flows=1..4")
        .unwrap_err()
        .to_string()
        .contains("only a size"));
}

#[test]
fn cases_are_counted_without_building_them() {
    let w = parse(SWEEP).unwrap();
    assert_eq!(w.case_count(), 2 * 3 + 1);
    assert_eq!(w.case_count(), w.expand().unwrap().len() as u64);
    assert_eq!(w.varied_keys(), ["sndbuf", "rcvbuf", "proto", "msg_size"]);
    assert_eq!(Workload::new("").case_count(), 1);
    // A million cases: counted, never built (parse skips building them too).
    let list: Vec<String> = (1..=100).map(|i| format!("\"{i}K\"")).collect();
    let text = format!(
        "[matrix]\nsndbuf = [{0}]\nrcvbuf = [{0}]\nmsg_size = [{0}]\n",
        list.join(",")
    );
    assert_eq!(parse(&text).unwrap().case_count(), 1_000_000);
    let mut huge = Workload::new("");
    for k in [
        "sndbuf",
        "rcvbuf",
        "msg_size",
        "notsent_lowat",
        "response_size",
    ] {
        huge.matrix
            .push((k.into(), parse(&text).unwrap().matrix[0].1.clone()));
    }
    for _ in 0..6 {
        huge.matrix.push(huge.matrix[0].clone());
    }
    assert_eq!(huge.case_count(), u64::MAX, "saturates");
}

#[test]
fn unknown_keys_suggest_the_nearest() {
    assert_eq!(nearest_key("sndbuff", &known_keys()), Some("sndbuf"));
    assert_eq!(nearest_key("msg-size", &known_keys()), Some("msg_size"));
    assert_eq!(nearest_key("shufle", &known_keys()), Some("shuffle"));
    assert_eq!(nearest_key("colour", &known_keys()), None);
    assert!(unknown_key("repeat").is_none() && unknown_key("sender.mss").is_none());
    assert!(unknown_key("sender.mms").unwrap().contains("'sender.mss'"));
    let mut w = Workload::new("");
    w.set("msg-size=1K").unwrap();
    w.set("response-size=2K").unwrap();
    let spec = &w.expand().unwrap()[0].spec;
    assert_eq!((spec.msg_size, spec.response_size), (1024, 2048));
    let e = w.set("repeat=2 seed=3").unwrap_err().to_string();
    assert!(
        e.ends_with("one assignment per --set: --set repeat=2 --set seed=3"),
        "{e}"
    );
    // A list with spaces is one value, not several assignments.
    w.set(r#"sndbuf=["64K", "1M"]"#).unwrap();
}

#[test]
fn an_empty_file_and_a_fifo_are_refused() {
    assert!(parse("# comment only\n\n")
        .unwrap_err()
        .to_string()
        .contains("the workload is empty"));
    let tmp = std::env::temp_dir().join(format!("sockbench-fifo-{}", std::process::id()));
    // The mkfifo(1) command rather than mkfifo(3): raw calls live in harness/sys only.
    let made = std::process::Command::new("mkfifo").arg(&tmp).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", tmp.display());
    let e = Workload::from_file(&tmp).unwrap_err().to_string();
    let _ = std::fs::remove_file(&tmp);
    assert!(e.contains("not a regular file"), "{e}");
}

/// A `[[case]]` that writes out a point of the matrix (a default spelled out) is the same
/// test, and is found; one that differs in any knob is not.
#[test]
fn a_case_that_repeats_an_earlier_one_is_found() {
    let w = parse(
        "[matrix]\nmsg_size = [\"64\", \"1K\"]\n\n[[case]]\nnodelay = false\nmsg_size = \"1K\"\n\n[[case]]\nnodelay = true\nmsg_size = \"1K\"\n\n[[case]]\nmsg_size = \"64\"\n",
    )
    .unwrap();
    let cases = w.expand().unwrap();
    assert_eq!(Workload::repeated(&cases), [(2, 1), (4, 0)]);
    assert_eq!(Workload::repeated(&cases[..2]), []);
}

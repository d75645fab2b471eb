use super::*;

#[test]
fn names_round_trip() {
    for p in Protocol::ALL {
        assert_eq!(p.as_str().parse::<Protocol>().unwrap(), *p);
    }
    let err = "quic".parse::<Protocol>().unwrap_err().to_string();
    assert!(
        err.contains("'quic'") && err.contains("unix-dgram"),
        "{err}"
    );
}

#[test]
fn conn_plan_follows_direction() {
    let mut spec = TestSpec {
        flows: 2,
        ..TestSpec::default()
    };
    let plan = spec.conn_plan();
    assert_eq!(plan.len(), 2);
    assert!(plan.iter().all(|c| c.active == Side::Sender));
    spec.direction = Direction::Bidir;
    let plan = spec.conn_plan();
    assert_eq!(plan.len(), 4);
    assert_eq!(
        plan.iter().filter(|c| c.active == Side::Receiver).count(),
        2
    );
    assert_eq!(
        plan.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn validation_names_the_problem() {
    let mut spec = TestSpec {
        protocol: Protocol::Udp,
        ..TestSpec::default()
    };
    spec.msg_size = 8;
    assert!(spec
        .validate()
        .unwrap_err()
        .to_string()
        .contains("--msg-size 8"));
    spec.msg_size = 1400;
    assert!(spec.validate().is_ok());
    spec.sender.mss = Some(1000);
    assert!(spec
        .validate()
        .unwrap_err()
        .to_string()
        .contains("tcp and mptcp only"));
    let mut spec = TestSpec::default();
    spec.sender.mss = Some(10);
    assert!(spec
        .validate()
        .unwrap_err()
        .to_string()
        .contains("88 to 32767"));
    let spec = TestSpec {
        duration: Duration::ZERO,
        ..TestSpec::default()
    };
    assert!(spec.validate().is_err());
    let spec = TestSpec {
        pattern: Pattern::Rr,
        direction: Direction::Bidir,
        ..TestSpec::default()
    };
    assert!(spec.validate().is_err());
    let spec = TestSpec {
        pattern: Pattern::Crr,
        protocol: Protocol::Udp,
        msg_size: 64,
        ..TestSpec::default()
    };
    assert!(spec
        .validate()
        .unwrap_err()
        .to_string()
        .contains("connection-oriented"));
    let spec = TestSpec {
        pattern: Pattern::Rr,
        probe: true,
        msg_size: 64,
        ..TestSpec::default()
    };
    assert!(spec.validate().unwrap_err().to_string().contains("--probe"));
}

#[test]
fn the_probe_is_one_more_connection() {
    let spec = TestSpec {
        flows: 2,
        probe: true,
        ..TestSpec::default()
    };
    let plan = spec.conn_plan();
    assert_eq!(plan.len(), 3);
    assert_eq!(plan[2].kind, Pattern::Rr);
    assert_eq!(plan[2].flow, 2);
    assert_eq!(spec.rr_sizes(), (64, 64));
}

/// Which keys are sizes and which take a distribution come from the two tables alone:
/// tune, size ranges and the workload reader ask them.
#[test]
fn size_and_distribution_keys_come_from_the_tables() {
    for key in [
        "sndbuf",
        "sender.rcvbuf",
        "notsent_lowat",
        "msg_size",
        "probe_size",
    ] {
        assert!(is_size_key(key), "{key}");
    }
    for key in [
        "flows",
        "congestion",
        "sender.congestion",
        "think_time",
        "nodelay",
    ] {
        assert!(!is_size_key(key), "{key}");
    }
    let sizes = size_keys();
    assert!(sizes.iter().all(|k| is_size_key(k)));
    assert_eq!(
        sizes.len(),
        crate::spec::knobs::KNOBS
            .iter()
            .filter(|k| k.takes_size())
            .count()
            + TEST_KEYS
                .iter()
                .filter(|k| k.search == Search::Size)
                .count()
    );
    for key in ["msg_size", "response_size", "think_time"] {
        assert!(takes_dist(key), "{key}");
    }
    assert!(!takes_dist("probe_size") && !takes_dist("rcvbuf"));
}

/// What the terminal table shows for a case that does not name a swept key.
#[test]
fn value_of_reads_any_key_from_the_spec() {
    let mut b = SpecBuilder::new();
    b.set("pattern", "rr").unwrap();
    b.set("receiver.rcvbuf", "64K").unwrap();
    let spec = b.build().unwrap();
    assert_eq!(spec.value_of("pattern").as_deref(), Some("rr"));
    assert_eq!(spec.value_of("proto").as_deref(), Some("tcp"));
    assert_eq!(spec.value_of("nodelay").as_deref(), Some("false"));
    assert!(spec.value_of("receiver.rcvbuf").is_some());
    assert_eq!(spec.value_of("sender.rcvbuf"), None, "left to the kernel");
    assert_eq!(spec.value_of("sender.pattern"), None, "not a per-side key");
    assert_eq!(spec.value_of("no_such_key"), None);
    assert_eq!(spec.value_of("rate"), None, "no rate set");
    assert_eq!(spec.value_of("rate"), None, "no rate set");
    b.set("nodelay", "true").unwrap();
    assert_eq!(
        b.build().unwrap().value_of("nodelay").as_deref(),
        Some("true")
    );
    let mut b = SpecBuilder::new();
    b.set("proto", "udp").unwrap();
    let udp = b.build().unwrap();
    assert_eq!(udp.value_of("nodelay"), None, "a TCP knob on udp");
}

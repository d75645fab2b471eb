use super::*;

#[test]
fn every_knob_has_a_flag_a_key_columns_and_a_parser_that_round_trips() {
    let mut keys = std::collections::HashSet::new();
    for k in KNOBS {
        assert!(keys.insert(k.key), "{}: twice in the table", k.key);
        assert!(
            k.key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}: a key is lower case with _",
            k.key
        );
        assert_eq!(k.flag(), format!("--{}", k.key.replace('_', "-")));
        assert!(
            k.help.contains("[default:"),
            "{}: no default in the help",
            k.key
        );
        assert!(!k.columns.is_empty(), "{}: no summary.csv column", k.key);
        let mut set = SocketKnobs::default();
        assert!(!k.is_set(&set), "{}: set by default", k.key);
        (k.parse)(&mut set, k.example).unwrap_or_else(|e| panic!("{}: {e}", k.key));
        let shown = (k.show)(&set).unwrap_or_else(|| panic!("{}: not shown", k.key));
        let mut again = SocketKnobs::default();
        (k.parse)(&mut again, &shown).unwrap_or_else(|e| panic!("{}: {e}", k.key));
        assert_eq!(set, again, "{}: '{}' shown as '{shown}'", k.key, k.example);
        assert!((k.parse)(&mut again, "?").is_err(), "{}: took '?'", k.key);
        if let Some(o) = &k.sockopt {
            assert!(!o.phases.is_empty(), "{}: never set", k.key);
        }
    }
}

#[test]
fn switches_are_off_unless_turned_on() {
    for k in KNOBS.iter().filter(|k| k.takes == Takes::Switch) {
        let mut set = SocketKnobs::default();
        (k.parse)(&mut set, "false").unwrap();
        assert!(!k.is_set(&set), "{}", k.key);
        (k.parse)(&mut set, "on").unwrap();
        assert!(k.is_set(&set), "{}", k.key);
    }
}

#[test]
fn range_checks_name_the_flag() {
    let k = SocketKnobs {
        mss: Some(10),
        busy_poll_us: Some(2_000_000),
        ..SocketKnobs::default()
    };
    let errors: Vec<String> = KNOBS
        .iter()
        .filter_map(|knob| (knob.check)(&k).err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("--mss 10"), "{errors:?}");
    assert!(errors[1].starts_with("--busy-poll"), "{errors:?}");
}

#[test]
fn every_knob_works_on_linux_and_says_how_it_is_read_back() {
    for k in KNOBS {
        for on in k.on {
            assert!(!on.read_back.is_empty(), "{} on {}", k.key, on.os);
        }
        assert!(k.on(Os::Linux).is_some(), "{}: not on Linux", k.key);
        let mut oses: Vec<Os> = k.on.iter().map(|o| o.os).collect();
        oses.dedup();
        assert_eq!(oses.len(), k.on.len(), "{}: a system twice", k.key);
    }
}

#[test]
fn a_knob_the_system_cannot_apply_is_refused_in_one_line_naming_it() {
    let gso = SocketKnobs {
        udp_gso: Some(1400),
        ..SocketKnobs::default()
    };
    assert!(check_os(&gso, Os::Linux, "this host").is_ok());
    let e = check_os(&gso, Os::Windows, "this host")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "--gso: Linux only (this host: windows)");
    let cc = SocketKnobs {
        congestion: Some("reno".into()),
        ..SocketKnobs::default()
    };
    assert!(check_os(&cc, Os::Freebsd, "this host").is_ok());
    let e = check_os(&cc, Os::Macos, "the receiver's host")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "--congestion: Linux and FreeBSD only (the receiver's host: macos)"
    );
    let tos = SocketKnobs {
        tos: Some(16),
        ..SocketKnobs::default()
    };
    let e = check_os(&tos, Os::Windows, "this host")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "--tos: Linux, macOS and FreeBSD only (this host: windows)"
    );
    // What every system applies passes everywhere.
    let bufs = SocketKnobs {
        sndbuf: Some(1 << 20),
        rcvbuf: Some(1 << 20),
        nodelay: true,
        ..SocketKnobs::default()
    };
    for os in Os::ALL {
        assert!(check_os(&bufs, os, "this host").is_ok(), "{os}");
    }
    assert!(!knob_works_on("gro", Os::Macos));
    assert!(knob_works_on("duration", Os::Windows));
}

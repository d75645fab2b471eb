use super::*;

/// Every entry of the knob table is a flag of run, mesh and tune, and a flag given
/// becomes the table key's setting.
#[test]
fn every_knob_of_the_table_is_a_flag() {
    let cmd = Cli::command();
    for sub in ["run", "mesh", "tune"] {
        let sc = cmd.find_subcommand(sub).unwrap();
        for knob in KNOBS {
            let flag = knob.flag();
            let arg = sc
                .get_arguments()
                .find(|a| a.get_long() == Some(&flag[2..]))
                .unwrap_or_else(|| panic!("{sub} has no {flag}"));
            assert_eq!(
                arg.get_help().map(|h| h.to_string()).as_deref(),
                Some(knob.help)
            );
        }
    }
    let mut argv = vec!["sockbench".to_string(), "run".to_string()];
    for knob in KNOBS {
        argv.push(knob.flag());
        if knob.takes != Takes::Switch {
            argv.push(knob.example.to_string());
        }
    }
    let Command::Run(run) = Cli::try_parse_from(&argv).unwrap().command else {
        panic!("not run");
    };
    let settings = run.knobs.settings();
    for knob in KNOBS {
        let want = match knob.takes {
            Takes::Switch => "true",
            Takes::Value { .. } => knob.example,
        };
        assert!(
            settings.contains(&(knob.key, want.to_string())),
            "{}: {settings:?}",
            knob.key
        );
    }
}

#[test]
fn typed_values_keep_their_spellings() {
    let argv = [
        "sockbench",
        "run",
        "--proto",
        "unix-stream",
        "--pattern",
        "rr",
        "--direction",
        "reverse",
    ];
    let Command::Run(run) = Cli::try_parse_from(argv).unwrap().command else {
        panic!("not run");
    };
    assert_eq!(run.knobs.test.get("proto"), Some("unix-stream"));
    let settings = run.knobs.settings();
    assert!(
        settings.contains(&("proto", "unix-stream".into())),
        "{settings:?}"
    );
    assert!(
        settings.contains(&("direction", "reverse".into())),
        "{settings:?}"
    );
    let err = Cli::try_parse_from(["sockbench", "run", "--proto", "quic"]).unwrap_err();
    let line = invalid_choice(&err).unwrap();
    assert!(
        line.contains("'quic'") && line.contains("unix-dgram"),
        "{line}"
    );
}

/// Every entry of the key table is a flag of run, mesh and tune with the table's help, a
/// flag given becomes the key's setting, the key is a workload and `--set` key, and its
/// printer round-trips its parser.
#[test]
fn every_test_key_of_the_table_is_a_flag_and_a_key() {
    let cmd = Cli::command();
    for sub in ["run", "mesh", "tune"] {
        let sc = cmd.find_subcommand(sub).unwrap();
        for key in TEST_KEYS {
            let flag = key.flag();
            let arg = sc
                .get_arguments()
                .find(|a| a.get_long() == Some(&flag[2..]))
                .unwrap_or_else(|| panic!("{sub} has no {flag}"));
            assert_eq!(arg.get_short(), key.short, "{flag}");
            assert_eq!(
                arg.get_help().map(|h| h.to_string()).as_deref(),
                Some(key.help)
            );
        }
    }
    let mut argv = vec!["sockbench".to_string(), "run".to_string()];
    for key in TEST_KEYS {
        argv.extend([key.flag(), key.example.to_string()]);
    }
    let Command::Run(run) = Cli::try_parse_from(&argv).unwrap().command else {
        panic!("not run");
    };
    let settings = run.knobs.settings();
    // A key whose parser takes more spellings than its choices leaves them to it.
    assert!(Cli::try_parse_from(["sockbench", "run", "--probe", "off"]).is_ok());
    let known = crate::spec::workload::known_keys();
    let defaults = SpecBuilder::new().build().unwrap();
    for key in TEST_KEYS {
        assert!(
            settings.contains(&(key.key, key.example.to_string())),
            "{}: {settings:?}",
            key.key
        );
        assert!(
            known.contains(&key.key),
            "{} is not a workload key",
            key.key
        );
        SpecBuilder::new()
            .set(key.key, key.example)
            .unwrap_or_else(|e| panic!("--set {}={}: {e}", key.key, key.example));
        // The printer gives back what the parser took (rate has no default to print).
        let shown = (key.show)(&defaults);
        if !shown.is_empty() {
            let mut b = SpecBuilder::new();
            b.set(key.key, &shown).unwrap();
            assert_eq!((key.show)(&b.build().unwrap()), shown, "{}", key.key);
        }
    }
}

/// The key table's columns are summary.csv's, its dictionary lines are in the workload fuzz
/// dictionary and its docs table is the one in docs/guide/workloads.md.
#[test]
fn the_test_key_tables_columns_dictionary_and_docs_are_the_tables() {
    let header = crate::output::header_of::<crate::output::summary::SummaryRow>();
    for column in crate::spec::config::columns_of(TEST_KEYS) {
        assert!(
            header.iter().any(|h| h == column),
            "{column} is not a column"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dict = std::fs::read_to_string(root.join("fuzz/workload.dict")).unwrap();
    for line in crate::spec::config::dict_lines(TEST_KEYS) {
        assert!(
            dict.lines().any(|l| l == line),
            "fuzz/workload.dict lacks {line}"
        );
    }
    let docs = std::fs::read_to_string(root.join("docs/guide/workloads.md")).unwrap();
    let table = crate::spec::config::doc_table(TEST_KEYS);
    assert!(
        docs.contains(&table),
        "docs/guide/workloads.md: the keys table is not the key table's; it is:\n{table}"
    );
}

/// A dummy entry in a scratch copy of the key table shows up in everything derived from
/// it: a flag (with its one-letter spelling) whose value becomes the key's setting, a key
/// `--set` dispatches to the entry's parser, the known keys, a summary.csv column, a
/// fuzz dictionary line and a docs row.
#[test]
fn a_dummy_test_key_derives_everywhere() {
    let dummy = TestKey {
        key: "dummy_key",
        short: Some('Z'),
        help: "A key that exists only in this test [default: none]",
        value: "N",
        choices: &[],
        only_choices: false,
        example: "3",
        parse: |_, v| Err(ConfigError::value(format!("dummy parsed {v}"))),
        show: |_| "3".into(),
        check: |_| Ok(()),
        column: Some("dummy_column"),
        search: crate::spec::config::Search::List,
        dist: false,
    };
    let scratch: &'static [TestKey] = Box::leak([TEST_KEYS, &[dummy]].concat().into_boxed_slice());
    let cmd = clap::Command::new("scratch").args(TestKeyFlags::args_of(scratch));
    let m = cmd.try_get_matches_from(["scratch", "-Z", "3"]).unwrap();
    let flags = TestKeyFlags::settings_of(scratch, &m);
    assert_eq!(flags.get("dummy_key"), Some("3"));
    let cmd = clap::Command::new("scratch").args(TestKeyFlags::args_of(scratch));
    let m = cmd
        .try_get_matches_from(["scratch", "--dummy-key", "4"])
        .unwrap();
    assert_eq!(
        TestKeyFlags::settings_of(scratch, &m).get("dummy_key"),
        Some("4")
    );
    let err = SpecBuilder::new()
        .set_with(scratch, "dummy_key", "5")
        .unwrap_err();
    assert_eq!(err.to_string(), "dummy parsed 5");
    assert!(crate::spec::config::keys_of(scratch).any(|k| k == "dummy_key"));
    assert!(crate::spec::config::columns_of(scratch).contains(&"dummy_column"));
    assert!(crate::spec::config::dict_lines(scratch).contains(&"\"dummy_key\"".to_string()));
    assert!(crate::spec::config::doc_table(scratch)
        .contains("| `dummy_key` | `--dummy-key`, `-Z` | `dummy_column` | a list |"));
    // The real table has no such key: the scratch copy is what the derivations read.
    assert!(SpecBuilder::new().set("dummy_key", "5").is_err());
    assert!(!crate::spec::config::keys_of(TEST_KEYS).any(|k| k == "dummy_key"));
}

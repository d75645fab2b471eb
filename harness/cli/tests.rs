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
    assert_eq!(run.knobs.proto, Some(Protocol::UnixStream));
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

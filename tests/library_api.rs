//! The facade's behaviour: errors a user meets, figures read back as the same run measured
//! them, a remote receiver with a pre-shared key, and the results directory it writes.

mod common;

use std::time::Duration;

use common::{read_csv, Server};
use sockbench::{Error, Pattern, Protocol, Receiver, Status, Test};

fn short() -> Test {
    Test::new()
        .duration(Duration::from_millis(200))
        .warmup(Duration::from_millis(50))
}

#[test]
fn a_bad_knob_is_a_config_error_naming_it_before_any_traffic() {
    let e = Test::new().set("sndbuf", "lots").check().unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(e.to_string().contains("sndbuf"), "{e}");
    // An error-chain printer says it once: no cause that repeats the message.
    let cause = std::error::Error::source(&e).map(|c| c.to_string());
    assert_ne!(cause, Some(e.to_string()));
    let e = Test::new().set("no_such_knob", "1").check().unwrap_err();
    assert!(e.to_string().contains("no_such_knob"), "{e}");
    // A knob that does not apply to the protocol, as `sockbench run` refuses it.
    let e = Test::new()
        .protocol(Protocol::Udp)
        .mss(1000)
        .check()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(matches!(
        Receiver::remote("no such host:x"),
        Err(Error::Reach(_))
    ));
}

#[test]
fn an_rr_outcome_reads_back_what_the_run_measured() {
    let receiver = Receiver::in_process().unwrap();
    let outcome = short()
        .protocol(Protocol::Tcp)
        .pattern(Pattern::Rr)
        .msg_size(256)
        .nodelay(true)
        .sndbuf(64 << 10)
        .run(&receiver)
        .unwrap()
        .ok()
        .unwrap();
    assert_eq!(outcome.status(), Status::Ok);
    let rtt = outcome.rtt().unwrap();
    let h = outcome.rtt_histogram().unwrap().unwrap();
    assert_eq!(h.len(), rtt.count);
    assert_eq!(h.value_at_quantile(0.99), rtt.p99);
    let row = outcome.summary();
    assert_eq!(row.rtt_p50_ns, Some(rtt.p50));
    assert_eq!(row.transactions, outcome.transactions());
    assert!(outcome.transactions().unwrap() >= rtt.count);
    let knobs = outcome.knobs();
    assert_eq!(knobs["sndbuf_req"], "65536");
    assert_eq!(
        knobs["sndbuf_eff"],
        row.sndbuf_eff.map(|v| v.to_string()).unwrap_or_default()
    );
    assert_eq!(knobs["nodelay"], "true");
    assert!(!knobs.contains_key("goodput_bps"));
}

/// A receiver in this process on IPv6 loopback, where nothing listens on IPv4: the test
/// runs, its data connections made to the address the receiver gave.
#[test]
fn an_in_process_receiver_listens_where_it_is_told() {
    let v6: std::net::SocketAddr = "[::1]:0".parse().unwrap();
    let has_v6 = std::net::TcpListener::bind(v6).is_ok();
    if !common::require(has_v6, "IPv6 loopback (::1)", "enable IPv6 on lo") {
        return;
    }
    let receiver = Receiver::in_process_on(v6).unwrap();
    assert!(receiver.addr().is_ipv6() && receiver.addr().port() != 0);
    let outcome = short().msg_size(16 << 10).run(&receiver).unwrap();
    assert_eq!(outcome.status(), Status::Ok, "{:?}", outcome.error());
    assert!(outcome.goodput_bps().unwrap() > 0.0);
}

#[test]
fn a_remote_receiver_needs_the_key_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "3f9a1c6e0b7d24c58e1f93a6d0b2c7e4\n").unwrap();
    let server = Server::start(&["--quiet", "--psk-file", key.to_str().unwrap()]);
    let target = server.addr.to_string();

    let wrong = Receiver::remote(&target)
        .unwrap()
        .with_psk(b"a different key of enough bytes!");
    let e = short().run(&wrong).unwrap_err();
    assert!(matches!(e, Error::Reach(_)), "{e:?}");

    let right = Receiver::remote(&target)
        .unwrap()
        .with_psk_file(&key)
        .unwrap();
    let outcome = short().msg_size(16 << 10).run(&right).unwrap();
    assert_eq!(outcome.status(), Status::Ok, "{:?}", outcome.error());
    assert!(outcome.goodput_bps().unwrap() > 0.0);
    let e = Receiver::remote(&target)
        .unwrap()
        .with_psk_file(&dir.path().join("missing"))
        .unwrap_err();
    assert!(matches!(e, Error::Psk { .. }), "{e:?}");
}

#[test]
fn outcomes_of_one_test_are_repetitions_of_one_case_in_the_results_directory() {
    let receiver = Receiver::in_process().unwrap();
    let stream = short().protocol(Protocol::UnixStream).msg_size(16 << 10);
    let rr = short()
        .protocol(Protocol::Udp)
        .pattern(Pattern::Rr)
        .msg_size(64);
    let outcomes: Vec<_> = [&stream, &rr, &stream]
        .iter()
        .map(|t| t.run(&receiver).unwrap().ok().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    sockbench::write_results(dir.path(), "mine", &outcomes).unwrap();
    let summary = read_csv(&dir.path().join("summary.csv"));
    let cases: Vec<(&str, &str, &str)> = summary
        .rows
        .iter()
        .map(|r| {
            (
                r["case"].as_str(),
                r["repetition"].as_str(),
                r["protocol"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        cases,
        [
            ("1", "1", "unix-stream"),
            ("2", "1", "udp"),
            ("1", "2", "unix-stream")
        ]
    );
    // Each row is its outcome's own summary row, figures as measured.
    let third = outcomes[2].summary();
    assert_eq!(
        summary.rows[2]["bytes_received"],
        third.bytes_received.unwrap().to_string()
    );
    assert_eq!(read_csv(&dir.path().join("cases.csv")).rows.len(), 2);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["workload_name"], "mine");
    assert_eq!(meta["runs"], 3);
    // Nothing to write is an error, not a directory `sockbench report` refuses.
    let empty = dir.path().join("empty");
    let e = sockbench::write_results(&empty, "none", &[]).unwrap_err();
    assert!(matches!(e, Error::Output(_)) && !empty.exists(), "{e:?}");
    // The receiver was reached: its version is known, as `sockbench run` records it.
    assert_eq!(
        meta["receiver_sockbench_version"],
        env!("CARGO_PKG_VERSION")
    );
    for file in ["histograms.csv", "intervals.csv", "latency.hlog"] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
}

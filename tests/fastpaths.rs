//! Every fast path accounts exactly as the plain path does: same bytes, same sequence
//! accounting, same histogram counts.

mod common;

use common::*;

/// Paced below what the machine can take, and accounted exactly on either path: every
/// datagram sent is received or counted lost by its sequence number (a receiver starved
/// for a third of a second on a loaded machine overflows even 2 MB of buffer: loss is
/// allowed, miscounting is not), and neither path sends ahead of the pacer's schedule
/// (a batch may send up to a batch early). Compared with the schedule, not with each
/// other: a loaded machine makes a sender late, never early.
#[test]
fn batched_datagrams_account_like_the_plain_path() {
    for proto in ["udp", "unix-dgram"] {
        let mut sent: Vec<u64> = Vec::new();
        for batch in ["1", "64"] {
            let r = run(&[
                "--proto",
                proto,
                "--msg-size",
                "200",
                "--rate",
                "10M",
                "--rcvbuf",
                "1M",
                "--batch",
                batch,
                "--duration",
                "1s",
            ]);
            let row = r.ok_row();
            assert_eq!(row.int("batch").to_string(), batch);
            assert_eq!(
                row.int("lost"),
                row.int("messages_sent") - row.int("messages_received"),
                "{proto} batch {batch}"
            );
            assert_eq!(row.int("duplicated"), 0);
            assert!(row.int("messages_received") > 0, "{proto} batch {batch}");
            assert_eq!(
                row.int("bytes_received"),
                row.int("messages_received") * 200
            );
            let iv: u64 = r.intervals().rows.iter().map(|i| i.int("bytes")).sum();
            assert_eq!(
                iv,
                row.int("bytes_received"),
                "{proto} batch {batch}: intervals"
            );
            let traffic_s = row.num("warmup_s") + row.num("duration_s");
            let burst: u64 = batch.parse().unwrap();
            let most = schedule_bytes(10e6, traffic_s, 200, burst);
            assert!(
                row.int("bytes_sent") <= most && row.int("bytes_sent") > 0,
                "{proto} batch {batch}: {} bytes for a schedule of {most}",
                row.int("bytes_sent")
            );
            sent.push(row.int("messages_sent"));
        }
        // 10 Mbit/s of 200-byte datagrams: the pacer, not the path, decides.
        assert!(sent.iter().all(|&n| n > 0), "{proto}: {sent:?}");
    }
}

/// Overwhelmed on purpose: loss is counted exactly on the batched path too.
#[test]
fn batched_loss_is_exact() {
    let r = run(&[
        "--proto",
        "udp",
        "--msg-size",
        "64",
        "--batch",
        "64",
        "--rcvbuf",
        "4K",
    ]);
    let row = r.ok_row();
    let (sent, received, lost) = (
        row.int("messages_sent"),
        row.int("messages_received"),
        row.int("lost"),
    );
    assert!(lost > 0);
    assert_eq!(lost, sent - received);
    assert_eq!(row.int("duplicated"), 0);
    assert_eq!(row.int("bytes_received"), received * 64);
}

#[test]
fn batch_is_refused_where_it_does_not_apply() {
    for args in [
        &["--batch", "8"][..],
        &["--proto", "udp", "--pattern", "rr", "--batch", "8"],
        &["--proto", "udp", "--batch", "0"],
    ] {
        let r = run(args);
        assert_eq!(r.code(), 2, "{args:?}");
        assert!(r.stderr().contains("--batch"), "{}", r.stderr());
    }
}

/// UDP GSO on send and GRO on receive: every datagram still carries and is checked by its
/// own sequence number.
#[test]
fn gso_and_gro_account_like_the_plain_path() {
    for flags in [&["--gso"][..], &["--gro"], &["--gso", "--gro"]] {
        let mut args = vec![
            "--proto",
            "udp",
            "--msg-size",
            "200",
            "--rate",
            "10M",
            "--rcvbuf",
            "1M",
            "--duration",
            "1s",
        ];
        args.extend(flags);
        let r = run(&args);
        let row = r.ok_row();
        // Loss is allowed (a starved receiver overflows), miscounting is not.
        assert_eq!(
            row.int("lost"),
            row.int("messages_sent") - row.int("messages_received"),
            "{flags:?}"
        );
        assert_eq!(row.int("duplicated"), 0, "{flags:?}");
        assert!(row.int("messages_received") > 0, "{flags:?}");
        assert_eq!(
            row.int("bytes_received"),
            row.int("messages_received") * 200
        );
        let iv: u64 = r.intervals().rows.iter().map(|i| i.int("bytes")).sum();
        assert_eq!(iv, row.int("bytes_received"), "{flags:?}: intervals");
        if flags.contains(&"--gso") {
            assert_eq!(
                row.int("udp_gso_eff"),
                200,
                "UDP_SEGMENT as the kernel reports it"
            );
        }
        if flags.contains(&"--gro") {
            assert_eq!(row.get_str("udp_gro_eff"), "true");
        }
    }
    // Unpaced and overwhelmed: the loss is still exact.
    let r = run(&[
        "--proto",
        "udp",
        "--msg-size",
        "64",
        "--gso",
        "--gro",
        "--rcvbuf",
        "64K",
    ]);
    let row = r.ok_row();
    let (sent, received, lost) = (
        row.int("messages_sent"),
        row.int("messages_received"),
        row.int("lost"),
    );
    assert_eq!(lost, sent - received);
    assert_eq!(row.int("duplicated"), 0);
    assert_eq!(row.int("bytes_received"), received * 64);
    for bad in [&["--gso"][..], &["--proto", "udp", "--gso", "--batch", "8"]] {
        assert_eq!(run(bad).code(), 2, "{bad:?}");
    }
}

/// MSG_ZEROCOPY: the bytes account as on the plain path, every send's completion is
/// collected, and the kernel's copies are reported (on loopback it always copies).
#[test]
fn zerocopy_accounts_its_sends_and_reports_copies() {
    let r = run(&["--zerocopy", "--msg-size", "64K"]);
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(
        row.get_str("zerocopy_eff"),
        "true",
        "SO_ZEROCOPY as the kernel reports it"
    );
    let (sends, completed, copied) = (
        row.int("zerocopy_sends"),
        row.int("zerocopy_completed"),
        row.int("zerocopy_copied"),
    );
    assert!(
        sends >= row.int("messages_sent"),
        "at least one send per message"
    );
    assert_eq!(completed, sends, "every send completed");
    assert!(copied <= completed);
    let plain = run(&["--msg-size", "64K"]).ok_row();
    assert_eq!(
        plain.get_str("zerocopy_sends"),
        "",
        "does not apply without --zerocopy"
    );
    for bad in [
        &["--zerocopy", "--proto", "udp"][..],
        &["--zerocopy", "--pattern", "rr"],
    ] {
        let r = run(bad);
        assert_eq!(r.code(), 2, "{bad:?}");
        assert!(r.stderr().contains("--zerocopy"), "{}", r.stderr());
    }
}

/// --spin: non-blocking sockets polled in user space; the same accounting, the same
/// histogram counts.
#[test]
fn spinning_accounts_like_blocking() {
    for proto in ["tcp", "udp", "unix-stream"] {
        let r = run(&["--proto", proto, "--pattern", "rr", "--spin"]);
        let row = r.ok_row();
        assert_eq!(row.get_str("sender_spin"), "true");
        let tx = row.int("transactions");
        assert!(tx > 0);
        let counted = r.histogram_count();
        assert_eq!(counted, tx, "{proto}: histogram counts vs transactions");
        assert_eq!(row.int("lost"), 0);
        assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{proto}");
    }
    let r = run(&["--spin", "--direction", "bidir"]);
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(run(&["--spin", "--pattern", "crr"]).code(), 2);
}

/// --sendfile: the bulk sender sends each message from an in-memory file; the bytes and
/// messages account as with write(2).
#[test]
fn sendfile_accounts_like_write() {
    for proto in ["tcp", "unix-stream"] {
        let r = run(&["--proto", proto, "--sendfile", "--msg-size", "64K"]);
        let row = r.ok_row();
        assert_eq!(row.get_str("sendfile"), "true");
        assert_eq!(row.int("bytes_sent"), row.int("bytes_received"), "{proto}");
        assert_eq!(
            row.int("bytes_sent"),
            row.int("messages_sent") * 65536,
            "{proto}: whole messages"
        );
        let iv: u64 = r.intervals().rows.iter().map(|i| i.int("bytes")).sum();
        assert_eq!(iv, row.int("bytes_received"));
    }
    for bad in [
        &["--sendfile", "--proto", "udp"][..],
        &["--sendfile", "--zerocopy"],
        &["--sendfile", "--pattern", "rr"],
    ] {
        assert_eq!(run(bad).code(), 2, "{bad:?}");
    }
}

/// --splice: the sender splices each message from an in-memory file through a pipe into
/// the socket, the receiver splices out of the socket into /dev/null; every byte counts
/// as with write(2) and read(2), whole messages, and every byte went through splice(2)
/// on the ends that asked for it and through no splice on the other.
#[test]
fn splice_accounts_like_write_and_read() {
    for proto in ["tcp", "unix-stream", "mptcp"] {
        let r = run(&["--proto", proto, "--splice", "--msg-size", "100000"]);
        let row = r.ok_row();
        let sent = row.int("bytes_sent");
        assert!(sent > 0);
        assert_eq!(sent, row.int("bytes_received"), "{proto}");
        assert_eq!(
            sent,
            row.int("messages_sent") * 100_000,
            "{proto}: whole messages"
        );
        assert_eq!(row.int("spliced_bytes_sent"), sent, "{proto}");
        assert_eq!(row.int("spliced_bytes_received"), sent, "{proto}");
        let iv: u64 = r.intervals().rows.iter().map(|i| i.int("bytes")).sum();
        assert_eq!(iv, row.int("bytes_received"), "{proto}");
    }
    // One side only: in reverse the receiving process sends, so its splice is the send.
    let r = run(&["--direction", "reverse", "--set", "receiver.splice=true"]);
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(row.int("spliced_bytes_sent"), row.int("bytes_sent"));
    assert_eq!(row.int("spliced_bytes_received"), 0);
    let r = run(&["--direction", "bidir", "--splice"]);
    let row = r.ok_row();
    assert_eq!(row.int("bytes_sent"), row.int("bytes_received"));
    assert_eq!(row.int("spliced_bytes_received"), row.int("bytes_received"));
    // The plain path splices nothing: the columns do not apply.
    let row = run(&["--msg-size", "100000"]).ok_row().clone();
    assert_eq!(
        (
            row.get_str("spliced_bytes_sent"),
            row.get_str("spliced_bytes_received")
        ),
        ("", "")
    );
    for bad in [
        &["--splice", "--proto", "udp"][..],
        &["--splice", "--sendfile"],
        &["--splice", "--zerocopy"],
        &["--splice", "--pattern", "rr"],
    ] {
        assert_eq!(run(bad).code(), 2, "{bad:?}");
    }
}

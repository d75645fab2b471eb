//! The bodies of the fuzz targets in `fuzz/` (run by `scripts/fuzz.sh` under libFuzzer),
//! here so that `tests/fuzz_regressions.rs` replays every seed and every input a fuzzer
//! ever found through exactly the same code with a plain `cargo test`. Each takes
//! arbitrary bytes and panics only when a property of sockbench does not hold.

use std::time::{Duration, SystemTime};

use crate::measure::SideReport;
use crate::net::control::{self, Message};
use crate::output::{histograms, hlog, intervals, summary::SummaryRow, table};
use crate::results::CaseRun;
use crate::session::sender::{Status, TestOutcome};
use crate::spec::config::TestSpec;
use crate::spec::workload::Workload;

/// Arbitrary bytes as a stream of control frames: each decodes to a message or is an
/// error, never a panic; a message that decodes encodes again and decodes to the same
/// message (what the receiver understood is what a sender could have sent); a test
/// description that validates can be planned.
pub fn control_decode(data: &[u8]) {
    let mut stream = data;
    // Every decoded frame consumes at least its 4-byte length, so this ends.
    while let Ok(msg) = control::recv(&mut stream) {
        let frame = control::encode(&msg).expect("a decoded message encodes");
        let back = control::recv(&mut &frame[..]).expect("an encoded message decodes");
        assert_eq!(back, msg, "a message changed on a round trip");
        match msg {
            Message::Hello { .. } => {
                let _ = control::check_hello(msg);
            }
            Message::Setup { spec } if spec.validate().is_ok() => {
                let _ = spec.conn_plan();
                let _ = spec.rr_sizes();
                let _ = spec.main_kind();
                let _ = spec.hard_deadline();
            }
            _ => {}
        }
    }
}

/// Matrices beyond this many cases are the run-size limit's business, not the parser's:
/// expanding them would only measure memory.
const MAX_FUZZ_CASES: usize = 4096;

/// Arbitrary text as a workload file, as `sockbench run FILE` reads it: parsed and, when
/// its matrix is of a size a real run could have, expanded into cases. Any text gives a
/// workload or an error, never a panic, and every case reaches the receiver unchanged
/// through the control channel.
pub fn workload_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(workload) = Workload::parse(text, "fuzz.toml", "fuzz") else {
        return;
    };
    let cases = workload
        .matrix
        .iter()
        .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len().max(1)))
        .and_then(|n| n.checked_add(workload.cases.len()));
    if !cases.is_some_and(|n| n <= MAX_FUZZ_CASES) {
        return;
    }
    let Ok(planned) = workload.expand() else {
        return;
    };
    for case in planned {
        let setup = Message::Setup {
            spec: Box::new(case.spec),
        };
        let frame = control::encode(&setup).expect("a planned case encodes");
        let back = control::recv(&mut &frame[..]).expect("an encoded setup decodes");
        assert_eq!(back, setup, "a case changed on its way to the receiver");
    }
}

fn csv_rows<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row).expect("a row serializes to CSV");
    }
}

/// Arbitrary bytes as the receiver's side of a control connection, decoded, and every
/// `results` message turned into the rows the sender writes (summary, intervals,
/// histogram buckets, the interval log, the table line, warnings): a receiver, or
/// whoever answers on its port, cannot crash the sender. A `setup` in the stream that
/// validates becomes the test the results belong to.
pub fn sender_results(data: &[u8]) {
    thread_local! {
        // The interval log's encoder; it writes only its header, to /dev/null.
        static HLOG: Option<hlog::HlogWriter> =
            hlog::HlogWriter::create("/dev/null".as_ref(), SystemTime::UNIX_EPOCH).ok();
    }
    let mut stream = data;
    let mut spec = TestSpec::default();
    while let Ok(msg) = control::recv(&mut stream) {
        match msg {
            Message::Setup { spec: s } if s.validate().is_ok() => spec = *s,
            Message::Results { report } => {
                let run = CaseRun {
                    case: 1,
                    repetition: 1,
                    label: String::new(),
                    spec: spec.clone(),
                    outcome: TestOutcome {
                        sender: SideReport::default(),
                        receiver: Some(*report),
                        status: Status::Ok,
                        error: None,
                        started: SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30),
                    },
                    not_applicable: Vec::new(),
                    src: String::new(),
                    dst: String::new(),
                };
                csv_rows([SummaryRow::from_run(&run)]);
                csv_rows(intervals::rows(&run));
                let _ = table::Table::new(&[], &[]).line(&run);
                let _ = run.warnings();
                if let Ok(merged) = run.merged_histograms() {
                    for (metric, h) in &merged {
                        csv_rows(histograms::bucket_rows(1, 1, metric, h));
                        HLOG.with(|w| {
                            if let Some(w) = w {
                                let tag = hlog::tag(1, 1, metric);
                                let _ = w.entry(&tag, run.outcome.started, spec.duration, h);
                            }
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

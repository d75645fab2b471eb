//! What the sender does with a receiver's reply: arbitrary bytes as the receiver's side of
//! a control connection, decoded, and every `results` message turned into the rows the
//! sender writes (summary, intervals, histogram buckets, the interval log, the table line,
//! warnings). A receiver — or whoever answers on its port — cannot crash the sender.
//! A `setup` in the stream that validates becomes the test the results belong to.
#![no_main]

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use sockbench::config::TestSpec;
use sockbench::control::{self, Message};
use sockbench::measure::SideReport;
use sockbench::output::hlog::{self, HlogWriter};
use sockbench::output::{histograms, intervals, summary::SummaryRow, table};
use sockbench::results::CaseRun;
use sockbench::sender::{Status, TestOutcome};

fn csv_rows<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row).expect("a row serializes to CSV");
    }
}

/// The interval log's encoder; it writes only its header, to /dev/null.
fn hlog() -> &'static Mutex<HlogWriter> {
    static HLOG: OnceLock<Mutex<HlogWriter>> = OnceLock::new();
    HLOG.get_or_init(|| {
        Mutex::new(HlogWriter::create("/dev/null".as_ref(), SystemTime::UNIX_EPOCH).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
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
                };
                csv_rows([SummaryRow::from_run(&run)]);
                csv_rows(intervals::rows(&run));
                let _ = table::line(&run);
                let _ = run.warnings();
                if let Ok(merged) = run.merged_histograms() {
                    let w = hlog().lock().unwrap();
                    for (metric, h) in &merged {
                        csv_rows(histograms::bucket_rows(1, 1, metric, h));
                        let _ = w.entry(
                            &hlog::tag(1, 1, metric),
                            run.outcome.started,
                            spec.duration,
                            h,
                        );
                    }
                }
            }
            _ => {}
        }
    }
});

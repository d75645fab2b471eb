//! A workload file's text, as `sockbench run FILE` reads it: parsed and, when its matrix is
//! of a size a real run could have, expanded into cases. Any text gives a workload or an
//! error, never a panic, and every case it gives reaches the receiver unchanged through the
//! control channel.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::control::{self, Message};
use sockbench::workload::Workload;

/// Matrices beyond this many cases are the run-size limit's business, not the parser's:
/// expanding them here would only measure memory.
const MAX_CASES: usize = 4096;

fuzz_target!(|data: &[u8]| {
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
    if cases.is_none_or(|n| n > MAX_CASES) {
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
});

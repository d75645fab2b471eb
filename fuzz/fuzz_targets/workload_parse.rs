//! libFuzzer entry for `sockbench::fuzzing::workload_parse` (harness/fuzzing.rs), where the target
//! and the properties it checks are described.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockbench::fuzzing::workload_parse(data));

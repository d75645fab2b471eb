//! libFuzzer entry for `sockbench::fuzzing::sender_results` (harness/fuzzing.rs), where the target
//! and the properties it checks are described.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockbench::fuzzing::sender_results(data));

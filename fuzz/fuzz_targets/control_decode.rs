//! libFuzzer entry for `sockbench::fuzzing::control_decode` (harness/fuzzing.rs), where the target
//! and the properties it checks are described.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockbench::fuzzing::control_decode(data));

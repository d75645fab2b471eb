//! libFuzzer entry for `sockbench::fuzzing::control_decode` (harness/fuzzing.rs), where the target
//! and the properties it checks are described; mutations that know control frames are
//! JSON (`json_mutator.rs`) beside libFuzzer's own.
#![no_main]

#[path = "../json_mutator.rs"]
mod json_mutator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockbench::fuzzing::control_decode(data));

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    json_mutator::mutate(data, size, max_size, seed)
});

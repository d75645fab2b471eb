//! The receiver's side of a control connection — hello, welcome, authentication, setup
//! and its validation — fed arbitrary bytes as what the sender sends, through
//! `sockbench::session::receiver::fuzz_control_session`. Nothing a sender sends may panic,
//! overflow or abort the daemon.
#![no_main]

#[path = "../json_mutator.rs"]
mod json_mutator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockbench::session::receiver::fuzz_control_session(data));

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    json_mutator::mutate(data, size, max_size, seed)
});

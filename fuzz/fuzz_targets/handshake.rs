//! The receiver's side of a control connection — hello, welcome, authentication, setup
//! and its validation — fed arbitrary bytes as what the sender sends. Nothing a sender
//! sends may panic, overflow or abort the daemon.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sockbench::receiver::fuzz_control_session(data);
});

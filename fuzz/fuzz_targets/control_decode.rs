//! The control-message decoder on arbitrary bytes, read as a stream of frames: each either
//! decodes to a message or is an error, never a panic; a message that decodes encodes
//! again and decodes to the same message (what the receiver understood is what a sender
//! could have sent); a test description that validates can be planned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockbench::control::{self, Message};

fuzz_target!(|data: &[u8]| {
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
            // What the receiver works out from a test description that validates.
            Message::Setup { spec } if spec.validate().is_ok() => {
                let _ = spec.conn_plan();
                let _ = spec.rr_sizes();
                let _ = spec.fits_workers();
                let _ = spec.main_kind();
                let _ = spec.hard_deadline();
            }
            _ => {}
        }
    }
});

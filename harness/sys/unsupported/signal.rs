//! The delay element's stop flag off Unix: no signals to install (`sockbench-delay` runs
//! on Linux only).

pub fn stop_on_term() -> std::io::Result<()> {
    Err(super::unsupported("SIGTERM/SIGINT handlers"))
}

pub fn stop_requested() -> bool {
    false
}

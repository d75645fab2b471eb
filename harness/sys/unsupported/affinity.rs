//! CPU affinity off Linux: not available (the `cpu_affinity` knob is Linux only). An
//! unpinned thread runs, and no set of CPUs is reported.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AffinityError {
    #[error("CPU {0} is beyond what sched_setaffinity can name")]
    OutOfRange(u32),
    #[error("pinning to CPU {cpu}: {source}")]
    Set {
        cpu: u32,
        #[source]
        source: std::io::Error,
    },
}

/// Pins nothing: with `Some`, the error that this system cannot; reports no CPUs.
pub fn pin_thread(cpu: Option<u32>) -> Result<Vec<u32>, AffinityError> {
    match cpu {
        Some(cpu) => Err(AffinityError::Set {
            cpu,
            source: super::unsupported("CPU affinity"),
        }),
        None => Ok(Vec::new()),
    }
}

/// Empty: this system does not say.
pub fn allowed_cpus() -> Vec<u32> {
    Vec::new()
}

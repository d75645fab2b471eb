//! Which CPUs a thread runs on (sched_setaffinity / sched_getaffinity).

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AffinityError {
    #[error("CPU {0} is beyond what sched_setaffinity can name")]
    OutOfRange(u32),
    #[error("sched_setaffinity to CPU {cpu}: {source}")]
    Set {
        cpu: u32,
        #[source]
        source: std::io::Error,
    },
}

/// Pins the calling thread to one CPU (with `Some`), then reports the set the kernel
/// actually holds for it; empty when the kernel will not say.
pub fn pin_thread(cpu: Option<u32>) -> Result<Vec<u32>, AffinityError> {
    if let Some(cpu) = cpu {
        if cpu as usize >= CpuSet::MAX_CPU {
            return Err(AffinityError::OutOfRange(cpu));
        }
        let mut set = CpuSet::new();
        set.set(cpu as usize);
        sched_setaffinity(None, &set).map_err(|e| AffinityError::Set {
            cpu,
            source: e.into(),
        })?;
    }
    Ok(allowed_cpus())
}

/// The CPUs the calling thread may run on; empty when the kernel will not say.
pub fn allowed_cpus() -> Vec<u32> {
    let Ok(set) = sched_getaffinity(None) else {
        return Vec::new();
    };
    (0..CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .map(|c| c as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_pinned_to_an_allowed_cpu_runs_there_only() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        let cpu = allowed[0];
        let got = std::thread::spawn(move || pin_thread(Some(cpu)).unwrap())
            .join()
            .unwrap();
        assert_eq!(got, vec![cpu]);
        assert!(matches!(
            pin_thread(Some(u32::MAX)),
            Err(AffinityError::OutOfRange(_))
        ));
    }
}

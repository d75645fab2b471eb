//! Resource limits: open files and address space (getrlimit / setrlimit). As in the
//! kernel, `u64::MAX` (RLIM_INFINITY) is no limit.

use std::io;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// A resource limit: the soft limit in force and the hard limit it may be raised to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

pub const UNLIMITED: u64 = u64::MAX;

impl From<Rlimit> for Limit {
    fn from(r: Rlimit) -> Limit {
        Limit {
            soft: r.current.unwrap_or(UNLIMITED),
            hard: r.maximum.unwrap_or(UNLIMITED),
        }
    }
}

fn bound(v: u64) -> Option<u64> {
    (v != UNLIMITED).then_some(v)
}

/// RLIMIT_NOFILE: how many descriptors this process may hold open.
pub fn open_files() -> Limit {
    getrlimit(Resource::Nofile).into()
}

/// Sets RLIMIT_NOFILE; raising the hard limit needs CAP_SYS_RESOURCE.
pub fn set_open_files(limit: Limit) -> io::Result<()> {
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: bound(limit.soft),
            maximum: bound(limit.hard),
        },
    )
    .map_err(io::Error::from)
}

/// RLIMIT_AS's soft limit, when there is one: the most address space this process may map.
pub fn address_space() -> Option<u64> {
    getrlimit(Resource::As).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_reads_back_as_set() {
        let now = open_files();
        assert!(now.soft > 0 && now.soft <= now.hard);
        set_open_files(now).unwrap();
        assert_eq!(open_files(), now);
    }
}

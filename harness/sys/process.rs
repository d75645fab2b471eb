//! Child processes that do not outlive sockbench.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Starts the child in a process group of its own, so that Ctrl-C at the terminal
/// reaches the parent only.
pub fn own_group(cmd: &mut Command) {
    cmd.process_group(0);
}

/// Makes the child `cmd` starts receive SIGTERM when the thread that started it ends
/// (PR_SET_PDEATHSIG), so that a killed sockbench never leaves a child behind.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: it makes one prctl system call, allocates
    // nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            // As before exec ever could: a kernel that refuses still runs the child.
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::TERM,
            ));
            Ok(())
        });
    }
}

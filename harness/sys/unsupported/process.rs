//! Child processes off Linux: no parent-death signal (PR_SET_PDEATHSIG is Linux's), so a
//! child is stopped by its parent's own clean-up only.

use std::process::Command;

/// Nothing to arrange on this system.
pub fn die_with_parent(_cmd: &mut Command) {}

/// Starts the child in a process group of its own, so that Ctrl-C at the terminal
/// reaches the parent only.
pub fn own_group(cmd: &mut Command) {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    // CREATE_NEW_PROCESS_GROUP.
    #[cfg(windows)]
    std::os::windows::process::CommandExt::creation_flags(cmd, 0x0000_0200);
}

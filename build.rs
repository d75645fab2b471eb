// Records the git revision the binary was built from, so `meta.json` can say exactly
// which code produced a result. Outside a git checkout the revision is "unknown".
//
// It reruns when the revision can change (HEAD, the branch it names) or the code does
// (`-dirty`), never on the index alone: `git status` rewrites the index, and a build
// that followed every rewrite recompiled the whole crate after any git command.
use std::path::Path;
use std::process::Command;

/// What the binary is built from.
const CODE: &[&str] = &["build.rs", "Cargo.toml", "Cargo.lock", "harness"];

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let rev = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    // Dirty: the code built differs from the commit (docs and tests do not count).
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no", "--"])
        .args(CODE)
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let rev = if dirty && rev != "unknown" {
        format!("{rev}-dirty")
    } else {
        rev
    };
    println!("cargo:rustc-env=SOCKBENCH_GIT_REV={rev}");
    // Only paths that exist: cargo reruns a build script every time for a missing one.
    // A commit moves the branch's ref, which may be packed (then the loose file appears
    // only later): logs/HEAD, the reflog, changes with every commit and checkout.
    let mut watched: Vec<String> = CODE.iter().map(|p| p.to_string()).collect();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watched.push(format!("{dir}/HEAD"));
        watched.push(format!("{dir}/logs/HEAD"));
        let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or(dir);
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(format!("{common}/{branch}"));
        }
        watched.push(format!("{common}/packed-refs"));
    }
    for path in watched.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
}

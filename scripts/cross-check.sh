#!/usr/bin/env bash
# Cross-checks sockbench for the systems other than Linux, from Linux, with Debian's
# rustc-web (it builds the standard library for another target with -Zbuild-std; the
# rustup toolchain here cannot download targets):
#   cargo check (lib, bins, tests) with -D warnings for x86_64-apple-darwin,
#   aarch64-apple-darwin and x86_64-unknown-freebsd; clippy -D warnings (lib, bins) and
#   a build of sockbench.exe for x86_64-pc-windows-gnu, linked with mingw.
# Needs: apt-get install rustc-web cargo-web rust-web-src rust-web-clippy
#        gcc-mingw-w64-x86-64
# Its builds go to target/cross, where tests/windows.rs finds (and reuses) the .exe.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's cargo, rustc, cargo-clippy and clippy-driver before any rustup proxy.
export PATH="/usr/bin:$PATH"
export RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=target/cross
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
cargo=/usr/bin/cargo
build_std=-Zbuild-std=std,panic_abort

for target in x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd; do
    echo "== cargo check --target $target --lib --bins --tests (-D warnings)"
    RUSTFLAGS="-D warnings" "$cargo" check -q "$build_std" --target "$target" --lib --bins --tests
done

target=x86_64-pc-windows-gnu
echo "== cargo clippy --target $target --lib --bins -- -D warnings"
# Debian's clippy 1.96 says engine/crr.rs's `thread_local!` initializer "can be made
# const" of the Windows expansion, where it is const already (the host's clippy agrees);
# that one lint is left out here rather than spending one of the tree's #[allow]s on it.
"$cargo" clippy -q "$build_std" --target "$target" --lib --bins -- -D warnings \
    -A clippy::missing_const_for_thread_local
echo "== cargo build --target $target --bin sockbench"
"$cargo" build -q "$build_std" --target "$target" --bin sockbench

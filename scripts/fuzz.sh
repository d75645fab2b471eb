#!/usr/bin/env bash
# Runs each coverage-guided fuzz target in fuzz/ for a bounded time and fails if any of
# them finds an input that crashes it (a panic, an overflow, an abort, a timeout or
# running out of memory).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 30 seconds each, every target)
#
# Targets: control_decode (control-message frames), workload_parse (workload files),
# sender_results (a receiver's reply, as the sender turns it into rows), and
# handshake (the receiver's side of a control connection). Their bodies are the library's
# `fuzz` cargo feature, which fuzz/Cargo.toml turns on. The fuzzer is libFuzzer through cargo-fuzz, built on
# the stable toolchain with `--sanitizer none` (the address sanitizer needs nightly); the
# targets are built with debug assertions and overflow checks (`-a`), so an arithmetic
# overflow is a crash. Needs cargo-fuzz (`cargo install --locked cargo-fuzz`) and a C++
# compiler (libFuzzer is built from source by the libfuzzer-sys crate).
#
# Each target's corpus grows in fuzz/corpus/TARGET (not committed), seeded from
# fuzz/seeds/TARGET (and workloads/ for workload_parse). A crash leaves its input in
# fuzz/artifacts/TARGET/; the script prints the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "scripts/fuzz.sh: SECONDS must be a whole number of 1 or more, not '$seconds'" >&2
    exit 2
fi
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: needs cargo-fuzz: cargo install --locked cargo-fuzz" >&2
    exit 2
fi

all=(control_decode workload_parse sender_results handshake)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

cd fuzz
fuzz=(cargo fuzz)
flags=(--sanitizer none --debug-assertions)

echo "== building the fuzz targets (${flags[*]})"
"${fuzz[@]}" build "${flags[@]}"
# Run the built binaries directly: `cargo fuzz run` would build again for each target.
bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"

declare -A dict=([control_decode]=control.dict [sender_results]=control.dict [handshake]=control.dict
    [workload_parse]=workload.dict)
failed=()
for t in "${targets[@]}"; do
    if [ ! -f "fuzz_targets/$t.rs" ]; then
        echo "scripts/fuzz.sh: no target '$t' (have: ${all[*]})" >&2
        exit 2
    fi
    mkdir -p "corpus/$t" "artifacts/$t"
    corpora=("corpus/$t")
    [ -d "seeds/$t" ] && corpora+=("seeds/$t")
    [ "$t" = workload_parse ] && corpora+=(../workloads)
    args=(-max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="artifacts/$t/")
    [ -n "${dict[$t]:-}" ] && args+=(-dict="${dict[$t]}")
    echo "== fuzzing $t for ${seconds}s"
    log="artifacts/$t/last-run.log"
    if "$bin_dir/$t" "${args[@]}" "${corpora[@]}" >"$log" 2>&1; then
        grep -E 'DONE|^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" || true
    else
        failed+=("$t")
        tail -n 40 "$log"
        for a in "artifacts/$t"/{crash,oom,timeout,leak,slow-unit}-*; do
            [ -e "$a" ] || continue
            echo "   replay: (cd fuzz && cargo fuzz run ${flags[*]} $t $a)"
        done
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FUZZ FAILED: ${failed[*]} (inputs in fuzz/artifacts/; put each in fuzz/regressions/TARGET/ as a regression test)" >&2
    exit 1
fi
echo "fuzzing passed: ${targets[*]}, ${seconds}s each"

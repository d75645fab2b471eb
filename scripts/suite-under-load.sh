#!/usr/bin/env bash
# The whole test suite, N times in a row, while the machine is loaded the way a
# developer's machine is: two CPU-bound busy loops and a release build of a second clone
# of this repository run beside it for the whole time. Prints one line per pass (exit
# code, wall time, tests passed/failed/ignored, load average) and a summary; exits 1 if
# any pass failed. Every process it starts is stopped when it exits, however it exits.
#
#   scripts/suite-under-load.sh [PASSES]          # default 3
#   SUITE_ARGS="--no-fail-fast" scripts/suite-under-load.sh 3
#
# Each pass is the README's test command, `cargo test --features fuzz`.
#
# Logs go to results/<UTC time>-suite-under-load/ (pass-N.log, build.log, summary.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scratch_space

passes=${1:-3}
out="results/$(date -u +%Y%m%dT%H%M%SZ)-suite-under-load"
mkdir -p "$out"

# Two busy loops: each keeps one core busy until killed.
for _ in 1 2; do
    (while :; do :; done) &
    pids+=($!)
done

# A release build of a second clone, over and over (cargo clean between builds, so it
# is a full build every time), in its own target directory.
git clone -q . "$work/clone"
(
    cd "$work/clone"
    while :; do
        cargo build --release -q >>"$OLDPWD/$out/build.log" 2>&1 || true
        cargo clean -q 2>/dev/null || true
    done
) &
pids+=($!)

failed=0
summary="$out/summary.txt"
echo "suite under load: $passes passes, two busy loops and a looping release build beside it ($(nproc) CPUs)" | tee "$summary"
for i in $(seq 1 "$passes"); do
    start=$(date +%s)
    set +e
    # shellcheck disable=SC2086
    cargo test --features fuzz ${SUITE_ARGS:-} >"$out/pass-$i.log" 2>&1
    rc=$?
    set -e
    secs=$(( $(date +%s) - start ))
    counts=$(awk '/^test result:/ { p += $4; f += $6; ig += $8 } END { printf "%d passed, %d failed, %d ignored", p, f, ig }' "$out/pass-$i.log")
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "pass $i: exit $rc in ${secs}s: $counts; load average $load" | tee -a "$summary"
    if [ "$rc" -ne 0 ]; then
        failed=1
        grep -E '^(test .* FAILED|---- .* stdout ----|failures:)' "$out/pass-$i.log" | head -20 | tee -a "$summary"
    fi
done
echo "logs: $out" | tee -a "$summary"
exit "$failed"

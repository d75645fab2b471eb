#!/usr/bin/env bash
# The harness's own cost, counted rather than timed: user-space instructions per
# operation in sockbench's measured loops against sockbench-bare's, under valgrind's
# callgrind. Callgrind counts instructions, so the figures are the same on a loaded
# machine, where timed ratios (scripts/compare.sh) swing by 10% from run to run.
#
#   scripts/overhead-instructions.sh [--out DIR]
#
#   pingpong   TCP request/response, 64 bytes each way, nodelay: per round trip
#   stream     TCP stream, 128 KiB writes: per message written
#
# Each end is counted on its own: sockbench's active end as `sockbench run --to`, its
# passive end as `sockbench serve --once`, each under callgrind; sockbench-bare's two
# processes both under callgrind. Every one runs for 1 s and for 3 s, and the difference
# in instructions over the difference in operations is the cost of one more operation,
# free of start-up and tear-down. The kernel's work is not in these counts (callgrind sees
# user space); `strace -c` shows the same system calls per operation for both (2 sends
# and 2 receives per round trip).
#
# Needs valgrind (Debian package valgrind) and ss (iproute2). Writes
# DIR/instructions.csv and prints the table.
set -euo pipefail

OUT=
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "overhead-instructions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
SOCKBENCH=${SOCKBENCH:-$here/target/release/sockbench}
BARE=${SOCKBENCH_BARE:-$(dirname "$SOCKBENCH")/sockbench-bare}
for b in "$SOCKBENCH" "$BARE"; do
    [ -x "$b" ] || { echo "overhead-instructions.sh: no $b: cargo build --release" >&2; exit 2; }
done
# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"
command -v valgrind >/dev/null || { echo "overhead-instructions.sh: needs valgrind (Debian package valgrind: apt-get install -y valgrind)" >&2; exit 2; }
command -v ss >/dev/null || { echo "overhead-instructions.sh: needs ss (Debian package iproute2)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "overhead-instructions.sh: needs python3" >&2; exit 2; }
[ -n "$OUT" ] || OUT="$here/results/$(date -u +%Y%m%dT%H%M%SZ)-instructions"
mkdir -p "$OUT"
scratch_space

cg() { valgrind --tool=callgrind --quiet "$@"; }
instructions() { sed -n 's/^summary: *//p' "$1"; }
summary_col() { python3 -c 'import csv,sys; r=next(csv.DictReader(open(sys.argv[1]))); assert r["status"]=="ok", r["error"]; print(r[sys.argv[2]])' "$1" "$2"; }

args_of() {
    case "$1" in
        pingpong) echo "--pattern rr --msg-size 64 --nodelay" ;;
        stream) echo "--msg-size 128K" ;;
    esac
}

# sockbench, one case, one duration: prints "active_ir passive_ir ops".
sockbench_once() {
    local c=$1 d=$2 port out
    port=$(free_port)
    out="$work/sb-$c-$d"
    cg --callgrind-out-file="$out.passive" "$SOCKBENCH" serve --listen "127.0.0.1:$port" --once \
        >"$out.serve.log" 2>&1 &
    local serve=$!
    pids+=("$serve")
    for _ in $(seq 300); do
        ss -ltnH "sport = :$port" | grep -q . && break
        sleep 0.1
    done
    # shellcheck disable=SC2046
    cg --callgrind-out-file="$out.active" "$SOCKBENCH" run --to "127.0.0.1:$port" $(args_of "$c") \
        --duration "${d}s" --warmup 0s --quiet --out "$out.results" >/dev/null
    wait "$serve"
    local ops
    if [ "$c" = pingpong ]; then ops=$(summary_col "$out.results/summary.csv" transactions)
    else ops=$(summary_col "$out.results/summary.csv" messages_sent); fi
    echo "$(instructions "$out.active") $(instructions "$out.passive") $ops"
}

# sockbench-bare, one case, one duration: prints "active_ir passive_ir ops".
bare_once() {
    local c=$1 d=$2 out line ops f active passive
    out="$work/bare-$c-$d"
    mkdir -p "$out"
    line=$(cg --trace-children=yes --callgrind-out-file="$out/cg.%p" "$BARE" "$c" --duration "$d" --warmup 0)
    if [ "$c" = pingpong ]; then ops=$(sed -n 's/.*round_trips=\([0-9]*\).*/\1/p' <<<"$line")
    else ops=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$line"); fi
    for f in "$out"/cg.*; do
        if grep -q '^cmd:.*--child' "$f"; then passive=$(instructions "$f"); else active=$(instructions "$f"); fi
    done
    echo "$active $passive $ops"
}

csv="$OUT/instructions.csv"
echo "case,tool,end,instructions_per_op,ops_1s,ops_3s" >"$csv"
for c in pingpong stream; do
    for tool in sockbench bare; do
        echo "counting $c / $tool (1 s and 3 s under callgrind)" >&2
        if [ $tool = sockbench ]; then
            read -r a1 p1 n1 <<<"$(sockbench_once "$c" 1)"
            read -r a3 p3 n3 <<<"$(sockbench_once "$c" 3)"
        else
            read -r a1 p1 n1 <<<"$(bare_once "$c" 1)"
            read -r a3 p3 n3 <<<"$(bare_once "$c" 3)"
        fi
        [ "$n3" -gt "$n1" ] || { echo "overhead-instructions.sh: $c/$tool: no more operations in 3 s than in 1 s ($n1, $n3)" >&2; exit 1; }
        echo "$c,$tool,active,$(python3 -c "print(round(($a3 - $a1) / ($n3 - $n1), 1))"),$n1,$n3" >>"$csv"
        echo "$c,$tool,passive,$(python3 -c "print(round(($p3 - $p1) / ($n3 - $n1), 1))"),$n1,$n3" >>"$csv"
    done
done

python3 - "$csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ir = {(r["case"], r["tool"], r["end"]): float(r["instructions_per_op"]) for r in rows}
per = {"pingpong": "round trip", "stream": "128 KiB message"}
print(f"{'case':<9} {'end':<8} {'sockbench':>10} {'bare':>8} {'extra':>8}   user-space instructions per")
for case in ("pingpong", "stream"):
    for end in ("active", "passive"):
        sb, bare = ir[(case, "sockbench", end)], ir[(case, "bare", end)]
        print(f"{case:<9} {end:<8} {sb:>10.0f} {bare:>8.0f} {sb - bare:>8.0f}   {per[case]}")
    sb = ir[(case, "sockbench", "active")] + ir[(case, "sockbench", "passive")]
    bare = ir[(case, "bare", "active")] + ir[(case, "bare", "passive")]
    print(f"{case:<9} {'both':<8} {sb:>10.0f} {bare:>8.0f} {sb - bare:>8.0f}")
EOF
echo "written: $csv" >&2

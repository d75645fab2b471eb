#!/usr/bin/env bash
# The harness's own cost, counted rather than timed: user-space instructions per
# operation in sockbench's measured loops against sockbench-bare's, under valgrind's
# callgrind. Callgrind counts instructions, so the figures are the same on a loaded
# machine, where timed ratios (scripts/compare.sh) swing by 10% from run to run.
#
#   scripts/overhead-instructions.sh [--out DIR] [--repeat N]
#
#   pingpong   TCP request/response, 64 bytes each way, nodelay: per round trip
#   stream     TCP stream, 128 KiB writes: per message written
#
# Each end is counted on its own: sockbench's active end as `sockbench run --to`, its
# passive end as `sockbench serve --once`, each under callgrind; sockbench-bare's two
# processes both under callgrind. Every one runs for 1 s and for 3 s, and the difference
# in instructions over the difference in operations is the cost of one more operation,
# free of start-up and tear-down. Each process is counted on its data-path thread: the
# thread that made the most send/receive system calls (callgrind --separate-threads).
# What a process does per test or per second on its other threads (sockbench's control
# connection and heartbeats, the results written at the end) is not per operation, and
# varied with the machine's load. The kernel's work is not in these counts (callgrind sees
# user space).
#
# Per operation is not a stable unit for a byte stream: how many reads a 128 KiB message
# takes depends on scheduling (under valgrind too), so the receiving end's instructions
# per message move with it, and so do those per KiB. The same processes' system calls
# are counted too (valgrind's --trace-syscalls, beside callgrind's count), and the
# figures normalized by them: instructions per system call of each tool, and the extra
# that sockbench spends per system call above the bare loop.
#
# The requester also works by the second (timers, its control connection): work the
# 1 s / 3 s difference leaves in, charged to fewer operations when the machine's load
# slows a run. The repetitions differ in rate, so the per-system-call figures are fitted
# as instructions = per-second work + per-call cost x calls over them (from 3
# repetitions up) and the fitted per-second work, printed, is taken out.
#
# The whole measurement runs N times (default 5). The script prints each figure's median
# and its largest distance from the median, and whether every normalized figure
# (instructions per system call of each end: each tool's, and the extra) is within +-5%
# of its median; exit 1 if not.
#
# Needs valgrind (Debian package valgrind) and ss (iproute2). Writes
# DIR/instructions.csv (one row per repetition, case, tool and end) and prints the table.
set -euo pipefail

OUT=
REPEAT=5
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
        *) echo "overhead-instructions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$REPEAT" in ''|*[!0-9]*|0) echo "overhead-instructions.sh: --repeat takes a whole number from 1" >&2; exit 2 ;; esac

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

cg() { valgrind --tool=callgrind --quiet --separate-threads=yes --trace-syscalls=yes "$@"; }
# The data path of one process: its thread that made the most data system calls (send,
# receive, read, write and their batched forms), and that thread's user-space
# instructions and system calls, printed as "instructions syscalls". Callgrind writes a
# file per thread (BASE-01, BASE-02, ...: valgrind's thread numbers, as in the system
# call log's SYSCALL[pid,tid]). Counting that thread alone leaves out what a process
# does once per test or per second on its other threads (sockbench's control connection,
# heartbeats, writing the results and their histograms, whose size follows the latency
# spread): none of it is per operation, and under load it was most of the noise (a
# median 374 extra instructions per round trip, 212% apart across 5 runs, counted over
# the whole process). System calls: one line each in --trace-syscalls's log, but one
# that blocked has a second line for its completion ("SYSCALL[pid,tid](nr) ... [async]
# --> ..."). Valgrind runs without the vDSO, so the clock reads it shows as system calls
# are none natively: not counted.
datapath() {
    python3 -c '
import collections, re, sys
base, log = sys.argv[1:3]
call = re.compile(r"SYSCALL\[\d+,(\d+)\]\(\s*\d+\) (sys_\w+)")
vdso = {"sys_clock_gettime", "sys_gettimeofday", "sys_time", "sys_getcpu"}
data = {"sys_sendto", "sys_recvfrom", "sys_read", "sys_write", "sys_sendmsg", "sys_recvmsg",
        "sys_sendmmsg", "sys_recvmmsg", "sys_readv", "sys_writev", "sys_splice", "sys_sendfile64"}
calls, moves = collections.Counter(), collections.Counter()
for line in open(log, errors="replace"):
    m = call.match(line)
    if m and m.group(2) not in vdso:
        calls[m.group(1)] += 1
        moves[m.group(1)] += m.group(2) in data
tid = max(moves, key=lambda t: (moves[t], calls[t]))
ir = next(int(l.split()[1]) for l in open(f"{base}-{int(tid):02d}") if l.startswith("summary:"))
print(ir, calls[tid])' "$1" "$2"
}
summary_col() { python3 -c 'import csv,sys; r=next(csv.DictReader(open(sys.argv[1]))); assert r["status"]=="ok", r["error"]; print(r[sys.argv[2]])' "$1" "$2"; }

args_of() {
    case "$1" in
        pingpong) echo "--pattern rr --msg-size 64 --nodelay" ;;
        stream) echo "--msg-size 128K" ;;
    esac
}

# sockbench, one case, one duration: prints "active_ir passive_ir active_sys passive_sys
# ops".
sockbench_once() {
    local c=$1 d=$2 port out
    port=$(free_port)
    out="$work/sb-$c-$d"
    rm -rf "$out".*
    cg --callgrind-out-file="$out.passive" --log-file="$out.passive.sys" \
        "$SOCKBENCH" serve --listen "127.0.0.1:$port" --once >"$out.serve.log" 2>&1 &
    local serve=$!
    pids+=("$serve")
    for _ in $(seq 300); do
        ss -ltnH "sport = :$port" | grep -q . && break
        sleep 0.1
    done
    # shellcheck disable=SC2046
    cg --callgrind-out-file="$out.active" --log-file="$out.active.sys" \
        "$SOCKBENCH" run --to "127.0.0.1:$port" $(args_of "$c") \
        --duration "${d}s" --warmup 0s --quiet --out "$out.results" >/dev/null
    wait "$serve"
    local ops ai asc pi psc
    if [ "$c" = pingpong ]; then ops=$(summary_col "$out.results/summary.csv" transactions)
    else ops=$(summary_col "$out.results/summary.csv" messages_sent); fi
    read -r ai asc <<<"$(datapath "$out.active" "$out.active.sys")"
    read -r pi psc <<<"$(datapath "$out.passive" "$out.passive.sys")"
    echo "$ai $pi $asc $psc $ops"
}

# sockbench-bare, one case, one duration: the same.
bare_once() {
    local c=$1 d=$2 out line ops f base active passive active_sys passive_sys
    out="$work/bare-$c-$d"
    rm -rf "$out"
    mkdir -p "$out"
    line=$(cg --trace-children=yes --callgrind-out-file="$out/cg.%p" --log-file="$out/sys.%p" \
        "$BARE" "$c" --duration "$d" --warmup 0)
    if [ "$c" = pingpong ]; then ops=$(sed -n 's/.*round_trips=\([0-9]*\).*/\1/p' <<<"$line")
    else ops=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$line"); fi
    for f in "$out"/sys.*; do
        base="$out/cg.${f##*.}"
        if grep -q '^cmd:.*--child' "$base-01"; then
            read -r passive passive_sys <<<"$(datapath "$base" "$f")"
        else
            read -r active active_sys <<<"$(datapath "$base" "$f")"
        fi
    done
    echo "$active $passive $active_sys $passive_sys $ops"
}

# KiB each end moves per operation: a round trip sends and receives 64 bytes; a stream
# message is 128 KiB, written by one end and read by the other.
kib_of() { case "$1" in pingpong) echo 0.125 ;; stream) echo 128 ;; esac; }

# One row: repetition case tool end KiB/op ir_1s ir_3s sys_1s sys_3s ops_1s ops_3s.
row() {
    python3 -c '
import sys
rep, case, tool, end, kib = sys.argv[1:6]
ir1, ir3, s1, s3, n1, n3 = map(int, sys.argv[6:])
ops = n3 - n1
ir, sc = (ir3 - ir1) / ops, (s3 - s1) / ops
print(f"{rep},{case},{tool},{end},{ir:.1f},{sc:.4f},{ir / sc:.1f},{ir / float(kib):.1f},{n1},{n3}")' "$@"
}

csv="$OUT/instructions.csv"
echo "repetition,case,tool,end,instructions_per_op,syscalls_per_op,instructions_per_syscall,instructions_per_kib,ops_1s,ops_3s" >"$csv"
for rep in $(seq "$REPEAT"); do
    for c in pingpong stream; do
        for tool in sockbench bare; do
            echo "repetition $rep of $REPEAT: counting $c / $tool (1 s and 3 s under callgrind)" >&2
            if [ $tool = sockbench ]; then
                read -r a1 p1 as1 ps1 n1 <<<"$(sockbench_once "$c" 1)"
                read -r a3 p3 as3 ps3 n3 <<<"$(sockbench_once "$c" 3)"
            else
                read -r a1 p1 as1 ps1 n1 <<<"$(bare_once "$c" 1)"
                read -r a3 p3 as3 ps3 n3 <<<"$(bare_once "$c" 3)"
            fi
            [ "$n3" -gt "$n1" ] || { echo "overhead-instructions.sh: $c/$tool: no more operations in 3 s than in 1 s ($n1, $n3)" >&2; exit 1; }
            kib=$(kib_of "$c")
            row "$rep" "$c" "$tool" active "$kib" "$a1" "$a3" "$as1" "$as3" "$n1" "$n3" >>"$csv"
            row "$rep" "$c" "$tool" passive "$kib" "$p1" "$p3" "$ps1" "$ps3" "$n1" "$n3" >>"$csv"
        done
    done
done

python3 - "$csv" <<'PYEOF'
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1])))
reps = sorted({int(r["repetition"]) for r in rows})
at = {(r["case"], r["tool"], r["end"], int(r["repetition"])): r for r in rows}

def per_rep(case, tool, end, rep):
    """Instructions and system calls per operation, and KiB per operation, of one end
    or of both ends together."""
    ends = ("active", "passive") if end == "both" else (end,)
    ir = sum(float(at[(case, tool, e, rep)]["instructions_per_op"]) for e in ends)
    sc = sum(float(at[(case, tool, e, rep)]["syscalls_per_op"]) for e in ends)
    kib = sum(float(at[(case, tool, e, rep)]["instructions_per_op"]) / float(at[(case, tool, e, rep)]["instructions_per_kib"]) for e in ends)
    return ir, sc, kib

def deltas(case, tool, end, rep):
    """What the 3 s run did beyond the 1 s run: instructions and system calls."""
    r = at[(case, tool, end, rep)]
    ops = int(r["ops_3s"]) - int(r["ops_1s"])
    return float(r["instructions_per_op"]) * ops, float(r["syscalls_per_op"]) * ops

def per_second_work(case, tool, end):
    """The instructions of the 2 s the runs differ by that no system call accounts for
    (timers, the control connection): the intercept of instructions against system
    calls, fitted over the repetitions, whose rates differ with the machine's load.
    Zero below 3 repetitions."""
    pts = [deltas(case, tool, end, rep) for rep in reps]
    if len(pts) < 3:
        return 0.0
    mx = sum(x for _, x in pts) / len(pts)
    my = sum(y for y, _ in pts) / len(pts)
    var = sum((x - mx) ** 2 for _, x in pts)
    if var == 0:
        return 0.0
    b = sum((x - mx) * (y - my) for y, x in pts) / var
    return my - b * mx

WORK = {(c, t, e): per_second_work(c, t, e) for c in ("pingpong", "stream")
        for t in ("sockbench", "bare") for e in ("active", "passive")}

def per_syscall(case, tool, end, rep):
    """Instructions per system call, the per-second work taken out."""
    ends = ("active", "passive") if end == "both" else (end,)
    ir = sum(deltas(case, tool, e, rep)[0] - WORK[(case, tool, e)] for e in ends)
    return ir / sum(deltas(case, tool, e, rep)[1] for e in ends)

def figures(case, end, rep):
    sb_ir, sb_sc, kib = per_rep(case, "sockbench", end, rep)
    bare_ir, bare_sc, _ = per_rep(case, "bare", end, rep)
    sb, bare = per_syscall(case, "sockbench", end, rep), per_syscall(case, "bare", end, rep)
    return {
        "extra/op": sb_ir - bare_ir,
        "syscalls/op": sb_sc,
        "bare syscalls/op": bare_sc,
        "instr/syscall": sb,
        "bare instr/syscall": bare,
        "extra/syscall": sb - bare,
        "extra/KiB": (sb_ir - bare_ir) / kib,
    }

NORMALIZED = ("instr/syscall", "bare instr/syscall", "extra/syscall")
names = list(figures("pingpong", "active", reps[0]))
per = {"pingpong": "round trip", "stream": "128 KiB message"}
print(f"user-space instructions, {len(reps)} repetition(s): medians (largest distance from the median)")
print(f"{'case':<9} {'end':<8} " + " ".join(f"{n:>18}" for n in names))
bad = []
for case in ("pingpong", "stream"):
    for end in ("active", "passive", "both"):
        cells = []
        for n in names:
            xs = [figures(case, end, rep)[n] for rep in reps]
            m = statistics.median(xs)
            d = max(abs(x - m) for x in xs) / abs(m) * 100 if m else 0.0
            cells.append(f"{m:>10.4g} ({d:>4.1f}%)")
            # Both ends together weigh each end by its system calls, which move with the
            # scheduling: shown, not held to the bound.
            if n in NORMALIZED and end != "both" and d > 5.0:
                bad.append(f"{case}/{end} {n}: {m:.0f}, {d:.1f}% off")
        print(f"{case:<9} {end:<8} " + " ".join(f"{c:>18}" for c in cells))
    print(f"          op = one {per[case]}; per-second work taken out of the per-system-call figures "
          f"(sockbench active, passive; bare active, passive): "
          + ", ".join(f"{WORK[(case, t, e)] / 2e6:.2f}M" for t in ("sockbench", "bare") for e in ("active", "passive"))
          + " instructions a second")
if bad:
    print("normalized figures NOT within +-5% of their median: " + "; ".join(bad))
    sys.exit(1)
print(f"normalized figures (instructions per system call, each end) within +-5% of their median over {len(reps)} repetition(s)")
PYEOF
echo "written: $csv" >&2

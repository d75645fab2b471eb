#!/usr/bin/env bash
# sockbench side by side with the tools people already trust and with the bare loops
# (sockbench-bare, built with sockbench), with the same settings, interleaved, N times:
#
#   tcp_stream      sockbench run --msg-size 128K        vs  iperf3 -l 128K         goodput (bit/s)
#                                                        and sockbench-bare stream (blocking write/read)
#   udp_64          sockbench run --proto udp --msg-size 64  vs  iperf3 -u -b 0 -l 64   datagrams delivered per second
#   udp_64_gso      the same with sockbench's --gso --gro (UDP GSO/GRO, loss still counted per datagram)
#   tcp_pingpong    sockbench run --pattern rr --nodelay vs  sockperf ping-pong --tcp --full-rtt   p50 round trip (us)
#                                                        and sockbench-bare pingpong
#
# and against neper (github.com/google/neper), flows on 2 threads a side as sockbench's
# epoll driver runs them (one worker per CPU), 64-byte requests and responses:
#
#   tcp_rr_100, tcp_rr_1000, tcp_rr_10000   --pattern rr --flows N      vs  tcp_rr -F N -T 2         transactions/s
#   tcp_crr_abortive   --pattern crr --flows 100 --linger 0             vs  tcp_crr -F 100 -T 2 (SO_LINGER 0, its default)
#   tcp_crr_graceful   --pattern crr --flows 100                        vs  tcp_crr -F 100 -T 2 --time-wait
#   tcp_stream_100     --flows 100 --msg-size 128K                      vs  tcp_stream -F 100 -T 2 -B 128K   goodput (bit/s)
#
# neper's binaries (tcp_rr, tcp_crr, tcp_stream) are taken from $NEPER_DIR, else from
# PATH; the script never fetches or builds them. neper runs on loopback only.
#
# Every case also gets a row per CPU-second: its figure (transactions, bytes or
# datagrams per second) over the CPU both processes spent, in cores (sockbench's
# sender_cpu_pct + receiver_cpu_pct, its traffic threads; neper's getrusage of each
# process over the test, which it prints; iperf3's own cpu_utilization_percent of both
# ends; the bare loops' getrusage of the process and its child). On a 2-core machine the
# tool that spends less CPU on the same work disturbs it less. sockperf reports no CPU
# time: its cases have no such row. The machine's load average is printed before and
# after, and kept in DIR/load.txt: figures from a loaded machine are indicative.
#
# Within a repetition the tools of a case run back to back, and the order flips from one
# repetition to the next (A B, B A, ...) so that a drift in the machine's speed does not
# favour one tool.
#
#   scripts/compare.sh [--duration S] [--repeat N] [--host HOST] [--out DIR] [--only CASE,...]
#
# On loopback (the default) it starts iperf3 and sockperf servers itself and sockbench
# starts its own receiver. With --host, the servers must already run there: `sockbench
# serve` (5301), `iperf3 -s` (5201), `sockperf server --tcp -p 11111`.
#
# It installs nothing: a missing peer is named with its Debian package and its cases are
# skipped. Writes DIR/compare.csv (every measurement) and DIR/table.csv (one row per case
# and peer: medians, their ratio, and the median of the per-repetition ratios with a
# distribution-free 95% interval, from 6 repetitions up), and prints the table. Ratios
# are sockbench / peer: above 1 means sockbench measured more (for goodput and rates) or
# a longer round trip (for latency).
#
# A peer tool that fails or reports a figure that is not a positive number (iperf3's JSON
# has given more lost datagrams than sent, i.e. a negative rate) is that tool's failed
# repetition: named on stderr and in compare.csv's `failed` column, left out of its
# medians (table.csv's `peer_failed` counts them), and never a failure of this script.
# sockbench's own failure or bad figure ends the script with exit 1.
set -euo pipefail

DURATION=5
REPEAT=5
HOST=
OUT=
ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --host) HOST=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,53p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
SOCKBENCH=${SOCKBENCH:-}
if [ -z "$SOCKBENCH" ]; then
    if [ -x "$here/target/release/sockbench" ]; then SOCKBENCH="$here/target/release/sockbench"
    else echo "compare.sh: build sockbench first: cargo build --release" >&2; exit 2; fi
fi
BARE=${SOCKBENCH_BARE:-$(dirname "$SOCKBENCH")/sockbench-bare}
if [ -n "$HOST" ] || [ ! -x "$BARE" ]; then
    [ -n "$HOST" ] || echo "compare.sh: no $BARE (cargo build --release builds it); skipping the bare loops" >&2
    BARE=
fi
# neper's binaries: in $NEPER_DIR, else on PATH.
NEPER_DIR=${NEPER_DIR:-}
neper_bin() {
    if [ -n "$NEPER_DIR" ]; then
        [ -x "$NEPER_DIR/$1" ] && echo "$NEPER_DIR/$1"
    else
        command -v "$1"
    fi
}
command -v python3 >/dev/null || { echo "compare.sh: needs python3 (Debian package python3) to read the peers' output" >&2; exit 2; }
[ -n "$OUT" ] || OUT="$here/results/$(date -u +%Y%m%dT%H%M%SZ)-compare"
mkdir -p "$OUT"
# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"
scratch_space

have() { command -v "$1" >/dev/null; }
cases=()
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
if have iperf3 || [ -n "$BARE" ]; then
    want tcp_stream && cases+=(tcp_stream)
fi
if have iperf3; then
    want udp_64 && cases+=(udp_64)
    want udp_64_gso && cases+=(udp_64_gso)
else
    echo "compare.sh: iperf3 is missing (Debian package iperf3: apt-get install -y iperf3); skipping it in tcp_stream, and udp_64 and udp_64_gso" >&2
fi
if have sockperf || [ -n "$BARE" ]; then
    want tcp_pingpong && cases+=(tcp_pingpong)
fi
have sockperf || echo "compare.sh: sockperf is missing (Debian package sockperf: apt-get install -y sockperf); skipping it in tcp_pingpong" >&2
NEPER_CASES=(tcp_rr_100 tcp_rr_1000 tcp_rr_10000 tcp_crr_abortive tcp_crr_graceful tcp_stream_100)
if [ -n "$HOST" ]; then
    echo "compare.sh: the neper cases run on loopback only; skipping them with --host" >&2
elif neper_bin tcp_rr >/dev/null && neper_bin tcp_crr >/dev/null && neper_bin tcp_stream >/dev/null; then
    for c in "${NEPER_CASES[@]}"; do want "$c" && cases+=("$c"); done
    # 10,000 flows a side: both tools need the descriptors.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
else
    echo "compare.sh: neper is missing: git clone https://github.com/google/neper && make -C neper, then put its tcp_rr, tcp_crr and tcp_stream on PATH or name their directory in NEPER_DIR; skipping the neper cases" >&2
fi
[ ${#cases[@]} -gt 0 ] || { echo "compare.sh: nothing to compare" >&2; exit 2; }

# Servers on loopback, on ports picked free.
target=${HOST:-127.0.0.1}
IPERF_PORT=5201 SOCKPERF_PORT=11111
sockbench_to=()
if [ -n "$HOST" ]; then
    sockbench_to=(--to "$HOST")
else
    if have iperf3; then
        IPERF_PORT=$(free_port)
        iperf3 -s -p "$IPERF_PORT" >"$work/iperf3-server.log" 2>&1 & pids+=($!)
    fi
    if have sockperf; then
        SOCKPERF_PORT=$(free_port)
        sockperf server --tcp -i 127.0.0.1 -p "$SOCKPERF_PORT" >"$work/sockperf-server.log" 2>&1 & pids+=($!)
    fi
    sleep 0.5
fi

csv="$OUT/compare.csv"
echo "case,tool,repetition,metric,value,failed" >"$csv"
# A figure is a positive, finite decimal number; anything else (empty, 0, negative, nan,
# inf, text) is a failed measurement, not a figure.
is_figure() {
    [[ "$1" =~ ^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'
}
# One CSV cell: no commas or line breaks, so that the reason stays in its column.
cell() { printf '%s' "$1" | tr ',\n\r' ';  ' | cut -c1-200; }
record() {
    if is_figure "$5"; then
        echo "$1,$2,$3,$4,$5," >>"$csv"
    elif [ "$2" = sockbench ] || [ "$2" = bare ]; then
        # Our own measurement: a bad figure is a bug to see, not noise to skip.
        echo "compare.sh: $1/$2 repetition $3 measured '$5' for $4" >&2
        exit 1
    else
        peer_failed "$1" "$2" "$3" "$4" "measured '$5'"
    fi
}
# A peer tool's failed repetition: recorded with its reason, skipped in its medians.
peer_failed() {
    echo "compare.sh: $1/$2 repetition $3 failed ($5); recorded as $2's failure and left out of its medians" >&2
    echo "$1,$2,$3,$4,,$(cell "$5")" >>"$csv"
}

# A figure per CPU-second: FIGURE over CORES (CPU-seconds per second, both processes).
per_cpu() { python3 -c 'import sys; f, c = map(float, sys.argv[1:]); print(repr(f / c) if c > 0 else "")' "$1" "$2"; }
# sockbench's cores: both processes' traffic threads.
sb_cores() { col "$1" '(sender_cpu_pct + receiver_cpu_pct) / 100'; }
# Runs a command, and writes "cpu_seconds wall_seconds" of it and its waited-for children
# to FILE (getrusage). Its standard output passes through.
cpu_wrap() {
    local file=$1
    shift
    python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.run(sys.argv[2:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime} {time.monotonic() - t}\n")
sys.exit(rc)' "$file" "$@"
}

# neper: one run of TEST (tcp_rr, tcp_crr, tcp_stream) with ARGS on both ends; prints
# "figure cores": transactions/s (or bit/s for tcp_stream) and both processes' CPU
# (getrusage over the test, as neper prints it) per second of the test.
neper_once() {
    local test=$1 bin ctl data
    shift
    bin=$(neper_bin "$test")
    ctl=$(free_port)
    data=$(free_port)
    # In the scratch directory: neper writes a log file per process where it runs.
    (cd "$work" && exec "$bin" -C "$ctl" -P "$data" -l "$DURATION" "$@") >"$work/neper-server.out" 2>&1 &
    local server=$!
    pids+=("$server")
    sleep 0.5
    (cd "$work" && exec "$bin" -c -H 127.0.0.1 -C "$ctl" -P "$data" -l "$DURATION" "$@") \
        >"$work/neper-client.out" 2>&1 || true
    wait "$server" || true
    python3 - "$work/neper-client.out" "$work/neper-server.out" "$test" "$DURATION" <<'EOF'
import sys
def kv(path):
    d = {}
    for line in open(path, errors="replace"):
        k, _, v = line.strip().partition("=")
        d[k] = v
    return d
client, server, test, duration = kv(sys.argv[1]), kv(sys.argv[2]), sys.argv[3], float(sys.argv[4])
cpu = lambda d: sum(float(d[f"{k}_end"]) - float(d[f"{k}_start"]) for k in ("utime", "stime"))
try:
    fig = float(client["remote_throughput"]) if test == "tcp_stream" else float(client["throughput"])
    print(fig, (cpu(client) + cpu(server)) / duration)
except (KeyError, ValueError):
    print("", "")
EOF
}

# sockbench: one run, one row; prints the wanted figure.
sb() {
    local dir="$work/sb-$RANDOM$RANDOM"
    "$SOCKBENCH" run "${sockbench_to[@]}" --out "$dir" --quiet --duration "${DURATION}s" --warmup 1s "$@" >/dev/null
    echo "$dir/summary.csv"
}
col() { python3 - "$1" "$2" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
if row["status"] != "ok":
    sys.exit(f"sockbench run failed: {row['error']}")
expr = sys.argv[2]
print(eval(expr, {}, {k: (float(v) if v.replace('.', '', 1).isdigit() else v) for k, v in row.items()}))
EOF
}

# iperf3's JSON: the figure the python expression prints from it (j), or a failure.
iperf3_figure() { python3 -c 'import json,sys; j = json.load(open(sys.argv[1])); exec(sys.argv[2])' "$1" "$2" 2>/dev/null; }
# Why iperf3 gave no figure: the "error" of its JSON, else its last line on stderr.
iperf3_error() {
    local e
    e=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error", ""))' "$1" 2>/dev/null) || e=
    [ -n "$e" ] || e=$(tail -n 1 "$2" 2>/dev/null)
    echo "iperf3: ${e:-no figure in its JSON}"
}

# The bare loops' cores over their last run (cpu_wrap's file).
bare_cores() { python3 -c 'import sys; c, w = map(float, open(sys.argv[1]).read().split()); print(c / w)' "$work/bare.cpu"; }
# iperf3's own CPU figures of both ends, when its JSON has them: METRIC = EXPR per core.
iperf3_per_cpu() {
    local cores
    cores=$(iperf3_figure "$work/ip.json" 'c = j["end"]["cpu_utilization_percent"]; print(repr((c["host_total"] + c["remote_total"]) / 100))') || return 0
    [ -n "$cores" ] && record "$1" iperf3 "$2" "$3" "$(per_cpu "$(python3 -c "print($4)")" "$cores")"
}

# One measurement of one tool in one case; records it.
run_tool() {
    local c=$1 tool=$2 rep=$3 f v
    case "$c/$tool" in
        tcp_stream/sockbench)
            f=$(sb --proto tcp --msg-size 128K)
            record "$c" sockbench "$rep" goodput_bps "$(col "$f" goodput_bps)"
            record "$c" sockbench "$rep" bytes_per_cpu_s "$(per_cpu "$(col "$f" 'goodput_bps / 8')" "$(sb_cores "$f")")" ;;
        tcp_stream/iperf3)
            if iperf3 -c "$target" -p "$IPERF_PORT" -t "$DURATION" -O 1 -l 128K -J >"$work/ip.json" 2>"$work/ip.err" &&
                v=$(iperf3_figure "$work/ip.json" 's = j["end"]["sum_received"]; print(repr(s["bits_per_second"]))'); then
                record "$c" iperf3 "$rep" goodput_bps "$v"
                iperf3_per_cpu "$c" "$rep" bytes_per_cpu_s "$v / 8"
            else
                peer_failed "$c" iperf3 "$rep" goodput_bps "$(iperf3_error "$work/ip.json" "$work/ip.err")"
            fi ;;
        tcp_stream/bare)
            v=$(cpu_wrap "$work/bare.cpu" "$BARE" stream --msg-size 131072 --duration "$DURATION" --warmup 1 | sed -n 's/^goodput_bps=\([0-9]*\).*/\1/p')
            [ -n "$v" ] || { echo "compare.sh: no goodput from $BARE" >&2; exit 1; }
            record "$c" bare "$rep" goodput_bps "$v"
            record "$c" bare "$rep" bytes_per_cpu_s "$(per_cpu "$(python3 -c "print($v / 8)")" "$(bare_cores)")" ;;
        udp_64/sockbench|udp_64_gso/sockbench)
            if [ "$c" = udp_64_gso ]; then f=$(sb --proto udp --msg-size 64 --gso --gro); else f=$(sb --proto udp --msg-size 64); fi
            record "$c" sockbench "$rep" datagrams_per_s "$(col "$f" 'goodput_bps / 8 / 64')"
            record "$c" sockbench "$rep" datagrams_per_cpu_s "$(per_cpu "$(col "$f" 'goodput_bps / 8 / 64')" "$(sb_cores "$f")")" ;;
        udp_64/iperf3|udp_64_gso/iperf3)
            if iperf3 -c "$target" -p "$IPERF_PORT" -u -b 0 -l 64 -t "$DURATION" -O 1 -J >"$work/ip.json" 2>"$work/ip.err" &&
                v=$(iperf3_figure "$work/ip.json" 's = j["end"]["sum"]; print(repr((s["packets"] - s["lost_packets"]) / s["seconds"]))'); then
                record "$c" iperf3 "$rep" datagrams_per_s "$v"
                iperf3_per_cpu "$c" "$rep" datagrams_per_cpu_s "$v"
            else
                peer_failed "$c" iperf3 "$rep" datagrams_per_s "$(iperf3_error "$work/ip.json" "$work/ip.err")"
            fi ;;
        tcp_pingpong/sockbench)
            f=$(sb --proto tcp --pattern rr --msg-size 64 --nodelay)
            record "$c" sockbench "$rep" rtt_p50_us "$(col "$f" 'rtt_p50_ns / 1000')"
            record "$c" sockbench "$rep" transactions_per_cpu_s "$(per_cpu "$(col "$f" transactions_per_s)" "$(sb_cores "$f")")" ;;
        tcp_pingpong/sockperf)
            if sockperf ping-pong --tcp -i "$target" -p "$SOCKPERF_PORT" -t "$DURATION" -m 64 --full-rtt >"$work/sp.log" 2>&1; then
                v=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' "$work/sp.log" | head -1)
                if [ -n "$v" ]; then record "$c" sockperf "$rep" rtt_p50_us "$v"
                else peer_failed "$c" sockperf "$rep" rtt_p50_us "no p50 in its output"; fi
            else
                peer_failed "$c" sockperf "$rep" rtt_p50_us "exit $?: $(tail -n 1 "$work/sp.log")"
            fi ;;
        tcp_pingpong/bare)
            local line
            line=$(cpu_wrap "$work/bare.cpu" "$BARE" pingpong --msg-size 64 --duration "$DURATION" --warmup 1)
            v=$(sed -n 's/^rtt_p50_ns=\([0-9]*\).*/\1/p' <<<"$line")
            [ -n "$v" ] || { echo "compare.sh: no p50 from $BARE" >&2; exit 1; }
            record "$c" bare "$rep" rtt_p50_us "$(python3 -c "print($v / 1000)")"
            # Round trips over the measured time, as sockbench's transactions_per_s.
            v=$(sed -n 's/.*round_trips=\([0-9]*\).*/\1/p' <<<"$line")
            record "$c" bare "$rep" transactions_per_cpu_s "$(per_cpu "$(python3 -c "print($v / $DURATION)")" "$(bare_cores)")" ;;
        tcp_rr_*/sockbench|tcp_crr_*/sockbench)
            local pattern=rr flows=${c##*_} linger=()
            case "$c" in tcp_crr_*) pattern=crr flows=100 ;; esac
            [ "$c" = tcp_crr_abortive ] && linger=(--linger 0)
            f=$(sb --proto tcp --pattern "$pattern" --flows "$flows" --msg-size 64 --response-size 64 "${linger[@]}")
            record "$c" sockbench "$rep" transactions_per_s "$(col "$f" transactions_per_s)"
            record "$c" sockbench "$rep" transactions_per_cpu_s "$(per_cpu "$(col "$f" transactions_per_s)" "$(sb_cores "$f")")" ;;
        tcp_stream_100/sockbench)
            f=$(sb --proto tcp --flows 100 --msg-size 128K)
            record "$c" sockbench "$rep" goodput_bps "$(col "$f" goodput_bps)"
            record "$c" sockbench "$rep" bytes_per_cpu_s "$(per_cpu "$(col "$f" 'goodput_bps / 8')" "$(sb_cores "$f")")" ;;
        tcp_*/neper)
            local test args fig cores
            case "$c" in
                tcp_rr_*) test=tcp_rr args=(-F "${c##*_}" -T 2 -Q 64 -R 64) ;;
                tcp_crr_abortive) test=tcp_crr args=(-F 100 -T 2 -Q 64 -R 64) ;;
                tcp_crr_graceful) test=tcp_crr args=(-F 100 -T 2 -Q 64 -R 64 --time-wait) ;;
                tcp_stream_100) test=tcp_stream args=(-F 100 -T 2 -B 131072) ;;
            esac
            read -r fig cores <<<"$(neper_once "$test" "${args[@]}")"
            if [ "$test" = tcp_stream ]; then
                record "$c" neper "$rep" goodput_bps "$fig"
                [ -n "$fig" ] && record "$c" neper "$rep" bytes_per_cpu_s "$(per_cpu "$(python3 -c "print($fig / 8)")" "$cores")"
            else
                record "$c" neper "$rep" transactions_per_s "$fig"
                [ -n "$fig" ] && record "$c" neper "$rep" transactions_per_cpu_s "$(per_cpu "$fig" "$cores")"
            fi ;;
        *) echo "compare.sh: no tool $tool for $c" >&2; exit 1 ;;
    esac
}

# The tools of a case: sockbench first, then the peers that are there.
tools_of() {
    local t=(sockbench)
    case "$1" in
        tcp_stream) have iperf3 && t+=(iperf3); [ -n "$BARE" ] && t+=(bare) ;;
        udp_64|udp_64_gso) t+=(iperf3) ;;
        tcp_pingpong) have sockperf && t+=(sockperf); [ -n "$BARE" ] && t+=(bare) ;;
        tcp_rr_*|tcp_crr_*|tcp_stream_100) t+=(neper) ;;
    esac
    echo "${t[@]}"
}

run_case() {
    local c=$1 rep=$2 tools t i
    read -r -a tools <<<"$(tools_of "$c")"
    # Odd repetitions in this order, even ones reversed.
    if [ $((rep % 2)) -eq 0 ]; then
        local rev=()
        for ((i = ${#tools[@]} - 1; i >= 0; i--)); do rev+=("${tools[i]}"); done
        tools=("${rev[@]}")
    fi
    for t in "${tools[@]}"; do run_tool "$c" "$t" "$rep"; done
}

echo "comparing ${cases[*]} on $target: ${DURATION}s each, $REPEAT interleaved repetitions" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
for rep in $(seq 1 "$REPEAT"); do
    for c in "${cases[@]}"; do
        run_case "$c" "$rep"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
cpus=$(nproc 2>/dev/null || echo "?")
{
    echo "load average (1, 5, 15 min) before: $load_before"
    echo "load average (1, 5, 15 min) after: $load_after"
    echo "CPUs: $cpus"
} | tee "$OUT/load.txt"

python3 - "$csv" "$OUT/table.csv" <<'EOF'
import csv, math, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))

def median_ci(xs):
    """The order statistics that bound the median with at least 95% confidence
    (binomial, distribution-free); None below 6 values, where no pair does."""
    n, xs, best = len(xs), sorted(xs), None
    for k in range(n // 2):
        if 1 - 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n >= 0.95:
            best = (xs[k], xs[n - 1 - k])
    return best

out = []
# Each case's figure first, then its figures per CPU-second.
for case, metric in sorted(dict.fromkeys((r["case"], r["metric"]) for r in rows),
                           key=lambda cm: (list(dict.fromkeys(r["case"] for r in rows)).index(cm[0]), "_per_cpu_s" in cm[1])):
    mine = [r for r in rows if r["case"] == case and r["metric"] == metric]
    # A failed repetition (a peer's, recorded with its reason) has no value: skipped here.
    value = {(r["tool"], r["repetition"]): float(r["value"]) for r in mine if not r["failed"]}
    sb = {rep: v for (t, rep), v in value.items() if t == "sockbench"}
    for peer_name in dict.fromkeys(r["tool"] for r in mine if r["tool"] != "sockbench"):
        peer = {rep: v for (t, rep), v in value.items() if t == peer_name}
        if not peer and metric.endswith("_per_cpu_s"):
            continue
        failed = sum(1 for r in mine if r["tool"] == peer_name and r["failed"])
        m_sb = statistics.median(sb.values())
        m_peer = statistics.median(peer.values()) if peer else None
        # Each repetition's pair ran back to back: its ratio shares the machine's state.
        paired = [sb[r] / peer[r] for r in sb if r in peer and peer[r] > 0]
        ci = median_ci(paired)
        out.append({"case": case, "metric": metric, "repetitions": len(sb),
                    "sockbench_median": f"{m_sb:.6g}", "peer": peer_name,
                    "peer_median": f"{m_peer:.6g}" if m_peer else "",
                    "ratio": f"{m_sb / m_peer:.3f}" if m_peer else "",
                    "paired_ratio_median": f"{statistics.median(paired):.3f}" if paired else "",
                    "paired_ratio_lo": f"{ci[0]:.3f}" if ci else "",
                    "paired_ratio_hi": f"{ci[1]:.3f}" if ci else "",
                    "peer_failed": failed})
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0].keys()))
    w.writeheader()
    w.writerows(out)
print(f"{'case':<16} {'metric':<22} {'sockbench':>12} {'peer':>9} {'peer value':>12} {'ratio':>7}  paired ratio (95% CI)")
for o in out:
    ci = f" ({o['paired_ratio_lo']}..{o['paired_ratio_hi']})" if o["paired_ratio_lo"] else ""
    failed = f"  ({o['peer']} failed {o['peer_failed']} of its repetitions)" if o["peer_failed"] else ""
    print(f"{o['case']:<16} {o['metric']:<22} {o['sockbench_median']:>12} {o['peer']:>9} {o['peer_median'] or '-':>12} {o['ratio'] or '-':>7}  {o['paired_ratio_median'] or '-'}{ci}{failed}")
EOF
echo "written: $OUT/table.csv, $OUT/compare.csv" >&2

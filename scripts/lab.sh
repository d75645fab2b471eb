#!/usr/bin/env bash
# A lab that stands for two hosts and a path between them, in network namespaces:
#
#   [$LAB-snd] snd0 192.0.2.2 ── 192.0.2.1 rtr0 [$LAB-rtr] rtr1 198.51.100.1 ── 198.51.100.2 rcv0 [$LAB-rcv]
#
# The router forwards between the two links; with RATE set, a tbf qdisc on each of its
# egress interfaces makes it the bottleneck in both directions. With DELAY, JITTER or
# LOSS set, the path also has a one-way delay (each direction), jitter and loss: netem
# where the kernel has it, else the project's delay element, sockbench-delay, on a wire
# inside the router (docs/guide/paths.md):
#
#   ... rtr1 ── wire0 [sockbench-delay in $LAB-rtr] wire1 ── 198.51.100.2 rcv0 [$LAB-rcv]
#
# Only the documentation ranges 192.0.2.0/24 and 198.51.100.0/24 are used. Needs root.
#
#   scripts/lab.sh up                       # no rate limit
#   RATE=50mbit scripts/lab.sh up           # a 50 Mbit/s bottleneck (tbf)
#   DELAY=20ms RATE=50mbit LATENCY=100ms scripts/lab.sh up   # 20 ms each way: RTT 40 ms
#   scripts/lab.sh exec snd CMD...          # run CMD on the sender host (SOCKBENCH_PATH set)
#   scripts/lab.sh drops                    # packets the router's qdiscs dropped
#   scripts/lab.sh path                     # the path as SOCKBENCH_PATH describes it
#   scripts/lab.sh stats                    # the delay element's counts (JSON)
#   scripts/lab.sh down
#
# Environment: LAB (name prefix, default sblab), RATE (tbf rate, e.g. 50mbit; empty = none),
# BURST (tbf burst, default 32kb), LATENCY (tbf queue latency, default 20ms), DELAY
# (one-way delay each direction, e.g. 20ms), JITTER (e.g. 2ms), LOSS (e.g. 0.1%, each
# direction), SEED (the delay element's loss and jitter seed, default 1), EMULATOR
# (auto|netem|element, default auto: netem if the kernel has it), SOCKBENCH_DELAY (the
# delay element's binary; default: on PATH, else target/{release,debug}/sockbench-delay),
# LAB_DIR (the element's pid, log, stats file and drops.pcap, default /tmp/$LAB).
set -euo pipefail
# ip, tc, ss and sshd live in /usr/sbin or /sbin, which an ordinary user's PATH often lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LAB=${LAB:-sblab}
RATE=${RATE:-}
BURST=${BURST:-32kb}
LATENCY=${LATENCY:-20ms}
DELAY=${DELAY:-} JITTER=${JITTER:-} LOSS=${LOSS:-} SEED=${SEED:-1}
EMULATOR=${EMULATOR:-auto}
LAB_DIR=${LAB_DIR:-/tmp/$LAB}
SND="$LAB-snd" RTR="$LAB-rtr" RCV="$LAB-rcv"

die() { echo "lab.sh: $*" >&2; exit 1; }
# DELAY, JITTER, LATENCY and LOSS with their units: bare numbers mean different things to netem
# (loss 1 = 1 %, delay 20 = 20 us) and to the delay element (a fraction, seconds).
if [ "${1:-}" = up ]; then
    for v in DELAY JITTER LATENCY; do
        [[ -z "${!v}" || "${!v}" =~ ^(0|[0-9.]+(us|ms|s))$ ]] ||
            die "$v=${!v}: give its unit, e.g. $v=20ms"
    done
    [[ -z "$LOSS" || "$LOSS" =~ ^(0|[0-9.]+%)$ ]] || die "LOSS=$LOSS: give it in percent, e.g. LOSS=0.1%"
fi
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (apt-get install -y iproute2)"

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# The delay element's binary.
delay_bin() {
    local here
    here=$(cd "$(dirname "$0")/.." && pwd)
    for b in "${SOCKBENCH_DELAY:-}" "$(command -v sockbench-delay || true)" \
        "$here/target/release/sockbench-delay" "$here/target/debug/sockbench-delay"; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return; }
    done
    die "DELAY/JITTER/LOSS need sockbench-delay (cargo build --release --bin sockbench-delay, or SOCKBENCH_DELAY=PATH)"
}

# Whether the kernel has netem (tried on the router's loopback).
have_netem() {
    in_ns "$RTR" tc qdisc add dev lo root netem delay 1ms 2>/dev/null || return 1
    in_ns "$RTR" tc qdisc del dev lo root 2>/dev/null || true
}

# Offloads off: veth passes GSO super-frames and frames with partial checksums to the
# other side, which a packet socket would read and forward as they are. And one segment
# per TCP buffer (gso_max_segs 1): with offloads off, TCP still builds buffers of many
# segments and splits them in software, and a sender keeps appending to the unsent tail
# of such a buffer past its SO_SNDBUF (seen: 760 KB queued, 440 segments in flight under
# a 32 KB send buffer), so that a small send buffer would not bound what is in flight.
no_offloads() {
    local ns=$1 dev=$2
    in_ns "$ns" ethtool -K "$dev" tso off gso off gro off tx off >/dev/null 2>&1 \
        || die "ethtool -K $dev failed (apt-get install -y ethtool)"
    in_ns "$ns" ip link set dev "$dev" gso_max_segs 1
}

stop_element() {
    local pidfile="$LAB_DIR/delay.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

# Stops what still runs in the lab's namespaces (a `sockbench serve` started with
# `lab.sh exec rcv ... &`): TERM, then KILL after a second.
stop_hosts() {
    local ns pids=()
    for ns in "$SND" "$RTR" "$RCV"; do
        pids+=($(ip netns pids "$ns" 2>/dev/null || true))
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "${pids[@]}" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

down() {
    stop_element
    stop_hosts
    for ns in "$SND" "$RTR" "$RCV"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "$LAB_DIR/path"
}

up() {
    down
    mkdir -p "$LAB_DIR"
    rm -f "$LAB_DIR/delay.json" "$LAB_DIR/drops.pcap"
    for ns in "$SND" "$RTR" "$RCV"; do
        ip netns add "$ns"
        in_ns "$ns" ip link set lo up
        # No IPv6 chatter (router solicitations, DAD) in the queues being measured.
        in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    done
    # Each pair is created with its ends already inside their namespaces, so the names
    # never meet in the root namespace and several labs can coexist.
    ip link add snd0 netns "$SND" type veth peer name rtr0 netns "$RTR"
    local impaired=""
    [ -n "$DELAY$JITTER$LOSS" ] && impaired=yes
    local emulator=none
    if [ -n "$impaired" ]; then
        case "$EMULATOR" in
            netem) have_netem || { down; die "EMULATOR=netem: this kernel has no netem (sch_netem); use EMULATOR=element or auto"; }
                emulator=netem ;;
            element) emulator=element ;;
            auto) if have_netem; then emulator=netem; else emulator=element; fi ;;
            *) die "EMULATOR must be auto, netem or element" ;;
        esac
    fi
    if [ "$emulator" = element ]; then
        command -v ethtool >/dev/null || die "the delay element needs ethtool (apt-get install -y ethtool)"
        ip link add rtr1 netns "$RTR" type veth peer name wire0 netns "$RTR"
        ip link add rcv0 netns "$RCV" type veth peer name wire1 netns "$RTR"
        for dev in wire0 wire1; do
            in_ns "$RTR" ip link set "$dev" arp off
            in_ns "$RTR" ip link set "$dev" up
        done
    else
        ip link add rcv0 netns "$RCV" type veth peer name rtr1 netns "$RTR"
    fi
    in_ns "$SND" ip addr add 192.0.2.2/24 dev snd0
    in_ns "$RTR" ip addr add 192.0.2.1/24 dev rtr0
    in_ns "$RTR" ip addr add 198.51.100.1/24 dev rtr1
    in_ns "$RCV" ip addr add 198.51.100.2/24 dev rcv0
    in_ns "$SND" ip link set snd0 up
    in_ns "$RTR" ip link set rtr0 up
    in_ns "$RTR" ip link set rtr1 up
    in_ns "$RCV" ip link set rcv0 up
    in_ns "$SND" ip route add default via 192.0.2.1
    in_ns "$RCV" ip route add default via 198.51.100.1
    in_ns "$RTR" sysctl -qw net.ipv4.ip_forward=1
    # The root qdisc of each router egress: a plain FIFO without a rate, so that its
    # drop counter can be read the same way.
    for dev in rtr0 rtr1; do
        if [ "$emulator" = netem ]; then
            # netem delays (and drops), then its child tbf shapes.
            # shellcheck disable=SC2046
            in_ns "$RTR" tc qdisc replace dev "$dev" root handle 1: netem limit 100000 \
                delay "${DELAY:-0ms}" ${JITTER:+"$JITTER"} ${LOSS:+loss "$LOSS"}
            [ -z "$RATE" ] || in_ns "$RTR" tc qdisc replace dev "$dev" parent 1:1 handle 10: \
                tbf rate "$RATE" burst "$BURST" latency "$LATENCY"
        elif [ -n "$RATE" ]; then
            in_ns "$RTR" tc qdisc replace dev "$dev" root tbf rate "$RATE" burst "$BURST" latency "$LATENCY"
        else
            in_ns "$RTR" tc qdisc replace dev "$dev" root pfifo limit 1000
        fi
    done
    if [ "$emulator" = element ]; then
        no_offloads "$SND" snd0
        no_offloads "$RCV" rcv0
        for dev in rtr0 rtr1 wire0 wire1; do no_offloads "$RTR" "$dev"; done
        start_element
    fi
    echo "$emulator" >"$LAB_DIR/emulator"
    path_note >"$LAB_DIR/path"
    # Both hosts route to each other through the router.
    in_ns "$SND" ip route get 198.51.100.2 | grep -q "via 192.0.2.1" || die "the sender host has no route"
    in_ns "$RCV" ip route get 192.0.2.2 | grep -q "via 198.51.100.1" || die "the receiver host has no route"
    echo "lab $LAB up: sender 192.0.2.2 ($SND), router ($RTR), receiver 198.51.100.2 ($RCV)${RATE:+, bottleneck $RATE}${impaired:+, path $(path_note) by $emulator}"
}

# The delay element on the router's wire, at real-time priority where it may have it
# (a late wake-up would add to the delay), detached from this script.
start_element() {
    local bin rt=()
    bin=$(delay_bin)
    command -v chrt >/dev/null && chrt -f 50 true 2>/dev/null && rt=(chrt -f 50)
    # ip and chrt exec the element, so $! is its pid (which `down` signals).
    ip netns exec "$RTR" "${rt[@]}" "$bin" wire0 wire1 --delay "${DELAY:-0ms}" \
        --jitter "${JITTER:-0ms}" --loss "${LOSS:-0}" --seed "$SEED" \
        --stats "$LAB_DIR/delay.json" --drops "$LAB_DIR/drops.pcap" \
        </dev/null >"$LAB_DIR/delay.log" 2>&1 &
    echo $! >"$LAB_DIR/delay.pid"
    for _ in $(seq 100); do
        [ -f "$LAB_DIR/delay.json" ] && return 0
        kill -0 "$(cat "$LAB_DIR/delay.pid")" 2>/dev/null || break
        sleep 0.05
    done
    die "the delay element did not start: $(cat "$LAB_DIR/delay.log")"
}

# The path as a run records it in meta.json (SOCKBENCH_PATH, docs/guide/paths.md);
# `up` keeps it in $LAB_DIR/path for `path` and `exec`.
path_note() {
    local emulator note
    emulator=$(cat "$LAB_DIR/emulator" 2>/dev/null || echo none)
    note="delay=${DELAY:-0ms},jitter=${JITTER:-0ms},loss=${LOSS:-0%}"
    [ -z "$RATE" ] || note="$note,rate=$RATE,queue=$LATENCY"
    [ "$emulator" = none ] || note="$note,emulator=$emulator"
    [ "$emulator" != element ] || note="$note,seed=$SEED"
    echo "$note"
}

# Packets dropped by the router's egress qdiscs: "rtr0 N" (toward the sender) and
# "rtr1 N" (toward the receiver).
drops() {
    for dev in rtr0 rtr1; do
        n=$(in_ns "$RTR" tc -s qdisc show dev "$dev" | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -1)
        echo "$dev ${n:-0}"
    done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    drops) drops ;;
    path) cat "$LAB_DIR/path" 2>/dev/null || die "lab $LAB is not up" ;;
    stats)
        [ -f "$LAB_DIR/delay.json" ] || die "no delay element in lab $LAB"
        cat "$LAB_DIR/delay.json"
        ;;
    exec)
        [ $# -ge 3 ] || die "usage: lab.sh exec snd|rtr|rcv CMD..."
        host=$2; shift 2
        case "$host" in snd) ns=$SND ;; rtr) ns=$RTR ;; rcv) ns=$RCV ;; *) die "no host $host" ;; esac
        SOCKBENCH_PATH=$(cat "$LAB_DIR/path" 2>/dev/null || true) exec ip netns exec "$ns" "$@"
        ;;
    *) die "usage: [LAB=name] [RATE=50mbit] [DELAY=20ms] [JITTER=2ms] [LOSS=0.1%] lab.sh up|down|drops|path|stats|exec HOST CMD..." ;;
esac

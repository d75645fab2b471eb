#!/usr/bin/env bash
# A lab that stands for two hosts and a bottleneck, in network namespaces:
#
#   [$LAB-snd] snd0 192.0.2.2 ── 192.0.2.1 rtr0 [$LAB-rtr] rtr1 198.51.100.1 ── 198.51.100.2 rcv0 [$LAB-rcv]
#
# The router forwards between the two links; with RATE set, a tbf qdisc on each of its
# egress interfaces makes it the bottleneck in both directions (netem is not available
# in every kernel; tbf is). Only the documentation ranges 192.0.2.0/24 and
# 198.51.100.0/24 are used. Needs root.
#
#   scripts/lab.sh up                       # no rate limit
#   RATE=50mbit scripts/lab.sh up           # a 50 Mbit/s bottleneck (tbf)
#   scripts/lab.sh exec snd CMD...          # run CMD on the sender host
#   scripts/lab.sh drops                    # packets the router's qdiscs dropped
#   scripts/lab.sh down
#
# Environment: LAB (name prefix, default sblab), RATE (tbf rate, e.g. 50mbit; empty = none),
# BURST (tbf burst, default 32kb), LATENCY (tbf queue latency, default 20ms).
set -euo pipefail
# ip, tc, ss and sshd live in /usr/sbin or /sbin, which an ordinary user's PATH often lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LAB=${LAB:-sblab}
RATE=${RATE:-}
BURST=${BURST:-32kb}
LATENCY=${LATENCY:-20ms}
SND="$LAB-snd" RTR="$LAB-rtr" RCV="$LAB-rcv"

die() { echo "lab.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (apt-get install -y iproute2)"

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

down() {
    for ns in "$SND" "$RTR" "$RCV"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}

up() {
    down
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
    ip link add rcv0 netns "$RCV" type veth peer name rtr1 netns "$RTR"
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
        if [ -n "$RATE" ]; then
            in_ns "$RTR" tc qdisc replace dev "$dev" root tbf rate "$RATE" burst "$BURST" latency "$LATENCY"
        else
            in_ns "$RTR" tc qdisc replace dev "$dev" root pfifo limit 1000
        fi
    done
    # Both hosts route to each other through the router.
    in_ns "$SND" ip route get 198.51.100.2 | grep -q "via 192.0.2.1" || die "the sender host has no route"
    in_ns "$RCV" ip route get 192.0.2.2 | grep -q "via 198.51.100.1" || die "the receiver host has no route"
    echo "lab $LAB up: sender 192.0.2.2 ($SND), router ($RTR), receiver 198.51.100.2 ($RCV)${RATE:+, bottleneck $RATE}"
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
    exec)
        [ $# -ge 3 ] || die "usage: lab.sh exec snd|rtr|rcv CMD..."
        host=$2; shift 2
        case "$host" in snd) ns=$SND ;; rtr) ns=$RTR ;; rcv) ns=$RCV ;; *) die "no host $host" ;; esac
        exec ip netns exec "$ns" "$@"
        ;;
    *) die "usage: [LAB=name] [RATE=50mbit] lab.sh up|down|drops|exec HOST CMD..." ;;
esac

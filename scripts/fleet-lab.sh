#!/usr/bin/env bash
# A lab that stands for a fleet of N hosts on one switch, in network namespaces, with a
# controller host beside them and, on request, a real sshd on every host:
#
#   [sbf-$FLEET-ctl]   eth0 192.0.2.10 ─┐
#   [sbf-$FLEET-host1] eth0 192.0.2.11 ─┤
#   [sbf-$FLEET-host2] eth0 192.0.2.12 ─┼─ br0 [sbf-$FLEET-sw]
#   [sbf-$FLEET-host3] eth0 192.0.2.13 ─┤
#   [sbf-$FLEET-host4] eth0 192.0.2.14 ─┘  ← tbf $RATE on the switch port toward host4
#
# The bottleneck host's tbf sits on the switch's egress toward it, so every path INTO
# that host is limited and the paths out of it are not (`scripts/fleet-lab.sh exec sw tc
# -s qdisc` shows it). The controller (where ansible or `sockbench mesh` runs) is one
# more host on the bridge, because the root namespace cannot reach the hosts. Only the
# documentation range 192.0.2.0/24 is used. Needs root, iproute2, and for `sshd` Debian's
# openssh-server (/usr/sbin/sshd) and openssh-client (ssh, ssh-keygen).
#
#   scripts/fleet-lab.sh up                 # namespaces, veths, bridge, tbf
#   scripts/fleet-lab.sh sshd               # an sshd on each host; writes $FLEET_DIR/ssh_config
#   scripts/fleet-lab.sh exec ctl ssh -F "$FLEET_DIR/ssh_config" sbf-host1 true
#   scripts/fleet-lab.sh exec host2 CMD...  # run CMD on a host (host1..hostN, ctl, sw)
#   scripts/fleet-lab.sh drops              # packets the bottleneck's tbf dropped
#   scripts/fleet-lab.sh down               # every process in the lab killed, all removed
#
# Environment: FLEET (the per-run part of the names, default lab: run labs side by side
# under different names), FLEET_N (hosts, default 4, at most 40), FLEET_DIR (state: keys,
# ssh_config, known_hosts, the HOSTS file; default /tmp/sbf-$FLEET), BOTTLENECK (the host
# behind the tbf, default 4, or the last of fewer; 0 = none), RATE (default 50mbit), BURST (default 32kb),
# LATENCY (tbf queue latency, default 20ms).
#
# Files in $FLEET_DIR after `up`: hosts (a sockbench HOSTS file: `hostI 192.0.2.1I`);
# after `sshd`: ssh_config (Host aliases sbf-host1..N, also matching the bare
# addresses), known_hosts, client_key (root's key on every host), hostI/ (each sshd's
# host key, config, pid file and log).
set -euo pipefail
# ip, tc, ss and sshd live in /usr/sbin or /sbin, which an ordinary user's PATH often lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

FLEET=${FLEET:-lab}
FLEET_N=${FLEET_N:-4}
FLEET_DIR=${FLEET_DIR:-/tmp/sbf-$FLEET}
BOTTLENECK=${BOTTLENECK:-}
RATE=${RATE:-50mbit}
BURST=${BURST:-32kb}
LATENCY=${LATENCY:-20ms}
PREFIX="sbf-$FLEET"
SW="$PREFIX-sw" CTL="$PREFIX-ctl"
SSHD=/usr/sbin/sshd

die() { echo "fleet-lab.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (apt-get install -y iproute2)"
case "$FLEET" in *[!A-Za-z0-9_]*|'') die "FLEET must be letters, digits and _ (got '$FLEET')" ;; esac
case "$FLEET_N" in ''|*[!0-9]*) die "FLEET_N must be a number of hosts" ;; esac
[ "$FLEET_N" -ge 2 ] && [ "$FLEET_N" -le 40 ] || die "FLEET_N must be 2..40"
[ -n "$BOTTLENECK" ] || BOTTLENECK=$((FLEET_N < 4 ? FLEET_N : 4))
case "$BOTTLENECK" in ''|*[!0-9]*) die "BOTTLENECK must be a host number (0 = none)" ;; esac
[ "$BOTTLENECK" -le "$FLEET_N" ] || die "BOTTLENECK $BOTTLENECK > FLEET_N $FLEET_N"

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
host_ns() { echo "$PREFIX-host$1"; }
host_addr() { echo "192.0.2.$((10 + $1))"; }
CTL_ADDR=192.0.2.10

# The lab's namespaces: the ones it would make, and any other named after it (a lab
# brought up with another FLEET_N is still removed whole).
all_ns() {
    {
        echo "$SW" "$CTL"
        for i in $(seq 1 "$FLEET_N"); do host_ns "$i"; done
        ip netns list 2>/dev/null | cut -d' ' -f1 | grep "^$PREFIX-" || true
    } | sort -u
}

# Every process inside the lab's namespaces is the lab's (sshd, its sessions, the daemons
# started through them): TERM, a moment, then KILL.
kill_lab_processes() {
    local pids=() ns p
    for ns in $(all_ns); do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$p"); done
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 30); do
        local alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && return 0
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

down() {
    kill_lab_processes
    for ns in $(all_ns); do
        ip netns del "$ns" 2>/dev/null || true
    done
    # Only a directory this script made (it holds the marker) is removed.
    if [ -f "$FLEET_DIR/.fleet-lab" ]; then rm -rf "$FLEET_DIR"; fi
}

add_ns() {
    local ns=$1
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    # No IPv6 chatter (router solicitations, DAD) in the queues being measured.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}

# A host namespace NS with eth0 at ADDR, plugged into switch port PORT.
plug() {
    local ns=$1 addr=$2 port=$3
    add_ns "$ns"
    # Created with its ends already in their namespaces: the names never meet in the root
    # namespace, so several labs coexist.
    ip link add eth0 netns "$ns" type veth peer name "$port" netns "$SW"
    in_ns "$ns" ip addr add "$addr/24" dev eth0
    in_ns "$ns" ip link set eth0 up
    in_ns "$SW" ip link set "$port" master br0
    in_ns "$SW" ip link set "$port" up
}

up() {
    down
    trap 'echo "fleet-lab.sh: up failed; removing the lab" >&2; down' EXIT
    mkdir -p "$FLEET_DIR"
    touch "$FLEET_DIR/.fleet-lab"
    add_ns "$SW"
    # Spanning tree off: ports forward at once.
    in_ns "$SW" ip link add br0 type bridge stp_state 0
    in_ns "$SW" ip link set br0 up
    plug "$CTL" "$CTL_ADDR" pc
    : >"$FLEET_DIR/hosts"
    for i in $(seq 1 "$FLEET_N"); do
        plug "$(host_ns "$i")" "$(host_addr "$i")" "p$i"
        echo "host$i $(host_addr "$i")" >>"$FLEET_DIR/hosts"
    done
    # Every switch egress gets a root qdisc so drops read the same way everywhere; the
    # bottleneck host's is the tbf.
    for i in $(seq 1 "$FLEET_N"); do
        if [ "$i" = "$BOTTLENECK" ]; then
            in_ns "$SW" tc qdisc replace dev "p$i" root tbf rate "$RATE" burst "$BURST" latency "$LATENCY"
        else
            in_ns "$SW" tc qdisc replace dev "p$i" root pfifo limit 1000
        fi
    done
    # The controller reaches every host: a TCP connect to a closed port is refused at
    # once by a reachable host and times out otherwise (no ping needed).
    for i in $(seq 1 "$FLEET_N"); do
        local rc=0
        in_ns "$CTL" timeout 3 bash -c "exec 3<>/dev/tcp/$(host_addr "$i")/9" 2>/dev/null || rc=$?
        [ "$rc" != 124 ] || die "the controller cannot reach host$i at $(host_addr "$i")"
    done
    trap - EXIT
    local neck=
    [ "$BOTTLENECK" = 0 ] || neck=", host$BOTTLENECK behind tbf $RATE"
    echo "fleet $FLEET up: $FLEET_N hosts 192.0.2.11-$((10 + FLEET_N)) ($PREFIX-host1..$FLEET_N), controller $CTL_ADDR ($CTL), switch $SW$neck; state in $FLEET_DIR"
}

sshd_up() {
    [ -x "$SSHD" ] || die "needs $SSHD (apt-get install -y openssh-server)"
    command -v ssh-keygen >/dev/null || die "needs ssh-keygen (apt-get install -y openssh-client)"
    [ -e "/run/netns/$SW" ] && [ -f "$FLEET_DIR/.fleet-lab" ] || die "the lab $FLEET is not up: fleet-lab.sh up first"
    # Debian's sshd refuses to start without its privilege separation directory.
    mkdir -p /run/sshd && chmod 0755 /run/sshd
    rm -f "$FLEET_DIR/client_key" "$FLEET_DIR/client_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "fleet-lab $FLEET" -f "$FLEET_DIR/client_key"
    cp "$FLEET_DIR/client_key.pub" "$FLEET_DIR/authorized_keys"
    : >"$FLEET_DIR/known_hosts"
    {
        for i in $(seq 1 "$FLEET_N"); do
            printf 'Host sbf-host%s\n    HostName %s\n' "$i" "$(host_addr "$i")"
        done
        printf 'Host sbf-* 192.0.2.*\n'
        printf '    User root\n    Port 22\n    IdentityFile %s\n    IdentitiesOnly yes\n' "$FLEET_DIR/client_key"
        printf '    UserKnownHostsFile %s\n    GlobalKnownHostsFile /dev/null\n' "$FLEET_DIR/known_hosts"
        printf '    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 5\n'
    } >"$FLEET_DIR/ssh_config"
    for i in $(seq 1 "$FLEET_N"); do
        local d="$FLEET_DIR/host$i" addr ns
        addr=$(host_addr "$i") ns=$(host_ns "$i")
        mkdir -p "$d"
        rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
        ssh-keygen -q -t ed25519 -N '' -C "sbf-host$i" -f "$d/ssh_host_ed25519_key"
        echo "sbf-host$i,$addr $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$FLEET_DIR/known_hosts"
        # StrictModes off: the keys live under /tmp, which is world-writable.
        cat >"$d/sshd_config" <<EOF
ListenAddress $addr:22
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $FLEET_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
Subsystem sftp internal-sftp
EOF
        in_ns "$ns" "$SSHD" -t -f "$d/sshd_config" || die "sshd rejects $d/sshd_config"
        in_ns "$ns" "$SSHD" -f "$d/sshd_config" -E "$d/sshd.log"
    done
    # Bounded wait until each sshd answers from the controller.
    for i in $(seq 1 "$FLEET_N"); do
        local ok=0
        for _ in $(seq 1 50); do
            if in_ns "$CTL" ssh -F "$FLEET_DIR/ssh_config" "sbf-host$i" true 2>/dev/null; then ok=1; break; fi
            sleep 0.1
        done
        [ $ok = 1 ] || { cat "$FLEET_DIR/host$i/sshd.log" >&2; die "sshd on host$i does not answer"; }
    done
    echo "sshd on $FLEET_N hosts; from the controller: fleet-lab.sh exec ctl ssh -F $FLEET_DIR/ssh_config sbf-host1 CMD"
}

drops() {
    [ "$BOTTLENECK" != 0 ] || die "no bottleneck host"
    n=$(in_ns "$SW" tc -s qdisc show dev "p$BOTTLENECK" | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -1)
    echo "p$BOTTLENECK ${n:-0}"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    sshd) sshd_up ;;
    drops) drops ;;
    exec)
        [ $# -ge 3 ] || die "usage: fleet-lab.sh exec host1..host$FLEET_N|ctl|sw CMD..."
        host=$2; shift 2
        case "$host" in
            ctl) ns=$CTL ;;
            sw) ns=$SW ;;
            host[0-9]*)
                i=${host#host}
                case "$i" in *[!0-9]*) die "no host $host" ;; esac
                [ "$i" -ge 1 ] && [ "$i" -le "$FLEET_N" ] || die "no host $host (FLEET_N=$FLEET_N)"
                ns=$(host_ns "$i") ;;
            *) die "no host $host (host1..host$FLEET_N, ctl, sw)" ;;
        esac
        exec ip netns exec "$ns" "$@"
        ;;
    *) die "usage: [FLEET=name] [FLEET_N=4] [BOTTLENECK=4] [RATE=50mbit] fleet-lab.sh up|sshd|down|drops|exec HOST CMD..." ;;
esac

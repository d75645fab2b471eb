#!/usr/bin/env bash
# Run a workload against a remote host in one command: start `sockbench serve --once`
# there over ssh, run the workload here against it, collect the remote host's facts into
# the results directory, and tear down.
#
#   scripts/cross-host.sh [options] [USER@]HOST [WORKLOAD.toml] [-- RUN ARGS...]
#
# Options:
#   --remote-bin PATH    sockbench on the remote host (default: sockbench on its PATH)
#   --port N             control port on the remote host (default 5301)
#   --addr ADDR          address to reach the remote host at (default: HOST less USER@)
#   --psk-file FILE      key file here; the remote uses --remote-psk (default: the same path)
#   --remote-psk PATH    key file on the remote host
#   --data-ports LO-HI   data port range on the remote host (for firewalls)
#   --out DIR            results directory (default results/<UTC time>-cross-<host>)
#   --ssh CMD            ssh command (default: "ssh -o BatchMode=yes -o ConnectTimeout=10"); called as CMD HOST COMMAND
#   --local-bin PATH     sockbench here (default: target/release/sockbench, else on PATH)
#
# The remote sockbench must be the same release as this one (the control protocol is
# versioned; a mismatch is refused with both versions named).
set -euo pipefail
# ip, tc, ss and sshd live in /usr/sbin or /sbin, which an ordinary user's PATH often lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

die() { echo "cross-host.sh: $*" >&2; exit 2; }

REMOTE_BIN=sockbench
PORT=5301
ADDR=
PSK=
REMOTE_PSK=
DATA_PORTS=
OUT=
SSH_CMD="ssh -o BatchMode=yes -o ConnectTimeout=10"
LOCAL_BIN=
while [ $# -gt 0 ]; do
    case "$1" in
        --remote-bin) REMOTE_BIN=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --addr) ADDR=$2; shift 2 ;;
        --psk-file) PSK=$2; shift 2 ;;
        --remote-psk) REMOTE_PSK=$2; shift 2 ;;
        --data-ports) DATA_PORTS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --ssh) SSH_CMD=$2; shift 2 ;;
        --local-bin) LOCAL_BIN=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        --) break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || die "usage: cross-host.sh [options] [USER@]HOST [WORKLOAD.toml] [-- RUN ARGS...]"
HOST=$1; shift
WORKLOAD=
if [ $# -gt 0 ] && [ "$1" != "--" ]; then WORKLOAD=$1; shift; fi
[ "${1:-}" = "--" ] && shift
[ -n "$ADDR" ] || ADDR=${HOST#*@}
[ -n "$PSK" ] && [ -z "$REMOTE_PSK" ] && REMOTE_PSK=$PSK

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$LOCAL_BIN" ]; then
    if [ -x "$here/target/release/sockbench" ]; then LOCAL_BIN="$here/target/release/sockbench"
    else LOCAL_BIN=$(command -v sockbench) || die "no local sockbench: cargo build --release first"; fi
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT="results/$stamp-cross-${ADDR//[^A-Za-z0-9.-]/_}"
# A new or empty directory, as `sockbench run --out` wants: this script's own files go
# in first, so it checks, and the run is told (--force) that they are expected.
[ ! -e "$OUT" ] || { [ -d "$OUT" ] && [ -z "$(ls -A "$OUT")" ]; } ||
    die "--out $OUT: exists and is not an empty directory"
mkdir -p "$OUT"

# The receiver, over ssh. --once: it exits when this sender disconnects.
serve_cmd="$REMOTE_BIN serve --once --listen 0.0.0.0:$PORT"
[ -n "$REMOTE_PSK" ] && serve_cmd="$serve_cmd --psk-file $REMOTE_PSK"
[ -n "$DATA_PORTS" ] && serve_cmd="$serve_cmd --data-ports $DATA_PORTS"
serve_log="$OUT/remote-serve.log"
read -r -a ssh_argv <<<"$SSH_CMD"
# Over a real ssh without a terminal, a remote process outlives the connection: killing
# the local ssh would leave `serve --once` waiting there for a sender that never comes.
# So the remote side watches its stdin: the receiver runs in the background, and when
# stdin ends (this script closed its end of the fifo, or exited in any way, or the
# connection dropped) the receiver is stopped.
hold=$(mktemp -d)
mkfifo "$hold/stdin"
remote_cmd="$serve_cmd </dev/null & p=\$!; cat >/dev/null; kill \$p 2>/dev/null; wait \$p"
"${ssh_argv[@]}" "$HOST" "$remote_cmd" <"$hold/stdin" >"$serve_log" 2>&1 &
ssh_pid=$!
exec 7>"$hold/stdin"
# Only this shell holds fd 7 (children get `7>&-`), so it closes when this shell ends.
# Ends the remote side: its stdin closes; then (bounded) ssh exits by itself.
release_remote() {
    exec 7>&- 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$ssh_pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
    release_remote
    if kill -0 "$ssh_pid" 2>/dev/null; then
        kill "$ssh_pid" 2>/dev/null || true
    fi
    wait "$ssh_pid" 2>/dev/null || true
    rm -rf "$hold"
}
trap cleanup EXIT INT TERM

# Wait (bounded) for the receiver to say where it listens.
for _ in $(seq 1 150); do
    grep -q '^listening on' "$serve_log" 2>/dev/null && break
    kill -0 "$ssh_pid" 2>/dev/null || { cat "$serve_log" >&2; die "the remote receiver did not start"; }
    sleep 0.1
done
grep -q '^listening on' "$serve_log" || { cat "$serve_log" >&2; die "the remote receiver did not report its address in 15s"; }
echo "remote receiver on $HOST: $(grep '^listening on' "$serve_log")"

# The remote host's facts, beside the ones the receiver reports itself in meta.json.
"${ssh_argv[@]}" "$HOST" 'uname -a; echo; for f in net/core/rmem_max net/core/wmem_max net/ipv4/tcp_rmem net/ipv4/tcp_wmem net/ipv4/tcp_congestion_control net/ipv4/tcp_available_congestion_control; do printf "%s = %s\n" "$f" "$(cat /proc/sys/$f)"; done; echo; ip -brief addr 2>/dev/null || true' \
    >"$OUT/remote-facts.txt" 2>&1 7>&- || echo "cross-host.sh: could not collect the remote facts" >&2
uname -a >"$OUT/local-facts.txt"

run_args=(run)
[ -n "$WORKLOAD" ] && run_args+=("$WORKLOAD")
run_args+=(--to "$ADDR:$PORT" --out "$OUT" --force)
[ -n "$PSK" ] && run_args+=(--psk-file "$PSK")
set +e
"$LOCAL_BIN" "${run_args[@]}" "$@" 7>&-
status=$?
set -e

# --once: the receiver exits by itself once we disconnect; then the remote side ends.
release_remote
echo "results: $OUT (remote log: $serve_log)"
exit $status

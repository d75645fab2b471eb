# Shared by the scripts that start local processes: source it, then call scratch_space.
# Not meant to run on its own.

# ip, tc, ss and sshd live in /usr/sbin or /sbin, which an ordinary user's PATH often lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# A scratch directory in $work and a list $pids of background processes; both are
# removed when the script exits, however it exits.
scratch_space() {
    work=$(mktemp -d)
    pids=()
    trap scratch_cleanup EXIT INT TERM
}

scratch_cleanup() {
    # A background loop's own children first (a cargo build it started would otherwise
    # go on writing into $work while it is removed), then the loop.
    for p in "${pids[@]}"; do
        pkill -TERM -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    # A killed compiler may still be writing for a moment: try again before giving up.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        rm -rf "$work" 2>/dev/null && break
        sleep 1
    done
    [ ! -e "$work" ] || echo "could not remove the scratch space $work" >&2
}

# A TCP port on 127.0.0.1 that is free now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

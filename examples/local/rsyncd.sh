# shellcheck shell=bash disable=SC2034  # RSYNCD_* are read by the sourcing scripts
# Helpers to run a throw-away rsync daemon on 127.0.0.1, sourced by
# examples/local/run.sh and benches/noop-sync.sh.
#
#   start_rsyncd WORK UPSTREAM   writes WORK/rsyncd.conf from rsyncd.conf.in,
#                                starts `rsync --daemon --no-detach` on a free
#                                port; sets RSYNCD_PORT and RSYNCD_PID
#   start_rsyncd_with WORK CONF  the same with a config file of the caller's
#   stop_rsyncd                  stops it (safe to call twice, or never started)

RSYNCD_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RSYNCD_PORT=""
RSYNCD_PID=""

# True when nothing accepts connections on 127.0.0.1:$1.
port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_rsyncd() {
    local work=$1 upstream=$2 conf tpl root_only=""
    conf=$work/rsyncd.conf
    tpl=$(<"$RSYNCD_HERE/rsyncd.conf.in")
    if ((EUID == 0)); then
        # As root the daemon would otherwise switch to nobody.
        root_only=$'uid = root\ngid = root'
    fi
    tpl=${tpl//@WORK@/$work}
    tpl=${tpl//@UPSTREAM@/$upstream}
    tpl=${tpl//@ROOT_ONLY@/$root_only}
    printf '%s\n' "$tpl" >"$conf"
    start_rsyncd_with "$work" "$conf"
}

start_rsyncd_with() {
    local work=$1 conf=$2 attempt port i
    for ((attempt = 0; attempt < 20; attempt++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        port_is_free "$port" || continue
        rsync --daemon --no-detach --address=127.0.0.1 --port="$port" \
            --config="$conf" </dev/null >>"$work/rsyncd.out" 2>&1 &
        RSYNCD_PID=$!
        # Wait until it listens; if it died, the port was taken meanwhile.
        for ((i = 0; i < 100; i++)); do
            if ! kill -0 "$RSYNCD_PID" 2>/dev/null; then
                wait "$RSYNCD_PID" 2>/dev/null || true
                RSYNCD_PID=""
                break
            fi
            if ! port_is_free "$port"; then
                RSYNCD_PORT=$port
                return 0
            fi
            sleep 0.05
        done
        stop_rsyncd
    done
    echo "could not start an rsync daemon, see $work/rsyncd.out and $work/rsyncd.log" >&2
    return 1
}

stop_rsyncd() {
    if [[ -n $RSYNCD_PID ]]; then
        kill "$RSYNCD_PID" 2>/dev/null || true
        wait "$RSYNCD_PID" 2>/dev/null || true
        RSYNCD_PID=""
    fi
}

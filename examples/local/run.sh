#!/usr/bin/env bash
# Quick start: a complete ftpsync run against a local rsync daemon.
#
# Usage: examples/local/run.sh [WORK]      (WORK defaults to target/example)
#
# 1. installs missing system packages (scripts/setup-deps) and builds
#    target/release/archvsync;
# 2. wipes WORK and builds a small Debian-like archive in WORK/upstream;
# 3. serves it with `rsync --daemon` on 127.0.0.1 and a free port (stopped on
#    exit, also on failure);
# 4. sets up the classic mirror layout WORK/mirror/{bin,etc,log}, with
#    bin/ftpsync a symlink to the archvsync binary and etc/ftpsync.conf made
#    from examples/local/ftpsync.conf.in;
# 5. runs `WORK/mirror/bin/ftpsync -T example sync:all` and shows the result;
# 6. writes the status page, WORK/status.html (`archvsync status --html`).
#
# Exits with ftpsync's exit status (non-zero when the sync failed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

WORK=${1:-$ROOT/target/example}
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac

if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/setup-deps

step "building target/release/archvsync"
cargo build --release
BIN=$ROOT/target/release/archvsync

step "work directory $WORK"
# Refuse to wipe something that is obviously not ours.
if [[ $WORK == / || $WORK == "$ROOT" || $WORK == "$HOME" ]]; then
    echo "refusing to use $WORK as work directory" >&2
    exit 64
fi
rm -rf "$WORK"
mkdir -p "$WORK"
UPSTREAM=$WORK/upstream
MIRROR=$WORK/mirror

step "building the upstream archive in $UPSTREAM"
"$HERE/make-archive.sh" "$UPSTREAM" --serial "$(date -u +%Y%m%d)01"

step "starting an rsync daemon on 127.0.0.1"
# shellcheck source=examples/local/rsyncd.sh
source "$HERE/rsyncd.sh"
trap stop_rsyncd EXIT
trap 'exit 130' INT TERM
start_rsyncd "$WORK" "$UPSTREAM"
echo "rsync daemon pid $RSYNCD_PID serving rsync://127.0.0.1:$RSYNCD_PORT/debian/"

step "mirror layout in $MIRROR"
mkdir -p "$MIRROR/bin" "$MIRROR/etc" "$MIRROR/log"
ln -s "$BIN" "$MIRROR/bin/ftpsync"
conf=$(<"$HERE/ftpsync.conf.in")
conf=${conf//@MIRROR@/$MIRROR}
conf=${conf//@PORT@/$RSYNCD_PORT}
printf '%s\n' "$conf" >"$MIRROR/etc/ftpsync.conf"
echo "$MIRROR/bin/ftpsync -> $(readlink "$MIRROR/bin/ftpsync")"
echo "$MIRROR/etc/ftpsync.conf:"
grep -v '^#\|^$' "$MIRROR/etc/ftpsync.conf" | sed 's/^/    /'

step "running: $MIRROR/bin/ftpsync -T example sync:all"
status=0
env -u BASEDIR -u SSH_ORIGINAL_COMMAND -u SSH_CONNECTION \
    "$MIRROR/bin/ftpsync" -T example sync:all </dev/null || status=$?
echo "ftpsync exit status: $status"

step "result"
TO=$MIRROR/debian
trace=$TO/project/trace/example-mirror
if [[ -f $trace ]]; then
    echo "--- $trace"
    cat "$trace"
else
    echo "no trace file $trace"
fi
if [[ -f $TO/project/trace/_hierarchy ]]; then
    echo "--- $TO/project/trace/_hierarchy"
    cat "$TO/project/trace/_hierarchy"
fi

up_count=$(find "$UPSTREAM" -type f | wc -l)
mirror_count=0
[[ -d $TO ]] && mirror_count=$(find "$TO" -type f | wc -l)
echo "--- files: upstream $up_count, mirror $mirror_count (the mirror adds its own trace files)"
if [[ -d $TO ]]; then
    # Everything but project/trace must be identical.
    if differences=$(diff -rq --no-dereference -x trace "$UPSTREAM" "$TO" 2>&1); then
        echo "mirror content identical to upstream (project/trace aside)"
    else
        echo "mirror differs from upstream:"
        printf '%s\n' "$differences" | head -20
        ((status)) || status=1
    fi
fi

echo "--- logs in $MIRROR/log/:"
ls -l "$MIRROR/log/"
for log in "$MIRROR/log/ftpsync.log.0" "$MIRROR/log/ftpsync.log"; do
    if [[ -s $log ]]; then
        echo "--- $log"
        cat "$log"
        break
    fi
done
echo "--- rsync daemon log: $WORK/rsyncd.log"

# What an operator sees afterwards: the status table and the metrics file.
ln -sf "$BIN" "$MIRROR/bin/archvsync"
echo "--- $MIRROR/bin/archvsync status"
"$MIRROR/bin/archvsync" status || true
if [[ -f $MIRROR/log/archvsync.prom ]]; then
    echo "--- METRICS_FILE $MIRROR/log/archvsync.prom"
    cat "$MIRROR/log/archvsync.prom"
fi
echo "--- $MIRROR/bin/archvsync status --html $WORK/status.html"
"$MIRROR/bin/archvsync" status --html "$WORK/status.html" || true
[[ -f $WORK/status.html ]] && echo "the status page: file://$WORK/status.html"

if ((status == 0)); then
    step "example sync succeeded"
else
    step "example sync FAILED (status $status)"
fi
exit "$status"

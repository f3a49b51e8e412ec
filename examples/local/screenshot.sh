#!/usr/bin/env bash
# The status page's picture in the README, made from the local example.
#
# Usage: examples/local/screenshot.sh [WORK [PNG]]
#        (WORK defaults to target/example, PNG to docs/status-page.png)
#
# 1. runs examples/local/run.sh WORK: the archive built, served, synced once;
# 2. serves it again and syncs it twice more, the archive changed (a new serial)
#    before each sync and the syncs some seconds apart;
# 3. syncs once while no daemon serves it: a failed run;
# 4. serves it again, changes it and syncs it: the mirror is ok again;
# 5. writes WORK/status.html (`archvsync status --html`) and takes its
#    screenshot with headless Chromium (1100 x 1400, a fresh profile, nothing
#    fetched), made smaller with optipng when there is one.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

WORK=${1:-$ROOT/target/example}
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac
PNG=${2:-$ROOT/docs/status-page.png}
case $PNG in /*) ;; *) PNG=$PWD/$PNG ;; esac

step() { printf '\n==> %s\n' "$*"; }

"$HERE/run.sh" "$WORK"

UPSTREAM=$WORK/upstream
MIRROR=$WORK/mirror
sync() {
    env -u BASEDIR -u SSH_ORIGINAL_COMMAND -u SSH_CONNECTION \
        "$MIRROR/bin/ftpsync" -T example sync:all </dev/null
}

# shellcheck source=examples/local/rsyncd.sh
source "$HERE/rsyncd.sh"
profile=""
cleanup() {
    stop_rsyncd
    [[ -n $profile ]] && rm -rf "$profile"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
serve() {
    start_rsyncd "$WORK" "$UPSTREAM"
    # The config names the port of the daemon before this one.
    sed -i "s|rsync://\${RSYNC_HOST}:[0-9]*/|rsync://\${RSYNC_HOST}:$RSYNCD_PORT/|" \
        "$MIRROR/etc/ftpsync.conf"
}
change_and_sync() {
    local n=$1
    sleep 8
    step "the archive changes (serial $(date -u +%Y%m%d)0$n), and is synced $((n * 3)) s later"
    "$HERE/make-archive.sh" "$UPSTREAM" --serial "$(date -u +%Y%m%d)0$n" >/dev/null
    sleep $((n * 3))
    sync
}

serve
change_and_sync 2
change_and_sync 3

step "a sync while no daemon serves the archive: it fails"
stop_rsyncd
sleep 8
if sync; then
    echo "the sync did not fail" >&2
    exit 1
fi

serve
change_and_sync 4
stop_rsyncd

step "the status page"
"$MIRROR/bin/archvsync" status --html "$WORK/status.html" || true
profile=$(mktemp -d)
mkdir -p "$(dirname "$PNG")"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1100,1400 \
    --screenshot="$PNG" "file://$WORK/status.html" 2>/dev/null
if command -v optipng >/dev/null 2>&1; then
    optipng -quiet -o5 "$PNG"
fi
echo "$PNG: $(stat -c %s "$PNG") bytes"

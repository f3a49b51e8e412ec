#!/usr/bin/env bash
# Benchmark: overhead of a no-change `ftpsync` run over the bare rsync calls.
#
# Usage: benches/noop-sync.sh [--runs N] [--files N] [--work DIR] [--check]
#
#   --runs N    measured runs of each kind (default 7; env RUNS)
#   --files N   pool files in the upstream archive (default 50000; env POOL_FILES)
#   --work DIR  work directory (default target/bench/noop-sync; env WORK);
#               the upstream archive there is reused when it has the same size
#   --check     exit 1 when the median ratio is above the target (1.03)
#   --build     run `cargo build --release` first (default: only when
#               target/release/archvsync does not exist)
#
# It builds a Debian-like tree (examples/local/make-archive.sh), serves it
# with a real rsync daemon on 127.0.0.1, mirrors it once with
# `archvsync ftpsync`, then times, alternately to cancel drift:
#   A  `ftpsync sync:all` with nothing to transfer (the full program: config,
#      lock, two rsync stages, trace files, log rotation), and
#   B  the two rsync commands of A run by bash, copied verbatim from the
#      "Running stage1: ..." / "Running stage2: ..." lines of A's log.
# It prints one line a run and the median and mean of A/B. With a 2-core machine
# the run-to-run noise of A and B (several percent) is larger than the
# difference being measured, so it also times
#   C  `ftpsync sync:all` with RSYNC=true (rsync replaced by a no-op), OVERHEAD_RUNS
#      times: archvsync's own fixed cost per run, measured without rsync's noise,
# and prints (median B + median C) / median B as a second, steadier estimate.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-7}
OVERHEAD_RUNS=${OVERHEAD_RUNS:-30}
POOL_FILES=${POOL_FILES:-50000}
WORK=${WORK:-$ROOT/target/bench/noop-sync}
TARGET_RATIO=1.03
CHECK=false
BUILD=false
while (($#)); do
    case $1 in
        --runs) RUNS=${2:?}; shift 2 ;;
        --files) POOL_FILES=${2:?}; shift 2 ;;
        --work) WORK=${2:?}; shift 2 ;;
        --check) CHECK=true; shift ;;
        --build) BUILD=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "noop-sync.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "--runs wants a positive number" >&2; exit 64; }
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac

# shellcheck source=benches/lib/release.sh
source "$HERE/lib/release.sh"
release_binary "$BUILD"

# Microseconds since the epoch, without a fork: sets NOW.
NOW=0
stamp() { NOW=${EPOCHREALTIME/[.,]/}; }

UPSTREAM=$WORK/upstream
MIRROR=$WORK/mirror
mkdir -p "$WORK"

stampfile=$WORK/upstream.stamp
if [[ -f $stampfile && $(<"$stampfile") == "$POOL_FILES" && -d $UPSTREAM ]]; then
    echo "==> reusing the upstream archive in $UPSTREAM"
else
    echo "==> building an archive with $POOL_FILES pool files in $UPSTREAM"
    rm -rf "$UPSTREAM" "$stampfile"
    stamp; t0=$NOW
    "$ROOT/examples/local/make-archive.sh" "$UPSTREAM" --pool-files "$POOL_FILES" --serial 2024010101
    stamp
    echo "    built in $(((NOW - t0) / 1000)) ms"
    echo "$POOL_FILES" >"$stampfile"
fi
echo "    $(find "$UPSTREAM" -type f | wc -l) files, $(du -sh "$UPSTREAM" | cut -f1)"

# shellcheck source=examples/local/rsyncd.sh
source "$ROOT/examples/local/rsyncd.sh"
trap stop_rsyncd EXIT
trap 'exit 130' INT TERM
start_rsyncd "$WORK" "$UPSTREAM"
echo "==> rsync daemon pid $RSYNCD_PID on 127.0.0.1:$RSYNCD_PORT"

rm -rf "$MIRROR"
mkdir -p "$MIRROR/bin" "$MIRROR/etc" "$MIRROR/log"
# A private copy: a rebuild in the meantime must not change what we measure.
cp "$BIN" "$WORK/archvsync"
ln -s "$WORK/archvsync" "$MIRROR/bin/ftpsync"
conf=$(<"$ROOT/examples/local/ftpsync.conf.in")
conf=${conf//@MIRROR@/$MIRROR}
conf=${conf//@PORT@/$RSYNCD_PORT}
printf '%s\n' "$conf" >"$MIRROR/etc/ftpsync.conf"
LOG=$MIRROR/log/ftpsync.log.0  # after rotation at the end of each run

run_ftpsync() {
    env -u BASEDIR -u SSH_ORIGINAL_COMMAND -u SSH_CONNECTION \
        "$MIRROR/bin/ftpsync" -T bench sync:all </dev/null >>"$WORK/ftpsync.out" 2>&1
}

echo "==> initial sync"
stamp; t0=$NOW
if ! run_ftpsync; then
    echo "initial ftpsync failed; see $WORK/ftpsync.out and $MIRROR/log/" >&2
    tail -20 "$WORK/ftpsync.out" "$LOG" >&2 || true
    exit 1
fi
stamp
echo "    done in $(((NOW - t0) / 1000)) ms, $(find "$MIRROR/debian" -type f | wc -l) files in the mirror"

# One more run, so that the commands we copy come from a no-change run.
run_ftpsync
CMD1=$(sed -n 's/^.*: Running stage1: //p' "$LOG" | tail -n 1)
CMD2=$(sed -n 's/^.*: Running stage2: //p' "$LOG" | tail -n 1)
if [[ -z $CMD1 || -z $CMD2 ]]; then
    echo "could not find the 'Running stage1/2:' lines in $LOG" >&2
    exit 1
fi
echo "==> bare commands (from $LOG):"
echo "    stage1: $CMD1"
echo "    stage2: $CMD2"

# Word splitting without globbing: the words hold --filter=...* patterns.
run_bare() {
    local rc=0
    set -f
    # shellcheck disable=SC2086
    $CMD1 </dev/null >>"$WORK/bare.out" 2>&1 || rc=$?
    if ((rc == 0 || rc == 24)); then
        rc=0
        # shellcheck disable=SC2086
        $CMD2 </dev/null >>"$WORK/bare.out" 2>&1 || rc=$?
        ((rc == 24)) && rc=0
    fi
    set +f
    return "$rc"
}

time_it() { # time_it FUNCTION -> ELAPSED (microseconds)
    local start
    stamp; start=$NOW
    if ! "$1"; then
        echo "$1 failed; see $WORK/*.out and $MIRROR/log/" >&2
        exit 1
    fi
    stamp
    ELAPSED=$((NOW - start))
}

echo "==> warm-up"
time_it run_ftpsync
time_it run_bare

echo "==> $RUNS runs of each, alternating"
results=()
printf '%5s  %14s  %14s  %8s\n' run "archvsync s" "bare rsync s" ratio
for ((r = 1; r <= RUNS; r++)); do
    if ((r % 2)); then
        time_it run_ftpsync; a=$ELAPSED
        time_it run_bare; b=$ELAPSED
    else
        time_it run_bare; b=$ELAPSED
        time_it run_ftpsync; a=$ELAPSED
    fi
    results+=("$a $b")
    printf '%5d  %14s  %14s  %8s\n' "$r" \
        "$(printf '%d.%06d' $((a / 1000000)) $((a % 1000000)))" \
        "$(printf '%d.%06d' $((b / 1000000)) $((b % 1000000)))" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", a / b }')"
done

# Median and mean of the per-run ratios, and of the times.
summary=$(printf '%s\n' "${results[@]}" | awk -v target="$TARGET_RATIO" '
    { a[NR] = $1; b[NR] = $2; r[NR] = $1 / $2; sa += $1; sb += $2; sr += $1 / $2 }
    function median(x, n,    i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
        return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
    }
    END {
        n = NR
        for (i = 1; i <= n; i++) { ca[i] = a[i]; cb[i] = b[i] }
        printf "median  %14.6f  %14.6f\n", median(ca, n) / 1e6, median(cb, n) / 1e6
        printf "mean    %14.6f  %14.6f\n", sa / n / 1e6, sb / n / 1e6
        ma = median(a, n); mb = median(b, n)
        mr = median(r, n)
        printf "median ratio archvsync/bare: %.4f\n", mr
        printf "mean ratio archvsync/bare:   %.4f\n", sr / n
        printf "ratio of the medians:        %.4f  (archvsync %+.1f ms)\n", ma / mb, (ma - mb) / 1000
        printf "target: at most %s -> %s\n", target, (mr <= target ? "OK" : "ABOVE TARGET")
    }')
# C: the fixed cost of archvsync itself. RSYNC from the environment is used
# because the example config does not set it; `true` ignores its arguments.
run_overhead() {
    RSYNC=true run_ftpsync
}
overheads=()
for ((r = 1; r <= OVERHEAD_RUNS; r++)); do
    time_it run_overhead
    overheads+=("$ELAPSED")
done
# Leave the mirror's trace as a real run wrote it.
run_ftpsync

echo
echo "$summary"
bare_median=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | sort -n |
    awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
printf '%s\n' "${overheads[@]}" | sort -n | awk -v n="$OVERHEAD_RUNS" -v b="$bare_median" -v target="$TARGET_RATIO" '
    { v[NR] = $1 }
    END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "fixed overhead (RSYNC=true, %d runs): median %.1f ms, min %.1f ms, max %.1f ms\n", n, m / 1000, v[1] / 1000, v[NR] / 1000
        printf "(bare median + overhead) / bare median: %.4f  (target %s)\n", (b + m) / b, target
    }'

if $CHECK && [[ $summary == *"ABOVE TARGET"* ]]; then
    exit 1
fi

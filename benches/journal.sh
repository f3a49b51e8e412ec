#!/usr/bin/env bash
# Benchmark: propagation in O(changed) with the change journal.
#
# Usage: benches/journal.sh [--sizes "N ..."] [--changes "C ..."] [--runs R] [--work DIR]
#                           [--build]
#
#   --sizes "N ..."    pool files of the archive, one measurement each (default
#                      "50000 200000"; env SIZES)
#   --changes "C ..."  changed pool files per round for each size, in the same
#                      order (default "300 600"; env CHANGES)
#   --runs R           measured rounds per size (default 4; env RUNS)
#   --work DIR         work directory (default target/bench/journal; env WORK);
#                      archives there are reused when they have the same size
#   --build            run `cargo build --release` first (default: only when
#                      target/release/archvsync does not exist)
#
# A chain on 127.0.0.1, every link a real rsync daemon:
#   upstream (plain daemon) -> hub (archvsync, its tree served by a second daemon)
#     -> leaf     (archvsync, JOURNAL=true: syncs by the hub's journal)
#     -> full     (archvsync, JOURNAL=false: today's two full walks)
# Each round changes C pool files upstream (a third rewritten, a third deleted, a third
# added), rewrites the index files and the master trace's serial, syncs the hub, and then
# times, as a push would start them:
#   journal   the leaf's `ftpsync sync:all`
#   limit     one `rsync --files-from` of just the paths the round changed into a copy of
#             the leaf's tree as it was before the round (first in odd rounds, second in
#             even ones: whichever goes first reads the hub's new files from disk)
#   full      the full leaf's `ftpsync sync:all`
# and the hub-side daemon's CPU for the journal leaf's and the full leaf's sync (user +
# system of the daemon and its reaped children, /proc/PID/stat), and the hub's own cost of
# recording and writing its journal (from its log) against its sync's wall time.
# Targets: journal <= 2x limit at the largest size; hub daemon CPU for a journal sync
# <= 5% of a full walk's; the hub's journal cost <= 2% of its sync time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

SIZES=${SIZES:-"50000 200000"}
CHANGES=${CHANGES:-"300 600"}
RUNS=${RUNS:-4}
WORK=${WORK:-$ROOT/target/bench/journal}
BUILD=false
while (($#)); do
    case $1 in
        --sizes) SIZES=${2:?}; shift 2 ;;
        --changes) CHANGES=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --work) WORK=${2:?}; shift 2 ;;
        --build) BUILD=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "journal.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "--runs wants a positive number" >&2; exit 64; }
read -r -a sizes <<<"$SIZES"
read -r -a changes <<<"$CHANGES"
((${#sizes[@]} == ${#changes[@]})) || { echo "--sizes and --changes want as many words" >&2; exit 64; }
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac

# shellcheck source=benches/lib/release.sh
source "$HERE/lib/release.sh"
release_binary "$BUILD"
mkdir -p "$WORK"
# A private copy: a rebuild in the meantime must not change what we measure.
cp "$BIN" "$WORK/archvsync"

# shellcheck source=examples/local/rsyncd.sh
source "$ROOT/examples/local/rsyncd.sh"
DAEMONS=()
stop_all() {
    local p
    for p in "${DAEMONS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    DAEMONS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

NOW=0
stamp() { NOW=${EPOCHREALTIME/[.,]/}; }
ms() { awk -v u="$1" 'BEGIN { printf "%.0f", u / 1000 }'; }

# CPU of a daemon and its reaped children, in clock ticks.
daemon_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    # After the ")": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    echo $((f[11] + f[12] + f[13] + f[14]))
}
TICK_MS=$((1000 / $(getconf CLK_TCK)))

# mirror DIR NAME SOURCE [KEY=VALUE...]: the classic layout, ftpsync linked to our copy.
mirror() {
    local dir=$1 name=$2 source=$3 kv
    shift 3
    rm -rf "$dir"
    mkdir -p "$dir/bin" "$dir/etc" "$dir/log" "$dir/debian"
    ln -s "$WORK/archvsync" "$dir/bin/ftpsync"
    {
        echo "MIRRORNAME=$name"
        echo "TRACEHOST=$name"
        echo "TO=$dir/debian/"
        echo "RSYNC_HOST=127.0.0.1"
        echo "RSYNC_SOURCE=$source"
        echo "MAILTO="
        echo "LOGROTATE=1"
        for kv in "$@"; do echo "$kv"; done
    } >"$dir/etc/ftpsync.conf"
}

sync_of() { # sync_of DIR -> ELAPSED (microseconds)
    local start
    stamp; start=$NOW
    if ! env -u BASEDIR -u SSH_ORIGINAL_COMMAND -u SSH_CONNECTION \
        "$1/bin/ftpsync" -T bench sync:all </dev/null >>"$WORK/ftpsync.out" 2>&1; then
        echo "ftpsync in $1 failed; see $1/log/ and $WORK/ftpsync.out" >&2
        tail -20 "$1/log/ftpsync.log.0" "$WORK/ftpsync.out" >&2 || true
        exit 1
    fi
    stamp
    ELAPSED=$((NOW - start))
}

# change UPSTREAM C ROUND LIST: C changed pool files, new indices and serial; every path
# changed goes into LIST (NUL-separated: what the limit's --files-from gets).
change() {
    local up=$1 c=$2 round=$3 list=$4 i f third=$(($2 / 3))
    local -a changed=()
    mapfile -t victims < <(shuf -n "$((2 * third))" --random-source=<(yes "$round") "$up.files")
    for ((i = 0; i < third; i++)); do
        f=${victims[i]}
        [[ -f $up/$f ]] && printf 'rewritten in round %s\n' "$round" >>"$up/$f"
        changed+=("$f")
    done
    for ((i = third; i < 2 * third; i++)); do
        rm -f "$up/${victims[i]}"
        changed+=("${victims[i]}")
    done
    for ((i = 0; i < c - 2 * third; i++)); do
        f=pool/main/z/zz-new/new-${round}-${i}_all.deb
        mkdir -p "$up/${f%/*}"
        printf 'new in round %s\n' "$round" >"$up/$f"
        changed+=("$f")
    done
    # The index files and the master trace change with every update.
    mapfile -t indices < <(cd "$up" && find dists -type f \( -name 'Packages*' -o -name 'Release' \
        -o -name 'InRelease' -o -name 'Sources*' \))
    for f in "${indices[@]}"; do printf 'round %s\n' "$round" >>"$up/$f"; done
    sed -i "s/^Archive serial: .*/Archive serial: $((2024010101 + round))/" \
        "$up/project/trace/master"
    changed+=("${indices[@]}" project/trace/master)
    printf '%s\0' "${changed[@]}" >"$list"
}

# The limit: one rsync of just the changed paths into a copy of the leaf as it was, the
# deleted ones removed by --delete-missing-args where this machine's rsync takes it (the
# hardened receivers of rsync 3.4 and of distributions' security updates refuse it: there
# the limit skips them and is lower still).
MISSING_ARGS=--delete-missing-args
probe=$(mktemp -d)
mkdir -p "$probe/s/d" "$probe/t/d" && echo a >"$probe/s/d/a" && echo b >"$probe/t/d/b"
printf 'd/a\0d/b\0' >"$probe/l"
rsync -a --files-from="$probe/l" --from0 --no-recursive --delete-missing-args \
    "$probe/s/" "$probe/t/" >/dev/null 2>&1 || MISSING_ARGS=--ignore-missing-args
rm -rf "$probe"
limit_of() { # limit_of W PORT -> ELAPSED
    local s rc=0
    stamp; s=$NOW
    rsync -prltHS --no-recursive --files-from="$1/round.list" --from0 "$MISSING_ARGS" \
        --delete "rsync://127.0.0.1:$2/debian/" "$1/limit/" >/dev/null 2>"$1/limit.err" || rc=$?
    stamp
    ELAPSED=$((NOW - s))
    if ((rc != 0 && rc != 23 && rc != 24)); then
        echo "the limit's rsync failed (exit $rc):" >&2
        cat "$1/limit.err" >&2
        exit 1
    fi
}

# Whether the leaf's last run synced by the journal end to end: both stages over the
# journal's lists (a stage that fell back to a full walk leaves the tree right, and the
# time wrong). Its log, ftpsync.log.0, holds that run only (LOGROTATE=1).
fell_back() { # fell_back LOG -> 0 when it did
    local log=$1
    grep -q 'Journal sync: ' "$log" &&
        grep -q 'Journal stage1: rsync over' "$log" &&
        grep -q 'Journal stage2: rsync over' "$log" &&
        ! grep -q 'running the full stage' "$log" && return 1
    return 0
}
FALLBACKS=0

# The journal leaf's RSYNC refuses --delete-missing-args as the hardened receivers do
# (exit 2, "protocol incompatibility"): what is measured holds on every rsync.
cat >"$WORK/rsync-hardened" <<'SHIM'
#!/bin/sh
for a in "$@"; do
    case $a in --delete-missing-args)
        echo 'rsync error: protocol incompatibility (code 2) [Receiver] (benches/journal.sh shim)' >&2
        exit 2 ;;
    esac
done
exec rsync "$@"
SHIM
chmod 755 "$WORK/rsync-hardened"

results=()
for idx in "${!sizes[@]}"; do
    n=${sizes[idx]} c=${changes[idx]}
    W=$WORK/$n
    UP=$W/upstream
    mkdir -p "$W"
    if [[ -f $W/upstream.stamp && -d $UP ]]; then
        echo "==> reusing the upstream archive with $n pool files in $UP"
    else
        echo "==> building an archive with $n pool files in $UP"
        rm -rf "$UP" "$W/upstream.stamp"
        "$ROOT/examples/local/make-archive.sh" "$UP" --pool-files "$n" --serial 2024010101 >/dev/null
        touch "$W/upstream.stamp"
    fi
    (cd "$UP" && find pool -type f) >"$UP.files"
    echo "    $(wc -l <"$UP.files") pool files, $(find "$UP" -type f | wc -l) files in all"

    mkdir -p "$W/up-daemon"
    start_rsyncd "$W/up-daemon" "$UP"
    DAEMONS+=("$RSYNCD_PID"); up_port=$RSYNCD_PORT
    mirror "$W/hub" hub.bench "rsync://127.0.0.1:$up_port/debian/" HUB=false
    mkdir -p "$W/hub-daemon"
    start_rsyncd "$W/hub-daemon" "$W/hub/debian"
    DAEMONS+=("$RSYNCD_PID"); hub_port=$RSYNCD_PORT hub_daemon=$RSYNCD_PID
    mirror "$W/leaf" leaf.bench "rsync://127.0.0.1:$hub_port/debian/" "RSYNC=$WORK/rsync-hardened"
    mirror "$W/full" full.bench "rsync://127.0.0.1:$hub_port/debian/" JOURNAL=false

    echo "==> initial syncs (hub, leaf, full leaf)"
    for m in hub leaf full; do
        sync_of "$W/$m"
        echo "    $m: $(ms "$ELAPSED") ms"
    done
    # One more round each without changes, so that the next ones start from a quiet tree.
    for m in hub leaf full; do sync_of "$W/$m"; done

    printf '%5s  %8s  %8s  %8s  %8s  %9s  %9s  %8s  %8s\n' round journal limit full \
        paths "cpu jrnl" "cpu full" "hub" "hub jrnl"
    for ((r = 1; r <= RUNS; r++)); do
        round=$((idx * 1000 + r))
        change "$UP" "$c" "$round" "$W/round.list"
        sync_of "$W/hub"; hub_us=$ELAPSED
        hub_journal_ms=$(grep -o 'recorded and written in [0-9.]* ms' "$W/hub/log/ftpsync.log.0" |
            tail -n 1 | awk '{ print $5 }')
        # The limit's starting point: the leaf's tree as it is now (not timed).
        rsync -aH --delete "$W/leaf/debian/" "$W/limit/"
        sync # its writes must not slow down what is timed next
        # Alternately first and second: the one that goes first reads the hub's changed
        # files from disk, the other from the page cache.
        if ((r % 2 == 0)); then limit_of "$W" "$hub_port"; limit_us=$ELAPSED; fi
        t0=$(daemon_ticks "$hub_daemon")
        sync_of "$W/leaf"; journal_us=$ELAPSED
        sleep 0.3 # the daemon reaps its children
        t1=$(daemon_ticks "$hub_daemon")
        if fell_back "$W/leaf/log/ftpsync.log.0"; then
            FALLBACKS=$((FALLBACKS + 1))
            echo "round $r: the leaf did not sync by the journal end to end (a fallback); see $W/leaf/log/ftpsync.log.0:" >&2
            grep -E 'Journal|Full sync|running the full' "$W/leaf/log/ftpsync.log.0" >&2 || true
        fi
        paths=$(grep -o 'Journal sync: [0-9]* paths' "$W/leaf/log/ftpsync.log.0" | tail -n 1 | awk '{ print $3 }')
        if ((r % 2 == 1)); then limit_of "$W" "$hub_port"; limit_us=$ELAPSED; fi
        t2=$(daemon_ticks "$hub_daemon")
        sync_of "$W/full"; full_us=$ELAPSED
        sleep 0.3
        t3=$(daemon_ticks "$hub_daemon")
        cpu_journal=$(((t1 - t0) * TICK_MS)) cpu_full=$(((t3 - t2) * TICK_MS))
        printf '%5d  %8s  %8s  %8s  %8s  %9s  %9s  %8s  %8s\n' "$r" \
            "$(ms "$journal_us")" "$(ms "$limit_us")" "$(ms "$full_us")" "$paths" \
            "$cpu_journal" "$cpu_full" "$(ms "$hub_us")" "$hub_journal_ms"
        results+=("$n $c $journal_us $limit_us $full_us $cpu_journal $cpu_full $hub_us $hub_journal_ms")
    done
    stop_all
done

echo
echo "rsync: $(rsync --version | head -n 1)"
echo "journal syncs that fell back to a full stage: $FALLBACKS of $((RUNS * ${#sizes[@]}))"
echo "medians (times in seconds, CPU in ms):"
printf '%s\n' "${results[@]}" | awk -v largest="${sizes[${#sizes[@]}-1]}" '
    function median(list,    n, v, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { key = $1; if (!(key in seen)) { order[++k] = key; seen[key] = 1; chg[key] = $2 }
      J[key] = J[key] " " $3; L[key] = L[key] " " $4; F[key] = F[key] " " $5
      CJ[key] = CJ[key] " " $6; CF[key] = CF[key] " " $7; H[key] = H[key] " " $8; HJ[key] = HJ[key] " " $9 }
    END {
        printf "| files | changes | leaf journal sync | --files-from limit | ratio | full sync (today) | hub daemon CPU journal / full | hub sync | hub journal cost |\n"
        printf "|---|---|---|---|---|---|---|---|---|\n"
        for (i = 1; i <= k; i++) {
            key = order[i]
            j = median(J[key]) / 1e6; l = median(L[key]) / 1e6; f = median(F[key]) / 1e6
            cj = median(CJ[key]); cf = median(CF[key]); h = median(H[key]) / 1e6; hj = median(HJ[key])
            printf "| %d | %d | %.2f s | %.2f s | %.2fx | %.2f s | %d / %d ms (%.1f%%) | %.2f s | %.1f ms (%.2f%%) |\n", \
                key, chg[key], j, l, j / l, f, cj, cf, (cf ? 100 * cj / cf : 0), h, hj, 100 * hj / 1000 / h
            if (key == largest) { verdict_ratio = j / l; verdict_cpu = (cf ? cj / cf : 0); verdict_hub = hj / 1000 / h }
        }
        printf "\ntargets at %d files: journal <= 2x limit: %.2fx %s; hub daemon CPU <= 5%% of a full walk: %.1f%% %s; hub journal cost <= 2%%: %.2f%% %s\n", \
            largest, verdict_ratio, (verdict_ratio <= 2 ? "OK" : "MISSED"), 100 * verdict_cpu, (verdict_cpu <= 0.05 ? "OK" : "MISSED"), \
            100 * verdict_hub, (verdict_hub <= 0.02 ? "OK" : "MISSED")
    }'
((FALLBACKS == 0)) || { echo "journal.sh: $FALLBACKS journal syncs fell back: the times above are not the journal's" >&2; exit 1; }

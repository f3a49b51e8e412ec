#!/usr/bin/env bash
# Benchmark: the index-driven sync from a stock Debian upstream, against Debian's original
# ftpsync and against the --files-from limit, side by side in one run.
#
# Usage: benches/index.sh [--sizes "N ..."] [--runs R] [--seed S] [--work DIR] [--build]
#
#   --sizes "N ..."  pool files of the generated archive, one measurement each (default
#                    "50000 200000"; env SIZES)
#   --runs R         measured dinstall rounds per size (default 3; env RUNS)
#   --seed S         the archive generator's seed (default 1; env SEED)
#   --work DIR       work directory (default target/bench/index; env WORK); an archive
#                    there is reused when it has the same size and seed (its state file
#                    WORK/N/upstream.state exists): it goes on from the rounds it has had
#   --delay MS       put every leaf's connection to the upstream through a TCP proxy
#                    that delays each chunk by MS ms each way (delay-proxy, the tests'
#                    proxy as a program): a far upstream (default 0: none; env DELAY)
#   --build          run `cargo build --release` and `cargo build --release --example
#                    debian-archive` first (default: only for a binary that is missing)
#
# Needs target/original-ftpsync/usr/bin/ftpsync (scripts/setup-deps unpacks it).
#
# The upstream: a Debian-format archive made by target/release/examples/debian-archive
# (`init DIR --pool-files N --seed S`, then one `dinstall DIR --seed S` per round), served
# by a plain `rsync --daemon` on 127.0.0.1 and a free port, module `debian`: a stock
# upstream, no journal, no archvsync. Three leaves, each first brought equal to it (not
# timed):
#   archvsync  target/release/archvsync (copied into WORK: a rebuild meanwhile does not
#              change what is measured) as WORK/N/archvsync/bin/ftpsync, the classic
#              layout {bin,etc,log}, INDEX_SYNC=true, RSYNC a shim that refuses
#              --delete-missing-args as hardened rsyncs do; after its first full sync one
#              more without an upstream change, so that its index position is recorded
#   original   Debian's original ftpsync (target/original-ftpsync/usr/bin/ftpsync),
#              HOME=WORK/N/original/home (config in ~/.config/ftpsync, logs in
#              ~/.local/log/ftpsync), its own TO
#   limit      a plain copy of the archvsync leaf's tree
# Each round runs one dinstall upstream and computes the limit's list from a local dry
# run, `rsync -ani --delete -H UPSTREAM/ LIMIT/` (not timed): every name it would
# transfer, and for every name it would delete the parent directory as `DIR/` (rsync
# compares that one level deep and --delete removes what the upstream lacks: what the
# journal's and the index sync's stage 2 do, and it works on hardened rsyncs too). Then,
# first in turn (round 1: archvsync, original, limit; round 2: original, limit, archvsync;
# round 3: limit, archvsync, original; ...), it times
#   archvsync  the archvsync leaf's `ftpsync sync:all`
#   original   the original's `ftpsync sync:all`
#   limit      one `rsync -prltHS --no-recursive --files-from=LIST --ignore-missing-args
#              --delete` from the daemon into the limit's copy
# and the upstream daemon's CPU (user + system of the daemon and its reaped children,
# /proc/PID/stat) for each of them. After every round each of the three must equal the
# upstream (the dry run itemizes nothing outside project/trace/, ./ and Archive-Update-*),
# or the benchmark stops. The archvsync leaf's run must have been an index sync end to end:
# its log holds `Index stage1: rsync over the` and `Index stage2: rsync over the`, and its
# state record `"sync_kind": "index"`; any other run is a fallback, its log lines are
# printed, and the benchmark exits 1 after the table.
# Targets, at the largest size: archvsync <= 2x limit; upstream daemon CPU for the
# archvsync leaf's sync <= 10% of the original's full walks.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

SIZES=${SIZES:-"50000 200000"}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
DELAY=${DELAY:-0}
WORK=${WORK:-$ROOT/target/bench/index}
BUILD=false
need() { (($# >= 2)) || { echo "index.sh: $1 needs a value" >&2; exit 64; }; }
while (($#)); do
    case $1 in
        --sizes) need "$@"; SIZES=$2; shift 2 ;;
        --runs) need "$@"; RUNS=$2; shift 2 ;;
        --seed) need "$@"; SEED=$2; shift 2 ;;
        --delay) need "$@"; DELAY=$2; shift 2 ;;
        --work) need "$@"; WORK=$2; shift 2 ;;
        --build) BUILD=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "index.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "index.sh: --runs wants a positive number" >&2; exit 64; }
[[ $SEED =~ ^[0-9]+$ ]] || { echo "index.sh: --seed wants a number" >&2; exit 64; }
[[ $DELAY =~ ^[0-9]+$ ]] || { echo "index.sh: --delay wants milliseconds" >&2; exit 64; }
read -r -a sizes <<<"$SIZES"
((${#sizes[@]})) || { echo "index.sh: --sizes is empty" >&2; exit 64; }
for n in "${sizes[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "index.sh: bad size $n" >&2; exit 64; }
done
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac
export LC_ALL=C

ORIGINAL=$ROOT/target/original-ftpsync/usr/bin/ftpsync
[[ -f $ORIGINAL ]] || {
    echo "index.sh: $ORIGINAL is missing: run scripts/setup-deps (it unpacks Debian's ftpsync)" >&2
    exit 1
}
command -v jq >/dev/null || { echo "index.sh: jq is missing (it reads the state record)" >&2; exit 1; }

# shellcheck source=benches/lib/release.sh
source "$HERE/lib/release.sh"
release_binary "$BUILD"
GEN=$ROOT/target/release/examples/debian-archive
if $BUILD || [[ ! -x $GEN ]]; then
    echo "==> cargo build --release --example debian-archive"
    cargo build --release --quiet --example debian-archive
fi
if ((DELAY > 0)) && { $BUILD || [[ ! -x $ROOT/target/release/examples/delay-proxy ]]; }; then
    echo "==> cargo build --release --example delay-proxy"
    cargo build --release --quiet --example delay-proxy
fi
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

# The archvsync leaf's RSYNC refuses --delete-missing-args as the hardened receivers do
# (exit 2, "protocol incompatibility"): what is measured holds on every rsync.
cat >"$WORK/rsync-hardened" <<'SHIM'
#!/bin/sh
for a in "$@"; do
    case $a in --delete-missing-args)
        echo 'rsync error: protocol incompatibility (code 2) [Receiver] (benches/index.sh shim)' >&2
        exit 2 ;;
    esac
done
exec rsync "$@"
SHIM
chmod 755 "$WORK/rsync-hardened"

# archvsync_leaf DIR SOURCE: the classic layout, ftpsync linked to our copy; the tree in
# DIR/debian is kept from an earlier invocation (its first sync is a full one anyway).
archvsync_leaf() {
    local dir=$1 source=$2
    rm -rf "${dir:?}/bin" "${dir:?}/etc" "${dir:?}/log"
    mkdir -p "$dir/bin" "$dir/etc" "$dir/log" "$dir/debian"
    ln -s "$WORK/archvsync" "$dir/bin/ftpsync"
    cat >"$dir/etc/ftpsync.conf" <<CONF
MIRRORNAME=archvsync.bench
TRACEHOST=archvsync.bench
TO=$dir/debian/
RSYNC_HOST=127.0.0.1
RSYNC_SOURCE=$source
LOGDIR=$dir/log
LOCKTIMEOUT=3600
MAILTO=
HUB=false
LOGROTATE=1
INDEX_SYNC=true
RSYNC=$WORK/rsync-hardened
INFO_MAINTAINER="Bench <bench@example.org>"
INFO_COUNTRY=DE
CONF
}

# original_leaf DIR SOURCE: the packaged original's layout below DIR/home.
original_leaf() {
    local dir=$1 source=$2
    rm -rf "${dir:?}/home"
    mkdir -p "$dir/home/.config/ftpsync" "$dir/debian"
    cat >"$dir/home/.config/ftpsync/ftpsync.conf" <<CONF
MIRRORNAME=original.bench
TRACEHOST=original.bench
TO=$dir/debian/
RSYNC_HOST=127.0.0.1
RSYNC_SOURCE=$source
LOCKTIMEOUT=3600
MAILTO=
HUB=false
LOGROTATE=1
INFO_MAINTAINER="Bench <bench@example.org>"
INFO_COUNTRY=DE
CONF
}

sync_archvsync() { # sync_archvsync DIR -> ELAPSED (microseconds)
    local start
    stamp; start=$NOW
    if ! env -u BASEDIR -u SSH_ORIGINAL_COMMAND -u SSH_CONNECTION HOME="$1" \
        "$1/bin/ftpsync" -T bench sync:all </dev/null >>"$WORK/ftpsync.out" 2>&1; then
        echo "archvsync's ftpsync in $1 failed; see $1/log/ and $WORK/ftpsync.out" >&2
        tail -20 "$1/log/ftpsync.log.0" "$WORK/ftpsync.out" >&2 || true
        exit 1
    fi
    stamp
    ELAPSED=$((NOW - start))
}

sync_original() { # sync_original DIR -> ELAPSED (microseconds)
    local start home=$1/home
    stamp; start=$NOW
    if ! (cd "$home" && env -i PATH="$PATH" HOME="$home" BASEDIR="$home" LOGNAME=mirroradm \
        USER=mirroradm LC_ALL=C "$ORIGINAL" sync:all </dev/null >>"$WORK/original.out" 2>&1); then
        echo "the original ftpsync in $1 failed; see $home/.local/log/ftpsync/ and $WORK/original.out" >&2
        tail -20 "$home/.local/log/ftpsync/ftpsync.log" "$home/.local/log/ftpsync/ftpsync.log.0" \
            "$WORK/original.out" >&2 || true
        exit 1
    fi
    stamp
    ELAPSED=$((NOW - start))
}

sync_limit() { # sync_limit W PORT -> ELAPSED
    local s rc=0
    stamp; s=$NOW
    rsync -prltHS --no-recursive --files-from="$1/round.list" --ignore-missing-args \
        --delete "rsync://127.0.0.1:$2/debian/" "$1/limit/" >/dev/null 2>"$1/limit.err" || rc=$?
    stamp
    ELAPSED=$((NOW - s))
    if ((rc != 0 && rc != 23 && rc != 24)); then
        echo "the limit's rsync failed (exit $rc):" >&2
        cat "$1/limit.err" >&2
        exit 1
    fi
}

# itemize UP TREE OUT: what `rsync -ani --delete -H UP/ TREE/` would do, one line each.
itemize() {
    local rc=0
    rsync -ani --delete -H "$1/" "$2/" >"$3" 2>"$3.err" || rc=$?
    if ((rc != 0)); then
        echo "rsync -ani --delete -H $1/ $2/ failed (exit $rc):" >&2
        cat "$3.err" >&2
        exit 1
    fi
}

# The itemized name of each line (from column 13), without a link's " -> target" or a hard
# link's " => target".
names_of() { cut -c13- "$1" | sed -E 's/ (->|=>) .*$//'; }

# verify WHAT TREE: TREE equals the upstream but for the trace directory, the top
# directory's time and the lock files; otherwise stop.
verify() {
    local what=$1 tree=$2 out=$W/verify.$1 bad
    itemize "$UP" "$tree" "$out"
    bad=$(awk '{ name = substr($0, 13); sub(/ (->|=>) .*$/, "", name)
                 if (name ~ /^project\/trace\// || name == "./" || name ~ /^Archive-Update-/) next
                 print }' "$out")
    if [[ -n $bad ]]; then
        echo "index.sh: the $what leaf ($tree) differs from the upstream ($UP):" >&2
        head -40 <<<"$bad" >&2
        echo "($(wc -l <<<"$bad") lines; all in $out)" >&2
        exit 1
    fi
}

# limit_list: the limit's --files-from list from the dry run of the upstream against the
# limit's copy: each name it would transfer (a directory without its slash: just its
# attributes), and for each deletion its parent directory as DIR/ (./ at the top), once;
# the leaf's own trace and lock files are left alone. Sets LIST_LEN.
limit_list() {
    itemize "$UP" "$W/limit" "$W/round.itemize"
    awk '{ code = substr($0, 1, 11); name = substr($0, 13); sub(/ (->|=>) .*$/, "", name)
           if (code ~ /^\*deleting/) {
               if (name ~ /^project\/trace\// || name ~ /^Archive-Update-/) next
               sub(/\/$/, "", name)
               if (match(name, /.*\//)) p = substr(name, 1, RLENGTH); else p = "./"
               if (!(p in seen)) { seen[p] = 1; print p }
               next
           }
           if (name == "./") next
           sub(/\/$/, "", name)
           if (!(name in seen)) { seen[name] = 1; print name } }' "$W/round.itemize" >"$W/round.list"
    LIST_LEN=$(wc -l <"$W/round.list")
}

# Whether the archvsync leaf's last run was an index sync end to end. Its log,
# ftpsync.log.0, holds that run only (LOGROTATE=1: each run's exit path rotates it there).
fell_back() { # fell_back DIR -> 0 when it did
    local log=$1/log/ftpsync.log.0 kind
    kind=$(jq -r '.last_run.sync_kind // "none"' "$1/log/ftpsync.state.json" 2>/dev/null || echo unreadable)
    grep -q 'Index stage1: rsync over the' "$log" &&
        grep -q 'Index stage2: rsync over the' "$log" &&
        [[ $kind == index ]] && return 1
    echo "    state record: sync_kind $kind" >&2
    return 0
}
FALLBACKS=0

results=()
for n in "${sizes[@]}"; do
    W=$WORK/$n
    UP=$W/upstream
    mkdir -p "$W"
    if [[ -f $UP.state && -d $UP && -f $W/upstream.seed && $(<"$W/upstream.seed") == "$SEED" ]]; then
        echo "==> reusing the archive with $n pool files in $UP (seed $SEED)"
    else
        echo "==> generating an archive with $n pool files in $UP (seed $SEED)"
        rm -rf "$UP" "$UP.state" "$W/upstream.seed"
        "$GEN" init "$UP" --pool-files "$n" --seed "$SEED" 2>/dev/null | sed 's/^/    /'
        echo "$SEED" >"$W/upstream.seed"
    fi
    echo "    $(cd "$UP" && find pool -type f | wc -l) pool files, $(find "$UP" -type f | wc -l) files in all, $(du -sh "$UP" | cut -f1)"

    mkdir -p "$W/up-daemon"
    start_rsyncd "$W/up-daemon" "$UP"
    DAEMONS+=("$RSYNCD_PID"); port=$RSYNCD_PORT daemon=$RSYNCD_PID
    if ((DELAY > 0)); then
        # The leaves reach the daemon through the proxy; its CPU is still the daemon's.
        "$ROOT/target/release/examples/delay-proxy" --target "127.0.0.1:$port" \
            --delay-ms "$DELAY" >"$W/delay-proxy.out" 2>&1 &
        DAEMONS+=("$!")
        for _ in $(seq 100); do [[ -s $W/delay-proxy.out ]] && break; sleep 0.05; done
        port=$(head -1 "$W/delay-proxy.out")
        [[ $port =~ ^[0-9]+$ ]] || { echo "index.sh: the delay proxy did not start" >&2; exit 1; }
        echo "==> every leaf reaches the upstream through a proxy delaying each chunk by $DELAY ms"
    fi
    source_url="rsync://127.0.0.1:$port/debian/"
    archvsync_leaf "$W/archvsync" "$source_url"
    original_leaf "$W/original" "$source_url"

    echo "==> first syncs (not timed)"
    sync_archvsync "$W/archvsync"
    echo "    archvsync: $(ms "$ELAPSED") ms"
    sync_archvsync "$W/archvsync"
    echo "    archvsync again, no upstream change: $(ms "$ELAPSED") ms ($(jq -r '.last_run.sync_kind // "?"' \
        "$W/archvsync/log/ftpsync.state.json") sync)"
    sync_original "$W/original"
    echo "    original: $(ms "$ELAPSED") ms"
    rsync -aH --delete "$W/archvsync/debian/" "$W/limit/"
    for leaf in archvsync original limit; do
        case $leaf in limit) tree=$W/limit ;; *) tree=$W/$leaf/debian ;; esac
        verify "$leaf" "$tree"
    done
    echo "    all three equal the upstream"

    printf '%5s  %-28s  %6s  %9s  %9s  %9s  %9s  %9s  %9s  %11s\n' round "dinstall (pool files)" \
        list archvsync original limit "cpu avs" "cpu orig" "cpu limit" "index paths"
    for ((r = 1; r <= RUNS; r++)); do
        gen=$("$GEN" dinstall "$UP" --seed "$SEED" 2>/dev/null)
        new=$(sed -nE 's/^round [0-9]+: ([0-9]+) new pool files, ([0-9]+) deleted.*/\1/p' <<<"$gen")
        deleted=$(sed -nE 's/^round [0-9]+: ([0-9]+) new pool files, ([0-9]+) deleted.*/\2/p' <<<"$gen")
        gen_round=$(sed -nE 's/^round ([0-9]+):.*/\1/p' <<<"$gen")
        limit_list
        sync # the round's writes must not slow down what is timed next
        case $(((r - 1) % 3)) in
            0) order="archvsync original limit" ;;
            1) order="original limit archvsync" ;;
            *) order="limit archvsync original" ;;
        esac
        for what in $order; do
            t0=$(daemon_ticks "$daemon")
            case $what in
                archvsync) sync_archvsync "$W/archvsync"; avs_us=$ELAPSED ;;
                original) sync_original "$W/original"; orig_us=$ELAPSED ;;
                limit) sync_limit "$W" "$port"; limit_us=$ELAPSED ;;
            esac
            sleep 0.3 # the daemon reaps its children
            t1=$(daemon_ticks "$daemon")
            case $what in
                archvsync) cpu_avs=$(((t1 - t0) * TICK_MS)) ;;
                original) cpu_orig=$(((t1 - t0) * TICK_MS)) ;;
                limit) cpu_limit=$(((t1 - t0) * TICK_MS)) ;;
            esac
        done
        log=$W/archvsync/log/ftpsync.log.0
        if fell_back "$W/archvsync"; then
            FALLBACKS=$((FALLBACKS + 1))
            echo "round $r (dinstall round $gen_round): the archvsync leaf did not sync by the index end to end (a fallback); $log says:" >&2
            grep -E 'Full sync:|Index check|Index sync|Index stage|no index sync' "$log" >&2 || true
        fi
        paths=$(grep -o 'Index sync: [0-9]* paths' "$log" | tail -n 1 | awk '{ print $3 }')
        for leaf in archvsync original limit; do
            case $leaf in limit) tree=$W/limit ;; *) tree=$W/$leaf/debian ;; esac
            verify "$leaf" "$tree"
        done
        printf '%5d  %-28s  %6d  %9s  %9s  %9s  %9s  %9s  %9s  %11s\n' "$r" \
            "round $gen_round: +$new -$deleted" "$LIST_LEN" "$(ms "$avs_us")" "$(ms "$orig_us")" \
            "$(ms "$limit_us")" "$cpu_avs" "$cpu_orig" "$cpu_limit" "${paths:--}"
        echo "       $gen"
        results+=("$n $LIST_LEN $avs_us $orig_us $limit_us $cpu_avs $cpu_orig")
    done
    stop_all
done

echo
echo "rsync: $(rsync --version | head -n 1)"
echo "times in ms per round above; medians over $RUNS rounds below (times in seconds, CPU in ms)"
printf '%s\n' "${results[@]}" | awk -v largest="${sizes[${#sizes[@]}-1]}" '
    function median(list,    n, v, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { key = $1; if (!(key in seen)) { order[++k] = key; seen[key] = 1 }
      P[key] = P[key] " " $2; A[key] = A[key] " " $3; O[key] = O[key] " " $4; L[key] = L[key] " " $5
      CA[key] = CA[key] " " $6; CO[key] = CO[key] " " $7 }
    END {
        printf "| pool files | changed paths (limit list) | archvsync index sync | original ftpsync | --files-from limit | archvsync / limit | archvsync / original | upstream daemon CPU archvsync / original (%%) |\n"
        printf "|---|---|---|---|---|---|---|---|\n"
        for (i = 1; i <= k; i++) {
            key = order[i]
            p = median(P[key]); a = median(A[key]) / 1e6; o = median(O[key]) / 1e6; l = median(L[key]) / 1e6
            ca = median(CA[key]); co = median(CO[key])
            printf "| %d | %d | %.2f s | %.2f s | %.2f s | %.2fx | %.3fx | %d / %d ms (%.1f%%) |\n", \
                key, p, a, o, l, (l ? a / l : 0), (o ? a / o : 0), ca, co, (co ? 100 * ca / co : 0)
            if (key == largest) { vr = (l ? a / l : 0); vc = (co ? ca / co : 0) }
        }
        printf "\ntargets at %d pool files: archvsync <= 2x limit: %.2fx %s; upstream daemon CPU <= 10%% of the original'"'"'s full walk: %.1f%% %s\n", \
            largest, vr, (vr <= 2 ? "OK" : "MISSED"), 100 * vc, (vc <= 0.10 ? "OK" : "MISSED")
    }'
echo "fallbacks: $FALLBACKS of $((RUNS * ${#sizes[@]})) index syncs"
((FALLBACKS == 0)) || { echo "index.sh: $FALLBACKS index syncs fell back: their times above are not the index sync's" >&2; exit 1; }

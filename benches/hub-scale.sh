#!/usr/bin/env bash
# Benchmark: runmirrors as a hub pushing many downstreams over slow links,
# Debian's original runmirrors against archvsync's, side by side (issue 9).
#
# Usage: benches/hub-scale.sh [--mirrors "50 150"] [--delays "0 100"] [--runs R]
#                             [--work DIR] [--build]
#
#   --mirrors L   numbers of downstreams (default "50 150"; env MIRRORS)
#   --delays L    one-way link delays in ms (default "0 100"; env DELAYS)
#   --runs R      runs per tool and point (default 3; env RUNS)
#   --work DIR    work directory, wiped first (default target/bench/hub-scale;
#                 env WORK; an existing one must be empty or an earlier work
#                 directory of this script); the downstream account must be
#                 able to reach it
#   --build       run `cargo build --release` (and build the delay-proxy
#                 example) first; default: only when a binary is missing
#   env AVS_CONF  extra lines for archvsync's runmirrors.conf, e.g.
#                 AVS_CONF=PUSH_FAST_KEX=false to measure it with ssh's own
#                 key exchange (the original always uses ssh's)
#   env WAIT_LIMIT  seconds to wait for all arrivals and for the hub's
#                 processes to end after each run (default 120)
#
# Needs root: it creates a downstream account, a cgroup and an sshd for it.
#
# The downstreams: one account `avsbench` with a plain /bin/sh (created when
# missing: `useradd -r -M -d /nonexistent -s /bin/sh`; a login shell that reads
# an rc file, like root's bash with pyenv here, costs ~0.1 s of CPU per login
# and would swamp what the hub does), one throwaway sshd on 127.0.0.1 (own
# host key, MaxStartups 1000:30:1000), and one authorized key, the hubs' push
# key, forced to WORK/stamp (benches/push/stamp.c, compiled here with cc -O2),
# which appends `<microseconds since the epoch> <SSH_ORIGINAL_COMMAND>` to
# WORK/stamps. Mirror mNNN's trigger carries the word sync:archive:mNNN.
#
# The link: target/release/examples/delay-proxy (tests/common/delay.rs) in
# front of sshd, delaying every chunk by the one-way delay in each direction,
# for every delay including 0.
#
# The hubs get the same N mirror lines
#     all mNNN ssh+ftpsync://avsbench@127.0.0.1/mNNN
# the same key (KEYFILE), SSH_OPTS="-o StrictHostKeyChecking=no
# -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p PROXYPORT", a dummy
# MAILTO, and the default PUSHCONCURRENCY:
#   original   target/original-ftpsync/usr/bin/runmirrors (copied to WORK),
#              HOME=WORK/original (configs in ~/.config/ftpsync), BASEDIR
#              and LOGNAME set, PATH unchanged
#   archvsync  target/release/archvsync (copied to WORK: a rebuild meanwhile
#              does not change what is measured) behind WORK/archvsync-hub/
#              bin/runmirrors, a classic layout {bin,etc,log}, HOME there too,
#              SENDMAIL=/bin/true
# Both run without SSH_AUTH_SOCK and without BASEDIR from the caller.
#
# Per point (N, delay) and run, original and archvsync one after the other
# (original first in odd runs, archvsync first in even runs), each with a
# freshly truncated stamp file and only after the previous hub's processes
# are all gone (so no trigger of an earlier run can arrive in a later one):
#   arrival   last arrival minus the start: the latest of the N mirrors' first
#             stamps (each mNNN counted once) minus the time taken just before
#             runmirrors is started; waits at most WAIT_LIMIT s for all N
#   return    when runmirrors itself returned (it may leave triggers behind:
#             the original's background subshells, archvsync's follower)
#   hub CPU   runmirrors and every descendant (bash subshells and ssh for the
#             original; the follower and ssh for archvsync) run in a cgroup v1
#             cpuacct group (/sys/fs/cgroup/cpuacct/avsbench-hub-PID), entered
#             by `sh -c 'echo $$ >.../cgroup.procs; exec "$@"'`; after the run
#             (once cgroup.procs is empty, at most WAIT_LIMIT s) cpuacct.usage
#             divided by N; n/a when the cgroup cannot be made
#   ds CPU    (per-run lines only, for context) the same for the downstream
#             side: sshd, which runs in its own cpuacct group
#             (avsbench-ds-PID), and its forced commands. Both ends share
#             the machine's cores: N x (hub + ds CPU) / cores is a floor for
#             the arrival time at any delay
#
# Output: progress on stderr; on stdout the per-run values, then one table of
# medians. Files of each run are kept in WORK/runs/. Exit status 1 when a
# run had a problem (listed at the end), 0 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

MIRRORS=${MIRRORS:-"50 150"}
DELAYS=${DELAYS:-"0 100"}
RUNS=${RUNS:-3}
WORK=${WORK:-$ROOT/target/bench/hub-scale}
WAIT_LIMIT=${WAIT_LIMIT:-120}
BUILD=false
need() { (($# >= 2)) || { echo "hub-scale.sh: $1 needs a value" >&2; exit 64; }; }
while (($#)); do
    case $1 in
        --mirrors) need "$@"; MIRRORS=$2; shift 2 ;;
        --delays) need "$@"; DELAYS=$2; shift 2 ;;
        --runs) need "$@"; RUNS=$2; shift 2 ;;
        --work) need "$@"; WORK=$2; shift 2 ;;
        --build) BUILD=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "hub-scale.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "hub-scale.sh: --runs must be a positive number" >&2; exit 64; }
[[ $WAIT_LIMIT =~ ^[1-9][0-9]*$ ]] || { echo "hub-scale.sh: WAIT_LIMIT must be a positive number" >&2; exit 64; }
[[ -n ${MIRRORS// /} ]] || { echo "hub-scale.sh: --mirrors is empty" >&2; exit 64; }
[[ -n ${DELAYS// /} ]] || { echo "hub-scale.sh: --delays is empty" >&2; exit 64; }
for n in $MIRRORS; do
    if [[ ! $n =~ ^[1-9][0-9]*$ ]] || ((n > 999)); then
        echo "hub-scale.sh: bad number of downstreams $n (1-999)" >&2
        exit 64
    fi
done
for d in $DELAYS; do
    [[ $d =~ ^(0|[1-9][0-9]*)$ ]] || { echo "hub-scale.sh: bad delay $d (ms)" >&2; exit 64; }
done
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac
WORK=${WORK%/}
[[ $WORK != / && -n $WORK ]] || { echo "hub-scale.sh: refusing --work /" >&2; exit 64; }
# it is wiped: only an empty directory or one this benchmark made
if [[ -e $WORK && ! -e $WORK/.hub-scale-work && -n $(ls -A "$WORK" 2>/dev/null) ]]; then
    echo "hub-scale.sh: $WORK is not empty and not a hub-scale work directory; not wiping it" >&2
    exit 64
fi
export LC_ALL=C

((EUID == 0)) || { echo "hub-scale.sh: must run as root (downstream account, cgroup, sshd)" >&2; exit 1; }
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
for p in cc ssh-keygen /usr/bin/ssh /usr/sbin/sshd useradd runuser getent; do
    command -v "$p" >/dev/null || { echo "hub-scale.sh: $p is missing" >&2; exit 1; }
done
ORIG_SRC=$ROOT/target/original-ftpsync/usr/bin/runmirrors
[[ -f $ORIG_SRC ]] || {
    echo "hub-scale.sh: $ORIG_SRC is missing: run scripts/setup-deps (it unpacks Debian's ftpsync)" >&2
    exit 1
}

BIN=$ROOT/target/release/archvsync
PROXY_BIN=$ROOT/target/release/examples/delay-proxy
if $BUILD || [[ ! -x $BIN ]]; then
    command -v cargo >/dev/null 2>&1 || { echo "no $BIN and no cargo to build it" >&2; exit 1; }
    echo "==> cargo build --release" >&2
    cargo build --release --quiet
fi
if $BUILD || [[ ! -x $PROXY_BIN ]]; then
    command -v cargo >/dev/null 2>&1 || { echo "no $PROXY_BIN and no cargo to build it" >&2; exit 1; }
    echo "==> cargo build --release --example delay-proxy" >&2
    cargo build --release --quiet --example delay-proxy
fi

# ---------------------------------------------------------------- helpers

DS_USER=avsbench
CG_PARENT=/sys/fs/cgroup/cpuacct
CG=""     # the hub's cpuacct group
CG_DS=""  # the downstream sshd's (context: what the other end of each login costs)
SSHD_PID=""
SSHD_PORT=""
PROXY_PID=""
PROXY_PORT=""
HUB_PID=""

log() { echo "$*" >&2; }

# shellcheck source=examples/local/rsyncd.sh
source "$ROOT/examples/local/rsyncd.sh"  # port_is_free
# shellcheck source=benches/lib/push-bench.sh
source "$HERE/lib/push-bench.sh"  # ssh_banner, start_sshd, descendants, leftover_pids

# Microseconds since the epoch, into the variable named $1 (no fork: the
# waits below poll while the hub runs on the same cores).
now_us() { printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"; }


cg_procs() { [[ -n $CG && -r $CG/cgroup.procs ]] && cat "$CG/cgroup.procs" 2>/dev/null; }

stop_proxy() {
    if [[ -n $PROXY_PID ]]; then
        kill "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
        PROXY_PID=""
        PROXY_PORT=""
    fi
}

cleanup() {
    local pids p i g sig
    set +e
    for sig in TERM KILL; do
        pids="$(cg_procs) $(leftover_pids "$SSHD_PID" "$PROXY_PID")"
        for p in $pids; do kill -s "$sig" "$p" 2>/dev/null; done
        [[ -n ${pids// /} ]] || break
        sleep 0.3
    done
    # reap the hub (quietly: no "Killed" job notice)
    [[ -z $HUB_PID ]] || wait "$HUB_PID" 2>/dev/null
    stop_proxy
    if [[ -n $SSHD_PID ]]; then
        pids=$(descendants "$SSHD_PID")
        for p in $pids; do kill "$p" 2>/dev/null; done
        kill "$SSHD_PID" 2>/dev/null
        wait "$SSHD_PID" 2>/dev/null
        SSHD_PID=""
    fi
    pids=$(leftover_pids "$SSHD_PID" "$PROXY_PID")
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    for g in "$CG" "$CG_DS"; do
        [[ -n $g && -d $g ]] || continue
        for ((i = 0; i < 50; i++)); do
            rmdir "$g" 2>/dev/null && break
            pids=$(cat "$g/cgroup.procs" 2>/dev/null)
            for p in $pids; do kill -9 "$p" 2>/dev/null; done
            sleep 0.1
        done
        [[ ! -d $g ]] || echo "hub-scale.sh: could not remove $g" >&2
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Median of the numbers on stdin (lines that are not numbers are skipped),
# two decimals; "n/a" when there is none.
median() {
    awk '$1 ~ /^[0-9.]+$/ { v[++n] = $1 }
        END {
            if (n == 0) { print "n/a"; exit }
            # insertion sort: a handful of values
            for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "%.2f\n", m
        }'
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# Is a compiler running right now (someone else's cargo build on these cores)?
BUSY_SEEN=""
note_busy() {
    local n
    n=$(ps -eo comm= | awk '/^(cargo|rustc|cc|ld|rust-lld|cc1)$/ { n++ } END { print n + 0 }')
    ((n == 0)) || BUSY_SEEN="$BUSY_SEEN $1($n)"
}

ensure_account() {
    local shell pw
    if ! getent passwd "$DS_USER" >/dev/null; then
        log "==> creating the downstream account $DS_USER (useradd -r -M -d /nonexistent -s /bin/sh)"
        useradd -r -M -d /nonexistent -s /bin/sh "$DS_USER"
    fi
    shell=$(getent passwd "$DS_USER" | cut -d: -f7)
    [[ $shell == /bin/sh ]] || {
        echo "hub-scale.sh: account $DS_USER has the shell $shell, must be /bin/sh" >&2
        exit 1
    }
    # sshd without PAM refuses a locked account ("!..." in shadow, useradd's
    # default); "*" matches no password and is not locked
    pw=$(getent shadow "$DS_USER" | cut -d: -f2)
    if [[ $pw == '!'* ]]; then usermod -p '*' "$DS_USER"; fi
}

# start_ds_sshd DIR AUTHORIZED_KEYS: the downstream account's sshd, in the downstream
# cgroup when there is one; sets SSHD_PORT and SSHD_PID.
start_ds_sshd() {
    local wrap=()
    # shellcheck disable=SC2016  # $$ and $@ are the inner shell's
    [[ -n $CG_DS ]] && wrap=(sh -c 'echo $$ >"$0/cgroup.procs" || exit 125; exec "$@"' "$CG_DS")
    start_sshd "$1" "AuthorizedKeysFile $2
AllowUsers $DS_USER
PermitRootLogin no
MaxStartups 1000:30:1000
MaxSessions 1000
LogLevel ERROR" "${wrap[@]}"
}

# start_proxy DELAY-MS: a delay proxy in front of sshd; sets PROXY_PORT/PID.
start_proxy() {
    local ms=$1 out=$WORK/proxy-$1.out i line=""
    : >"$out"
    "$WORK/delay-proxy" --target "127.0.0.1:$SSHD_PORT" --delay-ms "$ms" \
        </dev/null >"$out" 2>"$WORK/proxy-$ms.err" &
    PROXY_PID=$!
    for ((i = 0; i < 200; i++)); do
        read -r line <"$out" || true
        [[ -z $line ]] || break
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [[ ! $line =~ ^[0-9]+$ ]]; then
        echo "hub-scale.sh: the delay proxy did not start; see $WORK/proxy-$ms.err" >&2
        cat "$WORK/proxy-$ms.err" >&2 || true
        return 1
    fi
    PROXY_PORT=$line
}

# One login through the link with the push key, as a check (and for context):
# prints its wall time in ms; fails when the stamp did not arrive.
check_login() {
    local t0 t1 tag=$1
    : >"$STAMPS"
    now_us t0
    env -u SSH_AUTH_SOCK HOME="$WORK/original" /usr/bin/ssh -n -o BatchMode=yes -o user="$DS_USER" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -p "$PROXY_PORT" -i "$KEY" 127.0.0.1 "sync:archive:$tag" sync:all \
        </dev/null >>"$WORK/check.out" 2>&1 || {
        echo "hub-scale.sh: ssh through the proxy failed; see $WORK/check.out and $WORK/sshd/sshd.log" >&2
        tail -5 "$WORK/check.out" "$WORK/sshd/sshd.log" >&2 || true
        return 1
    }
    now_us t1
    grep -q "sync:archive:$tag" "$STAMPS" || {
        echo "hub-scale.sh: the forced command left no stamp in $STAMPS; see $WORK/check.out" >&2
        tail -5 "$WORK/check.out" >&2 || true
        return 1
    }
    echo $(((t1 - t0) / 1000))
}

# write_hubs N: both hubs' config and mirror list for N downstreams through
# the current proxy.
write_hubs() {
    local n=$1 i lines="" opts
    for ((i = 1; i <= n; i++)); do
        printf -v lines '%sall m%03d ssh+ftpsync://%s@127.0.0.1/m%03d\n' "$lines" "$i" "$DS_USER" "$i"
    done
    opts="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $PROXY_PORT"
    printf 'KEYFILE=%s\nSSH_OPTS="%s"\nMAILTO=%s\n' "$KEY" "$opts" "$DUMMY_MAIL" \
        >"$WORK/original/.config/ftpsync/runmirrors.conf"
    printf '%s' "$lines" >"$WORK/original/.config/ftpsync/runmirrors.mirror"
    printf 'KEYFILE=%s\nSSH_OPTS="%s"\nMAILTO=%s\nSENDMAIL=/bin/true\n%s\n' "$KEY" "$opts" "$DUMMY_MAIL" \
        "${AVS_CONF:-}" >"$WORK/archvsync-hub/etc/runmirrors.conf"
    printf '%s' "$lines" >"$WORK/archvsync-hub/etc/runmirrors.mirror"
}

# Arrivals in the stamp file for mirrors m001..mN: "COUNT LAST-FIRST-STAMP DUPLICATES".
arrivals() {
    awk -v n="$1" '{
            for (i = 2; i <= NF; i++) {
                if ($i !~ /^sync:archive:m[0-9][0-9][0-9]$/) continue
                k = substr($i, length("sync:archive:m") + 1) + 0
                if (k < 1 || k > n) continue
                if (k in first) { dup++; continue }
                first[k] = $1; c++
                if ($1 > last) last = $1
            }
        }
        END { printf "%d %s %d\n", c, (c ? last : 0), dup }' "$STAMPS"
}

# wait_quiet: until the hub's processes (the cgroup, or else every process
# with WORK in its arguments) and the downstream sessions are gone, at most
# WAIT_LIMIT s. Returns 1 on timeout.
wait_quiet() {
    local now deadline first
    now_us now
    deadline=$((now + WAIT_LIMIT * 1000000))
    while :; do
        if [[ -n $CG ]]; then
            first=""
            read -r first <"$CG/cgroup.procs" || true
            [[ -n $first ]] || break
        else
            [[ -n $(leftover_pids "$SSHD_PID" "$PROXY_PID") ]] || break
        fi
        now_us now
        ((now < deadline)) || return 1
        sleep 0.1
    done
    while [[ -n $(ps -o pid= --ppid "$SSHD_PID" 2>/dev/null) ]]; do
        now_us now
        ((now < deadline)) || return 1
        sleep 0.1
    done
}

# Kill whatever a run left behind (after a timeout), so the next run is clean.
kill_leftovers() {
    local p
    for p in $(cg_procs) $(leftover_pids "$SSHD_PID" "$PROXY_PID") $(descendants "$SSHD_PID"); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.2
}

# run_hub TOOL N TAG: one runmirrors run; sets R_ARR R_RET R_CPU R_DSCPU R_RC R_GOT.
run_hub() {
    local tool=$1 n=$2 tag=$3 out=$WORK/runs/$3.out t0 t1 now deadline got=0 last=0 dup=0 cmd=() usage lines=()
    R_RC=0 R_ARR=timeout R_RET="" R_CPU=n/a R_DSCPU=n/a R_GOT=0
    case $tool in
        original)
            : >"$WORK/original/.local/log/ftpsync/runmirrors.log" 2>/dev/null || true
            cmd=(env -u SSH_AUTH_SOCK HOME="$WORK/original" BASEDIR="$WORK/original"
                LOGNAME="$HUB_LOGNAME" "$WORK/original/bin/runmirrors") ;;
        archvsync)
            cmd=(env -u SSH_AUTH_SOCK -u BASEDIR HOME="$WORK/archvsync-hub"
                "$WORK/archvsync-hub/bin/runmirrors") ;;
    esac
    : >"$STAMPS"
    [[ -z $CG ]] || echo 0 >"$CG/cpuacct.usage"
    [[ -z $CG_DS ]] || echo 0 >"$CG_DS/cpuacct.usage"
    note_busy "$tag"
    t0=${EPOCHREALTIME/[.,]/}
    # in the background and waited for, so that a signal to this script is
    # acted on at once (the EXIT trap then ends the hub)
    if [[ -n $CG ]]; then
        # shellcheck disable=SC2016  # $$ and $@ are the inner shell's
        sh -c 'echo $$ >"$0/cgroup.procs" || exit 125; exec "$@"' "$CG" "${cmd[@]}" \
            </dev/null >"$out" 2>&1 &
    else
        "${cmd[@]}" </dev/null >"$out" 2>&1 &
    fi
    HUB_PID=$!
    wait "$HUB_PID" || R_RC=$?
    HUB_PID=""
    t1=${EPOCHREALTIME/[.,]/}
    R_RET=$(awk -v u=$((t1 - t0)) 'BEGIN { printf "%.2f", u / 1e6 }')
    deadline=$((t0 + WAIT_LIMIT * 1000000))
    while :; do
        # count lines with a builtin; parse (awk) only once there can be N
        mapfile -t lines <"$STAMPS"
        if ((${#lines[@]} >= n)); then
            read -r got last dup <<<"$(arrivals "$n")"
            ((got < n)) || break
        fi
        now_us now
        ((now < deadline)) || break
        sleep 0.1
    done
    read -r got last dup <<<"$(arrivals "$n")"
    R_GOT=$got
    if ((got == n)); then
        R_ARR=$(awk -v u=$((last - t0)) 'BEGIN { printf "%.2f", u / 1e6 }')
    else
        ISSUES+=("$tag: only $got of $n triggers arrived within ${WAIT_LIMIT}s")
    fi
    ((dup == 0)) || ISSUES+=("$tag: $dup triggers arrived twice")
    ((R_RC == 0)) || ISSUES+=("$tag: runmirrors exited $R_RC (see $out)")
    if ! wait_quiet; then
        ISSUES+=("$tag: the hub's processes or the downstream sessions were still running after ${WAIT_LIMIT}s (killed)")
        kill_leftovers
    else
        if [[ -n $CG ]]; then
            usage=$(<"$CG/cpuacct.usage")
            R_CPU=$(awk -v u="$usage" -v n="$n" 'BEGIN { printf "%.2f", u / n / 1e6 }')
        fi
        if [[ -n $CG_DS ]]; then
            usage=$(<"$CG_DS/cpuacct.usage")
            R_DSCPU=$(awk -v u="$usage" -v n="$n" 'BEGIN { printf "%.2f", u / n / 1e6 }')
        fi
    fi
    cp "$STAMPS" "$WORK/runs/$tag.stamps"
    case $tool in
        original)
            cp "$WORK/original/.local/log/ftpsync/runmirrors.log" "$WORK/runs/$tag.log" 2>/dev/null || true
            if grep -q 'trigger failed' "$WORK/runs/$tag.log" 2>/dev/null; then
                ISSUES+=("$tag: $(grep -c 'trigger failed' "$WORK/runs/$tag.log") triggers failed (original's log)")
            fi ;;
        archvsync)
            cp "$WORK/archvsync-hub/log/runmirrors.log" "$WORK/runs/$tag.log" 2>/dev/null || true
            local summ
            summ=$(sed -n 's/.*Summary: //p' "$WORK/runs/$tag.log" 2>/dev/null | tail -n 1)
            if [[ $summ =~ [1-9][0-9]*\ failed ]]; then ISSUES+=("$tag: archvsync's log: $summ"); fi ;;
    esac
}

# ---------------------------------------------------------------- setup

log "==> work directory $WORK (wiped)"
rm -rf "$WORK"
mkdir -p "$WORK/keys" "$WORK/sshd" "$WORK/runs" "$WORK/original/bin" \
    "$WORK/original/.config/ftpsync" "$WORK/original/.local/log/ftpsync" \
    "$WORK/archvsync-hub/bin" "$WORK/archvsync-hub/etc" "$WORK/archvsync-hub/log"
touch "$WORK/.hub-scale-work"
chmod 755 "$WORK" "$WORK/sshd"
cp "$BIN" "$WORK/archvsync"
cp "$PROXY_BIN" "$WORK/delay-proxy"
cp "$ORIG_SRC" "$WORK/original/bin/runmirrors"
chmod 755 "$WORK/original/bin/runmirrors"
ln -s "$WORK/archvsync" "$WORK/archvsync-hub/bin/runmirrors"
cc -O2 -o "$WORK/stamp" "$HERE/push/stamp.c"
chmod 755 "$WORK/stamp"
STAMPS=$WORK/stamps
: >"$STAMPS"
chmod 666 "$STAMPS"
KEY=$WORK/keys/push
ssh-keygen -q -t ed25519 -N '' -C hub-scale-push -f "$KEY"
DUMMY_MAIL=hub-scale@bench.invalid
HUB_LOGNAME=${LOGNAME:-$(id -un)}
LOAD_START=$(load)
note_busy setup

ensure_account
AK=$WORK/sshd/authorized_keys
printf 'command="%s %s",restrict %s\n' "$WORK/stamp" "$STAMPS" "$(<"$KEY.pub")" >"$AK"
chmod 644 "$AK"
# shellcheck disable=SC2016  # the inner shell expands them
if ! runuser -u "$DS_USER" -- sh -c 'test -x "$1" && test -w "$2" && test -r "$3"' sh \
    "$WORK/stamp" "$STAMPS" "$AK"; then
    echo "hub-scale.sh: $DS_USER cannot run $WORK/stamp, write $STAMPS or read $AK:" >&2
    echo "  a directory above $WORK is not searchable for others; use --work under /tmp" >&2
    exit 1
fi
# make_cgroup NAME: prints the new cpuacct group's path, or nothing.
make_cgroup() {
    local g=$CG_PARENT/$1
    if mkdir "$g" 2>/dev/null && [[ -w $g/cpuacct.usage && -w $g/cgroup.procs ]]; then
        echo "$g"
    else
        rmdir "$g" 2>/dev/null || true
    fi
}
CG=$(make_cgroup "avsbench-hub-$$")
CG_DS=$(make_cgroup "avsbench-ds-$$")
if [[ -n $CG ]]; then
    log "==> hub cgroup $CG, downstream cgroup ${CG_DS:-(none)}"
else
    log "==> no cpuacct cgroup could be made under $CG_PARENT: hub CPU is n/a"
fi
start_ds_sshd "$WORK/sshd" "$AK"
log "    sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT"

# ---------------------------------------------------------------- runs

ISSUES=()
PERRUN=()
TABLE=()
CONTEXT=()
for d in $DELAYS; do
    start_proxy "$d"
    ms=$(check_login "check-$d")
    log "==> one-way delay $d ms: proxy pid $PROXY_PID on 127.0.0.1:$PROXY_PORT; one ssh login through it: $ms ms"
    CONTEXT+=("one ssh login (forced stamp) over the $d ms link: $ms ms")
    for n in $MIRRORS; do
        write_hubs "$n"
        declare -A ARR=() RET=() CPU=()
        for ((r = 1; r <= RUNS; r++)); do
            if ((r % 2)); then order=(original archvsync); else order=(archvsync original); fi
            for tool in "${order[@]}"; do
                tag="n$n-d$d-r$r-$tool"
                log "    $n downstreams, $d ms, run $r/$RUNS: $tool"
                run_hub "$tool" "$n" "$tag"
                PERRUN+=("$(printf '%11s %7s %4s  %-9s %9s %9s %10s %10s %8s %4s' "$n" "$d" "$r" "$tool" \
                    "$R_ARR" "$R_RET" "$R_CPU" "$R_DSCPU" "$R_GOT/$n" "$R_RC")")
                log "      arrival $R_ARR s, return $R_RET s, hub CPU $R_CPU ms/trigger (downstream $R_DSCPU), $R_GOT/$n arrived, exit $R_RC"
                ARR[$tool]+="$R_ARR"$'\n'
                RET[$tool]+="$R_RET"$'\n'
                CPU[$tool]+="$R_CPU"$'\n'
            done
        done
        oa=$(printf '%s' "${ARR[original]}" | median)
        aa=$(printf '%s' "${ARR[archvsync]}" | median)
        ratio=n/a
        if [[ $oa != n/a && $aa != n/a ]]; then
            ratio=$(awk -v a="$aa" -v o="$oa" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }')
        fi
        TABLE+=("$(printf '| %11s | %7s | %10s | %10s | %8s | %10s | %10s | %10s | %10s |' \
            "$n" "$d ms" "$oa" "$aa" "$ratio" \
            "$(printf '%s' "${RET[original]}" | median)" "$(printf '%s' "${RET[archvsync]}" | median)" \
            "$(printf '%s' "${CPU[original]}" | median)" "$(printf '%s' "${CPU[archvsync]}" | median)")")
        unset ARR RET CPU
    done
    stop_proxy
done

# ---------------------------------------------------------------- report

echo "per run (arrival and return in s from the start of runmirrors; CPU in ms per trigger, of the"
echo "hub and, for context, of the downstream sshd with its forced commands):"
printf '%11s %7s %4s  %-9s %9s %9s %10s %10s %8s %4s\n' downstreams "delay" run tool arrival return "hub CPU" "ds CPU" arrived exit
printf '%11s %7s %4s  %-9s %9s %9s %10s %10s %8s %4s\n' "" ms "" "" s s "ms/trig" "ms/trig" "" ""
printf '%s\n' "${PERRUN[@]}"
echo
echo "medians of $RUNS run(s); ratio = archvsync / original arrival:"
printf '| %11s | %7s | %10s | %10s | %8s | %10s | %10s | %10s | %10s |\n' downstreams "one-way" \
    "orig arr" "avs arr" "ratio" "orig ret" "avs ret" "orig CPU" "avs CPU"
printf '| %11s | %7s | %10s | %10s | %8s | %10s | %10s | %10s | %10s |\n' "" "delay" \
    "s" "s" "avs/orig" "s" "s" "ms/trig" "ms/trig"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "-------------" "---------" "------------" "------------" \
    "----------" "------------" "------------" "------------" "------------"
printf '%s\n' "${TABLE[@]}"
echo
printf '%s\n' "${CONTEXT[@]}"
echo "machine: $(nproc) cores; load average at start $LOAD_START, at end $(load)"
if [[ -n $BUSY_SEEN ]]; then
    echo "compilers were running at the start of:$BUSY_SEEN"
else
    echo "no compiler process seen at the start of any run"
fi
if ((${#ISSUES[@]})); then
    echo
    echo "issues:"
    printf '  %s\n' "${ISSUES[@]}"
    exit 1
fi

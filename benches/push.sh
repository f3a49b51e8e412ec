#!/usr/bin/env bash
# Benchmark: runmirrors pushing downstream mirrors over real ssh.
#
# Usage: benches/push.sh [--runs N] [--runs2 N] [--mirrors N] [--concurrency "16 50"]
#                        [--work DIR] [--build] [--only 1|2]
#
#   --runs N          runs of scenario 1 (default 5; env RUNS)
#   --runs2 N         runs of scenario 2 per PUSHCONCURRENCY value (default 3; env RUNS2)
#   --mirrors N       downstreams of scenario 2 (default 50; env MIRRORS2)
#   --concurrency L   PUSHCONCURRENCY values of scenario 2 (default "16 50"; env CONCURRENCIES)
#   --work DIR        work directory, wiped first (default target/bench/push; env WORK)
#   --build           run `cargo build --release` first (default: only when
#                     target/release/archvsync does not exist)
#   --only 1|2        run only one scenario
#
# Everything is real and local: a throwaway sshd on 127.0.0.1 (own host key,
# `PermitRootLogin forced-commands-only`), one key per downstream whose
# authorized_keys line forces `D/bin/ftpsync` (a classic layout, the binary
# behind a link), a small archive (examples/local/make-archive.sh) served by an
# rsync daemon, and pushers in classic layouts (`P/bin/runmirrors`). A wrapper
# named `ssh` (benches/push/ssh-stamp) first in runmirrors' PATH stamps every
# ssh call (start, end, exit status, arguments, and the moment its LocalCommand
# said the downstream accepted); runmirrors' detached push follower
# (`archvsync push-follower`) inherits that PATH.
#
# Context first: 5 bare ssh logins to a key forced to /bin/true, with and
# without the follower's LocalCommand (`echo 1<>FIFO` by /bin/sh), using
# runmirrors' ssh options (what any trigger costs here).
#
# Scenario 1, 3 `staged` downstreams whose stage 1 lasts 0.3, 0.6 and 1 s
# longer than the sync (HOOK1 sleeps): the stage-1 barrier. Per run:
#   s1 start sprd    = last minus first start of the stage-1 ssh calls
#                      (all start at once unless PUSHCONCURRENCY is below 3;
#                      env S1_CONCURRENCY sets it for this scenario)
#   stage1 ssh       = duration of each stage-1 ssh session (start to the end
#                      of its session); last stage1 end = latest
#                      end of the `sync:stage1` sessions (they end
#                      when the downstream's stage 1 ended)
#   first/last s2    = start of the first/last `sync:stage2` ssh call minus
#                      last stage1 end (includes handing it to the follower
#                      and the wrapper, a few ms)
#   s2 accept        = longest stage-2 ssh from start until accepted (its
#                      LocalCommand ran: the downstream authenticated us)
#   ds h4->end       = downstream side: latest stage-1 HOOK4 (ftpsync done
#                      syncing) to last stage1 end at the pusher
#   ds s2 start      = last stage1 end to the last downstream's stage-2
#                      ftpsync running its HOOK1 (the whole way round)
#   early            = stage-2 ssh calls started before the barrier (must be 0)
#
# Scenario 2, N `all` downstreams (distinct mirrors, one key and classic
# layout each, so no "lock held"), for each PUSHCONCURRENCY: runmirrors' wall
# time (it returns once every trigger was accepted), its memory, the peak
# summed RSS and PSS and the peak count of the live push followers
# (sampled every 0.1 s), the longest ssh from start until accepted, when the
# last trigger was accepted, the time until every mirror log says "trigger
# finished" (the downstream syncs ended; polled every 0.1 s), and the final
# exit statuses from the per-mirror logs. runmirrors' memory comes two ways:
#   (1) /usr/bin/time -v "Maximum resident set size": the maximum over
#       runmirrors AND every descendant it reaped; tokio reaps the detached
#       follower when it finishes before runmirrors exits, so this is often an
#       ssh client's or the follower's peak, not runmirrors' own
#   (2) VmHWM of the runmirrors process itself (sampled from /proc)
#
# sshd runs with MaxStartups 200 (its default, 10:30:100, drops unauthenticated
# connections beyond 10 at random, which would measure sshd and not us) and
# `environment="SHLVL=1"` on each key with `PermitUserEnvironment SHLVL`, so that
# root's bash does not source /root/.bashrc for the forced command (on this
# machine that runs `pyenv init`, ~0.25 s a login, unrelated to archvsync).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-5}
S1_CONCURRENCY=${S1_CONCURRENCY:-}  # PUSHCONCURRENCY of scenario 1 (unset: runmirrors' default)
RUNS2=${RUNS2:-3}
MIRRORS2=${MIRRORS2:-50}
CONCURRENCIES=${CONCURRENCIES:-"16 50"}
WORK=${WORK:-$ROOT/target/bench/push}
POOL_FILES=${POOL_FILES:-30}
WAIT_LIMIT=${WAIT_LIMIT:-300}  # seconds to wait for detached triggers to finish
BUILD=false
ONLY=""
while (($#)); do
    case $1 in
        --runs) RUNS=${2:?}; shift 2 ;;
        --runs2) RUNS2=${2:?}; shift 2 ;;
        --mirrors) MIRRORS2=${2:?}; shift 2 ;;
        --concurrency) CONCURRENCIES=${2:?}; shift 2 ;;
        --work) WORK=${2:?}; shift 2 ;;
        --build) BUILD=true; shift ;;
        --only) ONLY=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "push.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
for v in "$RUNS" "$RUNS2" "$MIRRORS2"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "push.sh: counts must be positive numbers" >&2; exit 64; }
done
for c in $CONCURRENCIES; do
    [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "push.sh: bad PUSHCONCURRENCY $c" >&2; exit 64; }
done
case $ONLY in ""|1|2) ;; *) echo "push.sh: --only 1 or 2" >&2; exit 64 ;; esac
case $WORK in /*) ;; *) WORK=$PWD/$WORK ;; esac
export LC_ALL=C

for p in rsync /usr/bin/ssh ssh-keygen /usr/sbin/sshd; do
    command -v "$p" >/dev/null || { echo "push.sh: $p is missing" >&2; exit 1; }
done
command -v /usr/bin/time >/dev/null || apt-get install -y time >/dev/null
command -v /usr/bin/time >/dev/null || { echo "push.sh: /usr/bin/time is missing" >&2; exit 1; }

# shellcheck source=benches/lib/release.sh
source "$HERE/lib/release.sh"
release_binary "$BUILD"

# ---------------------------------------------------------------- helpers

# shellcheck source=examples/local/rsyncd.sh
source "$ROOT/examples/local/rsyncd.sh"  # port_is_free, start_rsyncd_with, stop_rsyncd
# shellcheck source=benches/lib/push-bench.sh
source "$HERE/lib/push-bench.sh"  # ssh_banner, start_sshd, descendants, leftover_pids

SSHD_PID=""
SSHD_PORT=""
SAMPLER_PID=""


cleanup() {
    local pids p
    set +e
    if [[ -n $SAMPLER_PID ]]; then
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=""
    fi
    if [[ -n $SSHD_PID ]]; then
        pids=$(descendants "$SSHD_PID")
        for p in $pids; do kill "$p" 2>/dev/null || true; done
        kill "$SSHD_PID" 2>/dev/null || true
        wait "$SSHD_PID" 2>/dev/null || true
        SSHD_PID=""
    fi
    # shellcheck disable=SC2119  # nothing to keep here
    pids=$(leftover_pids)
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    stop_rsyncd
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Microseconds since the epoch, without a fork.
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# An rsync daemon like examples/local/rsyncd.sh's, but without its connection
# limit (8): scenario 2 runs 50 syncs at once. Sets RSYNCD_PORT and RSYNCD_PID.
start_rsyncd_unlimited() {
    local work=$1 upstream=$2 conf
    conf=$work/rsyncd.conf
    {
        echo "use chroot = no"
        echo "log file = $work/rsyncd.log"
        echo "pid file = $work/rsyncd.pid"
        echo "max connections = 0"
        echo "timeout = 300"
        if ((EUID == 0)); then printf 'uid = root\ngid = root\n'; fi
        printf '[debian]\n    path = %s\n    read only = yes\n    list = yes\n' "$upstream"
    } >"$conf"
    start_rsyncd_with "$work" "$conf"
}

# start_sshd DIR AUTHORIZED_KEYS: the downstreams' sshd (root, forced commands, SHLVL
# allowed so that root's bash skips ~/.bashrc); sets SSHD_PORT and SSHD_PID.
start_push_sshd() {
    start_sshd "$1" "AuthorizedKeysFile $2
PermitRootLogin forced-commands-only
PermitUserEnvironment SHLVL
MaxStartups 200
MaxSessions 100
LogLevel INFO"
}

newkey() { ssh-keygen -q -t ed25519 -N '' -C push-bench -f "$1"; }

# authorized_keys line locking KEY to the forced command CMD.
forced_line() { printf 'command="%s",restrict,environment="SHLVL=1" %s\n' "$1" "$(<"$2.pub")"; }

# make_downstream DIR NAME [EXTRA CONFIG LINES]: a classic ftpsync layout
# pulling from our rsync daemon.
make_downstream() {
    local d=$1 name=$2 extra=${3:-} conf
    mkdir -p "$d/bin" "$d/etc" "$d/log"
    ln -s "$WORK/archvsync" "$d/bin/ftpsync"
    conf=$(<"$ROOT/examples/local/ftpsync.conf.in")
    conf=${conf//@MIRROR@/$d}
    conf=${conf//@PORT@/$RSYNCD_PORT}
    {
        printf '%s\n\n## benches/push.sh\n' "$conf"
        printf 'MIRRORNAME=%s\nMAILTO=""\nLOGROTATE=0\n' "$name"
        [[ -z $extra ]] || printf '%s\n' "$extra"
    } >"$d/etc/ftpsync.conf"
}

# A local (not pushed) sync: the first transfer is not part of any measurement.
initial_sync() {
    if ! env -u SSH_ORIGINAL_COMMAND -u SSH_CONNECTION -u BASEDIR \
        "$1/bin/ftpsync" -T bench sync:all </dev/null >>"$WORK/initial-sync.out" 2>&1; then
        echo "initial sync of $1 failed; see $1/log/ and $WORK/initial-sync.out" >&2
        tail -n 20 "$1"/log/ftpsync.log* >&2 || true
        exit 1
    fi
}

# make_pusher DIR CONFIG-LINES MIRROR-LINES
make_pusher() {
    local p=$1
    mkdir -p "$p/bin" "$p/etc" "$p/log"
    ln -s "$WORK/archvsync" "$p/bin/runmirrors"
    printf '%s\n' "$2" >"$p/etc/runmirrors.conf"
    printf '%s\n' "$3" >"$p/etc/runmirrors.mirror"
}

# count_lines PATTERN FILE...: matching lines in all files together.
count_lines() {
    local pat=$1
    shift
    cat -- "$@" 2>/dev/null | grep -c -e "$pat" || true
}

# wait_lines N PATTERN FILE...: wait (at most WAIT_LIMIT s) until the files
# hold N matching lines. Returns 1 on timeout.
wait_lines() {
    local n=$1 pat=$2 deadline
    shift 2
    deadline=$(($(now_us) + WAIT_LIMIT * 1000000))
    while (($(count_lines "$pat" "$@") < n)); do
        (($(now_us) < deadline)) || return 1
        sleep 0.1
    done
}

# Median, min, max (and the count) of the numbers on stdin.
stats() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "- - - 0"; exit }
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.1f %.1f %.1f %d\n", m, v[1], v[NR], NR
        }'
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# Is a compiler (the other helper's cargo test) running right now?
busy_note() {
    local n
    n=$(ps -eo comm= | awk '/^(cargo|rustc|cc|ld|rust-lld|cc1)$/ { n++ } END { print n + 0 }')
    ((n == 0)) || echo "cargo/rustc processes: $n"
}
BUSY_SEEN=""
note_busy() {
    local b
    b=$(busy_note)
    [[ -z $b ]] || BUSY_SEEN="$BUSY_SEEN $1($b)"
}

# ---------------------------------------------------------------- setup

echo "==> work directory $WORK (wiped)"
rm -rf "$WORK"
mkdir -p "$WORK/keys" "$WORK/sshd" "$WORK/wrap"
cp "$BIN" "$WORK/archvsync"  # a rebuild meanwhile must not change what we measure
cp "$HERE/push/ssh-stamp" "$WORK/wrap/ssh"
chmod +x "$WORK/wrap/ssh"
LOAD_START=$(load)
note_busy setup

echo "==> archive ($POOL_FILES pool files) and rsync daemon"
"$ROOT/examples/local/make-archive.sh" "$WORK/upstream" --pool-files "$POOL_FILES" --serial 2024010101
start_rsyncd_unlimited "$WORK" "$WORK/upstream"
echo "    rsync daemon pid $RSYNCD_PID on 127.0.0.1:$RSYNCD_PORT"

AK=$WORK/sshd/authorized_keys
: >"$AK"
newkey "$WORK/keys/default"  # KEYFILE of the pushers: must exist, is never authorized

S1=$WORK/s1
S2=$WORK/s2
S1_NAMES=(m1 m2 m3)
S1_SLEEPS=(0.3 0.6 1)
if [[ $ONLY != 2 ]]; then
    echo "==> scenario 1 downstreams: ${S1_NAMES[*]} (stage 1 HOOK1 sleeps ${S1_SLEEPS[*]} s)"
    for i in "${!S1_NAMES[@]}"; do
        n=${S1_NAMES[i]}
        d=$S1/$n
        # Hooks run by `sh -c` with SSH_ORIGINAL_COMMAND in the environment.
        make_downstream "$d" "s1-$n" \
            "HOOK1='echo \"h1 \$(date +%s.%N) \$SSH_ORIGINAL_COMMAND\" >>$d/stamps; sleep ${S1_SLEEPS[i]}'
HOOK4='echo \"h4 \$(date +%s.%N) \$SSH_ORIGINAL_COMMAND\" >>$d/stamps'"
        newkey "$WORK/keys/s1-$n"
        forced_line "$d/bin/ftpsync" "$WORK/keys/s1-$n" >>"$AK"
        initial_sync "$d"
    done
fi
if [[ $ONLY != 1 ]]; then
    echo "==> scenario 2 downstreams: $MIRRORS2 classic layouts, one key each"
    for ((i = 1; i <= MIRRORS2; i++)); do
        n=$(printf 'd%02d' "$i")
        make_downstream "$S2/$n" "s2-$n"
        newkey "$WORK/keys/s2-$n"
        forced_line "$S2/$n/bin/ftpsync" "$WORK/keys/s2-$n" >>"$AK"
        initial_sync "$S2/$n"
    done
fi

newkey "$WORK/keys/baseline"
forced_line /bin/true "$WORK/keys/baseline" >>"$AK"
start_push_sshd "$WORK/sshd" "$AK"
echo "    sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT"

# Context: what one ssh login costs here, with runmirrors' options and a
# forced command that does nothing (/bin/true).
SUMMARY=()
ISSUES=()
baseline_ssh() {
    local mode i t0 t1 plain=() lc=() opts
    opts=(-o user=root -o BatchMode=yes -o ServerAliveInterval=45 -o ConnectTimeout=45
        -o PasswordAuthentication=no -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
        -o LogLevel=ERROR -o IdentitiesOnly=yes -p "$SSHD_PORT" -i "$WORK/keys/baseline")
    for ((i = 0; i < 5; i++)); do
        for mode in plain lc; do
            t0=$EPOCHREALTIME
            if [[ $mode == plain ]]; then
                /usr/bin/ssh "${opts[@]}" -n 127.0.0.1 sync:all >>"$WORK/baseline.out" 2>&1 ||
                    ISSUES+=("baseline ssh failed, see $WORK/baseline.out")
            else
                SHELL=/bin/sh /usr/bin/ssh -o PermitLocalCommand=yes -o 'LocalCommand=echo 1<>/dev/null' \
                    "${opts[@]}" -n 127.0.0.1 sync:all >>"$WORK/baseline.out" 2>&1 ||
                    ISSUES+=("baseline ssh with LocalCommand failed, see $WORK/baseline.out")
            fi
            t1=$EPOCHREALTIME
            if [[ $mode == plain ]]; then
                plain+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
            else
                lc+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
            fi
        done
    done
    echo "==> bare ssh to a forced /bin/true (ms): ssh ${plain[*]}; with LocalCommand ${lc[*]}"
    SUMMARY+=("$(printf '%-38s %-38s %s' "context: bare ssh, 5 logins" "ssh to forced /bin/true (ms)" "$(printf '%s\n' "${plain[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "same, with LocalCommand (ms)" "$(printf '%s\n' "${lc[@]}" | stats)")")
}
note_busy baseline
baseline_ssh

SSH_OPTS_LINE="SSH_OPTS=\"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes -p $SSHD_PORT\""
pusher_conf() { # pusher_conf EXTRA-LINES
    printf 'KEYFILE=%s\n%s\nMAILTO=""\nPUSHDELAY=120\nPUSHTIMEOUT=600\n%s\n' \
        "$WORK/keys/default" "$SSH_OPTS_LINE" "${1:-}"
}

# run_pusher P STAMPS [TIMEFILE]: one runmirrors run with the ssh wrapper;
# sets RUN_US (wall time, microseconds), RUN_T0 (start, seconds) and RUN_RC.
run_pusher() {
    local p=$1 stamps=$2 tf=${3:-} t0 t1
    RUN_RC=0
    t0=$EPOCHREALTIME
    if [[ -n $tf ]]; then
        PUSHBENCH_STAMPS=$stamps PATH="$WORK/wrap:$PATH" \
            /usr/bin/time -v -o "$tf" "$p/bin/runmirrors" </dev/null >>"$p/runmirrors.out" 2>&1 || RUN_RC=$?
    else
        PUSHBENCH_STAMPS=$stamps PATH="$WORK/wrap:$PATH" \
            "$p/bin/runmirrors" </dev/null >>"$p/runmirrors.out" 2>&1 || RUN_RC=$?
    fi
    t1=$EPOCHREALTIME
    RUN_T0=$t0
    RUN_US=$((${t1/[.,]/} - ${t0/[.,]/}))
}

# ---------------------------------------------------------------- scenario 1

scenario1() {
    local p=$S1/P lines="" n r stamps row early_total=0 f logs=()
    local f_d1 f_first f_last f_acc f_h4 f_ds2 f_early f_n2 f_bad2 f_rc1 f_spread
    local lat_first=() lat_last=() accept=() ds_start=() ds_end=() walls=()
    for n in "${S1_NAMES[@]}"; do
        lines+="staged $n 127.0.0.1 root 2 $WORK/keys/s1-$n"$'\n'
        logs+=("$p/log/$n.log")
    done
    make_pusher "$p" "$(pusher_conf "${S1_CONCURRENCY:+PUSHCONCURRENCY=$S1_CONCURRENCY}")" "$lines"
    echo
    echo "==> scenario 1: 3 staged downstreams, stage-1 barrier, $RUNS runs${S1_CONCURRENCY:+, PUSHCONCURRENCY=$S1_CONCURRENCY}"
    printf '%3s %7s %8s %15s %8s %8s %8s %8s %9s %5s\n' run wall "s1 start" "stage1 ssh" \
        "first s2" "last s2" "s2 acc" "ds h4>" "ds s2 go" early
    printf '%3s %7s %8s %15s %8s %8s %8s %8s %9s %5s\n' "" s "sprd ms" "s (m1/m2/m3)" ms ms ms "end ms" ms ""
    for ((r = 1; r <= RUNS; r++)); do
        for n in "${S1_NAMES[@]}"; do
            : >"$S1/$n/stamps"
            : >"$p/log/$n.log"
        done
        stamps=$S1/ssh-stamps.$r
        : >"$stamps"
        note_busy "s1r$r"
        run_pusher "$p" "$stamps"
        ((RUN_RC == 0)) || ISSUES+=("scenario 1 run $r: runmirrors exited $RUN_RC")
        walls+=("$(awk -v u="$RUN_US" 'BEGIN { printf "%.3f", u / 1e6 }')")
        if ! wait_lines "${#S1_NAMES[@]}" 'second stage trigger \(finished\|timed out\|: exit status\)' \
            "${logs[@]}"; then
            ISSUES+=("scenario 1 run $r: not every stage-2 trigger finished within ${WAIT_LIMIT}s")
        fi
        # ssh stamps: START END STATUS ARGS, and E SESSION-END ARGS (stage 1 ends when
        # its session ends); the mirror is the key after -i.
        # Downstream stamps: h1|h4 TIME WORDS (the HOOK1/HOOK4 of each ftpsync run).
        row=$(cat "$S1"/m*/stamps | sed 's/^/DS /' | cat - "$stamps" | awk -v keys="$WORK/keys/s1-" '
            $1 == "DS" {
                if ($2 == "h4" && index($0, "sync:stage1") && $3 > h4) h4 = $3
                if ($2 == "h1" && index($0, "sync:stage2") && $3 > ds2) ds2 = $3
                next
            }
            $1 == "A" {
                key = $3; sub(keys, "", key)
                if ($4 == "sync:stage2") a2[key] = $2
                next
            }
            {
                key = ""
                for (i = 3; i <= NF; i++) if ($i == "-i") key = $(i + 1)
                sub(keys, "", key)
                if ($1 == "E") {
                    if (index($0, " sync:stage1")) {
                        e1[key] = $2
                        if ($2 > s1end) s1end = $2
                    }
                    next
                }
                if (index($0, " sync:stage1")) {
                    if (s1first == "" || $1 < s1first) s1first = $1
                    if ($1 > s1last) s1last = $1
                    st1[key] = $1; rc1[key] = $3
                } else if (index($0, " sync:stage2")) {
                    n2++; s2[n2] = $1; st2[key] = $1
                    if ($3 != 0) bad2++
                }
            }
            END {
                for (k in st1) d1[k] = e1[k] - st1[k]
                for (k in st2) if (k in a2 && a2[k] - st2[k] > maxacc) maxacc = a2[k] - st2[k]
                first = ""; last = ""; early = 0
                for (i = 1; i <= n2; i++) {
                    if (first == "" || s2[i] < first) first = s2[i]
                    if (last == "" || s2[i] > last) last = s2[i]
                    if (s2[i] < s1end) early++
                }
                printf "%.2f/%.2f/%.2f %.1f %.1f %.1f %.1f %.1f %d %d %d %s/%s/%s %.1f\n",
                    d1["m1"], d1["m2"], d1["m3"],
                    (first - s1end) * 1000, (last - s1end) * 1000, maxacc * 1000,
                    (s1end - h4) * 1000, (ds2 - s1end) * 1000, early, n2, bad2 + 0,
                    rc1["m1"], rc1["m2"], rc1["m3"], (s1last - s1first) * 1000
            }')
        read -r f_d1 f_first f_last f_acc f_h4 f_ds2 f_early f_n2 f_bad2 f_rc1 f_spread <<<"$row"
        printf '%3d %7s %8s %15s %8s %8s %8s %8s %9s %5s\n' "$r" "${walls[-1]}" "$f_spread" "$f_d1" \
            "$f_first" "$f_last" "$f_acc" "$f_h4" "$f_ds2" "$f_early"
        lat_first+=("$f_first"); lat_last+=("$f_last"); accept+=("$f_acc")
        ds_end+=("$f_h4"); ds_start+=("$f_ds2")
        early_total=$((early_total + f_early))
        [[ $f_n2 == "${#S1_NAMES[@]}" ]] || ISSUES+=("scenario 1 run $r: $f_n2 stage-2 ssh calls, expected ${#S1_NAMES[@]}")
        [[ $f_bad2 == 0 ]] || ISSUES+=("scenario 1 run $r: $f_bad2 stage-2 ssh calls failed")
        [[ $f_rc1 == 0/0/0 ]] || ISSUES+=("scenario 1 run $r: stage-1 ssh exit statuses $f_rc1")
        for f in "$p"/log/m*.log; do
            if grep -q 'trigger finished: exit status [^0]' "$f"; then
                ISSUES+=("scenario 1 run $r: $(grep -h 'trigger finished: exit status [^0]' "$f" | tail -n 1)")
            fi
        done
    done
    echo "    stage-2 ssh calls started before the barrier, all runs: $early_total (must be 0: $([[ $early_total == 0 ]] && echo OK || echo FAIL))"
    SUMMARY+=("$(printf '%-38s %-38s %s' "staged x3 ($RUNS runs)" "barrier -> first stage2 ssh (ms)" "$(printf '%s\n' "${lat_first[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "barrier -> last stage2 ssh (ms)" "$(printf '%s\n' "${lat_last[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "stage2 ssh accepted in (ms, max)" "$(printf '%s\n' "${accept[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "ds stage1 HOOK4 -> ssh end (ms)" "$(printf '%s\n' "${ds_end[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "barrier -> last ds stage2 HOOK1 (ms)" "$(printf '%s\n' "${ds_start[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "runmirrors wall (s)" "$(printf '%s\n' "${walls[@]}" | stats)")")
    SUMMARY+=("$(printf '%-38s %-38s %s' "" "stage2 started before barrier" "$early_total")")
}

# ---------------------------------------------------------------- scenario 2

# sampler OUT: every 0.1 s, one line:
#   TIME SUM-RSS-KB COUNT RUNMIRRORS-VmHWM-KB SUM-PSS-KB
# of the live push followers, one per push (RSS counts the binary's shared pages
# once per process; PSS shares them out) and runmirrors' own peak RSS.
sampler() {
    local out=$1 list pid rss args sum n rr=0 pss k v
    while :; do
        sum=0 n=0 pss=0
        list=$(ps -eo pid=,rss=,args=)
        while read -r pid rss args; do
            case $args in
                *" push-follower")
                    sum=$((sum + rss)); n=$((n + 1))
                    while read -r k v _; do
                        if [[ $k == Pss: ]]; then pss=$((pss + v)); break; fi
                    done 2>/dev/null <"/proc/$pid/smaps_rollup" || true
                    ;;
                "$S2/P/bin/runmirrors"*)
                    while read -r k v _; do
                        if [[ $k == VmHWM: ]]; then ((v <= rr)) || rr=$v; break; fi
                    done 2>/dev/null <"/proc/$pid/status" || true
                    ;;
            esac
        done <<<"$list"
        echo "$EPOCHREALTIME $sum $n $rr $pss" >>"$out"
        sleep 0.1
    done
}

scenario2() {
    local p=$S2/P lines="" i n c r f stamps tf samples logs=() row codes_a=()
    local wall maxrss ssum scount rrss spss accmax lastacc tfin codes summ
    for ((i = 1; i <= MIRRORS2; i++)); do
        n=$(printf 'd%02d' "$i")
        lines+="all $n 127.0.0.1 root 2 $WORK/keys/s2-$n"$'\n'
        logs+=("$p/log/$n.log")
    done
    make_pusher "$p" "$(pusher_conf)" "$lines"
    for c in $CONCURRENCIES; do
        pusher_conf "PUSHCONCURRENCY=$c" >"$p/etc/runmirrors.conf"
        local walls=() rsss=() hwms=() sups=() psss=() speaks=() fins=() accs=() status_all=()
        echo
        echo "==> scenario 2: $MIRRORS2 'all' downstreams, PUSHCONCURRENCY=$c, $RUNS2 runs"
        printf '%3s %7s %8s %8s %8s %8s %5s %8s %8s %8s  %s\n' run "wall" "rm RSS" "rm HWM" \
            "sup RSS" "sup PSS" "sups" "accept" "last acc" "all done" "final exit status"
        printf '%3s %7s %8s %8s %8s %8s %5s %8s %8s %8s  %s\n' "" "s" "MiB (1)" "MiB (2)" \
            "MiB pk" "MiB pk" "peak" "max ms" "s" "s" "(per-mirror logs)"
        for ((r = 1; r <= RUNS2; r++)); do
            for f in "${logs[@]}"; do : >"$f"; done
            stamps=$S2/ssh-stamps.c$c.$r
            tf=$S2/time.c$c.$r
            samples=$S2/samples.c$c.$r
            : >"$stamps"
            : >"$samples"
            note_busy "s2c${c}r$r"
            sampler "$samples" &
            SAMPLER_PID=$!
            run_pusher "$p" "$stamps" "$tf"
            ((RUN_RC == 0)) || ISSUES+=("scenario 2 c=$c run $r: runmirrors exited $RUN_RC")
            if wait_lines "$MIRRORS2" 'normal trigger \(finished\|timed out\|: exit status\)' "${logs[@]}"; then
                tfin=$(awk -v t0="$RUN_T0" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }')
            else
                tfin=">$WAIT_LIMIT"
                ISSUES+=("scenario 2 c=$c run $r: not every trigger finished within ${WAIT_LIMIT}s")
            fi
            # the follower logs its last line just before exiting
            local deadline=$(($(now_us) + 10000000))
            while pgrep -f -- " push-follower\$" >/dev/null && (($(now_us) < deadline)); do
                sleep 0.1
            done
            kill "$SAMPLER_PID" 2>/dev/null || true
            wait "$SAMPLER_PID" 2>/dev/null || true
            SAMPLER_PID=""
            wall=$(awk -v u="$RUN_US" 'BEGIN { printf "%.3f", u / 1e6 }')
            maxrss=$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$tf")
            read -r ssum scount rrss spss <<<"$(awk '
                $2 > s { s = $2 } $3 > n { n = $3 } $4 > r { r = $4 } $5 > q { q = $5 }
                END { printf "%.1f %d %.1f %.1f\n", s / 1024, n, r / 1024, q / 1024 }' "$samples")"
            read -r accmax lastacc <<<"$(awk -v t0="$RUN_T0" '
                $1 == "A" { acc[$3] = $2; if ($2 > l) l = $2; next }
                $1 != "E" { for (i = 4; i <= NF; i++) if ($i == "-i") st[$(i + 1)] = $1 }
                END {
                    for (k in st) if (k in acc && acc[k] - st[k] > m) m = acc[k] - st[k]
                    printf "%.1f %.2f\n", m * 1000, l - t0
                }' "$stamps")"
            codes=$(cat "${logs[@]}" | sed -n \
                -e 's/.*normal trigger finished: exit status \([0-9]*\) after.*/\1/p' \
                -e 's/.*normal trigger: exit status \([0-9]*\) after.*/early-\1/p' \
                -e 's/.*normal trigger timed out.*/timeout/p' |
                sort | uniq -c | awk '{ printf "%s%s:%s", (NR > 1 ? " " : ""), $2, $1 }')
            summ=$(sed -n 's/.*Summary: //p' "$p/log/runmirrors.log" | tail -n 1)
            printf '%3d %7s %8s %8s %8s %8s %5s %8s %8s %8s  %s\n' "$r" "$wall" "$maxrss" "$rrss" \
                "$ssum" "$spss" "$scount" "$accmax" "$lastacc" "$tfin" "${codes:-none}"
            [[ $summ == "$MIRRORS2 triggers sent, $MIRRORS2 delivered, 0 failed" ]] ||
                ISSUES+=("scenario 2 c=$c run $r: runmirrors log summary: ${summ:-missing}")
            walls+=("$wall"); rsss+=("$maxrss"); hwms+=("$rrss"); sups+=("$ssum"); psss+=("$spss")
            accs+=("$accmax"); speaks+=("$scount")
            [[ $tfin == ">"* ]] || fins+=("$tfin")
            read -r -a codes_a <<<"$codes"
            status_all+=("${codes_a[@]}")
        done
        row=$(printf '%s\n' "${status_all[@]}" | awk -F: '{ s[$1] += $2 } END { for (k in s) printf "%s:%d ", k, s[k] }')
        local label="all x$MIRRORS2, PUSHCONCURRENCY=$c"
        SUMMARY+=("$(printf '%-38s %-38s %s' "$label ($RUNS2 runs)" "runmirrors wall (s)" "$(printf '%s\n' "${walls[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "runmirrors own peak RSS (MiB, VmHWM)" "$(printf '%s\n' "${hwms[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "max RSS, time -v (MiB) (1)" "$(printf '%s\n' "${rsss[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "followers alive, peak" "$(printf '%s\n' "${speaks[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "followers peak sum RSS (MiB)" "$(printf '%s\n' "${sups[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "followers peak sum PSS (MiB)" "$(printf '%s\n' "${psss[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "longest ssh accept (ms)" "$(printf '%s\n' "${accs[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "start -> all syncs finished (s)" "$(printf '%s\n' "${fins[@]}" | stats)")")
        SUMMARY+=("$(printf '%-38s %-38s %s' "" "final exit statuses, all runs" "$row")")
    done
}

[[ $ONLY == 2 ]] || scenario1
[[ $ONLY == 1 ]] || scenario2

echo
echo "==> summary (median min max count)"
printf '%s\n' "${SUMMARY[@]}"
echo
echo "machine: $(nproc) cores; load average at start $LOAD_START, at end $(load)"
if [[ -n $BUSY_SEEN ]]; then
    echo "compilers were running during:$BUSY_SEEN"
else
    echo "no cargo/rustc process seen at the start of any run"
fi
if ((${#ISSUES[@]})); then
    echo
    echo "issues:"
    printf '  %s\n' "${ISSUES[@]}"
    exit 1
fi

# shellcheck shell=bash
# What the push benchmarks (benches/push.sh, benches/hub-scale.sh) share, sourced by
# them: a throwaway sshd and the processes a run leaves behind. Needs port_is_free
# (examples/local/rsyncd.sh) and WORK. Sets SSHD_PORT and SSHD_PID for its caller.
# shellcheck disable=SC2034

# True when 127.0.0.1:$1 answers with an SSH banner within 2 s.
ssh_banner() {
    local b=""
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        read -r -t 2 -N 4 b <&3 || exit 1
        [[ $b == SSH- ]]
    ) 2>/dev/null
}

# start_sshd DIR CONFIG [WRAPPER...]: an `sshd -D` on 127.0.0.1 and a free port, with its
# own host key in DIR and the sshd_config lines CONFIG (authorized keys, users, limits,
# log level: they come first, so they win over the common lines after them), started
# under the command prefix WRAPPER when one is given. Sets SSHD_PORT and SSHD_PID.
start_sshd() {
    local d=$1 extra=$2 conf attempt port i
    shift 2
    mkdir -p /run/sshd
    chmod 755 /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$d/ssh_host_ed25519_key"
    conf=$d/sshd_config
    for ((attempt = 0; attempt < 8; attempt++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        port_is_free "$port" || continue
        cat >"$conf" <<CONF
$extra
ListenAddress 127.0.0.1
Port $port
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PrintMotd no
PrintLastLog no
UseDNS no
CONF
        "$@" /usr/sbin/sshd -D -f "$conf" -E "$d/sshd.log" </dev/null >>"$d/sshd.out" 2>&1 &
        SSHD_PID=$!
        for ((i = 0; i < 200; i++)); do
            if ! kill -0 "$SSHD_PID" 2>/dev/null; then
                wait "$SSHD_PID" 2>/dev/null || true
                SSHD_PID=""
                break
            fi
            if ssh_banner "$port"; then
                SSHD_PORT=$port
                return 0
            fi
            sleep 0.05
        done
        if [[ -n $SSHD_PID ]]; then
            kill "$SSHD_PID" 2>/dev/null || true
            wait "$SSHD_PID" 2>/dev/null || true
            SSHD_PID=""
        fi
    done
    echo "could not start sshd; see $d/sshd.log and $d/sshd.out" >&2
    tail -5 "$d/sshd.log" "$d/sshd.out" >&2 || true
    return 1
}

# Every descendant of PID, parents before children.
descendants() {
    local kids k
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null) || return 0
    for k in $kids; do
        echo "$k"
        descendants "$k"
    done
}

# leftover_pids [KEEP...]: processes of the benchmark that outlived their parents (hub
# subshells, ssh clients, the follower, forced commands, downstream syncs) carry a path
# under WORK in their arguments; the ones named in KEEP (the sshd, a proxy) and we are not
# counted.
leftover_pids() {
    local list pid args k skip
    list=$(ps -eo pid=,args=) || return 0
    while read -r pid args; do
        skip=false
        for k in "$$" "$BASHPID" "$@"; do [[ $pid == "$k" ]] && skip=true; done
        $skip && continue
        if [[ $args == *"$WORK/"* ]]; then echo "$pid"; fi
    done <<<"$list"
}

#!/bin/bash
# tests/bench/bench.sh - throughput, latency and idle-connection memory of
# mthttpd, alone or beside nginx, lighttpd, Apache (event MPM) and H2O, all
# started here on 127.0.0.1 with the same document root and settings and
# measured interleaved in one run.  See tests/bench/README.md.
#
#   tests/bench/bench.sh [--quick | --full] [--peers [LIST]] [--bin PATH]
#                        [--scenarios LIST] [--install] [other options]
#
#   --quick            1 run of 2 s per scenario and server, 2,000 idle
#                      connections (default; about 2 minutes with all peers)
#   --full             3 runs of 10 s, median and min-max; 10,000 idle
#                      connections (about 20 minutes with all peers)
#   --peers [LIST]     also run the peers: all of nginx,lighttpd,apache,h2o,
#                      or the comma-separated LIST
#   --bin PATH         the mthttpd binary (default: _build/src/mthttpd)
#   --scenarios LIST   comma-separated subset of ka50,ka1000,close,mid,big,
#                      upload,idle,tls_close,tls_ka50,tls_big (default: all)
#   --tls              the TLS scenarios only (tls_close,tls_ka50,tls_big)
#   --install          apt-get install the missing packages first
#   --reps N, --duration S, --idle-conns N
#                      override the mode's repetitions, seconds per run and
#                      idle connections
#   --max-other PCT    a run during which other processes used more than PCT
#                      % of a CPU is repeated once (--full only; default 30)
#   --no-pin           do not pin (servers CPU 0, load generator CPU 1)
#   --keep             keep the work directory (configs, logs, raw results)
#
# Scenarios (HTTP/1.1, wrk with one thread):
#   ka50     keep-alive, 50 connections, GET /index.html (2 KB)   req/s
#   ka1000   keep-alive, 1000 connections, same page              req/s, p99
#   close    a new connection per request (Connection: close), 50  req/s
#   mid      keep-alive, 50 connections, GET /mid.bin (200 KB)    req/s
#   big      keep-alive, 4 connections, GET /big.bin (50 MB)      MB/s
#   upload   keep-alive, 50 connections, a 195-byte JSON body: mthttpd and
#            h2o POST /upload, nginx/lighttpd/Apache WebDAV PUT to a new
#            name each time; stored on /dev/shm                   req/s
#   idle     hold N idle keep-alive connections: memory per connection
#            (KiB, from the server's process-tree PSS and RSS before/after)
#            and the latency of fresh requests made meanwhile
#   tls_close  HTTPS, a new connection per request, 50 at a time:
#            handshakes/s and server CPU per handshake
#   tls_ka50   HTTPS keep-alive, 50 connections, /index.html: req/s, CPU
#   tls_big    HTTPS keep-alive, 4 connections, /big.bin (50 MB): MB/s
#   (TLS: every server on a second port, same ECDSA P-256 certificate and
#   suites, see servers.sh; wrk negotiates TLS 1.3, and each of its
#   connections resumes with the ticket its previous one received: after
#   the first, tls_close measures resumed handshakes)
#
# Prints one markdown table per scenario group; the last column compares
# mthttpd with the best peer.  Not part of `make check` or CI: on a shared
# machine the absolute numbers are noise; compare ratios within one run.
# Loopback only; everything started here is stopped by PID on exit.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=servers.sh
. "$here/servers.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

all_scenarios="ka50 ka1000 close mid big upload idle tls_close tls_ka50 tls_big"
tls_scenarios="tls_close tls_ka50 tls_big"
mode=quick peers="" scenarios="" install=0 pin=1 keep=0 max_other=30
reps="" dur="" idle_conns=""
MTHTTPD_BIN=$top/_build/src/mthttpd
while [ $# -gt 0 ]; do
    case $1 in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --peers)
        if [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ]; then
            peers=$2
            shift
        else
            peers=all
        fi
        ;;
    --peers=*) peers=${1#*=} ;;
    --bin) [ $# -ge 2 ] || { usage >&2; exit 2; }; MTHTTPD_BIN=$(readlink -f "$2"); shift ;;
    --scenarios) [ $# -ge 2 ] || { usage >&2; exit 2; }; scenarios=$2; shift ;;
    --scenarios=*) scenarios=${1#*=} ;;
    --tls) scenarios=$tls_scenarios ;;
    --install) install=1 ;;
    --reps) reps=$2; shift ;;
    --duration) dur=$2; shift ;;
    --idle-conns) idle_conns=$2; shift ;;
    --max-other) max_other=$2; shift ;;
    --no-pin) pin=0 ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# ---- mode and lists -------------------------------------------------------
if [ "$mode" = full ]; then
    : "${reps:=3}" "${dur:=10}" "${idle_conns:=10000}"
    quiet_ms=15000 max_tries=2
else
    : "${reps:=1}" "${dur:=2}" "${idle_conns:=2000}"
    quiet_ms=500 max_tries=1
fi
for v in "$reps" "$dur" "$idle_conns" "$max_other"; do
    case $v in '' | *[!0-9]*) echo "not a number: '$v'" >&2; exit 2 ;; esac
done

[ "$peers" = all ] && peers=$BENCH_PEERS_ALL
peers=${peers//,/ }
for p in $peers; do
    list_has "$BENCH_PEERS_ALL" "$p" || { echo "unknown peer '$p' (known: $BENCH_PEERS_ALL)" >&2; exit 2; }
done
[ -n "$scenarios" ] || scenarios=$all_scenarios
scenarios=${scenarios//,/ }
for sc in $scenarios; do
    list_has "$all_scenarios" "$sc" || { echo "unknown scenario '$sc' (known: $all_scenarios)" >&2; exit 2; }
done
servers="mthttpd $peers"

# ---- packages --------------------------------------------------------------
tools=(wrk:wrk curl:curl taskset:util-linux ps:procps timeout:coreutils)
list_has "$scenarios" idle && tools+=(cc:gcc cc:libc6-dev)
use_tls=0
for sc in $tls_scenarios; do list_has "$scenarios" "$sc" && use_tls=1; done
[ "$use_tls" = 1 ] && tools+=(openssl:openssl)
need_packages "$install" "$peers" "${tools[@]}"

# ---- limits, CPUs, work directory -----------------------------------------
raise_fd_limit
if list_has "$scenarios" idle && [ $((idle_conns + 100)) -gt "$FD_LIMIT" ]; then
    idle_conns=$((FD_LIMIT - 100))
    echo "note: RLIMIT_NOFILE is $FD_LIMIT; holding $idle_conns idle connections" >&2
fi
if list_has "$scenarios" idle && list_has "$peers" lighttpd && [ $((FD_LIMIT / 2)) -le "$idle_conns" ]; then
    echo "note: lighttpd accepts at most $((FD_LIMIT / 2)) connections (half of RLIMIT_NOFILE $FD_LIMIT):" \
        "with $idle_conns idle ones held its fresh requests will wait" >&2
fi
[ "$(nproc)" -ge 2 ] || pin=0
if [ "$pin" = 1 ]; then
    srv_pin=(taskset -c 0) cli_pin=(taskset -c 1) SRV_NCPU=1
else
    srv_pin=() cli_pin=() SRV_NCPU=$(nproc)
fi
export FD_LIMIT SRV_NCPU MTHTTPD_BIN

work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-bench.XXXXXX") || exit 1
chmod 755 "$work" # the peers' workers run as nobody / www-data
upbase=$(make_upload_base "$work" mthttpd-bench) || exit 1
results=$work/results.txt
: > "$results"

declare -A spid sport stport
started=() # server PIDs, stopped on exit
aux=()     # helper PIDs (holdconns)
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
    local p
    trap - EXIT INT TERM
    for p in "${aux[@]}"; do kill -TERM "$p" 2> /dev/null; done
    stop_trees 5 "${started[@]}"
    for p in "${aux[@]}"; do wait "$p" 2> /dev/null; done
    rm -rf "$upbase"
    if [ "$keep" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docroot=$work/www
body=$work/upload.json
make_docroot "$docroot" "$body" || { echo "could not create the document root" >&2; exit 1; }
if list_has "$scenarios" idle; then
    cc -O2 -o "$work/holdconns" "$here/holdconns.c" || exit 1
fi
if [ "$use_tls" = 1 ]; then
    make_tls_cert "$work" || { echo "openssl could not make the certificate" >&2; exit 1; }
    chmod 644 "$TLS_KEY"
fi

# ---- start the servers -----------------------------------------------------
port=28080
running="" not_started=""
for s in $servers; do
    port=$(pick_port "$port") || exit 1
    tport=""
    if [ "$use_tls" = 1 ]; then
        tport=$(pick_port $((port + 1))) || exit 1
    fi
    srv_config "$s" "$work/$s" "$port" "$docroot" "$upbase/$s" "$tport"
    (srv_exec "$s" "$work/$s" "${srv_pin[@]}") > "$work/$s/stdout.log" 2>&1 &
    spid[$s]=$! sport[$s]=$port stport[$s]=$tport
    started+=("$!")
    if wait_serving "$port" "${spid[$s]}" 15 &&
        { [ -z "$tport" ] || wait_serving "$tport" "${spid[$s]}" 5 https; }; then
        running="$running $s"
    else
        echo "$s did not start on port $port; its output:" >&2
        tail -n 5 "$work/$s/stdout.log" "$work/$s/error.log" >&2 2> /dev/null
        [ "$s" = mthttpd ] && exit 1
        stop_tree "${spid[$s]}" 2
        not_started="$not_started $s"
    fi
    port=$((${tport:-$port} + 1))
done
servers=${running# }
echo "servers: $(for s in $servers; do printf '%s (port %s%s, pid %s) ' "$s" "${sport[$s]}" \
    "${stport[$s]:+, TLS ${stport[$s]}}" "${spid[$s]}"; done)" >&2
# what a TLS client like wrk negotiates with each server (the same for all)
if [ "$use_tls" = 1 ]; then
    for s in $servers; do
        echo "  $s TLS: $(openssl s_client -connect "127.0.0.1:${stport[$s]}" -brief </dev/null 2>&1 |
            sed -n 's/^\(Protocol version\|Ciphersuite\|Server Temp Key\): */\1 /p' | paste -sd';' -)" >&2
    done
fi

# ---- measurement helpers ---------------------------------------------------
hz=$(getconf CLK_TCK)

# CPU ticks (user+system, with reaped children) of a process tree
tree_ticks() {
    local files=() p
    for p in $(tree_pids "$1"); do files+=("/proc/$p/stat"); done
    # the fields after "pid (comm) ": state is $1, utime..cstime $12..$15
    # (cat: a process may be gone by now, and mawk stops at a missing file)
    cat "${files[@]}" 2> /dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}

# "rss_kb pss_kb" of a process tree
tree_mem() {
    local st=() sm=() p
    for p in $(tree_pids "$1"); do st+=("/proc/$p/status") sm+=("/proc/$p/smaps_rollup"); done
    echo "$(cat "${st[@]}" 2> /dev/null | awk '/^VmRSS:/ { t += $2 } END { print t + 0 }')" \
        "$(cat "${sm[@]}" 2> /dev/null | awk '/^Pss:/ { t += $2 } END { print t + 0 }')"
}

empty_dir() { find "$1" -mindepth 1 -delete 2> /dev/null; }

# run_wrk SCEN REP SERVER CONNS PATH [wrk options] - one measured run.
# Appends one line of key=value to the results.  For uploads: wrk_env holds
# the wrk.lua settings, $reset_dir (emptied before each try, counted after)
# the upload directory, $extra more fields for the line.
reset_dir="" wrk_env=() extra="" scheme=http
run_wrk() {
    local scen=$1 rep=$2 s=$3 conns=$4 path=$5
    shift 5
    local try line t0 t1 m0 m1 w0 w1 cli other
    for try in $(seq 1 "$max_tries"); do
        [ -n "$reset_dir" ] && empty_dir "$reset_dir"
        wait_quiet "$quiet_ms"
        t0=$(tree_ticks "${spid[$s]}") m0=$(machine_ticks) w0=$(now_ms)
        {
            TIMEFORMAT='%U %S'
            time env "${wrk_env[@]}" "${cli_pin[@]}" timeout $((dur + 30)) \
                wrk -t1 -c"$conns" -d"${dur}s" --timeout 5s -s "$here/wrk.lua" "$@" \
                "$scheme://127.0.0.1:$([ "$scheme" = https ] && echo "${stport[$s]}" || echo "${sport[$s]}")$path" \
                > "$work/wrk.out" 2>&1
        } 2> "$work/time.out"
        t1=$(tree_ticks "${spid[$s]}") m1=$(machine_ticks) w1=$(now_ms)
        line=$(grep '^BENCH ' "$work/wrk.out")
        if [ -z "$line" ]; then
            echo "wrk failed against $s ($scen):" >&2
            cat "$work/wrk.out" >&2
            echo "scen=$scen rep=$rep server=$s failed=1" >> "$results"
            return 1
        fi
        cli=$(awk '{ printf "%.0f", ($1 + $2) * '"$hz"' }' "$work/time.out")
        # CPU the machine spent on neither the server nor wrk, in % of one
        # CPU: loopback softirq, kernel threads, and whatever else runs
        other=$(((m1 - m0 - (t1 - t0) - cli) * 100 * 1000 / (hz * (w1 - w0))))
        [ "$other" -lt 0 ] && other=0
        [ "$other" -le "$max_other" ] && break
    done
    # uploads: the files the server stored, to compare with its answers
    [ -n "$reset_dir" ] && line="$line files=$(find "$reset_dir" -type f | wc -l) $extra"
    echo "scen=$scen rep=$rep server=$s ${line#BENCH } srv_ticks=$((t1 - t0)) hz=$hz other_pct=$other tries=$try" >> "$results"
}

run_upload() { # SCEN REP SERVER
    local s=$3 method path
    read -r method path <<< "$(srv_upload "$s")"
    wrk_env=(BENCH_METHOD="$method" BENCH_BODY="$body" BENCH_RUN="$RANDOM$RANDOM")
    # a path ending in / (WebDAV) gets a new file name for every request
    [ "${path%/}" != "$path" ] && wrk_env+=(BENCH_PATH_PREFIX="$path")
    reset_dir=$upbase/$s extra="request=$method:$path"
    run_wrk "$1" "$2" "$s" 50 "$path"
    empty_dir "$reset_dir"
    wrk_env=() reset_dir="" extra=""
}

run_idle() { # SCEN REP SERVER
    local scen=$1 rep=$2 s=$3 pid=${spid[$3]} mem0 mem1 hp i est="" lat="" held
    wait_quiet "$quiet_ms"
    mem0=$(tree_mem "$pid")
    "${cli_pin[@]}" "$work/holdconns" "${sport[$s]}" "$idle_conns" /index.html 300 > "$work/hold.out" 2>&1 &
    hp=$!
    aux+=("$hp")
    for i in $(seq 1 900); do # up to 90 s
        est=$(grep '^established' "$work/hold.out")
        [ -n "$est" ] && break
        kill -0 "$hp" 2> /dev/null || break
        sleep 0.1
    done
    sleep 1 # let the server finish whatever the last accepts started
    mem1=$(tree_mem "$pid")
    # fresh connections while the idle ones are held; at most 3 s each, so
    # that all of it stays well inside the 30 s keep-alive timeout
    for i in 1 2 3 4 5; do
        lat="$lat,$("${cli_pin[@]}" curl -s -o /dev/null -m 3 -w '%{http_code}:%{time_total}' \
            "http://127.0.0.1:${sport[$s]}/index.html")"
    done
    kill -USR1 "$hp" 2> /dev/null
    for i in $(seq 1 100); do kill -0 "$hp" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$hp" 2> /dev/null
    wait "$hp" 2> /dev/null
    held=$(grep '^held' "$work/hold.out")
    [ -n "$est" ] || { echo "holdconns against $s did not finish:" >&2; cat "$work/hold.out" >&2; }
    echo "scen=$scen rep=$rep server=$s conns=$idle_conns ${est#established } ${held#held } rss0_kb=${mem0% *} pss0_kb=${mem0#* } rss1_kb=${mem1% *} pss1_kb=${mem1#* } fresh=${lat#,}" >> "$results"
}

measure() { # SCEN REP SERVER
    case $1 in
    ka50) run_wrk "$@" 50 /index.html ;;
    ka1000) run_wrk "$@" 1000 /index.html ;;
    close) run_wrk "$@" 50 /index.html -H "Connection: close" ;;
    mid) run_wrk "$@" 50 /mid.bin ;;
    big) run_wrk "$@" 4 /big.bin ;;
    upload) run_upload "$@" ;;
    idle) run_idle "$@" ;;
    tls_close) scheme=https run_wrk "$@" 50 /index.html -H "Connection: close" ;;
    tls_ka50) scheme=https run_wrk "$@" 50 /index.html ;;
    tls_big) scheme=https run_wrk "$@" 4 /big.bin ;;
    esac
}

# ---- warm-up: page cache, open-file caches, worker threads -----------------
for s in $servers; do
    for f in index.html mid.bin big.bin; do
        curl -s -o /dev/null "http://127.0.0.1:${sport[$s]}/$f"
        [ -n "${stport[$s]}" ] && curl -k -s -o /dev/null "https://127.0.0.1:${stport[$s]}/$f"
    done
    "${cli_pin[@]}" timeout 30 wrk -t1 -c50 -d1s "http://127.0.0.1:${sport[$s]}/index.html" > /dev/null 2>&1
done

# ---- the runs: scenario, then repetition, then every server, the order
# rotated each repetition so that no server always runs first -------------
load0=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -t 2 ]; then progress='\r'; else progress='\n'; fi
t_start=$(date +%s)
read -ra order <<< "$servers"
nsrv=${#order[@]}
for sc in $scenarios; do
    r_sc=$reps
    [ "$sc" = idle ] && r_sc=1 # one idle round is enough for memory
    for rep in $(seq 1 "$r_sc"); do
        for i in $(seq 0 $((nsrv - 1))); do
            s=${order[$(((i + rep - 1) % nsrv))]}
            printf "${progress}[%4ds] %-7s rep %d/%d  %-9s" $(($(date +%s) - t_start)) "$sc" "$rep" "$r_sc" "$s" >&2
            measure "$sc" "$rep" "$s"
        done
    done
done
if [ "$progress" = '\r' ]; then printf '\r%60s\r' ''; else echo; fi >&2
elapsed=$(($(date +%s) - t_start))

# servers that logged nothing would not be doing the common work
for s in $servers; do
    [ -s "$work/$s/access.log" ] || echo "warning: $s wrote no access log" >&2
done

# ---- report ----------------------------------------------------------------
if [ "$pin" = 1 ]; then where="servers on CPU 0, wrk on CPU 1"; else where="not pinned"; fi
echo
echo "## mthttpd bench: $mode mode, $reps x ${dur}s per cell, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "$("$MTHTTPD_BIN" --version 2> /dev/null | head -1); $(nproc) CPUs, $where; load average at start $load0;" \
    "$elapsed s of measurement; RLIMIT_NOFILE $FD_LIMIT; uploads on $(df --output=fstype "$upbase" 2> /dev/null | tail -1)."
[ "$use_tls" = 1 ] && echo "TLS: $(openssl version | cut -d' ' -f1-2), ECDSA P-256 certificate; kTLS: $(
    if grep -qw '^tls' /proc/modules 2>/dev/null || [ -d /sys/module/tls ]; then echo "kernel tls module loaded"; else echo "no kernel tls module"; fi)."
[ -n "$not_started" ] && echo && echo "Not measured, did not start:$not_started."
awk -v sut=mthttpd -v servers="$servers" -v scenarios="$scenarios" -v reps="$reps" \
    -f "$here/report.awk" "$results"
if [ "$keep" = 1 ]; then echo; echo "raw results: $results"; fi
exit 0

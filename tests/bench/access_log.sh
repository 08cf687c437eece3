#!/bin/bash
# tests/bench/access_log.sh - what the packaged access log costs: mthttpd with
# the packaged /etc/mthttpd.conf (access_log = a file) against the same file
# with access_log = "off", interleaved in one run, on 127.0.0.1.
#
#   flock /tmp/mthttpd-bench.lock tests/bench/access_log.sh [--bin PATH]
#                   [--reps N] [--duration S] [--max-cost PCT] [--busy-poll US]
#
# The packaged file is etc/mthttpd.conf.in with only its paths moved into a
# temporary directory (document root: resources/; the access log there
# instead of /var/log/mthttpd), the address 127.0.0.1 on a free port, and
# busy_poll = US (default 0: then the server's CPU time is serving time
# only; the packaged 500 fills wrk's gaps with polling, see README).
# Each repetition runs wrk -t1 -c50 for S seconds (default 5) against
# GET /index.html, "off" then "file", each with a fresh server (CPU 0, wrk on
# CPU 1 when there are two).  Prints the median req/s and the median server
# CPU time per request (user + system, every thread, the log writer
# included) of each, their ratios, and for the file runs the requests served
# vs the lines written.  Exits 1 when a line is missing, or when the file
# costs more than PCT % (default 10): by CPU time per request, which on a
# CPU-bound server is what limits throughput, and which other load on a
# shared machine moves much less than req/s.  Read the ratios of one run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$top/_build/src/mthttpd reps=3 dur=5 max_cost=10 busy_poll=0
while [ $# -gt 0 ]; do
    case $1 in
    --bin) bin=$(readlink -f "$2"); shift ;;
    --reps) reps=$2; shift ;;
    --duration) dur=$2; shift ;;
    --max-cost) max_cost=$2; shift ;;
    --busy-poll) busy_poll=$2; shift ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
    shift
done
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$bin" ] || { echo "no mthttpd binary at $bin (build first)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-bench-al.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pin_srv=() pin_wrk=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_srv=(taskset -c 0) pin_wrk=(taskset -c 1)
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# config MODE: the packaged file, paths moved, access_log as MODE says
config() {
    local al="\"$work/access.log\""
    [ "$1" = off ] && al='"off"'
    sed -e "s|@pkgdatadir@/www|$top/resources|; s|@localstatedir@|/var|g; s|@pkgdatadir@|/usr/share/mthttpd|g" \
        -e "s|^port = .*|port = $port;|; s|^listen_address = .*|listen_address = \"127.0.0.1\";|" \
        -e "s|^uploads_dir = .*|uploads_dir = \"$work/uploads\";|" \
        -e "s|^access_log = .*|access_log = $al;|" \
        -e "s|^busy_poll = .*|busy_poll = $busy_poll;|" \
        "$top/etc/mthttpd.conf.in" > "$work/mthttpd.conf"
    grep -q "^access_log = $al;" "$work/mthttpd.conf" || { echo "cannot set access_log" >&2; exit 2; }
}

start() {
    local _
    port=$(free_port)
    config "$1"
    rm -f "$work/access.log"
    "${pin_srv[@]}" "$bin" -c "$work/mthttpd.conf" 2> "$work/server.log" &
    pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.05
    done
    echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 2
}

stop() { kill "$pid"; wait "$pid"; pid=; }
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

mkdir -p "$work/uploads"
off=() file=() off_cpu=() file_cpu=() missing=0
for r in $(seq "$reps"); do
    for mode in off file; do
        start "$mode"
        curl -s -o /dev/null "http://127.0.0.1:$port/index.html" # warm the file cache
        t0=$(cpu_ticks)
        out=$("${pin_wrk[@]}" wrk -t1 -c50 -d"${dur}s" "http://127.0.0.1:$port/index.html")
        sleep 1.2 # the writer's last lines of the run (at most a second old)
        t1=$(cpu_ticks)
        rps=$(printf '%s\n' "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
        n=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9]*\) requests in .*/\1/p')
        us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
        stop # flushes the log
        if [ "$mode" = off ]; then
            off+=("$rps") off_cpu+=("$us")
            echo "run $r off:  $rps req/s, $us us CPU/request"
        else
            file+=("$rps") file_cpu+=("$us")
            lines=$(wc -l < "$work/access.log")
            # wrk counts what it read; the server may have answered a few
            # requests more (in flight when wrk stopped), one line each
            [ "$lines" -ge $((n + 1)) ] || missing=1
            echo "run $r file: $rps req/s, $us us CPU/request; wrk $n requests (+1 warm-up), $lines lines"
        fi
    done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_off=$(median "${off[@]}") m_file=$(median "${file[@]}")
c_off=$(median "${off_cpu[@]}") c_file=$(median "${file_cpu[@]}")
ratio=$(awk -v a="$m_file" -v b="$m_off" 'BEGIN { printf "%.3f", a / b }')
cratio=$(awk -v a="$c_off" -v b="$c_file" 'BEGIN { printf "%.3f", a / b }')
echo
echo "| access_log (median of $reps x ${dur} s, wrk -t1 -c50, 2 KB page, busy_poll = $busy_poll) | req/s | server CPU us/request |"
echo "|---|---|---|"
echo "| \"off\" | $m_off | $c_off |"
echo "| packaged default (file) | $m_file | $c_file |"
echo "| file / off (throughput; CPU: off / file) | $ratio | $cratio |"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$missing" = 0 ] || { echo "FAIL: lines missing from the access log"; exit 1; }
if awk -v r="$cratio" -v c="$max_cost" 'BEGIN { exit !(r >= 1 - c / 100) }'; then
    echo "PASS: the access log costs at most $max_cost% (CPU per request)"
else
    echo "FAIL: the access log costs more than $max_cost% (CPU per request)"; exit 1
fi

#!/bin/bash
# tests/bench/bench.sh - throughput of mthttpd, alone or beside nginx and
# lighttpd on the same docroot, measured with wrk on loopback.
#
#   tests/bench/bench.sh [--quick | --full] [--peers] [--bin PATH] [--install]
#
#   --quick    one 3 s run per scenario (default; about a minute)
#   --full     three 10 s runs per scenario, the median is reported
#   --peers    also run nginx and lighttpd (Debian's nginx-light, lighttpd)
#   --bin      the mthttpd binary (default: _build/src/mthttpd)
#   --install  apt-get install what is missing (wrk, and the peers)
#
# Servers are pinned to CPU 0 and wrk to CPU 1, so the numbers are per core;
# every server gets the same settings: keep-alive 30 s, 1000 requests per
# connection, access log to a file, sendfile.  Scenarios: keep-alive with 50
# connections on a 2 KB page, a new connection per request, a 200 KB file,
# a 50 MB file with 4 connections.  Prints one markdown table: req/s, MB/s,
# p99 latency, errors and the ratio to the best peer.  Loopback only;
# everything it starts is stopped by PID when it exits.
#
# Not part of `make check` or CI: timings on a shared machine are noise.
# Compare ratios within one run.
set -euo pipefail

mode=quick peers=0 install=0
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/_build/src/mthttpd
while [ $# -gt 0 ]; do
    case $1 in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --peers) peers=1 ;;
    --install) install=1 ;;
    --bin) bin=$(readlink -f "$2"); shift ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
    shift
done
if [ "$mode" = full ]; then dur=10 reps=3; else dur=3 reps=1; fi

need="wrk curl"
[ "$peers" = 1 ] && need="$need nginx-light lighttpd"
missing=
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$install" = 1 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
        echo "missing:$missing (run with --install)" >&2
        exit 2
    fi
fi
[ -x "$bin" ] || { echo "no mthttpd binary at $bin (build first, or --bin)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-bench.XXXXXX")
chmod 755 "$work" # nginx's workers run as another user
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The docroot: a 2 KB page, a 200 KB file, a 50 MB file.
root=$work/www
mkdir -p "$root" "$work/uploads"
head -c 2048 /dev/urandom | base64 -w 76 | head -c 2048 > "$root/index.html"
head -c 204800 /dev/urandom > "$root/mid.bin"
head -c 52428800 /dev/urandom > "$root/big.bin"
chmod -R a+rX "$root"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_up() { # wait_up PORT
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/index.html" && return 0
        sleep 0.05
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

start_mthttpd() {
    local port=$1 d=$work/mthttpd
    mkdir -p "$d"
    cat > "$d/mthttpd.conf" <<C
port = $port;
listen_address = "127.0.0.1";
document_root = "$root";
uploads_dir = "$work/uploads";
allowed_hosts = ["localhost", "127.0.0.1"];
keepalive_timeout = 30;
max_requests = 1000;
queue_size = 4096;
access_log = "$d/access.log";
log_level = "warning";
C
    taskset -c 0 "$bin" -c "$d/mthttpd.conf" 2> "$d/error.log" &
    pids+=($!)
}

start_nginx() {
    local port=$1 d=$work/nginx
    mkdir -p "$d"
    cat > "$d/nginx.conf" <<C
worker_processes 1;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 16384; }
http {
  include /etc/nginx/mime.types;
  access_log $d/access.log combined;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 30s; keepalive_requests 1000;
  open_file_cache max=1000 inactive=20s;
  server { listen 127.0.0.1:$port backlog=4096; root $root; }
}
C
    taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;' 2>> "$d/error.log" &
    pids+=($!)
}

start_lighttpd() {
    local port=$1 d=$work/lighttpd
    mkdir -p "$d"
    cat > "$d/lighttpd.conf" <<C
server.document-root = "$root"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$d/error.log"
server.max-keep-alive-idle = 30
server.max-keep-alive-requests = 1000
server.max-fds = 16384
server.max-connections = 8192
server.modules += ("mod_accesslog")
accesslog.filename = "$d/access.log"
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
C
    taskset -c 0 lighttpd -D -f "$d/lighttpd.conf" &
    pids+=($!)
}

# run_wrk PORT CONNS PATH EXTRA... -> "req_s mb_s p99_ms errors"
run_wrk() {
    local port=$1 conns=$2 path=$3
    shift 3
    taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" --latency "$@" \
        "http://127.0.0.1:$port$path" 2>&1 | awk '
        /Requests\/sec:/ { rps = $2 }
        /Transfer\/sec:/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+/, "", v);
                           mb = (u == "GB") ? v * 1024 : (u == "MB") ? v : (u == "KB") ? v / 1024 : v / 1048576 }
        /^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+/, "", v);
                   p99 = (u == "s") ? v * 1000 : (u == "us") ? v / 1000 : v }
        /Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
        /Non-2xx/ { err += $NF }
        END { printf "%.0f %.1f %.2f %d\n", rps, mb, p99, err }'
}

servers="mthttpd"
[ "$peers" = 1 ] && servers="mthttpd nginx lighttpd"
declare -A port
for s in $servers; do
    port[$s]=$(free_port)
    "start_$s" "${port[$s]}"
    wait_up "${port[$s]}"
done

scenarios="ka50 close mid big"
declare -A result
for sc in $scenarios; do
    for s in $servers; do
        runs=()
        for _ in $(seq 1 "$reps"); do
            case $sc in
            ka50) r=$(run_wrk "${port[$s]}" 50 /index.html) ;;
            close) r=$(run_wrk "${port[$s]}" 50 /index.html -H "Connection: close") ;;
            mid) r=$(run_wrk "${port[$s]}" 50 /mid.bin) ;;
            big) r=$(run_wrk "${port[$s]}" 4 /big.bin) ;;
            esac
            runs+=("$r")
        done
        # the median run by req/s
        result[$sc,$s]=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")
    done
done

echo
echo "mthttpd bench, $mode mode ($reps x ${dur}s per cell), $(date -u +%Y-%m-%d), $(nproc) CPUs, servers on CPU 0, wrk on CPU 1"
echo
echo "| scenario | server | req/s | MB/s | p99 ms | errors | req/s vs best peer |"
echo "|---|---|---|---|---|---|---|"
for sc in $scenarios; do
    best=0
    for s in $servers; do
        [ "$s" = mthttpd ] && continue
        v=$(echo "${result[$sc,$s]}" | cut -d' ' -f1)
        [ "$v" -gt "$best" ] && best=$v
    done
    for s in $servers; do
        read -r rps mb p99 err <<< "${result[$sc,$s]}"
        ratio="-"
        if [ "$s" = mthttpd ] && [ "$best" -gt 0 ]; then
            ratio=$(awk -v a="$rps" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
        fi
        echo "| $sc | $s | $rps | $mb | $p99 | $err | $ratio |"
    done
done

#!/bin/bash
# tests/bench/upload_auth.sh - uploads/s with upload authentication on (the
# credentials cache warm) against uploads/s without it, in one run:
# the same daemon binary, the same 195-byte JSON body, wrk with one thread
# and 50 keep-alive connections, the two configurations interleaved REPS
# times; prints the medians and their ratio (#14 asks for >= 0.90).
#
#   flock /tmp/mthttpd-bench.lock tests/bench/upload_auth.sh [REPS] [SECONDS]
#
# Users file: `htpasswd -B` at its default cost.  Uploads go to /dev/shm
# (the fsyncs there cost nothing: what is measured is the request path).
# Loopback only; the daemons are stopped by PID.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${MTHTTPD_BIN:-$top/_build/src/mthttpd}
reps=${1:-3}
secs=${2:-5}
for t in wrk htpasswd; do
    command -v $t > /dev/null || { echo "upload_auth.sh: $t not installed" >&2; exit 2; }
done
work=$(mktemp -d /dev/shm/mthttpd-authbench.XXXXXX) || exit 2
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www" "$work/up"
echo ok > "$work/www/index.html"
htpasswd -cbB "$work/users" bench bench-password 2> /dev/null
# valid JSON of 195 bytes
python3 - "$work/body.json" << 'PY'
import json, sys
d = {"sensor": "bench", "unit": "C", "readings": list(range(1, 30))}
s = json.dumps(d, separators=(",", ":"))
s = s + " " * (195 - len(s))
open(sys.argv[1], "w").write(s[:195])
PY

run() { # MODE -> req/s
    local mode=$1 port conf=$work/$1.conf auth=
    cat > "$conf" << CONF
port = 0;
listen_address = "127.0.0.1";
document_root = "$work/www";
uploads_dir = "$work/up";
allowed_hosts = ["localhost", "127.0.0.1"];
max_requests = 1000000;
max_body_size = 4096;
access_log = "off";
log_level = "info";
CONF
    if [ "$mode" = on ]; then
        echo "upload_users_file = \"$work/users\";" >> "$conf"
        auth="Basic $(printf '%s' bench:bench-password | base64 -w0)"
    fi
    "$bin" -c "$conf" 2> "$work/$mode.log" &
    pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$mode.log" | head -1)
        [ -n "$port" ] && grep -q ready "$work/$mode.log" && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "daemon did not start" >&2; cat "$work/$mode.log" >&2; exit 1; }
    # warm the cache (and the daemon)
    BENCH_METHOD=POST BENCH_BODY=$work/body.json BENCH_AUTH=$auth \
        wrk -t1 -c4 -d1s -s "$here/wrk.lua" "http://127.0.0.1:$port/upload" > /dev/null
    BENCH_METHOD=POST BENCH_BODY=$work/body.json BENCH_AUTH=$auth \
        wrk -t1 -c50 -d"${secs}s" -s "$here/wrk.lua" "http://127.0.0.1:$port/upload" \
        > "$work/$mode.wrk"
    kill "$pid"
    wait "$pid" 2> /dev/null
    pid=
    find "$work/up" -name 'upload_*' -delete
    awk '/^BENCH/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (v["err_status"] + v["err_read"] + v["err_write"] > 0) print "ERR";
        else printf "%.0f\n", v["requests"] * 1e6 / v["duration_us"] }' "$work/$mode.wrk"
}

off=() on=()
for r in $(seq "$reps"); do
    off+=("$(run off)")
    on+=("$(run on)")
    echo "rep $r: without auth ${off[-1]} uploads/s, with auth ${on[-1]} uploads/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_off=$(median "${off[@]}")
m_on=$(median "${on[@]}")
echo "median: without auth $m_off uploads/s, with auth (cache warm) $m_on uploads/s," \
    "ratio $(awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "%.3f", a / b }')"

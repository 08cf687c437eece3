#!/bin/sh
# Three mthttpd nodes behind a real HAProxy (send-proxy-v2, health checks on
# the admin listener's /health), one uploads directory shared by both, all
# on loopback.  While a client loops GETs and uploads through HAProxy, each
# node in turn is stopped (SIGTERM: /health turns 503, drain_delay 2 s) and
# started again.  Then: no request failed; every upload that got 201 reads
# back through HAProxy; the nodes' access logs show the client's address
# (127.0.0.2), not HAProxy's (127.0.0.1); /metrics passes promtool, and the
# request counters of the nodes grow by exactly what the client sent.
# Three daemons on loopback rather than containers or network namespaces:
# what is tested is the protocol between HAProxy and the nodes and the
# stop sequence, which loopback carries the same; the client's own source
# address (127.0.0.2) tells it apart from HAProxy's (127.0.0.1).
# Shared storage without O_TMPFILE (NFS): where the test may make UTS
# namespaces (root), each node runs with a host name of its own (node1..3)
# and the fallback forced (MTHTTPD_FORCE_NO_TMPFILE=1), so the uploads go
# through .mthttpd-tmp.nodeN.* files in the one shared directory; a node's
# restart must remove its own stale temporary file and leave the others'.
# Bounded: 15 to 35 s (more on a loaded machine); every process is stopped
# by PID.
# Exit status: 0 pass, 1 fail, 77 skipped (no haproxy, curl or python3).
set -u
bin=${MTHTTPD_BIN:-../src/mthttpd}
src=${MTHTTPD_SRCDIR:-..}
for t in haproxy curl python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-haproxy.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# N currently free loopback ports (bind :0, close: a small race, which
# start_healthy below closes for the nodes' first start)
free_ports() { # N
    python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
set -- $(free_ports 7)
front=$1 p1=$2 p2=$3 p3=$4 a1=$5 a2=$6 a3=$7
nodes="1 2 3"
mkdir -p "$tmp/uploads"

node_conf() { # N PORT ADMIN
    cat > "$tmp/node$1.conf" <<EOF
port = $2;
listen_address = "127.0.0.1";
document_root = "$src/resources";
uploads_dir = "$tmp/uploads";
allowed_hosts = ["localhost", "127.0.0.1"];
access_log = "$tmp/node$1.access";
pool_size = 4;
trusted_proxies = ["127.0.0.1"];
admin_listen = "127.0.0.1:$3";
drain_delay = 2;
shutdown_timeout = 5;
EOF
}

uts=no
[ "$(id -u)" -eq 0 ] && unshare --uts true 2>/dev/null && uts=yes
start_node() { # N
    if [ $uts = yes ]; then
        # unshare and sh exec: $! is the daemon's pid
        MTHTTPD_FORCE_NO_TMPFILE=1 unshare --uts sh -c 'hostname "node$1" && exec "$2" -c "$3"' \
            sh "$1" "$bin" "$tmp/node$1.conf" >>"$tmp/node$1.log" 2>&1 &
    else
        "$bin" -c "$tmp/node$1.conf" >>"$tmp/node$1.log" 2>&1 &
    fi
    eval "pid$1=$!"
    pids="$pids $!"
}

# wait until URL answers 200 (at most ~5 s)
wait_200() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# Until HAProxy's own view says the server is up: a request through it
# cannot tell which node answered, so ask the stats socket.
wait_haproxy_up() { # SERVER
    i=0
    while [ $i -lt 100 ]; do
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"show stat\n"); d = b""
while True:
    b = s.recv(65536)
    if not b: break
    d += b
sys.stdout.write(d.decode())' "$tmp/haproxy.sock" 2>/dev/null | grep "^nodes,$1,.*,UP," >/dev/null &&
            return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# Start node N and wait for its /health.  Another process may have taken
# one of its ports since free_ports chose them (the daemon then exits with
# "Address already in use"): then node N gets two new ports, at most twice.
# HAProxy's configuration is written after this, with the ports that won.
start_healthy() { # N
    tries=0
    while :; do
        eval "node_conf $1 \"\$p$1\" \"\$a$1\""
        start_node "$1"
        eval "a=\$a$1 pid=\$pid$1"
        wait_200 "http://127.0.0.1:$a/health" && return 0
        tries=$((tries + 1))
        if [ $tries -le 2 ] && ! kill -0 "$pid" 2>/dev/null &&
            grep -q "Address already in use" "$tmp/node$1.log"; then
            wait "$pid" 2>/dev/null
            pids=$(echo " $pids " | sed "s/ $pid / /")
            mv "$tmp/node$1.log" "$tmp/node$1.log.taken$tries"
            # shellcheck disable=SC2046
            set -- "$1" $(free_ports 2)
            echo "# node $1: a port was taken meanwhile, now $2 and $3"
            eval "p$1=$2 a$1=$3"
            set -- "$1"
            continue
        fi
        return 1
    done
}

for n in $nodes; do
    start_healthy "$n" || bad "node $n not healthy"
done

cat > "$tmp/haproxy.cfg" <<EOF
global
    maxconn 256
    stats socket $tmp/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:$front
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server send-proxy-v2 source 127.0.0.1 inter 200ms fall 1 rise 2
    server n1 127.0.0.1:$p1 check port $a1
    server n2 127.0.0.1:$p2 check port $a2
    server n3 127.0.0.1:$p3 check port $a3
EOF
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
pids="$pids $!"
for n in $nodes; do
    wait_haproxy_up "n$n" || bad "HAProxy never saw n$n up"
done
[ "$fails" -eq 0 ] || { cat "$tmp/haproxy.log" "$tmp"/node*.log; exit 1; }

url="http://127.0.0.1:$front"
# the client: GETs and uploads through HAProxy from 127.0.0.2, until told
client() {
    n=0
    while [ ! -e "$tmp/stop" ] && [ $n -lt 2000 ]; do
        n=$((n + 1))
        code=$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$url/")
        echo "GET $code" >>"$tmp/client.out"
        out=$(curl -s --interface 127.0.0.2 -w ' %{http_code}' -H 'Content-Type: application/json' \
            --data "{\"n\": $n}" "$url/upload")
        echo "POST ${out##* } $(printf '%s' "$out" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p') $n" \
            >>"$tmp/client.out"
    done
}
# three of them at once, so that requests are in flight when a node stops
cpids=""
for k in 1 2 3; do
    client &
    cpids="$cpids $!"
done
pids="$pids $cpids"

# leftovers as a crash of node 2 and of a node that is gone would leave
stale2="$tmp/uploads/.mthttpd-tmp.node2.1.0123456789abcdef"
staleX="$tmp/uploads/.mthttpd-tmp.elsewhere.1.0123456789abcdef"
if [ $uts = yes ]; then
    printf '{"partial' >"$stale2"
    printf '{"partial' >"$staleX"
fi

t0=$(date +%s)
for n in $nodes; do
    eval "p=\$pid$n"
    sleep 1
    kill -TERM "$p"
    wait "$p"
    rc=$?
    [ "$rc" -eq 0 ] || bad "node $n exit status $rc"
    start_node "$n"
    eval "a=\$a$n"
    wait_200 "http://127.0.0.1:$a/health" || bad "node $n not healthy after restart"
    wait_haproxy_up "n$n" || bad "HAProxy never saw n$n up again"
    if [ $uts = yes ] && [ "$n" = 1 ] && [ ! -e "$stale2" ]; then
        bad "node 1's restart removed node 2's temporary file"
    fi
done
sleep 1
touch "$tmp/stop"
for p in $cpids; do wait "$p"; done
echo "rolling restart of 3 nodes took $(($(date +%s) - t0)) s"

total=$(wc -l <"$tmp/client.out")
failed=$(grep -c -v -E '^(GET 200|POST 201 /uploads/)' "$tmp/client.out")
[ "$total" -gt 20 ] || bad "the client sent only $total requests"
if [ "$failed" -eq 0 ]; then
    ok "$total requests through HAProxy during the restarts, none failed"
else
    bad "$failed of $total requests failed:"
    grep -v -E '^(GET 200|POST 201 /uploads/)' "$tmp/client.out" | head -5
fi

if [ $uts = yes ]; then
    grep -q "forced by MTHTTPD_FORCE_NO_TMPFILE" "$tmp/node1.log" ||
        bad "node 1 does not log the forced fallback"
    [ ! -e "$stale2" ] && [ -e "$staleX" ] &&
        ok "restarts removed each node's own stale temporary file, no other" ||
        bad "stale temporary files: node2's $([ -e "$stale2" ] && echo kept || echo removed), another node's $([ -e "$staleX" ] && echo kept || echo removed)"
    left=$(find "$tmp/uploads" -name '.mthttpd-tmp.node*' | wc -l)
    [ "$left" -eq 0 ] && ok "uploads went through per-node temporary files (forced), none left" ||
        bad "$left temporary files of the nodes left behind"
else
    echo "note: not root (or no UTS namespaces): the nodes share a host name and use O_TMPFILE"
fi

# every stored upload reads back through HAProxy, whichever node serves it
grep '^POST 201' "$tmp/client.out" | while read -r _ _ path n; do
    body=$(curl -s --interface 127.0.0.2 "$url$path")
    [ "$body" = "{\"n\": $n}" ] || echo "$path"
done >"$tmp/unread"
unread=$(wc -l <"$tmp/unread")
[ "$unread" -eq 0 ] && ok "every upload with 201 reads back" || bad "$unread uploads do not read back"

# the access logs name the client, never HAProxy
lines=$(cat "$tmp"/node*.access | wc -l)
others=$(cat "$tmp"/node*.access | grep -c -v '^127\.0\.0\.2 ')
[ "$lines" -gt 0 ] && [ "$others" -eq 0 ] && ok "$lines access lines, all from 127.0.0.2" ||
    bad "$others of $lines access lines not from the client 127.0.0.2"

# /metrics: promtool accepts it; the counters grow by what we send now
count() { # ADMIN: sum of mthttpd_requests_total
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^mthttpd_requests_total\{/ { s += $2 } END { print s + 0 }'
}
total_count() {
    echo $(($(count "$a1") + $(count "$a2") + $(count "$a3")))
}
before=$(total_count)
i=0
while [ $i -lt 40 ]; do
    curl -s --interface 127.0.0.2 -o /dev/null "$url/" || true
    i=$((i + 1))
done
sleep 0.3
after=$(total_count)
[ $((after - before)) -eq 40 ] && ok "request counters grew by 40" ||
    bad "request counters grew by $((after - before)), want 40"
if command -v promtool >/dev/null 2>&1; then
    for a in "$a1" "$a2" "$a3"; do
        curl -s "http://127.0.0.1:$a/metrics" >"$tmp/m.txt"
        promtool check metrics <"$tmp/m.txt" >"$tmp/promtool.out" 2>&1 &&
            ok "promtool accepts /metrics of :$a" || { bad "promtool: $(cat "$tmp/promtool.out")"; }
    done
else
    echo "note: promtool not installed, /metrics format not checked"
fi

if [ "$fails" -ne 0 ]; then
    echo "--- haproxy"; tail -20 "$tmp/haproxy.log"
    for n in $nodes; do echo "--- node $n"; tail -20 "$tmp/node$n.log"; done
    exit 1
fi
exit 0

#!/bin/bash
# tests/bench/h2load.sh - HTTP/2 over TLS: mthttpd beside the peers, with
# h2load (nghttp2-client).  Not part of make check or CI.
#
#   tests/bench/h2load.sh [--peers nginx,h2o,lighttpd,apache|all|none]
#                         [--install] [--bin PATH] [--requests N] [--reps N]
#                         [--idle-conns N] [--no-pin] [--keep] [--only load|idle]
#
# Every server gets the same TLS listener (servers.sh: the same ECDSA
# P-256 certificate, TLS 1.2/1.3, the same suites) with HTTP/2 enabled:
# mthttpd `tls.http2 = true; h2_max_concurrent_streams = 100;`, nginx
# `listen ... ssl http2`, Apache mod_http2 `Protocols h2 http/1.1`,
# lighttpd `server.h2proto`, H2O (h2 by default on TLS).  h2load's
# "Application protocol" line must say h2 for every server, or its row is
# marked.
#
# Scenarios, interleaved (each server once per round, REPS rounds, the
# order rotated by one each round; the median is reported):
#   page   h2load -n N -c 10 -m 100 (100 streams x 10 connections; N =
#          200,000 by default), /index.html (2 KB): req/s and server CPU per
#          request (user+system ticks of the server's process tree over the
#          run / requests that succeeded)
#   file   the same on /mid.bin (200 KB), N/10 requests
# and for both, how busy h2load was: its CPU time (user+system) over the
# run's wall time.  At ~100 % the client, not the server, sets the rate
# (one h2load thread on one CPU), and req/s compares the servers only
# within that client's noise.
# (a request count, not h2load -D: with -D h2load does not reconnect when a
# server ends a connection after its max requests, nginx's 1000)
#   idle   N idle connections (default 1000) held over TLS after one
#          request each, once with ALPN h2 and once with http/1.1, each on
#          a freshly restarted server (after 50 warm-up connections held and
#          let go): the server's RSS growth per connection, KiB (a small
#          Python client, /usr/bin/python3, standard library only)
#
# The servers run pinned to CPU 0 and the clients to CPU 1 (--no-pin: not
# pinned), as in bench.sh.  On a shared machine read the ratios, not the
# absolute figures.  Needs root for the peers (they drop privileges).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/servers.sh
. "$here/servers.sh"

MTHTTPD_BIN=$top/_build/src/mthttpd
peers="" install=0 nreq=200000 reps=1 idle_conns=1000 pin=1 keep=0 only=""
while [ $# -gt 0 ]; do
    case $1 in
    --peers) peers=$2; shift ;;
    --install) install=1 ;;
    --bin) MTHTTPD_BIN=$2; shift ;;
    --requests) nreq=$2; shift ;;
    --reps) reps=$2; shift ;;
    --idle-conns) idle_conns=$2; shift ;;
    --no-pin) pin=0 ;;
    --keep) keep=1 ;;
    --only) only=$2; shift ;; # load | idle
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$peers" ]; then # the peers that are installed
    for p in nginx h2o lighttpd apache; do srv_present "$p" && peers="$peers $p"; done
fi
[ "$peers" = all ] && peers=$BENCH_PEERS_ALL
[ "$peers" = none ] && peers=""
peers=${peers//,/ }
need_packages "$install" "$peers" h2load:nghttp2-client curl:curl taskset:util-linux \
    openssl:openssl python3:python3
py=/usr/bin/python3
[ -x $py ] || py=python3

raise_fd_limit
[ $((idle_conns + 100)) -le "$FD_LIMIT" ] || idle_conns=$((FD_LIMIT - 100))
[ "$(nproc)" -ge 2 ] || pin=0
if [ "$pin" = 1 ]; then
    srv_pin=(taskset -c 0) cli_pin=(taskset -c 1) SRV_NCPU=1
else
    srv_pin=() cli_pin=() SRV_NCPU=$(nproc)
fi
export FD_LIMIT SRV_NCPU MTHTTPD_BIN

work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-h2load.XXXXXX") || exit 1
chmod 755 "$work"
upbase=$(make_upload_base "$work" mthttpd-h2load) || exit 1
declare -A spid sport stport
started=()
cleanup() {
    trap - EXIT INT TERM
    stop_trees 5 "${started[@]}"
    rm -rf "$upbase"
    if [ "$keep" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docroot=$work/www
make_docroot "$docroot" "$work/upload.json" || { echo "could not create the document root" >&2; exit 1; }
make_tls_cert "$work" || { echo "openssl could not make the certificate" >&2; exit 1; }
chmod 644 "$TLS_KEY"

# h2 on every server's TLS listener (the rest of the configuration is
# servers.sh's, shared with bench.sh)
enable_h2() { # NAME DIR
    local d=$2
    case $1 in
    mthttpd) sed -i 's/^  min_version = "TLSv1.2";/&\n  http2 = true;\n  h2_max_concurrent_streams = 100;/' "$d/mthttpd.conf" ;;
    # (nginx ends an h2 connection after keepalive_requests, 1000 in
    # servers.sh, and h2load does not reconnect: 10 x 1000 requests would be
    # all it counts; the others take all requests on one connection)
    nginx) sed -i 's/ ssl backlog=4096;/ ssl http2 backlog=4096;/; s/keepalive_requests 1000;/keepalive_requests 1000000;/' "$d/nginx.conf" ;;
    apache) printf 'LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so\nProtocols h2 http/1.1\n' >> "$d/httpd.conf" ;;
    lighttpd) printf 'server.feature-flags = ( "server.h2proto" => "enable" )\n' >> "$d/lighttpd.conf" ;;
    h2o) ;; # h2 is on by default for TLS listeners
    esac
}

servers="mthttpd $peers"
port=28380 running=""
# start_server NAME: start it (configured) and wait until both ports serve
start_server() {
    local s=$1
    (srv_exec "$s" "$work/$s" "${srv_pin[@]}") >> "$work/$s/stdout.log" 2>&1 &
    spid[$s]=$!
    started+=("$!")
    wait_serving "${sport[$s]}" "${spid[$s]}" 15 && wait_serving "${stport[$s]}" "${spid[$s]}" 5 https
}
# restart_server NAME: a fresh process (the idle measurements must not
# reuse heap pages that an earlier load run left resident)
restart_server() {
    stop_tree "${spid[$1]}" 5
    start_server "$1"
}
for s in $servers; do
    port=$(pick_port "$port") || exit 1
    tport=$(pick_port $((port + 1))) || exit 1
    srv_config "$s" "$work/$s" "$port" "$docroot" "$upbase/$s" "$tport"
    enable_h2 "$s" "$work/$s"
    sport[$s]=$port stport[$s]=$tport
    if start_server "$s"; then
        running="$running $s"
    else
        echo "$s did not start; its output:" >&2
        tail -n 5 "$work/$s/stdout.log" "$work/$s/error.log" >&2 2> /dev/null
        [ "$s" = mthttpd ] && exit 1
        stop_tree "${spid[$s]}" 2
    fi
    port=$((tport + 1))
done
servers=${running# }
for s in $servers; do
    alpn=$(curl -k -s --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:${stport[$s]}/index.html")
    echo "  $s: port ${stport[$s]} (TLS), pid ${spid[$s]}, curl --http2 negotiates HTTP/$alpn" >&2
done

hz=$(getconf CLK_TCK)
tree_ticks() {
    local files=() p
    for p in $(tree_pids "$1"); do files+=("/proc/$p/stat"); done
    cat "${files[@]}" 2> /dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}
tree_rss() {
    local st=() p
    for p in $(tree_pids "$1"); do st+=("/proc/$p/status"); done
    cat "${st[@]}" 2> /dev/null | awk '/^VmRSS:/ { t += $2 } END { print t + 0 }'
}

results=$work/results.txt
: > "$results"

# h2load run: SCEN REP SERVER PATH REQUESTS
run_h2load() {
    local scen=$1 rep=$2 s=$3 path=$4 n=$5 t0 t1 out=$work/h2load.out reqs rps proto ct
    local TIMEFORMAT='%R %U %S'
    wait_quiet 3000
    t0=$(tree_ticks "${spid[$s]}")
    # (the time keyword's user and system include h2load's: timeout waits
    # for it)
    ct=$({ time "${cli_pin[@]}" timeout 300 h2load -n "$n" -c 10 -m 100 \
        "https://127.0.0.1:${stport[$s]}$path" > "$out" 2>&1; } 2>&1)
    t1=$(tree_ticks "${spid[$s]}")
    proto=$(sed -n 's/^Application protocol: *//p' "$out" | head -1)
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
    reqs=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out")
    if [ -z "$rps" ] || [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        echo "h2load failed against $s ($scen):" >&2
        tail -n 15 "$out" >&2
        echo "scen=$scen rep=$rep server=$s failed=1" >> "$results"
        return 1
    fi
    echo "scen=$scen rep=$rep server=$s proto=$proto rps=$rps reqs=$reqs" \
        "us_per_req=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v r="$reqs" \
            'BEGIN { printf "%.1f", t / hz * 1e6 / r }')" \
        "client_busy=$(echo "$ct" | awk '{ printf "%.0f", ($1 > 0 ? ($2 + $3) * 100 / $1 : 0) }')" \
        >> "$results"
}

# The idle holder: N TLS connections with ALPN PROTO (h2 | http/1.1), one
# GET /index.html on each, then held open; prints "held N" and waits for
# stdin to close.
cat > "$work/hold.py" <<'PY'
import resource, socket, ssl, struct, sys
port, n, proto = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols([proto])
def lit(idx, v):  # literal with incremental indexing, indexed name
    return bytes([0x40 | idx, len(v)]) + v
block = b"\x82\x87" + lit(4, b"/index.html") + lit(1, b"127.0.0.1")
def frames(buf):
    while len(buf) >= 9:
        ln = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + ln:
            break
        yield buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff
        buf = buf[9 + ln:]
conns, failed = [], 0
for i in range(n):
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        # (no ALPN answer at all is HTTP/1.1 too)
        if s.selected_alpn_protocol() != proto and not (proto != "h2" and s.selected_alpn_protocol() is None):
            raise OSError(f"ALPN {s.selected_alpn_protocol()}")
        if proto == "h2":
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0\0\0\x04\0\0\0\0\0" +
                      struct.pack(">I", len(block))[1:] + b"\x01\x05\0\0\0\x01" + block)
            buf, done = b"", False
            while not done:
                d = s.recv(65536)
                if not d:
                    raise OSError("closed")
                buf += d
                for t, fl, sid in frames(buf):
                    if t == 4 and not fl & 1:
                        s.sendall(b"\0\0\0\x04\x01\0\0\0\0")  # SETTINGS ACK
                    if sid == 1 and t in (0, 1) and fl & 1:
                        done = True
        else:
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf or len(buf.split(b"\r\n\r\n", 1)[1]) < 2048:
                d = s.recv(65536)
                if not d:
                    raise OSError("closed")
                buf += d
        conns.append(s)
    except OSError as e:
        failed += 1
        if failed == 1:
            print(f"first failure: {e}", file=sys.stderr)
print(f"held {len(conns)} failed {failed}", flush=True)
sys.stdin.read()
PY

# hold N connections with PROTO on SERVER until hold_end; sets line
hold_begin() { # SERVER N PROTO
    local fifo=$work/hold.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    "${cli_pin[@]}" $py "$work/hold.py" "${stport[$1]}" "$2" "$3" < "$fifo" > "$work/hold.out" 2>&1 &
    hp=$!
    exec 7> "$fifo"
    line=""
    for _ in $(seq 1 1200); do
        line=$(grep '^held' "$work/hold.out")
        [ -n "$line" ] && break
        kill -0 "$hp" 2> /dev/null || break
        sleep 0.1
    done
}
hold_end() {
    exec 7>&-
    wait "$hp" 2> /dev/null
}

# On a freshly started server: 50 connections of PROTO held and let go
# (first-use costs: thread caches, TLS state), then N held: RSS growth / N
run_idle() { # REP SERVER PROTO
    local rep=$1 s=$2 proto=$3 m0 m1 held hp line
    restart_server "$s" || { echo "$s did not restart" >&2; return 1; }
    hold_begin "$s" 50 "$proto"
    hold_end
    sleep 2
    wait_quiet 3000
    m0=$(tree_rss "${spid[$s]}")
    hold_begin "$s" "$idle_conns" "$proto"
    sleep 1
    m1=$(tree_rss "${spid[$s]}")
    hold_end
    held=$(echo "$line" | awk '{ print $2 }')
    if [ -z "$held" ] || [ "$held" = 0 ]; then
        echo "idle $proto against $s failed:" >&2
        cat "$work/hold.out" >&2
        echo "scen=idle_${proto//\//} rep=$rep server=$s failed=1" >> "$results"
        return 1
    fi
    echo "scen=idle_${proto//\//} rep=$rep server=$s held=$held" \
        "kib_per_conn=$(awk -v a="$m0" -v b="$m1" -v n="$held" 'BEGIN { printf "%.1f", (b - a) / n }')" >> "$results"
    sleep 2 # the server notices the closes
}

# the order rotates each round: the VM's speed drifts from minute to
# minute, and no server should always be the one that runs first after
# the previous round's last
read -r -a order <<< "$servers"
for rep in $(seq 1 "$reps"); do
    k=$(((rep - 1) % ${#order[@]}))
    for s in "${order[@]:k}" "${order[@]:0:k}"; do
        echo "round $rep: $s" >&2
        if [ "$only" != idle ]; then
            run_h2load page "$rep" "$s" /index.html "$nreq"
            run_h2load file "$rep" "$s" /mid.bin $((nreq / 10))
        fi
        if [ "$only" != load ]; then
            run_idle "$rep" "$s" h2
            run_idle "$rep" "$s" http/1.1
        fi
    done
done

# the report: medians per server and scenario
awk '
function val(k,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
    return ""
}
function median(key,   n, a, i, j, t, parts) {
    n = split(vals[key], parts, " ")
    for (i = 1; i <= n; i++) a[i] = parts[i] + 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n ? a[int((n + 1) / 2)] : ""
}
{
    s = val("server"); sc = val("scen")
    if (!(s in seen)) { seen[s] = 1; order[++ns] = s }
    if (val("failed") != "") { failed[s, sc] = 1; next }
    if (sc == "page" || sc == "file") {
        vals[s, sc, "rps"] = vals[s, sc, "rps"] " " val("rps")
        vals[s, sc, "us"] = vals[s, sc, "us"] " " val("us_per_req")
        vals[s, sc, "busy"] = vals[s, sc, "busy"] " " val("client_busy")
        if (val("proto") != "h2") notes = notes "\n" s " " sc ": protocol " val("proto")
    } else
        vals[s, sc, "kib"] = vals[s, sc, "kib"] " " val("kib_per_conn")
}
END {
    print "| server | 2 KB page req/s | CPU us/req | h2load busy % | 200 KB file req/s | CPU us/req | h2load busy % | idle h2 KiB/conn | idle HTTP/1.1 (TLS) KiB/conn | h2 / h1 |"
    print "|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= ns; i++) {
        s = order[i]
        h2 = median(s SUBSEP "idle_h2" SUBSEP "kib"); h1 = median(s SUBSEP "idle_http1.1" SUBSEP "kib")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s,
            median(s SUBSEP "page" SUBSEP "rps"), median(s SUBSEP "page" SUBSEP "us"),
            median(s SUBSEP "page" SUBSEP "busy"),
            median(s SUBSEP "file" SUBSEP "rps"), median(s SUBSEP "file" SUBSEP "us"),
            median(s SUBSEP "file" SUBSEP "busy"),
            h2, h1, (h1 + 0 > 0 ? sprintf("%.2f", h2 / h1) : "-")
    }
    if (notes != "") print "\nnot h2:" notes
}' "$results"
echo "raw results: $results$([ "$keep" = 1 ] || echo ' (gone at exit; --keep keeps it)')" >&2

#!/bin/bash
# tests/bench/cost.sh - what one request costs each server, in counts that
# hardly move when other work shares the machine (unlike req/s):
#
#   syscalls/req, context switches/req, CPU us/req
#       perf stat (raw_syscalls:sys_enter, context-switches, task-clock)
#       attached to the server's processes while h2load sends a fixed
#       number of requests (CPU us/req does move with load: caches, SMT)
#   syscall mix
#       strace -c -f attached the same way: the eight most frequent
#       syscalls (at least 0.05 per request), per request (strace slows the server down; only its counts are used)
#   instructions/req
#       valgrind --tool=callgrind, the server in one process, run twice with
#       N1 and N2 requests: (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up and
#       shut-down cancel out.  Reproducible to about 1 %.
#
# Load: h2load --h1, 50 connections, GET /index.html (2 KB), "ka" keeps
# the connections alive, "close" sends Connection: close (a new connection
# per request); "tls_ka" and "tls_close" do the same over HTTPS (TLS 1.3,
# the ECDSA P-256 certificate and suites of bench.sh; tls_close is a full
# handshake per request, h2load does not resume sessions); "mid" keeps 50
# connections alive for GET /mid.bin (200 KB, bench.sh's mid scenario),
# "big" 4 for GET /big.bin (50 MB; a 500th of the requests, no callgrind).  The servers are configured as in bench.sh (servers.sh),
# pinned to CPU 0, h2load to CPU 1, one server at a time.
#
#   tests/bench/cost.sh [--peers [LIST]] [--bin PATH] [--no-callgrind]
#                       [--quick] [--modes LIST] [--tls] [--reps N] [--install]
#                       [--keep]
#
#   --peers [LIST]   also measure the peers (all of nginx,lighttpd,apache,h2o,
#                    or the comma-separated LIST)
#   --bin PATH       the mthttpd binary (default: _build/src/mthttpd)
#   --no-callgrind   skip the instruction counts (the slow part)
#   --quick          fewer requests (perf 20,000, strace 5,000, callgrind
#                    1,000 and 5,000) instead of 50,000, 20,000, 2,000/12,000
#   --modes LIST     ka, close, mid, big, tls_ka, tls_close (default: ka,close)
#   --tls            the same as --modes tls_ka,tls_close
#   --reps N         measure CPU, syscalls and context switches N times
#                    (default 1) and report the median and the range: the
#                    runs are interleaved (rep 1 of every server and mode,
#                    then rep 2, ...), so a slow minute of the host hits
#                    every server alike; strace and callgrind run in rep 1
#                    only (their counts do not move)
#   --install        apt-get install the missing packages first
#   --keep           keep the work directory (perf, strace, callgrind output)
#
# Needs root (perf attaching to servers that changed user), linux-perf,
# strace, valgrind, nghttp2-client (h2load), curl.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=servers.sh
. "$here/servers.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

peers="" callgrind=1 quick=0 modes="ka close" install=0 keep=0 reps=1
MTHTTPD_BIN=$top/_build/src/mthttpd
while [ $# -gt 0 ]; do
    case $1 in
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
    --no-callgrind) callgrind=0 ;;
    --quick) quick=1 ;;
    --modes) modes=${2//,/ }; shift ;;
    --tls) modes="tls_ka tls_close" ;;
    --reps) [ $# -ge 2 ] && [ "$2" -ge 1 ] 2> /dev/null || { usage >&2; exit 2; }; reps=$2; shift ;;
    --install) install=1 ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ "$peers" = all ] && peers=$BENCH_PEERS_ALL
peers=${peers//,/ }
for p in $peers; do
    list_has "$BENCH_PEERS_ALL" "$p" || { echo "unknown peer '$p' (known: $BENCH_PEERS_ALL)" >&2; exit 2; }
done
for m in $modes; do
    case $m in ka | close | mid | big | tls_ka | tls_close) ;; *) echo "unknown mode '$m' (ka, close, mid, big, tls_ka, tls_close)" >&2; exit 2 ;; esac
done
use_tls=0
case " $modes " in *" tls_"*) use_tls=1 ;; esac
if [ "$quick" = 1 ]; then
    n_perf=20000 n_strace=5000 n1=1000 n2=5000
else
    n_perf=50000 n_strace=20000 n1=2000 n2=12000
fi

tools=(h2load:nghttp2-client perf:linux-perf strace:strace curl:curl taskset:util-linux ps:procps)
[ "$callgrind" = 1 ] && tools+=(valgrind:valgrind)
[ "$use_tls" = 1 ] && tools+=(openssl:openssl)
need_packages "$install" "$peers" "${tools[@]}"
[ "$(id -u)" = 0 ] || echo "note: not root; perf and strace may not be allowed to attach" >&2

raise_fd_limit
SRV_NCPU=1
if [ "$(nproc)" -ge 2 ]; then srv_pin=(taskset -c 0) cli_pin=(taskset -c 1); else srv_pin=() cli_pin=(); fi
export FD_LIMIT SRV_NCPU MTHTTPD_BIN

work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-cost.XXXXXX") || exit 1
chmod 755 "$work"
upbase=$(make_upload_base "$work" mthttpd-cost) || exit 1
docroot=$work/www
make_docroot "$docroot" "$work/upload.json" || exit 1

pid="" helper=""
stop_server() {
    [ -n "$pid" ] || return 0
    # callgrind writes its profile at exit, valgrind makes that slow
    stop_tree "$pid" 60
    pid=""
}
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
    trap - EXIT INT TERM
    [ -n "$helper" ] && kill -TERM "$helper" 2> /dev/null && wait "$helper" 2> /dev/null
    stop_server
    rm -rf "$upbase"
    if [ "$keep" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(pick_port 28280) || exit 1
url=http://127.0.0.1:$port/index.html
tport="" turl=""
if [ "$use_tls" = 1 ]; then
    tport=$(pick_port $((port + 1))) || exit 1
    turl=https://127.0.0.1:$tport/index.html
    make_tls_cert "$work" || { echo "openssl could not make the certificate" >&2; exit 1; }
    chmod 644 "$TLS_KEY"
fi

# start_server NAME [cg] - configure and start NAME, wait until it serves;
# with cg, as one process under callgrind
start_server() {
    local s=$1 d=$work/$1 cg=${2:-}
    srv_config "$s" "$d" "$port" "$docroot" "$upbase/$s" "$tport"
    if [ "$cg" = cg ]; then
        rm -rf "$work/cg"
        mkdir -p "$work/cg"
        chmod 1777 "$work/cg" # the servers that drop root write there too
        (srv_exec "$s" "$d" single "${srv_pin[@]}" valgrind --tool=callgrind --trace-children=yes \
            --vgdb=no --callgrind-out-file="$work/cg/callgrind.%p") > "$work/$s.cg.log" 2>&1 &
    else
        (srv_exec "$s" "$d" "${srv_pin[@]}") > "$work/$s.log" 2>&1 &
    fi
    pid=$!
    if ! wait_serving "$port" "$pid" 60 ||
        { [ -n "$tport" ] && ! wait_serving "$tport" "$pid" 30 https; }; then
        echo "$s did not start; its output:" >&2
        tail -n 5 "$work/$s"*.log "$d/error.log" >&2 2> /dev/null
        stop_server
        return 1
    fi
    # in case callgrind created its file before the server dropped root
    [ "$cg" = cg ] && chmod 666 "$work"/cg/callgrind.* 2> /dev/null
    return 0
}

# load MODE N [PREFIX...] - h2load with N requests (behind PREFIX, e.g.
# perf stat); prints the number of requests that succeeded
load() {
    local mode=$1 n=$2 hdr=() u=$url c=50
    shift 2
    case $mode in *close) hdr=(-H "Connection: close") ;; esac
    case $mode in
    tls_*) u=$turl ;;
    mid) u=${url%/index.html}/mid.bin ;;
    big) u=${url%/index.html}/big.bin c=4 n=$(((n + 499) / 500)) ;;
    esac
    "$@" "${cli_pin[@]}" timeout 600 h2load --h1 -n "$n" -c "$c" "${hdr[@]}" "$u" > "$work/h2load.out" 2>&1
    # "requests: N total, N started, N done, N succeeded, N failed, ..."
    awk '/^requests:/ { print $8 + 0 }' "$work/h2load.out"
}

pids_csv() { tree_pids "$pid" | paste -sd, -; }

# callgrind_ir - instructions of every process of the last callgrind run
callgrind_ir() {
    local f t sum=0
    for f in "$work"/cg/callgrind.*; do
        [ -e "$f" ] || continue
        # "totals:" (or, from older valgrind, "summary:") is the whole run
        # (printf: awk prints sums past 2^31 as "2.26e+09", which $(( )) refuses)
        t=$(awk '/^totals:/ { t = $2 } /^summary:/ { if (t == "") s = $2 } END { printf "%.0f\n", (t != "" ? t : s) + 0 }' "$f")
        sum=$((sum + t))
    done
    echo "$sum"
}

results=$work/cost.txt
: > "$results"
row() { echo "$*" >> "$results"; }

servers="mthttpd $peers"
t_start=$(date +%s)
for rep in $(seq 1 "$reps"); do
    for s in $servers; do
        for mode in $modes; do
            echo "[$(($(date +%s) - t_start))s] $s $mode: perf stat (rep $rep of $reps)" >&2
            start_server "$s" || { row "server=$s mode=$mode failed=1"; continue 2; }
            load "$mode" 2000 > /dev/null # warm-up
            # context switches count other load's preemptions too: start on a
            # quiet machine (up to 15 s; the row says when it was not)
            quiet=1
            wait_quiet 15000 || quiet=0
            done_perf=$(load "$mode" "$n_perf" perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock \
                -p "$(pids_csv)" -o "$work/perf.$s.$mode" --)
            sc=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 + 0 }' "$work/perf.$s.$mode")
            cs=$(awk -F, '$3 == "context-switches" { print $1 + 0 }' "$work/perf.$s.$mode")
            ms=$(awk -F, '$3 == "task-clock" { print $1 + 0 }' "$work/perf.$s.$mode")

            mix="-" done_strace=0
            if [ "$rep" = 1 ]; then
                echo "[$(($(date +%s) - t_start))s] $s $mode: strace" >&2
                args=()
                for p in $(tree_pids "$pid"); do args+=(-p "$p"); done
                strace -f -c -o "$work/strace.$s.$mode" "${args[@]}" 2> /dev/null &
                helper=$!
                sleep 1 # attached
                done_strace=$(load "$mode" "$n_strace")
                kill -TERM "$helper" 2> /dev/null # (INT is ignored by background jobs)
                for _ in $(seq 1 100); do kill -0 "$helper" 2> /dev/null || break; sleep 0.1; done
                kill -KILL "$helper" 2> /dev/null
                wait "$helper" 2> /dev/null
                helper=""
                # strace -c: "% time  seconds  usecs/call  calls  [errors]  syscall"
                mix=$(awk -v n="$done_strace" '$1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" && n > 0 &&
                          $4 / n >= 0.05 { printf "%s %.2f\n", $NF, $4 / n }' "$work/strace.$s.$mode" |
                    sort -k2,2gr | head -n 8 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')
            fi
            stop_server

            ir="-"
            if [ "$callgrind" = 1 ] && [ "$mode" != big ] && [ "$rep" = 1 ]; then
                ir1="" ir2="" d1="" d2=""
                for n in "$n1" "$n2"; do
                    echo "[$(($(date +%s) - t_start))s] $s $mode: callgrind, $n requests" >&2
                    if start_server "$s" cg; then
                        got=$(load "$mode" "$n")
                        stop_server
                        if [ "$n" = "$n1" ]; then d1=$got ir1=$(callgrind_ir); else d2=$got ir2=$(callgrind_ir); fi
                    fi
                done
                if [ -n "$ir1" ] && [ -n "$ir2" ] && [ "${d2:-0}" -gt "${d1:-0}" ] && [ "$ir2" -gt 0 ]; then
                    ir=$(((ir2 - ir1) / (d2 - d1)))
                fi
            fi
            row "server=$s mode=$mode rep=$rep done=$done_perf quiet=$quiet syscalls=$sc cs=$cs task_ms=$ms ir=$ir strace_done=$done_strace mix=${mix// /+}"
        done
    done
done

# ---- report ----------------------------------------------------------------
echo
echo "## mthttpd per-request cost, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "$("$MTHTTPD_BIN" --version 2> /dev/null | head -1); h2load --h1 -c 50 on /index.html (2 KB)" \
    "(mid: /mid.bin, 200 KB; big: -c 4 on /big.bin, 50 MB, a 500th of the requests);" \
    "perf over $n_perf requests$([ "$reps" -gt 1 ] && echo ", $reps interleaved runs (median, and min-max of CPU)")," \
    "strace over $n_strace, callgrind $n1 vs $n2;" \
    "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| server | mode | requests ok | syscalls/req | ctx switches/req | CPU us/req | instructions/req | top syscalls per request (strace -c -f) |"
echo "|---|---|---|---|---|---|---|---|"
awk '
function kv(line, a,    n, i, f, p) {
    split("", a); n = split(line, f, " ")
    for (i = 1; i <= n; i++) { p = index(f[i], "="); if (p) a[substr(f[i], 1, p - 1)] = substr(f[i], p + 1) }
}
# median of the values "v1 v2 ..." (the mean of the middle two for an even
# count); lo and hi get the smallest and largest
function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    lo = v[1]; hi = v[n]
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
    kv($0, r)
    k = r["server"] SUBSEP r["mode"]
    if (!(k in keys)) { keys[k] = 1; korder[++nk] = k }
    if (!(r["server"] in seen)) { seen[r["server"]] = 1; order[++ns] = r["server"] }
    if (r["failed"] == 1) { failed[k] = 1; next }
    n = r["done"] + 0
    if (r["rep"] + 0 <= 1) {
        mix[k] = r["mix"]; gsub(/[+]/, " ", mix[k])
        ir[k] = r["ir"]
    }
    if (n > 0) {
        ok[k] += n; runs[k]++
        l_sys[k] = l_sys[k] " " r["syscalls"] / n
        l_cs[k] = l_cs[k] " " r["cs"] / n
        l_cpu[k] = l_cpu[k] " " r["task_ms"] * 1000 / n
        if (r["quiet"] == "0") busy[k] = 1
    }
}
function best(arr, key,    i, s, b, who) {
    b = ""
    for (i = 1; i <= ns; i++) {
        s = order[i]
        if (s == "mthttpd" || !((s, key) in arr)) continue
        if (b == "" || arr[s, key] < b) { b = arr[s, key]; who = s }
    }
    if (b == "" || b == 0 || !(("mthttpd", key) in arr)) return "-"
    return sprintf("%.2f (%s)", arr["mthttpd", key] / b, who)
}
END {
    for (i = 1; i <= nk; i++) {
        k = korder[i]; split(k, sm, SUBSEP)
        if (k in failed && !(k in ok)) { printf "| %s | %s | did not start | | | | | |\n", sm[1], sm[2]; continue }
        if (!(k in runs)) { printf "| %s | %s | 0 | - | - | - | %s | %s |\n", sm[1], sm[2], ir[k], mix[k]; continue }
        irs = ir[k]
        if (irs != "-" && irs != "") { irs = sprintf("%d", irs); while (irs ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", irs) }
        sys[k] = median(l_sys[k]); cs = median(l_cs[k]); cpu[k] = median(l_cpu[k])
        range = runs[k] > 1 ? sprintf(" (%.1f-%.1f)", lo, hi) : ""
        if (irs != "-" && irs != "") ins[k] = ir[k] + 0
        printf "| %s | %s | %d | %.2f | %.3f%s | %.1f%s | %s | %s |\n", sm[1], sm[2], ok[k],
            sys[k], cs, k in busy ? " (busy machine)" : "", cpu[k], range, irs, mix[k]
    }
    if (ns < 2) exit
    print "\nmthttpd / lowest peer (lower is better):\n"
    print "| mode | syscalls/req | CPU us/req | instructions/req |"
    print "|---|---|---|---|"
    nm = split("ka close mid big tls_ka tls_close", m, " ")
    for (j = 1; j <= nm; j++)
        if (("mthttpd", m[j]) in sys)
            printf "| %s | %s | %s | %s |\n", m[j], best(sys, m[j]), best(cpu, m[j]), best(ins, m[j])
}' "$results"
if [ "$keep" = 1 ]; then echo; echo "raw: $results"; fi
exit 0

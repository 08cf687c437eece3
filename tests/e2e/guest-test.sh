#!/bin/bash
# guest-test.sh - mthttpd's end-to-end test.  Runs INSIDE a booted container
# (root, systemd as PID 1) right after `apt-get install ./mthttpd_*.deb`; see
# run-e2e.sh and run.sh.  It checks the package the way an administrator
# meets it: units and user from the maintainer scripts, socket activation,
# HTTP over the activated sockets, uploads, status, reload (good and broken
# configuration), HTTPS (mthttpd-https.socket, upload, certificate swap by
# reload), the journal, restart without refused connections, stop,
# reinstall with an edited conffile, remove and purge.
#
# Prints one PASS/FAIL line per check; the exit status is the number of
# failures.  Every wait is bounded.  $E2E_DEBS (set by run-e2e.sh) names the
# installed .deb, used for the reinstall check.

# shellcheck disable=SC2317  # helpers are called indirectly
UNIT=mthttpd
CONF=/etc/mthttpd.conf
BASE=http://127.0.0.1:8080
UPLOADS=/var/lib/mthttpd/uploads
WORK=$(mktemp -d)
fails=0
passes=0

pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
skip() { echo "SKIP: $*"; }
check() {       # check DESCRIPTION COMMAND...: pass if the command succeeds
    local d=$1 out; shift
    if out=$("$@" 2>&1); then pass "$d"; else fail "$d"; printf '      %s\n' "$out" | head -20; fi
}
expect() {      # expect DESCRIPTION EXPECTED COMMAND...: pass if its output is EXPECTED
    local d=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    if [ "$out" = "$want" ]; then pass "$d ($out)"; else fail "$d: expected '$want', got '$out'"; fi
}
# journald is asynchronous: flush, then look again a few times
journal_has() { # journal_has PATTERN [journalctl args...]
    local pat=$1; shift
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        journalctl --sync
        journalctl --no-pager "$@" | grep -q -- "$pat" && return 0
        sleep 0.3
    done
    echo "pattern '$pat' not found in: journalctl $*"
    journalctl --no-pager "$@" | tail -5
    return 1
}
# code [curl args...]: the HTTP status only ("000" when no answer)
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
mainpid() { systemctl show -P MainPID $UNIT.service; }
upload() {      # upload JSON-BODY: prints the status, keeps the body in $WORK/up.json
    curl -s -o "$WORK/up.json" -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' --data-binary "$1" "$BASE/upload"
}
reload() { timeout 30 systemctl reload $UNIT.service; }

echo "--- environment"
expect "PID 1 is systemd" systemd cat /proc/1/comm
echo "    $(systemd-detect-virt -c 2>/dev/null) container, $(uname -r), $(systemctl --version | head -1)"
cp "$CONF" "$WORK/mthttpd.conf.orig"

echo "--- installation (maintainer scripts)"
check  "package is installed"                 dpkg -s mthttpd
check  "system user _mthttpd exists"          getent passwd _mthttpd
expect "socket enabled by postinst"           enabled systemctl is-enabled $UNIT.socket
expect "service enabled"                      enabled systemctl is-enabled $UNIT.service
expect "socket active"                        active systemctl is-active $UNIT.socket
expect "listening on 0.0.0.0:8080 and [::]:8080" "0.0.0.0:8080 [::]:8080" \
    bash -c "ss -Hltn 'sport = :8080' | awk '{print \$4}' | sort | paste -sd' '"
check  "/etc/mthttpd.conf is a conffile"      grep -qx "$CONF" /var/lib/dpkg/info/mthttpd.conffiles
check  "shipped configuration is valid"       /usr/sbin/mthttpd -t -c "$CONF"
# (--man=no: the minimal guest has no man-db; the pages are checked below)
check  "systemd-analyze verify is clean" \
    bash -c "out=\$(systemd-analyze verify --man=no $UNIT.socket $UNIT.service 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
check  "man pages of Documentation= installed" \
    test -f /usr/share/man/man8/mthttpd.8.gz -a -f /usr/share/man/man5/mthttpd.conf.5.gz
score=$(systemd-analyze security $UNIT.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
    pass "systemd-analyze security: exposure $score <= 1.5"
else
    fail "systemd-analyze security: exposure '$score' (want <= 1.5)"
fi

echo "--- socket activation"
check  "stop the service (the socket stays)"  timeout 60 systemctl stop $UNIT.service
expect "service inactive"                     inactive systemctl is-active $UNIT.service
expect "socket still active"                  active systemctl is-active $UNIT.socket
expect "first connection: GET / is 200"       200 code "$BASE/"
expect "service started by that connection"   active systemctl is-active $UNIT.service
expect "Type=notify"                          notify systemctl show -P Type $UNIT.service
expect "runs as _mthttpd"                     _mthttpd ps -o user= -p "$(mainpid)"
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1/'; then
    expect "GET / over IPv6 ([::1]:8080) is 200" 200 code "http://[::1]:8080/"
else
    skip "no ::1 on the guest's loopback: IPv6 request not tried"
fi

echo "--- content"
expect "GET /about.html is 200"               200 code "$BASE/about.html"
check  "GET / is the bundled index.html" \
    bash -c "curl -fsS --max-time 10 $BASE/ | cmp - /usr/share/mthttpd/www/index.html"
check  "GET /logo.png is an attachment" \
    bash -c "curl -fsS --max-time 10 -D - -o $WORK/logo.png $BASE/logo.png | tr -d '\r' |
             grep -qi '^Content-Disposition: attachment; filename=\"logo.png\"'"
check  "logo.png arrives byte for byte"       cmp "$WORK/logo.png" /usr/share/mthttpd/www/logo.png
expect "GET /no-such-file is 404"             404 code "$BASE/no-such-file"
expect "path traversal is 403"                403 code --path-as-is "$BASE/../../etc/passwd"
expect "unknown Host is 403"                  403 code -H 'Host: www.example.test:8080' "$BASE/"

echo "--- uploads"
expect "POST /upload is 201"                  201 upload '{"e2e": "upload", "n": 1}'
name=$(sed -n 's|.*"path":"/uploads/\([^"]*\)".*|\1|p' "$WORK/up.json")
if [ -n "$name" ] && [ -f "$UPLOADS/$name" ]; then
    pass "stored as $UPLOADS/$name"
    expect "upload owned by _mthttpd"         _mthttpd stat -c %U "$UPLOADS/$name"
    check  "stored body is the one sent" \
        bash -c "printf '%s' '{\"e2e\": \"upload\", \"n\": 1}' | cmp - '$UPLOADS/$name'"
    expect "GET /uploads/$name is 200"        200 code "$BASE/uploads/$name"
else
    fail "upload not found in $UPLOADS (response: $(cat "$WORK/up.json" 2>/dev/null))"
    ls -la "$UPLOADS" 2>&1 | sed 's/^/      /'
fi
expect "wrong Content-Type is 415"            415 code -H 'Content-Type: text/plain' \
    --data-binary 'hello' "$BASE/upload"

echo "--- status"
check  "STATUS= reaches systemd (workers N/M busy, queue ...)" \
    bash -c "systemctl show -P StatusText $UNIT.service | grep -E '^workers [0-9]+/[0-9]+ busy, queue '"
check  "systemctl status shows the Status line" \
    bash -c "systemctl status --no-pager $UNIT.service | grep -E 'Status: \"workers [0-9]+/[0-9]+ busy'"
expect "WatchdogSec=30s"                      30s systemctl show -P WatchdogUSec $UNIT.service
# a WATCHDOG=1 ping moves systemd's WatchdogTimestamp (one every 15 s)
watchdog_pinged() {
    local t0 t; t0=$(systemctl show -P WatchdogTimestampMonotonic $UNIT.service)
    for _ in $(seq 50); do
        sleep 0.5; t=$(systemctl show -P WatchdogTimestampMonotonic $UNIT.service)
        [ -n "$t" ] && [ "$t" -gt "${t0:-0}" ] 2>/dev/null && return 0
    done
    echo "WatchdogTimestampMonotonic stayed at '$t0' for 25 s: no WATCHDOG=1"; return 1
}
check  "the server pings the watchdog (WatchdogTimestamp advances)" watchdog_pinged

echo "--- reload: a valid change"
pid=$(mainpid)
body20='{"k":"0123456789ab"}'       # 20 bytes
expect "20-byte upload accepted before"       201 upload "$body20"
sed -i 's/^max_body_size = .*/max_body_size = 10;/' "$CONF"
sed -i 's/^allowed_hosts = \[/allowed_hosts = ["www.example.test", /' "$CONF"
check  "systemctl reload"                     reload
expect "MainPID unchanged by reload"          "$pid" mainpid
expect "service still active"                 active systemctl is-active $UNIT.service
expect "20-byte upload now 413 (max_body_size = 10)" 413 upload "$body20"
expect "added host www.example.test now 200"  200 code -H 'Host: www.example.test:8080' "$BASE/"
check  "journal: configuration reloaded"      journal_has "configuration reloaded" -u $UNIT
check  "journal: systemd's 'Reloaded' line"   journal_has "Reloaded mthttpd" -u $UNIT

echo "--- reload: a broken configuration"
cp "$CONF" "$WORK/mthttpd.conf.good"
sed -i 's/^pool_size = .*/pool_size = 0;/' "$CONF"
line=$(grep -n '^pool_size = 0;' "$CONF" | cut -d: -f1)
if reload >/dev/null 2>&1; then fail "systemctl reload succeeded with pool_size = 0"
else pass "systemctl reload fails with pool_size = 0"; fi
expect "MainPID unchanged"                    "$pid" mainpid
expect "service still active"                 active systemctl is-active $UNIT.service
expect "old configuration keeps serving (413)" 413 upload "$body20"
expect "old configuration keeps serving (200)" 200 code -H 'Host: www.example.test:8080' "$BASE/"
check  "journal names file:line of the error" journal_has "$CONF:$line: pool_size" -u $UNIT
cp "$WORK/mthttpd.conf.good" "$CONF"
check  "reload with the file repaired"        reload

echo "--- 100 reloads, each in force when systemctl reload returns"
# Two configurations that differ visibly: .html sent as an attachment or not.
cp "$CONF" "$WORK/conf.plain"
sed 's/^download_extensions = \[/download_extensions = ["html", /' "$CONF" > "$WORK/conf.attach"
stale=0 failed_reloads=0
for i in $(seq 100); do
    if [ $((i % 2)) = 1 ]; then cp "$WORK/conf.attach" "$CONF"; want=1; else cp "$WORK/conf.plain" "$CONF"; want=0; fi
    reload >/dev/null 2>&1 || failed_reloads=$((failed_reloads + 1))
    got=$(curl -s -o /dev/null -D - --max-time 10 "$BASE/about.html" | grep -ci '^Content-Disposition: attachment')
    [ "$got" = "$want" ] || stale=$((stale + 1))
done
cp "$WORK/conf.plain" "$CONF"
reload >/dev/null 2>&1
expect "100 reloads: none failed"             0 echo "$failed_reloads"
expect "100 reloads: the next request saw the new configuration every time" 0 echo "$stale"
expect "MainPID unchanged by the reloads"     "$pid" mainpid

echo "--- access log: /var/log/mthttpd/access.log"
LOGDIR=/var/log/mthttpd
ALOG=$LOGDIR/access.log
served() {      # the STATUS= request counter of the running service
    systemctl show -P StatusText $UNIT.service | sed -n 's/.*connections, \([0-9]*\) requests.*/\1/p'
}
dropped() {
    systemctl show -P StatusText $UNIT.service | sed -n 's/.* \([0-9]*\) log records dropped.*/\1/p'
}
lines() {       # lines in the given files (.gz read with zcat), 0 for missing ones
    local n=0 f
    for f in "$@"; do
        [ -e "$f" ] || continue
        case $f in *.gz) n=$((n + $(zcat "$f" | wc -l))) ;; *) n=$((n + $(wc -l < "$f"))) ;; esac
    done
    echo "$n"
}
# Wait until STATUS= (every 5 s) counts N0+ requests and the files hold as
# many lines: the writer writes within about a second.
settle() {      # settle FILES...: prints "served lines"
    local s l last="" now
    for _ in $(seq 40); do
        s=$(served); l=$(lines "$@"); now="$s $l"
        [ "$now" = "$last" ] && [ "$s" = "$l" ] && break
        last=$now; sleep 1
    done
    echo "$(served) $(lines "$@")"
}
wrk_run() {     # wrk_run SECONDS OUTFILE: bounded load, 50 connections
    timeout $(($1 + 30)) wrk -t2 -c50 -d"$1"s --timeout 5s "$BASE/index.html" > "$2" 2>&1
}
wrk_count() { sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$1"; }
wrk_rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
wrk_errors() { grep -E 'Non-2xx|Socket errors' "$1" || true; }

check  "access_log in /etc/mthttpd.conf is $ALOG" grep -qx "access_log = \"$ALOG\";" "$CONF"
check  "/etc/logrotate.d/mthttpd installed"   test -f /etc/logrotate.d/mthttpd
check  "logrotate -d accepts it" \
    bash -c "out=\$(logrotate -d /etc/logrotate.d/mthttpd 2>&1) || { echo \"\$out\"; exit 1; }; ! printf '%s\n' \"\$out\" | grep -i 'error'"
# a fresh start: STATUS= counts from 0, the log starts empty
timeout 60 systemctl stop $UNIT.service
rm -f "$LOGDIR"/access.log*
check  "systemctl start"                      timeout 60 systemctl start $UNIT.service
expect "$LOGDIR: owner, group, mode"          "_mthttpd _mthttpd 750" stat -c '%U %G %a' "$LOGDIR"
if command -v wrk >/dev/null; then
    wrk_run 5 "$WORK/wrk1"
    n1=$(wrk_count "$WORK/wrk1")
    read -r s1 l1 <<< "$(settle "$ALOG")"
    echo "    wrk: $n1 requests ($(wrk_rps "$WORK/wrk1") req/s) $(wrk_errors "$WORK/wrk1"); STATUS: $s1 served; $ALOG: $l1 lines"
    if [ -n "$n1" ] && [ "$n1" -gt 1000 ] && [ "$l1" = "$s1" ] && [ "$s1" -ge "$n1" ] &&
        [ "$s1" -le $((n1 + 100)) ]; then
        pass "load 1: every request served is a line ($n1 by wrk, $s1 served, $l1 lines)"
    else
        fail "load 1: $n1 requests by wrk, $s1 served, $l1 lines in $ALOG"
    fi
    expect "no log records dropped"           0 dropped
    expect "access.log owner and mode"        "_mthttpd 640" stat -c '%U %a' "$ALOG"
    check  "a line in Combined Log Format" \
        grep -qE '^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} \+0000\] "GET /index\.html HTTP/1\.1" 200 [0-9]+ "-" "[^"]*"$' "$ALOG"
    useradd -M -N -G adm e2eadm 2>/dev/null || true
    check  "a member of group adm can read it" \
        setpriv --reuid=e2eadm --regid=users --init-groups head -c1 "$ALOG"
    check  "another user cannot"            bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups head -c1 $ALOG 2>/dev/null"

    echo "--- logrotate -f during a second load: nothing lost, compressed one rotation later"
    wrk_run 6 "$WORK/wrk2" & w=$!
    sleep 2
    check  "logrotate -f /etc/logrotate.d/mthttpd (during the load)" logrotate -f /etc/logrotate.d/mthttpd
    wait "$w"
    n2=$(wrk_count "$WORK/wrk2")
    read -r s2 l2 <<< "$(settle "$ALOG" "$ALOG.1")"
    echo "    wrk: $n2 requests $(wrk_errors "$WORK/wrk2"); STATUS: $s2 served; $ALOG.1 + $ALOG: $(lines "$ALOG.1") + $(lines "$ALOG") lines"
    check  "rotated to access.log.1 (not yet compressed: delaycompress)" test -f "$ALOG.1"
    if [ "$(lines "$ALOG")" -gt 0 ] && [ "$(lines "$ALOG.1")" -gt "$l1" ]; then
        pass "both files received lines of the second load"
    else
        fail "lines: $ALOG.1 $(lines "$ALOG.1"), $ALOG $(lines "$ALOG")"
    fi
    if [ "$l2" = "$s2" ] && [ $((s2 - s1)) -ge "$n2" ]; then
        pass "across the rotation: $s2 served, $l2 lines"
    else
        fail "across the rotation: $s2 served, $l2 lines (wrk: $n1 + $n2)"
    fi
    curl -s -o /dev/null --max-time 10 "$BASE/about.html"
    sleep 1.5
    check  "logrotate -f again"               logrotate -f /etc/logrotate.d/mthttpd
    check  "the old file is compressed now (access.log.2.gz)" gzip -t "$ALOG.2.gz"
    read -r s3 l3 <<< "$(settle "$ALOG" "$ALOG.1" "$ALOG.2.gz")"
    expect "all requests in access.log, .1 and .2.gz (served = lines)" "$s3" echo "$l3"
    expect "still no log records dropped"     0 dropped

    echo "--- throughput: packaged default (file) vs access_log = \"off\""
    cp "$CONF" "$WORK/conf.file"
    sed -i 's|^access_log = .*|access_log = "off";|' "$CONF"
    timeout 60 systemctl restart $UNIT.service
    wrk_run 5 "$WORK/wrk-off"
    cp "$WORK/conf.file" "$CONF"
    timeout 60 systemctl restart $UNIT.service
    wrk_run 5 "$WORK/wrk-file"
    r_off=$(wrk_rps "$WORK/wrk-off"); r_file=$(wrk_rps "$WORK/wrk-file")
    # a figure, not a check: 5 s of wrk in a container on a shared machine
    # (tests/bench/access_log.sh measures it properly)
    echo "    req/s: off $r_off, file $r_file, ratio $(awk -v a="$r_file" -v b="$r_off" 'BEGIN { printf "%.3f", a / b }')"
else
    fail "wrk is not installed in the guest"
fi

echo "--- HTTPS: mthttpd-https.socket with the snakeoil pair"
# The README's three steps: edit the tls group, enable the socket, reload.
# Then a GET and an upload over TLS, and a certificate swap by reload while
# a TLS keep-alive connection stays open.  Ends with the socket disabled and
# the configuration as it was, for the sections below.
HSOCK=$UNIT-https.socket
SNAKE_PEM=/etc/ssl/certs/ssl-cert-snakeoil.pem
SNAKE_KEY=/etc/ssl/private/ssl-cert-snakeoil.key
expect "$HSOCK shipped disabled"              disabled systemctl is-enabled $HSOCK
expect "$HSOCK not started"                   inactive systemctl is-active $HSOCK
expect "nothing listens on 8443"              "" bash -c "ss -Hltn 'sport = :8443'"
check  "systemd-analyze verify $HSOCK is clean" \
    bash -c "out=\$(systemd-analyze verify --man=no $HSOCK 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
[ -f "$SNAKE_KEY" ] || make-ssl-cert generate-default-snakeoil
expect "snakeoil key is root:ssl-cert 640"    "root:ssl-cert 640" stat -c '%U:%G %a' "$SNAKE_KEY"
# the name the certificate is for (make-ssl-cert uses the host name)
TLSNAME=$(openssl x509 -in "$SNAKE_PEM" -noout -subject -nameopt sep_multiline | sed -n 's/^ *CN=//p')
TLSPORT=8443
HBASE=https://$TLSNAME:$TLSPORT
# tcode/tcurl: curl over TLS to $TLSNAME (resolved to 127.0.0.1), trusting CA-FILE
tcurl() { local ca=$1; shift; curl -sS --max-time 10 --cacert "$ca" --resolve "$TLSNAME:$TLSPORT:127.0.0.1" "$@"; }
tcode() { tcurl "$SNAKE_PEM" -o /dev/null -w '%{http_code}' "$@" 2>/dev/null; }
# fingerprint of the certificate a new handshake gets
served_fp() {
    timeout 10 openssl s_client -connect 127.0.0.1:$TLSPORT -servername "$TLSNAME" </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
cp "$CONF" "$WORK/mthttpd.conf.before-tls"
sed -i "s/^allowed_hosts = \[/allowed_hosts = [\"$TLSNAME\", /; s/^max_body_size = .*/max_body_size = 1048576;/" "$CONF"
cat >> "$CONF" <<TLS
tls = {
  port = $TLSPORT;
  certificates = ( { certificate = "$SNAKE_PEM"; key = "$SNAKE_KEY"; } );
  min_version = "TLSv1.2";
};
TLS
check  "mthttpd -t accepts the tls group"     /usr/sbin/mthttpd -t -c "$CONF"
pid0=$(mainpid)
check  "systemctl enable --now $HSOCK"        timeout 60 systemctl enable --now $HSOCK
check  "systemctl reload $UNIT"               reload
for _ in $(seq 50); do      # the socket's start restarts the service (no-block)
    [ "$(systemctl is-active $UNIT.service)" = active ] && [ -z "$(systemctl show -P Job $UNIT.service)" ] && break
    sleep 0.2
done
expect "service active"                       active systemctl is-active $UNIT.service
expect "listening on 0.0.0.0:8443 and [::]:8443" "0.0.0.0:8443 [::]:8443" \
    bash -c "ss -Hltn 'sport = :8443' | awk '{print \$4}' | sort | paste -sd' '"
pid=$(mainpid)
if [ "$pid" != "$pid0" ] && [ "$pid" != 0 ]; then
    pass "service started again with the HTTPS sockets (MainPID $pid0 -> $pid)"
else
    fail "service not handed the HTTPS sockets (MainPID $pid0 -> $pid)"
fi
expect "runs as _mthttpd, not root"           _mthttpd ps -o user= -p "$pid"
sslgid=$(getent group ssl-cert | cut -d: -f3)
check  "in group ssl-cert ($sslgid)" \
    bash -c "grep '^Groups:' /proc/$pid/status | tr -s ' \t' '\n' | grep -qx '$sslgid'"
expect "HTTPS GET / is 200 (certificate verified)" 200 tcode "$HBASE/"
https_index() { tcurl "$SNAKE_PEM" -f "$HBASE/" | cmp - /usr/share/mthttpd/www/index.html; }
check  "HTTPS GET / is the bundled index.html" https_index
check  "HTTP still served on 8080"            test "$(code "$BASE/")" = 200
# an upload over TLS: a 96 KB JSON document, stored byte for byte
printf '{"e2e":"https","data":"%s"}' "$(head -c 72000 /dev/urandom | base64 -w0)" > "$WORK/big.json"
hcode=$(tcurl "$SNAKE_PEM" -o "$WORK/hup.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$WORK/big.json" "$HBASE/upload" 2>&1)
hname=$(sed -n 's|.*"path":"/uploads/\([^"]*\)".*|\1|p' "$WORK/hup.json")
if [ "$hcode" = 201 ] && [ -n "$hname" ] && [ -f "$UPLOADS/$hname" ]; then
    pass "HTTPS POST /upload is 201 ($(stat -c %s "$WORK/big.json") bytes, $hname)"
    check "stored upload is byte for byte the body sent" cmp "$WORK/big.json" "$UPLOADS/$hname"
else
    fail "HTTPS upload: status '$hcode', response $(head -c 300 "$WORK/hup.json" 2>/dev/null)"
fi
# a slow reader of a 4 MiB download: beyond its window the kernel holds at
# most about the HTTPS socket's TCP_NOTSENT_LOWAT (128 KiB) for it, not a
# full send buffer (megabytes); ss shows that backlog as notsent
SLOWF=/usr/share/mthttpd/www/e2e-slow.bin
head -c 4194304 /dev/urandom > "$SLOWF"
tcurl "$SNAKE_PEM" -o /dev/null --limit-rate 32k --max-time 15 "$HBASE/e2e-slow.bin" 2>/dev/null &
slowpid=$!
worst=0
for _ in $(seq 30); do
    sleep 0.1
    n=$(ss -tniH state established '( sport = :8443 )' |
        sed -n 's/.*notsent:\([0-9]*\).*/\1/p' | sort -n | tail -1)
    [ "${n:-0}" -gt "$worst" ] && worst=$n
done
kill "$slowpid" 2>/dev/null; wait "$slowpid" 2>/dev/null
rm -f "$SLOWF"
if [ "$worst" -gt 0 ] && [ "$worst" -le 262144 ]; then
    pass "a slow HTTPS reader: at most $worst bytes unsent in the kernel (TCP_NOTSENT_LOWAT 128 KiB)"
else
    fail "a slow HTTPS reader: $worst bytes unsent in the kernel at most (want 1..262144)"
fi
# certificate swap by reload, a TLS keep-alive connection open meanwhile
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=$TLSNAME" -addext "subjectAltName=DNS:$TLSNAME" \
    -keyout /etc/ssl/private/mthttpd-e2e.key -out /etc/ssl/certs/mthttpd-e2e.pem 2>/dev/null
chgrp ssl-cert /etc/ssl/private/mthttpd-e2e.key && chmod 0640 /etc/ssl/private/mthttpd-e2e.key
old_fp=$(openssl x509 -in "$SNAKE_PEM" -noout -fingerprint -sha256)
new_fp=$(openssl x509 -in /etc/ssl/certs/mthttpd-e2e.pem -noout -fingerprint -sha256)
expect "a new handshake gets the snakeoil certificate" "$old_fp" served_fp
mkfifo "$WORK/ka.in"
openssl s_client -quiet -connect 127.0.0.1:$TLSPORT -servername "$TLSNAME" \
    < "$WORK/ka.in" > "$WORK/ka.out" 2> "$WORK/ka.err" &
kapid=$!
exec 7> "$WORK/ka.in"
ka_get() {      # ka_get N: send a request on the open connection, wait for response N
    printf 'GET /about.html HTTP/1.1\r\nHost: %s:%s\r\n\r\n' "$TLSNAME" "$TLSPORT" >&7
    for _ in $(seq 50); do
        [ "$(grep -c '^HTTP/1.1 200' "$WORK/ka.out")" -ge "$1" ] && return 0
        sleep 0.2
    done
    echo "no response $1 on the open connection; got: $(head -c 300 "$WORK/ka.out"; cat "$WORK/ka.err")"
    return 1
}
check  "keep-alive TLS connection: request 1 is 200" ka_get 1
sed -i "s|$SNAKE_PEM|/etc/ssl/certs/mthttpd-e2e.pem|; s|$SNAKE_KEY|/etc/ssl/private/mthttpd-e2e.key|" "$CONF"
check  "systemctl reload with the new certificate" reload
expect "MainPID unchanged by the swap"        "$pid" mainpid
check  "the open TLS connection still serves after the reload (request 2 is 200)" ka_get 2
check  "its client is still connected"        kill -0 "$kapid"
expect "a new handshake gets the new certificate" "$new_fp" served_fp
expect "HTTPS GET / with the new certificate is 200" 200 \
    tcurl /etc/ssl/certs/mthttpd-e2e.pem -o /dev/null -w '%{http_code}' "$HBASE/"
exec 7>&-
kill "$kapid" 2>/dev/null; wait "$kapid" 2>/dev/null
# back to HTTP only
check  "systemctl disable --now $HSOCK"       timeout 60 systemctl disable --now $HSOCK
cp "$WORK/mthttpd.conf.before-tls" "$CONF"
check  "reload without the tls group"         reload
for _ in $(seq 50); do
    [ "$(systemctl is-active $UNIT.service)" = active ] && [ -z "$(systemctl show -P Job $UNIT.service)" ] && break
    sleep 0.2
done
expect "8443 closed again"                    000 tcode "$HBASE/"
expect "HTTP still 200"                       200 code "$BASE/"
rm -f /etc/ssl/private/mthttpd-e2e.key /etc/ssl/certs/mthttpd-e2e.pem

echo "--- restart under load: no refused connection"
# Two clients loop new-connection GETs for up to 5 s (at most 400 each)
# while the service restarts; the socket unit holds the listening sockets.
loop() {        # loop OUTFILE
    local ok=0 bad=0 end=$((SECONDS + 5)) c
    for _ in $(seq 400); do
        [ $SECONDS -lt $end ] || break
        c=$(code "$BASE/about.html")
        if [ "$c" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "got $c" >> "$1.err"; fi
    done
    echo "$ok $bad" > "$1"
}
pid=$(mainpid)
loop "$WORK/load1" & l1=$!
loop "$WORK/load2" & l2=$!
sleep 1
check  "systemctl restart while clients loop" timeout 60 systemctl restart $UNIT.service
wait "$l1" "$l2"
read -r ok1 bad1 < "$WORK/load1"; read -r ok2 bad2 < "$WORK/load2"
if [ "$((bad1 + bad2))" = 0 ] && [ "$((ok1 + ok2))" -gt 0 ]; then
    pass "$((ok1 + ok2)) requests across the restart, none failed"
else
    fail "$((bad1 + bad2)) of $((ok1 + ok2 + bad1 + bad2)) requests failed across the restart: $(sort "$WORK"/load*.err 2>/dev/null | uniq -c | tr '\n' ' ')"
fi
new=$(mainpid)
if [ "$new" != "$pid" ] && [ "$new" != 0 ]; then pass "new MainPID after restart"; else fail "MainPID $pid -> $new"; fi
expect "old process gone"                     1 bash -c "kill -0 $pid 2>/dev/null; echo \$?"
check  "the old process logged 'stopped'"     journal_has 'stopped$' -u $UNIT _PID="$pid"

echo "--- stop"
check  "systemctl stop"                       timeout 90 systemctl stop $UNIT.service
expect "Result=success"                       success systemctl show -P Result $UNIT.service
expect "exit status 0"                        0 systemctl show -P ExecMainStatus $UNIT.service
expect "socket still active"                  active systemctl is-active $UNIT.socket
expect "next request starts it again"         200 code "$BASE/"
expect "no restarts happened (watchdog, crashes)" 0 systemctl show -P NRestarts $UNIT.service

echo "--- reinstall (upgrade path): edited conffile kept, service restarted"
deb=$(for d in ${E2E_DEBS:-}; do case $d in */mthttpd_*.deb) echo "$d";; esac; done | head -1)
if [ -n "$deb" ] && [ -f "$deb" ]; then
    pid=$(mainpid)
    sock_since=$(systemctl show -P ActiveEnterTimestampMonotonic $UNIT.socket)
    rm -f "$WORK"/load*
    loop "$WORK/load1" & l1=$!
    sleep 0.5
    check  "dpkg -i the same package again, clients looping" \
        env DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "$deb"
    wait "$l1"
    read -r ok1 bad1 < "$WORK/load1"
    if [ "$bad1" = 0 ] && [ "$ok1" -gt 0 ]; then
        pass "$ok1 requests across the upgrade, none failed"
    else
        fail "$bad1 of $((ok1 + bad1)) requests failed across the upgrade: $(sort "$WORK"/load1.err 2>/dev/null | uniq -c | tr '\n' ' ')"
    fi
    check  "admin's edit survived"            grep -q '^max_body_size = 10;' "$CONF"
    expect "socket kept listening (not restarted)" "$sock_since" \
        systemctl show -P ActiveEnterTimestampMonotonic $UNIT.socket
    new=$(mainpid)
    if [ "$new" != "$pid" ] && [ "$new" != 0 ]; then pass "service restarted by the upgrade"
    else fail "service not restarted by the upgrade (MainPID $pid -> $new)"; fi
    expect "still serving the edited configuration" 413 upload "$body20"
else
    skip "no mthttpd .deb in \$E2E_DEBS: reinstall not tried"
fi

echo "--- access_log = \"journal\": fields, and journald's rate limit measured"
# (last: the loads below exhaust journald's rate limit for mthttpd.service
# for up to 30 s, which would hide the journal lines other checks look for)
cp "$CONF" "$WORK/conf.file"
sed -i 's|^access_log = .*|access_log = "journal";|' "$CONF"
check  "restart with access_log = journal"    timeout 60 systemctl restart $UNIT.service
code "$BASE/about.html" >/dev/null; code "$BASE/no-such-file" >/dev/null
check  "request lines in the journal"         journal_has '"GET /about.html HTTP/1.1" 200' -u $UNIT
check  "404 request line in the journal"      journal_has '"GET /no-such-file HTTP/1.1" 404' -u $UNIT
check  "structured field: journalctl MTHTTPD_STATUS=404" \
    journal_has 'no-such-file' -u $UNIT MTHTTPD_STATUS=404
check  "structured fields in -o verbose"      journal_has 'MTHTTPD_STATUS=200' -u $UNIT -o verbose
jd_cpu() {      # journald's CPU time so far, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$(systemctl show -P MainPID systemd-journald.service)/stat"
}
# measure_journal LABEL: a fresh service, 12 s of load (more lines than
# journald's default burst for this disk), then what the journal kept of
# it, and journald's CPU time.  (journald reports "Suppressed N messages"
# only when the unit's next window starts: served - kept is the loss.)
measure_journal() {
    local p c0 c1 n k s
    sleep 31    # journald's window for the unit (RateLimitIntervalSec=30s) ends
    timeout 60 systemctl restart $UNIT.service
    p=$(mainpid); c0=$(jd_cpu)
    wrk_run 12 "$WORK/wrk-j"
    sleep 6; journalctl --sync; c1=$(jd_cpu)
    n=$(wrk_count "$WORK/wrk-j")
    k=$(journalctl --no-pager -o cat _PID="$p" MESSAGE_ID=efb1a062379a4112a461a66464a9a6a1 | wc -l)
    echo "    $1 (unit: LogRateLimitIntervalUSec=$(systemctl show -P LogRateLimitIntervalUSec $UNIT.service) LogRateLimitBurst=$(systemctl show -P LogRateLimitBurst $UNIT.service)):"
    s=$(served)
    echo "      wrk $n requests ($(wrk_rps "$WORK/wrk-j") req/s), served $s, journal kept $k request lines, lost $((s - k)), journald CPU $(( (c1 - c0) * 10 )) ms, refused (counted by mthttpd) $(dropped)"
}
ratelimit() {   # ratelimit DROP-IN-LINES...
    mkdir -p /etc/systemd/system/$UNIT.service.d
    printf '[Service]\n' > /etc/systemd/system/$UNIT.service.d/ratelimit.conf
    printf '%s\n' "$@" >> /etc/systemd/system/$UNIT.service.d/ratelimit.conf
    systemctl daemon-reload
}
if command -v wrk >/dev/null; then
    journalctl --no-pager -o cat -u systemd-journald | grep -E 'Runtime Journal|System Journal' | sed 's/^/    /'
    measure_journal "journald defaults"
    ratelimit "LogRateLimitIntervalSec=0"
    measure_journal "LogRateLimitIntervalSec=0"
    ratelimit "LogRateLimitIntervalSec=1s" "LogRateLimitBurst=1000000"
    measure_journal "LogRateLimitIntervalSec=1s, LogRateLimitBurst=1000000"
    rm -rf /etc/systemd/system/$UNIT.service.d
    systemctl daemon-reload
fi
cp "$WORK/conf.file" "$CONF"
check  "back to the packaged access log"      timeout 60 systemctl restart $UNIT.service

echo "--- remove and purge"
check  "apt-get remove"                       env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq mthttpd
expect "service stopped"                      inactive systemctl is-active $UNIT.service
expect "socket stopped"                       inactive systemctl is-active $UNIT.socket
expect "port 8080 closed"                     000 code "$BASE/"
check  "configuration kept after remove"      test -f "$CONF"
check  "uploads kept after remove"            test -d "$UPLOADS"
check  "access logs kept after remove"        test -f /var/log/mthttpd/access.log
check  "apt-get purge"                        env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq mthttpd
check  "/var/lib/mthttpd removed by purge"    test ! -e /var/lib/mthttpd
check  "/var/log/mthttpd removed by purge"    test ! -e /var/log/mthttpd
check  "/etc/mthttpd.conf removed by purge"   test ! -e "$CONF"
check  "unit files gone"                      bash -c "! systemctl cat $UNIT.service >/dev/null 2>&1"
expect "no failed units"                      "" systemctl --failed --no-legend --plain

rm -rf "$WORK"
echo "--- $passes passed, $fails failed"
exit "$fails"

#!/bin/bash
# Browser test: Debian's headless Chromium, driven by playwright-core, against
# the built mthttpd serving resources/ on 127.0.0.1, over HTTP and over HTTPS
# with a certificate from a test CA made here, which Chromium trusts through
# an NSS database in its $HOME (as a user's added CA; no certificate error
# is ignored).  Installs what is missing (apt: chromium, libnss3-tools,
# openssl; npm: playwright-core into ./node_modules, from package-lock.json),
# starts the daemon from a temp config, runs test.mjs, stops the daemon by
# PID.  Ends with "browser: N passed, N failed"; exit 0
# only if every check passed.
#
# Environment: MTHTTPD_BIN (default <repo>/_build/src/mthttpd),
#              CHROMIUM (default /usr/bin/chromium).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
BIN=${MTHTTPD_BIN:-$REPO/_build/src/mthttpd}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
NCHECKS=10  # checks test.mjs runs; missing ones count as failed

say() { echo "browser: $*" >&2; }
finish() { echo "browser: $1 passed, $2 failed"; exit "$3"; }

# ------------------------------------------------------------ installs
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

have_candidate() {  # (no grep -q on a pipe: under pipefail SIGPIPE would fail it)
    local p
    p=$(apt-cache policy chromium 2>/dev/null)
    [[ $p =~ Candidate:\ [0-9] ]]
}
if [ ! -x "$CHROMIUM" ]; then
    say "installing chromium (apt)"
    if ! have_candidate; then
        as_root apt-get update -qq || { say "apt-get update failed"; finish 0 1 1; }
    fi
    have_candidate || { say "no chromium package available"; finish 0 1 1; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || { say "apt-get install chromium failed"; finish 0 1 1; }
fi
[ -x "$CHROMIUM" ] || { say "$CHROMIUM missing"; finish 0 1 1; }
if ! command -v certutil >/dev/null || ! command -v openssl >/dev/null; then
    say "installing libnss3-tools openssl (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libnss3-tools openssl >/dev/null || { say "apt-get install libnss3-tools failed"; finish 0 1 1; }
fi

command -v node >/dev/null && command -v npm >/dev/null || { say "node/npm missing"; finish 0 1 1; }
if [ ! -f "$HERE/node_modules/playwright-core/package.json" ]; then
    say "installing playwright-core (npm ci)"
    # playwright-core never downloads a browser; the variable is belt and braces
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
        || { say "npm ci failed"; finish 0 1 1; }
fi

[ -x "$BIN" ] || { say "daemon $BIN not built"; finish 0 1 1; }

# ------------------------------------------------------------ the daemon
TMP=$(mktemp -d /tmp/mth-browser.XXXXXX)
PID=
stop_daemon() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$PID" 2>/dev/null; then
            say "daemon $PID ignored SIGTERM for 5 s: SIGKILL"
            kill -KILL "$PID" 2>/dev/null
        fi
        wait "$PID" 2>/dev/null
    fi
    PID=
}
cleanup() { stop_daemon; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$TMP/uploads"
# Free ports: bind 127.0.0.1:0, read it, close (a small race, fine here).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
PORT=$(free_port) || { say "no free port"; finish 0 1 1; }
TLS_PORT=$(free_port) || { say "no free port"; finish 0 1 1; }

# The test CA and the server's certificate (ECDSA P-256, localhost and
# 127.0.0.1), made now; the CA goes into the NSS database of Chromium's
# $HOME, trusted for servers ("C,,").
mkdir -p "$TMP/home/.pki/nssdb"
if ! { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 2 -subj "/CN=mthttpd browser test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$TMP/server.key" -out "$TMP/server.csr" -subj "/CN=localhost" &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth" \
        > "$TMP/server.ext" &&
    openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
        -CAcreateserial -days 2 -extfile "$TMP/server.ext" -out "$TMP/server.pem" &&
    certutil -N -d "sql:$TMP/home/.pki/nssdb" --empty-password &&
    certutil -A -d "sql:$TMP/home/.pki/nssdb" -n "mthttpd browser test CA" -t "C,," -i "$TMP/ca.pem"
   } > "$TMP/certs.log" 2>&1; then
    say "could not make the test CA:"; cat "$TMP/certs.log" >&2; finish 0 1 1
fi
cat > "$TMP/mthttpd.conf" <<CONF
port = $PORT;
listen_address = "127.0.0.1";
document_root = "$REPO/resources";
uploads_dir = "$TMP/uploads";
allowed_hosts = ["127.0.0.1", "localhost"];
pool_size = 4;
access_log = "$TMP/access.log";
shutdown_timeout = 3;
tls = {
  port = $TLS_PORT;
  http2 = true;
  certificates = ( { certificate = "$TMP/server.pem"; key = "$TMP/server.key"; } );
};
CONF

env -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES -u NOTIFY_SOCKET \
    "$BIN" -c "$TMP/mthttpd.conf" </dev/null >"$TMP/server.log" 2>&1 &
PID=$!
up=0
for _ in $(seq 100); do   # 10 s
    kill -0 "$PID" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && exec 4<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then
        up=1; break
    fi
    sleep 0.1
done
if [ "$up" -ne 1 ]; then
    say "daemon did not come up on 127.0.0.1:$PORT and :$TLS_PORT; its log:"
    cat "$TMP/server.log" >&2
    finish 0 1 1
fi

# ------------------------------------------------------------ the test
out="$TMP/test.out"
BASE_URL="http://127.0.0.1:$PORT" TLS_BASE_URL="https://localhost:$TLS_PORT" \
UPLOADS_DIR="$TMP/uploads" RESOURCES="$REPO/resources" \
CHROMIUM="$CHROMIUM" DOWNLOAD_DIR="$TMP" CHROMIUM_HOME="$TMP/home" \
    timeout -k 5 120 node "$HERE/test.mjs" 2>&1 | tee "$out"
nrc=${PIPESTATUS[0]}

pass=$(grep -c '^PASS' "$out")
fail=$(grep -c '^FAIL' "$out")
missing=$((NCHECKS - pass - fail))
[ "$missing" -gt 0 ] && fail=$((fail + missing))
if [ "$nrc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
if [ "$fail" -ne 0 ]; then
    [ "$nrc" -eq 124 ] && say "test.mjs timed out (120 s)"
    say "daemon log:"; tail -n 30 "$TMP/server.log" >&2
fi

stop_daemon
if [ "$fail" -eq 0 ]; then finish "$pass" 0 0; else finish "$pass" "$fail" 1; fi

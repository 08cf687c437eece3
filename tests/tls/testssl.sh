#!/bin/bash
# tests/tls/testssl.sh - testssl.sh (the Debian package) against mthttpd's
# TLS listener.
#
# Starts the built daemon on two free 127.0.0.1 ports (HTTP and TLS) with an
# ECDSA P-256 certificate signed by a test CA, both made now with openssl
# (nothing committed, nothing that expires in the repository), runs testssl
# bounded in time with JSON and CSV output, prints a summary, and fails when
# a finding has severity HIGH or CRITICAL.  Last line:
#   testssl: N passed, N failed
# (N = findings; a missing or incomplete scan is one failure).
#
# The checks: protocols (-p), cipher categories (-s), forward secrecy (-f),
# server preferences (-P), server defaults and certificate (-S), HTTP
# headers (-h), vulnerabilities (-U).  Left out: client simulation and the
# per-cipher scans (-c, -e, -E), which take minutes and add no finding
# with a severity of their own.
#
# One finding is judged here rather than by testssl 3.0.8: `cipher_order`
# "NOT a cipher order configured" is HIGH there whatever ciphers are
# offered.  mthttpd follows Mozilla's "intermediate" profile, which turns
# server cipher preference off because every cipher it offers is strong
# (testssl 3.1 and later no longer rate this HIGH).  The script accepts it
# only when every cipher category testssl checked (cipherlist_*) is OK or
# INFO; otherwise it stays a failure.
#
# Environment: MTHTTPD_BIN (default <repo>/_build/src/mthttpd),
#              TESTSSL_TIMEOUT (seconds for testssl, default 600; about 3 minutes
#              on a lightly loaded 2-core machine, 6-7 at a load average of 11),
#              TESTSSL_ARTIFACTS (directory to keep the JSON, CSV and log).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${MTHTTPD_BIN:-$REPO/_build/src/mthttpd}
LIMIT=${TESTSSL_TIMEOUT:-600}

say() { echo "testssl: $*" >&2; }
finish() { echo "testssl: $1 passed, $2 failed"; exit "$3"; }

# ------------------------------------------------------------ installs
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
need=()
command -v testssl >/dev/null || need+=(testssl.sh)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} (apt)"
    as_root apt-get update -qq || { say "apt-get update failed"; finish 0 1 1; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${need[@]}" >/dev/null || { say "apt-get install failed"; finish 0 1 1; }
fi
[ -x "$BIN" ] || { say "daemon $BIN not built"; finish 0 1 1; }

TMP=$(mktemp -d /tmp/mth-testssl.XXXXXX)
PID=
stop_daemon() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    PID=
}
cleanup() { stop_daemon; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ certificates
# A CA and a server certificate for localhost / 127.0.0.1, ECDSA P-256, as a
# public CA issues them (CRL and OCSP addresses included: testssl rates a
# certificate without either HIGH; nothing fetches them here).
gen_certs() {
    local d=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 365 -subj "/CN=mthttpd test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" 2>/dev/null &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "crlDistributionPoints=URI:http://127.0.0.1/ca.crl" \
        "authorityInfoAccess=OCSP;URI:http://127.0.0.1/ocsp" > "$d/server.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 365 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
}
gen_certs "$TMP" || { say "openssl could not make the test certificates"; finish 0 1 1; }

# ------------------------------------------------------------ the daemon
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
HTTP_PORT=$(free_port) && TLS_PORT=$(free_port) || { say "no free port"; finish 0 1 1; }
mkdir "$TMP/uploads"
cat > "$TMP/mthttpd.conf" <<CONF
port = $HTTP_PORT;
listen_address = "127.0.0.1";
document_root = "$REPO/resources";
uploads_dir = "$TMP/uploads";
allowed_hosts = ["127.0.0.1", "localhost"];
pool_size = 4;
access_log = "off";
log_level = "warning";
shutdown_timeout = 3;
tls = {
  port = $TLS_PORT;
  certificates = ( { certificate = "$TMP/server.pem"; key = "$TMP/server.key"; } );
};
CONF
env -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES -u NOTIFY_SOCKET \
    "$BIN" -c "$TMP/mthttpd.conf" </dev/null >"$TMP/server.log" 2>&1 &
PID=$!
up=0
for _ in $(seq 100); do   # 10 s
    kill -0 "$PID" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
done
if [ "$up" -ne 1 ]; then
    say "daemon did not come up on 127.0.0.1:$TLS_PORT; its log:"
    cat "$TMP/server.log" >&2
    finish 0 1 1
fi

# ------------------------------------------------------------ the scan
say "testssl $(testssl --version 2>/dev/null | sed -n 's/.*testssl *\([0-9][^ ]*\).*/\1/p' | head -1)" \
    "against 127.0.0.1:$TLS_PORT (at most ${LIMIT}s)"
t0=$SECONDS
timeout -k 10 "$LIMIT" testssl --quiet --color 0 --warnings off --nodns none \
    --connect-timeout 5 --openssl-timeout 5 --add-ca "$TMP/ca.pem" \
    --jsonfile "$TMP/testssl.json" --csvfile "$TMP/testssl.csv" \
    -p -s -f -P -S -h -U "https://127.0.0.1:$TLS_PORT/" > "$TMP/testssl.log" 2>&1
trc=$?
say "scan took $((SECONDS - t0))s (testssl status $trc)"
if [ -n "${TESTSSL_ARTIFACTS:-}" ]; then
    mkdir -p "$TESTSSL_ARTIFACTS" &&
        cp "$TMP"/testssl.json "$TMP"/testssl.csv "$TMP"/testssl.log "$TESTSSL_ARTIFACTS"/ 2>/dev/null
fi
if [ "$trc" -eq 124 ] || [ "$trc" -eq 137 ]; then
    say "testssl did not finish within ${LIMIT}s"; tail -20 "$TMP/testssl.log" >&2
    finish 0 1 1
fi
kill -0 "$PID" 2>/dev/null || { say "the daemon died during the scan; its log:"; tail -30 "$TMP/server.log" >&2; finish 0 1 1; }

# ------------------------------------------------------------ the verdict
python3 - "$TMP/testssl.json" <<'PY'
import json, sys
from collections import Counter

try:
    findings = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print(f"testssl: no JSON results ({e})", file=sys.stderr)
    print("testssl: 0 passed, 1 failed")
    sys.exit(1)

byid = {f["id"]: f for f in findings}
bad = {"HIGH", "CRITICAL"}
# testssl 3.0.8 rates "no server cipher order" HIGH whatever is offered; we
# accept it only if every cipher category it checked is OK or INFO.
cl = [f for f in findings if f["id"].startswith("cipherlist_")]
co = byid.get("cipher_order")
accepted = []
if co and co["severity"] == "HIGH" and cl and all(f["severity"] in ("OK", "INFO") for f in cl):
    accepted.append(co)

failed = [f for f in findings if f["severity"] in bad and f not in accepted]
# an incomplete scan is a failure too: the protocol checks must be there
missing = [p for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cert_trust")
           if p not in byid]
sev = Counter(f["severity"] for f in findings)
print("testssl summary:", ", ".join(f"{k} {sev[k]}" for k in
      ("CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "OK", "INFO") if sev[k]), file=sys.stderr)
for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cert_trust", "cert_keySize",
          "cert_signatureAlgorithm", "FS", "cipher_negotiated", "HSTS"):
    if p in byid:
        print(f"  {p:24} {byid[p]['severity']:8} {byid[p]['finding']}", file=sys.stderr)
for f in findings:
    if f["severity"] in ("CRITICAL", "HIGH", "MEDIUM", "WARN"):
        tag = "accepted" if f in accepted else f["severity"]
        print(f"  {f['id']:24} {tag:8} {f['finding']}", file=sys.stderr)
for f in accepted:
    print("  (cipher_order: testssl 3.0.8 says HIGH for no server cipher preference; accepted "
          "because every cipher category offered is OK -- Mozilla intermediate)", file=sys.stderr)
for p in missing:
    print(f"  {p}: not in the results (scan incomplete)", file=sys.stderr)
nfail = len(failed) + len(missing)
print(f"testssl: {len(findings) - len(failed)} passed, {nfail} failed")
sys.exit(1 if nfail else 0)
PY
prc=$?
# the summary line came from python; keep its status
if [ "$prc" -ne 0 ]; then
    say "daemon log (tail):"; tail -n 20 "$TMP/server.log" >&2
fi
stop_daemon
exit "$prc"

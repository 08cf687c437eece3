#!/bin/sh
# The command line: -t on good and broken configs (the error names file,
# line and key), --version, --help, and a bad option.
# Exit status: 0 pass, 1 fail (automake's plain test protocol).
set -u
bin=${MTHTTPD_BIN:-../src/mthttpd}
src=${MTHTTPD_SRCDIR:-..}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect DESCRIPTION STATUS PATTERN -- command...
expect() {
    desc=$1 want=$2 pat=$3
    shift 4
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        bad "$desc: exit $rc, want $want: $out"
    elif ! printf '%s\n' "$out" | grep -q -- "$pat"; then
        bad "$desc: output lacks '$pat': $out"
    else
        ok "$desc"
    fi
}

# the packaged config, with its make-time paths substituted
sed -e "s|@pkgdatadir@|/usr/share/mthttpd|g" -e "s|@localstatedir@|/var|g" \
    "$src/etc/mthttpd.conf.in" > "$tmp/packaged.conf"
expect "packaged config is valid" 0 "configuration OK" -- "$bin" -t -c "$tmp/packaged.conf"
sed -e "s|@abs_top_srcdir@|$src|g" "$src/etc/mthttpd-dev.conf.in" > "$tmp/dev.conf"
expect "developer config is valid" 0 "configuration OK" -- "$bin" -t -c "$tmp/dev.conf"

printf 'port = 8080;\npool_size = 0;\n' > "$tmp/range.conf"
expect "out-of-range value names file, line and key" 1 "range.conf:2.*pool_size" -- \
    "$bin" -t -c "$tmp/range.conf"
printf 'port = 8080;\n\nbogus_key = 1;\n' > "$tmp/unknown.conf"
expect "unknown key names file, line and key" 1 "unknown.conf:3.*bogus_key" -- \
    "$bin" -t -c "$tmp/unknown.conf"
printf 'port = 8080\npool_size = ;\n' > "$tmp/syntax.conf"
expect "syntax error names file and line" 1 "syntax.conf:[0-9]" -- \
    "$bin" -t -c "$tmp/syntax.conf"
printf 'port = "8080";\n' > "$tmp/type.conf"
expect "wrong type names the key" 1 "type.conf:1.*port" -- "$bin" -t -c "$tmp/type.conf"
expect "missing file" 1 "nonexistent.conf" -- "$bin" -t -c "$tmp/nonexistent.conf"
expect "a bad config stops the daemon too" 1 "pool_size" -- "$bin" -c "$tmp/range.conf"

# upload_users_file: weak hash formats are refused by -t, naming the line
if command -v htpasswd >/dev/null 2>&1; then
    htpasswd -nbB -C 5 alice pw-alice | sed '/^$/d' > "$tmp/users"
    printf 'upload_users_file = "%s/users";\n' "$tmp" > "$tmp/users.conf"
    expect "bcrypt users file is valid" 0 "configuration OK" -- "$bin" -t -c "$tmp/users.conf"
    for weak in "-m:apr1" "-s:SHA" "-d:DES" "-p:plain"; do
        flag=${weak%%:*} what=${weak#*:}
        cp "$tmp/users" "$tmp/users.weak"
        htpasswd -nb $flag bob pw-bob 2>/dev/null | sed '/^$/d' >> "$tmp/users.weak"
        printf 'port = 0;\nupload_users_file = "%s/users.weak";\n' "$tmp" > "$tmp/weak.conf"
        expect "$what hash refused by -t with file:line" 1 \
            "weak.conf:2.*upload_users_file.*users.weak:2" -- "$bin" -t -c "$tmp/weak.conf"
    done
else
    echo "skip: htpasswd (apache2-utils) not installed"
fi

expect "--version" 0 "^mthttpd [0-9]" -- "$bin" --version
expect "--help" 0 "Usage: mthttpd" -- "$bin" --help
expect "unknown option" 2 "Usage" -- "$bin" --no-such-option

printf 'port = 0;\nlisten_address = "127.0.0.1";\ndocument_root = "%s/missing";\n' "$tmp" \
    > "$tmp/nodir.conf"
expect "missing document_root is a clear start-up error" 1 "document_root" -- \
    env -u LISTEN_FDS "$bin" -c "$tmp/nodir.conf"

# -t loads every TLS certificate and key (a throw-away CA made here)
if command -v openssl >/dev/null 2>&1 &&
    sh "$src/tests/integration/tls-certs.sh" "$tmp/certs" >/dev/null 2>&1; then
    c=$tmp/certs
    tlsconf() { # NAME CERT KEY
        printf 'tls = { port = 8443; certificates = ( { certificate = "%s"; key = "%s"; } ); };\n' \
            "$2" "$3" > "$tmp/$1.conf"
    }
    tlsconf tls-good "$c/a.pem" "$c/a.key"
    expect "-t: a good certificate and key" 0 "configuration OK" -- "$bin" -t -c "$tmp/tls-good.conf"
    tlsconf tls-missing "$c/none.pem" "$c/a.key"
    expect "-t: a missing certificate names the file" 1 "none.pem': cannot read: No such file" -- \
        "$bin" -t -c "$tmp/tls-missing.conf"
    tlsconf tls-nokey "$c/a.pem" "$c/none.key"
    expect "-t: a missing key names the file" 1 "none.key': cannot read" -- \
        "$bin" -t -c "$tmp/tls-nokey.conf"
    tlsconf tls-mismatch "$c/a.pem" "$c/b.key"
    expect "-t: a key that does not match" 1 "b.key' does not match certificate '$c/a.pem'" -- \
        "$bin" -t -c "$tmp/tls-mismatch.conf"
    tlsconf tls-notpem "$c/a.ext" "$c/a.key"
    expect "-t: not a certificate" 1 "a.ext': not a PEM certificate" -- \
        "$bin" -t -c "$tmp/tls-notpem.conf"
    tlsconf tls-expired "$c/expired.pem" "$c/expired.key"
    expect "-t: an expired certificate is a warning" 0 "warning: .*expired.pem' expired on Jan  2" -- \
        "$bin" -t -c "$tmp/tls-expired.conf"
    expect "-t: ... and the configuration is still OK" 0 "configuration OK" -- \
        "$bin" -t -c "$tmp/tls-expired.conf"
    chmod 000 "$c/a.key"
    if [ "$(id -u)" -ne 0 ]; then
        expect "-t: an unreadable key" 1 "a.key': cannot read: Permission denied" -- \
            "$bin" -t -c "$tmp/tls-good.conf"
    fi
    chmod 600 "$c/a.key"
    printf 'tls = { port = 8443; http2 = true; h2_max_concurrent_streams = 10; certificates = ( { certificate = "%s"; key = "%s"; } ); };\n' \
        "$c/a.pem" "$c/a.key" > "$tmp/tls-h2.conf"
    expect "-t: tls.http2 and tls.h2_max_concurrent_streams" 0 "configuration OK" -- \
        "$bin" -t -c "$tmp/tls-h2.conf"
    printf 'tls = { port = 8443; h2 = true; certificates = ( { certificate = "%s"; key = "%s"; } ); };\n' \
        "$c/a.pem" "$c/a.key" > "$tmp/tls-bad.conf"
    expect "-t: unknown keys in the tls group" 1 "tls-bad.conf:1: tls: unknown key 'h2'" -- \
        "$bin" -t -c "$tmp/tls-bad.conf"
else
    echo "skip: no openssl, the TLS checks of -t were not run"
fi

[ "$fails" -eq 0 ]

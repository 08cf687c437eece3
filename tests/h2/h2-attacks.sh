#!/bin/sh
# make check's entry for test_h2_attacks.py: the HTTP/2 attack clients
# (rapid reset, CONTINUATION flood, HPACK bomb, SETTINGS/PING floods,
# zero-window stall, stream-id exhaustion, oversized frames) against the
# built daemon.  The Python script starts the daemon itself (free loopback
# ports, a test CA from tests/integration/tls-certs.sh, READY=1 on a
# NOTIFY_SOCKET of its own) and stops it by PID.  It needs a python3 that
# has Debian's python3-h2 stack (hpack): the first python3 on PATH may be
# another one (pyenv), so /usr/bin/python3 is tried too.
# Exit status: 0 pass, 1 fail, 77 skipped (no python3 with hpack).
src=${MTHTTPD_SRCDIR:-$(dirname "$0")/../..}
for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import hpack' 2>/dev/null; then
        exec timeout -k 5 300 "$py" "$src/tests/h2/test_h2_attacks.py" "$@"
    fi
done
echo "SKIP: no python3 with hpack (Debian: python3-h2)"
exit 77

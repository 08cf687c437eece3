#!/bin/sh
# A fuzz replay that finds no inputs (a lost or empty corpus) must fail,
# not pass as "1..0" (a TAP skip): each replay_<target> is run on an empty
# directory and on a missing one.  Runs in the build's tests/ directory.
# Exit status: 0 pass, 1 fail (automake's plain test protocol).
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-replay.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/empty"
fails=0 n=0
for bin in fuzz/replay_*; do
    [ -x "$bin" ] || continue
    n=$((n + 1))
    for corpus in "$tmp/empty" "$tmp/missing"; do
        if FUZZ_CORPUS=$corpus "$bin" > "$tmp/out" 2>&1; then
            echo "FAIL: $bin passed on $corpus: $(cat "$tmp/out")"
            fails=$((fails + 1))
        elif ! grep -q '^Bail out!' "$tmp/out"; then
            echo "FAIL: $bin failed on $corpus without a TAP 'Bail out!': $(cat "$tmp/out")"
            fails=$((fails + 1))
        else
            echo "ok: $bin fails on $corpus"
        fi
    done
done
if [ "$n" -eq 0 ]; then
    echo "FAIL: no fuzz/replay_* programs in $(pwd)"
    exit 1
fi
[ "$fails" -eq 0 ]

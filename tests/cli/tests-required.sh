#!/bin/sh
# The README's by-hand recipe must not pass untested: configured with the
# default --enable-tests=auto on a machine without Criterion, `make check`
# has to fail and say why.  Criterion is hidden from pkg-config (a
# PKG_CONFIG_LIBDIR with every .pc file but criterion's), configure runs in
# a temporary build directory, and only the tests directory's check is
# run (TESTS= empty: its own check-local decides).
# Exit status: 0 pass, 1 fail, 77 skip (automake's plain test protocol).
set -u
# never inside its own inner make (a TESTS= from an outer make's MAKEFLAGS)
[ -z "${MTHTTPD_TESTS_REQUIRED_INNER:-}" ] || exit 77
export MTHTTPD_TESTS_REQUIRED_INNER=1
unset MAKEFLAGS MFLAGS MAKELEVEL
src=${MTHTTPD_SRCDIR:-..}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-tests-required.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

[ -x "$src/configure" ] || { echo "SKIP: no $src/configure"; exit 77; }
mkdir "$tmp/pc" "$tmp/build"
for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
    for pc in "$d"/*.pc; do
        [ -e "$pc" ] || continue
        case $(basename "$pc") in criterion.pc) ;; *) ln -sf "$pc" "$tmp/pc/" ;; esac
    done
done
if ! (cd "$tmp/build" && PKG_CONFIG_LIBDIR=$tmp/pc "$src/configure" > config.out 2>&1); then
    echo "FAIL: configure without Criterion failed (auto must still build the daemon):"
    tail -20 "$tmp/build/config.out"
    exit 1
fi
grep -q "tests (criterion): *no" "$tmp/build/config.out" || {
    echo "FAIL: Criterion was not hidden: $(grep 'tests (criterion)' "$tmp/build/config.out")"
    exit 1
}
if make -C "$tmp/build/tests" check TESTS= > "$tmp/check.out" 2>&1; then
    echo "FAIL: 'make check' passed without Criterion:"
    cat "$tmp/check.out"
    exit 1
fi
if ! grep -q "libcriterion-dev" "$tmp/check.out"; then
    echo "FAIL: 'make check' failed without saying why:"
    cat "$tmp/check.out"
    exit 1
fi
echo "ok: without Criterion, make check fails: $(grep -m1 "ERROR: Criterion" "$tmp/check.out")"

#!/bin/bash
# tests/e2e/run.sh - mthttpd's end-to-end test: build the Debian package from
# a clean copy of this repository, install it into a container booted with
# a real systemd, and run tests/e2e/guest-test.sh there.
#
# Usage (as root):  tests/e2e/run.sh
#
# The .deb is built with DEB_BUILD_OPTIONS=nocheck (the test suite runs in
# `scripts/dev.sh test`; `dpkg-buildpackage` without nocheck runs it too).
# Installs what it needs on the host with apt-get: the build dependencies
# from debian/control, dpkg-dev, fakeroot, systemd-container, debootstrap.
# Ends with one line "e2e: N passed, N failed"; exit status 0 when the
# build, the install and every check passed.
#
# Environment (optional):
#   MTHTTPD_DEB     test this .deb instead of building one
#   E2E_ARTIFACTS   directory for the logs (build.log, console.log, journal.txt)
#   E2E_*           passed on to run-e2e.sh (E2E_CACHE_DIR, E2E_TIMEOUT, ...)
# Times: about 1-2 minutes the first time (debootstrap of the guest image,
# cached in E2E_CACHE_DIR, default /var/tmp/mthttpd-e2e), then well under a
# minute (package build + boot + test).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (systemd-nspawn, overlay mounts)"; exit 2; }

HOST_DEPS="build-essential dpkg-dev fakeroot debhelper pkgconf libconfig-dev libjson-c-dev \
libsystemd-dev systemd systemd-container debootstrap git"
install_deps() {
    local p missing=()
    for p in $HOST_DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}
install_deps

work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-e2e-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$SECONDS

if [ -n "${MTHTTPD_DEB:-}" ]; then
    deb=$(readlink -f "$MTHTTPD_DEB")
else
    # A clean copy: the files git knows about (committed or new, not ignored),
    # so no build directory or generated autotools file leaks into the package.
    src="$work/mthttpd"
    mkdir -p "$src"
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$top" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
            tar --null -T - -cf -) | tar -xf - -C "$src"
    else
        (cd "$top" && tar --exclude='./_build*' --exclude=./.git -cf - .) | tar -xf - -C "$src"
    fi
    (cd "$src" && dpkg-checkbuilddeps -Pnocheck) || {
        log "build dependencies missing (see debian/control)"; exit 2; }
    log "building the package (nocheck) in $src"
    if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
            dpkg-buildpackage -us -uc -b -Pnocheck) > "$work/build.log" 2>&1; then
        tail -40 "$work/build.log" >&2
        log "dpkg-buildpackage failed"
        [ -n "${E2E_ARTIFACTS:-}" ] && mkdir -p "$E2E_ARTIFACTS" && cp "$work/build.log" "$E2E_ARTIFACTS/"
        echo "e2e: 0 passed, 1 failed"
        exit 1
    fi
    deb=$(ls "$work"/mthttpd_*.deb)
    log "built $(basename "$deb") in $((SECONDS - t0))s"
    if [ -n "${E2E_ARTIFACTS:-}" ]; then
        mkdir -p "$E2E_ARTIFACTS" && cp "$work/build.log" "$E2E_ARTIFACTS/"
    fi
fi

out="$work/e2e.out"
rc=0
"$here/run-e2e.sh" "$deb" "$here/guest-test.sh" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
passed=$(grep -c '^PASS: ' "$out" || true)
failed=$(grep -c '^FAIL: ' "$out" || true)
# no result at all (boot or install failure) counts as a failure
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
log "done in $((SECONDS - t0))s"
echo "e2e: $passed passed, $failed failed"
exit "$rc"

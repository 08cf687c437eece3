#!/bin/sh
# scripts/dev.sh - the developer's and CI's one entry point (Debian 12).
#
#   scripts/dev.sh run    install what is missing, build, run mthttpd in the
#                         foreground on :8080 (PORT=... to change) serving
#                         resources/ with etc/mthttpd-dev.conf.in
#   scripts/dev.sh test   install what is missing, build with -Werror, run the
#                         whole test suite (make check + make distcheck)
#   scripts/dev.sh asan   the same suite in an ASan+UBSan build
#   scripts/dev.sh tsan   the same suite in a ThreadSanitizer build
#
# Each build lives in its own directory (_build, _build-asan, _build-tsan),
# so the source tree stays clean for `make distcheck` and dpkg-buildpackage.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# everything the build and every test of `make check`/distcheck use, so that
# nothing is skipped on a fresh machine (python3: tests/clients/test_python.py;
# systemd: systemd.pc for the unit directories; dosfstools, bindfs: the
# file systems without O_TMPFILE of tests/integration/test_shared_uploads.c;
# strace: the syscall count of tests/integration/test_file_fds.c; iproute2:
# ss, the unsent backlog of tests/h2/test_h2_attacks.py)
DEPS="build-essential autoconf automake libtool pkg-config libconfig-dev \
libjson-c-dev libsystemd-dev libssl-dev libcriterion-dev media-types curl wget \
openssl prometheus haproxy python3 systemd libcrypt-dev apache2-utils whois \
dosfstools bindfs libnghttp2-dev nghttp2-client python3-h2 strace iproute2"

install_deps() {
    missing=
    for p in $DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo ">> installing:$missing"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

# build DIR CONFIGURE-FLAGS...: (re)configure when needed, then make
build() {
    dir=$1
    shift
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
        autoreconf -fi
    fi
    mkdir -p "$dir"
    flags="$* CFLAGS=${CFLAGS:-}"
    if [ ! -f "$dir/config.status" ] || [ "$(cat "$dir/.flags" 2>/dev/null)" != "$flags" ]; then
        # shellcheck disable=SC2068
        (cd "$dir" && ../configure -q $@)
        echo "$flags" > "$dir/.flags"
    fi
    make -C "$dir" -j"$(nproc)" -s
}

# Print the plain summary line CI reads ("N passed, N failed") from the
# automake test logs; fail when anything failed or errored.
summary() {
    log=$1/tests/test-suite.log
    pass=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
    fail=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
    err=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
    echo "$(basename "$1"): ${pass:-0} passed, $((${fail:-0} + ${err:-0})) failed"
}

check() {
    dir=$1
    shift
    build "$dir" --enable-werror --enable-tests=yes "$@"
    rc=0
    make -C "$dir" -j"$(nproc)" check || rc=$?
    # A sanitizer report fails the run even where the test itself passed
    # (a leak in a Criterion worker does not change its verdict).
    if grep -l -E 'ERROR: (Leak|Address)Sanitizer|runtime error:|WARNING: ThreadSanitizer' \
        "$dir"/tests/*.log "$dir"/tests/*/*.log "$dir"/tests/tmp/*/server.log 2>/dev/null; then
        echo ">> sanitizer reports found in the logs above"
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        # show what failed: the logs of the failing tests
        grep -l -E '^(FAIL|ERROR)' "$dir"/tests/*.log "$dir"/tests/*/*.log 2>/dev/null |
            grep -v test-suite.log | while read -r f; do echo "=== $f"; tail -50 "$f"; done
    fi
    summary "$dir"
    return "$rc"
}

cmd=${1:-}
case "$cmd" in
run)
    install_deps
    build _build --enable-werror
    exec make -C _build -s run PORT="${PORT:-8080}"
    ;;
test)
    install_deps
    check _build
    make -C _build -s distcheck
    ;;
asan)
    install_deps
    CFLAGS="-O1 -g" check _build-asan --enable-asan
    ;;
tsan)
    install_deps
    CFLAGS="-O1 -g" check _build-tsan --enable-tsan
    ;;
*)
    echo "usage: $0 run|test|asan|tsan" >&2
    exit 2
    ;;
esac

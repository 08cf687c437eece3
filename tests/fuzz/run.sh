#!/bin/sh
# tests/fuzz/run.sh [SECONDS] - build every libFuzzer target with clang
# (-fsanitize=fuzzer,address,undefined) straight from src/ and run each for
# SECONDS (default 30), starting from its seed corpus in tests/fuzz/corpus/.
#
# Prints, per target, the executions libFuzzer reports ("Done N runs") and
# exits non-zero if any target crashed, leaked, tripped a sanitizer or an
# invariant (the targets __builtin_trap() on a broken contract), or failed
# to build.  Nothing is written into the repository: new corpus entries and
# crash artifacts stay in a temporary directory, which is kept (and named)
# only when something failed.
#
# Environment:
#   FUZZ_TARGETS   space-separated subset (default: all targets below)
#   FUZZ_CC        compiler (default: clang)
#   FUZZ_KEEP=1    keep the temporary directory even on success
#   FUZZ_NO_INSTALL=1  never apt-get install clang
set -u

secs=${1:-30}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cc=${FUZZ_CC:-clang}
targets=${FUZZ_TARGETS:-"http_parse chunked path host http_range http_etag proxy_proto tls_sniff json_validate auth htpasswd h2"}

# The sources each target links, besides tests/fuzz/fuzz_<target>.c.
sources_of() {
	case $1 in
	http_parse) echo "src/http_parse.c" ;;
	chunked) echo "src/chunked.c" ;;
	path) echo "src/path.c" ;;
	json_validate) echo "src/json_validate.c" ;;
	auth) echo "src/auth.c src/random.c src/siphash.c -lcrypt" ;;
	htpasswd) echo "src/htpasswd.c" ;;
	host) echo "src/host.c" ;;
	proxy_proto) echo "src/proxy_proto.c" ;;
	http_range) echo "src/http_range.c src/http_etag.c src/http_date.c src/http_parse.c" ;;
	http_etag) echo "src/http_etag.c src/http_range.c src/http_date.c src/http_parse.c" ;;
	tls_sniff) echo "src/tls_sniff.c" ;;
	# the session glue needs the connection code it hands streams to:
	# every module but main.c, and the daemon's libraries
	h2) echo "-DPACKAGE_VERSION=\"fuzz\" $(cd "$top" && ls src/*.c | grep -v '^src/main.c$' | tr '\n' ' ')" \
		"$(pkg-config --cflags --libs libconfig json-c libsystemd libssl libcrypto libcrypt libnghttp2) -pthread" ;;
	*) return 1 ;;
	esac
}

can_fuzz() {
	command -v "$cc" >/dev/null 2>&1 || return 1
	printf '%s\n' 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);' \
		'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)' \
		'{ (void)d; (void)n; return 0; }' >"$work/probe.c"
	"$cc" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" >/dev/null 2>&1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/mthttpd-fuzz.XXXXXX") || exit 2

# Debian 12: clang 14's libFuzzer runtime (libclang_rt.fuzzer-*.a) is in
# libclang-rt-14-dev, which clang only recommends; libclang-rt-dev follows
# the default clang version.
if ! can_fuzz; then
	if [ "${FUZZ_NO_INSTALL:-0}" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "run.sh: $cc cannot build -fsanitize=fuzzer targets;" \
			"install clang and libclang-rt-dev (Debian) and retry" >&2
		exit 2
	fi
	if apt-cache policy clang 2>/dev/null | grep -q 'Candidate: (none)'; then
		echo "run.sh: no clang package available (apt-get update?)" >&2
		exit 2
	fi
	echo "run.sh: installing clang and libclang-rt-dev" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		clang libclang-rt-dev >&2 || exit 2
	if ! can_fuzz; then
		echo "run.sh: $cc still cannot link libFuzzer" >&2
		exit 2
	fi
fi

cflags="-std=gnu17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-I$top/src"

failed=0
printf '%-12s %12s %8s  %s\n' target executions corpus result
for t in $targets; do
	srcs=$(sources_of "$t") || {
		echo "run.sh: unknown target '$t'" >&2
		failed=1
		continue
	}
	bin="$work/fuzz_$t"
	# shellcheck disable=SC2086 # word splitting of the source list is wanted
	if ! (cd "$top" && $cc $cflags "tests/fuzz/fuzz_$t.c" $srcs -o "$bin") \
		>"$work/$t.build.log" 2>&1; then
		printf '%-12s %12s %8s  %s\n' "$t" - - "BUILD FAILED ($work/$t.build.log)"
		cat "$work/$t.build.log" >&2
		failed=1
		continue
	fi
	mkdir -p "$work/corpus-$t" "$work/artifacts-$t"
	dict=
	[ -f "$here/dict/$t.dict" ] && dict="-dict=$here/dict/$t.dict"
	# The first corpus directory receives new inputs: the temporary one.
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts-$t/" $dict \
		"$work/corpus-$t" "$here/corpus/$t" >"$work/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$work/$t.log" | tail -n 1)
	ncorp=$(find "$work/corpus-$t" "$here/corpus/$t" -type f | wc -l)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		printf '%-12s %12s %8s  %s\n' "$t" "$runs" "$ncorp" ok
		continue
	fi
	failed=1
	printf '%-12s %12s %8s  %s\n' "$t" "${runs:--}" "$ncorp" "FAILED (exit $rc)"
	{
		echo "---- $t: last lines of $work/$t.log"
		tail -n 60 "$work/$t.log"
		for a in "$work/artifacts-$t"/*; do
			[ -f "$a" ] || continue
			echo "---- $t: $a ($(wc -c <"$a") bytes), hex:"
			od -An -tx1 -v "$a" | head -n 64
		done
	} >&2
done

if [ "$failed" -ne 0 ] || [ "${FUZZ_KEEP:-0}" = 1 ]; then
	echo "run.sh: logs, corpora and artifacts kept in $work" >&2
else
	rm -rf "$work"
fi
exit "$failed"

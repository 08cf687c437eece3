#!/bin/sh
# Runs a Python test script with python3, or reports "skipped" (exit 77,
# automake's test protocol) where no python3 is installed, e.g. a minimal
# build chroot: the Python client tests are extra evidence, not a build
# requirement.
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not installed"
	exit 77
fi
exec python3 "$@"

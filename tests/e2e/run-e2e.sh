#!/bin/bash
# shellcheck disable=SC2016,SC2317  # apt format strings; functions run via traps
# run-e2e.sh - install a .deb into a container whose PID 1 is a real systemd,
# and run a test script inside it.  mthttpd's end-to-end test
# (tests/e2e/run.sh) uses it to check the package as an administrator meets
# it: maintainer scripts, socket activation, reload, the journal, purge.
#
# Usage:  run-e2e.sh PACKAGE.deb GUEST-TEST-SCRIPT [EXTRA.deb ...]
#
# Steps
#   1. Build (once) and cache a minimal Debian root file system with
#      debootstrap, from the apt mirror the host's own apt sources name
#      (read with `apt-get indextargets`; no mirror is hard-coded).
#   2. Mount a throw-away overlayfs on top of the cached tree: every run
#      starts from the same pristine image and leaves nothing behind.
#   3. Download the package's dependencies in a non-booted container that
#      shares the host network, then boot the tree with `systemd-nspawn
#      --boot` (systemd as PID 1, journald, dbus) in a private network
#      namespace: the guest has only its own loopback, so port 8080 inside
#      never clashes with the host or with a parallel run.
#   4. A runner unit inside the guest waits for the boot to finish, runs
#      `apt-get install PACKAGE.deb` (the real maintainer scripts, with
#      systemd running, so the units get enabled and started), runs
#      GUEST-TEST-SCRIPT as root (it must start with #!; $E2E_DEBS holds the
#      guest paths of the installed .debs), saves the guest journal and
#      powers the container off with `systemctl exit <status>`.
#   5. Print the install and test output; exit with the test's status
#      (non-zero also when the boot or the install fails or times out).
#
# Host requirements: root; systemd-container and debootstrap (installed with
# apt-get when missing); overlayfs; cgroup v1/hybrid or v2.  The host's PID 1
# does not need to be systemd.
#
# Environment (all optional):
#   E2E_CACHE_DIR   where the base root fs is cached  (default /var/tmp/mthttpd-e2e)
#   TMPDIR          where per-run work dirs go        (default /tmp)
#   E2E_SUITE       Debian suite of the guest         (default: the host's)
#   E2E_MIRROR      mirror URL                        (default: from host apt)
#   E2E_PACKAGES    extra packages for the base root fs, comma separated
#   E2E_TIMEOUT     seconds for boot+install+test+shutdown (default 600)
#   E2E_NETWORK     private (default) | host: the guest's network namespace
#   E2E_CGROUP      auto (default) | unified: cgroup layout in the guest
#   E2E_ARTIFACTS   directory to copy the logs to (console.log, journal.txt, ...)
#   E2E_KEEP        1 = keep the per-run work dir (debugging)
#   E2E_VERBOSE     1 = also stream the container console while it runs
#   E2E_REBUILD     1 = rebuild the cached root fs
set -euo pipefail

SELF=$(basename "$0")
log() { printf '[%s %s] %s\n' "$SELF" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

[ $# -ge 2 ] || { sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
PKG=$(readlink -f "$1"); TEST=$(readlink -f "$2"); shift 2
EXTRA_DEBS=()
for d in "$@"; do EXTRA_DEBS+=("$(readlink -f "$d")"); done
for f in "$PKG" "$TEST" "${EXTRA_DEBS[@]}"; do [ -f "$f" ] || die "no such file: $f"; done
[ "$(id -u)" = 0 ] || die "must run as root"
# Run in a private mount namespace: the overlay mount of a run can then never
# outlive this script, even if it is killed with SIGKILL.
if [ -z "${E2E_IN_MOUNTNS:-}" ]; then
    E2E_IN_MOUNTNS=1 exec unshare --mount --propagation private "$(readlink -f "$0")" \
        "$PKG" "$TEST" "${EXTRA_DEBS[@]}"
fi

CACHE_DIR=${E2E_CACHE_DIR:-/var/tmp/mthttpd-e2e}
TMP_BASE=${TMPDIR:-/tmp}     # per-run work dirs (overlay upper layer, logs)
SUITE=${E2E_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:?}")}
TIMEOUT=${E2E_TIMEOUT:-600}
NETWORK=${E2E_NETWORK:-private}
ARCH=$(dpkg --print-architecture)
# Packages in every base rootfs: systemd as init, dbus for systemctl/logind,
# adduser/passwd for maintainer scripts, curl + iproute2 + procps for tests,
# logrotate + wrk for the access-log checks, ssl-cert (+ openssl) for the
# HTTPS test's snakeoil pair.
BASE_PACKAGES="systemd,systemd-sysv,dbus,adduser,passwd,curl,ca-certificates,iproute2,procps,logrotate,wrk,ssl-cert"
[ -n "${E2E_PACKAGES:-}" ] && BASE_PACKAGES="$BASE_PACKAGES,$E2E_PACKAGES"

# ---------------------------------------------------------------- host tools
missing=()
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v debootstrap    >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing host packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
grep -qw overlay /proc/filesystems || die "kernel has no overlayfs"

# ------------------------------------------------------- mirror from host apt
# `apt-get indextargets` prints what apt itself parsed from sources.list and
# sources.list.d/*.{list,sources} (one-line and deb822 formats alike).
apt_sites() {   # prints "SITE RELEASE COMPONENT" for the host's binary indices
    apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' \
        'Identifier: Packages' "Architecture: $ARCH" 2>/dev/null | sort -u
}
HOST_SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
site_of() { apt_sites | awk -v s="$1" '$2 == s {print $1; exit}'; }
# The mirror serving SUITE on this host; for a suite the host does not use
# (e.g. a trixie guest on a bookworm host), the mirror of the host's own suite.
MIRROR=${E2E_MIRROR:-$(site_of "$SUITE")}
MIRROR=${MIRROR:-$(site_of "$HOST_SUITE")}
[ -n "$MIRROR" ] || die "no apt source found on this host (run apt-get update, or set E2E_MIRROR)"
# Guest sources.list: the host's entries for SUITE, SUITE-updates and
# SUITE-security; just "deb MIRROR SUITE main" if the host has none for SUITE.
guest_sources() {
    local l
    l=$(apt_sites | awk -v s="$SUITE" '$2 == s || $2 == s"-updates" || $2 == s"-security" {
        k = $1 " " $2; if (!(k in c)) o[n++] = k; c[k] = c[k] " " $3 }
        END { for (i = 0; i < n; i++) print "deb " o[i] c[o[i]] }')
    if [ -z "${E2E_MIRROR:-}" ] && [ -n "$l" ]; then echo "$l"; else echo "deb $MIRROR $SUITE main"; fi
}

# ------------------------------------------------------------------- cgroups
# systemd-nspawn puts the container into "payload" and itself into
# "supervisor" sub-cgroups of the cgroup it is started in. When PID 1 of the
# host is not systemd, nobody hands us a delegated cgroup, so we create one
# per run (in every hierarchy systemd cares about) and move into it: this keeps
# parallel runs apart and lets us kill everything left over at the end.
CG_DIRS=()
cg_setup() {   # $1 = name
    local mnt
    CG_DIRS=()
    for mnt in $(awk '$3 == "cgroup2" || ($3 == "cgroup" && $4 ~ /(^|,)name=systemd(,|$)/) {print $2}' /proc/self/mounts); do
        mkdir -p "$mnt/$1" && CG_DIRS+=("$mnt/$1")
    done
    [ ${#CG_DIRS[@]} -gt 0 ] || die "no cgroup2 or name=systemd hierarchy mounted"
}
cg_run() {     # run "$@" inside our cgroups (in a subshell, so we stay outside)
    ( for d in "${CG_DIRS[@]}"; do echo "$BASHPID" > "$d/cgroup.procs"; done; exec "$@" )
}
cg_cleanup() {
    local d pids
    for d in "${CG_DIRS[@]}"; do
        [ -e "$d/cgroup.kill" ] && echo 1 > "$d/cgroup.kill" 2>/dev/null || true
    done
    for _ in $(seq 50); do    # cgroup v1 fallback + wait for the kill to land
        pids=$(for d in "${CG_DIRS[@]}"; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done)
        [ -z "$pids" ] && break
        # shellcheck disable=SC2086
        kill -9 $pids 2>/dev/null || true; sleep 0.1
    done
    for d in "${CG_DIRS[@]}"; do
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

# Leftovers of runs whose harness was SIGKILLed (the container keeps running in
# its cgroup then): cgroups are named mthe2e-<pid>-*, so reap those whose <pid> is
# gone, together with their work dirs.
reap_stale() {
    local d name pid seen=" "
    for d in /sys/fs/cgroup/unified/mthe2e-* /sys/fs/cgroup/mthe2e-* /sys/fs/cgroup/systemd/mthe2e-*; do
        [ -d "$d" ] || continue
        name=${d##*/}; pid=${name#mthe2e-}; pid=${pid#build-}; pid=${pid%%-*}
        case $pid in ''|*[!0-9]*) continue ;; esac
        # alive (a zombie does not count: this host's init reaps lazily)
        if [ -e "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            continue
        fi
        case $seen in *" $name "*) ;; *) log "reaping leftovers of dead run $name"; seen="$seen$name " ;; esac
        CG_DIRS=("$d"); cg_cleanup
        rm -rf "$TMP_BASE/$name".??????
    done
    CG_DIRS=()
}
reap_stale

# --register=no --keep-unit: do not talk to systemd-machined / the host's
# systemd over D-Bus (there is none when PID 1 is not systemd).
# --link-journal=no: keep the guest journal inside the (throw-away) guest.
nspawn_common=(--quiet --register=no --keep-unit --link-journal=no --timezone=off)
# Cgroup layout inside the guest. "auto" lets nspawn mirror the host (hybrid
# v1+v2 on a hybrid host); "unified" gives the guest a pure cgroup2 tree, which
# systemd >= 256 (trixie and later) needs, as it refuses to boot on cgroup v1.
case ${E2E_CGROUP:-auto} in
    auto) ;;
    unified) export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 ;;
    *) die "E2E_CGROUP must be auto or unified" ;;
esac

# ------------------------------------------------------------- base rootfs
KEY=$(printf '%s\n' "v1" "$SUITE" "$ARCH" "$MIRROR" "$BASE_PACKAGES" "$(guest_sources)" | sha256sum | cut -c1-12)
BASE="$CACHE_DIR/rootfs-$SUITE-$KEY"
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock 9      # one builder at a time; readers of a finished rootfs don't care
if [ "${E2E_REBUILD:-0}" = 1 ]; then rm -rf "$BASE"; fi
if [ ! -e "$BASE/.complete" ]; then
    t0=$SECONDS
    log "building base rootfs $BASE ($SUITE from $MIRROR)"
    rm -rf "$BASE" "$BASE.tmp"; mkdir -p "$CACHE_DIR/debs"
    debootstrap --variant=minbase --arch="$ARCH" --include="$BASE_PACKAGES" \
        --cache-dir="$CACHE_DIR/debs" "$SUITE" "$BASE.tmp" "$MIRROR" \
        > "$CACHE_DIR/debootstrap.log" 2>&1 \
        || { tail -30 "$CACHE_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
    guest_sources > "$BASE.tmp/etc/apt/sources.list"
    # Make the image quiet and deterministic for tests: no timers doing apt
    # work behind the test's back, no getty on the console.
    cat > "$BASE.tmp/root/e2e-setup.sh" <<'EOF'
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get -y -qq -o Dpkg::Use-Pty=0 dist-upgrade >/dev/null
apt-get clean
systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer fstrim.timer console-getty.service getty@.service >/dev/null 2>&1 || true
EOF
    cg_setup "mthe2e-build-$$"
    trap cg_cleanup EXIT
    cg_run systemd-nspawn "${nspawn_common[@]}" -D "$BASE.tmp" --machine="mthe2e-build-$$" \
        --console=pipe /bin/sh /root/e2e-setup.sh < /dev/null >&2 \
        || die "rootfs setup failed"
    cg_cleanup; trap - EXIT
    rm -f "$BASE.tmp/root/e2e-setup.sh"
    touch "$BASE.tmp/.complete"
    mv "$BASE.tmp" "$BASE"
    log "base rootfs ready in $((SECONDS - t0))s ($(du -sh "$BASE" | cut -f1))"
else
    log "using cached base rootfs $BASE"
fi
flock -u 9

# ------------------------------------------------------------- per-run setup
RUN_ID="mthe2e-$$-$RANDOM"
WORK=$(mktemp -d "$TMP_BASE/$RUN_ID.XXXXXX")
ROOT="$WORK/root"
mkdir -p "$WORK/upper" "$WORK/ovl" "$ROOT" "$WORK/in" "$WORK/out"
cleanup() {
    local rc=$?
    cg_cleanup
    mountpoint -q "$ROOT" && umount "$ROOT"
    if [ "${E2E_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cg_setup "$RUN_ID"

mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT"

cp "$PKG" "${EXTRA_DEBS[@]}" "$WORK/in/"
install -m 0755 "$TEST" "$WORK/in/test"
DEBS=$(for f in "$PKG" "${EXTRA_DEBS[@]}"; do printf '/e2e/in/%s ' "$(basename "$f")"; done)

# The runner: started by systemd at boot, after multi-user.target.
mkdir -p "$ROOT/e2e"
cat > "$ROOT/e2e/runner.sh" <<EOF
#!/bin/bash
# generated by $SELF: install the package(s), run the test, power off.
exec > /e2e/out/output.log 2>&1
echo "=== boot: \$(timeout 120 systemctl is-system-running --wait) (systemd \$(systemctl --version | awk 'NR==1{print \$2}'), PID 1 = \$(readlink /proc/1/exe))"
systemctl --failed --no-legend --plain | sed 's/^/    failed unit: /'
echo "=== apt-get install $DEBS"
if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o Dpkg::Use-Pty=0 -o Acquire::Retries=0 $DEBS; then
    echo "=== running test script"
    E2E_DEBS="$DEBS" /e2e/in/test; rc=\$?
    echo "=== test script exit status: \$rc"
else
    rc=\$?; echo "=== apt-get install FAILED (status \$rc)"; [ \$rc -ne 0 ] || rc=1
fi
journalctl --sync
journalctl -b --no-pager -o short-monotonic > /e2e/out/journal.txt 2>&1
echo "\$rc" > /e2e/out/rc
sync
systemctl exit "\$rc" || systemctl poweroff
EOF
chmod 0755 "$ROOT/e2e/runner.sh"
cat > "$ROOT/etc/systemd/system/e2e-runner.service" <<'EOF'
[Unit]
Description=e2e test runner
After=multi-user.target
[Service]
# Type=simple so the boot transaction completes (is-system-running -> running)
Type=simple
ExecStart=/e2e/runner.sh
EOF
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf ../e2e-runner.service "$ROOT/etc/systemd/system/multi-user.target.wants/e2e-runner.service"

binds=(--bind-ro="$WORK/in:/e2e/in" --bind="$WORK/out:/e2e/out")
case $NETWORK in
    private) net=(--private-network) ;;
    host)    net=() ;;
    *)       die "E2E_NETWORK must be private or host" ;;
esac
# The booted guest has no network (private mode), and the cached apt lists may
# be stale: refresh them and fetch the package's dependencies now, in a
# non-booted container that shares the host network. The real install happens
# later, in the booted guest, so maintainer scripts see a running systemd.
log "fetching dependencies of $(basename "$PKG")"
cg_run systemd-nspawn "${nspawn_common[@]}" -D "$ROOT" --machine="$RUN_ID" "${binds[@]}" \
    --console=pipe /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --download-only --no-install-recommends $DEBS" \
    < /dev/null > "$WORK/out/deps.log" 2>&1 \
    || { cat "$WORK/out/deps.log" >&2; die "could not download dependencies"; }

# ------------------------------------------------------------------ boot
log "booting container $RUN_ID (timeout ${TIMEOUT}s)"
t0=$SECONDS
console="$WORK/out/console.log"
set +e
if [ "${E2E_VERBOSE:-0}" = 1 ]; then
    cg_run timeout --kill-after=15 "$TIMEOUT" systemd-nspawn "${nspawn_common[@]}" \
        --boot -D "$ROOT" --machine="$RUN_ID" "${net[@]}" "${binds[@]}" \
        --console=read-only < /dev/null 2>&1 | tee "$console" >&2
    nspawn_rc=${PIPESTATUS[0]}
else
    cg_run timeout --kill-after=15 "$TIMEOUT" systemd-nspawn "${nspawn_common[@]}" \
        --boot -D "$ROOT" --machine="$RUN_ID" "${net[@]}" "${binds[@]}" \
        --console=read-only < /dev/null > "$console" 2>&1
    nspawn_rc=$?
fi
set -e
log "container exited after $((SECONDS - t0))s (systemd-nspawn status $nspawn_rc)"

# ---------------------------------------------------------------- results
[ -f "$WORK/out/output.log" ] && cat "$WORK/out/output.log"
if [ -n "${E2E_ARTIFACTS:-}" ]; then
    mkdir -p "$E2E_ARTIFACTS" && cp "$WORK"/out/*.log "$WORK"/out/*.txt "$E2E_ARTIFACTS"/ 2>/dev/null || true
fi
if [ -s "$WORK/out/rc" ]; then
    rc=$(cat "$WORK/out/rc")
else
    log "no result from the guest (timeout or boot failure); console tail:"
    sed 's/\x1b\[[0-9;]*m//g' "$console" | tail -40 >&2
    rc=$(( nspawn_rc == 0 ? 1 : nspawn_rc ))
fi
if [ "$rc" != 0 ] && [ -f "$WORK/out/journal.txt" ]; then
    log "FAILED (status $rc); last 60 lines of the guest journal:"
    tail -60 "$WORK/out/journal.txt" >&2
fi
exit "$rc"

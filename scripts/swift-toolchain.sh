#!/usr/bin/env bash
# Swift 6 on this Linux host, for the Swift package's tests (scripts/test-swift.sh): a Debian
# trixie root (debootstrap --variant=minbase, then `swiftlang` = Swift 6.0.3 with SwiftPM,
# Foundation and XCTest) cached under ~/.cache/bitnet-sdk/swift-root, entered with chroot.
#
#   scripts/swift-toolchain.sh                 makes the root if needed, prints `swift --version`
#   scripts/swift-toolchain.sh run DIR CMD...  runs CMD in the root, in DIR (a directory of this
#                                              repository, absolute or relative to the caller)
#
# Needs root (debootstrap, chroot, mounts). The root is made once, in a temporary directory
# renamed into place after a marker file is written, so a half-made root (interrupted,
# failed download) is made again. An exclusive lock serialises making it; runs hold it
# shared, so any number of them can run at once.
#
# Each run happens in a private mount namespace (unshare -m): /proc, /dev, the repository, the
# cache directory (at the same paths as on the host, so paths printed or passed in env vars
# mean the same inside and out) and a fresh /tmp are mounted there only. The mounts vanish
# with the namespace's last process whatever way it ends (failure, Ctrl-C, SIGKILL), nothing
# is ever mounted on the host, and concurrent runs (even of different checkouts) cannot see
# each other's mounts. An exit trap unmounts them explicitly as well.
#
# The command gets a clean environment: PATH, HOME=/root, LANG, TMPDIR, plus LD_LIBRARY_PATH,
# every BITNET_* variable and the names listed in SWIFT_RUN_ENV (space-separated) as set by
# the caller. Extra host directories to mount at their own path: SWIFT_RUN_BINDS (colon-
# separated).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd -P)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
ROOT="$CACHE/swift-root"
LOCK="$CACHE/swift-root.lock"
MIRROR="${BITNET_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What the root is made of; a root made from another spec is made again.
SPEC="trixie minbase: swiftlang libc6-dev"
MARKER=".bitnet-swift-root"

die() { echo "swift-toolchain.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot and mounts)"
command -v unshare >/dev/null || die "needs unshare (util-linux)"

ready() { [[ -f $ROOT/$MARKER && "$(cat "$ROOT/$MARKER")" == "$SPEC" ]]; }

# Fails if anything is mounted at or under $1 (never rm -rf across a mount).
check_unmounted() {
    if awk -v p="$1" '$2 == p || index($2, p "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
        die "something is mounted under $1; unmount it first"
    fi
}

make_root() {
    local tmp="$ROOT.tmp" start=$SECONDS
    check_unmounted "$tmp"
    check_unmounted "$ROOT"
    rm -rf "$tmp" "$ROOT"
    if ! command -v debootstrap >/dev/null; then
        echo "==> apt-get install debootstrap" >&2
        apt-get install -y debootstrap >/dev/null || { apt-get update >/dev/null && apt-get install -y debootstrap >/dev/null; }
    fi
    echo "==> debootstrap --variant=minbase trixie $tmp" >&2
    # In a namespace of its own: the /proc and /sys debootstrap mounts die with it.
    nice unshare --mount --propagation private -- \
        debootstrap --variant=minbase trixie "$tmp" "$MIRROR" >"$CACHE/swift-root.log" 2>&1 ||
        die "debootstrap failed; see $CACHE/swift-root.log"
    echo "==> apt-get install swiftlang libc6-dev (in the root)" >&2
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    nice unshare --mount --propagation private -- bash -c '
        set -e
        mount -t proc proc "$1/proc"
        mount --rbind /dev "$1/dev"
        chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive sh -c \
            "apt-get update && apt-get install -y --no-install-recommends swiftlang libc6-dev && apt-get clean"
    ' _ "$tmp" >>"$CACHE/swift-root.log" 2>&1 || die "installing swiftlang failed; see $CACHE/swift-root.log"
    echo "$SPEC" >"$tmp/$MARKER"
    mv "$tmp" "$ROOT"
    echo "==> Swift root ready in $((SECONDS - start)) s: $ROOT" >&2
}

# Takes the lock shared (fd 9, held until this script exits), making the root first, under the
# lock taken exclusively, if it is missing or half-made.
ensure_root() {
    mkdir -p "$CACHE"
    exec 9>"$LOCK"
    if ! flock -s -n 9 || ! ready; then
        flock -u 9
        flock -x 9
        ready || make_root
        flock -s 9   # downgrade: other runs may start
    fi
}

# The mount namespace's script: $1 root, $2 host tmp dir for /tmp, $3 working directory, then
# the directories to mount at their own path, `--`, the env assignments, `--`, the command.
INNER='
set -euo pipefail
root=$1 tmp=$2 wd=$3; shift 3
binds=(); while [[ $1 != -- ]]; do binds+=("$1"); shift; done; shift
envs=(); while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"; mounted+=("$root/proc")
mount --rbind /dev "$root/dev"; mounted+=("$root/dev")
mount --bind "$tmp" "$root/tmp"; mounted+=("$root/tmp")
for b in "${binds[@]}"; do
    mkdir -p "$root$b"
    mount --bind "$b" "$root$b"; mounted+=("$root$b")
done
status=0
chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TMPDIR=/tmp "${envs[@]}" \
    /bin/sh -c '\''cd "$1" && shift && exec "$@"'\'' sh "$wd" "$@" || status=$?
exit $status
'

run() {
    (($# >= 2)) || die "usage: $0 run DIR COMMAND..."
    local dir
    dir="$(cd "$1" && pwd -P)" || die "no directory $1"
    shift
    case "$dir/" in "$REPO"/*) ;; *) die "$dir is not inside the repository $REPO" ;; esac
    local binds=("$REPO" "$CACHE") extra name
    if [[ -n ${SWIFT_RUN_BINDS:-} ]]; then
        IFS=: read -ra extra <<<"$SWIFT_RUN_BINDS"
        for name in "${extra[@]}"; do
            [[ -d $name ]] || die "SWIFT_RUN_BINDS: no directory $name"
            binds+=("$(cd "$name" && pwd -P)")
        done
    fi
    local envs=()
    for name in LD_LIBRARY_PATH ${SWIFT_RUN_ENV:-} $(compgen -e | grep '^BITNET_' || true); do
        if [[ -n ${!name+set} ]]; then envs+=("$name=${!name}"); fi
    done
    # Not exec: the trap removes the run's /tmp once the namespace has gone.
    RUN_TMP="$(mktemp -d)"
    trap 'rm -rf "$RUN_TMP"' EXIT
    # A signal ends the script through exit, so the EXIT trap runs.
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    local status=0
    unshare --mount --propagation private -- bash -c "$INNER" _ \
        "$ROOT" "$RUN_TMP" "$dir" "${binds[@]}" -- "${envs[@]}" -- "$@" || status=$?
    return $status
}

ensure_root
case "${1:-}" in
    "") run "$REPO" swift --version ;;
    run) shift; run "$@" ;;
    *) die "usage: $0 [run DIR COMMAND...]" ;;
esac

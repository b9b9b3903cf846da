#!/usr/bin/env bash
# The Swift package's tests on Linux (called by scripts/test.sh), with Swift 6 from a Debian
# trixie root (scripts/swift-toolchain.sh; made on the first run, about 1.5 min):
#   1. builds bitnet-ffi (the host libbitnet_ffi.so the package links on Linux, see
#      Package.swift) and the CLI;
#   2. makes the same synthetic model, reference text of `bitnet generate` and memory estimate
#      of `bitnet estimate --json` as scripts/test-kotlin.sh (the stale-bindings check stays
#      there);
#   3. `swift build --build-tests` with warnings as errors, then `swift test` (XCTest), inside
#      the root. Build products are cached under ~/.cache/bitnet-sdk/swift-build.
# The last line is XCTest's summary ("Executed N tests, with 0 failures ...").
# BITNET_STORM_OPS / BITNET_STORM_RSS_MARGIN_MIB reach the storm test (StormTests.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
mkdir -p "$CACHE/tmp"
# Under the cache: the root sees the cache directory at the same path.
WORK="$(mktemp -d "$CACHE/tmp/test-swift.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "==> Swift toolchain (scripts/swift-toolchain.sh)"
scripts/swift-toolchain.sh

echo "==> bitnet-ffi and the CLI"
nice cargo build -q -p bitnet-ffi
nice cargo build -q -p bitnet-cli
BITNET="$TARGET/debug/bitnet"
LIB="$TARGET/debug"

echo "==> synthetic model and the CLI's reference text"
# shellcheck source=scripts/binding-fixtures.sh
source scripts/binding-fixtures.sh
binding_fixtures "$WORK" "$BITNET"

echo "==> Swift package on Linux (swift build, swift test)"
# The library: found by the linker (-L) and at run time (LD_LIBRARY_PATH, passed into the root).
export LD_LIBRARY_PATH="$LIB"
# The root mounts the repository and the cache directory; the target directory may be neither.
export SWIFT_RUN_BINDS="$LIB"
# One build directory per checkout.
SCRATCH="$CACHE/swift-build/$(basename "$REPO")-$(printf %s "$REPO" | sha256sum | cut -c1-8)"
SWIFT_FLAGS=(--scratch-path "$SCRATCH" -Xlinker -L"$LIB")
nice scripts/swift-toolchain.sh run . swift build --build-tests "${SWIFT_FLAGS[@]}" -Xswiftc -warnings-as-errors
LOG="$WORK/swift-test.log"
status=0
nice scripts/swift-toolchain.sh run . swift test --skip-build --disable-swift-testing "${SWIFT_FLAGS[@]}" 2>&1 | tee "$LOG" || status=$?
# XCTest's overall summary (the last "Executed" line) is the line CI reads.
grep -E '^[[:space:]]*Executed [0-9]+ tests?' "$LOG" | tail -1 || echo "no XCTest summary (the test binary did not run)"
exit "$status"

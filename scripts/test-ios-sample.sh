#!/usr/bin/env bash
# The iOS sample app's view-models on Linux (sample-apps/ios), with Swift 6 from the Debian
# trixie root of scripts/swift-toolchain.sh (made on the first run):
#   1. builds the host libbitnet_ffi.so (which the `BitNet` package links on Linux) and the CLI;
#   2. has the CLI print the replies the tests expect from the demo model, as
#      scripts/test-compose.sh does (`bitnet chat`, greedy, then with a system prompt and
#      sampling), plus the model's SHA-256 for the download tests' catalog;
#   3. `swift build --build-tests` with warnings as errors, then `swift test` (XCTest) in
#      sample-apps/ios, inside the root. The SwiftUI target is empty on Linux. Build products
#      are cached under ~/.cache/bitnet-sdk/swift-build.
# The last line is XCTest's summary ("Executed N tests, with 0 failures ...").
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
mkdir -p "$CACHE/tmp"
# Under the cache: the root sees the cache directory at the same path.
WORK="$(mktemp -d "$CACHE/tmp/test-ios-sample.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "==> Swift toolchain (scripts/swift-toolchain.sh)"
scripts/swift-toolchain.sh

echo "==> bitnet-ffi and the CLI"
nice cargo build -q -p bitnet-ffi -p bitnet-cli
BITNET="$TARGET/debug/bitnet"
LIB="$TARGET/debug"

echo "==> the CLI's replies"
export BITNET_DEMO_MODEL="$REPO/sample-apps/demo-model/bitnet-demo-i2_s.gguf"
BITNET_DEMO_MODEL_SHA256="$(sha256sum "$BITNET_DEMO_MODEL" | cut -d' ' -f1)"
export BITNET_DEMO_MODEL_SHA256
export BITNET_EXPECTED_GREEDY="$WORK/greedy.txt" BITNET_EXPECTED_SAMPLED="$WORK/sampled.txt"
printf 'What is 17 + 25?\nReverse the list: red, green, blue\n' \
    | "$BITNET" chat "$BITNET_DEMO_MODEL" -n 256 2>/dev/null >"$BITNET_EXPECTED_GREEDY"
printf 'Define cynic.\n' \
    | "$BITNET" chat "$BITNET_DEMO_MODEL" -n 256 --system "You are terse." --temperature 0.8 --top-k 40 \
        --seed 7 2>/dev/null >"$BITNET_EXPECTED_SAMPLED"

echo "==> iOS sample view-models on Linux (sample-apps/ios: swift build, swift test)"
# The library: found by the linker (-L) and at run time (LD_LIBRARY_PATH, passed into the root).
export LD_LIBRARY_PATH="$LIB"
# The root mounts the repository and the cache directory; the target directory may be neither.
export SWIFT_RUN_BINDS="$LIB"
# One build directory per checkout and version of the generated bindings: SwiftPM does not
# always recompile this package's tests when the `BitNet` package they depend on changes its
# API (they then fail to link), so a new API starts a fresh build and the old one goes.
BASE="$CACHE/swift-build/ios-sample-$(basename "$REPO")-$(printf %s "$REPO" | sha256sum | cut -c1-8)"
SCRATCH="$BASE-$(cat ios/Sources/BitNet/Generated/*.swift | sha256sum | cut -c1-8)"
find "$(dirname "$BASE")" -maxdepth 1 -name "$(basename "$BASE")*" ! -path "$SCRATCH" -exec rm -rf {} +
# Debian's Swift 6.0.3 ships a libswiftObservation.so that needs swift::threading::fatal, which no
# runtime library exports (only its fatal-error path calls it): let the test binary link anyway.
SWIFT_FLAGS=(--scratch-path "$SCRATCH" -Xlinker -L"$LIB" -Xlinker --allow-shlib-undefined)
nice scripts/swift-toolchain.sh run sample-apps/ios \
    swift build --build-tests "${SWIFT_FLAGS[@]}" -Xswiftc -warnings-as-errors
LOG="$WORK/swift-test.log"
status=0
nice scripts/swift-toolchain.sh run sample-apps/ios \
    swift test --skip-build --disable-swift-testing "${SWIFT_FLAGS[@]}" 2>&1 | tee "$LOG" || status=$?
# XCTest's overall summary (the last "Executed" line) is the line CI reads.
grep -E '^[[:space:]]*Executed [0-9]+ tests?' "$LOG" | tail -1 || echo "no XCTest summary (the test binary did not run)"
exit "$status"

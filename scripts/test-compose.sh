#!/usr/bin/env bash
# The sample app's Compose UI and view-models on the desktop JVM (sample-apps/compose):
#   1. builds the host libbitnet_ffi.so and the CLI;
#   2. has the CLI print the replies the tests expect from the demo model (`bitnet chat`,
#      greedy, then with a system prompt and sampling);
#   3. runs the Maven build headless: the view-model tests and the Compose UI tests against the
#      real engine, each UI test saving a PNG under sample-apps/compose/target/screenshots/.
# Maven's downloads are cached under ~/.cache/bitnet-sdk/m2, so a second run needs the network
# for nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "==> host library and CLI"
cargo build -q -p bitnet-ffi -p bitnet-cli
BITNET="$TARGET/debug/bitnet"
DEMO=sample-apps/demo-model/bitnet-demo-i2_s.gguf

echo "==> the CLI's replies"
export BITNET_EXPECTED_GREEDY="$WORK/greedy.txt" BITNET_EXPECTED_SAMPLED="$WORK/sampled.txt"
printf 'What is 17 + 25?\nReverse the list: red, green, blue\n' \
    | "$BITNET" chat "$DEMO" -n 256 2>/dev/null >"$BITNET_EXPECTED_GREEDY"
printf 'Define cynic.\n' \
    | "$BITNET" chat "$DEMO" -n 256 --system "You are terse." --temperature 0.8 --top-k 40 --seed 7 \
        2>/dev/null >"$BITNET_EXPECTED_SAMPLED"

echo "==> Compose UI and view-models on the JVM (sample-apps/compose)"
export BITNET_FFI_LIB_DIR="$TARGET/debug"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
# Not -q: Surefire's "Tests run:" summary is the line CI reads.
mvn -B -ntp -Dmaven.repo.local="$CACHE/m2" -Dkotlin.compiler.daemon=false \
    -f sample-apps/compose/pom.xml test "$@"

#!/usr/bin/env bash
# The Kotlin package's tests on the JVM (called by scripts/test.sh):
#   1. builds bitnet-ffi and checks the committed Kotlin and Swift bindings are not stale;
#   2. makes a tiny synthetic model, the reference text `bitnet generate` prints for it and
#      the memory estimate `bitnet estimate --json` prints;
#   3. runs the Maven build (android/jvm): the JUnit tests against the host libbitnet_ffi.so,
#      and the Android-only files compiled against Robolectric's android-all jar and tested
#      under Robolectric (its first run downloads an instrumented android-all, 150 MB).
# Maven's downloads are cached under ~/.cache/bitnet-sdk/m2, so a second run needs the network
# for nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "==> bindings are current (scripts/generate-bindings.sh)"
scripts/generate-bindings.sh "$WORK/fresh"
for f in android/bitnet/src/main/uniffi/dev/bitnet/bitnet_ffi.kt \
         ios/Sources/BitNet/Generated/BitNet.swift ios/FFI/BitNetFFI.h ios/FFI/BitNetFFI.modulemap; do
    if ! diff -q "$f" "$WORK/fresh/$f" >/dev/null; then
        echo "stale bindings: $f differs from the library; run scripts/generate-bindings.sh" >&2
        diff -u "$f" "$WORK/fresh/$f" | head -40 >&2
        exit 1
    fi
done

echo "==> synthetic model and the CLI's reference text"
cargo build -q -p bitnet-cli
BITNET="$TARGET/debug/bitnet"
MODEL="$WORK/tiny.gguf"
# The built-in vocabulary, not $BITNET_LLAMA3_TOKENIZER: the tests rely on this exact model.
env -u BITNET_LLAMA3_TOKENIZER "$BITNET" synth --preset tiny -o "$MODEL" >/dev/null
export BITNET_TEST_MODEL="$MODEL"
export BITNET_TEST_PROMPT="Once upon a time"
export BITNET_TEST_MAX_TOKENS=24 BITNET_TEST_TEMPERATURE=0.8 BITNET_TEST_TOP_K=40 BITNET_TEST_SEED=7
export BITNET_TEST_EXPECTED="$WORK/expected.txt"
"$BITNET" generate "$MODEL" -p "$BITNET_TEST_PROMPT" -n "$BITNET_TEST_MAX_TOKENS" \
    --temperature "$BITNET_TEST_TEMPERATURE" --top-k "$BITNET_TEST_TOP_K" \
    --seed "$BITNET_TEST_SEED" 2>/dev/null >"$BITNET_TEST_EXPECTED"
# The CLI ends the reply with a newline of its own.
truncate -s -1 "$BITNET_TEST_EXPECTED"
# The memory estimate the bindings must report (one line of JSON), with a budget that caps
# the context.
export BITNET_TEST_BUDGET=16000000 BITNET_TEST_ESTIMATE="$WORK/estimate.json"
"$BITNET" estimate "$MODEL" --json --memory-budget "$BITNET_TEST_BUDGET" >"$BITNET_TEST_ESTIMATE"

echo "==> Kotlin on the JVM (android/jvm)"
export BITNET_FFI_LIB_DIR="$TARGET/debug"
# Not -q: Surefire's "Tests run:" summary is the line CI reads.
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
mvn -B -ntp -Dmaven.repo.local="$CACHE/m2" -f android/jvm/pom.xml test

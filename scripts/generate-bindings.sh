#!/usr/bin/env bash
# Regenerates the Kotlin and Swift bindings from the built bitnet-ffi library into the repo's
# layout under ROOT (default: the repo itself). scripts/test-kotlin.sh generates into a temp
# ROOT and diffs, so committed bindings that no longer match the Rust API fail CI.
#   scripts/generate-bindings.sh [ROOT]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-$PWD}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
# Two invocations: built together, uniffi's `cli` feature would be unified into the library.
cargo build -q -p bitnet-ffi
cargo build -q -p uniffi-bindgen
LIB="$TARGET/debug/libbitnet_ffi.so"
BINDGEN="$TARGET/debug/uniffi-bindgen"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# --no-format: the output must not depend on whether ktlint/swift-format are installed.
"$BINDGEN" generate --no-format --library "$LIB" --language kotlin --out-dir "$TMP/kotlin" >/dev/null
"$BINDGEN" generate --no-format --library "$LIB" --language swift --out-dir "$TMP/swift" >/dev/null
install -D -m 644 "$TMP/kotlin/dev/bitnet/bitnet_ffi.kt" \
    "$ROOT/android/bitnet/src/main/uniffi/dev/bitnet/bitnet_ffi.kt"
install -D -m 644 "$TMP/swift/BitNet.swift" "$ROOT/ios/Sources/BitNet/Generated/BitNet.swift"
install -D -m 644 "$TMP/swift/BitNetFFI.h" "$ROOT/ios/FFI/BitNetFFI.h"
install -D -m 644 "$TMP/swift/BitNetFFI.modulemap" "$ROOT/ios/FFI/BitNetFFI.modulemap"

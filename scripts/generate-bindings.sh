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
# One Kotlin file per crate: bitnet-ffi's objects and calls (`dev.bitnet`) and bitnet-core's
# records and enums (`dev.bitnet.core`), loading the same library.
install -D -m 644 "$TMP/kotlin/dev/bitnet/bitnet_ffi.kt" \
    "$ROOT/android/bitnet/src/main/uniffi/dev/bitnet/bitnet_ffi.kt"
install -D -m 644 "$TMP/kotlin/dev/bitnet/core/bitnet_core.kt" \
    "$ROOT/android/bitnet/src/main/uniffi/dev/bitnet/core/bitnet_core.kt"
# Both crates' Swift compile into the module `BitNet`; both C headers form the C module
# `BitNetFFI`, whose module maps are written by hand (ios/FFI, ios/LinuxFFI) since uniffi
# writes one per crate.
install -D -m 644 "$TMP/swift/BitNet.swift" "$ROOT/ios/Sources/BitNet/Generated/BitNet.swift"
install -D -m 644 "$TMP/swift/BitNetCore.swift" "$ROOT/ios/Sources/BitNet/Generated/BitNetCore.swift"
install -D -m 644 "$TMP/swift/BitNetFFI.h" "$ROOT/ios/FFI/BitNetFFI.h"
install -D -m 644 "$TMP/swift/BitNetCoreFFI.h" "$ROOT/ios/FFI/BitNetCoreFFI.h"

#!/usr/bin/env bash
# Builds ios/BitNetFFI.xcframework (the Swift package's binary target) on a Mac with Xcode:
# the static library for iOS devices (aarch64-apple-ios) and for the simulator (aarch64 and
# x86_64, joined with lipo), each with the generated C header and its module map.
# Needs: rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
OUT=ios/BitNetFFI.xcframework
# Package.swift's minimum.
export IPHONEOS_DEPLOYMENT_TARGET=15.0

for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --release -p bitnet-ffi --target "$t"
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The headers directory of each slice: the uniffi headers and a module map named as Clang
# expects, declaring the module `BitNetFFI` the generated Swift imports.
mkdir -p "$WORK/headers" "$WORK/sim"
cp ios/FFI/BitNetFFI.h ios/FFI/BitNetCoreFFI.h "$WORK/headers/"
cp ios/FFI/BitNetFFI.modulemap "$WORK/headers/module.modulemap"
lipo -create \
    "$TARGET/aarch64-apple-ios-sim/release/libbitnet_ffi.a" \
    "$TARGET/x86_64-apple-ios/release/libbitnet_ffi.a" \
    -output "$WORK/sim/libbitnet_ffi.a"

rm -rf "$OUT"
xcodebuild -create-xcframework \
    -library "$TARGET/aarch64-apple-ios/release/libbitnet_ffi.a" -headers "$WORK/headers" \
    -library "$WORK/sim/libbitnet_ffi.a" -headers "$WORK/headers" \
    -output "$OUT"
echo "built $OUT"

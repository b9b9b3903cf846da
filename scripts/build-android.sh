#!/usr/bin/env bash
# Builds libbitnet_ffi.so for the AAR's ABIs into android/bitnet/src/main/jniLibs/<abi>/ with
# the Android NDK, through cargo-ndk (which picks the NDK's clang and sysroot per ABI).
# Needs: ANDROID_NDK_HOME (or ANDROID_NDK_ROOT), `cargo install cargo-ndk`, and the targets
#   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
# Then: cd android && ./gradlew :bitnet:assembleRelease (or publishToMavenLocal).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ANDROID_NDK_HOME:=${ANDROID_NDK_ROOT:-}}"
if [ -z "$ANDROID_NDK_HOME" ]; then
    echo "set ANDROID_NDK_HOME to the NDK (r27 or later)" >&2
    exit 1
fi
export ANDROID_NDK_HOME
# 16 KB page alignment of the ELF segments, required for Android 15+ devices with 16 KB
# pages (the NDK's default from r28 on; explicit for r27).
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"
# --platform 24 = the AAR's minSdk.
cargo ndk --platform 24 -t arm64-v8a -t armeabi-v7a -t x86_64 \
    -o android/bitnet/src/main/jniLibs build --release -p bitnet-ffi
# The bindings are the committed ones; they are target-independent (scripts/test-kotlin.sh
# checks they match the library).
ls -l android/bitnet/src/main/jniLibs/*/libbitnet_ffi.so

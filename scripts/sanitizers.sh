#!/usr/bin/env bash
# Runs the core's unsafe code under checkers (nightly Rust; not part of scripts/test.sh, which
# stays within CI's time):
#   1. Miri on the modules it can interpret: the quantised formats, the kernels' scalar table
#      and drivers (Miri reports no SIMD features, so the dispatch picks scalar), the GGUF
#      reader on in-memory files, the KV cache. (It cannot run memory maps, threads pinned to
#      CPUs or the SIMD tables.)
#   2. AddressSanitizer on the whole bitnet-core test suite, SIMD tables included, and on the
#      end-to-end tests (memory maps, threads, the storm, the CLI built with it too), except
#      the ones that measure resident memory, which a sanitizer's shadow memory inflates.
# Installs the nightly components it needs (miri, rust-src). Builds go to
# ~/.cache/bitnet-sdk/target-{miri,asan}.
#   scripts/sanitizers.sh [miri|asan]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
what="${1:-all}"
step() { printf '\n==> %s\n' "$*"; }

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup +nightly component add miri rust-src >/dev/null

if [ "$what" = all ] || [ "$what" = miri ]; then
    step "Miri: quant, kernels (scalar), gguf, KV cache"
    # The exhaustive sweeps (every f16 bit pattern, every byte, random sizes, the exp range)
    # take hours interpreted; the tests kept still walk every code path once.
    CARGO_TARGET_DIR="$CACHE/target-miri" cargo +nightly miri test -q -p bitnet-core --lib -- \
        quant:: kernels:: gguf:: model::kv_cache \
        --skip every_bit_pattern --skip exp_is_within --skip every_byte --skip random \
        --skip ragged --skip every_table --skip edge_shapes --skip in_every_format \
        --skip documented_order
fi

if [ "$what" = all ] || [ "$what" = asan ]; then
    step "AddressSanitizer: every bitnet-core test"
    # --target keeps build scripts and proc-macros uninstrumented.
    host="$(rustc -vV | sed -n 's/host: //p')"
    export CARGO_TARGET_DIR="$CACHE/target-asan" RUSTFLAGS="-Zsanitizer=address"
    export ASAN_OPTIONS="detect_leaks=1"
    cargo +nightly test -q -p bitnet-core --lib --target "$host"
    step "AddressSanitizer: end-to-end tests"
    cargo +nightly build -q -p bitnet-cli --target "$host"
    BITNET_BIN="$CARGO_TARGET_DIR/$host/debug/bitnet" BITNET_STORM_RSS_MARGIN_MIB=100000 \
        cargo +nightly test -q -p bitnet-tests --target "$host" --no-fail-fast -- \
        --skip peak_rss --skip a_10_mb_prompt --skip trim_returns
fi

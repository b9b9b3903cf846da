#!/usr/bin/env bash
# Fuzzes bitnet-core's untrusted inputs with cargo-fuzz (libFuzzer, nightly Rust): runs each
# target of fuzz/ (or the ones named) for FUZZ_SECONDS seconds (default 60) from the committed
# seeds (fuzz/seeds/<target>) and a working corpus kept between runs, then prints each target's
# executions, speed and coverage. Fails when a target found a crash, a timeout (> 10 s for one
# input) or an input that needs more than 2 GiB; see fuzz/README.md.
#   scripts/fuzz.sh [target ...]        e.g. FUZZ_SECONDS=600 scripts/fuzz.sh tokenizer
# Installs cargo-fuzz (into ~/.cache/bitnet-sdk/tools) and the nightly toolchain when missing.
# FUZZ_SANITIZER (default address) is cargo-fuzz's --sanitizer: address, leak, memory, thread
# or none. Builds go to ~/.cache/bitnet-sdk/target-fuzz (target-fuzz-<sanitizer> for another
# sanitizer); under ~/.cache/bitnet-sdk/fuzz: corpus/<target> (the working corpora),
# artifacts/<target> (inputs that failed), logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
export PATH="$CACHE/tools/bin:$PATH"
# One build directory per sanitizer, so that switching does not rebuild everything.
build_dir="target-fuzz"
[ "$sanitizer" = address ] || build_dir="target-fuzz-$sanitizer"
export CARGO_TARGET_DIR="$CACHE/$build_dir"
step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo-fuzz >/dev/null; then
    step "Installing cargo-fuzz into $CACHE/tools"
    cargo install --locked cargo-fuzz --root "$CACHE/tools"
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

# Release builds with debug assertions and overflow checks: an arithmetic overflow is a bug.
fuzz=(cargo +nightly fuzz)
build_flags=(--release --debug-assertions --sanitizer "$sanitizer")
step "Building the fuzz targets"
"${fuzz[@]}" build "${build_flags[@]}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <("${fuzz[@]}" list)
fi

summary=()
failed=()
for target in "${targets[@]}"; do
    corpus="$CACHE/fuzz/corpus/$target"
    artifacts="$CACHE/fuzz/artifacts/$target"
    log="$CACHE/fuzz/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    stamp="$(mktemp)"
    step "$target: ${seconds}s (log: $log)"
    # New inputs go to the first corpus directory: the working one, never the seeds.
    status=0
    # Any single allocation over 2 GiB is a finding; the whole process may grow to 4 GiB, as
    # AddressSanitizer's quarantine does over a working corpus of thousands of inputs.
    "${fuzz[@]}" run "${build_flags[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -malloc_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    found="$(find "$artifacts" -newer "$stamp" -type f \
        \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | sort)"
    rm -f "$stamp"
    final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    line="$(printf '%-15s %12s execs %8s exec/s  cov %6s  ft %6s  corpus %6s' "$target" \
        "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" \
        "$(find "$corpus" -type f | wc -l)")"
    echo "$line"
    if [ "$status" -ne 0 ] || [ -n "$found" ]; then
        summary+=("$line  FAILED")
        failed+=("$target")
        tail -n 40 "$log"
        for input in $found; do
            cat <<EOF
$target found a failing input: $input
To keep it as a regression test: minimise it, copy it under fuzz/regressions/$target/ and
replay it (the test fails until the bug is fixed):
    PATH="$CACHE/tools/bin:\$PATH" CARGO_TARGET_DIR="$CARGO_TARGET_DIR" \\
        cargo +nightly fuzz tmin ${build_flags[*]} $target $input
    cp <the minimised input> fuzz/regressions/$target/<what-it-does>
    cargo test --manifest-path fuzz/Cargo.toml
EOF
        done
    else
        summary+=("$line  ok")
    fi
done

step "Summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failing targets: ${failed[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# ARM compute proxy for decoding: aarch64 instructions executed per decoded token (qemu user
# mode with an instruction-counting TCG plugin in the directory $ARMCOUNT) by our `bitnet` on
# the `2b4t` preset, one thread, with the `neon` and `neon-dotprod` kernel tables, next to llama.cpp's
# aarch64 build (from the `llama-cpp-python` sdist) on the same GGUF files; prints a markdown
# table with the ratios ours / llama.cpp.
#
# Instructions per token = (count at N_HI tokens - count at N_LO tokens) / (N_HI - N_LO), with
# the same binary, arguments, environment and qemu CPU otherwise, so model loading, warm-up and
# (for `bitnet bench`) the copy-bandwidth test cancel out. An instruction count is not time.
#   ours:      bitnet bench MODEL -p 1 -n N -t 1 -r 1 --kernels K
#   llama.cpp: llama-bench -m MODEL -p 0 -n N -t 1 -r 1
# Both decode N single-token steps at positions 1..N (ours) and 0..N-1 (llama.cpp).
#
# Builds what is missing and caches everything under ~/.cache/bitnet-sdk (rerunning is cheap):
#   target-aarch64/           our release `bitnet` (Debian cargo/rustc, as scripts/test-aarch64.sh)
#   llama-cpp-aarch64/src     copy of the sdist's vendor/llama.cpp (never copied into the repo)
#   llama-cpp-aarch64/build-{dotprod,neon}   static `llama-bench`, -march=armv8.2-a+dotprod / armv8-a
#   armcount/counts/          one instruction count per (binary, qemu CPU, arguments)
# Needs the aarch64 toolchain of scripts/test-aarch64.sh (run it once); installs
# g++-aarch64-linux-gnu if missing. The 2b4t models must exist (see MODELS below).
#
# Environment: ARMCOUNT_TOKENS="2 4" (N_LO N_HI), ARMCOUNT_FORMATS="tq2_0 i2_s tq1_0",
# ARMCOUNT_A53=1 (also count `neon` on qemu's cortex-a53), ARMCOUNT_LLAMA="dotprod neon" (empty: ours only),
# ARMCOUNT_HEADS="q8_0 q6_k" (also count ours neon-dotprod with these quantised heads, `--head H`;
# empty: none). A re-quantised head is mapped from the CLI's cache directory once it is made
# (the x86_64 build makes the same file: run `bitnet generate MODEL --head H -n 1` first to
# spare qemu the quantiser).
# Under qemu one 2b4t token is about 1e9 instructions; each count takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
TARGET=aarch64-unknown-linux-gnu
TARGET_DIR="${BITNET_AARCH64_TARGET_DIR:-$CACHE/target-aarch64}"
# The counter's directory: its count.sh runs `qemu-aarch64 -cpu CPU -- PROGRAM ARGS` and prints
# the instructions executed; its build.sh builds libinsncount.so when missing.
ARMCOUNT="${ARMCOUNT:?set ARMCOUNT to the directory of the instruction counter (count.sh, build.sh)}"
LLAMA_SDIST="$CACHE/src/llama_cpp_python-0.3.36/vendor/llama.cpp"
LLAMA_DIR="$CACHE/llama-cpp-aarch64"
COUNTS="$CACHE/armcount/counts"
read -r N_LO N_HI <<<"${ARMCOUNT_TOKENS:-2 4}"
read -r -a FORMATS <<<"${ARMCOUNT_FORMATS:-tq2_0 i2_s tq1_0}"
read -r -a LLAMA_VARIANTS <<<"${ARMCOUNT_LLAMA-dotprod neon}"
A53="${ARMCOUNT_A53:-1}"
read -r -a HEADS <<<"${ARMCOUNT_HEADS-q8_0}"
head_label() { echo "ours neon-dotprod + $(tr '[:lower:]' '[:upper:]' <<<"$1") head, -cpu max"; }
unset BITNET_KERNELS # --kernels picks the table

step() { printf '\n==> %s\n' "$*" >&2; }
# `model FORMAT`: path of the cached 2b4t model in FORMAT (i2_s, tq2_0, tq1_0).
model() { echo "$CACHE/models/synth-2b4t-bitnet-$1-seed1.gguf"; }

for format in "${FORMATS[@]}"; do
    if [ ! -f "$(model "$format")" ]; then
        echo "missing $(model "$format"); make it with:" >&2
        echo "  bitnet synth --preset 2b4t --arch bitnet --format $format --seed 1 -o $(model "$format")" >&2
        exit 1
    fi
done

step "toolchain"
if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q g++-aarch64-linux-gnu
fi
for tool in /usr/bin/cargo /usr/bin/rustc aarch64-linux-gnu-gcc qemu-aarch64 cmake; do
    command -v "$tool" >/dev/null || {
        echo "$tool missing: run scripts/test-aarch64.sh once" >&2
        exit 1
    }
done
[ -f "$ARMCOUNT/libinsncount.so" ] || "$ARMCOUNT/build.sh" >&2

step "our aarch64 bitnet (release)"
PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    /usr/bin/cargo build -q --release -p bitnet-cli --target "$TARGET" --target-dir "$TARGET_DIR"
ours="$TARGET_DIR/$TARGET/release/bitnet"

step "llama.cpp aarch64 llama-bench (${LLAMA_VARIANTS[*]})"
if [ ! -f "$LLAMA_DIR/src/CMakeLists.txt" ] && [ ! -d "$LLAMA_SDIST" ]; then
    # The sdist (the version tests/requirements.txt pins) through pip's configured index,
    # unpacked under the cache; pip prepares its metadata in an isolated build environment.
    mkdir -p "$CACHE/src"
    python3 -m pip download --quiet --no-deps --no-binary :all: llama-cpp-python==0.3.36 \
        -d "$CACHE/src"
    tar -C "$CACHE/src" -xzf "$CACHE/src/llama_cpp_python-0.3.36.tar.gz"
fi
if [ ! -f "$LLAMA_DIR/src/CMakeLists.txt" ]; then
    mkdir -p "$LLAMA_DIR/src"
    tar -C "$LLAMA_SDIST" --exclude=./models --exclude=./docs --exclude=./media -cf - . |
        tar -C "$LLAMA_DIR/src" -xf -
fi
declare -A llama_bench
for variant in "${LLAMA_VARIANTS[@]}"; do
    case "$variant" in
        dotprod) march=armv8.2-a+dotprod ;;
        neon) march=armv8-a ;;
        *) echo "unknown llama.cpp variant $variant (dotprod, neon)" >&2; exit 1 ;;
    esac
    build="$LLAMA_DIR/build-$variant"
    if [ ! -f "$build/CMakeCache.txt" ]; then
        CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ cmake -S "$LLAMA_DIR/src" -B "$build" \
            -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
            -DBUILD_SHARED_LIBS=OFF -DCMAKE_EXE_LINKER_FLAGS=-static \
            -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH="$march" -DGGML_OPENMP=OFF \
            -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
            -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF >"$build.configure.log" 2>&1 ||
            { tail -n 30 "$build.configure.log" >&2; exit 1; }
    fi
    cmake --build "$build" --target llama-bench -j 2 >"$build.log" 2>&1 ||
        { tail -n 30 "$build.log" >&2; exit 1; }
    llama_bench[$variant]="$build/bin/llama-bench"
done

# `count CPU PROGRAM ARGS...`: instructions PROGRAM executes under qemu-aarch64 -cpu CPU,
# cached by the program's hash, CPU and arguments.
declare -A hashes
count() {
    local cpu="$1" program="$2"
    shift 2
    if [ -z "${hashes[$program]:-}" ]; then
        hashes[$program]="$(sha256sum "$program" | cut -c1-16)"
    fi
    local key file out
    key="$(printf '%s\n' "${hashes[$program]}" "$cpu" "$@" | sha256sum | cut -c1-16)"
    file="$COUNTS/$key"
    if [ ! -s "$file" ]; then
        mkdir -p "$COUNTS"
        local start=$SECONDS
        out="$("$ARMCOUNT/count.sh" -cpu "$cpu" -q -- "$program" "$@")" || {
            echo "failed under qemu -cpu $cpu: $program $*" >&2
            exit 1
        }
        sed -n 's/^insns: \([0-9][0-9]*\)$/\1/p' <<<"$out" >"$file.tmp"
        [ -s "$file.tmp" ] || { echo "no count from: $out" >&2; exit 1; }
        mv "$file.tmp" "$file"
        echo "  $(cat "$file") insns in $((SECONDS - start)) s: -cpu $cpu $(basename "$program") $*" >&2
    fi
    cat "$file"
}

# `per_token CPU PROGRAM ARGS...`: instructions per decoded token; `{N}` in ARGS is replaced by
# the token count. The two counts run in parallel.
per_token() {
    local cpu="$1" program="$2" lo hi dir pid_lo pid_hi
    shift 2
    dir="$(mktemp -d)"
    count "$cpu" "$program" "${@//\{N\}/$N_LO}" >"$dir/lo" &
    pid_lo=$!
    count "$cpu" "$program" "${@//\{N\}/$N_HI}" >"$dir/hi" &
    pid_hi=$!
    wait "$pid_lo" && wait "$pid_hi" || { rm -rf "$dir"; exit 1; }
    lo="$(cat "$dir/lo")" hi="$(cat "$dir/hi")"
    rm -rf "$dir"
    echo $(((hi - lo) / (N_HI - N_LO)))
}

declare -A result # "row|format" -> instructions per token
rows=()
add_row() { rows+=("$1"); }

step "counting (N = $N_LO and $N_HI tokens; cached in $COUNTS)"
for format in "${FORMATS[@]}"; do
    m="$(model "$format")"
    for kernels in neon-dotprod neon; do
        result["ours $kernels, -cpu max|$format"]="$(per_token max "$ours" \
            bench "$m" -p 1 -n '{N}' -t 1 -r 1 --kernels "$kernels")"
    done
    for head in "${HEADS[@]}"; do
        result["$(head_label "$head")|$format"]="$(per_token max "$ours" \
            bench "$m" -p 1 -n '{N}' -t 1 -r 1 --kernels neon-dotprod --head "$head")"
    done
    if [ "$format" != i2_s ]; then
        for variant in "${LLAMA_VARIANTS[@]}"; do
            result["llama.cpp $variant, -cpu max|$format"]="$(per_token max \
                "${llama_bench[$variant]}" -m "$m" -p 0 -n '{N}' -t 1 -r 1)"
        done
    fi
done
if [ "$A53" = 1 ]; then
    for format in "${FORMATS[@]}"; do
        result["ours neon, -cpu cortex-a53|$format"]="$(per_token cortex-a53 "$ours" \
            bench "$(model "$format")" -p 1 -n '{N}' -t 1 -r 1 --kernels neon)"
    done
fi

# Table: millions of instructions per decoded token; ratios ours / llama.cpp.
labels=("ours neon-dotprod, -cpu max" "ours neon, -cpu max")
for head in "${HEADS[@]}"; do labels+=("$(head_label "$head")"); done
[ "$A53" = 1 ] && labels+=("ours neon, -cpu cortex-a53")
for variant in "${LLAMA_VARIANTS[@]}"; do labels+=("llama.cpp $variant, -cpu max"); done
upper() { tr '[:lower:]' '[:upper:]' <<<"$1"; }
mi() { awk -v x="$1" 'BEGIN { printf "%.1f", x / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }

echo
echo "Instructions per decoded token (millions), 2b4t preset, 1 thread, qemu-aarch64 + armcount;"
echo "difference of $N_LO and $N_HI decoded tokens."
echo
header="| build, kernels, qemu CPU |"
sep="|---|"
for format in "${FORMATS[@]}"; do header+=" $(upper "$format") |"; sep+="---:|"; done
echo "$header"
echo "$sep"
for label in "${labels[@]}"; do
    line="| $label |"
    for format in "${FORMATS[@]}"; do line+=" ${result[$label|$format]:+$(mi "${result[$label|$format]}")} |"; done
    echo "$line"
done
ours_max=("ours neon-dotprod, -cpu max" "ours neon, -cpu max")
for head in "${HEADS[@]}"; do ours_max+=("$(head_label "$head")"); done
for variant in "${LLAMA_VARIANTS[@]}"; do
    for ours_label in "${ours_max[@]}"; do
        line="| ${ours_label%, -cpu max} / llama.cpp $variant |"
        for format in "${FORMATS[@]}"; do
            a="${result[$ours_label|$format]:-}"
            b="${result[llama.cpp $variant, -cpu max|$format]:-}"
            line+=" ${a:+${b:+$(ratio "$a" "$b")}} |"
        done
        echo "$line"
    done
done

#!/usr/bin/env bash
# Tests the aarch64 kernels (NEON, NEON + dotprod, NEON + i8mm) on this x86_64 machine under qemu
# user-mode emulation: cross-builds bitnet-core's unit tests (debug: overflow checks and debug
# assertions) and the `bitnet` CLI (release, the code generation that ships) for
# aarch64-unknown-linux-gnu, runs the tests on a CPU without dotprod (cortex-a53) and on qemu's
# `max` CPU (dotprod, i8mm: detected table neon-i8mm), once more with BITNET_KERNELS=scalar and
# BITNET_KERNELS=neon-dotprod, and checks that generations
# and logits (JSON, every position) from synthetic models in each projection format print
# exactly what the x86_64 build prints (with its detected, avx2 and scalar tables), on both
# CPUs, with detected and with scalar kernels; and that the trained demo model, in each format,
# gives the same replies to its held-out questions.
#
# Installs what is missing from Debian's packages (needs root or sudo): Debian's Rust
# (rustc-web, the arm64 standard library), the aarch64 cross linker, qemu-user and
# rust-web-clippy. rustup has no aarch64 standard library here, so the cross-build uses Debian's
# /usr/bin/cargo and /usr/bin/rustc; cargo's registry (~/.cargo) is shared with rustup's.
# The aarch64 target directory lives under ~/.cache/bitnet-sdk so it survives fresh clones.
# Takes about 15 minutes on a fresh 2-core machine (3 of them apt, 3 the release CLI), about 3
# when warm.
# Exits non-zero on any failure or mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk"
TARGET=aarch64-unknown-linux-gnu
TARGET_DIR="${BITNET_AARCH64_TARGET_DIR:-$CACHE/target-aarch64}"
mkdir -p "$CACHE" "$TARGET_DIR"
unset BITNET_KERNELS # each run below picks its tables itself

step() { printf '\n==> %s\n' "$*"; }

step "aarch64 cross toolchain (Debian packages)"
have_toolchain() {
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo-clippy ] &&
        [ -d /usr/lib/rustlib/$TARGET/lib ] &&
        command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null
}
if ! have_toolchain; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
    fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
        rustc-web cargo-web rust-web-clippy libstd-rust-web-dev:arm64 \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
/usr/bin/cargo --version
/usr/bin/rustc --version

# `xcargo SUBCOMMAND ARGS...`: Debian's cargo for aarch64; it must not pick up rustup's rustc
# or clippy-driver from PATH.
xcargo() {
    local subcommand="$1"
    shift
    PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        /usr/bin/cargo "$subcommand" --target "$TARGET" --target-dir "$TARGET_DIR" "$@"
}

step "clippy (aarch64)"
xcargo clippy -q -p bitnet-core --all-targets -- -D warnings

step "build bitnet-core tests (debug) and the bitnet CLI (release) (aarch64)"
tests_bin="$(xcargo test -p bitnet-core --lib --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')"
xcargo build -q --release -p bitnet-cli
arm_bitnet="$TARGET_DIR/$TARGET/release/bitnet"

# qemu CPUs: cortex-a53 has NEON but no dotprod; max has dotprod and i8mm (detected: neon-i8mm).
cpus=("-cpu cortex-a53" "")
for cpu in "${cpus[@]}"; do
    step "bitnet-core tests under qemu-aarch64 ${cpu:--cpu max}"
    # shellcheck disable=SC2086 # $cpu is two words or none
    qemu-aarch64 $cpu "$tests_bin" -q
done
for kernels in scalar neon-dotprod; do
    step "bitnet-core tests under qemu-aarch64 -cpu max with BITNET_KERNELS=$kernels"
    BITNET_KERNELS=$kernels qemu-aarch64 "$tests_bin" -q
done

step "generations and logits match the x86_64 build"
cargo build --release -q -p bitnet-cli
x86_bitnet="${CARGO_TARGET_DIR:-target}/release/bitnet"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

# `compare ARGS...`: `bitnet ARGS...` prints the same on aarch64 (each CPU, detected and scalar
# kernels) as on x86_64; set `arm_kernels=("")` first for the detected aarch64 kernels only.
arm_kernels=("" scalar)
compare() {
    local expected got cpu kernels
    expected="$($x86_bitnet "$@" 2>/dev/null)"
    if [ -z "$expected" ]; then
        echo "the x86_64 build printed nothing for: bitnet $*" >&2
        exit 1
    fi
    echo "bitnet ${*/#$work\//}"
    echo "  x86_64: $(head -c 72 <<<"$expected")..."
    # The x86_64 tables below the detected one (avx512 where the CPU has it) print the same.
    for kernels in scalar avx2; do
        got="$(BITNET_KERNELS=$kernels $x86_bitnet "$@" 2>/dev/null)"
        if [ "$got" == "$expected" ]; then
            echo "  same on x86_64, kernels $kernels"
        else
            echo "  MISMATCH on x86_64, kernels $kernels: $(head -c 72 <<<"$got")..."
            failures=$((failures + 1))
        fi
    done
    for cpu in "${cpus[@]}"; do
        for kernels in "${arm_kernels[@]}"; do
            # shellcheck disable=SC2086 # $cpu is two words or none
            got="$(env ${kernels:+BITNET_KERNELS=$kernels} qemu-aarch64 $cpu "$arm_bitnet" "$@" \
                2>/dev/null)"
            if [ "$got" == "$expected" ]; then
                echo "  same on aarch64 ${cpu:--cpu max}, kernels ${kernels:-detected}"
            else
                echo "  MISMATCH on aarch64 ${cpu:--cpu max}, kernels ${kernels:-detected}:" \
                    "$(head -c 72 <<<"$got")..."
                failures=$((failures + 1))
            fi
        done
    done
}

for format in i2_s tq2_0 tq1_0 f32; do
    model="$work/m-$format.gguf"
    env -u BITNET_LLAMA3_TOKENIZER $x86_bitnet synth --preset tiny --seed 3 --format "$format" \
        -o "$model" >/dev/null
    # Greedy and sampled text, and every position's logits (JSON, so compared bit for bit).
    compare generate "$model" -p "Hello" -n 64 --seed 1
    compare generate "$model" -p "Hello" -n 64 --seed 1 --temperature 1 --top-k 40
    compare logits "$model" --prompt "Hello, ternary world" --all-positions
done
# The trained demo model answers its held-out questions alike in every format and everywhere
# (the scalar table already matched above). Under qemu a release build takes about 25 s per
# 100 questions (the float maths is emulated), so these runs ask every eighth one (5 to 13 of
# each task); the x86_64 tables answer all 400 in every format in tests/python/test_demo_model.py.
demo=sample-apps/demo-model
questions="$work/questions.json"
python3 - "$demo/eval.json" "$questions" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
data["questions"] = data["questions"][::8]
json.dump(data, open(sys.argv[2], "w"))
PY
arm_kernels=("")
for format in i2_s tq2_0 tq1_0; do
    model="$work/demo-$format.gguf"
    "$x86_bitnet" convert "$demo/bitnet-demo-i2_s.gguf" --format "$format" -o "$model" >/dev/null
    compare eval "$model" --questions "$questions" --json
done
if [ "$failures" -ne 0 ]; then
    echo "$failures aarch64 run(s) differ from the x86_64 build" >&2
    exit 1
fi
echo "all aarch64 runs match the x86_64 build"

#!/usr/bin/env bash
# The main job: build the CLI, synthesize a tiny BitNet b1.58 model, inspect it, generate
# from it and hold a two-turn chat. Output files go to ${BITNET_DEMO_DIR:-target/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BITNET_DEMO_DIR:-target/demo}"
mkdir -p "$out"
cargo build --release -q -p bitnet-cli
bitnet() { cargo run --release -q -p bitnet-cli -- "$@"; }
model="$out/tiny-i2_s.gguf"
bitnet synth --preset tiny --arch bitnet-b1.58 --format i2_s --seed 7 -o "$model"
bitnet inspect "$model" | tail -n 12
bitnet generate "$model" --prompt "The ternary weights" -n 24 --seed 1
bitnet bench "$model" -p 64 -n 32 -r 2
printf 'Hello there!\nTell me more.\n' | bitnet chat "$model" -n 16 --system "You are terse."

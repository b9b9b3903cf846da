#!/usr/bin/env bash
# The main job: build the CLI, then chat with the trained demo model that ships in the repository
# (sample-apps/demo-model: BitNet b1.58, I2_S, 3.5 MB), score it on its held-out questions and
# benchmark it. Fails if the scripted chat's answers are not the right ones.
set -euo pipefail
cd "$(dirname "$0")/.."
model=sample-apps/demo-model/bitnet-demo-i2_s.gguf
cargo build --release -q -p bitnet-cli
bitnet() { cargo run --release -q -p bitnet-cli -- "$@"; }

printf '\n==> %s\n' "bitnet inspect $model"
bitnet inspect "$model" | tail -n 12

printf '\n==> %s\n' "bitnet chat $model (two scripted turns)"
transcript="$(printf 'What is 17 + 25?\nReverse the list: red, green, blue\n' |
    bitnet chat "$model" -n 32 2>&1)"
printf '%s\n' "$transcript"
expected=("42" "Reversed: blue, green, red")
for answer in "${expected[@]}"; do
    if ! grep -qxF "$answer" <<<"$transcript"; then
        echo "the demo model did not answer \"$answer\"" >&2
        exit 1
    fi
done

printf '\n==> %s\n' "bitnet eval $model (held-out questions, exact match)"
bitnet eval "$model" --questions sample-apps/demo-model/eval.json

printf '\n==> %s\n' "bitnet bench $model"
bitnet bench "$model" -p 64 -n 64 -r 3

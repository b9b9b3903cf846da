"""Our engine (``bitnet logits``) against llama.cpp on arch-``bitnet`` files.

(a) graph: F32 weights, no activation quantisation on either side — the same maths, so
    max |Δlogit| ≤ 1e-3 at every position. Files: our ``bitnet synth`` output and gguf-py's.
(b) quantised: the same ternary weights as TQ2_0 / TQ1_0. llama.cpp quantises activations per
    256-block (Q8_K), our engine per token (BITNET_GGUF.md §3): top-1 equal at ≥ 95 % of
    positions and relative L2 ≤ 3 %. The numpy reference with per-token quantisation measures
    ≈ 2 % / 98–100 % against llama.cpp on these models (``test_reference_vs_llama_cpp.py``).
(c) the engine's quantised path against the numpy per-token reference, which should agree to
    float-ordering level (criteria in ``compare.py``).

Measured gaps are printed (``pytest -s``) and written to ``<basetemp>/measured_gaps.json``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bitnet_model import TINY
from compare import (QUANT_N_SEQS, QUANT_SEQ_LEN, relative_l2, sequence_agreement, token_sequences,
                     top1_agreement)
from gguf_raw import read_gguf
from reference import forward, load_model

FLOAT_TOL = 1e-3
SEQ_LENGTHS = (16, 48, 100)
QUANT_SEQ_LENGTHS = (64, 64, 64, 64)
SEED = 1
PY_CONFIGS = {
    "py": (TINY, False),
    "py-ffn768-rope5e5-scales": (replace(TINY, n_ff=768, rope_base=500000.0), True),
}
SOURCES = ["synth", *PY_CONFIGS]
PROMPT = "Hello world, the cat sat on the mat. 123 + 456 = 579!"


@pytest.fixture
def model_file(request, gguf_model):
    """``get(source, fmt) -> Path`` for an arch-``bitnet`` model from either writer."""

    def get(source: str, fmt: str):
        if source == "synth":
            return request.getfixturevalue("synth_model")("bitnet", fmt, SEED)
        cfg, scales = PY_CONFIGS[source]
        return gguf_model(cfg, seed=SEED, weight_format=fmt, scale_tensors=scales)

    return get


def _sequences(path, lengths, seed=21):
    f = read_gguf(path)
    lengths = tuple(min(n, f.context_length) for n in lengths)
    return token_sequences(f.vocab_size, f.bos_id, lengths, seed)


@pytest.mark.parametrize("source", SOURCES)
def test_f32_graph_matches_llama_cpp(source, model_file, cli, llama, gaps):
    path = model_file(source, "f32")
    for tokens in _sequences(path, SEQ_LENGTHS):
        ours = cli.logits(path, tokens)
        theirs = llama.logits(path, tokens)
        assert ours.shape == theirs.shape
        per_pos = np.max(np.abs(ours - theirs), axis=-1)
        gaps.record(f"engine_f32_vs_llama_cpp[{source},len={len(tokens)}]", max_abs=per_pos.max())
        assert per_pos.max() <= FLOAT_TOL, (
            f"positions over {FLOAT_TOL}: {np.flatnonzero(per_pos > FLOAT_TOL).tolist()} (max {per_pos.max():.3g})")


def test_prompt_tokenisation_and_logits_match_llama_cpp(gguf_model, cli, llama, gaps):
    """``--prompt``: BOS added as the file says (add_bos_token = true), then the same logits."""
    path = gguf_model(TINY, seed=SEED)
    tokens, last = cli.logits_for_prompt(path, PROMPT)
    expected = llama.tokenize(path, PROMPT, add_bos=True)
    assert tokens == expected
    theirs = llama.logits(path, expected)[-1]
    gaps.record("engine_prompt_last_position_vs_llama_cpp", max_abs=np.max(np.abs(last - theirs)))
    assert np.max(np.abs(last - theirs)) <= FLOAT_TOL


@pytest.mark.parametrize("fmt", ["tq2_0", "tq1_0"])
@pytest.mark.parametrize("source", SOURCES)
def test_ternary_formats_close_to_llama_cpp(source, fmt, model_file, cli, llama, gaps):
    path = model_file(source, fmt)
    seqs = _sequences(path, QUANT_SEQ_LENGTHS)
    ours = np.concatenate([cli.logits(path, t) for t in seqs])
    theirs = np.concatenate([llama.logits(path, t) for t in seqs])
    rel, top1 = relative_l2(ours, theirs), top1_agreement(ours, theirs)
    gaps.record(f"engine_{fmt}_vs_llama_cpp[{source}]", rel_l2=rel, top1=top1,
                max_abs=float(np.max(np.abs(ours - theirs))))
    assert top1 >= 0.95, f"top-1 agreement {top1:.3f} < 0.95"
    assert rel <= 0.03, f"relative L2 {rel:.4f} > 0.03"


@pytest.mark.parametrize("fmt", ["tq2_0", "tq1_0"])
@pytest.mark.parametrize("source", SOURCES)
def test_ternary_formats_match_per_token_reference(source, fmt, model_file, cli, gaps):
    path = model_file(source, fmt)
    model = load_model(path)
    seqs = _sequences(path, (QUANT_SEQ_LEN,) * QUANT_N_SEQS, seed=22)
    ours = [cli.logits(path, t) for t in seqs]
    ref = [forward(model, t, quantize_acts=True) for t in seqs]
    agreement = sequence_agreement(ours, ref, tight_abs=FLOAT_TOL)
    gaps.record(f"engine_{fmt}_vs_numpy_quantised[{source}]", **agreement.numbers())
    agreement.check_quantised()

"""The framework's side of the measurements: exported weights, greedy answers, accuracy.

``exported(params)`` is the model exactly as the GGUF file stores it — ternary codes, each
tensor's scale rounded to f16 (so the TQ2_0 and TQ1_0 copies, whose scales are f16, hold the same
numbers as the I2_S file) and the embedding rounded to f16 — and ``as_float(...)`` turns it back
into arrays for ``model.forward`` in ``Mode.QUANT`` (the engine's int8 path) or ``Mode.FLOAT``.
"""

from __future__ import annotations

from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
from tokenizers import Tokenizer

from dataset import EOT, prompt_text
from model import PROJECTIONS, Config, Mode, forward, ternarize
from tasks import Question


def exported(params: dict) -> dict:
    """Numpy arrays as stored: ``blk.{i}.{name}`` → (int8 ternary [rows, cols], f16-exact scale)
    for projections, f16-exact float32 for the embedding, float32 for norms."""
    out = {"token_embd": np.asarray(params["token_embd"], np.float16).astype(np.float32),
           "output_norm": np.asarray(params["output_norm"], np.float32)}
    for i, blk in enumerate(params["blocks"]):
        for name, value in blk.items():
            if name in PROJECTIONS:
                t, gamma = ternarize(value)
                scale = float(np.float16(np.float32(gamma)))
                out[f"blk.{i}.{name}"] = (np.asarray(t, np.int8), scale)
            else:
                out[f"blk.{i}.{name}"] = np.asarray(value, np.float32)
    return out


def as_float(weights: dict, cfg: Config) -> dict:
    """The parameter tree ``model.forward`` takes in ``QUANT`` and ``FLOAT`` mode, from
    :func:`exported` arrays (projections as ``(t, γ)`` pairs)."""
    def value(key):
        v = weights[key]
        if isinstance(v, tuple):  # a projection: (t, γ)
            return jnp.asarray(v[0], jnp.float32), jnp.float32(v[1])
        return jnp.asarray(v)
    blocks = []
    for i in range(cfg.layers):
        names = [k.split(".", 2)[2] for k in weights if k.startswith(f"blk.{i}.")]
        blocks.append({n: value(f"blk.{i}.{n}") for n in names})
    return {"token_embd": value("token_embd"), "output_norm": value("output_norm"), "blocks": blocks}


def logits(params: dict, cfg: Config, tokens: list[int], mode: Mode, kv_f16: bool = False) -> np.ndarray:
    """Logits [len(tokens), vocab] of one sequence from position 0."""
    ids = jnp.asarray([tokens], jnp.int32)
    pos = jnp.arange(len(tokens), dtype=jnp.int32)[None]
    out = forward(params, cfg, ids, pos, jnp.ones_like(ids), mode, kv_f16)
    return np.asarray(out[0])


def greedy(params: dict, cfg: Config, prompts: list[list[int]], eot: int, max_new: int,
           mode: Mode = Mode.QUANT) -> list[list[int]]:
    """Greedy continuations of every prompt (up to ``eot``, excluded, or ``max_new`` tokens).

    No KV cache: each step runs the whole padded batch, which the causal mask makes equal to
    running each prompt alone.
    """
    n = len(prompts)
    width = max(map(len, prompts)) + max_new
    width = -(-width // 16) * 16  # fewer shapes to compile
    tokens = np.zeros((n, width), np.int32)
    for r, p in enumerate(prompts):
        tokens[r, :len(p)] = p
    cur = np.array([len(p) for p in prompts])
    done = np.zeros(n, bool)
    out: list[list[int]] = [[] for _ in prompts]
    run = jax.jit(lambda p, t: forward(p, cfg, t, jnp.broadcast_to(jnp.arange(width), t.shape),
                                       jnp.ones_like(t), mode))
    for _ in range(max_new):
        lg = np.asarray(run(params, jnp.asarray(tokens)))
        nxt = lg[np.arange(n), cur - 1].argmax(-1)
        for r in range(n):
            if done[r]:
                continue
            if nxt[r] == eot:
                done[r] = True
                continue
            out[r].append(int(nxt[r]))
            tokens[r, cur[r]] = nxt[r]
            cur[r] += 1
        if done.all():
            break
    return out


def answer_all(params: dict, cfg: Config, tok: Tokenizer, questions: list[Question],
               max_new: int = 48, batch: int = 100) -> list[str]:
    """The model's greedy reply to each question asked as a one-turn chat."""
    eot = tok.token_to_id(EOT)
    replies: list[str] = []
    for start in range(0, len(questions), batch):
        chunk = questions[start:start + batch]
        prompts = [tok.encode(prompt_text([("User", q.question)]), add_special_tokens=False).ids for q in chunk]
        for ids in greedy(params, cfg, prompts, eot, max_new):
            replies.append(tok.decode(ids, skip_special_tokens=False))
    return replies


def accuracy(questions: list[Question], replies: list[str]) -> dict[str, float]:
    """Exact-match accuracy per task and overall (``all``), in percent."""
    right, total = defaultdict(int), defaultdict(int)
    for q, r in zip(questions, replies):
        for key in (q.task, "all"):
            total[key] += 1
            right[key] += r.strip() == q.answer
    return {k: 100.0 * right[k] / total[k] for k in total}

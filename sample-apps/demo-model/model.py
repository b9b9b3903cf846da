"""The demo model: a BitNet b1.58 decoder in JAX, the official 2B4T architecture at a small size.

Architecture (`bitnet-b1.58` in GGUF, docs/ARCHITECTURE.md of the repository): token embedding
tied to the output head, pre-norm blocks of RMSNorm → ternary q/k/v → RoPE (NeoX, rotate-half)
→ causal GQA attention → attention sub-norm → ternary output projection, then RMSNorm → ternary
gate and up → relu(gate)² · up → FFN sub-norm → ternary down projection; a final RMSNorm.

Every projection is a BitLinear, trained with quantisation-aware training as BitNet b1.58 is:
- weights ternarised per tensor by absmean, ``γ = mean|W|``, ``t = round(clip(W / (γ + ε), -1, 1))``,
  forward value ``t · γ``, gradient passed straight through to the latent float ``W``;
- activations quantised per token to int8 by absmax before every BitLinear,
  ``s = 127 / max(max|x|, 1e-5)``, ``q = clamp(round_half_even(x · s), -128, 127)``, forward value
  ``q / s``, gradient passed straight through.

Three ways to run the same parameters (``Mode``):
- ``TRAIN``: the QAT forward above on latent weights (used for training);
- ``QUANT``: the inference forward on the stored ternary weights ``(t, γ)`` with int8
  activations — what the engine's I2_S path computes;
- ``FLOAT``: the stored ternary weights as floats ``t · γ``, activations left in float — what the
  engine's F32 path computes.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp

WEIGHT_EPS = 1e-5
"""ε in the absmean ternarisation (BitNet b1.58)."""
ACT_EPS = 1e-5
"""Floor of max|x| in the activation quantiser (the engine's constant)."""
PROJECTIONS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
"""The ternary tensors of one block, by their GGUF names."""


class Mode(enum.Enum):
    """How projections and activations are computed (see the module doc)."""

    TRAIN = "train"
    QUANT = "quant"
    FLOAT = "float"


@dataclass(frozen=True)
class Config:
    """Hyper-parameters; the names follow the GGUF `bitnet-b1.58.*` keys."""

    vocab: int
    embd: int = 256
    layers: int = 6
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 768
    context: int = 256
    rope_base: float = 10_000.0
    rms_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.embd // self.heads

    def to_dict(self) -> dict:
        return asdict(self)


def projection_shape(cfg: Config, name: str) -> tuple[int, int]:
    """(output rows, input columns) of a projection, as the matrix multiplies ``x @ W.T``."""
    kv = cfg.kv_heads * cfg.head_dim
    return {
        "attn_q": (cfg.embd, cfg.embd),
        "attn_k": (kv, cfg.embd),
        "attn_v": (kv, cfg.embd),
        "attn_output": (cfg.embd, cfg.embd),
        "ffn_gate": (cfg.ffn, cfg.embd),
        "ffn_up": (cfg.ffn, cfg.embd),
        "ffn_down": (cfg.embd, cfg.ffn),
    }[name]


def init_params(cfg: Config, key: jax.Array) -> dict:
    """Latent float parameters: projections and embedding normal with standard deviation
    1/sqrt(input width), norms at one."""
    keys = iter(jax.random.split(key, 1 + cfg.layers * len(PROJECTIONS)))
    params = {
        "token_embd": jax.random.normal(next(keys), (cfg.vocab, cfg.embd), jnp.float32) / math.sqrt(cfg.embd),
        "output_norm": jnp.ones((cfg.embd,), jnp.float32),
        "blocks": [],
    }
    for _ in range(cfg.layers):
        block = {
            "attn_norm": jnp.ones((cfg.embd,), jnp.float32),
            "attn_sub_norm": jnp.ones((cfg.embd,), jnp.float32),
            "ffn_norm": jnp.ones((cfg.embd,), jnp.float32),
            "ffn_sub_norm": jnp.ones((cfg.ffn,), jnp.float32),
        }
        for name in PROJECTIONS:
            rows, cols = projection_shape(cfg, name)
            block[name] = jax.random.normal(next(keys), (rows, cols), jnp.float32) / math.sqrt(cols)
        params["blocks"].append(block)
    return params


def ternarize(w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Absmean ternarisation: (t in {-1, 0, 1} as float, γ = mean|W|)."""
    gamma = jnp.mean(jnp.abs(w))
    t = jnp.round(jnp.clip(w / (gamma + WEIGHT_EPS), -1.0, 1.0))
    return t, gamma


def act_scale(x: jax.Array) -> jax.Array:
    """Per-token absmax scale of the last axis: ``127 / max(max|x|, 1e-5)``."""
    return 127.0 / jnp.maximum(jnp.max(jnp.abs(x), axis=-1, keepdims=True), ACT_EPS)


def quantize_acts(x: jax.Array, s: jax.Array) -> jax.Array:
    """``clamp(round_half_even(x · s), -128, 127)``, integer values as float."""
    return jnp.clip(jnp.round(x * s), -128.0, 127.0)


def bitlinear(x: jax.Array, w, mode: Mode) -> jax.Array:
    """``x @ W.T`` as a BitLinear.

    ``TRAIN``: ``w`` is the latent weight, ternarised on the fly, both quantisers with
    straight-through gradients. Otherwise ``w`` is the stored pair ``(t, γ)``: ``QUANT`` computes
    the integer sums ``acc = q · t`` (exact in f32: |acc| < 2^24) and ``acc · (γ / s)`` as the
    engine's int8 path does; ``FLOAT`` multiplies ``x`` by ``t · γ``.
    """
    if mode is Mode.TRAIN:
        t, gamma = ternarize(w)
        w = w + jax.lax.stop_gradient(t * gamma - w)
        s = act_scale(x)
        x = x + jax.lax.stop_gradient(quantize_acts(x, s) / s - x)
        return x @ w.T
    t, gamma = w
    if mode is Mode.QUANT:
        s = act_scale(x)
        return (quantize_acts(x, s) @ t.T) * (gamma / s)
    return x @ (t * gamma).T


def rmsnorm(x: jax.Array, weight: jax.Array, eps: float) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x: jax.Array, positions: jax.Array, base: float) -> jax.Array:
    """NeoX RoPE on [..., T, heads, head_dim]: dimension i pairs with i + head_dim/2."""
    half = x.shape[-1] // 2
    freqs = base ** (-jnp.arange(half, dtype=jnp.float32) * 2.0 / x.shape[-1])
    angles = positions[..., :, None, None].astype(jnp.float32) * freqs
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def forward(params: dict, cfg: Config, tokens: jax.Array, positions: jax.Array,
            segments: jax.Array, mode: Mode, kv_f16: bool = False) -> jax.Array:
    """Logits [B, T, vocab] for tokens [B, T]. ``positions`` [B, T] feed RoPE; a token attends
    to earlier tokens of its own segment only (``segments`` [B, T]: packed sequences).
    ``kv_f16`` rounds keys (after RoPE) and values to f16, as a KV cache stored in f16 does."""
    B, T = tokens.shape
    x = params["token_embd"][tokens]
    mask = (segments[:, :, None] == segments[:, None, :]) & jnp.tril(jnp.ones((T, T), bool))
    group = cfg.heads // cfg.kv_heads
    for blk in params["blocks"]:
        h = rmsnorm(x, blk["attn_norm"], cfg.rms_eps)
        q = bitlinear(h, blk["attn_q"], mode).reshape(B, T, cfg.heads, cfg.head_dim)
        k = bitlinear(h, blk["attn_k"], mode).reshape(B, T, cfg.kv_heads, cfg.head_dim)
        v = bitlinear(h, blk["attn_v"], mode).reshape(B, T, cfg.kv_heads, cfg.head_dim)
        q, k = rope(q, positions, cfg.rope_base), rope(k, positions, cfg.rope_base)
        if kv_f16:
            k, v = (a.astype(jnp.float16).astype(jnp.float32) for a in (k, v))
        k, v = jnp.repeat(k, group, axis=2), jnp.repeat(v, group, axis=2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg.head_dim)
        scores = jnp.where(mask[:, None], scores, -jnp.inf)
        a = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v).reshape(B, T, cfg.embd)
        a = rmsnorm(a, blk["attn_sub_norm"], cfg.rms_eps)
        x = x + bitlinear(a, blk["attn_output"], mode)
        h = rmsnorm(x, blk["ffn_norm"], cfg.rms_eps)
        f = jnp.square(jax.nn.relu(bitlinear(h, blk["ffn_gate"], mode))) * bitlinear(h, blk["ffn_up"], mode)
        f = rmsnorm(f, blk["ffn_sub_norm"], cfg.rms_eps)
        x = x + bitlinear(f, blk["ffn_down"], mode)
    x = rmsnorm(x, params["output_norm"], cfg.rms_eps)
    return x @ params["token_embd"].T

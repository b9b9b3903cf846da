"""A numpy forward pass of BitNet GGUF models, written from /work/shared/spec/BITNET_GGUF.md §3–4.

Precision: by default every activation, norm, attention and matmul is computed in float64 from
the file's exact (dequantised float32) weights, so the reference's own rounding error (~1e-12
relative) is far below every tolerance the tests use. ``dtype=np.float32`` runs the same maths
in float32 (BLAS order) and is used only to measure how sensitive a model is to float ordering.

Two modes:

* float (``quantize_acts=False``): plain matmuls, the "f32 path".
* quantised (``quantize_acts=True``): every BitLinear quantises its input per token to int8
  (absmax, §3) before the matmul. The quantisation step itself is evaluated in float32 — the
  input cast to f32, ``s = 127 / max(max|x|, 1e-5)`` and ``x · s`` in f32, round-half-even,
  clamp to [-128, 127] — because that is what an f32 engine computes; the integer dot product
  and the rescale ``acc / s · w_scale`` are exact in float64. ``act_block=256`` quantises per
  256-element block instead of per token, as llama.cpp's Q8_K does for its TQ1_0/TQ2_0 matmuls.

Architectures: ``bitnet`` (SiLU-gated FFN; ``<name>.scale`` multiplies the projection output)
and ``bitnet-b1.58`` / ``bitnet-25`` (squared-ReLU-gated FFN). RoPE is NEOX style (pairs
``(i, i + head_dim/2)``), as llama.cpp uses for arch ``bitnet`` (``llama_model_rope_type``).
The head is ``output.weight`` when present, else the tied ``token_embd``; it is never quantised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gguf_raw import GGUFFile, dequantize, read_gguf

SILU_ARCHES = ("bitnet",)
SQUARED_RELU_ARCHES = ("bitnet-b1.58", "bitnet-25")
ACT_QUANT_MIN_ABSMAX = np.float32(1e-5)


@dataclass(frozen=True)
class RefConfig:
    """Hyper-parameters read from ``<arch>.*`` metadata."""

    arch: str
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_layer: int
    rope_base: float
    rope_dims: int
    rms_eps: float

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @staticmethod
    def from_gguf(f: GGUFFile) -> "RefConfig":
        if f.arch not in SILU_ARCHES + SQUARED_RELU_ARCHES:
            raise ValueError(f"reference does not know architecture {f.arch!r}")
        n_embd = int(f.arch_key("embedding_length"))
        n_head = int(f.arch_key("attention.head_count"))
        return RefConfig(
            arch=f.arch,
            n_embd=n_embd,
            n_ff=int(f.arch_key("feed_forward_length")),
            n_head=n_head,
            n_head_kv=int(f.arch_key("attention.head_count_kv", n_head)),
            n_layer=int(f.arch_key("block_count")),
            rope_base=float(f.arch_key("rope.freq_base", 10000.0)),
            rope_dims=int(f.arch_key("rope.dimension_count", n_embd // n_head)),
            rms_eps=float(f.arch_key("attention.layer_norm_rms_epsilon")),
        )


@dataclass
class RefModel:
    """Config and every tensor dequantised to float32, numpy shape ``[ne1, ne0]``."""

    config: RefConfig
    tensors: dict[str, np.ndarray]

    def scale(self, name: str) -> float | None:
        """Value of the optional ``<name>.scale`` tensor."""
        t = self.tensors.get(f"{name}.scale")
        return None if t is None else float(t.reshape(-1)[0])

    @property
    def head(self) -> np.ndarray:
        return self.tensors.get("output.weight", self.tensors["token_embd.weight"])


def load_model(path: str | Path) -> RefModel:
    """Read a GGUF model (any tensor type gguf-py can dequantise, plus I2_S)."""
    f = read_gguf(path)
    return RefModel(RefConfig.from_gguf(f), {name: dequantize(t) for name, t in f.tensors.items()})


def rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """``x / sqrt(mean(x²) + eps) · weight`` over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def quantize_activations(x: np.ndarray, block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """int8 absmax quantisation per row (or per ``block`` elements of a row), in float32.

    Returns ``(q, s)`` with ``q`` integer-valued (float64) and ``s`` the float32 scales
    broadcastable against ``q``: ``x ≈ q / s``.
    """
    xf = x.astype(np.float32)
    shape = xf.shape
    if block is not None:
        xf = xf.reshape(shape[:-1] + (shape[-1] // block, block))
    absmax = np.maximum(np.max(np.abs(xf), axis=-1, keepdims=True), ACT_QUANT_MIN_ABSMAX)
    s = np.float32(127.0) / absmax
    q = np.clip(np.rint(xf * s), -128, 127)  # np.rint rounds half to even
    return q.astype(np.float64), s


def bitlinear(x: np.ndarray, w: np.ndarray, out_scale: float | None, quantize_acts: bool,
              act_block: int | None, dtype: type) -> np.ndarray:
    """``x @ wᵀ`` (``w`` is [out, in]), optionally with activation quantisation, times ``out_scale``."""
    if not quantize_acts:
        y = x.astype(dtype) @ w.astype(dtype).T
    elif act_block is None:
        q, s = quantize_activations(x)
        y = (q @ w.astype(np.float64).T) / s
    else:
        q, s = quantize_activations(x, act_block)
        n_blocks = q.shape[-2]
        wb = w.astype(np.float64).reshape(w.shape[0], n_blocks, act_block)
        # per block: (q_b · w_b) / s_b, summed over blocks
        y = np.einsum("tbk,obk->tbo", q, wb) / s
        y = y.sum(axis=-2)
    if out_scale is not None:
        y = y * out_scale
    return y.astype(dtype)


def rope_neox(x: np.ndarray, positions: np.ndarray, base: float, n_rot: int) -> np.ndarray:
    """Rotate pairs ``(i, i + n_rot/2)`` of each head by ``pos · base^(-2i/n_rot)``. x: [T, H, d]."""
    half = n_rot // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
    angle = positions.astype(np.float64)[:, None] * inv_freq[None, :]  # [T, half]
    cos = np.cos(angle)[:, None, :].astype(x.dtype)
    sin = np.sin(angle)[:, None, :].astype(x.dtype)
    out = x.copy()
    x0, x1 = x[..., :half], x[..., half:n_rot]
    out[..., :half] = x0 * cos - x1 * sin
    out[..., half:n_rot] = x0 * sin + x1 * cos
    return out


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Causal GQA attention. q: [T, H, d]; k, v: [T, Hkv, d]; query head h reads KV head h // (H/Hkv)."""
    n_tok, n_head, d = q.shape
    group = n_head // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(d)
    mask = np.triu(np.ones((n_tok, n_tok), dtype=bool), k=1)
    scores = np.where(mask[None], -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p = p / p.sum(axis=-1, keepdims=True)
    return np.einsum("hts,shd->thd", p, v).reshape(n_tok, n_head * d)


def forward(model: RefModel, tokens: list[int], quantize_acts: bool = False,
            act_block: int | None = None, dtype: type = np.float64, kv_f16: bool | None = None) -> np.ndarray:
    """Logits ``[len(tokens), n_vocab]`` for a sequence starting at position 0.

    ``kv_f16`` rounds keys (after RoPE) and values to float16, as a KV cache stored in f16 does
    (the engine's default for ternary models and llama.cpp's default). ``None`` follows
    ``quantize_acts``: the engine keeps an f32 cache only for float-weight models.
    """
    if kv_f16 is None:
        kv_f16 = quantize_acts
    cfg = model.config
    t = model.tensors
    eps = cfg.rms_eps
    d = cfg.head_dim
    positions = np.arange(len(tokens))

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        return bitlinear(x, t[f"{name}.weight"], model.scale(name), quantize_acts, act_block, dtype)

    x = t["token_embd.weight"][np.asarray(tokens)].astype(dtype)
    for layer in range(cfg.n_layer):
        blk = f"blk.{layer}"
        h = rmsnorm(x, t[f"{blk}.attn_norm.weight"].astype(dtype), eps)
        q = linear(h, f"{blk}.attn_q").reshape(len(tokens), cfg.n_head, d)
        k = linear(h, f"{blk}.attn_k").reshape(len(tokens), cfg.n_head_kv, d)
        v = linear(h, f"{blk}.attn_v").reshape(len(tokens), cfg.n_head_kv, d)
        q = rope_neox(q, positions, cfg.rope_base, cfg.rope_dims)
        k = rope_neox(k, positions, cfg.rope_base, cfg.rope_dims)
        if kv_f16:
            k = k.astype(np.float16).astype(dtype)
            v = v.astype(np.float16).astype(dtype)
        a = rmsnorm(attention(q, k, v), t[f"{blk}.attn_sub_norm.weight"].astype(dtype), eps)
        x = x + linear(a, f"{blk}.attn_output")

        h = rmsnorm(x, t[f"{blk}.ffn_norm.weight"].astype(dtype), eps)
        gate = linear(h, f"{blk}.ffn_gate")
        up = linear(h, f"{blk}.ffn_up")
        if cfg.arch in SILU_ARCHES:
            f = gate / (1.0 + np.exp(-gate)) * up
        else:
            f = np.square(np.maximum(gate, 0.0)) * up
        f = rmsnorm(f, t[f"{blk}.ffn_sub_norm.weight"].astype(dtype), eps)
        x = x + linear(f, f"{blk}.ffn_down")
    x = rmsnorm(x, t["output_norm.weight"].astype(dtype), eps)
    return x @ model.head.astype(dtype).T


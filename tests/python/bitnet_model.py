"""Small synthetic BitNet GGUF models written with gguf-py's ``GGUFWriter``.

Two architectures share one tensor inventory (BITNET_GGUF.md §1, llama.cpp
``src/models/bitnet.cpp``):

* ``bitnet`` — mainline llama.cpp's graph (SiLU FFN, optional ``<name>.scale`` tensors);
  llama.cpp loads these files, so they pin our engine to it.
* ``bitnet-b1.58`` — the official 2B4T architecture (squared-ReLU FFN); llama.cpp cannot
  load it, the numpy reference (``reference.py``) is its yardstick.

Every projection is ternary: values in {-s, 0, +s} with one scale ``s`` per tensor, chosen
exactly representable in f16 so TQ2_0/TQ1_0 (f16 block scales) store it without loss. With
``scale_tensors=True`` the projection holds the bare codes {-1, 0, +1} and ``s`` goes into a
1-element F32 ``<name>.scale`` tensor instead (the TriLM-style layout llama.cpp supports).

The vocabulary is byte-level GPT-2 BPE: 256 byte tokens (GPT-2 byte-to-unicode form, id =
byte value), a handful of merges, then the specials BOS/EOS/EOT.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, TokenType
from gguf.quants import quantize

ARCH_BITNET = "bitnet"
ARCH_B158 = "bitnet-b1.58"

PROJECTIONS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
"""Ternary linear layers of one block (each ``blk.N.<name>.weight``)."""

WEIGHT_FORMATS = {
    "f32": GGMLQuantizationType.F32,
    "tq2_0": GGMLQuantizationType.TQ2_0,
    "tq1_0": GGMLQuantizationType.TQ1_0,
}
"""Storage formats gguf-py can write for the projections (I2_S only comes from ``bitnet synth``)."""

BOS_TEXT = "<|begin_of_text|>"
EOS_TEXT = "<|end_of_text|>"
EOT_TEXT = "<|eot_id|>"
MERGES = ("Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "a t")
"""A few GPT-2 merges (in rank order); each result is also a vocabulary token."""


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a synthetic model. Widths in elements; every width is a multiple of 256."""

    arch: str = ARCH_BITNET
    n_embd: int = 256
    n_ff: int = 512
    n_head: int = 4
    n_head_kv: int = 2
    n_layer: int = 2
    n_ctx: int = 256
    rope_base: float = 10000.0
    rms_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_embd_kv(self) -> int:
        return self.head_dim * self.n_head_kv


TINY = ModelConfig()
TINY_B158 = replace(TINY, arch=ARCH_B158, n_ff=768, rope_base=500000.0)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character map (printable Latin-1 bytes map to themselves)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


@dataclass(frozen=True)
class Vocab:
    """A GPT-2 style vocabulary as GGUF stores it (``tokenizer.ggml.*``)."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    bos: int
    eos: int
    eot: int
    pre: str = "llama-bpe"

    @property
    def size(self) -> int:
        return len(self.tokens)


def byte_level_vocab() -> Vocab:
    """256 byte tokens, the merged tokens of ``MERGES``, then BOS, EOS, EOT (control tokens)."""
    byte_map = bytes_to_unicode()
    tokens = [byte_map[b] for b in range(256)]
    tokens += ["".join(m.split(" ")) for m in MERGES]
    specials = [BOS_TEXT, EOS_TEXT, EOT_TEXT]
    types = [int(TokenType.NORMAL)] * len(tokens) + [int(TokenType.CONTROL)] * len(specials)
    first_special = len(tokens)
    tokens += specials
    return Vocab(tokens, types, list(MERGES), first_special, first_special + 1, first_special + 2)


@dataclass
class BitNetWeights:
    """All tensors of a model as float32 numpy arrays in numpy order ``[ne1, ne0]`` (rows = outputs).

    ``projections[name]`` holds the ternary values as they will be stored; ``scales[name]`` is
    the value of ``<name>.scale`` when the model carries scale tensors (else absent).
    """

    config: ModelConfig
    vocab: Vocab
    token_embd: np.ndarray
    output_norm: np.ndarray
    norms: dict[str, np.ndarray] = field(default_factory=dict)
    projections: dict[str, np.ndarray] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)


def projection_shape(cfg: ModelConfig, name: str) -> tuple[int, int]:
    """numpy shape (out rows, in columns) of a projection."""
    return {
        "attn_q": (cfg.n_embd, cfg.n_embd),
        "attn_k": (cfg.n_embd_kv, cfg.n_embd),
        "attn_v": (cfg.n_embd_kv, cfg.n_embd),
        "attn_output": (cfg.n_embd, cfg.n_embd),
        "ffn_gate": (cfg.n_ff, cfg.n_embd),
        "ffn_up": (cfg.n_ff, cfg.n_embd),
        "ffn_down": (cfg.n_embd, cfg.n_ff),
    }[name]


def f16_exact(x: float) -> float:
    """The nearest f16 value, as a python float (so it survives f32 and f16 storage unchanged)."""
    return float(np.float16(x))


EMBD_STD = 0.5
"""Standard deviation of ``token_embd``. With it the embedding is a sizeable share of the residual
stream next to the blocks' outputs (rms ≈ 1), so logits have clear top-1 margins and a model
with int8 activations keeps the same argmax as its float twin at ~98 % of positions."""


def make_weights(cfg: ModelConfig, seed: int, scale_tensors: bool = False, vocab: Vocab | None = None) -> BitNetWeights:
    """Random weights for ``cfg``: ternary projections, norms in [0.5, 1.5], N(0, EMBD_STD²) embeddings.

    Ternary codes are uniform over {-1, 0, +1}; the scale ``s`` of a projection is drawn so that
    an RMS-normalised input gives outputs of rms ≈ 1 (``s ∈ [0.8, 1.6] / sqrt(2/3 · n_in)``),
    then rounded to f16.
    """
    rng = np.random.default_rng(seed)
    vocab = vocab or byte_level_vocab()
    w = BitNetWeights(
        config=cfg,
        vocab=vocab,
        token_embd=rng.normal(0.0, EMBD_STD, size=(vocab.size, cfg.n_embd)).astype(np.float32),
        output_norm=rng.uniform(0.5, 1.5, size=cfg.n_embd).astype(np.float32),
    )
    for layer in range(cfg.n_layer):
        for norm, width in (("attn_norm", cfg.n_embd), ("attn_sub_norm", cfg.n_embd),
                            ("ffn_norm", cfg.n_embd), ("ffn_sub_norm", cfg.n_ff)):
            w.norms[f"blk.{layer}.{norm}"] = rng.uniform(0.5, 1.5, size=width).astype(np.float32)
        for proj in PROJECTIONS:
            rows, cols = projection_shape(cfg, proj)
            codes = rng.integers(-1, 2, size=(rows, cols)).astype(np.float32)
            s = f16_exact(rng.uniform(0.8, 1.6) / np.sqrt(2.0 / 3.0 * cols))
            name = f"blk.{layer}.{proj}"
            if scale_tensors:
                w.projections[name] = codes
                w.scales[name] = s
            else:
                w.projections[name] = codes * np.float32(s)
    return w


def _encode(values: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    if qtype == GGMLQuantizationType.F32:
        return values.astype(np.float32)
    if qtype == GGMLQuantizationType.F16:
        return values.astype(np.float16)
    return quantize(values.astype(np.float32), qtype)


def write_vocab(writer: GGUFWriter, vocab: Vocab) -> None:
    """``tokenizer.ggml.*`` keys for a GPT-2 BPE vocabulary (BOS added by default)."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    writer.add_bos_token_id(vocab.bos)
    writer.add_eos_token_id(vocab.eos)
    writer.add_eot_token_id(vocab.eot)
    writer.add_add_bos_token(True)


def write_hparams(writer: GGUFWriter, cfg: ModelConfig, vocab_size: int) -> None:
    """``<arch>.*`` hyper-parameter keys (BITNET_GGUF.md §1)."""
    writer.add_context_length(cfg.n_ctx)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_block_count(cfg.n_layer)
    writer.add_feed_forward_length(cfg.n_ff)
    writer.add_head_count(cfg.n_head)
    writer.add_head_count_kv(cfg.n_head_kv)
    writer.add_layer_norm_rms_eps(cfg.rms_eps)
    writer.add_rope_freq_base(cfg.rope_base)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_vocab_size(vocab_size)


def write_model(path: str | Path, weights: BitNetWeights, weight_format: str = "f32",
                embd_format: str = "f32") -> Path:
    """Write ``weights`` as a GGUF v3 file; projections in ``weight_format`` (see ``WEIGHT_FORMATS``),
    ``token_embd`` in ``embd_format`` ("f32" or "f16"). Returns the path."""
    cfg = weights.config
    path = Path(path)
    writer = GGUFWriter(str(path), cfg.arch)
    writer.add_name(f"synthetic {cfg.arch}")
    write_hparams(writer, cfg, weights.vocab.size)
    write_vocab(writer, weights.vocab)

    embd_type = {"f32": GGMLQuantizationType.F32, "f16": GGMLQuantizationType.F16}[embd_format]
    proj_type = WEIGHT_FORMATS[weight_format]
    writer.add_tensor("token_embd.weight", _encode(weights.token_embd, embd_type), raw_dtype=embd_type)
    writer.add_tensor("output_norm.weight", weights.output_norm)
    for layer in range(cfg.n_layer):
        for norm in ("attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"):
            writer.add_tensor(f"blk.{layer}.{norm}.weight", weights.norms[f"blk.{layer}.{norm}"])
        for proj in PROJECTIONS:
            name = f"blk.{layer}.{proj}"
            writer.add_tensor(f"{name}.weight", _encode(weights.projections[name], proj_type), raw_dtype=proj_type)
            if name in weights.scales:
                writer.add_tensor(f"{name}.scale", np.array([weights.scales[name]], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_vocab_only(path: str | Path, vocab: Vocab, cfg: ModelConfig = TINY) -> Path:
    """A GGUF with hyper-parameters and a vocabulary but no tensors (for tokenizer tests)."""
    path = Path(path)
    writer = GGUFWriter(str(path), cfg.arch)
    writer.add_name("vocab only")
    write_hparams(writer, cfg, vocab.size)
    write_vocab(writer, vocab)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def vocab_from_tokenizer_json(path: str | Path) -> Vocab:
    """The vocabulary of a Hugging Face byte-level BPE ``tokenizer.json`` (e.g. Llama-3's), as GGUF
    stores it: ids in order, added special tokens as CONTROL, merges as "left right" strings."""
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    model = data["model"]
    by_id = {i: tok for tok, i in model["vocab"].items()}
    types = {i: int(TokenType.NORMAL) for i in by_id}
    for added in data.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        types[added["id"]] = int(TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED)
    n = max(by_id) + 1
    if sorted(by_id) != list(range(n)):
        raise ValueError(f"{path}: token ids are not contiguous")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    ids = {tok: i for i, tok in by_id.items()}
    return Vocab(tokens=[by_id[i] for i in range(n)], token_types=[types[i] for i in range(n)],
                 merges=merges, bos=ids[BOS_TEXT], eos=ids[EOS_TEXT], eot=ids[EOT_TEXT], pre="llama-bpe")

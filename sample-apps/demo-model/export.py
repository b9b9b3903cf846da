"""Exports a training run as the official BitNet b1.58 GGUF layout.

    python export.py --run runs/demo --out bitnet-demo-i2_s.gguf

Writes the model with gguf-py as F32 (ternary values times their scale, exact), then has the
SDK's ``bitnet convert`` re-encode the projections as I2_S (or ``--format tq2_0`` / ``tq1_0`` /
``f32``). The file holds: arch ``bitnet-b1.58`` hyper-parameters, the token embedding as F16
(tied output head), norms as F32, the vocabulary under ``tokenizer.ggml.*`` (``gpt2`` model,
``llama-bpe`` pre-tokenizer) and the 2B4T chat template. Also copies the run's ``eval.json``
(the held-out questions with the framework's answers) next to the output as
``eval.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter
from tokenizers import Tokenizer

import evaluate
from dataset import BOS, EOS, EOT, SPECIALS, vocab_and_merges
from model import PROJECTIONS, Config

ARCH = "bitnet-b1.58"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}"
)
"""BitNet b1.58 2B4T's chat format as a Jinja template (for other GGUF readers; the SDK
renders the same text itself)."""
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3
REPO = Path(__file__).resolve().parents[2]


def load_run(run: Path) -> tuple[Config, dict, Tokenizer]:
    """The run's config, latent parameters (as the nested tree) and tokenizer."""
    cfg = Config(**json.loads((run / "config.json").read_text())["model"])
    flat = np.load(run / "params.npz")
    params = {"token_embd": flat["token_embd"], "output_norm": flat["output_norm"],
              "blocks": [{k.split(".", 2)[2]: flat[k] for k in flat.files if k.startswith(f"blk.{i}.")}
                         for i in range(cfg.layers)]}
    return cfg, params, Tokenizer.from_file(str(run / "tokenizer.json"))


def write_f32(path: Path, cfg: Config, weights: dict, tok: Tokenizer, name: str) -> None:
    """The model as GGUF with F32 projections (values ``t · scale``) and an F16 embedding."""
    w = GGUFWriter(str(path), ARCH)
    w.add_name(name)
    w.add_license("MIT")
    w.add_context_length(cfg.context)
    w.add_embedding_length(cfg.embd)
    w.add_block_count(cfg.layers)
    w.add_feed_forward_length(cfg.ffn)
    w.add_head_count(cfg.heads)
    w.add_head_count_kv(cfg.kv_heads)
    w.add_layer_norm_rms_eps(cfg.rms_eps)
    w.add_rope_freq_base(cfg.rope_base)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_vocab_size(cfg.vocab)
    tokens, merges = vocab_and_merges(tok)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types([TOKEN_CONTROL if t in SPECIALS else TOKEN_NORMAL for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(tok.token_to_id(BOS))
    w.add_eos_token_id(tok.token_to_id(EOS))
    w.add_eot_token_id(tok.token_to_id(EOT))
    w.add_add_bos_token(True)
    w.add_chat_template(CHAT_TEMPLATE)

    f16 = GGMLQuantizationType.F16
    w.add_tensor("token_embd.weight", weights["token_embd"].astype(np.float16), raw_dtype=f16)
    w.add_tensor("output_norm.weight", weights["output_norm"])
    for i in range(cfg.layers):
        for norm in ("attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"):
            w.add_tensor(f"blk.{i}.{norm}.weight", weights[f"blk.{i}.{norm}"])
        for proj in PROJECTIONS:
            t, scale = weights[f"blk.{i}.{proj}"]
            w.add_tensor(f"blk.{i}.{proj}.weight", t.astype(np.float32) * np.float32(scale))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def bitnet_binary() -> str:
    """The ``bitnet`` CLI: ``$BITNET_BIN``, else the workspace's release build (built if absent)."""
    if os.environ.get("BITNET_BIN"):
        return os.environ["BITNET_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "bitnet-cli"], cwd=REPO, check=True)
    return str(target / "release" / "bitnet")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="training run directory (train.py --out)")
    p.add_argument("--out", type=Path, required=True, help="GGUF file to write")
    p.add_argument("--format", default="i2_s", choices=["i2_s", "tq2_0", "tq1_0", "f32"])
    p.add_argument("--name", default="BitNet b1.58 demo")
    args = p.parse_args()

    cfg, params, tok = load_run(args.run)
    weights = evaluate.exported(params)
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "model-f32.gguf"
        write_f32(f32, cfg, weights, tok, args.name)
        subprocess.run([bitnet_binary(), "convert", str(f32), "--format", args.format, "-o", str(args.out)],
                       check=True)
    if (args.run / "eval.json").is_file():
        shutil.copyfile(args.run / "eval.json", args.out.parent / "eval.json")


if __name__ == "__main__":
    main()

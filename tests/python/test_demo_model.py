"""The trained demo model (sample-apps/demo-model): the engine runs its weights as the training
framework (JAX) does, answers its held-out questions as well, and in every ternary format alike.

- F32 path: the committed I2_S file converted to F32 (``bitnet convert``, exact) against the
  framework's float forward on the same weights: max |Δlogit| ≤ 1e-3 at every position.
- int8 path: the I2_S file against the framework's quantised forward (int8 activations, ternary
  weights — QAT inference): top-1 equal at ≥ 99 % of ≥ 500 positions, relative L2 ≤ 1 %, with
  the engine's default F16 KV cache (the framework rounding keys and values to f16 likewise) and
  with an F32 one.
- Task accuracy: ``bitnet eval`` (each question a fresh one-turn chat through a Session, greedy)
  within 2 points of the framework's accuracy recorded in ``eval.json``; the arithmetic tasks at
  ≥ 90 %; I2_S, TQ2_0 and TQ1_0 give the same reply to every question.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from compare import relative_l2, top1_agreement
from conftest import REPO_ROOT
from gguf_raw import I2_S_BLOCK, I2_S_TYPE_ID, dequantize, read_gguf

DEMO_DIR = REPO_ROOT / "sample-apps" / "demo-model"
MODEL = DEMO_DIR / "bitnet-demo-i2_s.gguf"
EVAL = DEMO_DIR / "eval.json"
FLOAT_TOL = 1e-3
MIN_TOP1 = 0.99
MAX_REL_L2 = 0.01
MIN_POSITIONS = 500
ACCURACY_POINTS = 2.0
MIN_ARITHMETIC = 90.0

jax = pytest.importorskip("jax", reason="the demo model's framework (JAX) is not installed")
sys.path.insert(0, str(DEMO_DIR))
import dataset  # noqa: E402  (the training code, importable once DEMO_DIR is on the path)
import evaluate  # noqa: E402
from model import PROJECTIONS, Config, Mode  # noqa: E402


def _ternary_i2_s(data: bytes, dims: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """An I2_S tensor's codes as int8 ternary values [rows, cols] and its f32 scale."""
    n = int(np.prod(dims))
    assert n % I2_S_BLOCK == 0
    codes = np.frombuffer(data, np.uint8, count=n // 4).reshape(-1, 32)
    shifts = np.array([6, 4, 2, 0], np.uint8).reshape(1, 4, 1)
    t = np.array([-1, 0, 1, 0], np.int8)[((codes[:, None, :] >> shifts) & 3).reshape(-1)]
    (scale,) = struct.unpack_from("<f", data, n // 4)
    return t.reshape(tuple(reversed(dims))), scale


def load_framework(path: Path):
    """(config, QUANT/FLOAT parameter tree, tokenizer) built from a demo model file alone."""
    f = read_gguf(path)
    meta = f.metadata
    arch = f.arch
    assert arch == "bitnet-b1.58"
    cfg = Config(vocab=f.vocab_size, embd=int(f.arch_key("embedding_length")),
                 layers=int(f.arch_key("block_count")), heads=int(f.arch_key("attention.head_count")),
                 kv_heads=int(f.arch_key("attention.head_count_kv")), ffn=int(f.arch_key("feed_forward_length")),
                 context=f.context_length, rope_base=float(f.arch_key("rope.freq_base")),
                 rms_eps=float(f.arch_key("attention.layer_norm_rms_epsilon")))
    weights = {"token_embd": dequantize(f.tensors["token_embd.weight"]),
               "output_norm": dequantize(f.tensors["output_norm.weight"])}
    for name, t in f.tensors.items():
        if not name.startswith("blk."):
            continue
        key = name.removesuffix(".weight")
        if key.split(".")[2] in PROJECTIONS:
            assert t.type_id == I2_S_TYPE_ID, f"{name} is {t.type_name}"
            weights[key] = _ternary_i2_s(t.data, t.dims)
        else:
            weights[key] = dequantize(t)
    tokens = meta["tokenizer.ggml.tokens"]
    specials = {i for i, kind in enumerate(meta["tokenizer.ggml.token_type"]) if kind == 3}
    vocab = {tok: i for i, tok in enumerate(tokens) if i not in specials}
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    return cfg, evaluate.as_float(weights, cfg), dataset.build_tokenizer(vocab, merges)


@pytest.fixture(scope="module")
def framework():
    return load_framework(MODEL)


@pytest.fixture(scope="module")
def demo_files(cli, model_dir) -> dict[str, Path]:
    """The committed I2_S file and its F32, TQ2_0 and TQ1_0 conversions."""
    files = {"i2_s": MODEL}
    for fmt in ("f32", "tq2_0", "tq1_0"):
        files[fmt] = model_dir / f"demo-{fmt}.gguf"
        cli.run("convert", MODEL, "--format", fmt, "-o", files[fmt])
    return files


@pytest.fixture(scope="module")
def eval_set() -> dict:
    return json.loads(EVAL.read_text())


def chat_sequences(tok, questions: list[dict]) -> list[list[int]]:
    """Two-turn chats of the first 40 questions with their answers, as the engine renders and
    tokenizes them."""
    qs = questions
    seqs = []
    for i in range(0, 40, 2):
        chat = [("User", qs[i]["question"]), ("Assistant", qs[i]["answer"]),
                ("User", qs[i + 1]["question"]), ("Assistant", qs[i + 1]["answer"])]
        seqs.append(tok.encode(dataset.BOS + dataset.render(chat), add_special_tokens=False).ids)
    return seqs


@pytest.fixture(scope="module")
def sequences(framework, eval_set) -> list[list[int]]:
    """≥ 500 positions of chats."""
    seqs = chat_sequences(framework[2], eval_set["questions"])
    assert sum(map(len, seqs)) >= MIN_POSITIONS
    return seqs


def test_tokenizer_matches_the_engine(framework, eval_set, cli):
    _, _, tok = framework
    for q in eval_set["questions"][::10]:
        text = dataset.prompt_text([("User", q["question"])])
        ours, _ = cli.tokenize(MODEL, text)
        assert ours == tok.encode(text, add_special_tokens=False).ids, text


def test_f32_path_matches_the_framework_float_forward(framework, demo_files, sequences, cli, gaps):
    cfg, params, _ = framework
    worst = 0.0
    for tokens in sequences:
        ours = cli.logits(demo_files["f32"], tokens)
        ref = evaluate.logits(params, cfg, tokens, Mode.FLOAT)
        worst = max(worst, float(np.max(np.abs(ours - ref))))
    gaps.record("demo_f32_vs_framework_float", max_abs=worst)
    assert worst <= FLOAT_TOL


@pytest.mark.parametrize("kv", ["f32", "f16"])
def test_int8_path_matches_the_framework_quantised_forward(kv, framework, demo_files, sequences, cli, gaps):
    """The I2_S file with a KV cache of either precision against the framework's quantised
    forward with keys and values kept at the same precision."""
    cfg, params, _ = framework
    ours = np.concatenate([cli.logits(demo_files["i2_s"], t, "--kv", kv) for t in sequences])
    ref = np.concatenate([evaluate.logits(params, cfg, t, Mode.QUANT, kv_f16=kv == "f16") for t in sequences])
    top1, rel = top1_agreement(ours, ref), relative_l2(ours, ref)
    gaps.record(f"demo_i2_s_kv_{kv}_vs_framework_quantised", positions=len(ours), top1=top1, rel_l2=rel,
                max_abs=float(np.max(np.abs(ours - ref))))
    assert len(ours) >= MIN_POSITIONS
    assert top1 >= MIN_TOP1
    assert rel <= MAX_REL_L2


def test_recorded_framework_answers_are_this_models(framework, eval_set):
    """``eval.json``'s framework replies (written by train.py) are what these weights answer."""
    cfg, params, tok = framework
    qs = eval_set["questions"][::10]
    from tasks import Question
    replies = evaluate.answer_all(params, cfg, tok, [Question(q["task"], q["question"], q["answer"]) for q in qs])
    assert replies == [q["framework"] for q in qs]


@pytest.fixture(scope="module")
def engine_replies(demo_files, cli) -> dict[str, dict]:
    return {fmt: cli.run_json("eval", demo_files[fmt], "--questions", EVAL, "--json")
            for fmt in ("i2_s", "tq2_0", "tq1_0")}


def test_task_accuracy_equals_the_framework(engine_replies, eval_set, gaps):
    ours = engine_replies["i2_s"]["accuracy"]
    theirs = eval_set["accuracy"]
    same = sum(r == q["framework"] for r, q in zip(engine_replies["i2_s"]["replies"], eval_set["questions"]))
    gaps.record("demo_task_accuracy", **{f"engine_{k}": v for k, v in ours.items()},
                **{f"framework_{k}": v for k, v in theirs.items()}, identical_replies=same)
    assert len(eval_set["questions"]) >= 300
    assert abs(ours["all"] - theirs["all"]) <= ACCURACY_POINTS, (ours, theirs)
    for task in ("add", "sub"):
        assert ours[task] >= MIN_ARITHMETIC, (task, ours[task])


def test_every_format_gives_the_same_answers(engine_replies):
    base = engine_replies["i2_s"]["replies"]
    for fmt in ("tq2_0", "tq1_0"):
        differ = [i for i, (a, b) in enumerate(zip(base, engine_replies[fmt]["replies"])) if a != b]
        assert not differ, f"{fmt} differs from I2_S on questions {differ[:10]}"

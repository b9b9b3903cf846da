"""The demo model's training script on a short run: it trains, is deterministic from its seed, and
exports a file the engine loads and chats with. (The shipped model took a full run; see
sample-apps/demo-model/README.md.)"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

DEMO_DIR = REPO_ROOT / "sample-apps" / "demo-model"
# Short rows of few tokens: the run checks the script's path, not what it learns (each step of the
# full run's 16 rows of 256 tokens takes seconds on 2 cores).
SMOKE = ["--steps", "20", "--long-steps", "5", "--batch", "4", "--seq", "64", "--long-seq", "128",
         "--eval-every", "0", "--final-eval", "0"]

pytest.importorskip("jax", reason="the demo model's framework (JAX) is not installed")


def _train(out, *extra: str) -> None:
    subprocess.run([sys.executable, "train.py", "--out", str(out), *SMOKE, *extra], cwd=DEMO_DIR, check=True,
                   timeout=900)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke-a")
    _train(out)
    return out


def test_a_short_run_writes_everything(smoke_run):
    for name in ("params.npz", "config.json", "tokenizer.json", "loss.csv", "loss.png"):
        assert (smoke_run / name).is_file(), name
    losses = [float(line.split(",")[1]) for line in (smoke_run / "loss.csv").read_text().splitlines()[1:]]
    assert losses and losses[-1] < losses[0]


def test_the_same_seed_trains_the_same_weights(smoke_run, tmp_path):
    _train(tmp_path)
    a, b = np.load(smoke_run / "params.npz"), np.load(tmp_path / "params.npz")
    assert a.files == b.files
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert (smoke_run / "tokenizer.json").read_bytes() == (tmp_path / "tokenizer.json").read_bytes()


def test_the_export_loads_in_the_engine(smoke_run, tmp_path, cli):
    out = tmp_path / "smoke-i2_s.gguf"
    env = dict(os.environ, BITNET_BIN=str(cli.binary))
    subprocess.run([sys.executable, "export.py", "--run", str(smoke_run), "--out", str(out)], cwd=DEMO_DIR,
                   check=True, env=env, timeout=300)
    report = cli.run_json("inspect", out, "--json")
    assert report["metadata"]["general.architecture"] == "bitnet-b1.58"
    types = {t["name"]: t["type"] for t in report["tensors"]}
    assert types["blk.0.attn_q.weight"] == "I2_S" and types["token_embd.weight"] == "F16"
    tokens, _ = cli.logits_for_prompt(out, "User: What is 1 + 1?<|eot_id|>Assistant: ")
    assert tokens[0] == report["metadata"]["tokenizer.ggml.bos_token_id"]

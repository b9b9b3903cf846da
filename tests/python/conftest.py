"""Shared fixtures: the ``bitnet`` CLI driver, llama.cpp evaluation, model directories, gap report.

The engine is driven only through its CLI (binary from ``$BITNET_BIN``, default
``<repo>/target/release/bitnet``); tests that need it are skipped, with the reason, when the
binary is absent. llama.cpp runs through ``llama-cpp-python`` with F32 KV cache (its default
F16 cache would round K/V to 11 bits and add ~1e-3 of noise to the logits).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 600
GGML_TYPE_F32 = 0


class CliError(AssertionError):
    """The CLI exited nonzero or printed something that is not the promised JSON."""


@dataclass(frozen=True)
class BitnetCli:
    """Runs ``bitnet`` subcommands and parses their ``--json`` output."""

    binary: Path

    def run_json(self, *args: str) -> dict:
        """Run ``bitnet ARGS`` and parse stdout as one JSON object."""
        cmd = [str(self.binary), *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        if proc.returncode != 0:
            raise CliError(f"`{' '.join(cmd)}` exited with {proc.returncode}\n--- stderr ---\n{proc.stderr}")
        try:
            out = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise CliError(f"`{' '.join(cmd)}` did not print one JSON object ({e})\n--- stdout (head) ---\n"
                           f"{proc.stdout[:2000]}\n--- stderr ---\n{proc.stderr}") from e
        if not isinstance(out, dict):
            raise CliError(f"`{' '.join(cmd)}` printed {type(out).__name__}, expected a JSON object")
        return out

    def run(self, *args: str) -> None:
        """Run a subcommand that writes a file; fail with its stderr on a nonzero exit."""
        cmd = [str(self.binary), *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        if proc.returncode != 0:
            raise CliError(f"`{' '.join(cmd)}` exited with {proc.returncode}\n--- stderr ---\n{proc.stderr}")

    def synth(self, out: Path, arch: str, fmt: str, seed: int, preset: str = "tiny") -> Path:
        """``bitnet synth``: a synthetic model; same seed ⇒ same weights in every format."""
        self.run("synth", "--preset", preset, "--arch", arch, "--format", fmt, "--seed", str(seed), "-o", out)
        if not out.is_file():
            raise CliError(f"bitnet synth exited 0 but wrote no file at {out}")
        return out

    def logits(self, model: Path, tokens: list[int], *options: str) -> np.ndarray:
        """Logits at every position, ``[len(tokens), n_vocab]`` float64 (from the printed f32);
        ``options`` are extra engine flags."""
        out = self.run_json("logits", model, "--tokens", ",".join(map(str, tokens)), "--json", "--all-positions",
                            *options)
        if list(out.get("tokens", [])) != list(tokens):
            raise CliError(f"bitnet logits echoed tokens {out.get('tokens')}, sent {tokens}")
        logits = np.asarray(out["logits"], dtype=np.float64)
        if logits.ndim != 2 or logits.shape[0] != len(tokens):
            raise CliError(f"bitnet logits --all-positions gave shape {logits.shape} for {len(tokens)} tokens")
        return logits

    def logits_for_prompt(self, model: Path, text: str) -> tuple[list[int], np.ndarray]:
        """``--prompt TEXT``: the engine's tokens and the last position's logits."""
        out = self.run_json("logits", model, "--prompt", text, "--json")
        return list(out["tokens"]), np.asarray(out["logits"], dtype=np.float64)

    def tokenize(self, model: Path, text: str, bos: bool = False) -> tuple[list[int], str]:
        """Token ids and the engine's decoding of them."""
        args = ["tokenize", model, "--text", text, "--json"] + ([] if bos else ["--no-bos"])
        out = self.run_json(*args)
        return list(out["tokens"]), out["text"]

    def dequant(self, model: Path, tensor: str) -> dict:
        """``bitnet inspect --dequant``: name, type, dims and values (float32 array, numpy order)."""
        out = self.run_json("inspect", model, "--dequant", tensor, "--json")
        dims = list(out["dims"])
        values = np.asarray(out["values"], dtype=np.float64).astype(np.float32)
        if values.size != int(np.prod(dims)):
            raise CliError(f"inspect --dequant {tensor}: {values.size} values for dims {dims}")
        out["values"] = values.reshape(tuple(reversed(dims)))
        return out


@pytest.fixture(scope="session")
def bitnet_bin() -> Path:
    """Path of the engine's CLI; skips the requesting test when it has not been built."""
    path = Path(os.environ.get("BITNET_BIN", REPO_ROOT / "target" / "release" / "bitnet"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"bitnet CLI not found at {path} (build it with `cargo build --release -p bitnet-cli` "
                    f"or set BITNET_BIN)")
    return path


@pytest.fixture(scope="session")
def cli(bitnet_bin: Path) -> BitnetCli:
    return BitnetCli(bitnet_bin)


class LlamaCpp:
    """llama.cpp (via llama-cpp-python) on model files; one loaded model per path, kept for the session."""

    def __init__(self) -> None:
        import llama_cpp  # imported lazily so collection works without the wheel

        self._llama_cpp = llama_cpp
        self._models: dict[tuple[str, bool], object] = {}

    def _load(self, path: Path, vocab_only: bool = False):
        key = (str(path), vocab_only)
        if key not in self._models:
            if vocab_only:
                self._models[key] = self._llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
            else:
                self._models[key] = self._llama_cpp.Llama(
                    str(path), logits_all=True, n_ctx=256, n_batch=256, n_ubatch=256, n_threads=2,
                    n_threads_batch=2, type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32, verbose=False)
        return self._models[key]

    def logits(self, path: Path, tokens: list[int]) -> np.ndarray:
        """Logits at every position of ``tokens`` evaluated from an empty KV cache."""
        llm = self._load(path)
        llm.reset()  # eval() then drops every cached position >= 0
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float64)

    def tokenize(self, path: Path, text: str, add_bos: bool = False) -> list[int]:
        """llama.cpp's tokens for ``text``, special tokens parsed (``special=True``)."""
        return list(self._load(path, vocab_only=True).tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def detokenize(self, path: Path, tokens: list[int]) -> bytes:
        return self._load(path, vocab_only=True).detokenize(tokens, special=True)


@pytest.fixture(scope="session")
def llama() -> LlamaCpp:
    return LlamaCpp()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide directory for model files (kept by pytest under its basetemp)."""
    return tmp_path_factory.mktemp("models")


@dataclass
class GapReport:
    """Measured gaps, printed as they are recorded and written to ``<basetemp>/measured_gaps.json``."""

    path: Path
    entries: dict[str, dict] = field(default_factory=dict)

    def record(self, name: str, **numbers: float) -> None:
        self.entries[name] = {k: float(v) for k, v in numbers.items()}
        print(f"[gap] {name}: " + ", ".join(f"{k}={v:.3g}" for k, v in numbers.items()))
        self.path.write_text(json.dumps(self.entries, indent=2, sort_keys=True))


@pytest.fixture(scope="session")
def gaps(tmp_path_factory: pytest.TempPathFactory) -> GapReport:
    report = GapReport(tmp_path_factory.getbasetemp() / "measured_gaps.json")
    yield report
    if report.entries:
        print(f"\nmeasured gaps written to {report.path}")


@pytest.fixture(scope="session")
def gguf_model(model_dir: Path):
    """``build(cfg, seed, weight_format="f32", scale_tensors=False) -> Path``: a gguf-py-written
    model (``bitnet_model.write_model``), written once per distinct argument set."""
    from bitnet_model import make_weights, write_model

    def build(cfg, seed: int, weight_format: str = "f32", scale_tensors: bool = False) -> Path:
        name = (f"py-{cfg.arch}-e{cfg.n_embd}-f{cfg.n_ff}-r{int(cfg.rope_base)}-s{seed}"
                f"{'-scales' if scale_tensors else ''}-{weight_format}.gguf")
        path = model_dir / name
        if not path.exists():
            write_model(path, make_weights(cfg, seed, scale_tensors=scale_tensors), weight_format)
        return path

    return build


@pytest.fixture(scope="session")
def synth_model(cli: BitnetCli, model_dir: Path):
    """``build(arch, fmt, seed) -> Path``: a ``bitnet synth --preset tiny`` file, written once."""

    def build(arch: str, fmt: str, seed: int) -> Path:
        path = model_dir / f"synth-{arch}-s{seed}-{fmt}.gguf"
        if not path.exists():
            cli.synth(path, arch, fmt, seed)
        return path

    return build

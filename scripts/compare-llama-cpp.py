#!/usr/bin/env python3
"""Prefill and decode speed of our engine against llama.cpp and bitnet.cpp on the same 2B shapes.

One run, on this machine:

1. ``bitnet synth --preset 2b4t --arch bitnet --format F --seed S`` writes a synthetic model with
   the exact tensor shapes of BitNet-b1.58-2B-4T (≈1.2 GB) for each format F in ``--formats``
   (I2_S, TQ2_0, TQ1_0). Files are cached under ``~/.cache/bitnet-sdk/models/`` keyed by
   preset, architecture, format and seed, and reused; the same seed gives the same ternary
   weights in every format. The built-in vocabulary is always used
   (``$BITNET_LLAMA3_TOKENIZER`` is ignored) so a cached file does not depend on the
   environment. The architecture is ``bitnet`` (the one llama.cpp knows; SiLU FFN), except
   for the I2_S file when bitnet.cpp runs (``--bitnet-cpp``): that one is ``--arch
   bitnet-b1.58``, the official 2B4T file's architecture (squared-ReLU FFN), which bitnet.cpp
   runs through its 2B4T graph. Both our engine and bitnet.cpp then read that same I2_S file.
2. Our engine: ``bitnet bench MODEL -p P -n N -t T -r R --json`` on every format; with
   ``--head H`` (repeatable) also with ``--head H``; with ``--profile NAME`` also with ``--profile NAME``
   (that deployment profile's configuration — memory budget, defaults — at the same thread
   count T, since ``-t`` overrides the profile's thread limit).
3. llama.cpp, through ``llama-cpp-python`` (a child process on the venv's Python), on the
   TQ2_0 and TQ1_0 files (llama.cpp has no I2_S), measured the way ``bitnet bench`` measures
   (``core/src/bench.rs``):

   * the same thread count T (``n_threads = n_threads_batch = T``), prompt length P and number
     of generated tokens N, and the same KV cache precision (F16, both sides' default);
   * P random prompt ids and N random decode ids (fixed seed, ids < the vocabulary size, no
     sampling: decoded ids do not depend on the logits);
   * each repetition starts from an empty KV cache (``llama_memory_clear``); prefill is the
     time of the ``llama_decode`` calls over the prompt in batches of ``--llama-batch`` tokens
     (default 512 = ``n_batch = n_ubatch``, llama.cpp's usual setting; ours prefills in
     batches of 64 — pass ``--llama-batch 64`` to mirror that), logits of the last token of
     each batch only; decode is the time of N single-token ``llama_decode`` calls, logits of
     that token. Only ``llama_decode`` is inside the timer: every ``llama_batch`` is filled
     beforehand, and ``Llama.eval`` is not used (it also edits the cache and Python arrays).
     ``llama_synchronize`` closes each timed span;
   * time to first token = prefill time; tokens/s are per repetition, reported as mean and
     sample standard deviation over the R repetitions, as ``bitnet bench`` does (over all
     ``K · R`` repetitions with ``--rounds K``);
   * flash attention: ``--flash-attn on`` by default, which is what llama.cpp's own tools
     resolve their default (``auto``) to on a CPU; ``off`` is llama-cpp-python's default;
   * threads: a persistent ggml threadpool of T threads is attached to the context, as
     ``llama-bench`` and ``llama-cli`` do (llama-cpp-python alone would start and join fresh
     threads in every ``llama_decode``); ours keeps its own pool for the whole run.

4. bitnet.cpp (``--bitnet-cpp PATH``), on the I2_S file only: its own ``llama-bench`` (bitnet.cpp
   is a llama.cpp fork), ``llama-bench -m MODEL -p P -n N -t T -r R -b B -ub B -fa 0|1 -o json``
   with B = ``--llama-batch`` and flash attention from ``--bitnet-cpp-flash-attn`` (default
   off, llama-bench's own default in bitnet.cpp's fork). PATH is a local bitnet.cpp build made
   outside this repository — this script never fetches or builds it: its checkout (the binary
   is then ``PATH/build/bin/llama-bench``), its CMake build directory (``PATH/bin/llama-bench``)
   or the ``llama-bench`` binary itself. Prefill and decode tok/s are llama-bench's
   per-repetition samples of its ``pp P`` and ``tg N`` tests (mean and sample sd, as above);
   time to first token is the mean ``pp P`` time; peak RSS is the child's (``wait4``). Two
   differences from ``bitnet bench`` remain, both in bitnet.cpp's favour: llama-bench runs an
   untimed in-process warmup of each test before its repetitions (a whole ``pp P`` and one
   decoded token), and its ``tg N`` test decodes from an empty KV cache (positions 0..N-1)
   where ours decodes after the prompt (positions P..P+N-1).

Warmup policy (the same for every engine): before each measured process, one untimed short run
of the same engine on the same file in its own process (prompt 16 tokens, 2 generated tokens,
1 repetition), so the model file is in the OS page cache. The measured process then maps the
file afresh; neither our engine nor the llama.cpp child warms up in process, so the first
repetition includes first-use costs (bitnet.cpp's llama-bench does, see 4.). One asymmetry
remains: llama.cpp prefetches its mapping at load (``MAP_POPULATE`` by default: page tables
filled before any timing) while our engine faults pages in during the first repetition, which
favours llama.cpp in that repetition (more so with few, short repetitions).

Rounds (``--rounds K``, default 1): the whole sequence — each format's engines back to back —
runs K times, so that each round's engines share the machine's state of the moment (its memory
bandwidth drifts by tens of percent over minutes here). With K > 1 each ratio is the mean ± sd
over the K rounds of that round's ratio (paired measurements: a slow spell of the machine
slows both sides of a pair); with K = 1 it is the ratio of the means and its ± is first-order
error propagation of both sds.

Output: a markdown table of prefill and decode tok/s (mean ± sd) and our/llama.cpp ratios
(ours TQ2_0 vs llama.cpp TQ2_0, ours TQ1_0 vs llama.cpp TQ1_0, ours I2_S vs both) and, with
``--bitnet-cpp``, ours I2_S / bitnet.cpp I2_S for each of our variants. A second
table lists the rest of our report (time to first token, bytes per token, bandwidth roofline,
peak RSS, kernels), llama.cpp's time to first token and peak RSS (``VmHWM`` of its Python
child process, which includes the interpreter and numpy: ≈ 40 MB) and bitnet.cpp's.
Progress and wall times go to stderr; ``--json OUT`` writes everything measured, with the wall
time of each part. The CLI is copied to a temporary directory first, so a rebuild during the
run cannot mix two builds.

Usage (from the repository root, after ``cargo build --release -p bitnet-cli``):

    scripts/compare-llama-cpp.py                     # -p 512 -n 128 -t 2 -r 3, all formats
    scripts/compare-llama-cpp.py -r 1 --rounds 5     # five paired rounds of one repetition
    scripts/compare-llama-cpp.py -p 64 -n 16 -r 1 --json /tmp/compare.json
    scripts/compare-llama-cpp.py --formats i2_s --skip-llama
    scripts/compare-llama-cpp.py --head q8_0          # also ours with --head q8_0
    scripts/compare-llama-cpp.py --formats i2_s,tq2_0 --bitnet-cpp ~/src/BitNet --profile mobile \
        -t 1 -r 1 --rounds 3                       # also bitnet.cpp and ours in the mobile profile

Any Python ≥ 3.8 runs this script; only the llama.cpp child needs the venv with
``llama-cpp-python`` (``--python``, default ``~/.cache/bitnet-sdk/venv/bin/python``).
bitnet.cpp needs only its ``llama-bench`` binary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bitnet-sdk"
# Formats our engine runs; llama.cpp runs the TQ ones (it has no I2_S).
FORMATS = ("i2_s", "tq2_0", "tq1_0")
LLAMA_FORMATS = ("tq2_0", "tq1_0")
# bitnet.cpp runs I2_S only, from the file written with the official 2B4T architecture.
BITNET_CPP_FORMATS = ("i2_s",)
BITNET_CPP_ARCH = "bitnet-b1.58"
# Deployment profiles of `bitnet bench --profile`.
PROFILES = ("mobile", "edge", "server", "cloud")
# The untimed warmup run of each side: prompt tokens, generated tokens (1 repetition).
WARMUP_PROMPT_TOKENS = 16
WARMUP_GEN_TOKENS = 2
# Seed of llama.cpp's random prompt and decode ids.
TOKEN_SEED = 0


def log(msg: str) -> None:
    """Progress line on stderr (stdout holds the table)."""
    print(msg, file=sys.stderr, flush=True)


def default_bitnet() -> Path:
    """``$CARGO_TARGET_DIR/release/bitnet``, else ``<repo>/target/release/bitnet``."""
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO_ROOT / "target") / "release" / "bitnet"


def stat(samples: list[float]) -> dict:
    """Mean and sample standard deviation (0 for one sample), like ``bench::Stat``."""
    return {"mean": statistics.fmean(samples), "sd": statistics.stdev(samples) if len(samples) > 1 else 0.0}


def pooled(stats: list[dict], n: int) -> dict:
    """The mean and sample sd of all samples of several groups of ``n`` samples each, from each
    group's ``stat`` (law of total variance; exact)."""
    mean = statistics.fmean(s["mean"] for s in stats)
    total = len(stats) * n
    if total < 2:
        return {"mean": mean, "sd": 0.0}
    ss = sum((n - 1) * s["sd"] ** 2 + n * (s["mean"] - mean) ** 2 for s in stats)
    return {"mean": mean, "sd": math.sqrt(ss / (total - 1))}


# Fields of a report that are ``stat``s over its repetitions.
STAT_FIELDS = ("prefill_tokens_per_s", "decode_tokens_per_s", "time_to_first_token_ms")


def combine(reports: list[dict], reps: int) -> dict:
    """One report from one engine's reports of every round: ``stat`` fields pooled over all
    repetitions, peak RSS the largest, other numbers averaged, the rest from the first round."""
    out = dict(reports[0])
    for key, value in reports[0].items():
        if key in STAT_FIELDS:
            out[key] = pooled([r[key] for r in reports], reps)
        elif key == "peak_rss_bytes":
            known = [r[key] for r in reports if r[key] is not None]
            out[key] = max(known) if known else None
        elif isinstance(value, float):
            out[key] = statistics.fmean(r[key] for r in reports)
    out["rounds"] = len(reports)
    return out


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[str, float]:
    """Run ``cmd``; return its stdout and wall time in s. Fails with its stderr on a nonzero exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` exited with {proc.returncode}\n{proc.stderr.strip()}")
    return proc.stdout, seconds


def last_json_line(stdout: str, cmd: list[str]) -> dict:
    """The JSON object on the last nonempty line of a child's stdout."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        sys.exit(f"`{' '.join(cmd)}` did not print a JSON object:\n{stdout[:2000]}")


# --- models ------------------------------------------------------------------------------------


def model_file(models_dir: Path, preset: str, fmt: str, seed: int, arch: str = "bitnet") -> Path:
    """Cache path of a synthetic model."""
    return models_dir / f"synth-{preset}-{arch}-{fmt}-seed{seed}.gguf"


def synth_model(bitnet: Path, models_dir: Path, preset: str, fmt: str, seed: int,
                arch: str = "bitnet") -> tuple[Path, float | None]:
    """The cached model file, written by ``bitnet synth`` if absent; seconds spent (None if cached)."""
    path = model_file(models_dir, preset, fmt, seed, arch)
    if path.is_file():
        return path, None
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")  # renamed once complete: no truncated file is reused
    cmd = [str(bitnet), "synth", "--preset", preset, "--arch", arch, "--format", fmt,
           "--seed", str(seed), "-o", str(partial)]
    env = {k: v for k, v in os.environ.items() if k != "BITNET_LLAMA3_TOKENIZER"}
    _, seconds = run_timed(cmd, env)
    partial.rename(path)
    return path, seconds


# --- our engine --------------------------------------------------------------------------------


# The quantised output heads ``--head`` may add runs of our engine with.
HEADS = ("q8_0", "q6_k", "q4_k")


def head_engine(head: str) -> str:
    """Name of our engine run with an output head precision (``--head``)."""
    return f"ours, {head.upper()} head"


def profile_engine(profile: str) -> str:
    """Name of our engine run in a deployment profile (``--profile``)."""
    return f"ours, {profile} profile"


def bench_ours(bitnet: Path, model: Path, p: int, n: int, t: int, r: int, head: str | None = None,
               profile: str | None = None) -> dict:
    """Warmup process, then ``bitnet bench --json`` (with ``--head HEAD`` and ``--profile PROFILE``
    if given); its report plus the wall times (s)."""
    def cmd(p: int, n: int, r: int) -> list[str]:
        return ([str(bitnet), "bench", str(model), "-p", str(p), "-n", str(n), "-t", str(t), "-r", str(r), "--json"]
                + (["--head", head] if head else []) + (["--profile", profile] if profile else []))

    _, warmup_s = run_timed(cmd(min(p, WARMUP_PROMPT_TOKENS), min(n, WARMUP_GEN_TOKENS), 1))
    measured = cmd(p, n, r)
    stdout, run_s = run_timed(measured)
    report = last_json_line(stdout, measured)
    report["wall_s"] = {"warmup": warmup_s, "run": run_s}
    return report


# --- bitnet.cpp --------------------------------------------------------------------------------

BITNET_CPP = "bitnet.cpp"


def llama_bench_binary(path: Path) -> Path | None:
    """bitnet.cpp's ``llama-bench`` from ``--bitnet-cpp PATH``: the binary itself, or
    ``PATH/build/bin/llama-bench`` (a checkout), or ``PATH/bin/llama-bench`` (a build directory)."""
    for candidate in (path, path / "build" / "bin" / "llama-bench", path / "bin" / "llama-bench"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_rusage(cmd: list[str]) -> tuple[str, float, int | None]:
    """Like :func:`run_timed`, also returning the child's peak RSS in bytes (``wait4``; None where
    the platform has no ``wait4``)."""
    if not hasattr(os, "wait4"):
        stdout, seconds = run_timed(cmd)
        return stdout, seconds, None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` exited with {proc.returncode}\n{stderr.strip()[-4000:]}")
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return stdout, seconds, rss


def llama_bench_test(tests: list, n_prompt: int, n_gen: int, cmd: list[str]) -> dict:
    """The entry of llama-bench's JSON list for the test ``pp n_prompt`` or ``tg n_gen``."""
    for test in tests:
        if isinstance(test, dict) and test.get("n_prompt") == n_prompt and test.get("n_gen") == n_gen:
            return test
    sys.exit(f"`{' '.join(cmd)}` printed no test with n_prompt={n_prompt}, n_gen={n_gen}")


def samples(test: dict, key: str) -> list[float]:
    """A llama-bench test's per-repetition samples (``samples_ts`` / ``samples_ns``)."""
    values = test.get(key)
    if not values:
        sys.exit(f"llama-bench's test has no {key}: {json.dumps(test)[:500]}")
    return [float(v) for v in values]


def parse_llama_bench(stdout: str, p: int, n: int, cmd: list[str]) -> dict:
    """A bench-like report from ``llama-bench -o json`` output (a JSON list of tests)."""
    try:
        tests = json.loads(stdout)
    except json.JSONDecodeError:
        sys.exit(f"`{' '.join(cmd)}` did not print a JSON list:\n{stdout[:2000]}")
    if not isinstance(tests, list):
        sys.exit(f"`{' '.join(cmd)}` printed {type(tests).__name__}, expected a JSON list")
    pp, tg = llama_bench_test(tests, p, 0, cmd), llama_bench_test(tests, 0, n, cmd)
    return {
        "engine": f"bitnet.cpp (llama-bench, build {pp.get('build_commit', '?')})",
        "threads": pp.get("n_threads"),
        "prompt_tokens": p,
        "gen_tokens": n,
        "reps": len(samples(pp, "samples_ts")),
        "prefill_batch": pp.get("n_batch"),
        "prefill_ubatch": pp.get("n_ubatch"),
        "flash_attn": pp.get("flash_attn"),
        "model_type": pp.get("model_type"),
        "cpu_info": pp.get("cpu_info"),
        "prefill_tokens_per_s": stat(samples(pp, "samples_ts")),
        "decode_tokens_per_s": stat(samples(tg, "samples_ts")),
        "time_to_first_token_ms": stat([ns / 1e6 for ns in samples(pp, "samples_ns")]),
    }


def bench_bitnet_cpp(llama_bench: Path, model: Path, p: int, n: int, t: int, r: int, batch: int,
                     flash_attn: bool) -> dict:
    """Warmup process, then ``llama-bench -o json``; a bench-like report plus wall times and the
    measured process's peak RSS."""
    def cmd(p: int, n: int, r: int) -> list[str]:
        return [str(llama_bench), "-m", str(model), "-p", str(p), "-n", str(n), "-t", str(t), "-r", str(r),
                "-b", str(batch), "-ub", str(batch), "-fa", "1" if flash_attn else "0", "-o", "json"]

    _, warmup_s = run_timed(cmd(min(p, WARMUP_PROMPT_TOKENS), min(n, WARMUP_GEN_TOKENS), 1))
    measured = cmd(p, n, r)
    stdout, run_s, rss = run_rusage(measured)
    report = parse_llama_bench(stdout, p, n, measured)
    report["peak_rss_bytes"] = rss
    report["wall_s"] = {"warmup": warmup_s, "run": run_s}
    return report


# --- llama.cpp ---------------------------------------------------------------------------------


def bench_llama(python: str, model: Path, p: int, n: int, t: int, r: int, batch: int, flash_attn: bool) -> dict:
    """Warmup child, then a measured child running :func:`llama_worker`; its report plus wall times."""
    def cmd(p: int, n: int, r: int) -> list[str]:
        job = {"model": str(model), "p": p, "n": n, "t": t, "r": r, "batch": batch, "flash_attn": flash_attn}
        return [python, str(Path(__file__).resolve()), "--llama-worker", json.dumps(job)]

    _, warmup_s = run_timed(cmd(min(p, WARMUP_PROMPT_TOKENS), min(n, WARMUP_GEN_TOKENS), 1))
    measured = cmd(p, n, r)
    stdout, run_s = run_timed(measured)
    report = last_json_line(stdout, measured)
    report["wall_s"] = {"warmup": warmup_s, "run": run_s}
    return report


def peak_rss_bytes() -> int | None:
    """Peak resident set size of this process (``VmHWM``), bytes; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Threadpool:
    """A persistent ggml CPU threadpool attached to a llama context, as ``llama-bench`` does.

    llama-cpp-python binds neither ``ggml_threadpool_new`` nor ``llama_attach_threadpool``;
    without them ggml starts and joins a throwaway pool of threads in every ``llama_decode``.
    """

    def __init__(self, llama_cpp, ctx, n_threads: int):
        import ctypes

        class Params(ctypes.Structure):  # ggml.h `struct ggml_threadpool_params`
            _fields_ = [("cpumask", ctypes.c_bool * 512), ("n_threads", ctypes.c_int), ("prio", ctypes.c_int),
                        ("poll", ctypes.c_uint32), ("strict_cpu", ctypes.c_bool), ("paused", ctypes.c_bool)]

        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        base = ctypes.CDLL(str(lib_dir / "libggml-base.so"))
        self._cpu = ctypes.CDLL(str(lib_dir / "libggml-cpu.so"))
        base.ggml_threadpool_params_default.restype = Params
        base.ggml_threadpool_params_default.argtypes = [ctypes.c_int]
        self._cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        self._cpu.ggml_threadpool_new.argtypes = [ctypes.POINTER(Params)]
        self._cpu.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        llama = llama_cpp.llama_cpp._lib
        llama.llama_attach_threadpool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._detach = llama.llama_detach_threadpool
        self._detach.argtypes = [ctypes.c_void_p]
        params = base.ggml_threadpool_params_default(n_threads)
        self._pool = self._cpu.ggml_threadpool_new(ctypes.byref(params))
        if not self._pool:
            raise RuntimeError(f"ggml_threadpool_new failed for {n_threads} threads")
        self._ctx = ctx
        llama.llama_attach_threadpool(ctx, self._pool, None)  # NULL: the batch pool is the same one

    def free(self) -> None:
        """Detach the pool from the context and free it."""
        self._detach(self._ctx)
        self._cpu.ggml_threadpool_free(self._pool)


def llama_worker(job: dict) -> dict:
    """Measures llama.cpp in this process (see the module docstring); returns a bench-like report."""
    import llama_cpp  # only the child needs the bindings

    p, n, t, r, batch = job["p"], job["n"], job["t"], job["r"], job["batch"]
    llm = llama_cpp.Llama(
        job["model"], n_ctx=p + n + 16, n_batch=batch, n_ubatch=batch, n_threads=t, n_threads_batch=t,
        logits_all=False, flash_attn=job["flash_attn"], verbose=False,
    )
    ctx = llm.ctx
    threadpool = Threadpool(llama_cpp, ctx, t)
    vocab = llm.n_vocab()
    rng = random.Random(TOKEN_SEED)
    prompt = [rng.randrange(vocab) for _ in range(p)]
    decode = [rng.randrange(vocab) for _ in range(n)]

    def make_batch(tokens: list[int], pos0: int):
        """A filled ``llama_batch`` of ``tokens`` at positions ``pos0..``, logits of the last only."""
        b = llama_cpp.llama_batch_init(len(tokens), 0, 1)
        b.n_tokens = len(tokens)
        for i, tok in enumerate(tokens):
            b.token[i] = tok
            b.pos[i] = pos0 + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = i == len(tokens) - 1
        return b

    prefill_batches = [make_batch(prompt[i:i + batch], i) for i in range(0, p, batch)]
    decode_batches = [make_batch([tok], p + i) for i, tok in enumerate(decode)]

    def timed_decode(batches) -> float:
        start = time.perf_counter()
        for b in batches:
            rc = llama_cpp.llama_decode(ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
        llama_cpp.llama_synchronize(ctx)
        return time.perf_counter() - start

    prefill, dec, ttft = [], [], []
    memory = llama_cpp.llama_get_memory(ctx)
    for _ in range(r):
        llama_cpp.llama_memory_clear(memory, True)
        prefill_s = timed_decode(prefill_batches)
        decode_s = timed_decode(decode_batches)
        prefill.append(p / prefill_s)
        dec.append(n / decode_s)
        ttft.append(prefill_s * 1e3)
    for b in prefill_batches + decode_batches:
        llama_cpp.llama_batch_free(b)
    threadpool.free()
    return {
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "threads": t,
        "prompt_tokens": p,
        "gen_tokens": n,
        "reps": r,
        "prefill_batch": batch,
        "flash_attn": job["flash_attn"],
        "vocab": vocab,
        "prefill_tokens_per_s": stat(prefill),
        "decode_tokens_per_s": stat(dec),
        "time_to_first_token_ms": stat(ttft),
        "peak_rss_bytes": peak_rss_bytes(),
    }


# --- report ------------------------------------------------------------------------------------


def ratio(ours: dict, theirs: dict) -> dict:
    """``ours.mean / theirs.mean`` with first-order propagated sd."""
    q = ours["mean"] / theirs["mean"]
    rel = math.hypot(ours["sd"] / ours["mean"], theirs["sd"] / theirs["mean"])
    return {"mean": q, "sd": q * rel}


def paired_ratio(ours: list[dict], theirs: list[dict], key: str) -> dict:
    """Mean ± sample sd over the rounds of each round's ``ours.mean / theirs.mean`` for ``key``;
    one round: :func:`ratio`."""
    if len(ours) == 1:
        return ratio(ours[0][key], theirs[0][key])
    return stat([o[key]["mean"] / t[key]["mean"] for o, t in zip(ours, theirs)])


def ratios(rounds: dict) -> list[dict]:
    """Ours (each of our engine variants) vs llama.cpp — the same TQ format, and I2_S vs each
    llama.cpp format — and vs bitnet.cpp on I2_S; ``rounds[engine][fmt]`` lists each round's report."""
    pairs = ([("llama.cpp", f, f) for f in LLAMA_FORMATS] + [("llama.cpp", "i2_s", f) for f in LLAMA_FORMATS]
             + [(BITNET_CPP, f, f) for f in BITNET_CPP_FORMATS])
    rows = []
    for engine in (e for e in rounds if e.startswith("ours")):
        for baseline, our_fmt, their_fmt in pairs:
            ours = rounds[engine].get(our_fmt)
            theirs = rounds.get(baseline, {}).get(their_fmt)
            if not (ours and theirs):
                continue
            rows.append({
                "engine": engine, "ours": our_fmt, "baseline": baseline, "theirs": their_fmt, "rounds": len(ours),
                "prefill": paired_ratio(ours, theirs, "prefill_tokens_per_s"),
                "decode": paired_ratio(ours, theirs, "decode_tokens_per_s"),
            })
    return rows


def pm(s: dict, digits: int = 2) -> str:
    """``mean ± sd``."""
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def mb(x: float | None) -> str:
    """Bytes as MB (10^6), or a dash when unknown."""
    return "—" if x is None else f"{x / 1e6:.0f}"


def markdown(results: dict, rows: list[dict], config: dict) -> str:
    """The speed table, the ratio table and the details table."""
    load = config["load_average_start"]
    busy = (f"**Warning: the 1-minute load average was {load:.1f} on {config['cpus']} CPUs before the run: other "
            "processes competed for the cores (llama.cpp's spinning thread barriers suffer most).**\n\n"
            if load > config["cpus"] - config["threads"] + 0.5 else "")
    out = [f"{busy}pp{config['prompt_tokens']} / tg{config['gen_tokens']}, {config['threads']} threads, "
           f"{config['rounds']} round(s) of {config['reps']} reps, preset {config['preset']}, seed {config['seed']}; llama.cpp prefill batch "
           f"{config['llama_batch']}, flash attention {'on' if config['flash_attn'] else 'off'}"
           + (f"; bitnet.cpp llama-bench, batch {config['llama_batch']}, flash attention "
              f"{'on' if config['bitnet_cpp_flash_attn'] else 'off'}, I2_S file `{config['bitnet_cpp_arch']}`"
              if config.get("bitnet_cpp") else ""), ""]
    out += ["| engine | format | prefill tok/s | decode tok/s |", "|---|---|---:|---:|"]
    for engine, by_fmt in results.items():
        for fmt, rep in by_fmt.items():
            out.append(f"| {engine} | {fmt.upper()} | {pm(rep['prefill_tokens_per_s'])} "
                       f"| {pm(rep['decode_tokens_per_s'])} |")
    if rows:
        how = ("mean ± sd of the rounds' ratios" if config["rounds"] > 1
               else "ratio of the means, propagated sd")
        baselines = " / ".join(dict.fromkeys(row["baseline"] for row in rows))
        out += ["", f"| ours / {baselines} ({how}) | prefill ratio | decode ratio |", "|---|---:|---:|"]
        for row in rows:
            out.append(f"| {row['engine']} {row['ours'].upper()} / {row['baseline']} {row['theirs'].upper()} "
                       f"| {pm(row['prefill'], 3)} | {pm(row['decode'], 3)} |")
    out += ["", "| engine | format | first token ms | bytes/token MB | effective GB/s | copy GB/s "
            "| roofline % | peak RSS MB | kernels |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for engine, by_fmt in results.items():
        for fmt, rep in by_fmt.items():
            ours = engine.startswith("ours")
            cells = [f"{rep['bytes_per_token'] / 1e6:.1f}", f"{rep['effective_gb_per_s']:.2f}",
                     f"{rep['copy_gb_per_s']:.2f}", f"{rep['roofline_percent']:.1f}"] if ours else ["—"] * 4
            out.append(f"| {engine} | {fmt.upper()} | {pm(rep['time_to_first_token_ms'], 1)} | "
                       + " | ".join(cells)
                       + f" | {mb(rep['peak_rss_bytes'])} | {rep['kernels'] if ours else '—'} |")
    return "\n".join(out)


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bitnet", type=Path, default=default_bitnet(),
                    help="our CLI (default: $CARGO_TARGET_DIR/release/bitnet or target/release/bitnet)")
    ap.add_argument("-p", "--prompt-tokens", type=int, default=512, help="prompt tokens (prefill)")
    ap.add_argument("-n", "--gen-tokens", type=int, default=128, help="generated tokens (decode)")
    ap.add_argument("-t", "--threads", type=int, default=2, help="threads of both engines")
    ap.add_argument("-r", "--reps", type=int, default=3, help="repetitions per process")
    ap.add_argument("--rounds", type=int, default=1,
                    help="times the whole sequence runs; ratios are then paired per round")
    ap.add_argument("--formats", default=",".join(FORMATS),
                    help=f"comma-separated subset of {','.join(FORMATS)} (llama.cpp runs the TQ ones)")
    ap.add_argument("--skip-llama", action="store_true", help="do not run llama.cpp (llama-cpp-python)")
    ap.add_argument("--head", choices=HEADS, action="append", default=[], dest="heads",
                    help="also run ours with this output head (bitnet bench --head H); repeatable")
    ap.add_argument("--profile", choices=PROFILES,
                    help="also run ours in this deployment profile (bitnet bench --profile NAME, at -t threads)")
    ap.add_argument("--bitnet-cpp", type=Path, metavar="PATH",
                    help="also run bitnet.cpp's llama-bench on the I2_S file: a local bitnet.cpp checkout "
                         "(PATH/build/bin/llama-bench), its build directory (PATH/bin/llama-bench) or the binary")
    ap.add_argument("--bitnet-cpp-flash-attn", choices=("on", "off"), default="off",
                    help="bitnet.cpp flash attention (default off, its llama-bench's default)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic weights")
    ap.add_argument("--llama-batch", type=int, default=512,
                    help="llama.cpp n_batch = n_ubatch = prefill tokens per llama_decode (ours: 64)")
    ap.add_argument("--flash-attn", choices=("on", "off"), default="on",
                    help="llama.cpp flash attention (default on, what its tools' `auto` picks on CPU)")
    ap.add_argument("--python", default=str(CACHE_DIR / "venv" / "bin" / "python"),
                    help="Python with llama-cpp-python for the llama.cpp child")
    ap.add_argument("--models-dir", type=Path, default=CACHE_DIR / "models", help="synthetic model cache")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write everything measured to OUT")
    ap.add_argument("--preset", default="2b4t", help=argparse.SUPPRESS)  # `tiny` to test this script
    args = ap.parse_args(argv)
    args.formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in args.formats if f not in FORMATS]
    if bad:
        ap.error(f"unknown format(s) {bad}; choose from {FORMATS}")
    if min(args.prompt_tokens, args.gen_tokens, args.threads, args.reps, args.rounds, args.llama_batch) < 1:
        ap.error("-p, -n, -t, -r, --rounds and --llama-batch must be ≥ 1")
    if not args.bitnet.is_file():
        ap.error(f"{args.bitnet} not found: run `cargo build --release -p bitnet-cli` or pass --bitnet")
    if not args.skip_llama and not Path(args.python).is_file():
        ap.error(f"{args.python} not found: create the venv (scripts/test.sh) or pass --python / --skip-llama")
    args.llama_bench = None
    if args.bitnet_cpp is not None:
        args.llama_bench = llama_bench_binary(args.bitnet_cpp.expanduser())
        if args.llama_bench is None:
            ap.error(f"no executable llama-bench at {args.bitnet_cpp}, {args.bitnet_cpp}/build/bin or "
                     f"{args.bitnet_cpp}/bin: build bitnet.cpp (outside this repository) or fix --bitnet-cpp")
        if "i2_s" not in args.formats:
            ap.error("--bitnet-cpp runs bitnet.cpp on the I2_S file: include i2_s in --formats")
    return args


def measure(args: argparse.Namespace, bitnet: Path) -> dict:
    """Synthesises (or reuses) the models and benchmarks both engines; everything measured."""
    p, n, t, r, k = args.prompt_tokens, args.gen_tokens, args.threads, args.reps, args.rounds
    config = {"preset": args.preset, "seed": args.seed, "prompt_tokens": p, "gen_tokens": n, "threads": t,
              "reps": r, "rounds": k, "llama_batch": args.llama_batch, "flash_attn": args.flash_attn == "on",
              "warmup": {"prompt_tokens": WARMUP_PROMPT_TOKENS, "gen_tokens": WARMUP_GEN_TOKENS, "reps": 1},
              "bitnet": str(args.bitnet), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()[0],
              "profile": args.profile, "bitnet_cpp": str(args.llama_bench) if args.llama_bench else None,
              "bitnet_cpp_flash_attn": args.bitnet_cpp_flash_attn == "on",
              "bitnet_cpp_arch": BITNET_CPP_ARCH if args.llama_bench else None}
    models, synth_s = {}, {}
    for fmt in args.formats:
        # With bitnet.cpp, the I2_S file has the official 2B4T architecture (see the docstring).
        arch = BITNET_CPP_ARCH if args.llama_bench and fmt in BITNET_CPP_FORMATS else "bitnet"
        path, seconds = synth_model(bitnet, args.models_dir, args.preset, fmt, args.seed, arch)
        models[fmt], synth_s[fmt] = path, seconds
        log(f"model {fmt}: {path} " + ("(cached)" if seconds is None else f"(synth {seconds:.1f} s)"))

    # Each format's engines run back to back, so a change in machine load between formats skews
    # the ratios less; each round repeats the whole sequence.
    rounds: dict[str, dict] = {"ours": {}, **{head_engine(h): {} for h in args.heads}}
    if args.profile:
        rounds[profile_engine(args.profile)] = {}
    rounds.update({"llama.cpp": {}, BITNET_CPP: {}})
    for round_ in range(k):
        for fmt in args.formats:
            runs = [("ours", lambda: bench_ours(bitnet, models[fmt], p, n, t, r))]
            for h in args.heads:
                runs.append((head_engine(h), lambda h=h: bench_ours(bitnet, models[fmt], p, n, t, r, h)))
            if args.profile:
                runs.append((profile_engine(args.profile),
                             lambda: bench_ours(bitnet, models[fmt], p, n, t, r, profile=args.profile)))
            if args.llama_bench and fmt in BITNET_CPP_FORMATS:
                runs.append((BITNET_CPP, lambda: bench_bitnet_cpp(args.llama_bench, models[fmt], p, n, t, r,
                                                                  args.llama_batch, config["bitnet_cpp_flash_attn"])))
            if not args.skip_llama and fmt in LLAMA_FORMATS:
                runs.append(("llama.cpp", lambda: bench_llama(args.python, models[fmt], p, n, t, r,
                                                              args.llama_batch, config["flash_attn"])))
            for engine, bench in runs:
                rep = bench()
                rounds[engine].setdefault(fmt, []).append(rep)
                log(f"round {round_ + 1}/{k} {engine} {fmt}: warmup {rep['wall_s']['warmup']:.1f} s, "
                    f"run {rep['wall_s']['run']:.1f} s, decode {rep['decode_tokens_per_s']['mean']:.2f} tok/s")
    config["load_average_end"] = os.getloadavg()[0]
    rounds = {engine: by_fmt for engine, by_fmt in rounds.items() if by_fmt}
    results = {engine: {fmt: combine(reports, r) for fmt, reports in by_fmt.items()}
               for engine, by_fmt in rounds.items()}
    return {"config": config, "models": {f: str(m) for f, m in models.items()}, "synth_s": synth_s,
            "results": results, "ratios": ratios(rounds), "rounds": rounds}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--llama-worker"]:  # the llama.cpp child (see bench_llama)
        print(json.dumps(llama_worker(json.loads(argv[1]))))
        return
    args = parse_args(argv)
    # Every run uses one snapshot of the CLI, even if it is rebuilt meanwhile.
    with tempfile.TemporaryDirectory(prefix="compare-llama-cpp-") as tmp:
        bitnet = Path(tmp) / "bitnet"
        shutil.copy2(args.bitnet, bitnet)
        doc = measure(args, bitnet)
    print(markdown(doc["results"], doc["ratios"], doc["config"]))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""scripts/compare-llama-cpp.py end to end on the tiny preset: our engine (default and in a
deployment profile) beside a stand-in for bitnet.cpp's ``llama-bench``.

The stand-in prints the JSON list ``llama-bench -o json`` prints, with fixed per-repetition
samples, and records its arguments; the test checks the command the script built, the parsing
of that JSON and the ours / bitnet.cpp ratios. Our engine is real (``$BITNET_BIN``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "compare-llama-cpp.py"
# The stand-in's per-repetition samples: prompt tok/s (and ns), decode tok/s.
PP_TS = [100.0, 120.0]
PP_NS = [80_000_000, 66_666_667]
TG_TS = [10.0, 14.0]

STUB = '''\
import json, sys
argv = sys.argv[1:]
opt = {argv[i]: argv[i + 1] for i in range(0, len(argv) - 1, 2)}
with open(__file__ + ".calls", "a") as f:
    f.write(json.dumps(argv) + "\\n")
reps = int(opt["-r"])
common = {"build_commit": "stub", "model_filename": opt["-m"], "model_type": "bitnet-b1.58 2B I2_S",
          "n_batch": int(opt["-b"]), "n_ubatch": int(opt["-ub"]), "n_threads": int(opt["-t"]),
          "flash_attn": opt["-fa"] == "1", "cpu_info": "stub"}
pp = dict(common, n_prompt=int(opt["-p"]), n_gen=0, samples_ts=PP_TS[:reps], samples_ns=PP_NS[:reps])
tg = dict(common, n_prompt=0, n_gen=int(opt["-n"]), samples_ts=TG_TS[:reps], samples_ns=[1] * reps)
print(json.dumps([pp, tg], indent=2))
'''


def stub_llama_bench(root: Path) -> Path:
    """A bitnet.cpp checkout stand-in: ``root/build/bin/llama-bench`` (run by this Python)."""
    binary = root / "build" / "bin" / "llama-bench"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!{sys.executable}\nPP_TS = {PP_TS}\nPP_NS = {PP_NS}\nTG_TS = {TG_TS}\n" + STUB)
    binary.chmod(0o755)
    return binary


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_bitnet_cpp_beside_ours(bitnet_bin: Path, tmp_path: Path) -> None:
    binary = stub_llama_bench(tmp_path / "BitNet")
    out = tmp_path / "compare.json"
    proc = run_script("--bitnet", str(bitnet_bin), "--preset", "tiny", "--formats", "i2_s", "--skip-llama",
                      "--bitnet-cpp", str(tmp_path / "BitNet"), "--profile", "mobile", "--head", "q4_k",
                      "-p", "8", "-n", "4", "-t", "1", "-r", "2", "--rounds", "2",
                      "--models-dir", str(tmp_path / "models"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())

    # The I2_S file has the official 2B4T architecture, and every engine read that one file.
    model = tmp_path / "models" / "synth-tiny-bitnet-b1.58-i2_s-seed1.gguf"
    assert doc["models"] == {"i2_s": str(model)}
    assert doc["config"]["bitnet_cpp"] == str(binary)

    # Per round: an untimed warmup process, then the measured one, with the same settings.
    calls = [json.loads(line) for line in Path(str(binary) + ".calls").read_text().splitlines()]
    assert len(calls) == 4
    for warmup, measured in (calls[0:2], calls[2:4]):
        assert warmup == ["-m", str(model), "-p", "8", "-n", "2", "-t", "1", "-r", "1",
                          "-b", "512", "-ub", "512", "-fa", "0", "-o", "json"]
        assert measured == ["-m", str(model), "-p", "8", "-n", "4", "-t", "1", "-r", "2",
                            "-b", "512", "-ub", "512", "-fa", "0", "-o", "json"]

    results = doc["results"]
    assert set(results) == {"ours", "ours, Q4_K head", "ours, mobile profile", "bitnet.cpp"}
    theirs = results["bitnet.cpp"]["i2_s"]
    assert theirs["rounds"] == 2
    # Both rounds printed the same samples: the pooled mean is theirs, the pooled sd over 4 samples.
    assert theirs["prefill_tokens_per_s"]["mean"] == pytest.approx(statistics.fmean(PP_TS))
    assert theirs["prefill_tokens_per_s"]["sd"] == pytest.approx(statistics.stdev(PP_TS * 2))
    assert theirs["decode_tokens_per_s"]["mean"] == pytest.approx(statistics.fmean(TG_TS))
    assert theirs["time_to_first_token_ms"]["mean"] == pytest.approx(statistics.fmean(PP_NS) / 1e6)
    assert theirs["peak_rss_bytes"] > 0
    for engine in ("ours", "ours, Q4_K head", "ours, mobile profile"):
        assert results[engine]["i2_s"]["threads"] == 1

    # One ratio row per variant of ours, each the mean of the rounds' ratios of means.
    rows = {row["engine"]: row for row in doc["ratios"]}
    assert set(rows) == {"ours", "ours, Q4_K head", "ours, mobile profile"}
    for engine, row in rows.items():
        assert (row["ours"], row["baseline"], row["theirs"], row["rounds"]) == ("i2_s", "bitnet.cpp", "i2_s", 2)
        per_round = [r["decode_tokens_per_s"]["mean"] / statistics.fmean(TG_TS) for r in doc["rounds"][engine]["i2_s"]]
        assert row["decode"]["mean"] == pytest.approx(statistics.fmean(per_round))

    assert "| bitnet.cpp | I2_S | 110.00 ± 11.55 | 12.00 ± 2.31 |" in proc.stdout
    assert "| ours, mobile profile I2_S / bitnet.cpp I2_S |" in proc.stdout


def test_bitnet_cpp_path_must_hold_llama_bench(bitnet_bin: Path, tmp_path: Path) -> None:
    proc = run_script("--bitnet", str(bitnet_bin), "--preset", "tiny", "--formats", "i2_s", "--skip-llama",
                      "--bitnet-cpp", str(tmp_path))
    assert proc.returncode == 2
    assert "no executable llama-bench" in proc.stderr

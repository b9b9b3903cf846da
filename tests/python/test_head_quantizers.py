"""Our Q6_K and Q4_K encoders (the re-quantised output head) against llama.cpp's, byte for byte.

llama.cpp's ``quantize_row_q6_K_ref`` / ``quantize_row_q4_K_ref`` are called through ctypes in
the ``libggml-base`` that llama-cpp-python ships; ours is what ``bitnet generate --head q6_k``
(or ``q4_k``) ``--cache-dir D`` keeps in D (the head file's bytes after its 4096-byte header). Both encode the demo model's tied F16
embedding (4096 × 256): the same f32 values in, so the same bytes out — the encoder is a
sequence of f32 operations in one order, and ggml's C (no fused multiply-adds on this path)
rounds each the same way.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from gguf_raw import dequantize, read_gguf

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO_ROOT / "sample-apps" / "demo-model" / "bitnet-demo-i2_s.gguf"
HEADER_BYTES = 4096
# Weights and bytes per block of each head format.
BLOCKS = {"q6_k": (256, 210), "q4_k": (256, 144)}


def ggml_base() -> ctypes.CDLL:
    llama_cpp = pytest.importorskip("llama_cpp")
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    candidates = sorted(lib_dir.glob("libggml-base.*"))
    if not candidates:
        pytest.skip(f"no libggml-base in {lib_dir}")
    lib = ctypes.CDLL(str(candidates[0]))
    for fmt in BLOCKS:
        quantize = getattr(lib, f"quantize_row_{fmt[:2]}_K_ref")
        quantize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        quantize.restype = None
    return lib


@pytest.mark.parametrize("fmt", sorted(BLOCKS))
def test_quantized_head_equals_llama_cpp_quantizer(cli, tmp_path, fmt):
    values = np.ascontiguousarray(
        dequantize(read_gguf(DEMO_MODEL).tensors["token_embd.weight"]).astype(np.float32).reshape(-1)
    )
    weights, block_bytes = BLOCKS[fmt]
    theirs = (ctypes.c_uint8 * (values.size // weights * block_bytes))()
    getattr(ggml_base(), f"quantize_row_{fmt[:2]}_K_ref")(values.ctypes.data, theirs, values.size)

    cache = tmp_path / "cache"
    cli.run("generate", str(DEMO_MODEL), "--head", fmt, "--cache-dir", str(cache), "-p", "hi", "-n", "1")
    (head_file,) = cache.glob(f"head-{fmt}-*.bin")
    ours = head_file.read_bytes()[HEADER_BYTES:]

    assert len(ours) == len(theirs)
    a, b = np.frombuffer(ours, np.uint8), np.frombuffer(bytes(theirs), np.uint8)
    differ = np.flatnonzero(a != b)
    assert differ.size == 0, f"{differ.size} bytes differ, first at {differ[:8]} (block byte {differ[:8] % block_bytes})"

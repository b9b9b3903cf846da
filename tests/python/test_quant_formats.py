"""``bitnet inspect --dequant`` against gguf-py's dequantisation, tensor by tensor.

gguf-py writes one file holding a tensor of each format. TQ1_0/TQ2_0/Q8_0/BF16/F16 come from
``gguf.quants.quantize``; gguf-py cannot quantise Q4_K/Q6_K, so those are random blocks with
finite f16 super-block scales. The expectation is ``gguf.quants.dequantize`` in every case.

Exact equality is required: each format's value is a product of small integers and one or two
f16 scales, and every such product (Q6_K: d·sc·q, ≤ 25 significant bits) or difference (Q4_K:
d·sc·q − dmin·m, exact products) is rounded to f32 once whatever the evaluation order, so any
correct decoder gets the same f32 bits. The CLI must print f32 values in a form that round-
trips (shortest representation, as serde_json does).
"""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter
from gguf.quants import dequantize, quantize

from gguf_raw import read_gguf
from gguf_raw import dequantize as raw_dequantize

NE0, NE1 = 512, 3
"""Every tensor is [ne0 = 512, ne1 = 3]: two 256-blocks per row, three rows."""
Q4_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES = 144, 210
"""Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
Q6_K: 128 bytes low nibbles, 64 bytes high bits, 16 int8 scales, f16 d (last)."""


def _random_f16(rng, n) -> np.ndarray:
    return rng.uniform(-2.0, 2.0, size=n).astype(np.float16)


def _random_k_blocks(rng, block_bytes: int, f16_offsets: tuple[int, ...]) -> np.ndarray:
    """Random bytes per block, with finite f16 values at ``f16_offsets``; shape [NE1, row bytes]."""
    n_blocks = NE0 * NE1 // 256
    blocks = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in f16_offsets:
        blocks[:, off:off + 2] = _random_f16(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(NE1, -1)


def _ternary(rng) -> np.ndarray:
    scale = np.float32(np.float16(0.0371))
    return rng.integers(-1, 2, size=(NE1, NE0)).astype(np.float32) * scale


def _tensors(seed: int) -> dict[str, tuple[np.ndarray, Q]]:
    """name -> (stored array as GGUFWriter takes it, type)."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(0.0, 1.0, size=(NE1, NE0)).astype(np.float32)
    dense[0, :4] = [0.0, -0.0, 65504.0, 1e-6]  # signed zeros, f16 max, an f16 subnormal
    return {
        "t.f32": (dense, Q.F32),
        "t.f16": (dense.astype(np.float16), Q.F16),
        "t.bf16": (quantize(dense, Q.BF16), Q.BF16),
        "t.q8_0": (quantize(dense, Q.Q8_0), Q.Q8_0),
        "t.tq2_0": (quantize(_ternary(rng), Q.TQ2_0), Q.TQ2_0),
        "t.tq1_0": (quantize(_ternary(rng), Q.TQ1_0), Q.TQ1_0),
        "t.q4_k": (_random_k_blocks(rng, Q4_K_BLOCK_BYTES, (0, 2)), Q.Q4_K),
        "t.q6_k": (_random_k_blocks(rng, Q6_K_BLOCK_BYTES, (208,)), Q.Q6_K),
    }


@pytest.fixture(scope="module")
def formats_file(model_dir):
    path = model_dir / "formats.gguf"
    if not path.exists():
        writer = GGUFWriter(str(path), "bitnet")
        for name, (data, qtype) in _tensors(seed=5).items():
            writer.add_tensor(name, data, raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


def _expected(name: str) -> tuple[np.ndarray, Q]:
    data, qtype = _tensors(seed=5)[name]
    if qtype in (Q.F32, Q.F16):
        return data.astype(np.float32), qtype
    return dequantize(data, qtype).astype(np.float32), qtype


@pytest.mark.parametrize("name", list(_tensors(seed=5)))
def test_expectation_is_what_the_file_holds(name, formats_file):
    """Reference side: the file's bytes decode (gguf_raw + gguf-py) to the expectation."""
    expected, _ = _expected(name)
    np.testing.assert_array_equal(raw_dequantize(read_gguf(formats_file).tensors[name]), expected)
    assert np.all(np.isfinite(expected))


@pytest.mark.parametrize("name", list(_tensors(seed=5)))
def test_inspect_dequant_equals_gguf_py(name, formats_file, cli):
    expected, qtype = _expected(name)
    out = cli.dequant(formats_file, name)
    assert out["name"] == name
    assert out["type"] == qtype.name
    assert list(out["dims"]) == [NE0, NE1]
    mismatches = np.flatnonzero(out["values"].reshape(-1) != expected.reshape(-1))
    assert mismatches.size == 0, (
        f"{mismatches.size} values differ; first at flat index {mismatches[0]}: "
        f"got {out['values'].reshape(-1)[mismatches[0]]!r}, expected {expected.reshape(-1)[mismatches[0]]!r}")


def test_inspect_dequant_i2_s_matches_spec_decoder(synth_model, cli):
    """I2_S (not in gguf-py): our engine vs ``gguf_raw.decode_i2_s`` written from the spec."""
    path = synth_model("bitnet-b1.58", "i2_s", 2)
    tensors = read_gguf(path).tensors
    names = [n for n, t in tensors.items() if t.type_name == "I2_S"]
    assert names, "bitnet synth --format i2_s wrote no I2_S tensor"
    name = names[0]
    out = cli.dequant(path, name)
    assert out["type"] == "I2_S"
    assert list(out["dims"]) == list(tensors[name].dims)
    np.testing.assert_array_equal(out["values"], raw_dequantize(tensors[name]))

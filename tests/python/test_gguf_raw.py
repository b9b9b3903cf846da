"""The independent GGUF reader and I2_S decoder the engine tests rely on."""

from __future__ import annotations

import struct

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize as gguf_dequantize

from bitnet_model import TINY, make_weights, write_model
from gguf_raw import decode_i2_s, dequantize, read_gguf


def test_reader_agrees_with_gguf_py(tmp_path):
    path = write_model(tmp_path / "m.gguf", make_weights(TINY, seed=3), "tq2_0")
    ours = read_gguf(path)
    theirs = GGUFReader(path)
    assert ours.arch == "bitnet"
    assert ours.vocab_size == len(theirs.fields["tokenizer.ggml.tokens"].data)
    assert [t.name for t in theirs.tensors] == list(ours.tensors)
    for t in theirs.tensors:
        mine = ours.tensors[t.name]
        assert mine.type_id == int(t.tensor_type) and mine.dims == tuple(int(d) for d in t.shape)
        expected = gguf_dequantize(t.data, t.tensor_type).reshape(tuple(reversed(mine.dims)))
        np.testing.assert_array_equal(dequantize(mine), expected)


def test_i2_s_bit_order_per_spec():
    """One 128-weight block (BITNET_GGUF.md §2): weight k lives in byte k % 32 at bits
    7-6 (k < 32), 5-4, 3-2, 1-0; codes 0/1/2/3 -> -1/0/+1/0; the f32 scale follows the codes."""
    codes = np.full(32, 0b01010101, dtype=np.uint8)  # all weights 0
    codes[0] = 0b10_01_00_11  # k=0: +1, k=32: 0, k=64: -1, k=96: code 3 -> 0
    codes[5] = 0b00_10_01_10  # k=5: -1, k=37: +1, k=69: 0, k=101: +1
    data = codes.tobytes() + struct.pack("<f", 0.5) + bytes(28)
    w = decode_i2_s(data, (128, 1))[0]
    expected = np.zeros(128, dtype=np.float32)
    expected[[0, 37, 101]] = 0.5
    expected[[64, 5]] = -0.5
    np.testing.assert_array_equal(w, expected)

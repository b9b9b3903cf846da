"""A small, independent GGUF v3 reader: metadata and raw tensor bytes for any tensor type.

gguf-py's ``GGUFReader`` refuses files holding tensor types it does not know, such as I2_S
(type id 36, the official BitNet layout), so the tests read files written by our engine with
this reader instead. It understands only what GGUF v3 defines (header, key/value pairs,
tensor infos, aligned data) and, for I2_S, the layout in /work/shared/spec/BITNET_GGUF.md §2.

Tensor shapes are reported in GGUF order (``dims[0]`` = ne0, the fastest-varying axis);
``dequantize`` returns a float32 array of numpy shape ``reversed(dims)``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
I2_S_TYPE_ID = 36
"""I2_S: n/4 bytes of 2-bit codes, then a 32-byte tail whose first 4 bytes are the f32 scale."""
I2_S_TAIL_BYTES = 32
I2_S_BLOCK = 128
"""Weights per I2_S block; a block occupies 32 bytes."""

# GGUF metadata value types -> struct format (scalars only).
_SCALAR_FORMATS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING = 8
_ARRAY = 9


class GGUFFormatError(ValueError):
    """The file is not a GGUF v3 file this reader understands."""


@dataclass(frozen=True)
class RawTensor:
    """One tensor as stored: type id, GGUF dims (ne0 first) and its bytes."""

    name: str
    type_id: int
    dims: tuple[int, ...]
    data: bytes

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.dims))

    @property
    def type_name(self) -> str:
        if self.type_id == I2_S_TYPE_ID:
            return "I2_S"
        return GGMLQuantizationType(self.type_id).name


@dataclass(frozen=True)
class GGUFFile:
    """Metadata (key -> python value; arrays become lists) and tensors by name, in file order."""

    version: int
    metadata: dict[str, object]
    tensors: dict[str, RawTensor]

    @property
    def arch(self) -> str:
        return str(self.metadata["general.architecture"])

    def arch_key(self, key: str, default: object = None) -> object:
        """Value of ``<arch>.<key>``, or ``default`` when absent."""
        return self.metadata.get(f"{self.arch}.{key}", default)

    @property
    def vocab_size(self) -> int:
        """Number of tokens in ``tokenizer.ggml.tokens``."""
        return len(self.metadata["tokenizer.ggml.tokens"])

    @property
    def bos_id(self) -> int:
        return int(self.metadata["tokenizer.ggml.bos_token_id"])

    @property
    def context_length(self) -> int:
        return int(self.arch_key("context_length"))


def tensor_nbytes(type_id: int, n_elements: int) -> int:
    """Bytes a tensor of ``n_elements`` occupies in the file."""
    if type_id == I2_S_TYPE_ID:
        return n_elements // 4 + I2_S_TAIL_BYTES
    block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
    if n_elements % block:
        raise GGUFFormatError(f"{n_elements} elements is not a whole number of {block}-blocks")
    return n_elements // block * block_bytes


class _Cursor:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise GGUFFormatError(f"truncated file at byte {self.pos}")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise GGUFFormatError(f"string of {n} bytes runs past the end of the file")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8")

    def value(self, vtype: int):
        if vtype in _SCALAR_FORMATS:
            return self.take(_SCALAR_FORMATS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.take("<I")
            count = self.take("<Q")
            return [self.value(item_type) for _ in range(count)]
        raise GGUFFormatError(f"unknown metadata value type {vtype}")


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse a whole GGUF v3 file (the test models are small: read into memory)."""
    buf = Path(path).read_bytes()
    cur = _Cursor(buf)
    if buf[:4] != GGUF_MAGIC:
        raise GGUFFormatError(f"{path}: bad magic {buf[:4]!r}")
    cur.pos = 4
    version = cur.take("<I")
    if version != 3:
        raise GGUFFormatError(f"{path}: GGUF version {version}, expected 3")
    n_tensors = cur.take("<Q")
    n_kv = cur.take("<Q")
    metadata: dict[str, object] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.take("<I")
        dims = tuple(cur.take("<Q") for _ in range(n_dims))
        type_id = cur.take("<I")
        offset = cur.take("<Q")
        infos.append((name, dims, type_id, offset))
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    data_start = -(-cur.pos // alignment) * alignment
    tensors: dict[str, RawTensor] = {}
    for name, dims, type_id, offset in infos:
        start = data_start + offset
        nbytes = tensor_nbytes(type_id, int(np.prod(dims)))
        if start + nbytes > len(buf):
            raise GGUFFormatError(f"{path}: tensor {name} runs past the end of the file")
        tensors[name] = RawTensor(name, type_id, dims, buf[start : start + nbytes])
    return GGUFFile(version, metadata, tensors)


def decode_i2_s(data: bytes, dims: tuple[int, ...]) -> np.ndarray:
    """Dequantise I2_S per BITNET_GGUF.md §2: codes 0/1/2 -> -1/0/+1 (3 -> 0), times the scale.

    Row r starts at byte ``r * ne0 / 4``; in each 32-byte block of 128 weights, weight k sits in
    byte ``k % 32`` at bit offset ``6 - 2 * (k // 32)``.
    """
    n = int(np.prod(dims))
    if n % I2_S_BLOCK:
        raise GGUFFormatError(f"I2_S tensor of {n} weights is not a whole number of 128-blocks")
    codes_bytes = np.frombuffer(data, dtype=np.uint8, count=n // 4).reshape(-1, 32)
    (scale,) = struct.unpack_from("<f", data, n // 4)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)
    codes = (codes_bytes[:, None, :] >> shifts) & 0x3  # [block, group of 32, byte]
    ternary = np.array([-1, 0, 1, 0], dtype=np.float32)[codes.reshape(-1)]
    return (ternary * np.float32(scale)).reshape(tuple(reversed(dims)))


def dequantize(t: RawTensor) -> np.ndarray:
    """float32 values of a tensor, numpy shape ``reversed(dims)`` (row-major, ne0 fastest)."""
    shape = tuple(reversed(t.dims))
    if t.type_id == I2_S_TYPE_ID:
        return decode_i2_s(t.data, t.dims)
    qtype = GGMLQuantizationType(t.type_id)
    if qtype == GGMLQuantizationType.F32:
        return np.frombuffer(t.data, dtype="<f4").reshape(shape).copy()
    if qtype == GGMLQuantizationType.F16:
        return np.frombuffer(t.data, dtype="<f2").astype(np.float32).reshape(shape)
    raw = np.frombuffer(t.data, dtype=np.uint8).reshape(shape[:-1] + (-1,))
    return gguf_dequantize(raw, qtype).astype(np.float32).reshape(shape)

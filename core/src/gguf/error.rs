//! Every way a GGUF file can fail to open, validate, be queried or be written.

use std::path::PathBuf;

use crate::quant::TensorType;

/// A GGUF failure. Offsets are absolute byte offsets into the file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Opening or mapping a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The path names something other than a regular file (a directory, a FIFO, a device):
    /// refused before opening it, which for a FIFO would block until a writer appears.
    #[error("{}: not a regular file", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file was changed on disk after it was opened (truncated, resized or written in
    /// place): the weights read from it can no longer be trusted. Load the model again.
    #[error("{} changed on disk while loaded: {change}", path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// What changed.
        change: FileChange,
    },
    /// The file ends inside a fixed-size field.
    #[error("file truncated: {what} at offset {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read (`"version"`, `"tensor offset"`, ...).
        what: &'static str,
        /// Where the field starts.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },
    /// The first 4 bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The 4 bytes found.
        found: [u8; 4],
    },
    /// The version reads as a supported one only when byte-swapped: a big-endian file.
    #[error("big-endian GGUF (version {swapped} byte-swapped) is not supported")]
    BigEndian {
        /// The version after swapping its bytes.
        swapped: u32,
    },
    /// A version other than 2 or 3.
    #[error("unsupported GGUF version {version} (supported: 2, 3)")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// A count (tensors, metadata pairs, array elements) that the rest of the file cannot hold,
    /// rejected before anything is allocated for it.
    #[error(
        "{what} {count} at offset {offset} exceeds what the remaining {available} bytes can hold"
    )]
    CountTooLarge {
        /// What is counted (`"tensor count"`, `"array length"`, ...).
        what: &'static str,
        /// The count found.
        count: u64,
        /// Where the count is stored.
        offset: u64,
        /// Bytes left in the file after the count.
        available: u64,
    },
    /// A string whose declared length (bytes) runs past the end of the file.
    #[error("string at offset {offset} declares {len} bytes, {available} left")]
    StringTooLong {
        /// Where the string's length prefix is stored.
        offset: u64,
        /// The declared length (bytes).
        len: u64,
        /// Bytes left in the file after the length prefix.
        available: u64,
    },
    /// A key, string value or tensor name that is not UTF-8.
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// What the string is (`"key"`, `"string value"`, `"tensor name"`).
        what: &'static str,
        /// Where the string's length prefix is stored.
        offset: u64,
    },
    /// A metadata key of zero length.
    #[error("empty metadata key at offset {offset}")]
    EmptyKey {
        /// Where the key is stored.
        offset: u64,
    },
    /// The same metadata key twice.
    #[error("duplicate metadata key {key:?}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// A value type id outside GGUF's 0..=12.
    #[error("key {key:?}: unknown value type id {id} at offset {offset}")]
    UnknownValueType {
        /// The key whose value has the type.
        key: String,
        /// The type id found.
        id: u32,
        /// Where the type id is stored.
        offset: u64,
    },
    /// An array whose elements are arrays (GGUF readers, llama.cpp included, reject these).
    #[error("key {key:?}: nested arrays are not supported")]
    NestedArray {
        /// The key holding the array.
        key: String,
    },
    /// A bool stored as a byte other than 0 or 1.
    #[error("key {key:?}: bool byte {byte} at offset {offset} is neither 0 nor 1")]
    InvalidBool {
        /// The key holding the bool.
        key: String,
        /// The byte found.
        byte: u8,
        /// Where the byte is stored.
        offset: u64,
    },
    /// `general.alignment` is zero or not a power of two.
    #[error("general.alignment {alignment} is not a nonzero power of two")]
    InvalidAlignment {
        /// The alignment found (bytes).
        alignment: u32,
    },
    /// A key that a getter asked for is absent.
    #[error("metadata key {key:?} is missing")]
    MissingKey {
        /// The key asked for.
        key: String,
    },
    /// A key holds a value of another type than the one asked for.
    #[error("metadata key {key:?} is {found}, expected {expected}")]
    WrongType {
        /// The key asked for.
        key: String,
        /// The type asked for (`"u32"`, `"array of string"`, ...).
        expected: &'static str,
        /// The type stored.
        found: &'static str,
    },
    /// An integer key whose value does not fit the integer type asked for.
    #[error("metadata key {key:?}: value {value} does not fit in {expected}")]
    OutOfRange {
        /// The key asked for.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The value stored.
        value: i128,
    },
    /// The same tensor name twice.
    #[error("duplicate tensor name {name:?}")]
    DuplicateTensor {
        /// The repeated name.
        name: String,
    },
    /// A dimension count outside 1..=4 (GGML's `GGML_MAX_DIMS`).
    #[error("tensor {name:?} has {n_dims} dimensions, expected 1 to 4")]
    BadDimCount {
        /// The tensor.
        name: String,
        /// The dimension count found.
        n_dims: u32,
    },
    /// A dimension of 0: no tensor this engine reads is empty, so an empty one means a
    /// corrupt file (ggml itself tolerates them).
    #[error("tensor {name:?} has a zero-length dimension {axis}")]
    ZeroDim {
        /// The tensor.
        name: String,
        /// The axis (0 = ne0).
        axis: usize,
    },
    /// The element count or byte size of a tensor does not fit in an `i64`/`u64`.
    #[error("tensor {name:?} with dims {dims:?} has a size that overflows")]
    ShapeOverflow {
        /// The tensor.
        name: String,
        /// Its dimensions, ne0 first.
        dims: Vec<u64>,
    },
    /// A tensor type id this engine does not know.
    #[error("tensor {name:?} has unknown or unsupported type id {id}")]
    UnknownTensorType {
        /// The tensor.
        name: String,
        /// The type id found.
        id: u32,
    },
    /// A row length (`ne0`) that is not a whole number of the type's blocks.
    #[error(
        "tensor {name:?}: row of {ne0} weights is not a multiple of {ty}'s block of {block_len}"
    )]
    PartialBlock {
        /// The tensor.
        name: String,
        /// Its type.
        ty: TensorType,
        /// Its row length (weights).
        ne0: u64,
        /// The type's block length (weights).
        block_len: u64,
    },
    /// A tensor whose data offset is not a multiple of the file's alignment.
    #[error(
        "tensor {name:?}: data offset {offset} is not a multiple of the alignment {alignment}"
    )]
    MisalignedTensor {
        /// The tensor.
        name: String,
        /// Its offset relative to the data section (bytes).
        offset: u64,
        /// The file's alignment (bytes).
        alignment: u64,
    },
    /// A tensor whose bytes run past the end of the file.
    #[error(
        "tensor {name:?}: {n_bytes} bytes at data-section offset {offset} (section at {data_offset}) \
         run past the end of the file ({file_len} bytes)"
    )]
    TensorOutOfBounds {
        /// The tensor.
        name: String,
        /// Its offset relative to the data section (bytes).
        offset: u64,
        /// Absolute offset of the data section (bytes).
        data_offset: u64,
        /// Its size (bytes).
        n_bytes: u64,
        /// The file length (bytes).
        file_len: u64,
    },
    /// Two tensors whose byte ranges overlap.
    #[error("tensors {first:?} and {second:?} overlap at offset {offset}")]
    OverlappingTensors {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside the first one.
        second: String,
        /// The absolute start offset of `second`.
        offset: u64,
    },
}

/// How a mapped file differs from when it was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileChange {
    /// A read found pages missing: the file was cut shorter than its map. The missing pages
    /// read as zeros instead of ending the process.
    #[error("truncated while being read")]
    Truncated,
    /// Its length is not what it was.
    #[error("its length changed from {opened} to {now} bytes")]
    Resized {
        /// Length when opened, in bytes.
        opened: u64,
        /// Length now, in bytes.
        now: u64,
    },
    /// Its modification time moved: it was written in place.
    #[error("it was written in place")]
    Modified,
    /// Its status can no longer be read.
    #[error("its status can no longer be read")]
    Unreadable,
}

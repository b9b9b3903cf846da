//! GGUF files: a validating reader over a memory map. (Files are written by the
//! `bitnet-authoring` crate, which builds on the layout and checks stated here.)
//!
//! Layout of a GGUF v2/v3 file (all integers little-endian):
//!
//! ```text
//! "GGUF"  u32 version  u64 n_tensors  u64 n_kv
//! n_kv ×      key: string, u32 value type, value
//! n_tensors × name: string, u32 n_dims, n_dims × u64 ne (ne0 first), u32 type, u64 offset
//! zero padding to `general.alignment` (default 32)     ← data section starts here
//! tensor data, each at `offset` bytes into the data section (a multiple of the alignment)
//! ```
//!
//! A string is a u64 byte length then UTF-8 bytes; an array is a u32 element type, a u64
//! length, then the elements. [`GgufFile`] checks every field against the file length before
//! it allocates or exposes anything, so a corrupt file is a [`GgufError`], never a panic, and
//! tensor data are borrowed slices of the map, never copies.

mod error;
mod mapping;
mod reader;
mod sigbus;
mod value;

pub use error::{FileChange, GgufError};
pub(crate) use mapping::Mapping;
pub use reader::{checked_tensor_bytes, GgufFile, TensorInfo};
pub use value::{ArrayValue, FromValue, StringArray, StringArrayIter, Value, ValueType};

/// The 4 bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// The GGUF version a writer should write; the reader accepts 2 and 3 (identical layouts).
pub const VERSION: u32 = 3;

/// The metadata key holding the data alignment (a `u32`, bytes).
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// Data alignment (bytes) when [`ALIGNMENT_KEY`] is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Most dimensions a tensor may have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// The data alignment (bytes) that the value of [`ALIGNMENT_KEY`] (if any) sets: it must be a
/// `u32`, nonzero and a power of two.
pub fn alignment_from(value: Option<&Value>) -> Result<u64, GgufError> {
    match value {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(&Value::U32(a)) if a.is_power_of_two() => Ok(a.into()),
        Some(&Value::U32(alignment)) => Err(GgufError::InvalidAlignment { alignment }),
        Some(v) => Err(GgufError::WrongType {
            key: ALIGNMENT_KEY.to_owned(),
            expected: "u32",
            found: v.type_name(),
        }),
    }
}

/// `offset` rounded up to a multiple of `alignment` (a power of two), or `None` on overflow.
pub fn align_up(offset: u64, alignment: u64) -> Option<u64> {
    Some(offset.checked_add(alignment - 1)? & !(alignment - 1))
}

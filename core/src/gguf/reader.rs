//! The validating reader: parses and checks the whole header, then hands out borrowed views.

use std::collections::HashMap;
use std::path::Path;

use super::mapping::Mapping;
use super::value::{ArrayValue, FromValue, StringArray, Value, ValueType};
use super::{align_up, alignment_from, GgufError, ALIGNMENT_KEY, MAGIC, MAX_DIMS};
use crate::quant::TensorType;

/// Smallest tensor record (bytes): empty name (8), n_dims (4), type (4), offset (8).
const MIN_TENSOR_RECORD_BYTES: u64 = 24;
/// Smallest metadata pair (bytes): 1-byte key (8 + 1), type (4), a 1-byte value.
const MIN_KV_BYTES: u64 = 14;

/// One tensor's record, validated: its bytes lie inside the file, aligned, overlapping no other
/// tensor, and exactly as many as its type and shape need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name (`"blk.0.attn_q.weight"`, ...).
    pub name: String,
    /// Dimensions, `ne0` (the row length, contiguous) first; 1 to 4 of them, none zero.
    pub dims: Vec<u64>,
    /// Storage format.
    pub ty: TensorType,
    /// Absolute file offset of the first byte (bytes).
    pub offset: u64,
    /// Size of the data (bytes), from [`TensorType::tensor_bytes`].
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of weights: the product of the dimensions (checked at open not to overflow).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// The bytes a [`GgufFile`] reads: a read-only map of the file, or a buffer it owns.
enum Storage {
    Mapped(Mapping),
    Owned(Vec<u8>),
}

/// A validated GGUF file: its metadata, decoded, and its tensors as views into the bytes.
pub struct GgufFile {
    storage: Storage,
    header: Header,
}

/// Everything parsed from the header.
struct Header {
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl GgufFile {
    /// Maps the file at `path` read-only and validates it. Tensor data stay on disk until read.
    ///
    /// The file must stay as it is while open: replace a model by renaming a new file over
    /// it, never by writing into it. A change is detected rather than fatal: see
    /// [`check_unchanged`](Self::check_unchanged).
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        // `metadata` follows symlinks and does not open: a FIFO is seen without blocking.
        let meta = std::fs::metadata(path).map_err(|error| GgufError::Io {
            path: path.to_owned(),
            error,
        })?;
        if !meta.is_file() {
            return Err(GgufError::NotAFile {
                path: path.to_owned(),
            });
        }
        let file = Self::new(Storage::Mapped(Mapping::open(path)?));
        // A change while the header was parsed would make the parse meaningless.
        file.and_then(|file| file.check_unchanged().map(|()| file))
    }

    /// Validates a file held in memory, with the same checks as [`open`](Self::open).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::new(Storage::Owned(bytes))
    }

    fn new(storage: Storage) -> Result<GgufFile, GgufError> {
        let header = Header::parse(storage.bytes())?;
        Ok(GgufFile { storage, header })
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// The data alignment (bytes): `general.alignment`, or 32.
    pub fn alignment(&self) -> u64 {
        self.header.alignment
    }

    /// Absolute offset of the tensor data section (bytes): the end of the header rounded up to
    /// the alignment. For a file without tensors this may be past the end of the file.
    pub fn data_offset(&self) -> u64 {
        self.header.data_offset
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Whether [`bytes`](Self::bytes) is a memory map of the file ([`open`](Self::open)) rather
    /// than a buffer in memory ([`from_bytes`](Self::from_bytes)).
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped(_))
    }

    /// `Ok` while the mapped file is as it was opened (always, for a file held in memory);
    /// [`GgufError::FileChanged`] once a read found pages missing (the file was truncated:
    /// those pages read as zeros, and everything computed from them is garbage) or its length
    /// or modification time changed. Cheap: an atomic load and one `fstat`.
    pub fn check_unchanged(&self) -> Result<(), GgufError> {
        match &self.storage {
            Storage::Mapped(mapping) => mapping.check(),
            Storage::Owned(_) => Ok(()),
        }
    }

    /// The path of a mapped file; `None` for a file held in memory.
    pub fn path(&self) -> Option<&Path> {
        match &self.storage {
            Storage::Mapped(mapping) => Some(mapping.path()),
            Storage::Owned(_) => None,
        }
    }

    /// Every metadata pair, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.header.metadata
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let &i = self.header.key_index.get(key)?;
        Some(&self.header.metadata[i].1)
    }

    /// The value of `key` as `T`, or `None` when the key is absent; see [`FromValue`] for the
    /// conversions and errors.
    pub fn get_as_opt<'a, T: FromValue<'a>>(&'a self, key: &str) -> Result<Option<T>, GgufError> {
        self.get(key).map(|v| T::from_value(v, key)).transpose()
    }

    /// The value of `key` as `T`; [`GgufError::MissingKey`] when absent.
    pub fn get_as<'a, T: FromValue<'a>>(&'a self, key: &str) -> Result<T, GgufError> {
        self.get_as_opt(key)?.ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
        })
    }

    /// `key` as a `u32`, from any integer value that fits.
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        self.get_as(key)
    }

    /// `key` as a `u64`, from any non-negative integer value.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get_as(key)
    }

    /// `key` as an `i32`, from any integer value that fits.
    pub fn get_i32(&self, key: &str) -> Result<i32, GgufError> {
        self.get_as(key)
    }

    /// `key` as an `f32`, from an `f32` or (rounded) `f64` value.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        self.get_as(key)
    }

    /// `key` as a `bool`.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        self.get_as(key)
    }

    /// `key` as a string.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        self.get_as(key)
    }

    /// `key` as an array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<&StringArray, GgufError> {
        self.get_as(key)
    }

    /// `key` as an array of `i32`.
    pub fn get_i32_array(&self, key: &str) -> Result<&[i32], GgufError> {
        self.get_as(key)
    }

    /// `key` as an array of `f32`.
    pub fn get_f32_array(&self, key: &str) -> Result<&[f32], GgufError> {
        self.get_as(key)
    }

    /// [`get_u32`](Self::get_u32), or `None` when the key is absent.
    pub fn get_u32_opt(&self, key: &str) -> Result<Option<u32>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_u64`](Self::get_u64), or `None` when the key is absent.
    pub fn get_u64_opt(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_i32`](Self::get_i32), or `None` when the key is absent.
    pub fn get_i32_opt(&self, key: &str) -> Result<Option<i32>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_f32`](Self::get_f32), or `None` when the key is absent.
    pub fn get_f32_opt(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_bool`](Self::get_bool), or `None` when the key is absent.
    pub fn get_bool_opt(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_str`](Self::get_str), or `None` when the key is absent.
    pub fn get_str_opt(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_str_array`](Self::get_str_array), or `None` when the key is absent.
    pub fn get_str_array_opt(&self, key: &str) -> Result<Option<&StringArray>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_i32_array`](Self::get_i32_array), or `None` when the key is absent.
    pub fn get_i32_array_opt(&self, key: &str) -> Result<Option<&[i32]>, GgufError> {
        self.get_as_opt(key)
    }

    /// [`get_f32_array`](Self::get_f32_array), or `None` when the key is absent.
    pub fn get_f32_array_opt(&self, key: &str) -> Result<Option<&[f32]>, GgufError> {
        self.get_as_opt(key)
    }

    /// Every tensor record, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        let &i = self.header.tensor_index.get(name)?;
        Some(&self.header.tensors[i])
    }

    /// The bytes of tensor `t`: a slice of the map, not a copy. `t` must come from this file's
    /// [`tensors`](Self::tensors), whose extents were checked at open; for a record describing
    /// bytes outside the file the slice is empty.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let range = usize::try_from(t.offset)
            .ok()
            .zip(usize::try_from(t.n_bytes).ok())
            .and_then(|(start, len)| Some(start..start.checked_add(len)?));
        range.and_then(|r| self.bytes().get(r)).unwrap_or_default()
    }
}

impl std::fmt::Debug for GgufFile {
    /// A summary: printing 128k vocabulary strings or a gigabyte of bytes helps nobody.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version())
            .field("len", &self.bytes().len())
            .field("mapped", &self.is_mapped())
            .field("alignment", &self.alignment())
            .field("data_offset", &self.data_offset())
            .field("metadata_keys", &self.header.metadata.len())
            .field("tensors", &self.header.tensors.len())
            .finish()
    }
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(mapping) => mapping.bytes(),
            Storage::Owned(bytes) => bytes,
        }
    }
}

impl Header {
    /// Parses and validates the header of `bytes`, and every tensor extent.
    fn parse(bytes: &[u8]) -> Result<Header, GgufError> {
        let mut c = Cursor { bytes, pos: 0 };
        let magic: [u8; 4] = c.array("magic")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic { found: magic });
        }
        let version = c.u32("version")?;
        match version {
            2 | 3 => {}
            v if matches!(v.swap_bytes(), 1..=3) => {
                return Err(GgufError::BigEndian {
                    swapped: v.swap_bytes(),
                })
            }
            v => return Err(GgufError::UnsupportedVersion { version: v }),
        }
        let n_tensors = c.count("tensor count", MIN_TENSOR_RECORD_BYTES)?;
        let n_kv = c.count("metadata count", MIN_KV_BYTES)?;

        let mut metadata = Vec::new();
        let mut key_index = HashMap::new();
        for _ in 0..n_kv {
            let key_offset = c.offset();
            let key = c.string("key")?;
            if key.is_empty() {
                return Err(GgufError::EmptyKey { offset: key_offset });
            }
            if key_index.contains_key(&key) {
                return Err(GgufError::DuplicateKey { key });
            }
            let ty = c.value_type(&key)?;
            let value = c.value(ty, &key)?;
            key_index.insert(key.clone(), metadata.len());
            metadata.push((key, value));
        }
        let alignment = alignment_from(key_index.get(ALIGNMENT_KEY).map(|&i| &metadata[i].1))?;

        let mut tensors = Vec::new();
        let mut tensor_index = HashMap::new();
        for _ in 0..n_tensors {
            let t = c.tensor_record()?;
            if tensor_index.contains_key(&t.name) {
                return Err(GgufError::DuplicateTensor { name: t.name });
            }
            tensor_index.insert(t.name.clone(), tensors.len());
            tensors.push(t);
        }

        // `pos` is at most the file length and `alignment` at most 2^31: no overflow.
        let data_offset = align_up(c.offset(), alignment).unwrap_or(u64::MAX);
        place_tensors(&mut tensors, data_offset, alignment, c.len())?;
        Ok(Header {
            version,
            alignment,
            data_offset,
            metadata,
            key_index,
            tensors,
            tensor_index,
        })
    }
}

/// Turns each tensor's offset (relative to the data section) into an absolute one, checking
/// that it is aligned, that its bytes end inside the file, and that no two tensors overlap.
fn place_tensors(
    tensors: &mut [TensorInfo],
    data_offset: u64,
    alignment: u64,
    file_len: u64,
) -> Result<(), GgufError> {
    for t in tensors.iter_mut() {
        if t.offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor {
                name: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|start| start.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    name: t.name.clone(),
                    offset: t.offset,
                    data_offset,
                    n_bytes: t.n_bytes,
                    file_len,
                })
            }
        }
        t.offset += data_offset;
    }
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
    by_offset.sort_by_key(|t| t.offset);
    for pair in by_offset.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Both ends were checked to lie inside the file above: no overflow.
        if a.offset + a.n_bytes > b.offset {
            return Err(GgufError::OverlappingTensors {
                first: a.name.clone(),
                second: b.name.clone(),
                offset: b.offset,
            });
        }
    }
    Ok(())
}

/// A bounds-checked little-endian reader over the file's bytes.
#[derive(Clone)]
struct Cursor<'a> {
    bytes: &'a [u8],
    /// Next byte to read; never more than `bytes.len()`.
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Absolute offset of the next byte.
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// File length (bytes).
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Bytes left after the cursor.
    fn remaining(&self) -> u64 {
        self.len() - self.offset()
    }

    /// The next `n` bytes, or [`GgufError::Truncated`].
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        let available = self.remaining();
        if n > available {
            return Err(GgufError::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                available,
            });
        }
        // n <= remaining <= usize::MAX.
        let (head, _) = self.bytes[self.pos..].split_at(n as usize);
        self.pos += head.len();
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        Ok(to_array(self.take(N as u64, what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A u64 count of items taking at least `min_item_bytes` each, rejected unless the rest of
    /// the file can hold that many: callers may then allocate for it.
    fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64, GgufError> {
        let offset = self.offset();
        let count = self.u64(what)?;
        let available = self.remaining();
        if count > available / min_item_bytes {
            return Err(GgufError::CountTooLarge {
                what,
                count,
                offset,
                available,
            });
        }
        Ok(count)
    }

    /// A string: u64 byte length, then UTF-8 bytes.
    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        self.str(what).map(str::to_owned)
    }

    /// [`string`](Self::string), borrowed from the file's bytes.
    fn str(&mut self, what: &'static str) -> Result<&'a str, GgufError> {
        let offset = self.offset();
        let len = self.u64("string length")?;
        let available = self.remaining();
        if len > available {
            return Err(GgufError::StringTooLong {
                offset,
                len,
                available,
            });
        }
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(_) => Err(GgufError::InvalidUtf8 { what, offset }),
        }
    }

    /// The total length (bytes) of the `n` strings ahead, to allocate for them at once; 0
    /// when they do not parse (reading them then reports why).
    fn string_bytes(mut self, n: u64) -> usize {
        let mut total = 0usize;
        for _ in 0..n {
            let Ok(len) = self.u64("string length") else {
                return 0;
            };
            if self.take(len, "string").is_err() {
                return 0;
            }
            // The string lies inside the file, so the sum stays below its length.
            total += len as usize;
        }
        total
    }

    /// A u32 value type id.
    fn value_type(&mut self, key: &str) -> Result<ValueType, GgufError> {
        let offset = self.offset();
        let id = self.u32("value type")?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType {
            key: key.to_owned(),
            id,
            offset,
        })
    }

    /// `n` fixed-size little-endian values, decoded by `conv`.
    fn vec<T, const N: usize>(
        &mut self,
        n: u64,
        conv: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        let bytes = self.take(n.saturating_mul(N as u64), "array")?;
        Ok(bytes.chunks_exact(N).map(|b| conv(to_array(b))).collect())
    }

    /// One byte that must be 0 or 1.
    fn bool(&mut self, key: &str) -> Result<bool, GgufError> {
        let offset = self.offset();
        match self.array::<1>("value")? {
            [0] => Ok(false),
            [1] => Ok(true),
            [byte] => Err(GgufError::InvalidBool {
                key: key.to_owned(),
                byte,
                offset,
            }),
        }
    }

    /// A value of type `ty` stored under `key`.
    fn value(&mut self, ty: ValueType, key: &str) -> Result<Value, GgufError> {
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array("value")?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array("value")?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array("value")?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array("value")?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array("value")?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array("value")?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array("value")?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array("value")?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array("value")?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array("value")?)),
            ValueType::Bool => Value::Bool(self.bool(key)?),
            ValueType::String => Value::String(self.string("string value")?),
            ValueType::Array => Value::Array(self.array_value(key)?),
        })
    }

    /// An array: u32 element type, u64 length, elements.
    fn array_value(&mut self, key: &str) -> Result<ArrayValue, GgufError> {
        let ty = self.value_type(key)?;
        let n = self.count("array length", ty.min_encoded_bytes())?;
        Ok(match ty {
            ValueType::U8 => ArrayValue::U8(self.vec(n, u8::from_le_bytes)?),
            ValueType::I8 => ArrayValue::I8(self.vec(n, i8::from_le_bytes)?),
            ValueType::U16 => ArrayValue::U16(self.vec(n, u16::from_le_bytes)?),
            ValueType::I16 => ArrayValue::I16(self.vec(n, i16::from_le_bytes)?),
            ValueType::U32 => ArrayValue::U32(self.vec(n, u32::from_le_bytes)?),
            ValueType::I32 => ArrayValue::I32(self.vec(n, i32::from_le_bytes)?),
            ValueType::U64 => ArrayValue::U64(self.vec(n, u64::from_le_bytes)?),
            ValueType::I64 => ArrayValue::I64(self.vec(n, i64::from_le_bytes)?),
            ValueType::F32 => ArrayValue::F32(self.vec(n, f32::from_le_bytes)?),
            ValueType::F64 => ArrayValue::F64(self.vec(n, f64::from_le_bytes)?),
            ValueType::Bool => {
                ArrayValue::Bool((0..n).map(|_| self.bool(key)).collect::<Result<_, _>>()?)
            }
            ValueType::String => {
                // `count` checked that the file holds `n` strings of at least 8 bytes.
                let bytes = self.clone().string_bytes(n);
                let mut strings = StringArray::with_capacity(n as usize, bytes);
                for _ in 0..n {
                    strings.push(self.str("string value")?);
                }
                strings.shrink_to_fit();
                ArrayValue::String(strings)
            }
            ValueType::Array => {
                return Err(GgufError::NestedArray {
                    key: key.to_owned(),
                })
            }
        })
    }

    /// A tensor record, with its shape and type checked and its offset still relative to the
    /// data section.
    fn tensor_record(&mut self) -> Result<TensorInfo, GgufError> {
        let name = self.string("tensor name")?;
        let n_dims = self.u32("dimension count")?;
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(GgufError::BadDimCount { name, n_dims });
        }
        let dims = (0..n_dims)
            .map(|_| self.u64("dimension"))
            .collect::<Result<Vec<_>, _>>()?;
        let id = self.u32("tensor type")?;
        let Some(ty) = TensorType::from_id(id) else {
            return Err(GgufError::UnknownTensorType { name, id });
        };
        let n_bytes = checked_tensor_bytes(&name, &dims, ty)?;
        let offset = self.u64("tensor offset")?;
        Ok(TensorInfo {
            name,
            dims,
            ty,
            offset,
            n_bytes,
        })
    }
}

/// The size (bytes) of tensor `name` of type `ty` and shape `dims` (`ne0` first), after checking
/// that it has 1 to 4 dimensions, none zero, an element count that fits ggml's `i64`, and rows
/// of whole blocks. The reader refuses any other tensor record; a writer checks its tensors
/// with the same function so that it never writes a file the reader refuses.
pub fn checked_tensor_bytes(name: &str, dims: &[u64], ty: TensorType) -> Result<u64, GgufError> {
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return Err(GgufError::BadDimCount {
            name: name.to_owned(),
            n_dims: u32::try_from(dims.len()).unwrap_or(u32::MAX),
        });
    }
    if let Some(axis) = dims.iter().position(|&d| d == 0) {
        return Err(GgufError::ZeroDim {
            name: name.to_owned(),
            axis,
        });
    }
    let overflow = || GgufError::ShapeOverflow {
        name: name.to_owned(),
        dims: dims.to_vec(),
    };
    let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if n_elements.is_none_or(|n| n > i64::MAX as u64) {
        return Err(overflow());
    }
    let ne0 = dims[0];
    if !ne0.is_multiple_of(ty.block_len()) {
        return Err(GgufError::PartialBlock {
            name: name.to_owned(),
            ty,
            ne0,
            block_len: ty.block_len(),
        });
    }
    ty.tensor_bytes(dims).ok_or_else(overflow)
}

/// The first `N` bytes of `b` (callers pass exactly `N`).
fn to_array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(b);
    a
}

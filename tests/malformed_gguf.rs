//! Corrupt GGUF files must be rejected with the specific typed error, through both
//! `GgufFile::from_bytes` and `GgufFile::open`, and no corruption may panic.
//!
//! Each case starts from one valid file written by `GgufWriter` and changes a few bytes.

use bitnet_authoring::GgufWriter;
use bitnet_core::gguf::{GgufError, GgufFile, Value};
use bitnet_core::quant::TensorType;
use bitnet_tests::gguf_fixtures::corruption_base as base;

/// Offset of the first occurrence of `needle`.
fn find(bytes: &[u8], needle: &str) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in file"))
}

/// Offset of the value type id of metadata `key` (the value follows it).
fn type_of(bytes: &[u8], key: &str) -> usize {
    find(bytes, key) + key.len()
}

/// Offset of the `n_dims` field of tensor `name` (dims, type and offset follow it).
fn dims_of(bytes: &[u8], name: &str) -> usize {
    find(bytes, name) + name.len()
}

/// Offset of the type id of tensor `name`, which has `n_dims` dimensions.
fn ty_of(bytes: &[u8], name: &str, n_dims: usize) -> usize {
    dims_of(bytes, name) + 4 + 8 * n_dims
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// `base()` changed by `edit`.
fn corrupt(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = base();
    edit(&mut b);
    b
}

/// `base()` cut to `len` bytes.
fn truncated(len: usize) -> Vec<u8> {
    corrupt(|b| b.truncate(len))
}

/// The error both `from_bytes` and `open` (on a temporary file) give for `bytes`; they must
/// agree.
fn err(bytes: Vec<u8>) -> GgufError {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let from_file = GgufFile::open(tmp.path()).expect_err("open accepted a corrupt file");
    let from_bytes = GgufFile::from_bytes(bytes).expect_err("from_bytes accepted a corrupt file");
    assert_eq!(from_file.to_string(), from_bytes.to_string());
    from_bytes
}

/// Asserts that `bytes` fail with an error matching the pattern, and prints it on mismatch.
macro_rules! rejects {
    ($bytes:expr, $pattern:pat $(if $guard:expr)?) => {{
        let e = err($bytes);
        assert!(matches!(e, $pattern $(if $guard)?), "unexpected error: {e:?}");
    }};
}

#[test]
fn the_base_file_is_valid() {
    let f = GgufFile::from_bytes(base()).unwrap();
    assert_eq!(f.tensors().len(), 3);
    assert_eq!(f.get_u32("test.u32").unwrap(), 7);
}

/// A file with no tensors and the single pair `key` = `value`.
fn one_kv(key: &str, value: impl Into<Value>) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add(key, value);
    w.to_bytes().unwrap()
}

/// A key long enough that the count checks pass when the file is cut inside its pair.
const LONG_KEY: &str = "test.a_key_long_enough_to_cut_inside_of_it";

#[test]
fn truncation_inside_the_fixed_header() {
    rejects!(
        truncated(0),
        GgufError::Truncated {
            what: "magic",
            offset: 0,
            ..
        }
    );
    rejects!(
        truncated(2),
        GgufError::Truncated {
            what: "magic",
            available: 2,
            ..
        }
    );
    rejects!(
        truncated(6),
        GgufError::Truncated {
            what: "version",
            offset: 4,
            ..
        }
    );
    rejects!(
        truncated(12),
        GgufError::Truncated {
            what: "tensor count",
            offset: 8,
            ..
        }
    );
    // Counts are checked against the bytes left as soon as they are read: 3 tensor records
    // cannot fit in 4 bytes.
    rejects!(
        truncated(20),
        GgufError::CountTooLarge {
            what: "tensor count",
            count: 3,
            available: 4,
            ..
        }
    );
    rejects!(
        corrupt(|b| {
            put_u64(b, 8, 0);
            b.truncate(20);
        }),
        GgufError::Truncated {
            what: "metadata count",
            offset: 16,
            ..
        }
    );
    rejects!(
        truncated(100),
        GgufError::CountTooLarge {
            what: "metadata count",
            count: 9,
            available: 76,
            ..
        }
    );
}

#[test]
fn truncation_inside_a_key_value_or_array() {
    let cut = |bytes: Vec<u8>, len: usize| bytes[..len].to_vec();
    let u32_kv = one_kv(LONG_KEY, 7u32);
    let key_len = LONG_KEY.len() as u64;
    rejects!(
        cut(u32_kv.clone(), 24 + 8 + 20),
        GgufError::StringTooLong { offset: 24, len, available: 20 } if len == key_len
    );
    let ty = 24 + 8 + LONG_KEY.len();
    rejects!(
        cut(u32_kv.clone(), ty + 2),
        GgufError::Truncated {
            what: "value type",
            ..
        }
    );
    rejects!(
        cut(u32_kv.clone(), ty + 4 + 3),
        GgufError::Truncated { what: "value", .. }
    );
    let str_kv = one_kv(LONG_KEY, "a string value");
    rejects!(
        cut(str_kv.clone(), ty + 4 + 3),
        GgufError::Truncated {
            what: "string length",
            ..
        }
    );
    rejects!(
        cut(str_kv, ty + 4 + 8 + 4),
        GgufError::StringTooLong {
            len: 14,
            available: 4,
            ..
        }
    );
    // Inside an i32 array: its length no longer fits in what is left.
    let arr_kv = one_kv(LONG_KEY, vec![1i32, 2, 3]);
    rejects!(
        cut(arr_kv.clone(), ty + 4 + 2),
        GgufError::Truncated {
            what: "value type",
            ..
        }
    );
    rejects!(
        cut(arr_kv.clone(), ty + 4 + 4 + 5),
        GgufError::Truncated {
            what: "array length",
            ..
        }
    );
    rejects!(
        cut(arr_kv, ty + 4 + 4 + 8 + 5),
        GgufError::CountTooLarge {
            what: "array length",
            count: 3,
            available: 5,
            ..
        }
    );
    // Inside the second string of a string array.
    let strs_kv = one_kv(LONG_KEY, vec!["first".to_owned(), "second".to_owned()]);
    let second = find(&strs_kv, "second");
    rejects!(
        cut(strs_kv, second + 2),
        GgufError::StringTooLong {
            len: 6,
            available: 2,
            ..
        }
    );
}

#[test]
fn truncation_inside_tensor_records_and_data() {
    let b = base();
    let name = find(&b, "t.bbb");
    rejects!(
        truncated(name - 5),
        GgufError::Truncated {
            what: "string length",
            ..
        }
    );
    rejects!(
        truncated(name + 2),
        GgufError::StringTooLong {
            len: 5,
            available: 2,
            ..
        }
    );
    let d = dims_of(&b, "t.bbb");
    rejects!(
        truncated(d + 2),
        GgufError::Truncated {
            what: "dimension count",
            ..
        }
    );
    rejects!(
        truncated(d + 4 + 8 + 3),
        GgufError::Truncated {
            what: "dimension",
            ..
        }
    );
    let ty = ty_of(&b, "t.bbb", 2);
    rejects!(
        truncated(ty + 1),
        GgufError::Truncated {
            what: "tensor type",
            ..
        }
    );
    rejects!(
        truncated(ty + 4 + 7),
        GgufError::Truncated {
            what: "tensor offset",
            ..
        }
    );
    // At the end of the header, before the padding and the data.
    let header_end = ty_of(&b, "t.ccc", 1) + 4 + 8;
    rejects!(
        truncated(header_end),
        GgufError::TensorOutOfBounds { ref name, .. } if name == "t.aaa"
    );
    // Inside the last tensor's bytes.
    let f = GgufFile::from_bytes(b.clone()).unwrap();
    let last = f.tensor("t.ccc").unwrap();
    rejects!(
        truncated((last.offset + last.n_bytes - 1) as usize),
        GgufError::TensorOutOfBounds { ref name, n_bytes: 66, .. } if name == "t.ccc"
    );
}

#[test]
fn bad_magic_and_versions() {
    rejects!(
        corrupt(|b| b[0] = b'g'),
        GgufError::BadMagic {
            found: [b'g', b'G', b'U', b'F']
        }
    );
    rejects!(
        corrupt(|b| b[..4].copy_from_slice(b"GGML")),
        GgufError::BadMagic { .. }
    );
    for version in [0, 1, 4, 0xFFFF_FFFF] {
        rejects!(
            corrupt(|b| put_u32(b, 4, version)),
            GgufError::UnsupportedVersion { version: v } if v == version
        );
    }
    for version in [2u32, 3] {
        rejects!(
            corrupt(|b| put_u32(b, 4, version.swap_bytes())),
            GgufError::BigEndian { swapped } if swapped == version
        );
    }
}

#[test]
fn huge_counts_and_lengths_fail_before_allocating() {
    for count in [u64::MAX, 1 << 40, 1_000_000] {
        rejects!(
            corrupt(|b| put_u64(b, 8, count)),
            GgufError::CountTooLarge {
                what: "tensor count",
                offset: 8,
                ..
            }
        );
        rejects!(
            corrupt(|b| put_u64(b, 16, count)),
            GgufError::CountTooLarge {
                what: "metadata count",
                offset: 16,
                ..
            }
        );
    }
    // Key length, string value length, array length.
    rejects!(
        corrupt(|b| put_u64(b, 24, u64::MAX)),
        GgufError::StringTooLong {
            offset: 24,
            len: u64::MAX,
            ..
        }
    );
    let b = base();
    let value = type_of(&b, "general.architecture") + 4;
    rejects!(
        corrupt(|b| put_u64(b, value, 1 << 50)),
        GgufError::StringTooLong {
            len: 0x4_0000_0000_0000,
            ..
        }
    );
    let len = type_of(&b, "test.i32s") + 8;
    // 2^62 i32s: the byte count would overflow a u64 if multiplied naively.
    rejects!(
        corrupt(|b| put_u64(b, len, 1 << 62)),
        GgufError::CountTooLarge {
            what: "array length",
            ..
        }
    );
    let len = type_of(&b, "test.strs") + 8;
    rejects!(
        corrupt(|b| put_u64(b, len, u64::MAX)),
        GgufError::CountTooLarge {
            what: "array length",
            count: u64::MAX,
            ..
        }
    );
    let name = find(&b, "t.aaa") - 8;
    rejects!(
        corrupt(|b| put_u64(b, name, u64::MAX - 1)),
        GgufError::StringTooLong { .. }
    );
}

#[test]
fn bad_value_types_bools_and_strings() {
    let b = base();
    let t = type_of(&b, "test.u32");
    for id in [13, 0xFFFF, u32::MAX] {
        rejects!(
            corrupt(|b| put_u32(b, t, id)),
            GgufError::UnknownValueType { ref key, id: found, .. } if key == "test.u32" && found == id
        );
    }
    let elem = type_of(&b, "test.i32s") + 4;
    rejects!(
        corrupt(|b| put_u32(b, elem, 77)),
        GgufError::UnknownValueType { id: 77, .. }
    );
    rejects!(
        corrupt(|b| put_u32(b, elem, 9)),
        GgufError::NestedArray { ref key } if key == "test.i32s"
    );
    let flag = type_of(&b, "test.flag") + 4;
    rejects!(
        corrupt(|b| b[flag] = 2),
        GgufError::InvalidBool { byte: 2, .. }
    );
    // Invalid UTF-8 (a lone continuation byte) in a key, a string value and a tensor name.
    let key = find(&b, "test.u32");
    rejects!(
        corrupt(|b| b[key] = 0x80),
        GgufError::InvalidUtf8 { what: "key", .. }
    );
    let value = find(&b, "bitnet");
    rejects!(
        corrupt(|b| b[value + 1] = 0xFF),
        GgufError::InvalidUtf8 {
            what: "string value",
            ..
        }
    );
    let s = find(&b, "cd");
    rejects!(
        corrupt(|b| b[s] = 0xC3),
        GgufError::InvalidUtf8 {
            what: "string value",
            ..
        }
    );
    let name = find(&b, "t.ccc");
    rejects!(
        corrupt(|b| b[name] = 0xFE),
        GgufError::InvalidUtf8 {
            what: "tensor name",
            ..
        }
    );
    rejects!(
        corrupt(|b| put_u64(b, 24, 0)),
        GgufError::EmptyKey { offset: 24 }
    );
}

#[test]
fn duplicate_keys_and_tensor_names() {
    let b = base();
    let k = find(&b, "test.dupb");
    rejects!(
        corrupt(|b| b[k + 8] = b'a'),
        GgufError::DuplicateKey { ref key } if key == "test.dupa"
    );
    let n = find(&b, "t.ccc");
    rejects!(
        corrupt(|b| b[n..n + 5].copy_from_slice(b"t.aaa")),
        GgufError::DuplicateTensor { ref name } if name == "t.aaa"
    );
}

#[test]
fn bad_alignment() {
    let b = base();
    let value = type_of(&b, "general.alignment") + 4;
    for alignment in [0u32, 3, 48, u32::MAX] {
        rejects!(
            corrupt(|b| put_u32(b, value, alignment)),
            GgufError::InvalidAlignment { alignment: a } if a == alignment
        );
    }
    // Stored as an i32 instead of a u32.
    let ty = type_of(&b, "general.alignment");
    rejects!(
        corrupt(|b| put_u32(b, ty, 5)),
        GgufError::WrongType { ref key, expected: "u32", found: "i32" } if key == "general.alignment"
    );
    // A larger alignment that the writer's padding does not honour.
    rejects!(
        corrupt(|b| put_u32(b, value, 64)),
        GgufError::MisalignedTensor { alignment: 64, .. } | GgufError::TensorOutOfBounds { .. }
    );
}

#[test]
fn bad_shapes_and_types() {
    let b = base();
    let d = dims_of(&b, "t.aaa");
    for n_dims in [0, 5, u32::MAX] {
        rejects!(
            corrupt(|b| put_u32(b, d, n_dims)),
            GgufError::BadDimCount { n_dims: n, .. } if n == n_dims
        );
    }
    rejects!(
        corrupt(|b| put_u64(b, d + 4 + 8, 0)),
        GgufError::ZeroDim { axis: 1, .. }
    );
    // 2^32 · 2^32 overflows u64; 2^62 · 2 exceeds ggml's i64 element count.
    rejects!(
        corrupt(|b| {
            put_u64(b, d + 4, 1 << 32);
            put_u64(b, d + 4 + 8, 1 << 32);
        }),
        GgufError::ShapeOverflow { ref name, .. } if name == "t.aaa"
    );
    rejects!(
        corrupt(|b| put_u64(b, d + 4, 1 << 62)),
        GgufError::ShapeOverflow { .. }
    );
    // Elements fit an i64 but the bytes (4 per F32 weight) do not fit a u64.
    rejects!(
        corrupt(|b| put_u64(b, d + 4, (1 << 62) + 8)),
        GgufError::ShapeOverflow { .. }
    );
    let ty = ty_of(&b, "t.aaa", 2);
    for id in [2, 37, 1000, u32::MAX] {
        rejects!(
            corrupt(|b| put_u32(b, ty, id)),
            GgufError::UnknownTensorType { ref name, id: found } if name == "t.aaa" && found == id
        );
    }
    // Rows of 8 weights are not whole Q8_0 (32) or I2_S (128) blocks.
    rejects!(
        corrupt(|b| put_u32(b, ty, TensorType::Q8_0.id())),
        GgufError::PartialBlock {
            ne0: 8,
            block_len: 32,
            ..
        }
    );
    // The last tensor as F32 needs 1024 bytes, not TQ2_0's 66: more than the file holds.
    let ty = ty_of(&b, "t.ccc", 1);
    rejects!(
        corrupt(|b| put_u32(b, ty, TensorType::F32.id())),
        GgufError::TensorOutOfBounds { ref name, n_bytes: 1024, .. } if name == "t.ccc"
    );
}

#[test]
fn bad_tensor_offsets_and_extents() {
    let b = base();
    let off = |b: &[u8], name: &str, n_dims| ty_of(b, name, n_dims) + 4;
    let a = off(&b, "t.aaa", 2);
    let c = off(&b, "t.ccc", 1);
    rejects!(
        corrupt(|b| put_u64(b, a, 1 << 40)),
        GgufError::TensorOutOfBounds {
            offset: 0x100_0000_0000,
            ..
        }
    );
    // Offset + size overflows u64.
    rejects!(
        corrupt(|b| put_u64(b, a, u64::MAX - 31)),
        GgufError::TensorOutOfBounds { .. }
    );
    let c_off = get_u64(&b, c);
    for delta in [1, 4, 16] {
        rejects!(
            corrupt(|b| put_u64(b, c, c_off + delta)),
            GgufError::MisalignedTensor { ref name, alignment: 32, .. } if name == "t.ccc"
        );
    }
    // t.ccc placed on t.bbb; t.aaa grown into t.bbb.
    let b_off = get_u64(&b, off(&b, "t.bbb", 2));
    rejects!(
        corrupt(|b| put_u64(b, c, b_off)),
        GgufError::OverlappingTensors { ref first, ref second, .. }
            if (first.as_str(), second.as_str()) == ("t.bbb", "t.ccc")
                || (first.as_str(), second.as_str()) == ("t.ccc", "t.bbb")
    );
    let d = dims_of(&b, "t.aaa");
    rejects!(
        corrupt(|b| put_u64(b, d + 4 + 8, 3)),
        GgufError::OverlappingTensors { ref first, ref second, .. }
            if first == "t.aaa" && second == "t.bbb"
    );
    // I2_S is n/4 + 32 bytes: 128 · 3 weights no longer fit before t.ccc.
    let d = dims_of(&b, "t.bbb");
    rejects!(
        corrupt(|b| put_u64(b, d + 4 + 8, 3)),
        GgufError::OverlappingTensors { ref first, .. } if first == "t.bbb"
    );
    // A tensor placed past the end of the file.
    let end = b.len() as u64;
    rejects!(
        corrupt(|b| put_u64(b, c, end)),
        GgufError::TensorOutOfBounds { ref name, .. } if name == "t.ccc"
    );
}

#[test]
fn every_truncation_is_an_error_until_the_last_tensor_ends() {
    let b = base();
    let f = GgufFile::from_bytes(b.clone()).unwrap();
    let data_end = f
        .tensors()
        .iter()
        .map(|t| t.offset + t.n_bytes)
        .max()
        .unwrap() as usize;
    for len in 0..=b.len() {
        let result = GgufFile::from_bytes(b[..len].to_vec());
        assert_eq!(
            result.is_ok(),
            len >= data_end,
            "truncated to {len} bytes: {result:?}"
        );
    }
}

/// Every view of a file that opened lies inside it and has its declared size.
fn check_views(f: &GgufFile) {
    let range = f.bytes().as_ptr_range();
    for t in f.tensors() {
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes);
        assert!(range.contains(&data.as_ptr()));
        assert_eq!(t.offset % f.alignment(), 0);
    }
}

#[test]
fn flipping_any_byte_never_panics() {
    let b = base();
    for pos in 0..b.len() {
        for mask in [0x01, 0x80, 0xFF, 0x7F] {
            let mut c = b.clone();
            c[pos] ^= mask;
            if let Ok(f) = GgufFile::from_bytes(c) {
                check_views(&f);
            }
        }
    }
}

#[test]
fn random_multi_byte_corruption_never_panics() {
    let b = base();
    // xorshift64: a fixed, dependency-free sequence.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5000 {
        let mut c = b.clone();
        for _ in 0..1 + next() % 4 {
            let pos = (next() % c.len() as u64) as usize;
            c[pos] = next() as u8;
        }
        let len = if next() % 4 == 0 {
            (next() % c.len() as u64) as usize
        } else {
            c.len()
        };
        c.truncate(len);
        if let Ok(f) = GgufFile::from_bytes(c) {
            check_views(&f);
        }
    }
}

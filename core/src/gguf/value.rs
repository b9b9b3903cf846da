//! GGUF metadata values: the type ids, a typed value, typed arrays, and conversions to Rust
//! types for the getters.

use super::GgufError;

/// A GGUF metadata value type, with its id as stored in the file (`gguf_type` in ggml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `uint8` (id 0).
    U8 = 0,
    /// `int8` (id 1).
    I8 = 1,
    /// `uint16` (id 2).
    U16 = 2,
    /// `int16` (id 3).
    I16 = 3,
    /// `uint32` (id 4).
    U32 = 4,
    /// `int32` (id 5).
    I32 = 5,
    /// `float32` (id 6).
    F32 = 6,
    /// `bool`, one byte 0 or 1 (id 7).
    Bool = 7,
    /// `string`: u64 length in bytes, then UTF-8 bytes (id 8).
    String = 8,
    /// `array`: u32 element type, u64 length, then the elements (id 9).
    Array = 9,
    /// `uint64` (id 10).
    U64 = 10,
    /// `int64` (id 11).
    I64 = 11,
    /// `float64` (id 12).
    F64 = 12,
}

impl ValueType {
    /// Every type, in id order.
    pub const ALL: [ValueType; 13] = [
        ValueType::U8,
        ValueType::I8,
        ValueType::U16,
        ValueType::I16,
        ValueType::U32,
        ValueType::I32,
        ValueType::F32,
        ValueType::Bool,
        ValueType::String,
        ValueType::Array,
        ValueType::U64,
        ValueType::I64,
        ValueType::F64,
    ];

    /// The type for an id, or `None` for an id GGUF does not define.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(id).ok()?).copied()
    }

    /// The id stored in the file (the discriminant).
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The name used in error messages (`"u32"`, `"string"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "u8",
            ValueType::I8 => "i8",
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::F32 => "f32",
            ValueType::Bool => "bool",
            ValueType::String => "string",
            ValueType::Array => "array",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F64 => "f64",
        }
    }

    /// The smallest encoding of one value of this type (bytes): its size for scalars, the
    /// length prefix for strings, element type plus length for arrays.
    pub fn min_encoded_bytes(self) -> u64 {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 | ValueType::String => 8,
            ValueType::Array => 12,
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `uint8`.
    U8(u8),
    /// `int8`.
    I8(i8),
    /// `uint16`.
    U16(u16),
    /// `int16`.
    I16(i16),
    /// `uint32`.
    U32(u32),
    /// `int32`.
    I32(i32),
    /// `uint64`.
    U64(u64),
    /// `int64`.
    I64(i64),
    /// `float32`.
    F32(f32),
    /// `float64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// `string` (UTF-8, validated).
    String(String),
    /// `array` of scalars or strings, stored typed.
    Array(ArrayValue),
}

/// A metadata array, one typed `Vec` per element type. GGUF arrays of arrays are rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrayValue {
    /// Array of `uint8`.
    U8(Vec<u8>),
    /// Array of `int8`.
    I8(Vec<i8>),
    /// Array of `uint16`.
    U16(Vec<u16>),
    /// Array of `int16`.
    I16(Vec<i16>),
    /// Array of `uint32`.
    U32(Vec<u32>),
    /// Array of `int32` (e.g. `tokenizer.ggml.token_type`).
    I32(Vec<i32>),
    /// Array of `uint64`.
    U64(Vec<u64>),
    /// Array of `int64`.
    I64(Vec<i64>),
    /// Array of `float32` (e.g. `tokenizer.ggml.scores`).
    F32(Vec<f32>),
    /// Array of `float64`.
    F64(Vec<f64>),
    /// Array of `bool`.
    Bool(Vec<bool>),
    /// Array of strings (e.g. `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    String(StringArray),
}

/// An array of strings stored end to end in one buffer: one allocation for the text and one
/// offset (8 bytes) per string, instead of a `String` (24 bytes plus a heap block of at least
/// 32 bytes) per string. A 128 000-token vocabulary and its 280 000 merges take about 7 MB so
/// instead of 30 MB.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StringArray {
    /// Every string, concatenated.
    text: String,
    /// End offset (bytes) of each string in `text`.
    ends: Vec<usize>,
}

impl StringArray {
    /// An empty array.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty array with room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(strings: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
        }
    }

    /// Appends `s`.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    /// Gives back the buffers' spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Total length of the strings, in bytes.
    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }

    /// Whether the array holds no strings.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// String `i`, `None` past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The strings in order.
    pub fn iter(&self) -> StringArrayIter<'_> {
        StringArrayIter {
            array: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Keeps the first `len` strings (all of them when there are fewer).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.ends.truncate(len);
            self.text.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    /// The strings as owned `String`s.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl std::fmt::Debug for StringArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for StringArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut array = StringArray::new();
        iter.into_iter().for_each(|s| array.push(s.as_ref()));
        array
    }
}

impl From<Vec<String>> for StringArray {
    fn from(v: Vec<String>) -> Self {
        let mut array = StringArray::with_capacity(v.len(), v.iter().map(String::len).sum());
        v.iter().for_each(|s| array.push(s));
        array
    }
}

impl From<&[String]> for StringArray {
    fn from(v: &[String]) -> Self {
        let mut array = StringArray::with_capacity(v.len(), v.iter().map(String::len).sum());
        v.iter().for_each(|s| array.push(s));
        array
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for StringArray {
    fn eq(&self, other: &[S; N]) -> bool {
        self.len() == N && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<'a> IntoIterator for &'a StringArray {
    type Item = &'a str;
    type IntoIter = StringArrayIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The strings of a [`StringArray`], in order.
#[derive(Clone, Debug)]
pub struct StringArrayIter<'a> {
    array: &'a StringArray,
    front: usize,
    back: usize,
}

impl<'a> Iterator for StringArrayIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        self.array.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for StringArrayIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.array.get(self.back)
    }
}

impl ExactSizeIterator for StringArrayIter<'_> {}

impl Value {
    /// The GGUF type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
        }
    }

    /// The type name used in error messages; arrays name their element type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Array(a) => a.type_name(),
            v => v.value_type().name(),
        }
    }

    /// The value of any integer type, widened; `None` for other types.
    pub fn as_int(&self) -> Option<i128> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::I8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::U64(v) => Some(v.into()),
            Value::I64(v) => Some(v.into()),
            _ => None,
        }
    }
}

impl ArrayValue {
    /// The element type.
    pub fn element_type(&self) -> ValueType {
        match self {
            ArrayValue::U8(_) => ValueType::U8,
            ArrayValue::I8(_) => ValueType::I8,
            ArrayValue::U16(_) => ValueType::U16,
            ArrayValue::I16(_) => ValueType::I16,
            ArrayValue::U32(_) => ValueType::U32,
            ArrayValue::I32(_) => ValueType::I32,
            ArrayValue::U64(_) => ValueType::U64,
            ArrayValue::I64(_) => ValueType::I64,
            ArrayValue::F32(_) => ValueType::F32,
            ArrayValue::F64(_) => ValueType::F64,
            ArrayValue::Bool(_) => ValueType::Bool,
            ArrayValue::String(_) => ValueType::String,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ArrayValue::U8(v) => v.len(),
            ArrayValue::I8(v) => v.len(),
            ArrayValue::U16(v) => v.len(),
            ArrayValue::I16(v) => v.len(),
            ArrayValue::U32(v) => v.len(),
            ArrayValue::I32(v) => v.len(),
            ArrayValue::U64(v) => v.len(),
            ArrayValue::I64(v) => v.len(),
            ArrayValue::F32(v) => v.len(),
            ArrayValue::F64(v) => v.len(),
            ArrayValue::Bool(v) => v.len(),
            ArrayValue::String(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type name used in error messages (`"array of string"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.element_type() {
            ValueType::U8 => "array of u8",
            ValueType::I8 => "array of i8",
            ValueType::U16 => "array of u16",
            ValueType::I16 => "array of i16",
            ValueType::U32 => "array of u32",
            ValueType::I32 => "array of i32",
            ValueType::U64 => "array of u64",
            ValueType::I64 => "array of i64",
            ValueType::F32 => "array of f32",
            ValueType::F64 => "array of f64",
            ValueType::Bool => "array of bool",
            ValueType::String => "array of string",
            ValueType::Array => "array of array",
        }
    }
}

/// Wraps a Rust value in the matching [`Value`] variant (arrays from `Vec`s).
macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v)
            }
        }
        impl From<Vec<$t>> for Value {
            fn from(v: Vec<$t>) -> Self {
                Value::Array(ArrayValue::$variant(v))
            }
        }
    )*};
}

value_from!(
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, bool => Bool,
);

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::Array(ArrayValue::String(v.into()))
    }
}

impl From<StringArray> for Value {
    fn from(v: StringArray) -> Self {
        Value::Array(ArrayValue::String(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<ArrayValue> for Value {
    fn from(v: ArrayValue) -> Self {
        Value::Array(v)
    }
}

/// A Rust type that a metadata value can be read as (see `GgufFile::get_as`).
pub trait FromValue<'a>: Sized {
    /// The type name asked for, as errors print it.
    const EXPECTED: &'static str;

    /// Reads `value`, stored under `key`, as `Self`: [`GgufError::WrongType`] when the stored
    /// type does not convert, [`GgufError::OutOfRange`] when an integer does not fit.
    fn from_value(value: &'a Value, key: &str) -> Result<Self, GgufError>;
}

fn wrong_type(key: &str, expected: &'static str, value: &Value) -> GgufError {
    GgufError::WrongType {
        key: key.to_owned(),
        expected,
        found: value.type_name(),
    }
}

/// Integers read from any integer value that converts losslessly.
macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue<'_> for $t {
            const EXPECTED: &'static str = stringify!($t);

            fn from_value(value: &Value, key: &str) -> Result<Self, GgufError> {
                let n = value.as_int().ok_or_else(|| wrong_type(key, Self::EXPECTED, value))?;
                <$t>::try_from(n).map_err(|_| GgufError::OutOfRange {
                    key: key.to_owned(),
                    expected: Self::EXPECTED,
                    value: n,
                })
            }
        }
    )*};
}

int_from_value!(u32, u64, i32, i64);

impl FromValue<'_> for f32 {
    const EXPECTED: &'static str = "f32";

    /// Reads `F32`, or `F64` rounded to the nearest f32.
    fn from_value(value: &Value, key: &str) -> Result<Self, GgufError> {
        match *value {
            Value::F32(v) => Ok(v),
            Value::F64(v) => Ok(v as f32),
            _ => Err(wrong_type(key, Self::EXPECTED, value)),
        }
    }
}

impl FromValue<'_> for bool {
    const EXPECTED: &'static str = "bool";

    fn from_value(value: &Value, key: &str) -> Result<Self, GgufError> {
        match *value {
            Value::Bool(v) => Ok(v),
            _ => Err(wrong_type(key, Self::EXPECTED, value)),
        }
    }
}

impl<'a> FromValue<'a> for &'a str {
    const EXPECTED: &'static str = "string";

    fn from_value(value: &'a Value, key: &str) -> Result<Self, GgufError> {
        match value {
            Value::String(v) => Ok(v),
            _ => Err(wrong_type(key, Self::EXPECTED, value)),
        }
    }
}

/// Borrowed typed arrays: read only from an array of exactly that element type.
macro_rules! slice_from_value {
    ($($t:ty => $variant:ident, $name:literal);* $(;)?) => {$(
        impl<'a> FromValue<'a> for &'a [$t] {
            const EXPECTED: &'static str = $name;

            fn from_value(value: &'a Value, key: &str) -> Result<Self, GgufError> {
                match value {
                    Value::Array(ArrayValue::$variant(v)) => Ok(v),
                    _ => Err(wrong_type(key, Self::EXPECTED, value)),
                }
            }
        }
    )*};
}

impl<'a> FromValue<'a> for &'a StringArray {
    const EXPECTED: &'static str = "array of string";

    fn from_value(value: &'a Value, key: &str) -> Result<Self, GgufError> {
        match value {
            Value::Array(ArrayValue::String(v)) => Ok(v),
            _ => Err(wrong_type(key, Self::EXPECTED, value)),
        }
    }
}

slice_from_value!(
    i32 => I32, "array of i32";
    u32 => U32, "array of u32";
    f32 => F32, "array of f32";
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids_round_trip_and_unknown_ids_are_rejected() {
        for (id, t) in ValueType::ALL.into_iter().enumerate() {
            assert_eq!(t.id() as usize, id);
            assert_eq!(ValueType::from_id(t.id()), Some(t));
        }
        assert_eq!(ValueType::from_id(13), None);
        assert_eq!(ValueType::from_id(u32::MAX), None);
    }

    #[test]
    fn integers_convert_only_when_lossless() {
        assert_eq!(u32::from_value(&Value::U8(7), "k").unwrap(), 7);
        assert_eq!(u32::from_value(&Value::I64(4096), "k").unwrap(), 4096);
        assert_eq!(
            u64::from_value(&Value::U32(u32::MAX), "k").unwrap(),
            4294967295
        );
        assert!(matches!(
            u32::from_value(&Value::I32(-1), "k"),
            Err(GgufError::OutOfRange {
                value: -1,
                expected: "u32",
                ..
            })
        ));
        assert!(matches!(
            u32::from_value(&Value::U64(1 << 32), "k"),
            Err(GgufError::OutOfRange { .. })
        ));
        assert!(matches!(
            u32::from_value(&Value::F32(1.0), "k"),
            Err(GgufError::WrongType {
                expected: "u32",
                found: "f32",
                ..
            })
        ));
    }

    #[test]
    fn floats_strings_and_arrays_check_their_type() {
        assert_eq!(f32::from_value(&Value::F64(0.5), "k").unwrap(), 0.5);
        assert!(matches!(
            f32::from_value(&Value::U32(1), "k"),
            Err(GgufError::WrongType { .. })
        ));
        let v = Value::from(vec![1i32, -2]);
        assert_eq!(<&[i32]>::from_value(&v, "k").unwrap(), &[1, -2]);
        assert!(matches!(
            <&StringArray>::from_value(&v, "k"),
            Err(GgufError::WrongType {
                expected: "array of string",
                found: "array of i32",
                ..
            })
        ));
        assert_eq!(<&str>::from_value(&Value::from("x"), "k").unwrap(), "x");
    }

    #[test]
    fn string_arrays_hold_their_strings_in_order() {
        let strings = ["a", "", "héllo", "Ġthe"];
        let mut array: StringArray = strings.iter().collect();
        assert_eq!(array.len(), 4);
        assert_eq!(array.text_bytes(), 1 + 6 + 5);
        assert_eq!(array, strings);
        assert_eq!(array.get(1), Some(""));
        assert_eq!(array.get(2), Some("héllo"));
        assert_eq!(array.get(4), None);
        assert_eq!(array.iter().next_back(), Some("Ġthe"));
        assert_eq!(array.iter().rev().nth(3), Some("a"));
        assert_eq!(array.iter().len(), 4);
        assert_eq!(array.to_vec(), strings.map(String::from));
        assert_eq!(StringArray::from(array.to_vec()), array);
        array.truncate(3);
        assert_eq!(array, ["a", "", "héllo"]);
        array.truncate(0);
        assert!(array.is_empty());
        assert_eq!(array.get(0), None);
        assert_eq!(
            format!("{:?}", StringArray::from(vec!["x".to_owned()])),
            "[\"x\"]"
        );
    }
}

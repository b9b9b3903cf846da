//! A GGUF v3 writer that streams tensor data, so multi-gigabyte files need not fit in memory.
//! It checks every tensor with the reader's own [`checked_tensor_bytes`], so it never writes a
//! file `bitnet_core::gguf::GgufFile` refuses.

use std::io::{self, Read, Write};

use bitnet_core::gguf::{
    align_up, alignment_from, checked_tensor_bytes, ArrayValue, GgufError, TensorInfo, Value,
    ALIGNMENT_KEY, MAGIC, VERSION,
};
use bitnet_core::quant::TensorType;

use crate::WriteError;

/// Builds a GGUF v3 file: metadata pairs and tensor records in the order added, the data
/// section aligned to `general.alignment` (default 32 bytes), each tensor padded with zeros to
/// the alignment.
///
/// Tensors added with [`add_tensor`](Self::add_tensor) carry their bytes; those declared with
/// [`add_tensor_info`](Self::add_tensor_info) get theirs from the callback of
/// [`write_to`](Self::write_to) when their turn comes.
#[derive(Clone, Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<PlannedTensor>,
}

/// A declared tensor and, when given up front, its bytes.
#[derive(Clone, Debug)]
struct PlannedTensor {
    name: String,
    dims: Vec<u64>,
    ty: TensorType,
    n_bytes: u64,
    data: Option<Vec<u8>>,
}

impl GgufWriter {
    /// An empty file: no metadata, no tensors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`. A key added again keeps its first position and takes the new
    /// value, so the file never holds a duplicate key.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Declares a tensor whose bytes [`write_to`](Self::write_to)'s callback will supply.
    /// Rejects a repeated name and any shape the reader would reject.
    pub fn add_tensor_info(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: TensorType,
    ) -> Result<&mut Self, WriteError> {
        self.plan(name.into(), dims, ty, None)
    }

    /// Adds a tensor with its bytes, which must be exactly as many as `ty` and `dims` need.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: TensorType,
        data: Vec<u8>,
    ) -> Result<&mut Self, WriteError> {
        self.plan(name.into(), dims, ty, Some(data))
    }

    fn plan(
        &mut self,
        name: String,
        dims: &[u64],
        ty: TensorType,
        data: Option<Vec<u8>>,
    ) -> Result<&mut Self, WriteError> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor { name }.into());
        }
        let n_bytes = checked_tensor_bytes(&name, dims, ty)?;
        if let Some(data) = &data {
            check_size(&name, n_bytes, data.len() as u64)?;
        }
        self.tensors.push(PlannedTensor {
            name,
            dims: dims.to_vec(),
            ty,
            n_bytes,
            data,
        });
        Ok(self)
    }

    /// Writes the whole file to `out` and returns its length (bytes). For each tensor declared
    /// without bytes, in order, `fill` is called with its record (absolute offset included) and
    /// a sink that must receive exactly `n_bytes` bytes. Wrap files in a `BufWriter`.
    pub fn write_to<W: Write>(
        &self,
        mut out: W,
        mut fill: impl FnMut(&TensorInfo, &mut dyn Write) -> io::Result<()>,
    ) -> Result<u64, WriteError> {
        let alignment = alignment_from(self.get(ALIGNMENT_KEY))?;
        let (header, infos) = self.header(alignment)?;
        out.write_all(&header).map_err(WriteError::Io)?;
        let mut written = pad(&mut out, header.len() as u64, alignment)?;
        for (t, info) in self.tensors.iter().zip(&infos) {
            let mut sink = CountingWriter {
                inner: &mut out,
                count: 0,
            };
            match &t.data {
                Some(data) => sink.write_all(data),
                None => fill(info, &mut sink),
            }
            .map_err(WriteError::Io)?;
            check_size(&t.name, t.n_bytes, sink.count)?;
            written += t.n_bytes;
            written = pad(&mut out, written, alignment)?;
        }
        out.flush().map_err(WriteError::Io)?;
        Ok(written)
    }

    /// The whole file in memory; every tensor must have been added with its bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        if let Some(t) = self.tensors.iter().find(|t| t.data.is_none()) {
            return Err(WriteError::MissingTensorData {
                name: t.name.clone(),
            });
        }
        let mut out = Vec::new();
        self.write_to(&mut out, |_, _| Ok(()))?;
        Ok(out)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The header (before its padding to `alignment`) and each tensor's record with its
    /// absolute offset.
    fn header(&self, alignment: u64) -> Result<(Vec<u8>, Vec<TensorInfo>), WriteError> {
        let mut h = Vec::new();
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            if key.is_empty() {
                return Err(GgufError::EmptyKey {
                    offset: h.len() as u64,
                }
                .into());
            }
            put_str(&mut h, key);
            h.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut h, value);
        }
        // Offsets relative to the data section: each tensor starts aligned.
        let mut relative = Vec::with_capacity(self.tensors.len());
        let mut next = 0u64;
        for t in &self.tensors {
            relative.push(next);
            next = next
                .checked_add(t.n_bytes)
                .and_then(|end| align_up(end, alignment))
                .ok_or_else(|| GgufError::ShapeOverflow {
                    name: t.name.clone(),
                    dims: t.dims.clone(),
                })?;
        }
        for (t, &offset) in self.tensors.iter().zip(&relative) {
            put_str(&mut h, &t.name);
            h.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&t.ty.id().to_le_bytes());
            h.extend_from_slice(&offset.to_le_bytes());
        }
        let data_offset = align_up(h.len() as u64, alignment).unwrap_or(u64::MAX);
        let infos = self
            .tensors
            .iter()
            .zip(relative)
            .map(|(t, offset)| TensorInfo {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ty: t.ty,
                offset: data_offset.saturating_add(offset),
                n_bytes: t.n_bytes,
            })
            .collect();
        Ok((h, infos))
    }
}

fn check_size(name: &str, expected: u64, actual: u64) -> Result<(), WriteError> {
    if expected == actual {
        Ok(())
    } else {
        Err(WriteError::TensorSizeMismatch {
            name: name.to_owned(),
            expected,
            actual,
        })
    }
}

/// Writes zeros after `written` bytes up to the next multiple of `alignment`; returns the new
/// length.
fn pad(out: &mut impl Write, written: u64, alignment: u64) -> Result<u64, WriteError> {
    let padded = written.next_multiple_of(alignment);
    io::copy(&mut io::repeat(0).take(padded - written), out).map_err(WriteError::Io)?;
    Ok(padded)
}

/// A string: u64 byte length, then its UTF-8 bytes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Fixed-size values, each encoded by `to_le`.
fn put_all<T: Copy, const N: usize>(out: &mut Vec<u8>, xs: &[T], to_le: fn(T) -> [u8; N]) {
    for &x in xs {
        out.extend_from_slice(&to_le(x));
    }
}

/// A value's encoding, without its type id.
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_str(out, s),
        Value::Array(a) => put_array(out, a),
    }
}

/// An array: u32 element type, u64 length, the elements.
fn put_array(out: &mut Vec<u8>, a: &ArrayValue) {
    out.extend_from_slice(&a.element_type().id().to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    match a {
        ArrayValue::U8(v) => out.extend_from_slice(v),
        ArrayValue::I8(v) => put_all(out, v, i8::to_le_bytes),
        ArrayValue::U16(v) => put_all(out, v, u16::to_le_bytes),
        ArrayValue::I16(v) => put_all(out, v, i16::to_le_bytes),
        ArrayValue::U32(v) => put_all(out, v, u32::to_le_bytes),
        ArrayValue::I32(v) => put_all(out, v, i32::to_le_bytes),
        ArrayValue::U64(v) => put_all(out, v, u64::to_le_bytes),
        ArrayValue::I64(v) => put_all(out, v, i64::to_le_bytes),
        ArrayValue::F32(v) => put_all(out, v, f32::to_le_bytes),
        ArrayValue::F64(v) => put_all(out, v, f64::to_le_bytes),
        ArrayValue::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        ArrayValue::String(v) => v.iter().for_each(|s| put_str(out, s)),
    }
}

/// Passes writes through to `inner`, counting the bytes (to check a tensor's size).
struct CountingWriter<'a, W> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitnet_core::gguf::GgufFile;

    #[test]
    fn streams_declared_tensors_in_order_and_pads_each() {
        let mut w = GgufWriter::new();
        w.add("general.name", "streamed");
        w.add_tensor_info("a", &[5], TensorType::F32).unwrap();
        w.add_tensor("b", &[2], TensorType::F16, vec![9; 4])
            .unwrap();
        w.add_tensor_info("c", &[128], TensorType::I2S).unwrap();
        let mut asked = Vec::new();
        let mut out = Vec::new();
        let len = w
            .write_to(&mut out, |t, sink| {
                asked.push((t.name.clone(), t.offset));
                // Row by row, as a generator of a large file would.
                for _ in 0..t.n_bytes {
                    sink.write_all(&[t.name.as_bytes()[0]])?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(len, out.len() as u64);
        assert_eq!(len % 32, 0);
        let f = GgufFile::from_bytes(out).unwrap();
        let offsets: Vec<_> = ["a", "c"]
            .iter()
            .map(|n| (n.to_string(), f.tensor(n).unwrap().offset))
            .collect();
        assert_eq!(asked, offsets);
        assert_eq!(f.tensor_data(f.tensor("a").unwrap()), [b'a'; 20]);
        assert_eq!(f.tensor_data(f.tensor("b").unwrap()), [9; 4]);
        assert_eq!(f.tensor_data(f.tensor("c").unwrap()), [b'c'; 128 / 4 + 32]);
        // Zero padding between tensors.
        let a_end = (f.tensor("a").unwrap().offset + 20) as usize;
        assert!(f.bytes()[a_end..a_end + 12].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_callback_that_writes_the_wrong_size_is_an_error() {
        let mut w = GgufWriter::new();
        w.add_tensor_info("a", &[4], TensorType::F32).unwrap();
        let err = w.write_to(Vec::new(), |_, sink| sink.write_all(&[0; 15]));
        assert!(matches!(
            err,
            Err(WriteError::TensorSizeMismatch {
                expected: 16,
                actual: 15,
                ..
            })
        ));
        let err = w.to_bytes();
        assert!(matches!(err, Err(WriteError::MissingTensorData { name }) if name == "a"));
    }

    #[test]
    fn rejects_what_the_reader_would_reject() {
        let mut w = GgufWriter::new();
        w.add_tensor("a", &[2], TensorType::F32, vec![0; 8])
            .unwrap();
        assert!(matches!(
            w.add_tensor("a", &[2], TensorType::F32, vec![0; 8]),
            Err(WriteError::Invalid(GgufError::DuplicateTensor { .. }))
        ));
        assert!(matches!(
            w.add_tensor("b", &[2], TensorType::F32, vec![0; 7]),
            Err(WriteError::TensorSizeMismatch {
                expected: 8,
                actual: 7,
                ..
            })
        ));
        assert!(matches!(
            w.add_tensor_info("c", &[100], TensorType::TQ2_0),
            Err(WriteError::Invalid(GgufError::PartialBlock {
                ne0: 100,
                block_len: 256,
                ..
            }))
        ));
        assert!(matches!(
            w.add_tensor_info("d", &[1, 1, 1, 1, 1], TensorType::F32),
            Err(WriteError::Invalid(GgufError::BadDimCount {
                n_dims: 5,
                ..
            }))
        ));
        assert!(matches!(
            w.add_tensor_info("e", &[4, 0], TensorType::F32),
            Err(WriteError::Invalid(GgufError::ZeroDim { axis: 1, .. }))
        ));
        assert!(matches!(
            w.add_tensor_info("f", &[u64::MAX / 2, 4], TensorType::F32),
            Err(WriteError::Invalid(GgufError::ShapeOverflow { .. }))
        ));
        w.add("general.alignment", 48u32);
        assert!(matches!(
            w.to_bytes(),
            Err(WriteError::Invalid(GgufError::InvalidAlignment {
                alignment: 48
            }))
        ));
        w.add("general.alignment", 64u64);
        assert!(matches!(
            w.to_bytes(),
            Err(WriteError::Invalid(GgufError::WrongType {
                expected: "u32",
                found: "u64",
                ..
            }))
        ));
        w.add("general.alignment", 64u32);
        assert_eq!(
            GgufFile::from_bytes(w.to_bytes().unwrap())
                .unwrap()
                .alignment(),
            64
        );
    }

    #[test]
    fn adding_a_key_again_replaces_its_value_in_place() {
        let mut w = GgufWriter::new();
        w.add("a", 1u32).add("b", 2u32).add("a", "x");
        let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
        let keys: Vec<_> = f.metadata().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(f.get_str("a").unwrap(), "x");
    }
}

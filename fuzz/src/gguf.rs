//! `gguf`: any bytes through the GGUF reader (`GgufFile::from_bytes`).
//!
//! An accepted file must be consistent: every metadata value readable through every typed
//! getter (an error is fine), every tensor's bytes a view inside the file of exactly its
//! size, aligned, after the header and overlapping no other tensor; and the authoring
//! writer must write the same metadata and tensors back into a file the reader accepts.

use std::ptr;

use bitnet_authoring::GgufWriter;
use bitnet_core::gguf::{checked_tensor_bytes, GgufFile, Value};
use bitnet_core::quant::TensorType;

/// Largest alignment the rewrite is checked at: the writer pads the header to the alignment,
/// so a tensor-less file asking for 2^31 would be written as 2 GiB of zeros.
const MAX_REWRITE_ALIGNMENT: u64 = 1 << 16;

/// The target: parse `data`; check what an accepted file exposes.
pub fn run(data: &[u8]) {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    assert_eq!(file.bytes(), data);
    check_metadata(&file);
    check_tensors(&file);
    if file.alignment() <= MAX_REWRITE_ALIGNMENT {
        let written = rewrite(&file);
        let again = GgufFile::from_bytes(written.clone()).expect("the reader accepts the rewrite");
        assert!(same_contents(&file, &again), "the rewrite changed the file");
        assert_eq!(rewrite(&again), written, "rewriting is not idempotent");
    }
}

/// Every key found by `get` and every typed getter tried on it.
fn check_metadata(file: &GgufFile) {
    for (key, value) in file.metadata() {
        assert!(!key.is_empty());
        assert!(file.get(key).is_some_and(|v| ptr::eq(v, value)));
        let _ = (value.type_name(), value.value_type(), value.as_int());
        if let Value::Array(array) = value {
            let _ = (
                array.len(),
                array.is_empty(),
                array.element_type(),
                array.type_name(),
            );
        }
        let _ = (file.get_u32(key), file.get_u64(key), file.get_i32(key));
        let _ = (file.get_f32(key), file.get_bool(key), file.get_str(key));
        let _ = (file.get_str_array(key), file.get_i32_array(key));
        let _ = file.get_f32_array(key);
    }
}

/// Every tensor's record and view, and the data section's layout.
fn check_tensors(file: &GgufFile) {
    let bytes = file.bytes().as_ptr_range();
    let alignment = file.alignment();
    assert!(alignment.is_power_of_two());
    assert_eq!(file.data_offset() % alignment, 0);
    let mut extents = Vec::new();
    for t in file.tensors() {
        assert!(file.tensor(&t.name).is_some_and(|found| ptr::eq(found, t)));
        assert_eq!(
            checked_tensor_bytes(&t.name, &t.dims, t.ty).ok(),
            Some(t.n_bytes)
        );
        assert_eq!(t.offset % alignment, 0, "{} is misaligned", t.name);
        assert!(
            t.offset >= file.data_offset(),
            "{} is inside the header",
            t.name
        );
        let view = file.tensor_data(t);
        assert_eq!(view.len() as u64, t.n_bytes, "{}'s view", t.name);
        let range = view.as_ptr_range();
        assert!(bytes.start <= range.start && range.end <= bytes.end);
        assert_eq!(
            range.start as usize - bytes.start as usize,
            t.offset as usize
        );
        extents.push((t.offset, t.offset + t.n_bytes));
    }
    extents.sort_unstable();
    assert!(
        extents.windows(2).all(|w| w[0].1 <= w[1].0),
        "tensors overlap"
    );
    let _ = format!("{file:?}");
}

/// `file`'s metadata and tensors written again by the authoring writer.
fn rewrite(file: &GgufFile) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        w.add(key.clone(), value.clone());
    }
    for t in file.tensors() {
        let data = file.tensor_data(t).to_vec();
        w.add_tensor(t.name.clone(), &t.dims, t.ty, data)
            .expect("the writer takes every tensor the reader accepted");
    }
    w.to_bytes()
        .expect("the writer writes what the reader accepted")
}

/// Whether `a` and `b` hold the same metadata (NaN equal to NaN) and the same tensors: names,
/// shapes, types and bytes.
fn same_contents(a: &GgufFile, b: &GgufFile) -> bool {
    fn tensors(f: &GgufFile) -> Vec<(&String, &Vec<u64>, TensorType, &[u8])> {
        f.tensors()
            .iter()
            .map(|t| (&t.name, &t.dims, t.ty, f.tensor_data(t)))
            .collect()
    }
    let metadata_eq = a.metadata() == b.metadata()
        || format!("{:?}", a.metadata()) == format!("{:?}", b.metadata());
    metadata_eq && tensors(a) == tensors(b)
}

//! The GGUF reader on files the writer makes: every value type, typed getters, tensor views
//! into the map, versions, byte order, counts checked before allocating, custom alignment.

use bitnet_authoring::GgufWriter;
use bitnet_core::gguf::{GgufError, GgufFile};
use bitnet_core::quant::TensorType;
use bitnet_tests::gguf_fixtures::{every_value, small_file};

#[test]
fn every_value_type_round_trips_in_file_order() {
    let mut w = GgufWriter::new();
    for (k, v) in every_value() {
        w.add(k, v);
    }
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.metadata(), every_value().as_slice());
    assert!(f.tensors().is_empty());
}

#[test]
fn typed_getters_convert_or_say_why_not() {
    let f = GgufFile::from_bytes(small_file()).unwrap();
    assert_eq!(f.get_str("general.architecture").unwrap(), "bitnet-b1.58");
    assert_eq!(f.get_u32("bitnet-b1.58.block_count").unwrap(), 30);
    assert_eq!(f.get_u64("bitnet-b1.58.block_count").unwrap(), 30);
    assert_eq!(f.get_f32("bitnet-b1.58.rope.freq_base").unwrap(), 500000.0);
    assert!(f.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(
        *f.get_str_array("tokenizer.ggml.tokens").unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        f.get_i32_array("tokenizer.ggml.token_type").unwrap(),
        [1, 3]
    );
    assert_eq!(f.get_u32_opt("absent").unwrap(), None);
    assert_eq!(
        f.get_str_opt("general.architecture").unwrap(),
        Some("bitnet-b1.58")
    );
    assert!(matches!(
        f.get_u32("absent"),
        Err(GgufError::MissingKey { key }) if key == "absent"
    ));
    assert!(matches!(
        f.get_u32_opt("general.architecture"),
        Err(GgufError::WrongType {
            expected: "u32",
            found: "string",
            ..
        })
    ));
    assert!(matches!(
        f.get_str_array("tokenizer.ggml.token_type"),
        Err(GgufError::WrongType {
            found: "array of i32",
            ..
        })
    ));
    assert!(matches!(
        f.get_f32("bitnet-b1.58.block_count"),
        Err(GgufError::WrongType { .. })
    ));
}

#[test]
fn tensors_are_aligned_views_into_the_bytes() {
    let f = GgufFile::from_bytes(small_file()).unwrap();
    assert_eq!(f.tensors().len(), 2);
    assert_eq!(f.data_offset() % 32, 0);
    let q = f.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.dims, [256, 2]);
    assert_eq!(q.ty, TensorType::I2S);
    assert_eq!(q.n_elements(), 512);
    assert_eq!(q.n_bytes, 512 / 4 + 32);
    let norm = &f.tensors()[0];
    assert_eq!(norm.offset, f.data_offset());
    assert_eq!(f.tensor_data(norm), (0..12).collect::<Vec<u8>>());
    for t in f.tensors() {
        assert_eq!(t.offset % 32, 0);
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes);
        // A view, not a copy: the slice lies inside the file's own bytes.
        let file = f.bytes().as_ptr_range();
        assert!(file.contains(&data.as_ptr()));
        assert_eq!(
            data.as_ptr() as usize - file.start as usize,
            t.offset as usize
        );
    }
    assert!(f.tensor("absent").is_none());
}

#[test]
fn open_maps_the_file_and_views_point_into_the_map() {
    let bytes = small_file();
    let mut tmp = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut tmp, &bytes).unwrap();
    let f = GgufFile::open(tmp.path()).unwrap();
    assert!(f.is_mapped());
    assert_eq!(f.bytes(), bytes.as_slice());
    let q = f.tensor("blk.0.attn_q.weight").unwrap();
    let addr = f.tensor_data(q).as_ptr() as usize;
    assert!(f
        .bytes()
        .as_ptr_range()
        .contains(&f.tensor_data(q).as_ptr()));
    #[cfg(target_os = "linux")]
    {
        // The kernel lists the range holding the weights as a mapping of our file.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = tmp.path().to_str().unwrap();
        let mapped = maps.lines().any(|line| {
            let range = line.split(' ').next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let lo = usize::from_str_radix(lo, 16).unwrap();
            let hi = usize::from_str_radix(hi, 16).unwrap();
            (lo..hi).contains(&addr) && line.ends_with(path)
        });
        assert!(mapped, "{addr:#x} is not in a mapping of {path}");
    }
    assert!(!GgufFile::from_bytes(bytes).unwrap().is_mapped());
}

#[test]
fn open_reports_the_path_of_a_missing_file() {
    let err = GgufFile::open("/nonexistent/model.gguf").unwrap_err();
    assert!(matches!(err, GgufError::Io { path, .. } if path.ends_with("model.gguf")));
}

#[test]
fn version_2_reads_like_version_3() {
    let mut bytes = small_file();
    bytes[4] = 2;
    let f = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(f.version(), 2);
    assert_eq!(f.tensors().len(), 2);
}

#[test]
fn big_endian_files_are_named_as_such() {
    let mut bytes = small_file();
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(matches!(
        GgufFile::from_bytes(bytes),
        Err(GgufError::BigEndian { swapped: 3 })
    ));
}

#[test]
fn a_huge_count_fails_before_allocating() {
    let mut bytes = small_file();
    // n_kv = 2^62 would need exabytes if trusted.
    bytes[16..24].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(bytes),
        Err(GgufError::CountTooLarge {
            what: "metadata count",
            offset: 16,
            ..
        })
    ));
}

#[test]
fn custom_alignment_places_the_data_section_and_tensors() {
    let mut w = GgufWriter::new();
    w.add("general.alignment", 256u32);
    w.add_tensor("a", &[3], TensorType::F32, vec![1; 12])
        .unwrap();
    w.add_tensor("b", &[5], TensorType::F16, vec![2; 10])
        .unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.alignment(), 256);
    assert_eq!(f.data_offset() % 256, 0);
    assert_eq!(f.tensors()[1].offset, f.data_offset() + 256);
    assert_eq!(f.tensor_data(&f.tensors()[1]), [2; 10]);
}

#[test]
fn a_record_from_elsewhere_gives_an_empty_slice() {
    let f = GgufFile::from_bytes(small_file()).unwrap();
    let mut t = f.tensors()[0].clone();
    t.offset = u64::MAX;
    assert!(f.tensor_data(&t).is_empty());
}

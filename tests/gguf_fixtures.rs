//! Small GGUF files the reader's tests and the fuzz seeds start from, written by the
//! authoring crate's writer.

use bitnet_authoring::GgufWriter;
use bitnet_core::gguf::Value;
use bitnet_core::quant::TensorType;

/// One value of every scalar type and an array of every element type, keyed
/// `test.<index>.<type name>`, in that order.
pub fn every_value() -> Vec<(String, Value)> {
    let values: Vec<Value> = vec![
        Value::U8(200),
        Value::I8(-100),
        Value::U16(60_000),
        Value::I16(-30_000),
        Value::U32(4_000_000_000),
        Value::I32(-2_000_000_000),
        Value::U64(u64::MAX),
        Value::I64(i64::MIN),
        Value::F32(1e-5),
        Value::F64(-0.1),
        Value::Bool(true),
        Value::from("héllo"),
        Value::from(vec![0u8, 255]),
        Value::from(vec![-1i8, 1]),
        Value::from(vec![1u16, 65535]),
        Value::from(vec![-1i16]),
        Value::from(vec![7u32]),
        Value::from(vec![1i32, -2, 3]),
        Value::from(vec![u64::MAX]),
        Value::from(vec![i64::MIN, 0]),
        Value::from(vec![0.5f32, -1.0]),
        Value::from(vec![2.5f64]),
        Value::from(vec![true, false]),
        Value::from(vec!["a".to_owned(), String::new(), "Ġthe".to_owned()]),
        Value::from(Vec::<String>::new()),
    ];
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("test.{i}.{}", v.type_name()), v))
        .collect()
}

/// A 2B4T-like header (architecture, block count, RoPE base, a two-token vocabulary) and two
/// tensors: an F32 norm of 3 and an I2_S 256 × 2 matrix.
pub fn small_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "bitnet-b1.58")
        .add("bitnet-b1.58.block_count", 30u32)
        .add("bitnet-b1.58.rope.freq_base", 500000.0f32)
        .add("tokenizer.ggml.add_bos_token", true)
        .add(
            "tokenizer.ggml.tokens",
            vec!["a".to_owned(), "b".to_owned()],
        )
        .add("tokenizer.ggml.token_type", vec![1i32, 3]);
    let norm: Vec<u8> = (0..4 * 3).map(|i| i as u8).collect();
    w.add_tensor("output_norm.weight", &[3], TensorType::F32, norm)
        .unwrap();
    let i2s = vec![0xAA; 256 * 2 / 4 + 32];
    w.add_tensor("blk.0.attn_q.weight", &[256, 2], TensorType::I2S, i2s)
        .unwrap();
    w.to_bytes().unwrap()
}

/// The file the corruption tests change: values of several kinds (two of them `test.dupa` /
/// `test.dupb`, keys of one length to swap) and three tensors of different types.
pub fn corruption_base() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "bitnet")
        .add("general.alignment", 32u32)
        .add("test.u32", 7u32)
        .add("test.i32s", vec![1i32, 2, 3])
        .add("test.strs", vec!["ab".to_owned(), "cd".to_owned()])
        .add("test.flag", true)
        .add("test.dupa", 1u8)
        .add("test.dupb", 2u8)
        .add("test.spare", 0u64);
    w.add_tensor("t.aaa", &[8, 2], TensorType::F32, vec![1; 64])
        .unwrap();
    w.add_tensor("t.bbb", &[128, 2], TensorType::I2S, vec![2; 96])
        .unwrap();
    w.add_tensor("t.ccc", &[256], TensorType::TQ2_0, vec![3; 66])
        .unwrap();
    w.to_bytes().unwrap()
}

//! The opt-in Q8_0 output head (`EngineConfig::head`): its bytes are counted, and its logits
//! stay close to the F16 head's on the tiny model.
//!
//! The logit error is measured teacher-forced: the F16 engine decodes 64 greedy tokens after
//! each prompt, and both engines' logits are compared at every position of that sequence
//! (max |Δlogit|, relative L2 over all logits, top-1 agreement); the Q8_0 engine's own free-
//! running greedy tokens are compared too. The same measurement runs on any model with
//! `BITNET_HEAD_MODEL=M.gguf cargo test --release -p bitnet-tests --test head_q8_0 -- --ignored
//! --nocapture` (the 2B4T numbers in docs/PERFORMANCE.md come from it).

use std::path::Path;

use bitnet_authoring::GgufWriter;
use bitnet_core::engine::{Engine, EngineConfig};
use bitnet_core::gguf::GgufFile;
use bitnet_core::model::{HeadPrecision, LogitsFor};
use bitnet_core::quant::{self, TensorType, WeightView};
use bitnet_tests::quality::{compare_generated, LogitError};
use bitnet_tests::tiny_model;

/// Prompts the error is measured after.
const PROMPTS: [&str; 3] = [
    "The answer is",
    "Hello world, this is a test of the model: what is the question?",
    "héllo wörld — 日本語 ✓ and some more text with numbers 1234567890.",
];
/// Greedy tokens decoded after each prompt.
const GENERATED: usize = 64;

fn engine(path: &Path, head: HeadPrecision) -> Engine {
    let config = EngineConfig {
        head: Some(head),
        ..EngineConfig::default()
    };
    Engine::load(path, config).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// The Q8_0 head's error against the F16 head over [`PROMPTS`].
fn measure(f16: &Engine, q8: &Engine) -> LogitError {
    compare_generated(f16, q8, &PROMPTS, GENERATED)
}

#[test]
fn q8_0_head_counts_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let (f16, q8) = (
        engine(&path, HeadPrecision::F16),
        engine(&path, HeadPrecision::Q8_0),
    );
    let cfg = f16.model().config();
    let elements = cfg.vocab_size * cfg.n_embd;
    let q8_bytes = elements / 32 * 34;
    assert_eq!(f16.model().head_type(), TensorType::F16);
    assert_eq!(q8.model().head_type(), TensorType::Q8_0);
    assert_eq!(f16.model().head_resident_bytes(), 0);
    assert_eq!(q8.model().head_resident_bytes(), q8_bytes);
    assert_eq!(
        f16.model().weight_bytes_per_token() - q8.model().weight_bytes_per_token(),
        2 * elements - q8_bytes
    );
    // The memory estimate, made from the header before loading, counts the same copy.
    for (e, bytes) in [(&f16, 0), (&q8, q8_bytes as u64)] {
        assert_eq!(e.memory_estimate().head_bytes, bytes);
        let before = Engine::estimate(&path, e.config()).expect("estimate");
        assert_eq!(before.head_bytes, bytes);
    }
}

#[test]
fn q8_0_head_logits_stay_close_to_f16_on_the_tiny_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let e = measure(
        &engine(&path, HeadPrecision::F16),
        &engine(&path, HeadPrecision::Q8_0),
    );
    e.report("tiny");
    assert!(e.rel_l2() < 0.02, "{e:?}");
    assert!(e.max_abs < 0.02 * e.max_logit, "{e:?}");
    assert!(e.top1_same * 100 >= 95 * e.positions, "{e:?}");
}

/// `src` with an untied `output.weight` added: its tied F16 embedding encoded as Q8_0 (a
/// llama.cpp-style file whose head is already Q8_0).
fn with_q8_0_output(src: &Path, dst: &Path) {
    let file = GgufFile::open(src).expect("opens");
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        w.add(key.clone(), value.clone());
    }
    for t in file.tensors() {
        w.add_tensor(t.name.clone(), &t.dims, t.ty, file.tensor_data(t).to_vec())
            .expect("valid tensor");
    }
    let embd = file.tensor("token_embd.weight").expect("embedding");
    let (cols, rows) = (embd.dims[0] as usize, embd.dims[1] as usize);
    let view = WeightView::new(embd.ty, cols, rows, file.tensor_data(embd), 1.0).expect("valid");
    let mut values = vec![0f32; cols * rows];
    for (r, row) in values.chunks_exact_mut(cols).enumerate() {
        view.dequantize_row(r, row).expect("decodes");
    }
    let q8 = quant::quantize_tensor(TensorType::Q8_0, &values, cols).expect("encodes");
    w.add_tensor("output.weight", &embd.dims, TensorType::Q8_0, q8)
        .expect("valid tensor");
    std::fs::write(dst, w.to_bytes().expect("serialises")).expect("writes");
}

#[test]
fn a_q8_0_head_in_the_file_is_used_in_place_and_equals_the_requantized_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let q8_file = dir.path().join("q8_0-output.gguf");
    with_q8_0_output(&path, &q8_file);
    let (requantized, in_place) = (
        engine(&path, HeadPrecision::Q8_0),
        engine(&q8_file, HeadPrecision::Q8_0),
    );
    assert_eq!(in_place.model().head_type(), TensorType::Q8_0);
    assert_eq!(in_place.model().head_resident_bytes(), 0);
    assert_eq!(in_place.memory_estimate().head_bytes, 0);
    assert_eq!(
        in_place.model().weight_bytes_per_token(),
        requantized.model().weight_bytes_per_token()
    );
    let tokens = requantized
        .tokenizer()
        .encode(PROMPTS[1], true)
        .expect("tokenizes");
    let a = requantized.evaluate(&tokens, LogitsFor::All).expect("runs");
    let b = in_place.evaluate(&tokens, LogitsFor::All).expect("runs");
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    // The default precision multiplies the file's Q8_0 head in f32 (dequantised rows).
    let float = engine(&q8_file, HeadPrecision::F16);
    assert_eq!(float.model().head_type(), TensorType::Q8_0);
    let c = float.evaluate(&tokens, LogitsFor::All).expect("runs");
    assert_ne!(b, c);
}

/// The same measurement on `$BITNET_HEAD_MODEL` (numbers for the docs; no bound).
#[test]
#[ignore = "needs BITNET_HEAD_MODEL=<model.gguf>; run with --ignored --nocapture"]
fn q8_0_head_error_on_a_given_model() {
    let Some(path) = std::env::var_os("BITNET_HEAD_MODEL") else {
        println!("BITNET_HEAD_MODEL is not set");
        return;
    };
    let path = Path::new(&path);
    let e = measure(
        &engine(path, HeadPrecision::F16),
        &engine(path, HeadPrecision::Q8_0),
    );
    e.report(&path.display().to_string());
}

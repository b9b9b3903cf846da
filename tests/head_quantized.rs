//! Quantised output heads (`EngineConfig::head`: Q8_0, Q6_K, Q4_K): their bytes are counted, a
//! head the file stores quantised is used in place, a re-quantised head is kept in `cache_dir`
//! and mapped by later loads, its best candidates are re-scored from the F16 rows, and the
//! logits stay close to the F16 head's.
//!
//! The logit error is measured teacher-forced: the F16 engine decodes 64 greedy tokens after
//! each prompt, and both engines' logits are compared at every position of that sequence
//! (max |Δlogit|, relative L2 over all logits, top-1 agreement); the quantised engine's own
//! free-running greedy tokens are compared too; and over 1024 positions of a long text. The
//! same measurement runs on any model with `BITNET_HEAD_MODEL=M.gguf cargo test --release -p
//! bitnet-tests --test head_quantized -- --ignored --nocapture` (the numbers in
//! docs/PERFORMANCE.md come from it).

use std::path::{Path, PathBuf};

use bitnet_authoring::GgufWriter;
use bitnet_core::engine::{Engine, EngineConfig};
use bitnet_core::gguf::GgufFile;
use bitnet_core::model::{HeadPrecision, LogitsFor, RESCORED_CANDIDATES};
use bitnet_core::quant::{self, TensorType, WeightView};
use bitnet_tests::quality::{compare_generated, compare_text, default_text, LogitError};
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
    cached_engine(path, head, None)
}

fn cached_engine(path: &Path, head: HeadPrecision, cache_dir: Option<&Path>) -> Engine {
    let config = EngineConfig {
        head: Some(head),
        cache_dir: cache_dir.map(Path::to_path_buf),
        ..EngineConfig::default()
    };
    Engine::load(path, config).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// A quantised head's error against the F16 head over [`PROMPTS`].
fn measure(f16: &Engine, q8: &Engine) -> LogitError {
    compare_generated(f16, q8, &PROMPTS, GENERATED)
}

/// The trained demo model: 256 wide, so its head can be Q6_K.
fn demo_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-apps/demo-model/bitnet-demo-i2_s.gguf")
}

/// All logits of `tokens` from `engine`.
fn logits(engine: &Engine, text: &str) -> Vec<f32> {
    let tokens = engine.tokenizer().encode(text, true).expect("tokenizes");
    engine.evaluate(&tokens, LogitsFor::All).expect("runs")
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
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
    // The same Q8_0 products; the head re-quantised from F16 then re-scores each position's
    // best candidates from the F16 rows (the file's Q8_0 head has no float rows to use).
    let f16 = engine(&path, HeadPrecision::F16)
        .evaluate(&tokens, LogitsFor::All)
        .expect("runs");
    let vocab = requantized.model().config().vocab_size;
    let chunks = a.chunks_exact(vocab).zip(b.chunks_exact(vocab));
    for ((a, b), f16) in chunks.zip(f16.chunks_exact(vocab)) {
        let mut order: Vec<usize> = (0..vocab).collect();
        order.sort_by(|&i, &j| b[j].total_cmp(&b[i]));
        let best = &order[..RESCORED_CANDIDATES.min(vocab)];
        for i in 0..vocab {
            let want = if best.contains(&i) { f16[i] } else { b[i] };
            assert_eq!(a[i].to_bits(), want.to_bits(), "logit {i}");
        }
    }
    // The default precision multiplies the file's Q8_0 head in f32 (dequantised rows).
    let float = engine(&q8_file, HeadPrecision::F16);
    assert_eq!(float.model().head_type(), TensorType::Q8_0);
    let c = float.evaluate(&tokens, LogitsFor::All).expect("runs");
    assert_ne!(b, c);
}

#[test]
fn k_quant_heads_stay_close_to_f16_on_the_demo_model() {
    let path = demo_model();
    let f16 = engine(&path, HeadPrecision::F16);
    let cfg = f16.model().config();
    // (precision, format, bytes per 256 weights, bound on the relative L2 error): two bits
    // fewer than Q8_0 is about four times its error, four bits fewer about ten times.
    for (precision, ty, block_bytes, rel_l2) in [
        (HeadPrecision::Q6K, TensorType::Q6K, 210, 0.05),
        (HeadPrecision::Q4K, TensorType::Q4K, 144, 0.15),
    ] {
        let q = engine(&path, precision);
        assert_eq!(q.model().head_type(), ty);
        let bytes = cfg.vocab_size * cfg.n_embd / 256 * block_bytes;
        assert_eq!(q.model().head_resident_bytes(), bytes);
        assert_eq!(q.memory_estimate().head_bytes, bytes as u64);
        // The re-scored candidates keep the F16 head's choices: top-1 and greedy tokens
        // agree at (nearly) every position; the tail keeps the quantisation error.
        let e = measure(&f16, &q);
        e.report(&format!("demo, {ty}, greedy sequences"));
        assert!(e.rel_l2() < rel_l2, "{e:?}");
        assert!(e.top1_same * 100 >= 99 * e.positions, "{e:?}");
        assert!(e.greedy_prefix * 100 >= 99 * e.greedy_tokens, "{e:?}");
        let e = compare_text(&f16, &q, &default_text(), 1024, 1024);
        e.report(&format!("demo, {ty}, text"));
        assert!(e.positions >= 1024, "{e:?}");
        assert!(e.rel_l2() < rel_l2, "{e:?}");
        assert!(e.top1_same * 100 >= 99 * e.positions, "{e:?}");
        assert!(e.mean_tv() < 0.03, "{e:?}");
    }
}

#[test]
fn a_cached_head_is_mapped_by_later_loads_and_gives_the_same_logits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let model = dir.path().join("demo.gguf");
    std::fs::copy(demo_model(), &model).expect("copies");
    let first = cached_engine(&model, HeadPrecision::Q6K, Some(&cache));
    let q6_bytes = first.model().head_resident_bytes();
    assert!(q6_bytes > 0);
    let files: Vec<_> = std::fs::read_dir(&cache).expect("cache written").collect();
    assert_eq!(files.len(), 1, "one file, no temporaries left: {files:?}");
    let cache_file = files[0].as_ref().expect("entry").path();
    assert_eq!(
        std::fs::metadata(&cache_file).expect("exists").len(),
        4096 + q6_bytes as u64
    );

    // A later load maps it: no memory of its own, counted as such before loading.
    let second = cached_engine(&model, HeadPrecision::Q6K, Some(&cache));
    assert_eq!(second.model().head_resident_bytes(), 0);
    assert_eq!(second.memory_estimate().head_bytes, 0);
    assert_eq!(second.model().head_type(), TensorType::Q6K);
    let expected = bits(&logits(&first, PROMPTS[1]));
    assert_eq!(bits(&logits(&second, PROMPTS[1])), expected);
    drop(second);

    // A damaged cache file is ignored and rewritten; the logits do not change.
    for damage in [0usize, 5000] {
        let mut bytes = std::fs::read(&cache_file).expect("reads");
        bytes.truncate(bytes.len() - 1 - damage % 7);
        if damage == 0 {
            bytes[0] ^= 0xFF; // magic
        }
        std::fs::write(&cache_file, &bytes).expect("writes");
        let e = cached_engine(&model, HeadPrecision::Q6K, Some(&cache));
        assert_eq!(e.model().head_resident_bytes(), q6_bytes, "re-made");
        assert_eq!(bits(&logits(&e, PROMPTS[1])), expected);
        let again = cached_engine(&model, HeadPrecision::Q6K, Some(&cache));
        assert_eq!(again.model().head_resident_bytes(), 0, "rewritten");
    }

    // Another precision or a changed model file has its own entry.
    let q8 = cached_engine(&model, HeadPrecision::Q8_0, Some(&cache));
    assert!(q8.model().head_resident_bytes() > 0);
    assert_eq!(std::fs::read_dir(&cache).expect("dir").count(), 2);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&model)
        .expect("opens");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touches");
    let changed = cached_engine(&model, HeadPrecision::Q6K, Some(&cache));
    assert!(changed.model().head_resident_bytes() > 0);
    assert_eq!(std::fs::read_dir(&cache).expect("dir").count(), 3);
}

#[test]
fn an_unwritable_cache_dir_still_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").expect("writes");
    let e = cached_engine(
        &demo_model(),
        HeadPrecision::Q6K,
        Some(&blocker.join("cache")),
    );
    assert!(e.model().head_resident_bytes() > 0);
    assert!(!logits(&e, PROMPTS[0]).is_empty());
}

/// The same measurement on `$BITNET_HEAD_MODEL` (numbers for the docs; no bound).
#[test]
#[ignore = "needs BITNET_HEAD_MODEL=<model.gguf>; run with --ignored --nocapture"]
fn head_error_on_a_given_model() {
    let Some(path) = std::env::var_os("BITNET_HEAD_MODEL") else {
        println!("BITNET_HEAD_MODEL is not set");
        return;
    };
    let path = Path::new(&path);
    let f16 = engine(path, HeadPrecision::F16);
    for precision in [HeadPrecision::Q8_0, HeadPrecision::Q6K, HeadPrecision::Q4K] {
        let tested = engine(path, precision);
        let name = format!("{}, {:?} head", path.display(), tested.model().head_type());
        measure(&f16, &tested).report(&format!("{name}, greedy sequences"));
        compare_text(&f16, &tested, &default_text(), 1024, 2048).report(&format!("{name}, text"));
    }
}

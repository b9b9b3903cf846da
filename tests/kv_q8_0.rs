//! The opt-in Q8_0 KV cache (`EngineConfig::kv_precision`): its bytes are counted, and its
//! logits stay close to the F16 cache's on the tiny model.
//!
//! The logit error is measured as for the Q8_0 head (`bitnet_tests::quality`): teacher-forced
//! on the F16 engine's greedy tokens after each prompt, and on a text fed in 64-token chunks.
//! The same measurement runs on any model with `BITNET_KV_MODEL=M.gguf cargo test --release
//! -p bitnet-tests --test kv_q8_0 -- --ignored --nocapture` (optionally `BITNET_KV_TEXT=FILE`,
//! default docs/ARCHITECTURE.md; `BITNET_KV_WINDOW`, tokens per context, default 1024 capped
//! at the model's context; `BITNET_KV_BASELINE=1` compares F16 against F32 instead, the error
//! the F16 cache itself adds, for scale); the figures in docs/PERFORMANCE.md come from it.

use std::path::Path;

use bitnet_core::engine::{Engine, EngineConfig};
use bitnet_core::model::{KvCache, KvPrecision};
use bitnet_tests::quality::{compare_generated, compare_text, default_text};
use bitnet_tests::tiny_model;

/// Prompts the greedy sequences start from.
const PROMPTS: [&str; 3] = [
    "The answer is",
    "Hello world, this is a test of the model: what is the question?",
    "héllo wörld — 日本語 ✓ and some more text with numbers 1234567890.",
];

fn engine(path: &Path, kv: KvPrecision) -> Engine {
    let config = EngineConfig {
        kv_precision: Some(kv),
        ..EngineConfig::default()
    };
    Engine::load(path, config).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

#[test]
fn q8_0_cache_counts_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let (f16, q8) = (
        engine(&path, KvPrecision::F16),
        engine(&path, KvPrecision::Q8_0),
    );
    let cfg = f16.model().config();
    // Layers × (keys, values) × kv heads × one row: 2 bytes per value, or 34 per 32 values.
    let rows = (cfg.n_layer * 2 * cfg.n_head_kv) as u64;
    let blocks = cfg.head_dim.div_ceil(32) as u64;
    assert_eq!(
        f16.memory_estimate().kv_bytes_per_token,
        rows * 2 * cfg.head_dim as u64
    );
    assert_eq!(q8.memory_estimate().kv_bytes_per_token, rows * 34 * blocks);
    assert_eq!(q8.kv_precision(), KvPrecision::Q8_0);
    let before = Engine::estimate(&path, q8.config()).expect("estimate");
    assert_eq!(&before, q8.memory_estimate());
    // A budget that holds a context with the Q8_0 cache but only about half of it with F16.
    let context = 1024;
    let budget = q8.memory_estimate().total_bytes(context);
    assert!(f16.memory_estimate().total_bytes(context) > budget);
    let fits = |e: &Engine| {
        let m = e.memory_estimate();
        m.context_fitting(budget - m.engine_bytes())
    };
    assert_eq!(fits(&q8), context);
    assert!(fits(&f16) < context * 6 / 10, "{}", fits(&f16));
    assert_eq!(
        KvCache::bytes_per_token(cfg, KvPrecision::Q8_0) as u64,
        q8.memory_estimate().kv_bytes_per_token
    );
}

#[test]
fn q8_0_cache_logits_stay_close_to_f16_on_the_tiny_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let (f16, q8) = (
        engine(&path, KvPrecision::F16),
        engine(&path, KvPrecision::Q8_0),
    );
    let e = compare_generated(&f16, &q8, &PROMPTS, 64);
    e.report("tiny, greedy sequences");
    assert!(e.rel_l2() < 0.03, "{e:?}");
    assert!(e.top1_same * 100 >= 95 * e.positions, "{e:?}");
    let e = compare_text(&f16, &q8, &default_text(), 1024, 1024);
    e.report("tiny, text");
    assert!(e.positions >= 1024, "{e:?}");
    assert!(e.rel_l2() < 0.03, "{e:?}");
    assert!(e.top1_same * 100 >= 95 * e.positions, "{e:?}");
}

/// The same measurement on `$BITNET_KV_MODEL` (numbers for the docs; no bound).
#[test]
#[ignore = "needs BITNET_KV_MODEL=<model.gguf>; run with --ignored --nocapture"]
fn q8_0_cache_error_on_a_given_model() {
    let Some(path) = std::env::var_os("BITNET_KV_MODEL") else {
        println!("BITNET_KV_MODEL is not set");
        return;
    };
    let path = Path::new(&path);
    let text = match std::env::var_os("BITNET_KV_TEXT") {
        Some(file) => std::fs::read_to_string(&file).expect("BITNET_KV_TEXT is readable"),
        None => default_text(),
    };
    let window = std::env::var("BITNET_KV_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1024);
    // The reference and the precision measured against it.
    let (precisions, label) = match std::env::var_os("BITNET_KV_BASELINE") {
        Some(_) => ((KvPrecision::F32, KvPrecision::F16), "F16 against F32"),
        None => ((KvPrecision::F16, KvPrecision::Q8_0), "Q8_0 against F16"),
    };
    let (reference, tested) = (engine(path, precisions.0), engine(path, precisions.1));
    let name = format!("{}, {label}", path.display());
    compare_generated(&reference, &tested, &PROMPTS, 64)
        .report(&format!("{name}, greedy sequences"));
    compare_text(&reference, &tested, &text, window, 2048).report(&format!("{name}, text"));
}

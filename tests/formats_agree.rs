//! The same ternary weights stored as I2_S, TQ2_0 and TQ1_0 (written by `bitnet synth` from one
//! seed) must behave as one model: the same int32 accumulator in every row of every BitLinear,
//! the same logits (up to float rounding of the block scales) and the same greedy tokens.

use bitnet_core::engine::{Engine, Input, SessionConfig};
use bitnet_core::kernels::{Kernels, QuantActs};
use bitnet_core::model::{Arch, FfnActivation, LogitsFor};
use bitnet_core::quant::{self, TensorType, WeightView};
use bitnet_tests::{generate, greedy, load, synth, system, user};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The ternary formats under test; the first is the reference the others are compared with.
const FORMATS: [TensorType; 3] = [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0];
/// Seed of the synthetic weights.
const SEED: u64 = 11;
/// Prompts for the realistic activations, the logits and the generations.
const PROMPTS: [&str; 3] = [
    "The answer is",
    "Hello world, this is a test of the model: what is the question?",
    "héllo wörld — 日本語 ✓ and some more text with numbers 1234567890.",
];

/// The same model in every format of [`FORMATS`], loaded. The directory must outlive them.
fn engines(arch: Arch) -> (tempfile::TempDir, Vec<Engine>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engines = FORMATS
        .iter()
        .map(|&format| load(&synth(dir.path(), arch, format, SEED)))
        .collect();
    (dir, engines)
}

/// The tensor `name` of `engine`'s file as a weight matrix (the I2_S tail scale applied).
fn matrix<'a>(engine: &'a Engine, name: &str) -> WeightView<'a> {
    let file = engine.model().file();
    let info = file
        .tensor(name)
        .unwrap_or_else(|| panic!("no tensor {name}"));
    let cols = info.dims[0] as usize;
    let rows = info.dims.get(1).map_or(1, |&r| r as usize);
    WeightView::new(info.ty, cols, rows, file.tensor_data(info), 1.0)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every row of `w` dequantised, scale applied.
fn dequantize(w: &WeightView) -> Vec<Vec<f32>> {
    (0..w.rows())
        .map(|r| {
            let mut row = vec![0.0; w.cols()];
            w.dequantize_row(r, &mut row).expect("row in range");
            row
        })
        .collect()
}

/// `rows · x` in f32.
fn matvec(rows: &[Vec<f32>], x: &[f32]) -> Vec<f32> {
    rows.iter()
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

/// `x / rms(x) · weight`.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let mean_square = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (mean_square + eps).sqrt();
    x.iter().zip(weight).map(|(v, w)| v * inv * w).collect()
}

/// Realistic f32 inputs of projection `blk.<layer>.<projection>`, one per token of `PROMPTS`:
/// the token's embedding row pushed through the layer as if it were the first position (RMS
/// norms with the model's weights; for the attention output the GQA-expanded value
/// projection, for `ffn_down` the gated FFN with the model's activation).
fn realistic_inputs(engine: &Engine, layer: usize, projection: &str) -> Vec<Vec<f32>> {
    let cfg = engine.model().config();
    let rows = |name: &str| dequantize(&matrix(engine, &format!("blk.{layer}.{name}.weight")));
    let norm = |name: &str| rows(name).remove(0);
    let embedding = dequantize(&matrix(engine, "token_embd.weight"));
    let tokenizer = engine.tokenizer();
    let hidden = PROMPTS
        .iter()
        .flat_map(|p| tokenizer.encode(p, true).expect("prompts tokenize"))
        .map(|t| embedding[t as usize].clone());
    let attn_norm = norm("attn_norm");
    let ffn_norm = norm("ffn_norm");
    let attn_in = |x: Vec<f32>| rms_norm(&x, &attn_norm, cfg.rms_eps);
    let ffn_in = |x: Vec<f32>| rms_norm(&x, &ffn_norm, cfg.rms_eps);
    match projection {
        "attn_q" | "attn_k" | "attn_v" => hidden.map(attn_in).collect(),
        "ffn_gate" | "ffn_up" => hidden.map(ffn_in).collect(),
        "attn_output" => {
            // At the first position each query head attends only to its KV head's value.
            let (w_v, sub_norm) = (rows("attn_v"), norm("attn_sub_norm"));
            let group = cfg.n_head / cfg.n_head_kv;
            hidden
                .map(|x| {
                    let v = matvec(&w_v, &attn_in(x));
                    let heads: Vec<f32> = (0..cfg.n_head)
                        .flat_map(|h| &v[h / group * cfg.head_dim..][..cfg.head_dim])
                        .copied()
                        .collect();
                    rms_norm(&heads, &sub_norm, cfg.rms_eps)
                })
                .collect()
        }
        "ffn_down" => {
            let (w_gate, w_up) = (rows("ffn_gate"), rows("ffn_up"));
            let sub_norm = norm("ffn_sub_norm");
            let act = |g: f32| match cfg.arch.ffn_activation() {
                FfnActivation::Silu => g / (1.0 + (-g).exp()),
                FfnActivation::ReluSquared => g.max(0.0).powi(2),
            };
            hidden
                .map(|x| {
                    let h = ffn_in(x);
                    let (gate, up) = (matvec(&w_gate, &h), matvec(&w_up, &h));
                    let f: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| act(g) * u).collect();
                    rms_norm(&f, &sub_norm, cfg.rms_eps)
                })
                .collect()
        }
        other => panic!("unexpected projection {other}"),
    }
}

/// Int8 activation vectors of width `cols`: random ones, the extremes, and `realistic` inputs
/// quantised by the reference kernels.
fn activation_vectors(cols: usize, realistic: &[Vec<f32>]) -> Vec<Vec<i8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(cols as u64);
    let mut vectors: Vec<Vec<i8>> = (0..4)
        .map(|_| (0..cols).map(|_| rng.random_range(-128..=127)).collect())
        .collect();
    vectors.push(vec![127; cols]);
    vectors.push(vec![-128; cols]);
    vectors.push(
        (0..cols)
            .map(|i| if i % 2 == 0 { 127 } else { -128 })
            .collect(),
    );
    for x in realistic {
        assert_eq!(x.len(), cols);
        let mut acts = QuantActs::default();
        Kernels::scalar().quantize_acts(x, &mut acts);
        assert!(
            acts.q.iter().any(|&q| q.unsigned_abs() == 127),
            "absmax quantisation reaches ±127"
        );
        vectors.push(acts.q);
    }
    vectors
}

/// (a) Every row of every projection gives the same `Σ t·q` in every format, equal to the sum
/// over the reference format's decoded ternary values.
fn accumulators_agree(arch: Arch) {
    let (_dir, engines) = engines(arch);
    let reference = &engines[0];
    let projections: Vec<String> = reference
        .model()
        .file()
        .tensors()
        .iter()
        .filter(|t| t.ty.is_ternary())
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(projections.len(), 7 * reference.model().config().n_layer);
    for name in &projections {
        let (layer, projection) = name
            .strip_prefix("blk.")
            .and_then(|n| n.strip_suffix(".weight"))
            .and_then(|n| n.split_once('.'))
            .unwrap_or_else(|| panic!("unexpected projection name {name}"));
        let layer: usize = layer.parse().expect("layer number");
        let views: Vec<WeightView> = engines.iter().map(|e| matrix(e, name)).collect();
        for (view, format) in views.iter().zip(FORMATS) {
            assert_eq!(view.ty(), format, "{name}");
            assert_eq!(
                (view.rows(), view.cols()),
                (views[0].rows(), views[0].cols())
            );
        }
        let realistic = realistic_inputs(reference, layer, projection);
        let vectors = activation_vectors(views[0].cols(), &realistic);
        let mut ternary = vec![0i8; views[0].cols()];
        for r in 0..views[0].rows() {
            quant::decode_ternary_row(views[0].ty(), views[0].row(r), &mut ternary)
                .expect("decodes");
            for (i, q) in vectors.iter().enumerate() {
                let expected: i32 = ternary
                    .iter()
                    .zip(q)
                    .map(|(&t, &q)| t as i32 * q as i32)
                    .sum();
                for view in &views {
                    let acc = quant::ternary_acc(view.ty(), view.row(r), q).expect("valid row");
                    assert_eq!(
                        acc,
                        expected,
                        "{name} row {r}, activation vector {i}, format {}",
                        view.ty()
                    );
                }
            }
        }
    }
}

/// (b) Logits at every position of every prompt agree within 1e-5 of that position's largest
/// |logit|.
fn logits_agree(arch: Arch) {
    let (_dir, engines) = engines(arch);
    let vocab = engines[0].model().config().vocab_size;
    for prompt in PROMPTS {
        let tokenizer = engines[0].tokenizer();
        let tokens = tokenizer.encode(prompt, true).expect("prompt tokenizes");
        assert!(
            tokens.len() >= 4,
            "{prompt:?} is too short to test positions"
        );
        let logits: Vec<Vec<f32>> = engines
            .iter()
            .map(|e| e.evaluate(&tokens, LogitsFor::All).expect("evaluates"))
            .collect();
        for (other, format) in logits.iter().zip(FORMATS).skip(1) {
            assert_eq!(other.len(), tokens.len() * vocab);
            for (pos, (a, b)) in logits[0].chunks(vocab).zip(other.chunks(vocab)).enumerate() {
                let max_abs = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(max_abs.is_finite() && max_abs > 0.0);
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    worst <= 1e-5 * max_abs,
                    "{format} vs I2_S, {prompt:?} position {pos}: |Δ| {worst} > 1e-5 · {max_abs}"
                );
            }
        }
    }
}

/// (c) 64 greedy tokens from a raw-text prompt and from a chat are the same in every format.
fn greedy_tokens_agree(arch: Arch) {
    let (_dir, engines) = engines(arch);
    let inputs = PROMPTS.iter().flat_map(|&p| {
        [
            Input::Text { text: p.to_owned() },
            Input::Chat {
                messages: vec![system("You are terse."), user(p)],
            },
        ]
    });
    for input in inputs {
        let runs: Vec<_> = engines
            .iter()
            .map(|e| {
                let mut session = e.session(SessionConfig::default()).expect("a session");
                generate(&mut session, input.clone(), &greedy(64)).expect("generates")
            })
            .collect();
        let (reference, _) = &runs[0];
        assert!(!reference.tokens.is_empty());
        for ((generation, pieces), format) in runs.iter().zip(FORMATS) {
            assert_eq!(generation.tokens, reference.tokens, "{format}, {input:?}");
            assert_eq!(generation.text, reference.text, "{format}, {input:?}");
            assert_eq!(generation.finish_reason, reference.finish_reason);
            assert_eq!(pieces.concat(), generation.text);
        }
    }
}

#[test]
fn accumulators_agree_bitnet() {
    accumulators_agree(Arch::Bitnet);
}

#[test]
fn accumulators_agree_bitnet_b158() {
    accumulators_agree(Arch::BitnetB158);
}

#[test]
fn logits_agree_bitnet() {
    logits_agree(Arch::Bitnet);
}

#[test]
fn logits_agree_bitnet_b158() {
    logits_agree(Arch::BitnetB158);
}

#[test]
fn greedy_tokens_agree_bitnet() {
    greedy_tokens_agree(Arch::Bitnet);
}

#[test]
fn greedy_tokens_agree_bitnet_b158() {
    greedy_tokens_agree(Arch::BitnetB158);
}

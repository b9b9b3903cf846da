//! Logit error of one engine setting against another (the Q8_0 head against the F16 head, the
//! Q8_0 KV cache against the F16 one): both engines see the same tokens and their logits are
//! compared at every position (max |Δlogit|, relative L2 over all logits, top-1 agreement).

use bitnet_core::engine::Engine;
use bitnet_core::model::{KvCache, LogitsFor};

/// Tokens evaluated per forward pass (and logits held at once) when teacher-forcing a text.
const CHUNK: usize = 64;

/// The index of the largest value (the greedy token).
pub fn argmax(x: &[f32]) -> u32 {
    let best = x
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    best as u32
}

/// One engine decoding token by token with its own KV cache.
pub struct Decoder<'e> {
    engine: &'e Engine,
    kv: KvCache,
}

impl<'e> Decoder<'e> {
    /// A decoder whose cache holds `capacity` positions.
    pub fn new(engine: &'e Engine, capacity: usize) -> Self {
        let cfg = engine.model().config();
        let kv = KvCache::new(cfg, capacity, engine.kv_precision());
        Decoder { engine, kv }
    }

    /// The logits of every position of `tokens`, appended to the context.
    pub fn feed(&mut self, tokens: &[u32]) -> Vec<Vec<f32>> {
        let model = self.engine.model();
        let mut scratch = self.engine.scratch(tokens.len(), tokens.len());
        model
            .forward(
                self.engine.executor(),
                tokens,
                &mut self.kv,
                &mut scratch,
                LogitsFor::All,
            )
            .expect("forward");
        scratch
            .logits()
            .chunks_exact(model.config().vocab_size)
            .map(<[f32]>::to_vec)
            .collect()
    }
}

/// The logit error of engine `b` against engine `a` (the reference).
#[derive(Debug, Default)]
pub struct LogitError {
    /// Largest |Δlogit| at any position.
    pub max_abs: f32,
    /// Largest |logit| of the reference (for scale).
    pub max_logit: f32,
    /// `Σ Δ²` and `Σ logit²` over all positions and vocabulary.
    diff_sq: f64,
    ref_sq: f64,
    /// Positions whose top-1 token is the same.
    pub top1_same: usize,
    /// Positions compared.
    pub positions: usize,
    /// `Σ` over positions of the total variation distance `½ Σ |p − q|` between the two
    /// softmax distributions (what a sampler at temperature 1 draws from).
    tv_sum: f64,
    /// Free-running greedy tokens of `b` equal to `a`'s (before the first difference).
    pub greedy_prefix: usize,
    /// Greedy tokens `a` generated.
    pub greedy_tokens: usize,
}

impl LogitError {
    /// `‖Δ‖ / ‖logits‖` over all positions and vocabulary.
    pub fn rel_l2(&self) -> f64 {
        (self.diff_sq / self.ref_sq).sqrt()
    }

    /// The mean total variation distance between the softmax distributions: the largest
    /// difference, over all sets of tokens, in the probability a sampler at temperature 1
    /// gives the set.
    pub fn mean_tv(&self) -> f64 {
        self.tv_sum / self.positions.max(1) as f64
    }

    /// Adds the positions of `a` (reference) and `b`.
    fn add(&mut self, a: &[Vec<f32>], b: &[Vec<f32>]) {
        for (x, y) in a.iter().zip(b) {
            for (&x, &y) in x.iter().zip(y) {
                self.max_abs = self.max_abs.max((x - y).abs());
                self.max_logit = self.max_logit.max(x.abs());
                self.diff_sq += f64::from(x - y).powi(2);
                self.ref_sq += f64::from(x).powi(2);
            }
            self.top1_same += usize::from(argmax(x) == argmax(y));
            let (p, q) = (softmax(x), softmax(y));
            self.tv_sum += 0.5 * p.iter().zip(&q).map(|(p, q)| (p - q).abs()).sum::<f64>();
            self.positions += 1;
        }
    }

    /// Prints the figures under `name`.
    pub fn report(&self, name: &str) {
        println!(
            "{name}: max |Δlogit| {:.4} (max |logit| {:.2}), relative L2 {:.3} %, top-1 \
             agreement {}/{} positions, mean total variation {:.4}, free-running greedy \
             identical for {}/{} tokens",
            self.max_abs,
            self.max_logit,
            100.0 * self.rel_l2(),
            self.top1_same,
            self.positions,
            self.mean_tv(),
            self.greedy_prefix,
            self.greedy_tokens
        );
    }
}

/// The softmax of `logits` in f64.
fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let e: Vec<f64> = logits.iter().map(|&x| (f64::from(x) - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|e| e / sum).collect()
}

/// For each prompt, `a` decodes `generated` greedy tokens and both engines' logits are
/// compared at every position of that sequence; `b`'s own free-running greedy tokens are
/// compared too.
pub fn compare_generated(a: &Engine, b: &Engine, prompts: &[&str], generated: usize) -> LogitError {
    let mut e = LogitError::default();
    for prompt in prompts {
        let prompt = a.tokenizer().encode(prompt, true).expect("tokenizes");
        let capacity = prompt.len() + generated;
        let (mut da, mut db) = (Decoder::new(a, capacity), Decoder::new(b, capacity));
        let (mut la, mut lb) = (da.feed(&prompt), db.feed(&prompt));
        let mut tokens = Vec::new();
        for step in 0..=generated {
            e.add(&la, &lb);
            if step == generated {
                break;
            }
            let next = argmax(la.last().expect("logits"));
            tokens.push(next);
            (la, lb) = (da.feed(&[next]), db.feed(&[next]));
        }
        // `b` decoding on its own.
        let mut c = Decoder::new(b, capacity);
        let mut logits = c.feed(&prompt);
        let mut same = true;
        for &expected in &tokens {
            let next = argmax(logits.last().expect("logits"));
            same &= next == expected;
            e.greedy_prefix += usize::from(same);
            logits = c.feed(&[next]);
        }
        e.greedy_tokens += tokens.len();
    }
    e
}

/// Teacher-forces `text` through both engines: its tokens in windows of `window` positions
/// (one fresh context each, at most the model's context), each fed in chunks of 64, until
/// `positions` positions are compared (or the text ends).
pub fn compare_text(
    a: &Engine,
    b: &Engine,
    text: &str,
    window: usize,
    positions: usize,
) -> LogitError {
    let tokens = a.tokenizer().encode(text, true).expect("tokenizes");
    let window = window.min(a.model().config().n_ctx_train);
    let mut e = LogitError::default();
    for window in tokens.chunks(window) {
        let (mut da, mut db) = (Decoder::new(a, window.len()), Decoder::new(b, window.len()));
        for chunk in window.chunks(CHUNK) {
            e.add(&da.feed(chunk), &db.feed(chunk));
            if e.positions >= positions {
                return e;
            }
        }
    }
    e
}

/// docs/ARCHITECTURE.md: a long English text every model's tokenizer can encode.
pub fn default_text() -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

//! Choosing the next token from the model's logits.
//!
//! The chain follows llama.cpp's common sampler: repetition penalty → top-k → top-p → min-p
//! → temperature → a seeded draw (`ChaCha8Rng`). Temperature 0 — and any below
//! [`GREEDY_BELOW_TEMPERATURE`] — is greedy: the highest (penalised) logit, the lowest id on
//! ties. NaN and infinite logits are never picked.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Temperatures below this (but ≥ 0) sample greedily: dividing logits by them would overflow
/// f32 or leave one candidate with all the probability anyway.
pub const GREEDY_BELOW_TEMPERATURE: f32 = 1e-6;

/// Why sampling parameters or logits were rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// Temperature must be finite and ≥ 0.
    #[error("temperature {0} must be finite and >= 0")]
    Temperature(f32),
    /// Top-p must be in (0, 1].
    #[error("top_p {0} must be in (0, 1]")]
    TopP(f32),
    /// Min-p must be in [0, 1].
    #[error("min_p {0} must be in [0, 1]")]
    MinP(f32),
    /// The repetition penalty must be finite and > 0.
    #[error("repetition_penalty {0} must be finite and > 0")]
    RepetitionPenalty(f32),
    /// No logit was finite (or there were none), so no token can be chosen.
    #[error("no finite logit among {0}")]
    NoFiniteLogit(usize),
}

/// How to choose tokens. The default is greedy with every filter off.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SamplingParams {
    /// Divides the logits before the draw; 0 (or below [`GREEDY_BELOW_TEMPERATURE`]) means
    /// greedy (argmax).
    #[cfg_attr(feature = "uniffi", uniffi(default = 0.0))]
    pub temperature: f32,
    /// Keep only the `top_k` highest logits; 0 turns the filter off.
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`;
    /// 1 turns the filter off.
    #[cfg_attr(feature = "uniffi", uniffi(default = 1.0))]
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 turns it off.
    #[cfg_attr(feature = "uniffi", uniffi(default = 0.0))]
    pub min_p: f32,
    /// Logits of recently seen tokens: positive ones divided by it, others multiplied
    /// (llama.cpp's rule); 1 turns it off.
    #[cfg_attr(feature = "uniffi", uniffi(default = 1.0))]
    pub repetition_penalty: f32,
    /// How many of the most recent tokens (tokens) the penalty looks at.
    #[cfg_attr(feature = "uniffi", uniffi(default = 64))]
    pub repeat_last_n: usize,
    /// Seed of the random draw: the same seed and inputs give the same tokens.
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Checks every value's range (NaN is always out of range).
    pub fn validate(&self) -> Result<(), SamplingError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(SamplingError::Temperature(self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SamplingError::TopP(self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(SamplingError::MinP(self.min_p));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(SamplingError::RepetitionPenalty(self.repetition_penalty));
        }
        Ok(())
    }
}

/// A token still in the running: its id, (penalised, scaled) logit and probability.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    id: u32,
    logit: f32,
    p: f32,
}

/// Highest logit first, lower id first among equal logits (logits are finite here).
fn by_logit_desc(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Draws tokens by [`SamplingParams`]. Keeps its buffers between calls, so sampling does
/// not allocate once they have grown to the vocabulary size.
#[derive(Debug)]
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
    candidates: Vec<Candidate>,
    /// The distinct tokens of the penalty window, sorted.
    window: Vec<u32>,
}

impl Sampler {
    /// Bytes the candidate buffer takes for a `vocab`-token vocabulary (one candidate per
    /// token), for memory estimates.
    pub fn buffer_bytes(vocab: usize) -> u64 {
        (vocab * std::mem::size_of::<Candidate>()) as u64
    }

    /// A sampler for valid `params`, its random stream seeded with `params.seed`.
    pub fn new(params: SamplingParams) -> Result<Self, SamplingError> {
        params.validate()?;
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            params,
            candidates: Vec::new(),
            window: Vec::new(),
        })
    }

    /// The parameters in use.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Chooses the next token from `logits` (one per token id); `recent` is the token
    /// history (oldest first) the repetition penalty looks at. Fails only when no logit is
    /// finite.
    pub fn sample(&mut self, logits: &[f32], recent: &[u32]) -> Result<u32, SamplingError> {
        self.candidates.clear();
        self.candidates
            .extend(
                (0u32..)
                    .zip(logits)
                    .map(|(id, &logit)| Candidate { id, logit, p: 0.0 }),
            );
        self.penalize(recent);
        self.candidates.retain(|c| c.logit.is_finite());
        if self.candidates.is_empty() {
            return Err(SamplingError::NoFiniteLogit(logits.len()));
        }

        if self.params.temperature < GREEDY_BELOW_TEMPERATURE {
            // Candidates are in id order: the first maximum is the lowest id.
            let best = self.candidates.iter().fold(self.candidates[0], |best, &c| {
                if c.logit > best.logit {
                    c
                } else {
                    best
                }
            });
            return Ok(best.id);
        }

        self.top_k();
        self.top_p();
        self.min_p();
        let inv_t = 1.0 / self.params.temperature;
        for c in &mut self.candidates {
            c.logit *= inv_t;
        }
        self.softmax();
        Ok(self.draw())
    }

    /// llama.cpp's repetition penalty on each distinct token among the last
    /// `repeat_last_n` of `recent`. Runs while `candidates[i].id == i`.
    fn penalize(&mut self, recent: &[u32]) {
        let penalty = self.params.repetition_penalty;
        if penalty == 1.0 || self.params.repeat_last_n == 0 {
            return;
        }
        let start = recent.len().saturating_sub(self.params.repeat_last_n);
        self.window.clear();
        self.window.extend_from_slice(&recent[start..]);
        self.window.sort_unstable();
        self.window.dedup();
        for &id in &self.window {
            if let Some(c) = self.candidates.get_mut(id as usize) {
                if c.logit <= 0.0 {
                    c.logit *= penalty;
                } else {
                    c.logit /= penalty;
                }
            }
        }
    }

    /// Keeps the `top_k` highest logits (unordered).
    fn top_k(&mut self) {
        let k = self.params.top_k;
        if k == 0 || k >= self.candidates.len() {
            return;
        }
        self.candidates.select_nth_unstable_by(k - 1, by_logit_desc);
        self.candidates.truncate(k);
    }

    /// Keeps the most likely tokens, in order, until their probability reaches `top_p`.
    fn top_p(&mut self) {
        if self.params.top_p >= 1.0 {
            return;
        }
        self.candidates.sort_unstable_by(by_logit_desc);
        self.softmax();
        let mut cumulative = 0.0;
        let mut keep = self.candidates.len();
        for (i, c) in self.candidates.iter().enumerate() {
            cumulative += c.p;
            if cumulative >= self.params.top_p {
                keep = i + 1;
                break;
            }
        }
        self.candidates.truncate(keep);
    }

    /// Drops tokens whose probability is below `min_p` × the highest: on logits, those below
    /// `max_logit + ln(min_p)`.
    fn min_p(&mut self) {
        if self.params.min_p <= 0.0 {
            return;
        }
        let max = self.max_logit();
        let threshold = max + self.params.min_p.ln();
        self.candidates.retain(|c| c.logit >= threshold);
    }

    fn max_logit(&self) -> f32 {
        self.candidates
            .iter()
            .map(|c| c.logit)
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// Sets each candidate's `p` to its softmax probability over the candidates.
    fn softmax(&mut self) {
        let max = self.max_logit();
        let mut sum = 0.0;
        for c in &mut self.candidates {
            c.p = (c.logit - max).exp();
            sum += c.p;
        }
        for c in &mut self.candidates {
            c.p /= sum;
        }
    }

    /// Draws one candidate with probability `p` (which sum to 1).
    fn draw(&mut self) -> u32 {
        let u: f32 = self.rng.random();
        let mut cumulative = 0.0;
        for c in &self.candidates {
            cumulative += c.p;
            if u < cumulative {
                return c.id;
            }
        }
        // Rounding left the sum just below `u`: the last candidate owns the remainder.
        self.candidates[self.candidates.len() - 1].id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(params: SamplingParams) -> Sampler {
        Sampler::new(params).expect("valid params")
    }

    #[test]
    fn the_candidate_buffer_is_what_the_estimate_counts() {
        let logits: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        for params in [SamplingParams::default(), random(0.8, 3)] {
            let mut s = sampler(params);
            s.sample(&logits, &[1, 2, 3]).expect("samples");
            s.sample(&logits, &[]).expect("samples");
            let held = s.candidates.capacity() * std::mem::size_of::<Candidate>();
            assert_eq!(held as u64, Sampler::buffer_bytes(logits.len()));
        }
    }

    fn random(temperature: f32, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            seed,
            ..SamplingParams::default()
        }
    }

    /// Frequency of each id over `n` draws.
    fn frequencies(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<f64> {
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[s.sample(logits, &[]).expect("sample") as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    fn ln_probs(p: &[f32]) -> Vec<f32> {
        p.iter().map(|x| x.ln()).collect()
    }

    #[test]
    fn greedy_picks_argmax_lowest_id_on_ties_and_skips_nan() {
        let mut s = sampler(SamplingParams::default());
        assert_eq!(s.sample(&[0.1, 3.0, -2.0, 1.0], &[]), Ok(1));
        assert_eq!(s.sample(&[1.0, 5.0, 5.0, 5.0], &[]), Ok(1));
        assert_eq!(s.sample(&[f32::NAN, 0.5, f32::NAN, 0.7], &[]), Ok(3));
        assert_eq!(s.sample(&[f32::INFINITY, 0.5, f32::NAN], &[]), Ok(1));
        assert_eq!(
            s.sample(&[f32::NAN, f32::NEG_INFINITY], &[]),
            Err(SamplingError::NoFiniteLogit(2))
        );
        assert_eq!(s.sample(&[], &[]), Err(SamplingError::NoFiniteLogit(0)));
    }

    #[test]
    fn tiny_temperatures_are_greedy() {
        let logits = [0.0, 2.0, 1.0, 2.0 - 1e-3];
        for temperature in [1e-40, f32::MIN_POSITIVE, 1e-7] {
            for seed in 0..20 {
                let mut s = sampler(random(temperature, seed));
                assert_eq!(s.sample(&logits, &[]), Ok(1), "temperature {temperature}");
            }
        }
        // At the threshold the draw is random again (and still picks the clear maximum).
        let mut s = sampler(random(GREEDY_BELOW_TEMPERATURE, 1));
        assert_eq!(s.sample(&[0.0, 2.0, 1.0], &[]), Ok(1));
    }

    #[test]
    fn random_sampling_never_picks_nan() {
        let mut s = sampler(random(1.0, 3));
        let logits = [f32::NAN, 0.0, f32::NAN, 0.0];
        for _ in 0..200 {
            assert!(matches!(s.sample(&logits, &[]), Ok(1 | 3)));
        }
    }

    #[test]
    fn repetition_penalty_follows_llama_cpp_rule() {
        let params = SamplingParams {
            repetition_penalty: 2.0,
            repeat_last_n: 3,
            ..SamplingParams::default()
        };
        let mut s = sampler(params);
        // Token 0: 3.0 / 2 = 1.5 < 2.0 (token 1), so 1 wins; repeats count once.
        assert_eq!(s.sample(&[3.0, 2.0], &[0, 0, 0]), Ok(1));
        // Negative logits are multiplied: token 0 goes from -1.0 to -2.0, below -1.5.
        assert_eq!(s.sample(&[-1.0, -1.5], &[0]), Ok(1));
        // Only the last `repeat_last_n` tokens count: token 0 is outside the window.
        assert_eq!(s.sample(&[3.0, 2.0], &[0, 5, 6, 7]), Ok(0));
        // Ids outside the vocabulary are ignored.
        assert_eq!(s.sample(&[3.0, 2.0], &[99]), Ok(0));
    }

    #[test]
    fn top_k_keeps_the_k_best() {
        let logits = [0.0, 2.0, 1.9, -1.0, 1.8];
        let mut s = sampler(SamplingParams {
            top_k: 2,
            ..random(5.0, 1)
        });
        let f = frequencies(&mut s, &logits, 2000);
        assert_eq!(f[0] + f[3] + f[4], 0.0);
        assert!(f[1] > 0.3 && f[2] > 0.3, "{f:?}");
        let mut s = sampler(SamplingParams {
            top_k: 1,
            ..random(100.0, 1)
        });
        assert!(frequencies(&mut s, &logits, 200)[1] == 1.0);
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        let logits = ln_probs(&[0.2, 0.5, 0.3]);
        let mut s = sampler(SamplingParams {
            top_p: 0.45,
            ..random(1.0, 2)
        });
        assert_eq!(frequencies(&mut s, &logits, 500)[1], 1.0);
        let mut s = sampler(SamplingParams {
            top_p: 0.75,
            ..random(1.0, 2)
        });
        let f = frequencies(&mut s, &logits, 4000);
        assert_eq!(f[0], 0.0);
        // Renormalised over {0.5, 0.3}: 0.625 and 0.375.
        assert!((f[1] - 0.625).abs() < 0.03, "{f:?}");
    }

    #[test]
    fn min_p_drops_tokens_below_a_fraction_of_the_best() {
        let logits = ln_probs(&[0.1, 0.45, 0.3, 0.15]);
        let mut s = sampler(SamplingParams {
            min_p: 0.5,
            ..random(1.0, 4)
        });
        let f = frequencies(&mut s, &logits, 4000);
        // Threshold 0.225: only 0.45 and 0.3 stay.
        assert_eq!(f[0] + f[3], 0.0);
        assert!((f[1] - 0.6).abs() < 0.03, "{f:?}");
    }

    #[test]
    fn draws_follow_the_softmax_distribution() {
        let p = [0.1f32, 0.2, 0.3, 0.4];
        let mut s = sampler(random(1.0, 11));
        let f = frequencies(&mut s, &ln_probs(&p), 20_000);
        for (got, want) in f.iter().zip(p) {
            assert!((got - f64::from(want)).abs() < 0.015, "{f:?}");
        }
        // Temperature 0.5 squares the probabilities (then renormalises): 1, 4, 9, 16 / 30.
        let mut s = sampler(random(0.5, 11));
        let f = frequencies(&mut s, &ln_probs(&p), 20_000);
        for (got, want) in f.iter().zip([1.0, 4.0, 9.0, 16.0]) {
            assert!((got - want / 30.0).abs() < 0.015, "{f:?}");
        }
    }

    #[test]
    fn same_seed_same_tokens_other_seed_other_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let run = |seed| {
            let mut s = sampler(SamplingParams {
                top_k: 40,
                top_p: 0.95,
                min_p: 0.05,
                repetition_penalty: 1.1,
                ..random(0.8, seed)
            });
            let mut history = Vec::new();
            for _ in 0..64 {
                let id = s.sample(&logits, &history).expect("sample");
                history.push(id);
            }
            history
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn invalid_params_are_typed_errors() {
        let with = |edit: fn(&mut SamplingParams)| {
            let mut p = SamplingParams::default();
            edit(&mut p);
            Sampler::new(p).map(|_| ())
        };
        assert_eq!(with(|_| {}), Ok(()));
        assert!(matches!(
            with(|p| p.temperature = -0.1),
            Err(SamplingError::Temperature(_))
        ));
        assert!(matches!(
            with(|p| p.temperature = f32::NAN),
            Err(SamplingError::Temperature(_))
        ));
        assert!(matches!(
            with(|p| p.temperature = f32::INFINITY),
            Err(SamplingError::Temperature(_))
        ));
        assert!(matches!(
            with(|p| p.top_p = 0.0),
            Err(SamplingError::TopP(_))
        ));
        assert!(matches!(
            with(|p| p.top_p = 1.5),
            Err(SamplingError::TopP(_))
        ));
        assert!(matches!(
            with(|p| p.top_p = f32::NAN),
            Err(SamplingError::TopP(_))
        ));
        assert!(matches!(
            with(|p| p.min_p = -0.1),
            Err(SamplingError::MinP(_))
        ));
        assert!(matches!(
            with(|p| p.min_p = f32::NAN),
            Err(SamplingError::MinP(_))
        ));
        assert!(matches!(
            with(|p| p.repetition_penalty = 0.0),
            Err(SamplingError::RepetitionPenalty(_))
        ));
        assert!(matches!(
            with(|p| p.repetition_penalty = f32::NAN),
            Err(SamplingError::RepetitionPenalty(_))
        ));
        assert_eq!(with(|p| p.min_p = 1.0), Ok(()));
        assert_eq!(with(|p| p.top_p = 1.0), Ok(()));
    }
}

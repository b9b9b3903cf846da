//! `sampling`: arbitrary sampling parameters (NaN, infinities, huge and negative values
//! included) and arbitrary logits and recent ids through `Sampler`.
//!
//! Checks: `Sampler::new` accepts exactly what `validate` accepts; a sampled id is inside
//! the logits and its logit is finite; the only error is `NoFiniteLogit` over all the logits;
//! greedy sampling without a penalty picks the first largest finite logit; the same seed and
//! inputs give the same id; a sampler keeps working on its next call.

use arbitrary::{Arbitrary, Unstructured};
use bitnet_core::sampling::{Sampler, SamplingError, SamplingParams, GREEDY_BELOW_TEMPERATURE};

/// An `f32` as the fuzzer chooses it: a special value, a small one, or any bit pattern.
#[derive(Debug, Clone, Copy)]
struct Float(f32);

impl<'a> Arbitrary<'a> for Float {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const SPECIAL: [f32; 12] = [
            0.0,
            -0.0,
            1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f32::EPSILON,
            GREEDY_BELOW_TEMPERATURE,
            1e30,
        ];
        Ok(Float(match u8::arbitrary(u)? % 4 {
            0 => SPECIAL[usize::from(u8::arbitrary(u)?) % SPECIAL.len()],
            1 => f32::from_bits(u32::arbitrary(u)?),
            // Steps of 1/256 in [-128, 128): the ordinary range of logits and parameters.
            _ => f32::from(i16::arbitrary(u)?) / 256.0,
        }))
    }
}

/// A structured input.
#[derive(Arbitrary, Debug)]
struct Input {
    temperature: Float,
    top_k: usize,
    top_p: Float,
    min_p: Float,
    repetition_penalty: Float,
    repeat_last_n: usize,
    seed: u64,
    recent: Vec<u32>,
    logits: Vec<Float>,
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let params = SamplingParams {
        temperature: input.temperature.0,
        top_k: input.top_k,
        top_p: input.top_p.0,
        min_p: input.min_p.0,
        repetition_penalty: input.repetition_penalty.0,
        repeat_last_n: input.repeat_last_n,
        seed: input.seed,
    };
    let sampler = Sampler::new(params.clone());
    assert_eq!(sampler.is_ok(), params.validate().is_ok());
    let Ok(mut sampler) = sampler else {
        return;
    };
    let logits: Vec<f32> = input.logits.iter().map(|f| f.0).collect();
    let mut recent = input.recent;
    let first = sampler.sample(&logits, &recent);
    check(&params, &logits, &recent, &first);
    let mut again = Sampler::new(params.clone()).expect("valid above");
    assert_eq!(
        again.sample(&logits, &recent),
        first,
        "same seed, other token"
    );
    if let Ok(id) = first {
        recent.push(id);
        let next = sampler.sample(&logits, &recent);
        check(&params, &logits, &recent, &next);
    }
}

/// What any result of `sample(logits, recent)` must satisfy.
fn check(
    params: &SamplingParams,
    logits: &[f32],
    recent: &[u32],
    result: &Result<u32, SamplingError>,
) {
    match *result {
        Ok(id) => {
            let logit = logits
                .get(id as usize)
                .expect("the id is inside the logits");
            assert!(logit.is_finite(), "picked a non-finite logit");
            let unpenalized =
                params.repetition_penalty == 1.0 || params.repeat_last_n == 0 || recent.is_empty();
            if params.temperature < GREEDY_BELOW_TEMPERATURE && unpenalized {
                let best = logits
                    .iter()
                    .copied()
                    .filter(|l| l.is_finite())
                    .fold(f32::NEG_INFINITY, f32::max);
                let first_best = logits.iter().position(|&l| l == best);
                assert_eq!(
                    first_best,
                    Some(id as usize),
                    "greedy missed the first maximum"
                );
            }
        }
        Err(SamplingError::NoFiniteLogit(n)) => assert_eq!(n, logits.len()),
        Err(ref e) => panic!("sampling valid parameters failed: {e}"),
    }
}

//! Attention over the KV cache: one query head against the cached positions of its kv head.
//!
//! The scores use the table's canonical float dots ([`super::FloatDotFn`]), the softmax is
//! shared scalar code, and the weighted sum of values uses the table's f16 multiply-add
//! ([`super::F16AxpyFn`]), whose products and sums are elementwise, so every table gives the
//! scalar table's output bit for bit.

use super::{check_len, KernelError, Kernels};

/// One kv head's cached keys or values at positions `0..n`: `n` rows of `head_dim` values,
/// position-major, back to back.
#[derive(Clone, Copy, Debug)]
pub enum KvRows<'a> {
    /// Little-endian IEEE f16: `2 · head_dim` bytes per position.
    F16(&'a [u8]),
    /// f32: `head_dim` values per position.
    F32(&'a [f32]),
}

impl KvRows<'_> {
    /// Values held (`n · head_dim`).
    fn values(&self) -> usize {
        match self {
            KvRows::F16(bytes) => bytes.len() / 2,
            KvRows::F32(values) => values.len(),
        }
    }
}

impl Kernels {
    /// Causal attention of one query head `q` (`head_dim` floats) over the `scores.len()`
    /// positions of `keys` and `values` (each `scores.len() · head_dim` values):
    /// `scores[j] = (k_j · q) · scale` by the canonical float dot, then a softmax (max
    /// subtracted, sum in f64), then `out = Σ_j p_j · v_j` added in position order (each
    /// product rounded to f32 before its add). `out` has `head_dim` floats.
    pub fn attend(
        &self,
        q: &[f32],
        keys: KvRows<'_>,
        values: KvRows<'_>,
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let hd = q.len();
        check_len("attention output", hd, out.len())?;
        check_len("attention keys", scores.len() * hd, keys.values())?;
        check_len("attention values", scores.len() * hd, values.values())?;
        if hd == 0 {
            out.fill(0.0);
            return Ok(()); // `chunks_exact(0)` would panic
        }
        match keys {
            KvRows::F16(k) => {
                for (s, k) in scores.iter_mut().zip(k.chunks_exact(2 * hd)) {
                    *s = (self.dot_f16)(k, q) * scale;
                }
            }
            KvRows::F32(k) => {
                for (s, k) in scores.iter_mut().zip(k.chunks_exact(hd)) {
                    *s = (self.dot_f32)(k, q) * scale;
                }
            }
        }
        softmax_in_place(scores);
        out.fill(0.0);
        match values {
            KvRows::F16(v) => {
                for (&p, v) in scores.iter().zip(v.chunks_exact(2 * hd)) {
                    (self.axpy_f16)(out, p, v);
                }
            }
            KvRows::F32(v) => {
                for (&p, v) in scores.iter().zip(v.chunks_exact(hd)) {
                    for (o, &v) in out.iter_mut().zip(v) {
                        *o += p * v;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Numerically stable softmax in place: `exp(x − max)` in f32, normalised by the f64 sum.
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn to_f16_bytes(v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect()
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut x = [1.0f32, 3.0, 2.0, -100.0];
        softmax_in_place(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[2] && x[2] > x[0] && x[0] > x[3]);
    }

    /// The definition, written out: f32 keys/values as f16 round trips.
    fn reference(q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
        let hd = q.len();
        let mut scores: Vec<f32> = k
            .chunks_exact(hd)
            .map(|k| k.iter().zip(q).map(|(a, b)| a * b).sum::<f32>() * scale)
            .collect();
        softmax_in_place(&mut scores);
        let mut out = vec![0f32; hd];
        for (p, v) in scores.iter().zip(v.chunks_exact(hd)) {
            for (o, v) in out.iter_mut().zip(v) {
                *o += p * v;
            }
        }
        out
    }

    #[test]
    fn every_table_matches_scalar_and_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (hd, positions) in [(1, 1), (8, 3), (17, 5), (64, 1), (128, 37), (80, 200)] {
            let mut rand =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect() };
            let q = rand(hd);
            // Values exactly representable in f16, so both precisions hold the same numbers.
            let round = |v: Vec<f32>| -> Vec<f32> {
                v.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
            };
            let (k, v) = (round(rand(hd * positions)), round(rand(hd * positions)));
            let (k16, v16) = (to_f16_bytes(&k), to_f16_bytes(&v));
            let scale = 1.0 / (hd as f32).sqrt();
            let run = |kernels: &Kernels, keys, values| {
                let (mut scores, mut out) = (vec![0f32; positions], vec![f32::NAN; hd]);
                kernels
                    .attend(&q, keys, values, scale, &mut scores, &mut out)
                    .expect("shapes");
                out
            };
            let scalar = Kernels::scalar();
            let expected = run(scalar, KvRows::F16(&k16), KvRows::F16(&v16));
            let f32_cache = run(scalar, KvRows::F32(&k), KvRows::F32(&v));
            assert_eq!(f32_cache, expected, "f16 and f32 caches of the same values");
            for (got, want) in expected.iter().zip(reference(&q, &k, &v, scale)) {
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{got} vs {want}"
                );
            }
            for table in Kernels::available() {
                let got = run(table, KvRows::F16(&k16), KvRows::F16(&v16));
                let same = got
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{} hd {hd} × {positions}", table.name());
            }
        }
    }

    #[test]
    fn shape_errors_are_typed() {
        let k = Kernels::scalar();
        let (q, kv) = ([1.0f32; 4], [0u8; 16]);
        let mut out = [0f32; 4];
        let err = k
            .attend(
                &q,
                KvRows::F16(&kv),
                KvRows::F16(&kv),
                1.0,
                &mut [0.0; 3],
                &mut out,
            )
            .expect_err("3 positions need 24 bytes");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention keys",
                ..
            }
        ));
        let err = k
            .attend(
                &q,
                KvRows::F16(&kv),
                KvRows::F16(&kv),
                1.0,
                &mut [0.0; 2],
                &mut [0.0; 3],
            )
            .expect_err("short output");
        assert!(matches!(err, KernelError::Length { .. }));
    }
}

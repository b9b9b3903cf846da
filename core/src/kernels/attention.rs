//! Attention over the KV cache: the query heads that share one kv head against its cached
//! positions.
//!
//! F16 and F32 caches: the scores use the table's canonical float dots ([`super::F16DotFn`]
//! reads each cached key once for up to 4 of the group's heads), and each head's weighted sum
//! of values uses the table's [`super::F16WeightedSumFn`]. Q8_0 caches: the query heads are
//! quantised to Q8_0 blocks ([`Q8Acts`], as ggml quantises the activations of a q8_0 · q8_0
//! dot) and scored by the table's [`super::Q8KeyDotFn`] (exact int32 block sums, fixed float
//! order); the values go through [`super::Q8WeightedSumFn`]. The softmax is shared scalar code.
//! Every weighted sum is elementwise in position order, so every table gives the scalar
//! table's output bit for bit, and a head's output does not depend on which heads it was
//! grouped with.

use super::{check_len, math, KernelError, Kernels, Q8Acts};
use crate::quant::{BlockFormat, BlockQ8_0};

/// One kv head's cached keys or values at positions `0..n`: `n` rows of `head_dim` values,
/// position-major, back to back.
#[derive(Clone, Copy, Debug)]
pub enum KvRows<'a> {
    /// Little-endian IEEE f16: `2 · head_dim` bytes per position.
    F16(&'a [u8]),
    /// f32: `head_dim` values per position.
    F32(&'a [f32]),
    /// Q8_0 blocks (ggml's `block_q8_0`, see [`BlockQ8_0`]): each row is `⌈head_dim / 32⌉`
    /// blocks of 34 bytes (an f16 scale, then 32 int8), the last block's values past
    /// `head_dim` zero: `34 · ⌈head_dim / 32⌉` bytes per position.
    Q8_0(&'a [u8]),
}

/// Q8_0 blocks per cached row of `head_dim` values.
pub(crate) fn q8_0_blocks(head_dim: usize) -> usize {
    head_dim.div_ceil(BlockQ8_0::LEN)
}

impl KvRows<'_> {
    /// Checks that the rows hold `n` positions of `head_dim` values, for the buffer `what`.
    fn check(&self, what: &'static str, head_dim: usize, n: usize) -> Result<(), KernelError> {
        match self {
            KvRows::F16(bytes) => check_len(what, 2 * n * head_dim, bytes.len()),
            KvRows::F32(values) => check_len(what, n * head_dim, values.len()),
            KvRows::Q8_0(bytes) => {
                let row = BlockQ8_0::BYTES * q8_0_blocks(head_dim);
                check_len(what, n * row, bytes.len())
            }
        }
    }
}

impl Kernels {
    /// Causal attention of `q.len() / head_dim` query heads `q` (head-major, `head_dim` floats
    /// each) sharing one kv head, over the `n = scores.len() / heads` positions of `keys` and
    /// `values` (each `n` rows of `head_dim` values, see [`KvRows`]). For each head:
    /// `scores[j] = (k_j · q) · scale` by the canonical float dot (Q8_0 keys: the canonical
    /// Q8_0 dot with `q` quantised to Q8_0 blocks), then a softmax (max subtracted, sum in
    /// f64), then `out = Σ_j p_j · v_j` added in position order (each product fused with its
    /// add).
    /// `scores` (`heads · n` floats) is scratch; `out` gets the heads' outputs, head-major.
    #[allow(clippy::too_many_arguments)]
    pub fn attend(
        &self,
        head_dim: usize,
        q: &[f32],
        keys: KvRows<'_>,
        values: KvRows<'_>,
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_len("attention output", q.len(), out.len())?;
        if head_dim == 0 || q.is_empty() {
            out.fill(0.0);
            return Ok(()); // `chunks_exact(0)` would panic; no heads, nothing to do
        }
        let heads = q.len() / head_dim;
        check_len("attention queries", heads * head_dim, q.len())?;
        let n = scores.len() / heads;
        check_len("attention scores", heads * n, scores.len())?;
        keys.check("attention keys", head_dim, n)?;
        values.check("attention values", head_dim, n)?;
        if n == 0 {
            out.fill(0.0);
            return Ok(());
        }
        match keys {
            KvRows::F16(k) => {
                // One call for every key (the table loops over them): position-major dots.
                let mut dots = vec![0f32; n * heads];
                (self.dot_f16)(k, q, head_dim, &mut dots);
                for (j, dots) in dots.chunks_exact(heads).enumerate() {
                    for (h, &dot) in dots.iter().enumerate() {
                        scores[h * n + j] = dot * scale;
                    }
                }
            }
            KvRows::Q8_0(k) => {
                let blocks = q8_0_blocks(head_dim);
                let mut acts = Q8Acts::default();
                if head_dim == BlockQ8_0::LEN * blocks {
                    acts.quantize(q)?;
                } else {
                    // Each head zero-padded to whole blocks, as the cached rows are.
                    let mut padded = vec![0f32; heads * BlockQ8_0::LEN * blocks];
                    let rows = padded.chunks_exact_mut(BlockQ8_0::LEN * blocks);
                    for (row, q) in rows.zip(q.chunks_exact(head_dim)) {
                        row[..head_dim].copy_from_slice(q);
                    }
                    acts.quantize(&padded)?;
                }
                let mut dots = vec![0f32; n * heads];
                (self.dot_q8_0_keys)(k, &acts, blocks, &mut dots);
                for (j, dots) in dots.chunks_exact(heads).enumerate() {
                    for (h, &dot) in dots.iter().enumerate() {
                        scores[h * n + j] = dot * scale;
                    }
                }
            }
            KvRows::F32(k) => {
                let heads_scores = scores.chunks_exact_mut(n);
                for (q, scores) in q.chunks_exact(head_dim).zip(heads_scores) {
                    for (s, k) in scores.iter_mut().zip(k.chunks_exact(head_dim)) {
                        *s = (self.dot_f32)(k, q) * scale;
                    }
                }
            }
        }
        let padded_len = BlockQ8_0::LEN * q8_0_blocks(head_dim);
        let mut padded = match values {
            KvRows::Q8_0(_) if padded_len != head_dim => vec![0f32; padded_len],
            _ => Vec::new(),
        };
        let heads_out = out.chunks_exact_mut(head_dim);
        for (p, out) in scores.chunks_exact_mut(n).zip(heads_out) {
            softmax_in_place(p);
            match values {
                KvRows::F16(v) => (self.weighted_sum_f16)(v, p, out),
                KvRows::Q8_0(v) if padded.is_empty() => (self.weighted_sum_q8_0)(v, p, out),
                KvRows::Q8_0(v) => {
                    (self.weighted_sum_q8_0)(v, p, &mut padded);
                    out.copy_from_slice(&padded[..head_dim]);
                }
                KvRows::F32(v) => {
                    out.fill(0.0);
                    for (&p, v) in p.iter().zip(v.chunks_exact(head_dim)) {
                        for (o, &v) in out.iter_mut().zip(v) {
                            *o = p.mul_add(v, *o);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Numerically stable softmax in place: `exp(x − max)` in f32 by [`math::exp`], normalised by
/// their sum in f64 by [`math::sum_f64`].
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v = math::exp(*v - max);
    }
    let sum = math::sum_f64(x, f64::from);
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
        let shapes = [
            (1, 1, 1),
            (8, 3, 2),
            (17, 5, 3),
            (64, 1, 4),
            (128, 37, 4),
            (80, 200, 9),
        ];
        for (hd, positions, heads) in shapes {
            let mut rand =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect() };
            let q = rand(heads * hd);
            // Values exactly representable in f16, so both precisions hold the same numbers.
            let round = |v: Vec<f32>| -> Vec<f32> {
                v.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
            };
            let (k, v) = (round(rand(hd * positions)), round(rand(hd * positions)));
            let (k16, v16) = (to_f16_bytes(&k), to_f16_bytes(&v));
            let scale = 1.0 / (hd as f32).sqrt();
            let run = |kernels: &Kernels, q: &[f32], keys, values| {
                let g = q.len() / hd;
                let (mut scores, mut out) = (vec![0f32; g * positions], vec![f32::NAN; g * hd]);
                kernels
                    .attend(hd, q, keys, values, scale, &mut scores, &mut out)
                    .expect("shapes");
                out
            };
            let scalar = Kernels::scalar();
            let expected = run(scalar, &q, KvRows::F16(&k16), KvRows::F16(&v16));
            let f32_cache = run(scalar, &q, KvRows::F32(&k), KvRows::F32(&v));
            assert_eq!(f32_cache, expected, "f16 and f32 caches of the same values");
            // Each head alone gives what it gave in the group.
            let alone: Vec<f32> = q
                .chunks_exact(hd)
                .flat_map(|q| run(scalar, q, KvRows::F16(&k16), KvRows::F16(&v16)))
                .collect();
            assert_eq!(alone, expected, "hd {hd}: grouped and alone");
            for (q, got) in q.chunks_exact(hd).zip(expected.chunks_exact(hd)) {
                for (got, want) in got.iter().zip(reference(q, &k, &v, scale)) {
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{got} vs {want}"
                    );
                }
            }
            for table in Kernels::available() {
                let got = run(table, &q, KvRows::F16(&k16), KvRows::F16(&v16));
                let same = got
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{} hd {hd} × {positions}, {heads} heads",
                    table.name()
                );
            }
        }
    }

    /// Rows of `hd` values as [`KvRows::Q8_0`] stores them (the cache's quantiser).
    fn to_q8_rows(v: &[f32], hd: usize) -> Vec<u8> {
        let row = BlockQ8_0::BYTES * q8_0_blocks(hd);
        let mut bytes = vec![0u8; v.len() / hd * row];
        for (v, out) in v.chunks_exact(hd).zip(bytes.chunks_exact_mut(row)) {
            crate::model::Q8Row::write(v, out);
        }
        bytes
    }

    #[test]
    fn q8_0_cache_every_table_matches_scalar_and_stays_near_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        // Head dims that are and are not whole blocks (the padded path), the 2B4T group.
        let shapes = [
            (1, 1, 1),
            (17, 5, 3),
            (32, 9, 2),
            (64, 33, 2),
            (80, 200, 3),
            (128, 37, 4),
            (128, 300, 4),
        ];
        for (hd, positions, heads) in shapes {
            let mut rand =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect() };
            let (q, k, v) = (rand(heads * hd), rand(hd * positions), rand(hd * positions));
            let (k8, v8) = (to_q8_rows(&k, hd), to_q8_rows(&v, hd));
            let scale = 1.0 / (hd as f32).sqrt();
            let run = |kernels: &Kernels, q: &[f32]| {
                let g = q.len() / hd;
                let (mut scores, mut out) = (vec![0f32; g * positions], vec![f32::NAN; g * hd]);
                kernels
                    .attend(
                        hd,
                        q,
                        KvRows::Q8_0(&k8),
                        KvRows::Q8_0(&v8),
                        scale,
                        &mut scores,
                        &mut out,
                    )
                    .expect("shapes");
                out
            };
            let expected = run(Kernels::scalar(), &q);
            let alone: Vec<f32> = q
                .chunks_exact(hd)
                .flat_map(|q| run(Kernels::scalar(), q))
                .collect();
            assert_eq!(alone, expected, "hd {hd}: grouped and alone");
            // Near the definition on the unquantised values: the error of 8-bit keys, values
            // and queries.
            for (q, got) in q.chunks_exact(hd).zip(expected.chunks_exact(hd)) {
                for (got, want) in got.iter().zip(reference(q, &k, &v, scale)) {
                    assert!((got - want).abs() <= 0.05, "hd {hd}: {got} vs {want}");
                }
            }
            for table in Kernels::available() {
                let got = run(table, &q);
                let same = got
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{} hd {hd} × {positions}, {heads} heads",
                    table.name()
                );
            }
        }
        // A row of the wrong size is a typed error.
        let k = Kernels::scalar();
        let err = k
            .attend(
                64,
                &[1.0; 64],
                KvRows::Q8_0(&[0; 68]),
                KvRows::Q8_0(&[0; 67]),
                1.0,
                &mut [0.0; 1],
                &mut [0.0; 64],
            )
            .expect_err("one row of 64 values is 68 bytes");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention values",
                expected: 68,
                actual: 67
            }
        ));
    }

    #[test]
    fn shape_errors_are_typed() {
        let k = Kernels::scalar();
        let (q, kv) = ([1.0f32; 4], [0u8; 16]);
        let err = k
            .attend(
                4,
                &q,
                KvRows::F16(&kv),
                KvRows::F16(&kv),
                1.0,
                &mut [0.0; 3],
                &mut [0.0; 4],
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
                4,
                &q,
                KvRows::F16(&kv),
                KvRows::F16(&kv),
                1.0,
                &mut [0.0; 2],
                &mut [0.0; 3],
            )
            .expect_err("short output");
        assert!(matches!(err, KernelError::Length { .. }));
        let err = k
            .attend(
                3,
                &q,
                KvRows::F16(&kv),
                KvRows::F16(&kv),
                1.0,
                &mut [0.0; 2],
                &mut [0.0; 4],
            )
            .expect_err("4 floats are not whole 3-wide heads");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention queries",
                ..
            }
        ));
    }
}

//! The int8 products of a quantised output head: Q8_0 weights × activations in Q8_0 blocks
//! (ggml's q8_0 × q8_0), Q6_K and Q4_K weights × activations in Q8_K blocks (ggml's q6_K ×
//! q8_K, q4_K × q8_K), the activations in [`Q8Acts`], and the one driver over the head's rows
//! ([`Kernels::int8_gemm`]).
//!
//! The head is the largest matrix of a BitNet model (2B4T: 128256 × 2560, 657 MB as F16, 349 MB
//! as Q8_0, 269 MB as Q6_K, 185 MB as Q4_K), read once per decoded token. Rows are read one after another, each in one pass:
//! the matrix is one sequential stream, which the hardware prefetchers follow best (walking
//! four rows at once to share the activation loads was measured 2× slower on x86_64); whether
//! software hints run ahead of it is the table's [`RowWalk`](super::RowWalk).

use std::ops::Range;

use half::f16;

use super::{check_len, check_rows, KernelError, Kernels};
use crate::quant::{
    BlockFormat, BlockQ4K, BlockQ6K, BlockQ8_0, QuantizeFormat, TensorType, WeightView,
};

/// Lanes of the canonical Q8_0 dot (see [`Q8DotFn`]).
pub const Q8_LANES: usize = 8;

/// One Q8_0 row (ggml's `block_q8_0` layout, see [`BlockQ8_0`]) against one token's
/// [`Q8Acts`], in the canonical order every ISA reproduces bit for bit: block `b`'s product
/// `p_b = (d_w · d_x) · Σ q_w·q_x` (the f16 scales widened to f32, two rounded f32 multiplies,
/// the int32 sum exact) is added into lane `b % 8`; the lanes are then folded in halves
/// (`l[i] += l[i + 4]`, then `+2`, `+1`). `row` holds `acts.d.len()` blocks.
pub type Q8DotFn = fn(row: &[u8], acts: &Q8Acts) -> f32;

/// The canonical Q6_K dot of one Q6_K row (ggml's `block_q6_K` layout, see [`BlockQ6K`])
/// against one token's [`Q8Acts`] in Q8_K blocks (256 values each, [`Q8Acts::quantize_k`]):
/// super-block `b`'s exact int32 sum `s_b = Σ_j sc_j · Σ_{k ∈ j} (q_k − 32) · x_k` (16
/// sub-blocks `j` of 16 weights, `q` the 6-bit values, `sc` the int8 sub-block scales) is
/// converted to f32 and scaled, `p_b = (d_b · d_x[b]) · s_b` (the f16 `d_b` widened, two
/// rounded f32 multiplies), and the `p_b` are added in block order from `+0`. Every ISA
/// computes `s_b` exactly and the rest in that order, so every table gives the same bits.
/// `row` holds `acts.d.len()` super-blocks.
pub type Q6KDotFn = fn(row: &[u8], acts: &Q8Acts) -> f32;

/// The canonical Q4_K dot of one Q4_K row (ggml's `block_q4_K` layout, see [`BlockQ4K`])
/// against one token's [`Q8Acts`] in Q8_K blocks: super-block `b`'s exact int32 sums
/// `s_b = Σ_j sc_j · Σ_{k ∈ j} q_k · x_k` and `m_b = Σ_j m_j · Σ_{k ∈ j} x_k` (8 sub-blocks `j`
/// of 32 weights, `q` the 4-bit values, `sc`/`m` the 6-bit sub-block scales and mins) give
/// `p_b = (d_b · d_x[b]) · s_b − (dmin_b · d_x[b]) · m_b` (the f16 `d_b`, `dmin_b` widened, every
/// multiply and the subtraction rounded in f32, in that order), added in block order from
/// `+0`. Every ISA computes the sums exactly and the rest in that order, so every table gives
/// the same bits. `row` holds `acts.d.len()` super-blocks.
pub type Q4KDotFn = fn(row: &[u8], acts: &Q8Acts) -> f32;

/// One token's activations quantised to int8 blocks with one f32 scale each, for an int8 head:
/// block `b` is `x[L·b..L·b + L] ≈ q · d[b]` and `|q| ≤ 127`. [`quantize`](Self::quantize)
/// makes Q8_0 blocks (`L` = 32, as ggml quantises the activations of a q8_0 × q8_0 dot);
/// [`quantize_k`](Self::quantize_k) makes Q8_K blocks (`L` = 256, for q6_K and q4_K × q8_K).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Q8Acts {
    /// The int8 values, one per input element.
    pub q: Vec<i8>,
    /// Each block's scale.
    pub d: Vec<f32>,
    /// `Σ q` over each block of Q8_0 blocks ([`quantize`](Self::quantize), as ggml's `q8_1`
    /// keeps it) and over each 16 values of Q8_K blocks ([`quantize_k`](Self::quantize_k),
    /// ggml's `bsums`): for kernels that multiply unsigned values (`k + 128` for a Q8_0 key,
    /// the unsigned Q6_K values) and subtract the offset times `Σ q`, and for the Q4_K mins.
    pub sums: Vec<i16>,
}

impl Q8Acts {
    /// Quantises `x` (a whole number of 32-element blocks) into Q8_0 blocks in `self`, reusing
    /// its buffers: the Q8_0 reference quantiser ([`BlockQ8_0`]'s `quantize_block`, llama.cpp's
    /// `quantize_row_q8_0_ref`), `q = round(x / d)` with `d = max|x| / 127` stored as f16 (so
    /// `d` here is that f16 widened, exactly).
    pub fn quantize(&mut self, x: &[f32]) -> Result<(), KernelError> {
        if !x.len().is_multiple_of(BlockQ8_0::LEN) {
            return Err(KernelError::PartialToken {
                what: "Q8_0 activations",
                per_token: BlockQ8_0::LEN,
                actual: x.len(),
            });
        }
        self.q.clear();
        self.d.clear();
        self.sums.clear();
        for x in x.chunks_exact(BlockQ8_0::LEN) {
            let block = BlockQ8_0::quantize_block(x);
            self.q.extend_from_slice(&block.qs);
            self.d.push(block.d.to_f32());
            // |Σ q| ≤ 32 · 127 fits i16.
            self.sums.push(block.qs.iter().map(|&q| i16::from(q)).sum());
        }
        Ok(())
    }

    /// Quantises `x` for an int8 head stored as `ty`: Q8_K blocks for Q6_K and Q4_K
    /// ([`quantize_k`](Self::quantize_k)), else Q8_0 blocks ([`quantize`](Self::quantize)).
    pub fn quantize_for(&mut self, ty: TensorType, x: &[f32]) -> Result<(), KernelError> {
        match ty {
            TensorType::Q6K | TensorType::Q4K => self.quantize_k(x),
            _ => self.quantize(x),
        }
    }

    /// Quantises `x` (a whole number of 256-element blocks) into Q8_K blocks in `self`, reusing
    /// its buffers, as llama.cpp's `quantize_row_q8_K_ref`: with `m` the block's signed value of
    /// largest magnitude, `q = round_half_even(x · (−127 / m))` and `d = 1 / (−127 / m)` in
    /// f32 (all zeros when `m` = 0). `q` is clamped to `−127..=127` (equal to ggml's for finite
    /// input, and the int8 kernels' bound for any input).
    pub fn quantize_k(&mut self, x: &[f32]) -> Result<(), KernelError> {
        const LEN: usize = BlockQ6K::LEN;
        if !x.len().is_multiple_of(LEN) {
            return Err(KernelError::PartialToken {
                what: "Q8_K activations",
                per_token: LEN,
                actual: x.len(),
            });
        }
        self.q.clear();
        self.d.clear();
        self.sums.clear();
        for x in x.chunks_exact(LEN) {
            let (mut max, mut amax) = (0f32, 0f32);
            for &v in x {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            if amax == 0.0 {
                self.q.extend_from_slice(&[0; LEN]);
                self.d.push(0.0);
                continue;
            }
            let iscale = -127.0 / max;
            self.q.extend(x.iter().map(|&v| {
                // ggml's `nearest_int` (round half to even); `as` saturates and maps NaN to 0.
                ((iscale * v).round_ties_even() as i32).clamp(-127, 127) as i8
            }));
            self.d.push(1.0 / iscale);
        }
        // |Σ| ≤ 16 · 127: fits i16.
        let sums = self
            .q
            .chunks_exact(16)
            .map(|q| q.iter().map(|&q| i16::from(q)).sum::<i16>());
        self.sums.extend(sums);
        Ok(())
    }
}

/// Super-block `block`'s exact int32 sum `Σ_j sc_j · Σ_{k ∈ j} (q_k − 32) · x_k` against 256
/// activations `x` (the reference of every ISA's [`Q6KDotFn`] inner loop). `|sum| ≤ 16 · 128 ·
/// 16 · 32 · 127 < 2^31`.
pub(super) fn q6_k_block_sum(block: &[u8], x: &[i8]) -> i32 {
    let b = BlockQ6K::read_block(block);
    let mut sum = 0i32;
    for (j, (x, &sc)) in x.chunks_exact(16).zip(&b.scales).enumerate() {
        let sub: i32 = x
            .iter()
            .enumerate()
            .map(|(i, &x)| (i32::from(b.level(16 * j + i)) - 32) * i32::from(x))
            .sum();
        sum += i32::from(sc) * sub;
    }
    sum
}

/// A super-block's term `(d_b · d_x) · s_b` of the canonical Q6_K dot, given its f16 scale
/// `d_b` widened (bytes 208..210 of the block; each table widens it its own way, exactly) and
/// its exact int32 sum `s_b` (shared by every table).
#[inline(always)]
pub(super) fn q6_k_block_product(d_w: f32, d_x: f32, sum: i32) -> f32 {
    d_w * d_x * sum as f32
}

/// The f16 at bytes `at..at + 2` of `block`, widened (the scalar table's conversion).
pub(super) fn f16_at(block: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

/// Super-block `block`'s exact int32 sums `(s_b, m_b)` of the canonical Q4_K dot against 256
/// activations `x` (the reference of every ISA's [`Q4KDotFn`] inner loop). `|s_b| ≤ 8 · 63 ·
/// 32 · 15 · 127`, `|m_b| ≤ 8 · 63 · 32 · 127`: far below 2^31.
pub(super) fn q4_k_block_sums(block: &[u8], x: &[i8]) -> (i32, i32) {
    let b = BlockQ4K::read_block(block);
    let sm = BlockQ4K::scales_mins_bytes(&b.scales);
    let (mut s, mut m) = (0i32, 0i32);
    for (j, x) in x.chunks_exact(32).enumerate() {
        // Sub-block j: the low (j even) or high (j odd) nibbles of bytes 32·(j/2)...
        let qs = &b.qs[32 * (j / 2)..][..32];
        let shift = 4 * (j % 2);
        let dot: i32 = qs
            .iter()
            .zip(x)
            .map(|(&q, &x)| i32::from((q >> shift) & 15) * i32::from(x))
            .sum();
        let sum: i32 = x.iter().map(|&x| i32::from(x)).sum();
        s += i32::from(sm[j]) * dot;
        m += i32::from(sm[8 + j]) * sum;
    }
    (s, m)
}

/// A super-block's term `(d_b · d_x) · s_b − (dmin_b · d_x) · m_b` of the canonical Q4_K dot,
/// given its f16 `[d_b, dmin_b]` widened (bytes 0..4 of the block; each table widens them its
/// own way, exactly) and its exact int32 sums (shared by every table).
#[inline(always)]
pub(super) fn q4_k_block_product([d_w, dmin]: [f32; 2], d_x: f32, (s, m): (i32, i32)) -> f32 {
    d_w * d_x * s as f32 - dmin * d_x * m as f32
}

/// Block `b`'s term of the canonical Q8_0 dot: `(d_w · d_x) · Σ q_w·q_x` for one 34-byte
/// `block` against 32 activations `q` with scale `d_x` (the reference, and every ISA's tail).
pub(super) fn q8_block_product(block: &[u8], q: &[i8], d_x: f32) -> f32 {
    let d_w = f16::from_le_bytes([block[0], block[1]]).to_f32();
    let sum: i32 = block[2..BlockQ8_0::BYTES]
        .iter()
        .zip(q)
        .map(|(&w, &x)| i32::from(w as i8) * i32::from(x))
        .sum();
    // |sum| ≤ 32 · 128 · 127 < 2^24: exact in f32.
    d_w * d_x * sum as f32
}

impl Kernels {
    /// An int8 head for a batch of tokens: Q8_0 weights against activations in Q8_0 blocks
    /// ([`Q8Acts::quantize`]) or Q6_K / Q4_K weights against activations in Q8_K blocks
    /// ([`Q8Acts::quantize_k`]). For each row `r` in `rows` and token `t`,
    /// `out[t · rows.len() + r − rows.start]` is the canonical dot ([`Q8DotFn`], [`Q6KDotFn`]
    /// or [`Q4KDotFn`]) of row `r` and `acts[t]`, times `w.scale()`. Each token's activations have
    /// `w.cols()` elements.
    pub fn int8_gemm(
        &self,
        w: &WeightView,
        acts: &[Q8Acts],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let (dot, block, sums) = match w.ty() {
            TensorType::Q8_0 => (self.dot_q8_0, BlockQ8_0::LEN, w.cols() / BlockQ8_0::LEN),
            TensorType::Q6K => (self.dot_q6_k, BlockQ6K::LEN, w.cols() / 16),
            TensorType::Q4K => (self.dot_q4_k, BlockQ4K::LEN, w.cols() / 16),
            ty => return Err(KernelError::NoInt8Kernel(ty)),
        };
        check_rows(w, &rows)?;
        check_len("int8_gemm out", acts.len() * rows.len(), out.len())?;
        for a in acts {
            check_len("int8_gemm activations", w.cols(), a.q.len())?;
            check_len("int8_gemm scales", w.cols() / block, a.d.len())?;
            check_len("int8_gemm sums", sums, a.sums.len())?;
        }
        // Row-major walk, as in `ternary_gemm`: each row is read from memory once and reused,
        // from L1, for every token.
        let n_rows = rows.len();
        for (i, r) in rows.clone().enumerate() {
            self.prefetch_ahead(w, r, 1, &rows);
            let row = w.row(r);
            for (t, a) in acts.iter().enumerate() {
                out[t * n_rows + i] = dot(row, a) * w.scale();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scalar::fold_lanes;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
    }

    #[test]
    fn q8_acts_are_the_reference_blocks() {
        let mut rng = ChaCha8Rng::seed_from_u64(20);
        let x = random(&mut rng, 96);
        let mut a = Q8Acts {
            q: vec![1; 7],
            d: vec![3.0],
            sums: vec![5],
        };
        a.quantize(&x).expect("whole blocks");
        let bytes = crate::quant::quantize_tensor(TensorType::Q8_0, &x, 96).expect("encodes");
        for (b, block) in bytes.chunks_exact(BlockQ8_0::BYTES).enumerate() {
            let block = BlockQ8_0::read_block(block);
            assert_eq!(a.q[32 * b..][..32], block.qs);
            assert_eq!(a.d[b], block.d.to_f32());
        }
        assert!(a.q.iter().all(|&q| q != i8::MIN));
        assert_eq!(
            a.quantize(&x[..40]),
            Err(KernelError::PartialToken {
                what: "Q8_0 activations",
                per_token: 32,
                actual: 40
            })
        );
    }

    #[test]
    fn q8_0_gemm_follows_the_documented_order_and_equals_gemv() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        // 11 blocks: one group of 8 and a tail of 3.
        let (rows, cols, tokens) = (7, 352, 3);
        let w_f32 = random(&mut rng, rows * cols);
        let bytes = crate::quant::quantize_tensor(TensorType::Q8_0, &w_f32, cols).expect("ok");
        let w = WeightView::new(TensorType::Q8_0, cols, rows, &bytes, 0.5).expect("valid");
        let acts: Vec<Q8Acts> = (0..tokens)
            .map(|_| {
                let mut a = Q8Acts::default();
                a.quantize(&random(&mut rng, cols)).expect("blocks");
                a
            })
            .collect();
        let k = Kernels::scalar();
        let range = 3..rows;
        let mut batch = vec![0f32; tokens * range.len()];
        k.int8_gemm(&w, &acts, range.clone(), &mut batch)
            .expect("shapes");
        for (t, a) in acts.iter().enumerate() {
            let mut single = vec![0f32; range.len()];
            k.int8_gemm(&w, std::slice::from_ref(a), range.clone(), &mut single)
                .expect("shapes");
            assert_eq!(single, batch[t * range.len()..][..range.len()]);
            for (i, r) in range.clone().enumerate() {
                let mut lanes = [0f32; Q8_LANES];
                for (b, block) in w.row(r).chunks_exact(BlockQ8_0::BYTES).enumerate() {
                    let block = BlockQ8_0::read_block(block);
                    let sum: i32 = (0..32)
                        .map(|j| i32::from(block.qs[j]) * i32::from(a.q[32 * b + j]))
                        .sum();
                    lanes[b % Q8_LANES] += block.d.to_f32() * a.d[b] * sum as f32;
                }
                assert_eq!(single[i], fold_lanes(lanes) * 0.5, "row {r}");
            }
        }
    }

    /// Bit-for-bit equality, any NaN equal to any NaN.
    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    /// Random f16 bit patterns: finite (subnormals included), or any (inf/NaN too).
    fn random_halves(rng: &mut ChaCha8Rng, n: usize, finite: bool) -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                let mut h: u16 = rng.random();
                if finite {
                    h = h & !0x7C00 | (rng.random_range(0..31u16) << 10);
                }
                h.to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn every_table_equals_scalar_on_q8_0_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let s = Kernels::scalar();
        // Block counts around the 8-block group, and the 2B4T width (80 blocks).
        for blocks in [1, 7, 8, 9, 16, 23, 80] {
            let cols = 32 * blocks;
            for finite in [true, false] {
                // Any int8 (−128 included) and random f16 scales.
                let rows: Vec<Vec<u8>> = (0..4)
                    .map(|_| {
                        let mut row: Vec<u8> = (0..34 * blocks).map(|_| rng.random()).collect();
                        let scales = random_halves(&mut rng, blocks, finite);
                        for (b, d) in row.chunks_exact_mut(34).zip(scales.chunks_exact(2)) {
                            b[..2].copy_from_slice(d);
                        }
                        row
                    })
                    .collect();
                let mut x = random(&mut rng, cols);
                x[cols - 1] = 1e4; // a block dominated by one value: q = ±127
                x[..32].fill(0.0); // an all-zero block: d = 0
                let mut a = Q8Acts::default();
                a.quantize(&x).expect("blocks");
                let expected: Vec<f32> = rows.iter().map(|r| (s.dot_q8_0)(r, &a)).collect();
                for k in Kernels::available() {
                    let got: Vec<f32> = rows.iter().map(|r| (k.dot_q8_0)(r, &a)).collect();
                    assert!(same(&got, &expected), "{} dot_q8_0 {blocks}", k.name());
                }
            }
        }
        // Extreme products: w = −128 against x = ±127 in every position.
        let row: Vec<u8> = [&half::f16::ONE.to_le_bytes()[..], &[0x80; 32]].concat();
        for sign in [1.0f32, -1.0] {
            let mut a = Q8Acts::default();
            a.quantize(&[127.0 * sign; 32]).expect("blocks");
            for k in Kernels::available() {
                assert_eq!((k.dot_q8_0)(&row, &a), -128.0 * 127.0 * 32.0 * sign);
            }
        }
    }

    #[test]
    fn q8_k_acts_follow_ggml() {
        let mut rng = ChaCha8Rng::seed_from_u64(25);
        let mut x = random(&mut rng, 512);
        x[300] = -4.0; // block 1's extreme: q = −127 (iscale = 127 / 4)
        x[256..288].fill(0.0);
        let mut a = Q8Acts::default();
        a.quantize_k(&x).expect("whole blocks");
        assert_eq!(a.d[1], 1.0 / (-127.0 / -4.0f32));
        assert_eq!(a.q[300], -127);
        assert_eq!(a.sums.len(), 512 / 16);
        for (s, q) in a.sums.iter().zip(a.q.chunks_exact(16)) {
            assert_eq!(i32::from(*s), q.iter().map(|&q| i32::from(q)).sum::<i32>());
        }
        for (b, (x, q)) in x.chunks_exact(256).zip(a.q.chunks_exact(256)).enumerate() {
            let max = x
                .iter()
                .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            let iscale = -127.0 / max;
            for (&x, &q) in x.iter().zip(q) {
                assert_eq!(
                    i32::from(q),
                    (iscale * x).round_ties_even() as i32,
                    "block {b}"
                );
            }
        }
        a.quantize_k(&[0.0; 256]).expect("whole blocks");
        assert_eq!((a.d[0], a.q.iter().all(|&q| q == 0)), (0.0, true));
        a.quantize_k(&[f32::NAN; 256]).expect("no panic on NaN");
        assert!(a.q.iter().all(|&q| q != i8::MIN));
        assert!(matches!(
            a.quantize_k(&x[..300]),
            Err(KernelError::PartialToken { per_token: 256, .. })
        ));
    }

    /// A random `ty` row of 3 super-blocks (the reference encoder), random Q8_K activations
    /// and the scalar table's dot of them, which must be the exact dequantised dot (f64) up to
    /// the float rounding of the documented order.
    fn dequantised_dot_case(ty: TensorType, seed: u64) -> (Vec<u8>, Q8Acts, f32) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cols = 768;
        let w = random(&mut rng, cols);
        let bytes = crate::quant::quantize_tensor(ty, &w, cols).expect("encodes");
        let mut a = Q8Acts::default();
        a.quantize_k(&random(&mut rng, cols)).expect("blocks");
        let mut deq = vec![0f32; cols];
        crate::quant::dequantize_row(ty, &bytes, &mut deq).expect("decodes");
        let exact: f64 = deq
            .iter()
            .zip(&a.q)
            .enumerate()
            .map(|(k, (&w, &q))| f64::from(w) * f64::from(q) * f64::from(a.d[k / 256]))
            .sum();
        let s = Kernels::scalar();
        let got = match ty {
            TensorType::Q6K => (s.dot_q6_k)(&bytes, &a),
            _ => (s.dot_q4_k)(&bytes, &a),
        };
        assert!(
            (f64::from(got) - exact).abs() < 1e-4 * exact.abs().max(1.0),
            "{ty}: {got} {exact}"
        );
        (bytes, a, got)
    }

    #[test]
    fn q6_k_dot_is_the_dequantised_dot_in_integers() {
        // Dequantised weights d · sc · (q − 32).
        let (bytes, a, got) = dequantised_dot_case(TensorType::Q6K, 26);
        // And the documented order, bit for bit.
        let mut acc = 0f32;
        for (b, block) in bytes.chunks_exact(210).enumerate() {
            let d_w = half::f16::from_le_bytes([block[208], block[209]]).to_f32();
            acc += d_w * a.d[b] * q6_k_block_sum(block, &a.q[256 * b..][..256]) as f32;
        }
        assert_eq!(got, acc);
    }

    /// Every table's K-quant dot (`dot` picks it) equals the scalar table's, bit for bit, on
    /// rows of any bytes (`block_bytes` per super-block) whose f16 fields at `halves` (offsets
    /// in the block) are random finite values, or any bit patterns.
    fn assert_tables_agree_on_random_rows(
        seed: u64,
        block_bytes: usize,
        halves: &[usize],
        dot: fn(&Kernels) -> Q6KDotFn,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let s = Kernels::scalar();
        for blocks in [1, 2, 10] {
            let cols = 256 * blocks;
            for finite in [true, false] {
                let rows: Vec<Vec<u8>> = (0..4)
                    .map(|_| {
                        let mut row: Vec<u8> =
                            (0..block_bytes * blocks).map(|_| rng.random()).collect();
                        for b in row.chunks_exact_mut(block_bytes) {
                            for &at in halves {
                                let h = random_halves(&mut rng, 1, finite);
                                b[at..at + 2].copy_from_slice(&h);
                            }
                        }
                        row
                    })
                    .collect();
                let mut x = random(&mut rng, cols);
                x[cols - 1] = 1e4; // a block dominated by one value: q = ±127
                let mut a = Q8Acts::default();
                a.quantize_k(&x).expect("blocks");
                let expected: Vec<f32> = rows.iter().map(|r| dot(s)(r, &a)).collect();
                for k in Kernels::available() {
                    let got: Vec<f32> = rows.iter().map(|r| dot(k)(r, &a)).collect();
                    assert!(same(&got, &expected), "{} {blocks} blocks", k.name());
                }
            }
        }
    }

    #[test]
    fn every_table_equals_scalar_on_q6_k_rows() {
        // Every 6-bit value and int8 scale (−128 included), the f16 d at bytes 208..210.
        assert_tables_agree_on_random_rows(27, 210, &[208], |k| k.dot_q6_k);
        // Extreme products: q − 32 = −32 with scale −128 against x = ±127 everywhere.
        let mut block = vec![0u8; 210];
        block[192..208].fill(0x80);
        block[208..].copy_from_slice(&half::f16::ONE.to_le_bytes());
        for sign in [1.0f32, -1.0] {
            let mut a = Q8Acts::default();
            a.quantize_k(&[127.0 * sign; 256]).expect("blocks");
            for k in Kernels::available() {
                // x = ±127 quantises to q = −127 with d = ∓1: s = −128 · 256 · (−32 · −127).
                let expected = 128.0 * 32.0 * 127.0 * 256.0 * sign;
                assert_eq!((k.dot_q6_k)(&block, &a), expected, "{}", k.name());
            }
        }
    }

    #[test]
    fn q4_k_dot_is_the_dequantised_dot_in_integers() {
        // Dequantised weights d · sc · q − dmin · m.
        let (bytes, a, got) = dequantised_dot_case(TensorType::Q4K, 28);
        // And the documented order, bit for bit.
        let mut acc = 0f32;
        for (b, block) in bytes.chunks_exact(144).enumerate() {
            let d_w = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
            let dmin = half::f16::from_le_bytes([block[2], block[3]]).to_f32();
            let (s, m) = q4_k_block_sums(block, &a.q[256 * b..][..256]);
            acc += d_w * a.d[b] * s as f32 - dmin * a.d[b] * m as f32;
        }
        assert_eq!(got, acc);
    }

    #[test]
    fn every_table_equals_scalar_on_q4_k_rows() {
        // Every 4-bit value, 6-bit scale and min, the f16 d and dmin at bytes 0..4.
        assert_tables_agree_on_random_rows(29, 144, &[0, 2], |k| k.dot_q4_k);
        // Extreme sums: q = 15, scale and min 63 everywhere against x = ±127.
        let mut block = vec![0xFFu8; 144];
        block[..2].copy_from_slice(&half::f16::ONE.to_le_bytes());
        block[2..4].copy_from_slice(&half::f16::ONE.to_le_bytes());
        for sign in [1.0f32, -1.0] {
            let mut a = Q8Acts::default();
            a.quantize_k(&[127.0 * sign; 256]).expect("blocks");
            for k in Kernels::available() {
                // x = ±127 quantises to q = −127 with d = ∓1: s = 63 · 15 · (−127) · 256,
                // m = 63 · (−127) · 256; p = ∓1 · s − ∓1 · m.
                let (s, m) = (63.0 * 15.0 * -127.0 * 256.0, 63.0 * -127.0 * 256.0);
                let expected = -sign * s - (-sign * m);
                assert_eq!((k.dot_q4_k)(&block, &a), expected, "{}", k.name());
            }
        }
    }

    #[test]
    fn every_table_equals_scalar_on_head_gemms() {
        let mut rng = ChaCha8Rng::seed_from_u64(24);
        let (rows, cols, tokens) = (9, 512, 2);
        let w_f32 = random(&mut rng, rows * cols);
        let x = random(&mut rng, tokens * cols);
        let acts: Vec<Q8Acts> = x
            .chunks_exact(cols)
            .map(|x| {
                let mut a = Q8Acts::default();
                a.quantize(x).expect("blocks");
                a
            })
            .collect();
        let s = Kernels::scalar();
        let acts_k: Vec<Q8Acts> = x
            .chunks_exact(cols)
            .map(|x| {
                let mut a = Q8Acts::default();
                a.quantize_k(x).expect("blocks");
                a
            })
            .collect();
        for ty in [
            TensorType::F16,
            TensorType::Q8_0,
            TensorType::Q6K,
            TensorType::Q4K,
        ] {
            let bytes = crate::quant::quantize_tensor(ty, &w_f32, cols).expect("encodes");
            let w = WeightView::new(ty, cols, rows, &bytes, 0.75).expect("valid");
            for range in [0..rows, 5..6, 1..rows] {
                let run = |k: &Kernels| {
                    let mut out = vec![0f32; tokens * range.len()];
                    match ty {
                        TensorType::F16 => k.float_gemm(&w, &x, range.clone(), &mut out),
                        TensorType::Q8_0 => k.int8_gemm(&w, &acts, range.clone(), &mut out),
                        _ => k.int8_gemm(&w, &acts_k, range.clone(), &mut out),
                    }
                    .expect("shapes");
                    out
                };
                let expected = run(s);
                for k in Kernels::available() {
                    assert!(same(&run(k), &expected), "{} {ty} {range:?}", k.name());
                }
            }
        }
    }

    #[test]
    fn q8_0_gemm_contract_errors() {
        let k = Kernels::scalar();
        let bytes = vec![0u8; 2 * 34];
        let w = WeightView::new(TensorType::Q8_0, 32, 2, &bytes, 1.0).expect("valid");
        let mut a = Q8Acts::default();
        a.quantize(&[1.0; 64]).expect("blocks");
        assert!(matches!(
            k.int8_gemm(&w, std::slice::from_ref(&a), 0..2, &mut [0.0; 2]),
            Err(KernelError::Length { .. })
        ));
        assert!(matches!(
            k.int8_gemm(&w, &[], 0..3, &mut []),
            Err(KernelError::RowsOutOfRange { .. })
        ));
        let f = WeightView::new(TensorType::F16, 32, 1, &[0; 64], 1.0).expect("valid");
        assert_eq!(
            k.int8_gemm(&f, &[], 0..1, &mut []),
            Err(KernelError::NoInt8Kernel(TensorType::F16))
        );
    }
}

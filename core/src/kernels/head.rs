//! The Q8_0 × Q8_0 product of the opt-in Q8_0 output head: activations quantised to Q8_0
//! blocks ([`Q8Acts`]) and the driver over Q8_0 weight rows ([`Kernels::q8_0_gemm`]).
//!
//! The head is the largest matrix of a BitNet model (2B4T: 128256 × 2560, 657 MB as F16, 349 MB
//! as Q8_0), read once per decoded token. Rows are read one after another, each in one pass:
//! the matrix is one sequential stream, which the hardware prefetchers follow best (walking
//! four rows at once to share the activation loads was measured 2× slower on x86_64); whether
//! software hints run ahead of it is the table's [`RowWalk`](super::RowWalk).

use std::ops::Range;

use half::f16;

use super::{check_len, check_rows, KernelError, Kernels};
use crate::quant::{BlockFormat, BlockQ8_0, QuantizeFormat, TensorType, WeightView};

/// Lanes of the canonical Q8_0 dot (see [`Q8DotFn`]).
pub const Q8_LANES: usize = 8;

/// One Q8_0 row (ggml's `block_q8_0` layout, see [`BlockQ8_0`]) against one token's
/// [`Q8Acts`], in the canonical order every ISA reproduces bit for bit: block `b`'s product
/// `p_b = (d_w · d_x) · Σ q_w·q_x` (the f16 scales widened to f32, two rounded f32 multiplies,
/// the int32 sum exact) is added into lane `b % 8`; the lanes are then folded in halves
/// (`l[i] += l[i + 4]`, then `+2`, `+1`). `row` holds `acts.d.len()` blocks.
pub type Q8DotFn = fn(row: &[u8], acts: &Q8Acts) -> f32;

/// One token's activations quantised to Q8_0 blocks for the Q8_0 head, as ggml quantises the
/// activations of a q8_0 × q8_0 dot: block `b` is `x[32b..32b + 32] ≈ q · d[b]`, encoded by the
/// Q8_0 reference quantiser ([`BlockQ8_0`]'s `quantize_block`, llama.cpp's
/// `quantize_row_q8_0_ref`). `|q| ≤ 127`: `q = round(x / d)` with `d = max|x| / 127`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Q8Acts {
    /// The int8 values, one per input element.
    pub q: Vec<i8>,
    /// Each block's f16 scale, widened to f32 (exact).
    pub d: Vec<f32>,
}

impl Q8Acts {
    /// Quantises `x` (a whole number of 32-element blocks) into `self`, reusing its buffers.
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
        for x in x.chunks_exact(BlockQ8_0::LEN) {
            let block = BlockQ8_0::quantize_block(x);
            self.q.extend_from_slice(&block.qs);
            self.d.push(block.d.to_f32());
        }
        Ok(())
    }
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
    /// Q8_0 weights × Q8_0-quantised activations for a batch of tokens (the Q8_0 head): for
    /// each row `r` in `rows` and token `t`, `out[t · rows.len() + r − rows.start]` is the
    /// canonical [`Q8DotFn`] of row `r` and `acts[t]`, times `w.scale()`. Each token's
    /// activations have `w.cols()` elements.
    pub fn q8_0_gemm(
        &self,
        w: &WeightView,
        acts: &[Q8Acts],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        if w.ty() != TensorType::Q8_0 {
            return Err(KernelError::NotQ8_0(w.ty()));
        }
        check_rows(w, &rows)?;
        check_len("q8_0_gemm out", acts.len() * rows.len(), out.len())?;
        for a in acts {
            check_len("q8_0_gemm activations", w.cols(), a.q.len())?;
            check_len("q8_0_gemm scales", w.cols() / BlockQ8_0::LEN, a.d.len())?;
        }
        // Row-major walk, as in `ternary_gemm`: each row is read from memory once and reused,
        // from L1, for every token.
        let n_rows = rows.len();
        for (i, r) in rows.clone().enumerate() {
            self.prefetch_ahead(w, r, 1, &rows);
            let row = w.row(r);
            for (t, a) in acts.iter().enumerate() {
                out[t * n_rows + i] = (self.dot_q8_0)(row, a) * w.scale();
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
        k.q8_0_gemm(&w, &acts, range.clone(), &mut batch)
            .expect("shapes");
        for (t, a) in acts.iter().enumerate() {
            let mut single = vec![0f32; range.len()];
            k.q8_0_gemm(&w, std::slice::from_ref(a), range.clone(), &mut single)
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
    fn every_table_equals_scalar_on_head_gemms() {
        let mut rng = ChaCha8Rng::seed_from_u64(24);
        let (rows, cols, tokens) = (9, 288, 2);
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
        for ty in [TensorType::F16, TensorType::Q8_0] {
            let bytes = crate::quant::quantize_tensor(ty, &w_f32, cols).expect("encodes");
            let w = WeightView::new(ty, cols, rows, &bytes, 0.75).expect("valid");
            for range in [0..rows, 5..6, 1..rows] {
                let run = |k: &Kernels| {
                    let mut out = vec![0f32; tokens * range.len()];
                    match ty {
                        TensorType::F16 => k.float_gemm(&w, &x, range.clone(), &mut out),
                        _ => k.q8_0_gemm(&w, &acts, range.clone(), &mut out),
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
            k.q8_0_gemm(&w, std::slice::from_ref(&a), 0..2, &mut [0.0; 2]),
            Err(KernelError::Length { .. })
        ));
        assert!(matches!(
            k.q8_0_gemm(&w, &[], 0..3, &mut []),
            Err(KernelError::RowsOutOfRange { .. })
        ));
        let f = WeightView::new(TensorType::F16, 32, 1, &[0; 64], 1.0).expect("valid");
        assert_eq!(
            k.q8_0_gemm(&f, &[], 0..1, &mut []),
            Err(KernelError::NotQ8_0(TensorType::F16))
        );
    }
}

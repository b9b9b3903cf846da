//! The float matmul driver (embeddings, F32 reference weights, the F16 head) and the F16 dot
//! and the F16 and Q8_0 weighted-sum drivers every SIMD table shares.

use std::ops::Range;

use super::{check_len, check_rows, scalar, KernelError, Kernels};
use crate::quant::{self, BlockFormat, BlockQ8_0, TensorType, WeightView};

/// One table's [`F16DotFn`] block: `R` rows of f16 against `Q` rows of f32 (`R · Q ≤ 4`), with
/// the shapes of [`F16DotFn`] (exactly `R` and `Q` rows).
pub(super) trait F16Block {
    /// `out[r · Q + q] = a_r · b_q` in the canonical order.
    fn block<const R: usize, const Q: usize>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]);
}

/// One table's [`F16WeightedSumFn`] columns: `col..col + 8V` of the sum into `out` (`8V`
/// floats), with the sums in `V` 8-lane registers over every row of `x` (rows of `m ≥ 1`).
pub(super) trait WeightedColumns {
    /// The `8V` columns from `col`.
    fn columns<const V: usize>(x: &[u8], w: &[f32], m: usize, col: usize, out: &mut [f32]);
}

/// The [`F16WeightedSumFn`] driver every SIMD table shares: 64 columns per pass over the rows,
/// then 8, then the scalar loop one column at a time.
pub(super) fn weighted_sum_f16_by<K: WeightedColumns>(x: &[u8], w: &[f32], out: &mut [f32]) {
    let m = out.len();
    if m == 0 {
        return;
    }
    let rows = w.len().min(x.len() / (2 * m));
    let (x, w) = (&x[..2 * m * rows], &w[..rows]);
    let mut col = 0;
    while col + 64 <= m {
        K::columns::<8>(x, w, m, col, &mut out[col..col + 64]);
        col += 64;
    }
    while col + 8 <= m {
        K::columns::<1>(x, w, m, col, &mut out[col..col + 8]);
        col += 8;
    }
    for (c, out) in out.iter_mut().enumerate().skip(col) {
        *out = scalar::weighted_sum_column(x, w, m, c);
    }
}

/// One table's [`Q8WeightedSumFn`](super::Q8WeightedSumFn) blocks: the `32B` columns of
/// blocks `first..first + B` of the sum into `out` (`32B` floats), with the sums in registers
/// over every row of `x` (rows of `blocks` Q8_0 blocks).
pub(super) trait Q8WeightedBlocks {
    /// The `32B` columns of blocks `first..first + B`.
    fn blocks<const B: usize>(x: &[u8], w: &[f32], blocks: usize, first: usize, out: &mut [f32]);
}

/// The [`Q8WeightedSumFn`](super::Q8WeightedSumFn) driver every SIMD table shares: two blocks
/// (64 columns) per pass over the rows, then one.
pub(super) fn weighted_sum_q8_0_by<K: Q8WeightedBlocks>(x: &[u8], w: &[f32], out: &mut [f32]) {
    const LEN: usize = BlockQ8_0::LEN;
    let blocks = out.len() / LEN;
    if blocks == 0 {
        out.fill(0.0);
        return;
    }
    let rows = w.len().min(x.len() / (BlockQ8_0::BYTES * blocks));
    let (x, w) = (&x[..BlockQ8_0::BYTES * blocks * rows], &w[..rows]);
    let mut first = 0;
    while first + 4 <= blocks {
        K::blocks::<4>(
            x,
            w,
            blocks,
            first,
            &mut out[LEN * first..LEN * (first + 4)],
        );
        first += 4;
    }
    while first + 2 <= blocks {
        K::blocks::<2>(
            x,
            w,
            blocks,
            first,
            &mut out[LEN * first..LEN * (first + 2)],
        );
        first += 2;
    }
    if first < blocks {
        K::blocks::<1>(
            x,
            w,
            blocks,
            first,
            &mut out[LEN * first..LEN * (first + 1)],
        );
    }
}

/// The [`F16DotFn`] driver every table shares: blocks of up to 4 `a` rows against one `b` row
/// (the head), else one `a` row against up to 4 `b` rows (attention, batched head).
pub(super) fn dot_f16_blocks<K: F16Block>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
    if m == 0 {
        out.fill(0.0);
        return;
    }
    let (rows, cols) = (a.len() / (2 * m), b.len() / m);
    let out = &mut out[..rows * cols];
    if cols == 1 {
        for (r, out) in (0..rows).step_by(4).zip(out.chunks_mut(4)) {
            let a = &a[2 * m * r..2 * m * (r + out.len())];
            match out.len() {
                4 => K::block::<4, 1>(a, b, m, out),
                3 => K::block::<3, 1>(a, b, m, out),
                2 => K::block::<2, 1>(a, b, m, out),
                _ => K::block::<1, 1>(a, b, m, out),
            }
        }
        return;
    }
    for (a, out) in a.chunks_exact(2 * m).zip(out.chunks_exact_mut(cols)) {
        for (q, out) in (0..cols).step_by(4).zip(out.chunks_mut(4)) {
            let b = &b[m * q..m * (q + out.len())];
            match out.len() {
                4 => K::block::<1, 4>(a, b, m, out),
                3 => K::block::<1, 3>(a, b, m, out),
                2 => K::block::<1, 2>(a, b, m, out),
                _ => K::block::<1, 1>(a, b, m, out),
            }
        }
    }
}

impl Kernels {
    /// Float GEMV for one token, any weight format: for each row `r` in `rows`,
    /// `out[r − rows.start] = (Σ_j deq(r)_j · x_j) · w.scale`, where `deq(r)` is the row
    /// dequantised by its format's reference decoder (F16 rows are read directly) and the sum
    /// is the canonical lane-wise [`FloatDotFn`](super::FloatDotFn). `x` has `w.cols()` elements, `out` has
    /// `rows.len()`.
    pub fn float_gemv(
        &self,
        w: &WeightView,
        x: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_len("float_gemv input", w.cols(), x.len())?;
        self.float_gemm(w, x, rows, out)
    }

    /// Float GEMM for a batch of tokens: `x` holds the tokens' inputs one after another
    /// (`w.cols()` each) and token `t`'s outputs are `out[t · rows.len() ..][.. rows.len()]`,
    /// each exactly what [`float_gemv`](Self::float_gemv) gives for that token. Each row is
    /// dequantised once per call.
    pub fn float_gemm(
        &self,
        w: &WeightView,
        x: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_rows(w, &rows)?;
        if !x.len().is_multiple_of(w.cols()) {
            return Err(KernelError::PartialToken {
                what: "float_gemm input",
                per_token: w.cols(),
                actual: x.len(),
            });
        }
        let tokens = x.len() / w.cols();
        check_len("float_gemm out", tokens * rows.len(), out.len())?;
        if w.ty() == TensorType::F16 {
            // F16 rows straight from the file against every token: `f16_rows` at a time for
            // one token, else one (each row's values then widened once for all tokens).
            let step = if tokens == 1 {
                self.row_walk.f16_rows
            } else {
                1
            };
            let mut dots = vec![0f32; step * tokens];
            for first in rows.clone().step_by(step) {
                let block = first..(first + step).min(rows.end);
                self.prefetch_ahead(w, first, step, &rows);
                let bytes = &w.data()[block.start * w.row_bytes()..block.end * w.row_bytes()];
                let dots = &mut dots[..block.len() * tokens];
                (self.dot_f16)(bytes, x, w.cols(), dots);
                for (r, dots) in block.zip(dots.chunks_exact(tokens)) {
                    for (t, &dot) in dots.iter().enumerate() {
                        out[t * rows.len() + r - rows.start] = dot * w.scale();
                    }
                }
            }
            return Ok(());
        }
        let mut row = vec![0f32; w.cols()];
        for (i, r) in rows.clone().enumerate() {
            self.prefetch_ahead(w, r, 1, &rows);
            quant::dequantize_row(w.ty(), w.row(r), &mut row)?;
            for (t, x) in x.chunks_exact(w.cols()).enumerate() {
                out[t * rows.len() + i] = (self.dot_f32)(&row, x) * w.scale();
            }
        }
        Ok(())
    }
}

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

/// One table's [`F16WeightedSumFn`] pass over the rows: columns `col..col + 8V` of the sums of
/// `H ≤ 4` heads, in `H · V` registers of 8 lanes (or twice as many of 4).
pub(super) trait WeightedColumns {
    /// The table's widest pass, in 8-column registers per head (1, 2 or 4): `4 · WIDE`
    /// accumulators must fit its register file beside the loaded values.
    const WIDE: usize;

    /// Adds rows `x` into columns `col..col + 8V` of the sums of heads `h0..h0 + H` in `out`
    /// (their `H` sums of `m` values, head-major): each lane continues from the value there,
    /// adding every row of `x` (rows of `m ≥ 1` f16 values) in order, with weights `w` (`heads`
    /// per row, position-major: the row count is `w.len() / heads`).
    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        col: usize,
        out: &mut [f32],
    );
}

/// Rows of cached values the weighted-sum drivers hand a table at a time: every column pass
/// over one tile (64 rows: 8.5 KiB of Q8_0 or 16 KiB of F16 values at a head dim of 128) finds
/// it in the L1 cache, where one pass over all the rows would read them from memory again for
/// each group of columns. The sums stay in `out` between tiles, each lane's order unchanged.
const VALUE_TILE: usize = 64;

/// The [`F16WeightedSumFn`] driver every SIMD table shares: rows in tiles of [`VALUE_TILE`],
/// up to 4 heads per pass over a tile, `8 · K::WIDE` columns per pass, then 8; the columns past
/// the last 8 by the scalar loop one column at a time.
pub(super) fn weighted_sum_f16_by<K: WeightedColumns>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    out: &mut [f32],
) {
    let Some(m) = out.len().checked_div(heads).filter(|&m| m > 0) else {
        out.fill(0.0);
        return;
    };
    let rows = (w.len() / heads).min(x.len() / (2 * m));
    let (x, w) = (&x[..2 * m * rows], &w[..heads * rows]);
    out.fill(0.0);
    let tiles = x
        .chunks(2 * m * VALUE_TILE)
        .zip(w.chunks(heads * VALUE_TILE));
    for (x, w) in tiles {
        for (h0, out) in (0..heads).step_by(4).zip(out.chunks_mut(4 * m)) {
            match out.len() / m {
                4 => f16_columns::<K, 4>(x, w, heads, h0, out),
                3 => f16_columns::<K, 3>(x, w, heads, h0, out),
                2 => f16_columns::<K, 2>(x, w, heads, h0, out),
                _ => f16_columns::<K, 1>(x, w, heads, h0, out),
            }
        }
    }
    for c in m / 8 * 8..m {
        for (h, out) in out.chunks_exact_mut(m).enumerate() {
            out[c] = scalar::weighted_sum_column(x, w, heads, m, h, c);
        }
    }
}

/// Adds the rows `x` into the first `8 · ⌊m / 8⌋` columns of the sums of heads `h0..h0 + H`
/// (see [`weighted_sum_f16_by`]).
fn f16_columns<K: WeightedColumns, const H: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    out: &mut [f32],
) {
    let m = out.len() / H;
    let mut col = 0;
    while col + 8 * K::WIDE <= m {
        match K::WIDE {
            4 => K::columns::<H, 4>(x, w, heads, h0, col, out),
            2 => K::columns::<H, 2>(x, w, heads, h0, col, out),
            _ => K::columns::<H, 1>(x, w, heads, h0, col, out),
        }
        col += 8 * K::WIDE;
    }
    while col + 8 <= m {
        K::columns::<H, 1>(x, w, heads, h0, col, out);
        col += 8;
    }
}

/// One table's [`Q8WeightedSumFn`](super::Q8WeightedSumFn) pass over the rows: the columns
/// from `col`, `8V` of them within one block, of the sums of `H ≤ 4` heads, in `H · V`
/// registers of 8 lanes (or twice as many of 4).
pub(super) trait Q8WeightedColumns {
    /// The table's widest pass, in 8-column registers per head (1, 2 or 4, a divisor of a
    /// block's 4): `4 · WIDE` accumulators must fit its register file beside the loaded values.
    const WIDE: usize;

    /// Adds rows `x` into columns `col..col + 8V` (inside block `col / 32`) of the sums of heads
    /// `h0..h0 + H` in `out` (their `H` sums of `32 · blocks` values, head-major): each lane
    /// continues from the value there, adding every row of `x` (rows of `blocks ≥ 1` Q8_0
    /// blocks) in order, with weights `w` (`heads` per row, position-major).
    #[allow(clippy::too_many_arguments)]
    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        blocks: usize,
        col: usize,
        out: &mut [f32],
    );
}

/// The [`Q8WeightedSumFn`](super::Q8WeightedSumFn) driver every SIMD table shares: rows in
/// tiles of [`VALUE_TILE`], up to 4 heads per pass over a tile, `8 · K::WIDE` columns of one
/// block per pass.
pub(super) fn weighted_sum_q8_0_by<K: Q8WeightedColumns>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    out: &mut [f32],
) {
    let blocks = out.len().checked_div(heads).unwrap_or(0) / BlockQ8_0::LEN;
    if blocks == 0 {
        out.fill(0.0);
        return;
    }
    let m = BlockQ8_0::LEN * blocks;
    let rows = (w.len() / heads).min(x.len() / (BlockQ8_0::BYTES * blocks));
    let row = BlockQ8_0::BYTES * blocks;
    let (x, w) = (&x[..row * rows], &w[..heads * rows]);
    out.fill(0.0);
    let tiles = x.chunks(row * VALUE_TILE).zip(w.chunks(heads * VALUE_TILE));
    for (x, w) in tiles {
        for (h0, out) in (0..heads).step_by(4).zip(out.chunks_mut(4 * m)) {
            match out.len() / m {
                4 => q8_0_columns::<K, 4>(x, w, heads, h0, blocks, out),
                3 => q8_0_columns::<K, 3>(x, w, heads, h0, blocks, out),
                2 => q8_0_columns::<K, 2>(x, w, heads, h0, blocks, out),
                _ => q8_0_columns::<K, 1>(x, w, heads, h0, blocks, out),
            }
        }
    }
}

/// Adds the rows `x` into every column of the sums of heads `h0..h0 + H` (see
/// [`weighted_sum_q8_0_by`]).
fn q8_0_columns<K: Q8WeightedColumns, const H: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    blocks: usize,
    out: &mut [f32],
) {
    for col in (0..BlockQ8_0::LEN * blocks).step_by(8 * K::WIDE) {
        match K::WIDE {
            4 => K::columns::<H, 4>(x, w, heads, h0, blocks, col, out),
            2 => K::columns::<H, 2>(x, w, heads, h0, blocks, col, out),
            _ => K::columns::<H, 1>(x, w, heads, h0, blocks, col, out),
        }
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

//! The ternary matmul driver: checks the shapes, picks the row loop for the format (one-scale
//! tiles or per-block-scale dots) and walks the rows, rescaling each int32 sum.

use std::ops::Range;

use super::{
    check_len, check_rows, prefetch_rows, KernelError, Kernels, QuantActs, TernaryDotFn,
    TernaryTileFn, Tile, TileRows, PREFETCH_TILES, TILE_ROWS, TILE_TOKENS,
};
use crate::quant::{TensorType, WeightView};

/// The row loop a ternary matrix uses (see [`WeightView`]'s scaling rules).
#[derive(Clone, Copy)]
pub(super) enum RowFn {
    Tile(TernaryTileFn),
    Dot(TernaryDotFn),
}

impl Kernels {
    /// Quantises one token's activations `x` into `out` (see [`QuantActs`]); `out.q` ends up
    /// `x.len()` long. Non-finite inputs quantise to 0 or ±max without panicking.
    pub fn quantize_acts(&self, x: &[f32], out: &mut QuantActs) {
        (self.quantize_acts)(x, out);
    }

    /// The row loop for `w`: `Σ_b d_b · acc_b` with per-block scales, else the row's int32
    /// sum (as f32; exact below 2^24, which rows of int8 × ternary up to 131072 wide are).
    fn ternary_row_fn(&self, w: &WeightView) -> Result<RowFn, KernelError> {
        Ok(match (w.ty(), w.per_block_scales()) {
            (TensorType::TQ2_0, true) => RowFn::Dot(self.dot_tq2_0),
            (TensorType::TQ1_0, true) => RowFn::Dot(self.dot_tq1_0),
            (TensorType::I2S, _) => RowFn::Tile(self.tile_i2s),
            (TensorType::TQ2_0, false) => RowFn::Tile(self.tile_tq2_0),
            (TensorType::TQ1_0, false) => RowFn::Tile(self.tile_tq1_0),
            (ty, _) => return Err(KernelError::NotTernary(ty)),
        })
    }

    /// Ternary GEMV for one token: for each row `r` in `rows`,
    /// `out[r − rows.start] = dot(r) · (w.scale / acts.scale)`, with `dot` the row's
    /// [`TernaryDotFn`]. `acts.q` has `w.cols()` elements, `out` has `rows.len()`.
    pub fn ternary_gemv(
        &self,
        w: &WeightView,
        acts: &QuantActs,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        self.ternary_gemm(w, std::slice::from_ref(acts), rows, out)
    }

    /// Ternary GEMM for a batch of tokens: token `t`'s outputs are
    /// `out[t · rows.len() ..][.. rows.len()]`, each exactly what [`ternary_gemv`]
    /// gives for that token.
    ///
    /// [`ternary_gemv`]: Self::ternary_gemv
    pub fn ternary_gemm(
        &self,
        w: &WeightView,
        acts: &[QuantActs],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let row_fn = self.ternary_row_fn(w)?;
        check_rows(w, &rows)?;
        check_len("ternary_gemm out", acts.len() * rows.len(), out.len())?;
        for a in acts {
            check_len("ternary_gemm activations", w.cols(), a.q.len())?;
        }
        if rows.is_empty() {
            return Ok(()); // nothing to do, and `chunks_exact_mut(0)` would panic
        }
        let n_rows = rows.len();
        match row_fn {
            // Tiles of up to TILE_ROWS rows × TILE_TOKENS tokens, rows outer: each tile's weight
            // bytes are read from memory once and reused from L1 by every token tile (the
            // tokens' activations stay in L2); within a tile each block is decoded once.
            RowFn::Tile(tile) => {
                // A single token on a table that leaves sequential reads to the hardware
                // prefetchers: streams (see `TileRows`); else consecutive rows, hinted ahead.
                let streams = acts.len() == 1 && !self.row_walk.hints;
                let mut sums = [0i32; TILE_ROWS * TILE_TOKENS];
                for Tile { first, stride, n } in TileRows::new(rows.clone(), streams) {
                    if !streams {
                        let ahead = first + PREFETCH_TILES * TILE_ROWS;
                        prefetch_rows(w, ahead, TILE_ROWS, &rows);
                    }
                    let row_bytes = w.row_bytes();
                    let bytes =
                        &w.data()[first * row_bytes..][..((n - 1) * stride + 1) * row_bytes];
                    for (tile_index, tokens) in acts.chunks(TILE_TOKENS).enumerate() {
                        let sums = &mut sums[..n * tokens.len()];
                        tile(bytes, n, stride * row_bytes, tokens, sums);
                        for (j, (a, sums)) in tokens.iter().zip(sums.chunks_exact(n)).enumerate() {
                            let out = &mut out[(tile_index * TILE_TOKENS + j) * n_rows..];
                            let first = first - rows.start;
                            for (i, &acc) in sums.iter().enumerate() {
                                out[first + i * stride] = acc as f32 * (w.scale() / a.scale);
                            }
                        }
                    }
                }
            }
            // Per-block scales: one row at a time, reused from L1 by every token.
            RowFn::Dot(dot) => {
                for (i, r) in rows.clone().enumerate() {
                    self.prefetch_ahead(w, r, 1, &rows);
                    let row = w.row(r);
                    for (t, a) in acts.iter().enumerate() {
                        out[t * n_rows + i] = dot(row, &a.q) * (w.scale() / a.scale);
                    }
                }
            }
        }
        Ok(())
    }
}

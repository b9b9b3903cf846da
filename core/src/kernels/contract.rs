//! The kernel contract: what every table's inner loops compute — the function types, the tile
//! shapes, the activations they read — and the typed errors of a broken call. Every ISA file
//! implements these; the drivers (`ternary.rs`, `float.rs`, `head.rs`, `attention.rs`) check
//! the shapes and call them.

use std::ops::Range;

use super::Q8Acts;
use crate::quant::{QuantError, TensorType, WeightView};

/// One token's activations quantised to int8 for a ternary matmul (shared by every matrix that
/// reads the same input): `x ≈ q / scale`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantActs {
    /// `clamp(round_half_even(x · scale), −128, 127)`, one per input element.
    pub q: Vec<i8>,
    /// `127 / max(max|x|, 1e-5)`: int8 units per activation unit.
    pub scale: f32,
    /// `Σ q`, for kernels that compute `Σ code·q − Σ q` from unsigned codes.
    pub sum: i32,
}

/// The inner loop of a ternary GEMV for one format: `Σ_blocks d_b · (Σ t·q)_b` over one row's
/// bytes against one token's `q` (one per weight), with the per-block int32 sums accumulated
/// in f32 in block order (I2_S: `d_b` = 1, so the row's int32 sum as f32).
pub type TernaryDotFn = fn(row: &[u8], q: &[i8]) -> f32;

/// Most rows one [`TernaryTileFn`] call covers.
pub const TILE_ROWS: usize = 4;
/// Most tokens one [`TernaryTileFn`] call covers.
pub const TILE_TOKENS: usize = 4;

/// The inner loop of a ternary matmul for one format when the whole matrix has one scale: a
/// tile of `n_rows` (1..=[`TILE_ROWS`]) rows of the same length (whole blocks), row `r` at
/// `rows[r · stride..]` (`stride` ≥ the row length, which is `rows.len() − (n_rows − 1) ·
/// stride`), against `acts` (1..=[`TILE_TOKENS`] tokens, each with one int8 per weight of a row
/// and its `sum`). Writes `out[t · n_rows + r]` = the int32 sum `Σ t·q` of row `r` against
/// token `t` (block scales ignored); `out` is `n_rows · acts.len()` long. Each weight block is
/// decoded once per call, for every token.
pub type TernaryTileFn =
    fn(rows: &[u8], n_rows: usize, stride: usize, acts: &[QuantActs], out: &mut [i32]);

/// Defines `fn $name`, a [`TernaryTileFn`] that runs the safe kernel
/// `$kernel::<$generic.., R, T>(rows: [&[u8]; R], acts: [&QuantActs; T]) -> [[i32; R]; T]` (the sums,
/// token-major) monomorphised for the tile's shape, so every ISA writes its tile loop once with
/// the shape as constants.
macro_rules! tile_fn {
    ($name:ident = $kernel:ident<$($generic:ty),*>) => {
        fn $name(
            rows: &[u8],
            n_rows: usize,
            stride: usize,
            acts: &[$crate::kernels::QuantActs],
            out: &mut [i32],
        ) {
            use $crate::kernels::run_tile as run;
            match (n_rows, acts.len()) {
                (1, 1) => run::<1, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 1>),
                (1, 2) => run::<1, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 2>),
                (1, 3) => run::<1, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 3>),
                (1, 4) => run::<1, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 4>),
                (2, 1) => run::<2, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 1>),
                (2, 2) => run::<2, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 2>),
                (2, 3) => run::<2, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 3>),
                (2, 4) => run::<2, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 4>),
                (3, 1) => run::<3, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 1>),
                (3, 2) => run::<3, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 2>),
                (3, 3) => run::<3, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 3>),
                (3, 4) => run::<3, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 4>),
                (4, 1) => run::<4, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 1>),
                (4, 2) => run::<4, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 2>),
                (4, 3) => run::<4, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 3>),
                (4, 4) => run::<4, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 4>),
                shape => unreachable!("tile shape {shape:?} beyond TILE_ROWS × TILE_TOKENS"),
            }
        }
    };
}
pub(super) use tile_fn;

/// A tile kernel monomorphised for `R` rows and `T` tokens: the int32 sums `Σ t·q`, token-major.
pub(super) type TileKernel<const R: usize, const T: usize> =
    fn([&[u8]; R], [&QuantActs; T]) -> [[i32; R]; T];

/// Splits a tile into the per-row and per-token arrays of a kernel monomorphised for `R` rows
/// and `T` tokens, runs it and stores its sums token-major in `out` (see [`TernaryTileFn`]).
#[inline(always)]
pub(super) fn run_tile<const R: usize, const T: usize>(
    rows: &[u8],
    stride: usize,
    acts: &[QuantActs],
    out: &mut [i32],
    kernel: TileKernel<R, T>,
) {
    let row_bytes = rows.len() - (R - 1) * stride;
    let sums = kernel(
        std::array::from_fn(|r| &rows[r * stride..][..row_bytes]),
        std::array::from_fn(|t| &acts[t]),
    );
    for (out, sums) in out.chunks_exact_mut(R).zip(&sums) {
        out.copy_from_slice(sums);
    }
}

/// A kernel contract broken by the caller: a wrong format, row range or buffer length.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// A ternary kernel called on weights that are not ternary.
    #[error("{0} weights are not ternary")]
    NotTernary(TensorType),
    /// A row range that is not inside the weight matrix.
    #[error("rows {start}..{end} out of range for a matrix of {rows} rows")]
    RowsOutOfRange {
        /// First requested row.
        start: usize,
        /// One past the last requested row.
        end: usize,
        /// Rows in the matrix.
        rows: usize,
    },
    /// A buffer whose length does not match the shapes.
    #[error("{what}: expected {expected} elements, got {actual}")]
    Length {
        /// Which buffer.
        what: &'static str,
        /// Elements the shapes call for.
        expected: usize,
        /// Elements given.
        actual: usize,
    },
    /// A token-major batch buffer that is not a whole number of tokens.
    #[error("{what}: {actual} elements are not a whole number of {per_token}-element tokens")]
    PartialToken {
        /// Which buffer.
        what: &'static str,
        /// Elements per token.
        per_token: usize,
        /// Elements given.
        actual: usize,
    },
    /// A weight row the format cannot decode.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// An int8 head kernel called on weights that are neither Q8_0 nor Q6_K.
    #[error("{0} weights have no int8 head kernel (Q8_0 and Q6_K do)")]
    NoInt8Kernel(TensorType),
}

/// Lanes of the canonical float dot product (see [`FloatDotFn`]).
pub const FLOAT_LANES: usize = 16;

/// `Σ a_j·b_j` in the canonical order every ISA reproduces bit for bit: each product is fused
/// with its add into lane `j % 16` (`lane = fma(a_j, b_j, lane)`, one rounding: `FMLA` on NEON,
/// `VFMADD` on x86, `f32::mul_add` in the scalar table); lanes are then folded in halves
/// (`l[i] += l[i + 8]`, then `+4`, `+2`, `+1`). `a` and `b` have the same length.
pub type FloatDotFn = fn(a: &[f32], b: &[f32]) -> f32;

/// `out[r · Q + q]` = [`FloatDotFn`]'s sum of row `r` of `a` (little-endian IEEE f16, each
/// value converted exactly to f32) with row `q` of `b`, where `a` holds `R = a.len() / 2m`
/// and `b` holds `Q = b.len() / m` rows of `m` values, back to back, and `out` has `R · Q`
/// floats. Tables compute up to 4 dots per pass over `m` (4 head rows against one token, or
/// one cached key against 4 query heads), loading and widening each f16 value once per pass.
pub type F16DotFn = fn(a: &[u8], b: &[f32], m: usize, out: &mut [f32]);

/// `out[h · m + i] = Σ_j w[j · H + h] · x_j[i]` for each of the `H = heads` query heads of
/// one kv head: `x` holds `n` rows `x_j` of `m` values (little-endian IEEE f16, each converted
/// exactly to f32; a cached value of the kv head at position `j`), `w` the heads' weights
/// position-major (`n · H` floats, as [`F16DotFn`] writes its dots) and `out` the heads' sums
/// head-major (`H · m` floats). Each sum is added in row order starting from `+0`, each
/// product fused with its add (`out[h · m + i] = fma(w[j · H + h], x_j[i], out[h · m + i])`),
/// so every table gives the same bits and a head's sum does not depend on the heads beside it.
/// Tables sum up to 4 heads per pass over the rows, loading and widening each value once.
pub type F16WeightedSumFn = fn(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]);

/// `out[j · H + h]` = the canonical Q8_0 dot ([`Q8DotFn`](super::Q8DotFn)) of row `j` of
/// `keys` with head `h` of `q`, where `keys` holds `n = keys.len() / (34 · blocks)` rows of
/// `blocks` Q8_0 blocks (ggml's `block_q8_0`, 34 bytes per 32 values: a cached key of one kv
/// head at one position), `q` holds `H = q.d.len() / blocks` query heads of `blocks` blocks
/// each, back to back, and `out` has `n · H` floats (position-major, as [`F16DotFn`]'s
/// attention use). Block `b`'s term `(d_k · d_q) · Σ q_k·q_q` (exact int32 sum, two rounded f32
/// multiplies) goes into lane `b % 8`, lanes folded in halves: every table gives the same bits.
pub type Q8KeyDotFn = fn(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]);

/// [`F16WeightedSumFn`]'s sums over Q8_0 rows: `x` holds `n` rows of `m / 32` Q8_0 blocks (34
/// bytes per 32 values, `x_j[i] = d_{j,b} · q_j[i]` with `b = i / 32`; `m` is a multiple of
/// 32), `w` and `out` are as there. Each sum is added in row order starting from `+0`, the
/// row's weight and the block scale multiplied first (`c = w[j · H + h] · d_{j,b}`, one
/// rounded f32 multiply), then fused with the add (`out[h · m + i] = fma(c, q_j[i], out[h · m +
/// i])`, the int8 converted exactly), so every table gives the same bits.
pub type Q8WeightedSumFn = fn(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]);

/// The softmax of each of `H = heads` query heads (1 to 8) over its scores, in place: `x`
/// holds `n` positions of `H` scaled-to-be dots, position-major (`x[j · H + h]`, as
/// [`F16DotFn`] and [`Q8KeyDotFn`] write them), and becomes the probabilities in that order,
/// as the weighted sums read them. For each head: `s_j = x[j · H + h] · scale`, `e_j =
/// exp(s_j − max_j s_j)` by the shared `exp`, the `e_j` summed in f64 as the shared f64 sum
/// adds them (position `j` into partial sum `j % 8`, the partial sums added pairwise), then
/// `p_j = e_j · (1 / Σ e)` (the reciprocal rounded once to f32). Every table runs the same
/// elementwise IEEE arithmetic (each compiled for its vector width), so the bits are the same,
/// and a head's probabilities do not depend on the heads beside it.
pub type SoftmaxFn = fn(x: &mut [f32], heads: usize, scale: f32);

/// Checks that `actual == expected` for the buffer `what`.
pub(super) fn check_len(
    what: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), KernelError> {
    if expected != actual {
        return Err(KernelError::Length {
            what,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks that `rows` lies inside `w`.
pub(super) fn check_rows(w: &WeightView, rows: &Range<usize>) -> Result<(), KernelError> {
    if rows.start > rows.end || rows.end > w.rows() {
        return Err(KernelError::RowsOutOfRange {
            start: rows.start,
            end: rows.end,
            rows: w.rows(),
        });
    }
    Ok(())
}

//! The portable reference kernels: plain Rust loops over the formats' reference codecs.

use half::f16;

use super::head::{
    f16_at, q4_k_block_product, q4_k_block_sums, q6_k_block_product, q6_k_block_sum,
    q8_block_product,
};
use super::{tile_fn, Kernels, Q8Acts, QuantActs, FLOAT_LANES, Q8_LANES};
use crate::quant::{
    BlockFormat, BlockI2S, BlockQ4K, BlockQ6K, BlockQ8_0, BlockTQ1_0, BlockTQ2_0, TernaryFormat,
};

/// The scalar table.
pub(super) static KERNELS: Kernels = Kernels {
    name: "scalar",
    quantize_acts,
    tile_i2s,
    tile_tq2_0,
    tile_tq1_0,
    dot_tq2_0: BlockTQ2_0::dot_i8,
    dot_tq1_0: BlockTQ1_0::dot_i8,
    dot_f32,
    dot_f16,
    dot_q8_0,
    dot_q6_k,
    dot_q4_k,
    weighted_sum_f16,
    dot_q8_0_keys,
    weighted_sum_q8_0,
    softmax: super::attention::softmax,
    row_walk: super::RowWalk::SEQUENTIAL,
};

tile_fn!(tile_i2s = tile<BlockI2S>);
tile_fn!(tile_tq2_0 = tile<BlockTQ2_0>);
tile_fn!(tile_tq1_0 = tile<BlockTQ1_0>);

/// The reference tile: each row against each token through the format's block codec.
fn tile<F: TernaryFormat, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&QuantActs; T],
) -> [[i32; R]; T] {
    acts.map(|a| rows.map(|row| F::acc_i8(row, &a.q)))
}

/// The canonical lane-wise float dot product (see [`super::FloatDotFn`]).
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    lane_dot(a.iter().copied(), b)
}

/// [`dot_f32`] of f16 rows with f32 rows (see [`super::F16DotFn`]).
fn dot_f16(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
    super::dot_f16_blocks::<Scalar>(a, b, m, out);
}

/// The scalar [`super::F16Block`]: one lane loop per dot.
struct Scalar;

impl super::F16Block for Scalar {
    fn block<const R: usize, const Q: usize>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
        for (r, a) in a.chunks_exact(2 * m).take(R).enumerate() {
            for (q, b) in b.chunks_exact(m).take(Q).enumerate() {
                let a = a
                    .chunks_exact(2)
                    .map(|h| f16::from_le_bytes([h[0], h[1]]).to_f32());
                out[r * Q + q] = lane_dot(a, b);
            }
        }
    }
}

/// Column `c` of head `h`'s sum in [`weighted_sum_f16`]: `Σ_j w[j · heads + h] · x_j[c]` in
/// row order from `+0`, over the rows of `m ≥ 1` values of `x` (the SIMD tables' ragged
/// columns).
pub(super) fn weighted_sum_column(
    x: &[u8],
    w: &[f32],
    heads: usize,
    m: usize,
    h: usize,
    c: usize,
) -> f32 {
    let mut sum = 0.0;
    for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(2 * m)) {
        sum = w[h].mul_add(
            f16::from_le_bytes([row[2 * c], row[2 * c + 1]]).to_f32(),
            sum,
        );
    }
    sum
}

/// Each head's `Σ_j w[j · heads + h] · x_j` over f16 rows, row by row (see
/// [`super::F16WeightedSumFn`]).
fn weighted_sum_f16(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    out.fill(0.0);
    let Some(m) = out.len().checked_div(heads).filter(|&m| m > 0) else {
        return; // `chunks_exact(0)` would panic
    };
    for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(2 * m)) {
        for (&w, out) in w.iter().zip(out.chunks_exact_mut(m)) {
            for (y, h) in out.iter_mut().zip(row.chunks_exact(2)) {
                *y = w.mul_add(f16::from_le_bytes([h[0], h[1]]).to_f32(), *y);
            }
        }
    }
}

/// The canonical Q8_0 dot (see [`super::Q8DotFn`]): block products into lanes `b % 8`.
fn dot_q8_0(row: &[u8], acts: &Q8Acts) -> f32 {
    finish_q8_0([0f32; Q8_LANES], 0, row, &acts.q, &acts.d)
}

/// The canonical Q6_K dot (see [`super::Q6KDotFn`]), block by block.
fn dot_q6_k(row: &[u8], acts: &Q8Acts) -> f32 {
    let blocks = row.chunks_exact(BlockQ6K::BYTES);
    let x = acts.q.chunks_exact(BlockQ6K::LEN).zip(&acts.d);
    blocks.zip(x).fold(0.0, |acc, (block, (x, &d))| {
        acc + q6_k_block_product(f16_at(block, 208), d, q6_k_block_sum(block, x))
    })
}

/// The canonical Q4_K dot (see [`super::Q4KDotFn`]), block by block.
fn dot_q4_k(row: &[u8], acts: &Q8Acts) -> f32 {
    let blocks = row.chunks_exact(BlockQ4K::BYTES);
    let x = acts.q.chunks_exact(BlockQ4K::LEN).zip(&acts.d);
    blocks.zip(x).fold(0.0, |acc, (block, (x, &d))| {
        let scales = [f16_at(block, 0), f16_at(block, 2)];
        acc + q4_k_block_product(scales, d, q4_k_block_sums(block, x))
    })
}

/// The canonical Q8_0 dot's end, shared by every table: adds blocks `first..` of `row` × the
/// activations `q` with block scales `d` into lane `b % Q8_LANES` of `lanes` (which hold
/// blocks `..first`), then folds them.
pub(super) fn finish_q8_0(
    mut lanes: [f32; Q8_LANES],
    first: usize,
    row: &[u8],
    q: &[i8],
    d: &[f32],
) -> f32 {
    let blocks = row.chunks_exact(BlockQ8_0::BYTES);
    let x = q.chunks_exact(BlockQ8_0::LEN).zip(d);
    for (b, (block, (q, &d))) in blocks.zip(x).enumerate().skip(first) {
        lanes[b % Q8_LANES] += q8_block_product(block, q, d);
    }
    fold_lanes(lanes)
}

/// The canonical Q8_0 dot of cached key rows against query heads, one at a time (see
/// [`super::Q8KeyDotFn`]).
fn dot_q8_0_keys(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    q8_key_dots(keys, q, blocks, 0, out);
}

/// Rows `first..` of [`dot_q8_0_keys`] (the reference, and every SIMD table's last rows):
/// `out[(j − first) · H + h]` for each row `j ≥ first` of `keys` and head `h`.
pub(super) fn q8_key_dots(keys: &[u8], q: &Q8Acts, blocks: usize, first: usize, out: &mut [f32]) {
    if blocks == 0 {
        out.fill(0.0);
        return; // `chunks_exact(0)` would panic
    }
    let (len, heads) = (BlockQ8_0::LEN * blocks, q.d.len() / blocks);
    if heads == 0 {
        return;
    }
    let keys = keys.chunks_exact(BlockQ8_0::BYTES * blocks).skip(first);
    for (key, out) in keys.zip(out.chunks_exact_mut(heads)) {
        let heads = q.q.chunks_exact(len).zip(q.d.chunks_exact(blocks));
        for (out, (q, d)) in out.iter_mut().zip(heads) {
            *out = finish_q8_0([0f32; Q8_LANES], 0, key, q, d);
        }
    }
}

/// Each head's `Σ_j w[j · heads + h] · x_j` over Q8_0 rows, row by row (see
/// [`super::Q8WeightedSumFn`]).
fn weighted_sum_q8_0(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    out.fill(0.0);
    let blocks = out.len().checked_div(heads).unwrap_or(0) / BlockQ8_0::LEN;
    if blocks == 0 {
        return; // `chunks_exact(0)` would panic
    }
    let m = BlockQ8_0::LEN * blocks;
    for (w, row) in w
        .chunks_exact(heads)
        .zip(x.chunks_exact(BlockQ8_0::BYTES * blocks))
    {
        for (&w, out) in w.iter().zip(out.chunks_exact_mut(m)) {
            let pairs = row.chunks_exact(BlockQ8_0::BYTES);
            for (block, out) in pairs.zip(out.chunks_exact_mut(BlockQ8_0::LEN)) {
                let c = w * f16::from_le_bytes([block[0], block[1]]).to_f32();
                for (y, &q) in out.iter_mut().zip(&block[2..]) {
                    *y = c.mul_add(f32::from(q as i8), *y);
                }
            }
        }
    }
}

fn lane_dot(a: impl Iterator<Item = f32>, b: &[f32]) -> f32 {
    let mut lanes = [0f32; FLOAT_LANES];
    for (j, (a, &b)) in a.zip(b).enumerate() {
        lanes[j % FLOAT_LANES] = a.mul_add(b, lanes[j % FLOAT_LANES]);
    }
    fold_lanes(lanes)
}

/// Folds `N` (a power of two) lanes in halves: `l[i] += l[i + N/2]`, then `+N/4`, ..., `+1`.
pub(super) fn fold_lanes<const N: usize>(mut lanes: [f32; N]) -> f32 {
    let mut half = N / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] += lanes[i + half];
        }
        half /= 2;
    }
    lanes[0]
}

/// Absmax int8 quantisation of one token (see [`QuantActs`]). The max skips NaN: a value
/// replaces it only when strictly greater, which no NaN is — signalling ones included, which
/// `f32::max` may return (quieted) where the compiler picks a machine max such as `FMAXNM`.
fn quantize_acts(x: &[f32], out: &mut QuantActs) {
    let max = x
        .iter()
        .map(|v| v.abs())
        .fold(0.0f32, |m, a| if a > m { a } else { m });
    let scale = 127.0 / max.max(1e-5);
    out.q.clear();
    out.q.extend(x.iter().map(|&v| quantize_one(v, scale)));
    out.scale = scale;
    out.sum = out.q.iter().map(|&q| i32::from(q)).sum();
}

/// `clamp(round_half_even(v · scale), −128, 127)`; NaN becomes 0.
fn quantize_one(v: f32, scale: f32) -> i8 {
    (v * scale).round_ties_even().clamp(-128.0, 127.0) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_dots_fold_lanes_in_halves() {
        // 17 elements: lane 0 gets j = 0 and 16.
        let a: Vec<f32> = (0..17).map(|j| j as f32).collect();
        let b = vec![1.0f32; 17];
        let mut lanes = [0f32; FLOAT_LANES];
        for j in 0..17 {
            lanes[j % FLOAT_LANES] += j as f32;
        }
        assert_eq!(dot_f32(&a, &b), fold_lanes(lanes));
        assert_eq!(dot_f32(&a, &b), 136.0);
        let halves: Vec<u8> = a
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        let mut out = [0f32];
        dot_f16(&halves, &b, 17, &mut out);
        assert_eq!(out[0], dot_f32(&a, &b));
        // Products are fused with their adds: lane 0 = fma(a16, b16, a0 · b0) keeps the 2^-24
        // that rounding a16 · b16 = 1 + 2^-11 + 2^-24 to f32 first would lose.
        let mut a = vec![0f32; 17];
        let (b, eps) = (vec![1.0f32; 17], 2f32.powi(-12));
        (a[0], a[16]) = (-(1.0 + 2.0 * eps), 1.0 + eps);
        let mut b_fused = b.clone();
        b_fused[16] = 1.0 + eps;
        assert_eq!(dot_f32(&a, &b_fused), 2f32.powi(-24));
        // The fold order is observable: (1e8 + 1) - 1e8 is lost to rounding, 1 + (1e8 - 1e8) not.
        let mut lanes = [0f32; FLOAT_LANES];
        (lanes[0], lanes[8], lanes[4]) = (1e8, 1.0, -1e8);
        assert_eq!(fold_lanes(lanes), 0.0);
    }

    #[test]
    fn quantize_one_rounds_half_even_and_clamps() {
        assert_eq!(quantize_one(2.5, 1.0), 2);
        assert_eq!(quantize_one(-3.5, 1.0), -4);
        assert_eq!(quantize_one(-200.0, 1.0), -128);
        assert_eq!(quantize_one(-128.5, 1.0), -128);
        assert_eq!(quantize_one(127.6, 1.0), 127);
        assert_eq!(quantize_one(f32::NAN, 1.0), 0);
    }

    #[test]
    fn quantize_acts_skips_quiet_and_signalling_nan_in_the_max() {
        let quantized = |x: &[f32]| {
            let mut out = QuantActs::default();
            quantize_acts(std::hint::black_box(x), &mut out);
            (out.q, out.scale.to_bits(), out.sum)
        };
        let signalling = f32::from_bits(0x7F80_0001);
        for nan in [f32::NAN, -f32::NAN, signalling] {
            // The NaN quantises to 0 and leaves the scale to the other values' max.
            let with_nan = quantized(&[nan, -1.95, 0.5, 1.0]);
            assert_eq!(
                with_nan,
                quantized(&[0.0, -1.95, 0.5, 1.0]),
                "{:#x}",
                nan.to_bits()
            );
            assert_eq!(with_nan.0, [0, -127, 33, 65]);
        }
    }
}

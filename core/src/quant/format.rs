//! The traits every storage format implements: a block codec ([`BlockFormat`]), an f32 encoder
//! for the formats we write from floats ([`QuantizeFormat`]), and the ternary codec shared by
//! I2_S, TQ2_0 and TQ1_0 ([`TernaryFormat`]).
//!
//! A format implements the block-level methods only; the row-level methods are provided once
//! here. A row is a whole number of blocks laid end to end (blocks never span rows).

use super::TensorType;

/// Weights in the largest block of any ternary format (a stack buffer for one decoded block).
const MAX_TERNARY_BLOCK_LEN: usize = 256;

/// Panics unless `bytes` bytes hold exactly `weights` weights of format `F`. The checked entry
/// points (`quant::dequantize_row` and friends, `WeightView`) return a typed error instead.
fn assert_row_shape<F: BlockFormat>(bytes: usize, weights: usize) {
    assert!(
        weights.is_multiple_of(F::LEN) && bytes == weights / F::LEN * F::BYTES,
        "{}: {bytes} bytes do not hold {weights} weights",
        F::TYPE
    );
}

/// One block of a storage format: `LEN` weights stored in `BYTES` bytes.
pub trait BlockFormat: Sized {
    /// The tensor type whose blocks these are.
    const TYPE: TensorType;
    /// Weights per block.
    const LEN: usize = Self::TYPE.block_len() as usize;
    /// Bytes per block.
    const BYTES: usize = Self::TYPE.block_bytes() as usize;

    /// Reads one block from its `BYTES` bytes (panics on any other length).
    fn read_block(bytes: &[u8]) -> Self;

    /// Writes this block into `out`, which is `BYTES` long.
    fn write_block(&self, out: &mut [u8]);

    /// Decodes this block's `LEN` weights into `out`, which is `LEN` long.
    fn dequantize_block(&self, out: &mut [f32]);

    /// Decodes one row (`row` holds `out.len() / LEN` blocks) to f32, weight by weight in row
    /// order. I2_S rows decode to the bare ternary values: its tensor scale lives in the tail.
    ///
    /// # Panics
    /// When `row` does not hold exactly `out.len()` weights.
    fn dequantize_row(row: &[u8], out: &mut [f32]) {
        assert_row_shape::<Self>(row.len(), out.len());
        for (block, out) in row
            .chunks_exact(Self::BYTES)
            .zip(out.chunks_exact_mut(Self::LEN))
        {
            Self::read_block(block).dequantize_block(out);
        }
    }
}

/// A format this engine encodes from f32 weights, following llama.cpp's reference quantiser.
pub trait QuantizeFormat: BlockFormat {
    /// Encodes `LEN` weights as one block.
    fn quantize_block(x: &[f32]) -> Self;

    /// Encodes one row of weights (`x.len()` a multiple of `LEN`) into `out`.
    ///
    /// # Panics
    /// When `out` is not exactly the row's size in bytes.
    fn quantize_row(x: &[f32], out: &mut [u8]) {
        assert_row_shape::<Self>(out.len(), x.len());
        for (x, out) in x
            .chunks_exact(Self::LEN)
            .zip(out.chunks_exact_mut(Self::BYTES))
        {
            Self::quantize_block(x).write_block(out);
        }
    }
}

/// ggml's `nearest_int`: `x` rounded half to even via the 1.5·2²³ trick, exact for
/// `|x| ≤ 4194303` (anything else, NaN included, gives some int without panicking).
#[inline(always)]
pub(super) fn nearest_int(x: f32) -> i32 {
    ((x + 12_582_912.0).to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// A ternary format: every weight is `t · d` with `t` in {-1, 0, +1} and `d` the block's scale
/// (I2_S: `d` = 1, its one tensor scale is applied by the caller).
///
/// The int32 sum `Σ t·q` against int8 activations is the same number for every format given
/// the same ternary values; that is what fast kernels are tested against.
pub trait TernaryFormat: BlockFormat {
    /// Encodes `LEN` ternary values (each stored by its sign) with block scale `scale`
    /// (ignored by I2_S).
    fn encode_block(t: &[i8], scale: f32) -> Self;

    /// Decodes this block's `LEN` ternary values into `out`.
    fn decode_block(&self, out: &mut [i8]);

    /// This block's scale `d` (1 for I2_S).
    fn block_scale(&self) -> f32;

    /// `Σ t·q` over this block, with `q` the block's `LEN` int8 activations.
    fn block_acc(&self, q: &[i8]) -> i32 {
        let mut t = [0i8; MAX_TERNARY_BLOCK_LEN];
        let t = &mut t[..Self::LEN];
        self.decode_block(t);
        t.iter()
            .zip(q)
            .map(|(&t, &q)| i32::from(t) * i32::from(q))
            .sum()
    }

    /// Decodes one row's ternary values (`out.len()` weights) in row order.
    ///
    /// # Panics
    /// When `row` does not hold exactly `out.len()` weights.
    fn decode_ternary_row(row: &[u8], out: &mut [i8]) {
        assert_row_shape::<Self>(row.len(), out.len());
        for (block, out) in row
            .chunks_exact(Self::BYTES)
            .zip(out.chunks_exact_mut(Self::LEN))
        {
            Self::read_block(block).decode_block(out);
        }
    }

    /// Encodes one row of ternary values, each block with scale `scale`, into `out`.
    ///
    /// # Panics
    /// When `out` is not exactly the row's size in bytes.
    fn encode_ternary_row(t: &[i8], scale: f32, out: &mut [u8]) {
        assert_row_shape::<Self>(out.len(), t.len());
        for (t, out) in t
            .chunks_exact(Self::LEN)
            .zip(out.chunks_exact_mut(Self::BYTES))
        {
            Self::encode_block(t, scale).write_block(out);
        }
    }

    /// `Σ t·q` over one row: the scale-free int32 accumulator.
    ///
    /// # Panics
    /// When `row` does not hold exactly `q.len()` weights.
    fn acc_i8(row: &[u8], q: &[i8]) -> i32 {
        assert_row_shape::<Self>(row.len(), q.len());
        row.chunks_exact(Self::BYTES)
            .zip(q.chunks_exact(Self::LEN))
            .map(|(block, q)| Self::read_block(block).block_acc(q))
            .sum()
    }

    /// `Σ_blocks d_b · (Σ t·q)_b` over one row: each block's int32 sum times its scale,
    /// accumulated in f32 in block order.
    ///
    /// # Panics
    /// When `row` does not hold exactly `q.len()` weights.
    fn dot_i8(row: &[u8], q: &[i8]) -> f32 {
        assert_row_shape::<Self>(row.len(), q.len());
        row.chunks_exact(Self::BYTES)
            .zip(q.chunks_exact(Self::LEN))
            .fold(0.0, |sum, (block, q)| {
                let block = Self::read_block(block);
                sum + block.block_scale() * block.block_acc(q) as f32
            })
    }
}

/// Decodes a ternary block to f32: `t · d` for each weight, as llama.cpp's
/// `dequantize_row_tq*` does. The ternary formats' [`BlockFormat::dequantize_block`].
pub(super) fn dequantize_ternary_block<F: TernaryFormat>(block: &F, out: &mut [f32]) {
    let mut t = [0i8; MAX_TERNARY_BLOCK_LEN];
    let t = &mut t[..F::LEN];
    block.decode_block(t);
    let d = block.block_scale();
    for (out, &t) in out.iter_mut().zip(t.iter()) {
        *out = f32::from(t) * d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        for (x, n) in [
            (0.5, 0),
            (1.5, 2),
            (-2.5, -2),
            (2.49, 2),
            (-31.6, -32),
            (127.0, 127),
        ] {
            assert_eq!(nearest_int(x), n, "{x}");
        }
        let _ = nearest_int(f32::NAN); // no panic
    }
}

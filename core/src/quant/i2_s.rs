//! I2_S: bitnet.cpp's ternary format, 2 bits per weight in 128-weight blocks, one f32 scale per
//! tensor stored in a 32-byte tail after the codes.

use super::format::{dequantize_ternary_block, BlockFormat, TernaryFormat};
use super::{TensorType, I2S_TAIL_BYTES};

/// One I2_S block: 128 weights in 32 bytes, no per-block scale.
///
/// ```text
/// bytes 0..32   qs: weight k sits in byte k % 32, at bits
///                 7-6 for k in 0..32, 5-4 for 32..64, 3-2 for 64..96, 1-0 for 96..128
///               codes: 0 → −1, 1 → 0, 2 → +1, 3 (never written) → 0
/// ```
///
/// A tensor of `n` weights is `n / 4` bytes of blocks (rows contiguous) followed by a 32-byte
/// tail whose first 4 bytes are the tensor's f32 scale, little-endian; the rest is ignored.
/// Weight value = t · scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockI2S {
    /// The packed 2-bit codes.
    pub qs: [u8; 32],
}

/// The ternary value of each 2-bit code.
const CODE_VALUE: [i8; 4] = [-1, 0, 1, 0];

/// The shift of weight `k`'s code within its byte.
fn shift(k: usize) -> usize {
    6 - 2 * (k / 32)
}

/// The 32-byte tail of an I2_S tensor with scale `scale`: the f32 scale, then zeros.
pub fn tail(scale: f32) -> [u8; I2S_TAIL_BYTES as usize] {
    let mut tail = [0u8; I2S_TAIL_BYTES as usize];
    tail[..4].copy_from_slice(&scale.to_le_bytes());
    tail
}

/// The scale stored in an I2_S tensor's tail (its first 4 bytes, f32 little-endian), or `None`
/// when `tail` is shorter than 4 bytes.
pub fn tail_scale(tail: &[u8]) -> Option<f32> {
    let bytes = tail.first_chunk::<4>()?;
    Some(f32::from_le_bytes(*bytes))
}

impl BlockFormat for BlockI2S {
    const TYPE: TensorType = TensorType::I2S;

    fn read_block(bytes: &[u8]) -> Self {
        let mut qs = [0u8; 32];
        qs.copy_from_slice(bytes);
        Self { qs }
    }

    fn write_block(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.qs);
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        dequantize_ternary_block(self, out);
    }
}

impl TernaryFormat for BlockI2S {
    fn encode_block(t: &[i8], _scale: f32) -> Self {
        let mut qs = [0u8; 32];
        for (k, &t) in t.iter().enumerate() {
            qs[k % 32] |= ((t.signum() + 1) as u8) << shift(k);
        }
        Self { qs }
    }

    fn decode_block(&self, out: &mut [i8]) {
        for (k, out) in out.iter_mut().enumerate() {
            *out = CODE_VALUE[usize::from((self.qs[k % 32] >> shift(k)) & 3)];
        }
    }

    fn block_scale(&self) -> f32 {
        1.0
    }

    /// The row's int32 sum as f32 (exact below 2^24), the tensor scale being the caller's.
    fn dot_i8(row: &[u8], q: &[i8]) -> f32 {
        Self::acc_i8(row, q) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_built_block() {
        let mut bytes = [0x55u8; 32]; // every code 1 → 0
        bytes[0] = 0b00_10_01_11; // weights 0, 32, 64, 96: −1, +1, 0, 0 (code 3 → 0)
        bytes[31] = 0b01_01_01_10; // weight 127: +1
        let mut t = [9i8; 128];
        BlockI2S::decode_ternary_row(&bytes, &mut t);
        let mut expected = [0i8; 128];
        expected[0] = -1;
        expected[32] = 1;
        expected[127] = 1;
        assert_eq!(t, expected);
    }

    #[test]
    fn encode_decode_round_trip_and_tail() {
        let t: Vec<i8> = (0..384).map(|i| ((i * 11 + i / 5) % 3) as i8 - 1).collect();
        let mut bytes = [0u8; 96];
        BlockI2S::encode_ternary_row(&t, 0.0, &mut bytes);
        let mut back = vec![0i8; 384];
        BlockI2S::decode_ternary_row(&bytes, &mut back);
        assert_eq!(t, back);
        assert_eq!(tail_scale(&tail(0.8125)), Some(0.8125));
        assert_eq!(tail_scale(&[0, 0, 0]), None);
    }

    #[test]
    fn dot_is_the_integer_sum() {
        let t: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
        let q: Vec<i8> = (0..256i32).map(|i| (i * 13 % 255 - 127) as i8).collect();
        let mut row = [0u8; 64];
        BlockI2S::encode_ternary_row(&t, 1.0, &mut row);
        let expected: i32 = t.iter().zip(&q).map(|(&a, &b)| a as i32 * b as i32).sum();
        assert_eq!(BlockI2S::acc_i8(&row, &q), expected);
        assert_eq!(BlockI2S::dot_i8(&row, &q), expected as f32);
    }
}

//! TQ2_0: ternary weights at 2 bits each, 256 per block with one f16 scale
//! (llama.cpp `block_tq2_0`).

use half::f16;

use super::format::{dequantize_ternary_block, BlockFormat, TernaryFormat};
use super::TensorType;

/// One TQ2_0 block: 256 weights in 66 bytes.
///
/// ```text
/// bytes 0..64   qs: 2-bit codes, two 128-weight halves of 32 bytes each.
///               Weight k (k = 128·h + 32·l + m, l and m < 32 below) sits in byte 32·h + m at
///               bits 2l+1..2l (l = 0 in the low bits). Code c means t = c − 1
///               (0 → −1, 1 → 0, 2 → +1; 3, never written, decodes to +2 as in llama.cpp).
/// bytes 64..66  d: f16 block scale, little-endian; weight = t · d
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTQ2_0 {
    /// The packed 2-bit codes.
    pub qs: [u8; 64],
    /// The block scale.
    pub d: f16,
}

impl BlockFormat for BlockTQ2_0 {
    const TYPE: TensorType = TensorType::TQ2_0;

    fn read_block(bytes: &[u8]) -> Self {
        let mut qs = [0u8; 64];
        qs.copy_from_slice(&bytes[..64]);
        Self {
            qs,
            d: f16::from_le_bytes([bytes[64], bytes[65]]),
        }
    }

    fn write_block(&self, out: &mut [u8]) {
        out[..64].copy_from_slice(&self.qs);
        out[64..66].copy_from_slice(&self.d.to_le_bytes());
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        dequantize_ternary_block(self, out);
    }
}

impl TernaryFormat for BlockTQ2_0 {
    fn encode_block(t: &[i8], scale: f32) -> Self {
        let mut qs = [0u8; 64];
        // t: 2 halves × 4 bit-pairs × 32 bytes, in row order.
        for (k, &t) in t.iter().enumerate() {
            let (h, l, m) = (k / 128, k / 32 % 4, k % 32);
            qs[32 * h + m] |= ((t.signum() + 1) as u8) << (2 * l);
        }
        Self {
            qs,
            d: f16::from_f32(scale),
        }
    }

    fn decode_block(&self, out: &mut [i8]) {
        for (k, out) in out.iter_mut().enumerate() {
            let (h, l, m) = (k / 128, k / 32 % 4, k % 32);
            *out = ((self.qs[32 * h + m] >> (2 * l)) & 3) as i8 - 1;
        }
    }

    fn block_scale(&self) -> f32 {
        self.d.to_f32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_built_block() {
        let mut bytes = [0x55u8; 66]; // every code 1 → 0
        bytes[0] = 0b01_01_10_00; // weights 0, 32, 64, 96: −1, +1, 0, 0
        bytes[32 + 5] = 0b10_01_01_01; // weight 128 + 96 + 5 = 229: +1
        bytes[31] = 0b01_01_01_11; // weight 31: code 3 → +2 (llama.cpp)
        bytes[64..66].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
        let mut t = [0i8; 256];
        BlockTQ2_0::decode_ternary_row(&bytes, &mut t);
        let mut expected = [0i8; 256];
        expected[0] = -1;
        expected[32] = 1;
        expected[229] = 1;
        expected[31] = 2;
        assert_eq!(t, expected);
        let mut w = [0f32; 256];
        BlockTQ2_0::dequantize_row(&bytes, &mut w);
        assert_eq!(
            (w[0], w[32], w[229], w[31], w[1]),
            (-0.25, 0.25, 0.25, 0.5, 0.0)
        );
    }

    #[test]
    fn encode_decode_round_trip() {
        let t: Vec<i8> = (0..512).map(|i| ((i * 7 + i / 3) % 3) as i8 - 1).collect();
        let mut bytes = [0u8; 132];
        BlockTQ2_0::encode_ternary_row(&t, 1.5, &mut bytes);
        assert_eq!(&bytes[64..66], &f16::from_f32(1.5).to_le_bytes());
        let mut back = vec![0i8; 512];
        BlockTQ2_0::decode_ternary_row(&bytes, &mut back);
        assert_eq!(t, back);
    }
}

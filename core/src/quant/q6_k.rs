//! Q6_K: 256-weight super-blocks of sixteen 16-weight sub-blocks, 6-bit weights with an int8
//! scale per sub-block (llama.cpp `block_q6_K`). Decode only.

use half::f16;

use super::format::BlockFormat;
use super::TensorType;

/// One Q6_K super-block: 256 weights in 210 bytes.
///
/// ```text
/// bytes 0..128    ql: low 4 bits. Weight k = 128·h + 32·g + l (g < 4, l < 32) is in byte
///                 64·h + 32·(g % 2) + l, low nibble for g < 2, high nibble for g ≥ 2
/// bytes 128..192  qh: high 2 bits of weight k in byte 32·h + l, at bits 2g+1..2g
/// bytes 192..208  scales: int8, one per 16 weights (weight k uses scales[k / 16])
/// bytes 208..210  d: f16 super-block scale
/// weight = (d · scales[k / 16]) · (q − 32), q the 6-bit value
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ6K {
    /// Low 4 bits of the weights.
    pub ql: [u8; 128],
    /// High 2 bits of the weights.
    pub qh: [u8; 64],
    /// The sub-block scales.
    pub scales: [i8; 16],
    /// The super-block scale.
    pub d: f16,
}

impl BlockFormat for BlockQ6K {
    const TYPE: TensorType = TensorType::Q6K;

    fn read_block(bytes: &[u8]) -> Self {
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        let mut scales = [0i8; 16];
        ql.copy_from_slice(&bytes[..128]);
        qh.copy_from_slice(&bytes[128..192]);
        for (s, &b) in scales.iter_mut().zip(&bytes[192..208]) {
            *s = b as i8;
        }
        Self {
            ql,
            qh,
            scales,
            d: f16::from_le_bytes([bytes[208], bytes[209]]),
        }
    }

    fn write_block(&self, out: &mut [u8]) {
        out[..128].copy_from_slice(&self.ql);
        out[128..192].copy_from_slice(&self.qh);
        for (b, &s) in out[192..208].iter_mut().zip(&self.scales) {
            *b = s as u8;
        }
        out[208..210].copy_from_slice(&self.d.to_le_bytes());
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (k, out) in out.iter_mut().enumerate() {
            let (h, g, l) = (k / 128, k / 32 % 4, k % 32);
            let low = (self.ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 15;
            let high = (self.qh[32 * h + l] >> (2 * g)) & 3;
            let q = (low | high << 4) as i8 - 32;
            *out = d * f32::from(self.scales[k / 16]) * f32::from(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_built_block() {
        let mut bytes = [0u8; 210];
        bytes[208..210].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        bytes[192] = 3; // scale of weights 0..16
        bytes[192 + 12] = (-2i8) as u8; // scale of weights 192..208
                                        // Weight 0 (h 0, g 0, l 0): low = 5, high = 2 → q = 37 − 32 = 5.
        bytes[0] = 0x05;
        bytes[128] = 0b10;
        // Weight 192 + 1 (h 1, g 2, l 1): ql byte 64 + 1 high nibble, qh byte 32 + 1 bits 5-4.
        // low = 0, high = 0 → q = −32.
        let mut w = [0f32; 256];
        BlockQ6K::dequantize_row(&bytes, &mut w);
        assert_eq!(w[0], 0.5 * 3.0 * 5.0);
        assert_eq!(w[1], 0.5 * 3.0 * -32.0);
        assert_eq!(w[193], 0.5 * -2.0 * -32.0);
        // Weight 64 + 7 (h 0, g 2, l 7): high nibble of byte 7, bits 5-4 of qh byte 7.
        bytes[7] = 0xF0;
        bytes[128 + 7] = 0b11 << 4;
        BlockQ6K::dequantize_row(&bytes, &mut w);
        assert_eq!(w[71], 0.0); // scale of 64..80 is 0
        bytes[192 + 4] = 1;
        BlockQ6K::dequantize_row(&bytes, &mut w);
        assert_eq!(w[71], 0.5 * 31.0);
    }
}

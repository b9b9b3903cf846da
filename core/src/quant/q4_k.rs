//! Q4_K: 256-weight super-blocks of eight 32-weight sub-blocks, 4-bit weights with a 6-bit
//! scale and min per sub-block (llama.cpp `block_q4_K`). Decode only.

use half::f16;

use super::format::BlockFormat;
use super::TensorType;

/// One Q4_K super-block: 256 weights in 144 bytes.
///
/// ```text
/// bytes 0..2     d: f16, scale of the sub-block scales
/// bytes 2..4     dmin: f16, scale of the sub-block mins
/// bytes 4..16    scales: eight 6-bit (sc, m) pairs, sub-block j:
///                  j < 4:  sc = s[j] & 63,                        m = s[j + 4] & 63
///                  j ≥ 4:  sc = (s[j + 4] & 15) | (s[j − 4] >> 6) << 4,
///                          m  = (s[j + 4] >> 4) | (s[j] >> 6) << 4
/// bytes 16..144  qs: 4-bit weights; bytes 32·p .. 32·p + 32 hold sub-block 2p in their low
///                nibbles and sub-block 2p + 1 in their high nibbles (p = 0..4)
/// weight = (d · sc) · q − (dmin · m)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block mins.
    pub dmin: f16,
    /// The packed 6-bit sub-block scales and mins.
    pub scales: [u8; 12],
    /// The packed 4-bit weights.
    pub qs: [u8; 128],
}

impl BlockQ4K {
    /// Sub-block `j`'s 6-bit (scale, min).
    fn scale_min(&self, j: usize) -> (u8, u8) {
        let s = &self.scales;
        if j < 4 {
            (s[j] & 63, s[j + 4] & 63)
        } else {
            (
                (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4),
                (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
            )
        }
    }
}

impl BlockFormat for BlockQ4K {
    const TYPE: TensorType = TensorType::Q4K;

    fn read_block(bytes: &[u8]) -> Self {
        let mut scales = [0u8; 12];
        let mut qs = [0u8; 128];
        scales.copy_from_slice(&bytes[4..16]);
        qs.copy_from_slice(&bytes[16..144]);
        Self {
            d: f16::from_le_bytes([bytes[0], bytes[1]]),
            dmin: f16::from_le_bytes([bytes[2], bytes[3]]),
            scales,
            qs,
        }
    }

    fn write_block(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&self.d.to_le_bytes());
        out[2..4].copy_from_slice(&self.dmin.to_le_bytes());
        out[4..16].copy_from_slice(&self.scales);
        out[16..144].copy_from_slice(&self.qs);
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (j, out) in out.chunks_exact_mut(32).enumerate() {
            let (sc, m) = self.scale_min(j);
            let (scale, min) = (d * f32::from(sc), dmin * f32::from(m));
            // Sub-block j: low nibbles (j even) or high nibbles (j odd) of bytes 32·(j/2)...
            let qs = &self.qs[32 * (j / 2)..][..32];
            let shift = 4 * (j % 2);
            for (out, &q) in out.iter_mut().zip(qs) {
                *out = scale * f32::from((q >> shift) & 15) - min;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_built_block() {
        let mut bytes = [0u8; 144];
        bytes[0..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        bytes[2..4].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
        // Sub-block 0: sc = 3, m = 4. Sub-block 5: sc = 0b01_0010 = 18, m = 0b10_0001 = 33.
        bytes[4] = 3;
        bytes[4 + 4] = 4;
        bytes[4 + 1] = 0b01 << 6; // high bits of sc 5
        bytes[4 + 5] = 0b10 << 6; // high bits of m 5
        bytes[4 + 9] = 0x12; // low nibbles: sc 5 = 2, m 5 = 1
        bytes[16] = 0xA7; // weight 0: q = 7; weight 32: q = 10 (sub-block 1: sc = m = 0)
        bytes[16 + 64 + 3] = 0x90; // weight 160 + 3 (sub-block 5, high nibble): q = 9
        let mut w = [0f32; 256];
        BlockQ4K::dequantize_row(&bytes, &mut w);
        assert_eq!(w[0], 0.5 * 3.0 * 7.0 - 0.25 * 4.0);
        assert_eq!(w[1], -1.0);
        assert_eq!(w[32], 0.0);
        assert_eq!(w[163], 0.5 * 18.0 * 9.0 - 0.25 * 33.0);
        assert_eq!(w[160], -0.25 * 33.0);
    }
}

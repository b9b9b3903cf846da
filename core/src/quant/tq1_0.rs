//! TQ1_0: ternary weights packed in base 3, five per byte, 256 per block with one f16 scale
//! (llama.cpp `block_tq1_0`).

use half::f16;

use super::format::{dequantize_ternary_block, BlockFormat, TernaryFormat};
use super::TensorType;

/// One TQ1_0 block: 256 weights in 54 bytes.
///
/// ```text
/// bytes 0..48   qs: five trits per byte
///                 byte m      (m < 32): weights m + 32·n,        n = 0..5
///                 byte 32 + m (m < 16): weights 160 + m + 16·n,  n = 0..5
/// bytes 48..52  qh: four trits per byte
///                 byte 48 + j (j < 4):  weights 240 + j + 4·n,   n = 0..4
/// bytes 52..54  d: f16 block scale, little-endian; weight = t · d
/// ```
///
/// A byte holding trits `c_0..c_4` (`c = t + 1`, `c_0` the most significant, `c_4` = 0 in `qh`)
/// stores `v = Σ c_n · 3^(4−n)` as the fixed-point fraction `ceil(v · 256 / 243)`. Trit `n` is
/// read back as `((byte · 3^n) mod 256) · 3 >> 8`: multiplying by `3^n` shifts the fraction `n`
/// trits left, and the top trit of what remains is the integer part of three times it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTQ1_0 {
    /// The packed trits of weights 0..240.
    pub qs: [u8; 48],
    /// The packed trits of weights 240..256.
    pub qh: [u8; 4],
    /// The block scale.
    pub d: f16,
}

/// Where weight `k` of a block lives: (byte index into `qs ++ qh`, trit position `n`).
fn trit_position(k: usize) -> (usize, u32) {
    match k {
        0..160 => (k % 32, (k / 32) as u32),
        160..240 => (32 + (k - 160) % 16, ((k - 160) / 16) as u32),
        _ => (48 + (k - 240) % 4, ((k - 240) / 4) as u32),
    }
}

impl BlockTQ1_0 {
    /// The 52 packed bytes, `qs` then `qh`.
    fn packed(&self) -> [u8; 52] {
        let mut p = [0u8; 52];
        p[..48].copy_from_slice(&self.qs);
        p[48..].copy_from_slice(&self.qh);
        p
    }
}

impl BlockFormat for BlockTQ1_0 {
    const TYPE: TensorType = TensorType::TQ1_0;

    fn read_block(bytes: &[u8]) -> Self {
        let mut qs = [0u8; 48];
        let mut qh = [0u8; 4];
        qs.copy_from_slice(&bytes[..48]);
        qh.copy_from_slice(&bytes[48..52]);
        Self {
            qs,
            qh,
            d: f16::from_le_bytes([bytes[52], bytes[53]]),
        }
    }

    fn write_block(&self, out: &mut [u8]) {
        out[..48].copy_from_slice(&self.qs);
        out[48..52].copy_from_slice(&self.qh);
        out[52..54].copy_from_slice(&self.d.to_le_bytes());
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        dequantize_ternary_block(self, out);
    }
}

impl TernaryFormat for BlockTQ1_0 {
    fn encode_block(t: &[i8], scale: f32) -> Self {
        // Base-3 value of each byte's trits; at most 242, and 3^n · c ≤ 162 per trit.
        let mut v = [0u16; 52];
        for (k, &t) in t.iter().enumerate() {
            let (byte, n) = trit_position(k);
            v[byte] += (t.signum() + 1) as u16 * 3u16.pow(4 - n);
        }
        let mut packed = [0u8; 52];
        for (p, v) in packed.iter_mut().zip(v) {
            // ceil(v · 256 / 243) ≤ 255 for v ≤ 242.
            *p = ((v * 256).div_ceil(243)) as u8;
        }
        let mut qs = [0u8; 48];
        let mut qh = [0u8; 4];
        qs.copy_from_slice(&packed[..48]);
        qh.copy_from_slice(&packed[48..]);
        Self {
            qs,
            qh,
            d: f16::from_f32(scale),
        }
    }

    fn decode_block(&self, out: &mut [i8]) {
        let packed = self.packed();
        for (k, out) in out.iter_mut().enumerate() {
            let (byte, n) = trit_position(k);
            let shifted = packed[byte].wrapping_mul(3u8.pow(n));
            *out = ((u16::from(shifted) * 3) >> 8) as i8 - 1;
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
        // Trits (c) 2,0,1,1,1 → v = 2·81 + 0 + 9 + 3 + 1 = 175 → ceil(175·256/243) = 185.
        // All-zero weights (c = 1 each): v = 121 → 128; in qh (4 trits, c_4 = 0): 120 → 127.
        let mut bytes = [128u8; 54];
        bytes[48..52].fill(127);
        bytes[7] = 185; // weights 7, 39, 71, 103, 135 = +1, −1, 0, 0, 0
        bytes[32 + 3] = 185; // weights 163, 179, 195, 211, 227 = +1, −1, 0, 0, 0
        bytes[48 + 2] = 127 + 57; // qh: c = 2,0,1,1 → v = 162 + 9 + 3 = 174 → 184
        bytes[52..54].copy_from_slice(&f16::from_f32(2.0).to_le_bytes());
        let mut t = [0i8; 256];
        BlockTQ1_0::decode_ternary_row(&bytes, &mut t);
        let mut expected = [0i8; 256];
        for (k, v) in [(7, 1), (39, -1), (163, 1), (179, -1), (242, 1), (246, -1)] {
            expected[k] = v;
        }
        assert_eq!(t, expected);
        let mut w = [0f32; 256];
        BlockTQ1_0::dequantize_row(&bytes, &mut w);
        assert_eq!((w[7], w[39], w[242], w[0]), (2.0, -2.0, 2.0, 0.0));
    }

    #[test]
    fn encode_decode_round_trip() {
        let t: Vec<i8> = (0..768).map(|i| ((i * 5 + i / 7) % 3) as i8 - 1).collect();
        let mut bytes = [0u8; 3 * 54];
        BlockTQ1_0::encode_ternary_row(&t, -0.75, &mut bytes);
        let mut back = vec![0i8; 768];
        BlockTQ1_0::decode_ternary_row(&bytes, &mut back);
        assert_eq!(t, back);
        assert_eq!(BlockTQ1_0::read_block(&bytes[54..108]).d.to_f32(), -0.75);
    }

    #[test]
    fn every_trit_pattern_round_trips() {
        // All 3^5 values of one qs byte, placed at byte 0 (weights 0, 32, 64, 96, 128).
        for v in 0..243usize {
            let mut t = [0i8; 256];
            for n in 0..5 {
                t[32 * n] = (v / 3usize.pow(4 - n as u32) % 3) as i8 - 1;
            }
            let block = BlockTQ1_0::encode_block(&t, 1.0);
            let mut back = [0i8; 256];
            block.decode_block(&mut back);
            assert_eq!(t, back, "v = {v}");
        }
    }
}

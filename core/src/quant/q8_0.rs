//! Q8_0: blocks of 32 int8 weights sharing one f16 scale (llama.cpp `block_q8_0`).

use half::f16;

use super::format::{BlockFormat, QuantizeFormat};
use super::TensorType;

/// One Q8_0 block: 32 weights in 34 bytes.
///
/// ```text
/// bytes 0..2    d: f16, little-endian
/// bytes 2..34   qs[0..32]: int8, weight j = qs[j] · d
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0 {
    /// The block scale.
    pub d: f16,
    /// The quantised weights.
    pub qs: [i8; 32],
}

impl BlockFormat for BlockQ8_0 {
    const TYPE: TensorType = TensorType::Q8_0;

    fn read_block(bytes: &[u8]) -> Self {
        let mut qs = [0i8; 32];
        for (q, &b) in qs.iter_mut().zip(&bytes[2..34]) {
            *q = b as i8;
        }
        Self {
            d: f16::from_le_bytes([bytes[0], bytes[1]]),
            qs,
        }
    }

    fn write_block(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&self.d.to_le_bytes());
        for (b, &q) in out[2..34].iter_mut().zip(&self.qs) {
            *b = q as u8;
        }
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (out, &q) in out.iter_mut().zip(&self.qs) {
            *out = f32::from(q) * d;
        }
    }
}

impl QuantizeFormat for BlockQ8_0 {
    /// llama.cpp's `quantize_row_q8_0_ref`: `d = max|x| / 127` (stored as f16),
    /// `q = round_half_away(x / d)` computed with the f32 `d` (all zeros when `d` = 0).
    fn quantize_block(x: &[f32]) -> Self {
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv_d = if d == 0.0 { 0.0 } else { 1.0 / d };
        let mut qs = [0i8; 32];
        for (q, &x) in qs.iter_mut().zip(x) {
            // |x · inv_d| ≤ 127 up to rounding; `as` saturates (and maps NaN to 0).
            *q = (x * inv_d).round() as i8;
        }
        Self {
            d: f16::from_f32(d),
            qs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_built_block() {
        let mut bytes = [0u8; 34];
        bytes[0..2].copy_from_slice(&[0x00, 0x38]); // f16 0.5
        bytes[2] = 4;
        bytes[3] = (-128i8) as u8;
        bytes[33] = 127;
        let mut out = [9f32; 32];
        BlockQ8_0::dequantize_row(&bytes, &mut out);
        assert_eq!(out[0], 2.0);
        assert_eq!(out[1], -64.0);
        assert_eq!(out[2], 0.0);
        assert_eq!(out[31], 63.5);
    }

    #[test]
    fn quantizes_like_the_reference() {
        // max |x| = 127 → d = 1: q = round half away from zero.
        let mut x = [0f32; 64];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = -0.4;
        // Second block all zero: d = 0, q = 0.
        let mut bytes = [0u8; 68];
        BlockQ8_0::quantize_row(&x, &mut bytes);
        let b = BlockQ8_0::read_block(&bytes[..34]);
        assert_eq!(b.d, f16::ONE);
        assert_eq!(&b.qs[..4], &[127, 3, -3, 0]);
        assert_eq!(&bytes[34..], &[0u8; 34]);
    }

    #[test]
    fn quantizes_bit_for_bit_like_gguf_py() {
        // Expected bytes printed once by gguf-py 0.x (`gguf.quants.quantize(x, Q8_0)`) for:
        // block 0: ((37i mod 101) − 50) / 7; block 1: zeros but 1e-3; block 2: the formula
        // with 127, ±2.5, ±0.5 and 126.5 at its start (d = 1: ties round away from zero).
        let mut x: Vec<f32> = (0..96)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        x[32..64].fill(0.0);
        x[32] = 1e-3;
        x[64..70].copy_from_slice(&[127.0, 2.5, -2.5, -0.5, 0.5, 126.5]);
        const GGUF_PY: [u8; 102] = [
            51, 43, 129, 223, 61, 154, 248, 86, 180, 18, 112, 205, 43, 137, 231, 69, 162, 0, 94,
            187, 25, 119, 213, 51, 144, 238, 76, 170, 8, 102, 195, 33, 127, 220, 132, 0, 127, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 60, 127, 3, 253, 255, 1, 127, 2, 249, 254, 4, 250, 0, 5, 252, 1, 6, 253, 3, 249,
            255, 4, 251, 0, 5, 252, 2, 7, 254, 3, 250, 255, 4,
        ];
        let mut bytes = [0u8; 102];
        BlockQ8_0::quantize_row(&x, &mut bytes);
        assert_eq!(bytes, GGUF_PY);
    }

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let mut bytes = vec![0u8; 3 * 34];
        BlockQ8_0::quantize_row(&x, &mut bytes);
        let mut back = vec![0f32; 96];
        BlockQ8_0::dequantize_row(&bytes, &mut back);
        for (block, (x, y)) in x.chunks(32).zip(back.chunks(32)).enumerate() {
            let d = BlockQ8_0::read_block(&bytes[block * 34..][..34]).d.to_f32();
            for (a, b) in x.iter().zip(y) {
                // Half a step, plus the f16 rounding of d over 127 steps.
                assert!((a - b).abs() <= 0.5 * d + 127.0 * d / 1024.0, "{a} vs {b}");
            }
        }
    }
}

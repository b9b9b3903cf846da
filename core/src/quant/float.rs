//! Plain float formats, one weight per "block": F32, F16 and BF16, all little-endian.
//!
//! Conversions to the 16-bit formats round to nearest, ties to even, as ggml's
//! `GGML_FP32_TO_FP16` / `ggml_compute_fp32_to_bf16` do; a NaN stays a (quiet) NaN.

use half::{bf16, f16};

use super::format::{BlockFormat, QuantizeFormat};
use super::TensorType;

/// F32: bytes 0..4 = the IEEE binary32 weight, little-endian.
impl BlockFormat for f32 {
    const TYPE: TensorType = TensorType::F32;

    fn read_block(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        f32::from_le_bytes(b)
    }

    fn write_block(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        out[0] = *self;
    }
}

impl QuantizeFormat for f32 {
    fn quantize_block(x: &[f32]) -> Self {
        x[0]
    }
}

/// F16: bytes 0..2 = the IEEE binary16 weight, little-endian.
impl BlockFormat for f16 {
    const TYPE: TensorType = TensorType::F16;

    fn read_block(bytes: &[u8]) -> Self {
        f16::from_le_bytes([bytes[0], bytes[1]])
    }

    fn write_block(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        out[0] = self.to_f32();
    }
}

impl QuantizeFormat for f16 {
    fn quantize_block(x: &[f32]) -> Self {
        f16::from_f32(x[0])
    }
}

/// BF16: bytes 0..2 = the top 16 bits of the IEEE binary32 weight, little-endian.
impl BlockFormat for bf16 {
    const TYPE: TensorType = TensorType::BF16;

    fn read_block(bytes: &[u8]) -> Self {
        bf16::from_le_bytes([bytes[0], bytes[1]])
    }

    fn write_block(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }

    fn dequantize_block(&self, out: &mut [f32]) {
        out[0] = self.to_f32();
    }
}

impl QuantizeFormat for bf16 {
    fn quantize_block(x: &[f32]) -> Self {
        bf16::from_f32(x[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_rows_round_trip_bit_for_bit() {
        let x = [1.5f32, -0.0, f32::MIN_POSITIVE, f32::INFINITY, 3.0e38];
        let mut bytes = [0u8; 20];
        f32::quantize_row(&x, &mut bytes);
        assert_eq!(&bytes[..4], &1.5f32.to_le_bytes());
        let mut back = [0f32; 5];
        f32::dequantize_row(&bytes, &mut back);
        assert_eq!(x.map(f32::to_bits), back.map(f32::to_bits));
    }

    #[test]
    fn f16_known_encodings() {
        // 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF (max), 1 + 2^-11 ties to even → 1.0.
        let x = [1.0f32, -2.0, 65504.0, 1.0 + 1.0 / 2048.0];
        let mut bytes = [0u8; 8];
        f16::quantize_row(&x, &mut bytes);
        assert_eq!(bytes, [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x00, 0x3C]);
        let mut back = [0f32; 4];
        f16::dequantize_row(&bytes, &mut back);
        assert_eq!(back, [1.0, -2.0, 65504.0, 1.0]);
    }

    #[test]
    fn bf16_rounds_to_nearest_even_and_keeps_nan() {
        // 1 + 2^-8 lies halfway between bf16 1.0 and 1 + 2^-7: ties to even → 1.0 (0x3F80).
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: ties to even → 0x3F82.
        let x = [1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0, -3.0, f32::NAN];
        let mut bytes = [0u8; 8];
        bf16::quantize_row(&x, &mut bytes);
        assert_eq!(&bytes[..6], &[0x80, 0x3F, 0x82, 0x3F, 0x40, 0xC0]);
        let mut back = [0f32; 4];
        bf16::dequantize_row(&bytes, &mut back);
        assert_eq!(&back[..3], &[1.0, 1.0 + 1.0 / 64.0, -3.0]);
        assert!(back[3].is_nan());
    }
}

//! The portable reference kernels: plain Rust loops over the formats' reference codecs.

use super::{Kernels, QuantActs};
use crate::quant::{BlockI2S, BlockTQ1_0, BlockTQ2_0, TernaryFormat};

/// The scalar table.
pub(super) static KERNELS: Kernels = Kernels {
    name: "scalar",
    quantize_acts,
    acc_i2s: BlockI2S::acc_i8,
    acc_tq2_0: BlockTQ2_0::acc_i8,
    acc_tq1_0: BlockTQ1_0::acc_i8,
    dot_tq2_0: BlockTQ2_0::dot_i8,
    dot_tq1_0: BlockTQ1_0::dot_i8,
};

/// Absmax int8 quantisation of one token (see [`QuantActs`]).
fn quantize_acts(x: &[f32], out: &mut QuantActs) {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
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
    fn quantize_one_rounds_half_even_and_clamps() {
        assert_eq!(quantize_one(2.5, 1.0), 2);
        assert_eq!(quantize_one(-3.5, 1.0), -4);
        assert_eq!(quantize_one(-200.0, 1.0), -128);
        assert_eq!(quantize_one(-128.5, 1.0), -128);
        assert_eq!(quantize_one(127.6, 1.0), 127);
        assert_eq!(quantize_one(f32::NAN, 1.0), 0);
    }
}

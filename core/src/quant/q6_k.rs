//! Q6_K: 256-weight super-blocks of sixteen 16-weight sub-blocks, 6-bit weights with an int8
//! scale per sub-block (llama.cpp `block_q6_K`), with llama.cpp's reference encoder.

use half::f16;

use super::format::{nearest_int, BlockFormat, QuantizeFormat};
use super::TensorType;

/// Below this magnitude a group of weights counts as all zero (ggml's `GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

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

impl BlockQ6K {
    /// The 6-bit value `q` (0..64) of weight `k` (< 256): weight = d · scales[k / 16] · (q − 32).
    pub fn level(&self, k: usize) -> u8 {
        let (h, g, l) = (k / 128, k / 32 % 4, k % 32);
        let low = (self.ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 15;
        let high = (self.qh[32 * h + l] >> (2 * g)) & 3;
        low | high << 4
    }
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
            let q = self.level(k) as i8 - 32;
            *out = d * f32::from(self.scales[k / 16]) * f32::from(q);
        }
    }
}

impl QuantizeFormat for BlockQ6K {
    /// llama.cpp's `quantize_row_q6_K_ref`: each 16-weight sub-block gets the scale that
    /// minimises its `x²`-weighted squared error over 19 candidate grids
    /// (`sub_block_scales`); the scales are stored as int8 times the f16 `d` that maps the
    /// largest to −128, and the weights are re-rounded against the stored scales.
    fn quantize_block(x: &[f32]) -> Self {
        let mut levels = [0u8; 256];
        let scales = sub_block_scales(x, &mut levels);
        let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
        for &scale in &scales {
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = scale;
            }
        }
        let mut block = BlockQ6K {
            ql: [0; 128],
            qh: [0; 64],
            scales: [0; 16],
            d: f16::ZERO,
        };
        if max_abs_scale < GROUP_MAX_EPS {
            return block;
        }
        let iscale = -128.0 / max_scale;
        block.d = f16::from_f32(1.0 / iscale);
        for (q, &scale) in block.scales.iter_mut().zip(&scales) {
            // Wraps like C's int → int8_t conversion; only non-finite inputs get there.
            *q = nearest_int(iscale * scale).min(127) as i8;
        }
        for ((x, l), &q) in x
            .chunks_exact(16)
            .zip(levels.chunks_exact_mut(16))
            .zip(&block.scales)
        {
            let d = block.d.to_f32() * f32::from(q);
            if d == 0.0 {
                continue;
            }
            for (l, &x) in l.iter_mut().zip(x) {
                *l = (nearest_int(x / d).clamp(-32, 31) + 32) as u8;
            }
        }
        // Weight k = 128·h + 32·g + l: low nibble into ql (see the layout above), high bits
        // into qh at bits 2g+1..2g.
        for (k, &q) in levels.iter().enumerate() {
            let (h, g, l) = (k / 128, k / 32 % 4, k % 32);
            block.ql[64 * h + 32 * (g % 2) + l] |= (q & 15) << (4 * (g / 2));
            block.qh[32 * h + l] |= (q >> 4) << (2 * g);
        }
        block
    }
}

/// Sub-blocks per super-block: the lanes of [`sub_block_scales`].
const SUBS: usize = 16;

/// ggml's `make_qx_quants(16, 32, x, L, 1, NULL)` for each of the 16 sub-blocks of `x` (one
/// super-block): the sub-block's scale and its `levels` (`0..64`, weight ≈ scale · (L − 32)).
/// The grid `−(32 + 0.1·i) / max` (`max` the sub-block's signed largest-magnitude weight) is
/// tried for i = 0, −9..=9; each grid's least-squares scale, weighted by `x²`, is kept when it
/// lowers the error; an all-zero sub-block gets scale 0 and levels 0.
///
/// The sub-blocks are the lanes of every loop: each lane runs ggml's f32 operations in ggml's
/// order (so the bytes are its bytes), and the compiler runs the lanes side by side in vector
/// registers — the grids are most of a head's re-quantisation time.
fn sub_block_scales(x: &[f32], levels: &mut [u8; 256]) -> [f32; SUBS] {
    // xt[i][s]: weight i of sub-block s.
    let mut xt = [[0f32; SUBS]; 16];
    for (s, x) in x.chunks_exact(16).enumerate() {
        for (i, &x) in x.iter().enumerate() {
            xt[i][s] = x;
        }
    }
    let (mut max, mut amax) = ([0f32; SUBS], [0f32; SUBS]);
    for xi in &xt {
        for s in 0..SUBS {
            if xi[s].abs() > amax[s] {
                amax[s] = xi[s].abs();
                max[s] = xi[s];
            }
        }
    }
    // Per lane, (Σ w·x·l, Σ w·l²) with w = x² over the grid `iscale`, in weight order.
    let sums = |iscale: &[f32; SUBS]| {
        let (mut lx, mut l2) = ([0f32; SUBS], [0f32; SUBS]);
        for xi in &xt {
            for s in 0..SUBS {
                let (x, l) = (xi[s], nearest_int(iscale[s] * xi[s]).clamp(-32, 31) as f32);
                let w = x * x;
                lx[s] += w * x * l;
                l2[s] += w * l * l;
            }
        }
        (lx, l2)
    };
    let grid = |i: i32| std::array::from_fn::<f32, SUBS, _>(|s| -(32.0 + 0.1 * i as f32) / max[s]);
    let mut best_iscale = grid(0);
    let (lx, l2) = sums(&best_iscale);
    let mut scale: [f32; SUBS] =
        std::array::from_fn(|s| if l2[s] != 0.0 { lx[s] / l2[s] } else { 0.0 });
    let mut best: [f32; SUBS] = std::array::from_fn(|s| scale[s] * lx[s]);
    for i in (-9..=9).filter(|&i| i != 0) {
        let iscale = grid(i);
        let (lx, l2) = sums(&iscale);
        for s in 0..SUBS {
            if l2[s] > 0.0 && lx[s] * lx[s] > best[s] * l2[s] {
                best_iscale[s] = iscale[s];
                scale[s] = lx[s] / l2[s];
                best[s] = scale[s] * lx[s];
            }
        }
    }
    // The levels of the grid kept (what ggml stores each time a grid wins).
    for (s, levels) in levels.chunks_exact_mut(16).enumerate() {
        if amax[s] < GROUP_MAX_EPS {
            scale[s] = 0.0;
            levels.fill(0);
            continue;
        }
        for (l, xi) in levels.iter_mut().zip(&xt) {
            *l = (nearest_int(best_iscale[s] * xi[s]).clamp(-32, 31) + 32) as u8;
        }
    }
    scale
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

    #[test]
    fn encodes_close_to_the_input_and_decodes_exactly_its_levels() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(61);
        let x: Vec<f32> = (0..1024).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut bytes = vec![0u8; 4 * 210];
        BlockQ6K::quantize_row(&x, &mut bytes);
        let mut y = vec![0f32; 1024];
        BlockQ6K::dequantize_row(&bytes, &mut y);
        let err: f32 = x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>();
        // 6 bits over ±1: relative L2 error about 1 %.
        assert!((err / norm).sqrt() < 0.02, "{}", (err / norm).sqrt());
        // Re-encoding the decoded weights keeps them: a fixed point of the grid.
        let mut again = vec![0u8; bytes.len()];
        BlockQ6K::quantize_row(&y, &mut again);
        let mut z = vec![0f32; 1024];
        BlockQ6K::dequantize_row(&again, &mut z);
        let drift = y
            .iter()
            .zip(&z)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(drift < 0.02, "{drift}");
    }

    #[test]
    fn zero_and_non_finite_blocks_encode_without_panicking() {
        let zero = BlockQ6K::quantize_block(&[0.0; 256]);
        assert_eq!(zero.d, f16::ZERO);
        assert!(zero.ql.iter().chain(&zero.qh).all(|&b| b == 0));
        let mut x = [0.25f32; 256];
        x[3] = f32::NAN;
        x[200] = f32::INFINITY;
        let _ = BlockQ6K::quantize_block(&x);
    }

    #[test]
    fn one_dominant_weight_maps_to_scale_minus_128() {
        let mut x = [0.0f32; 256];
        x[17] = -3.0; // sub-block 1
        x[100] = 0.5; // sub-block 6
        let b = BlockQ6K::quantize_block(&x);
        assert_eq!(b.scales[1], -128);
        let mut y = [0f32; 256];
        b.dequantize_block(&mut y);
        assert!((y[17] + 3.0).abs() < 3.0 / 64.0, "{}", y[17]);
        assert!((y[100] - 0.5).abs() < 0.5 / 16.0, "{}", y[100]);
        assert!(y
            .iter()
            .enumerate()
            .all(|(k, &v)| k == 17 || k == 100 || v == 0.0));
    }
}

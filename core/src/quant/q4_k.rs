//! Q4_K: 256-weight super-blocks of eight 32-weight sub-blocks, 4-bit weights with a 6-bit
//! scale and min per sub-block (llama.cpp `block_q4_K`), with llama.cpp's reference encoder.

use half::f16;

use super::format::{nearest_int, BlockFormat, QuantizeFormat};
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
    /// The eight 6-bit scales then the eight 6-bit mins of a block's packed `scales` bytes
    /// (the first 12 bytes of `packed`: bytes 4..16 of the block, see the layout above),
    /// `[sc_0..sc_8, m_0..m_8]` as four little-endian words (`sc_0..sc_4`, `sc_4..sc_8`,
    /// `m_0..m_4`, `m_4..m_8`): the one decoder of the packing, a few integer operations per
    /// block that the kernels move straight into a vector register (not through memory,
    /// where a 16-byte load of four 4-byte stores would stall).
    ///
    /// # Panics
    /// When `packed` is shorter than 12 bytes.
    #[inline(always)]
    pub fn scales_mins(packed: &[u8]) -> [u32; 4] {
        let word = |i: usize| {
            u32::from_le_bytes([
                packed[4 * i],
                packed[4 * i + 1],
                packed[4 * i + 2],
                packed[4 * i + 3],
            ])
        };
        let (w0, w1, w2) = (word(0), word(1), word(2));
        const LOW6: u32 = 0x3f3f_3f3f;
        const LOW4: u32 = 0x0f0f_0f0f;
        const LOW2: u32 = 0x0303_0303;
        // Sub-blocks 0..4 are the low 6 bits of bytes 0..4 (scales) and 4..8 (mins); 4..8 take
        // their low 4 bits from the nibbles of bytes 8..12 and their top 2 from the top 2
        // bits of bytes 0..4 (scales) and 4..8 (mins).
        [
            w0 & LOW6,
            (w2 & LOW4) | ((w0 >> 6) & LOW2) << 4,
            w1 & LOW6,
            ((w2 >> 4) & LOW4) | ((w1 >> 6) & LOW2) << 4,
        ]
    }

    /// [`scales_mins`](Self::scales_mins) as bytes: `[sc_0..sc_8, m_0..m_8]`.
    pub fn scales_mins_bytes(packed: &[u8]) -> [u8; 16] {
        let words = Self::scales_mins(packed);
        std::array::from_fn(|i| words[i / 4].to_le_bytes()[i % 4])
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
        let sm = Self::scales_mins_bytes(&self.scales);
        for (j, out) in out.chunks_exact_mut(32).enumerate() {
            let (sc, m) = (sm[j], sm[8 + j]);
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

impl QuantizeFormat for BlockQ4K {
    /// llama.cpp's `quantize_row_q4_K_ref`: each 32-weight sub-block gets the scale and min
    /// that minimise its weighted squared error (`sub_block_fits`); scales and mins are
    /// stored as 6-bit multiples of the f16 `d` and `dmin` that map the largest of each to 63,
    /// and the weights are re-rounded against the stored values.
    fn quantize_block(x: &[f32]) -> Self {
        let mut levels = [0u8; 256];
        let (scales, mins) = sub_block_fits(x, &mut levels);
        // As we subtract the min, scales and mins are ≥ 0 for finite input.
        let max_scale = scales.iter().fold(0f32, |m, &s| if s > m { s } else { m });
        let max_min = mins.iter().fold(0f32, |m, &s| if s > m { s } else { m });
        let inv_scale = if max_scale > 0.0 {
            63.0 / max_scale
        } else {
            0.0
        };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let mut block = BlockQ4K {
            d: f16::from_f32(max_scale / 63.0),
            dmin: f16::from_f32(max_min / 63.0),
            scales: [0; 12],
            qs: [0; 128],
        };
        for j in 0..8 {
            // `as u8` wraps like C's int → uint8_t conversion before the clamp, as ggml's.
            let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
            let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
            let s = &mut block.scales;
            if j < 4 {
                s[j] = ls;
                s[j + 4] = lm;
            } else {
                s[j + 4] = (ls & 15) | (lm & 15) << 4;
                s[j - 4] |= (ls >> 4) << 6;
                s[j] |= (lm >> 4) << 6;
            }
        }
        let sm = Self::scales_mins_bytes(&block.scales);
        let (d, dmin) = (block.d.to_f32(), block.dmin.to_f32());
        for (j, (x, l)) in x
            .chunks_exact(32)
            .zip(levels.chunks_exact_mut(32))
            .enumerate()
        {
            let d = d * f32::from(sm[j]);
            if d == 0.0 {
                continue; // ggml keeps the fit's levels here
            }
            let dm = dmin * f32::from(sm[8 + j]);
            for (l, &x) in l.iter_mut().zip(x) {
                *l = nearest_int((x + dm) / d).clamp(0, 15) as u8;
            }
        }
        // Weights 64·p + i (low nibble) and 64·p + 32 + i (high nibble) share byte 32·p + i.
        for (q, l) in block.qs.chunks_exact_mut(32).zip(levels.chunks_exact(64)) {
            for (i, q) in q.iter_mut().enumerate() {
                *q = l[i] | l[32 + i] << 4;
            }
        }
        block
    }
}

/// Sub-blocks per super-block: the lanes of [`sub_block_fits`].
const SUBS: usize = 8;

/// ggml's `make_qkx2_quants(32, 15, x, w, L, &min, Laux, −1, 0.1, 20, false)` for each of the
/// 8 sub-blocks of `x` (one super-block), with ggml's weights `w_i = √(Σx²/32) + |x_i|`: the
/// sub-blocks' scales and mins (weight ≈ scale · L − min, `min` ≥ 0) and their `levels`
/// (0..16). From the range `[min(x, 0), max(x)]`, grids `iscale = (14 + 0.1·i) / (max − min)`
/// for i = 0..=20 are tried; each grid's weighted least-squares scale and offset (the offset
/// clamped to ≤ 0) are kept when they lower the weighted squared error, and later grids round
/// against the offset kept so far, as ggml's do. A sub-block whose values are all equal (or
/// all ≥ 0 and equal to 0) gets scale 0, levels 0.
///
/// The sub-blocks are the lanes of every loop, each lane running ggml's f32 operations in
/// ggml's order (so the bytes are its bytes); the compiler runs them side by side in vector
/// registers.
fn sub_block_fits(x: &[f32], levels: &mut [u8; 256]) -> ([f32; SUBS], [f32; SUBS]) {
    const NMAX: f32 = 15.0;
    // xt[i][s]: weight i of sub-block s; wt the matching weights.
    let mut xt = [[0f32; SUBS]; 32];
    for (s, x) in x.chunks_exact(32).enumerate() {
        for (i, &x) in x.iter().enumerate() {
            xt[i][s] = x;
        }
    }
    let mut sum_x2 = [0f32; SUBS];
    for xi in &xt {
        for s in 0..SUBS {
            sum_x2[s] += xi[s] * xi[s];
        }
    }
    let av_x: [f32; SUBS] = std::array::from_fn(|s| (sum_x2[s] / 32.0).sqrt());
    let wt: [[f32; SUBS]; 32] =
        std::array::from_fn(|i| std::array::from_fn(|s| av_x[s] + xt[i][s].abs()));
    let (mut min, mut max) = (xt[0], xt[0]);
    let mut sum_w = wt[0];
    let mut sum_x: [f32; SUBS] = std::array::from_fn(|s| sum_w[s] * xt[0][s]);
    for (xi, wi) in xt.iter().zip(&wt).skip(1) {
        for s in 0..SUBS {
            if xi[s] < min[s] {
                min[s] = xi[s];
            }
            if xi[s] > max[s] {
                max[s] = xi[s];
            }
            sum_w[s] += wi[s];
            sum_x[s] += wi[s] * xi[s];
        }
    }
    for m in &mut min {
        if *m > 0.0 {
            *m = 0.0;
        }
    }
    let flat: [bool; SUBS] = std::array::from_fn(|s| max[s] == min[s]);
    let level = |iscale: f32, x: f32, min: f32| nearest_int(iscale * (x - min)).clamp(0, 15) as f32;
    // The first fit: the plain range grid, error weighted by w.
    let mut best_iscale: [f32; SUBS] = std::array::from_fn(|s| NMAX / (max[s] - min[s]));
    let mut scale: [f32; SUBS] = std::array::from_fn(|s| 1.0 / best_iscale[s]);
    let mut best_min = min;
    let mut best_error = [0f32; SUBS];
    for (xi, wi) in xt.iter().zip(&wt) {
        for s in 0..SUBS {
            let l = level(best_iscale[s], xi[s], min[s]);
            let diff = scale[s] * l + min[s] - xi[s];
            best_error[s] += wi[s] * (diff * diff);
        }
    }
    for step in 0..=20 {
        let iscale: [f32; SUBS] =
            std::array::from_fn(|s| (-1.0 + 0.1 * step as f32 + NMAX) / (max[s] - min[s]));
        let (mut sum_l, mut sum_l2, mut sum_xl) = ([0f32; SUBS], [0f32; SUBS], [0f32; SUBS]);
        for (xi, wi) in xt.iter().zip(&wt) {
            for s in 0..SUBS {
                let (w, l) = (wi[s], level(iscale[s], xi[s], min[s]));
                sum_l[s] += w * l;
                sum_l2[s] += w * l * l;
                sum_xl[s] += w * l * xi[s];
            }
        }
        let mut fit = [(0f32, 0f32); SUBS];
        let mut tried = [false; SUBS];
        for s in 0..SUBS {
            let det = sum_w[s] * sum_l2[s] - sum_l[s] * sum_l[s];
            if det > 0.0 {
                let mut this_scale = (sum_w[s] * sum_xl[s] - sum_x[s] * sum_l[s]) / det;
                let mut this_min = (sum_l2[s] * sum_x[s] - sum_l[s] * sum_xl[s]) / det;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl[s] / sum_l2[s];
                }
                fit[s] = (this_scale, this_min);
                tried[s] = true;
            }
        }
        let mut error = [0f32; SUBS];
        for (xi, wi) in xt.iter().zip(&wt) {
            for s in 0..SUBS {
                let l = level(iscale[s], xi[s], min[s]);
                let diff = fit[s].0 * l + fit[s].1 - xi[s];
                error[s] += wi[s] * (diff * diff);
            }
        }
        for s in 0..SUBS {
            if tried[s] && !flat[s] && error[s] < best_error[s] {
                best_error[s] = error[s];
                best_iscale[s] = iscale[s];
                best_min[s] = min[s];
                scale[s] = fit[s].0;
                min[s] = fit[s].1;
            }
        }
    }
    // The levels of the grid kept, rounded against the offset of its step.
    for (s, levels) in levels.chunks_exact_mut(32).enumerate() {
        if flat[s] {
            scale[s] = 0.0;
            levels.fill(0);
            continue;
        }
        for (l, xi) in levels.iter_mut().zip(&xt) {
            *l = level(best_iscale[s], xi[s], best_min[s]) as u8;
        }
    }
    (scale, min.map(|m| -m))
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

    #[test]
    fn scales_mins_is_the_documented_packing() {
        let packed: [u8; 12] = std::array::from_fn(|i| (37 * i % 251) as u8 ^ 0x5b);
        let sm = BlockQ4K::scales_mins_bytes(&packed);
        for j in 0..8 {
            let (sc, m) = if j < 4 {
                (packed[j] & 63, packed[j + 4] & 63)
            } else {
                (
                    (packed[j + 4] & 15) | (packed[j - 4] >> 6) << 4,
                    (packed[j + 4] >> 4) | (packed[j] >> 6) << 4,
                )
            };
            assert_eq!((sm[j], sm[8 + j]), (sc, m), "sub-block {j}");
        }
    }

    #[test]
    fn encodes_close_to_the_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(62);
        let x: Vec<f32> = (0..1024).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut bytes = vec![0u8; 4 * 144];
        BlockQ4K::quantize_row(&x, &mut bytes);
        let mut y = vec![0f32; 1024];
        BlockQ4K::dequantize_row(&bytes, &mut y);
        let err: f32 = x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>();
        // 4 bits (16 levels) over ±1 with a fitted offset: relative L2 error about 7 %.
        let rel = (err / norm).sqrt();
        assert!(rel < 0.1, "{rel}");
    }

    #[test]
    fn flat_zero_and_non_finite_blocks_encode_without_panicking() {
        let zero = BlockQ4K::quantize_block(&[0.0; 256]);
        assert_eq!((zero.d, zero.dmin), (f16::ZERO, f16::ZERO));
        assert!(zero.qs.iter().chain(&zero.scales).all(|&b| b == 0));
        // All equal and negative: scale 0, the value carried by the min.
        let flat = BlockQ4K::quantize_block(&[-0.5; 256]);
        let mut y = [0f32; 256];
        flat.dequantize_block(&mut y);
        assert!(y.iter().all(|&v| (v + 0.5).abs() < 0.5 / 63.0), "{}", y[0]);
        let mut x = [0.25f32; 256];
        x[3] = f32::NAN;
        x[200] = f32::INFINITY;
        let _ = BlockQ4K::quantize_block(&x);
    }
}

//! The `"avx2"` table's ternary tiles: weights decoded to unsigned `u = t + 1` and
//! `Σ t·q = Σ u·q − Σ q` computed with `maddubs(u, q)` (no sign work per activation), 32 int8
//! lanes per instruction. Its other entries (activation quantisation, float dots, the Q8_0
//! head) are the x86 ones every x86 table shares (`x86/mod.rs`).

use std::arch::x86_64::*;

use super::{
    dot_f16, dot_f32, dot_q4_k, dot_q6_k, dot_q8_0, dot_q8_0_keys, load_i8, load_u8, quantize_acts,
    signed_sums, softmax, sum_i32, weighted_sum_f16, weighted_sum_q8_0,
};
use crate::kernels::{tile_fn, Kernels, QuantActs};
use crate::quant::{BlockTQ1_0, BlockTQ2_0, TernaryFormat};

/// The AVX2 table; reachable only through [`super::table`].
pub(super) static KERNELS: Kernels = Kernels {
    name: "avx2",
    quantize_acts,
    tile_i2s,
    tile_tq2_0,
    tile_tq1_0,
    // Per-block scales are a rare path (TQ files whose block scales differ): the scalar loops.
    dot_tq2_0: BlockTQ2_0::dot_i8,
    dot_tq1_0: BlockTQ1_0::dot_i8,
    dot_f32,
    dot_f16,
    dot_q8_0,
    dot_q6_k,
    dot_q4_k,
    weighted_sum_f16,
    dot_q8_0_keys,
    weighted_sum_q8_0,
    softmax,
    row_walk: crate::kernels::RowWalk::SEQUENTIAL,
};

// ---- base-3 ternary codes: TQ1_0 ----

/// Each byte times 3, modulo 256: shifts a packed base-3 fraction one trit left.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn times3(v: __m256i) -> __m256i {
    _mm256_add_epi8(v, _mm256_add_epi8(v, v))
}

/// The top trit of each byte `m` as `u = t + 1`: `(3m) >> 8`, that is `[m ≥ 86] + [m ≥ 171]`,
/// with the unsigned compares done signed on `m − 128`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn top_trit(m: __m256i) -> __m256i {
    let s = _mm256_xor_si256(m, _mm256_set1_epi8(i8::MIN));
    let ge86 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8(-43)); // m > 85
    let ge171 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8(42)); // m > 170
                                                            // The compares give −1 where true.
    _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171)
}

// ---- ternary tiles ----

/// A ternary block layout as the AVX2 tile decodes it: groups of 128 weights, each as 4
/// vectors of 32 unsigned weights `u = t + 1` (0..=3), vector `I` of group `g` holding the
/// weights whose activations are the block's `q[128g + 32I..][..32]`.
trait Codes {
    /// Bytes per block.
    const BLOCK_BYTES: usize;
    /// Weights per block (a multiple of 128).
    const BLOCK_LEN: usize;

    /// Vector `I` (0..4) of group `group` of the block's `BLOCK_BYTES` bytes `block`. The
    /// vectors of one group share their loads and shifts, which the compiler merges.
    ///
    /// # Safety
    /// The CPU has AVX2.
    unsafe fn decode<const I: usize>(block: &[u8], group: usize) -> __m256i;
}

/// The 2-bit codes at bits `2s + 1..2s` of each byte of `codes`, `s` = 0..4; the 16-bit
/// shift's bits from the neighbouring byte are masked off.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn codes_at(codes: __m256i, s: usize) -> __m256i {
    let shifted = match s {
        0 => codes,
        1 => _mm256_srli_epi16::<2>(codes),
        2 => _mm256_srli_epi16::<4>(codes),
        _ => _mm256_srli_epi16::<6>(codes),
    };
    _mm256_and_si256(shifted, _mm256_set1_epi8(3))
}

/// I2_S: one 32-byte group per block; weight `k` in byte `k % 32` at bits 7-6 (k < 32), 5-4,
/// 3-2, 1-0 (96 ≤ k). Codes 0, 1, 2 → u = 0, 1, 2; code 3 (t = 0) → u = 1 by a table lookup.
struct I2S;

impl Codes for I2S {
    const BLOCK_BYTES: usize = 32;
    const BLOCK_LEN: usize = 128;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn decode<const I: usize>(block: &[u8], _group: usize) -> __m256i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let u = _mm256_set1_epi32(i32::from_le_bytes([0, 1, 2, 1]));
            _mm256_shuffle_epi8(u, codes_at(load_u8(block), 3 - I))
        }
    }
}

/// TQ2_0: 66-byte blocks of 256 weights, two groups of 32 code bytes then the f16 scale;
/// weight `128g + 32l + m` in byte `32g + m` at bits `2l + 1..2l`. `t = code − 1` for every
/// code (3 → +2 as in the reference decoder), so `u` is the code itself.
struct TQ2_0;

impl Codes for TQ2_0 {
    const BLOCK_BYTES: usize = 66;
    const BLOCK_LEN: usize = 256;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn decode<const I: usize>(block: &[u8], group: usize) -> __m256i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { codes_at(load_u8(&block[32 * group..]), I) }
    }
}

/// TQ1_0: 54-byte blocks of 256 weights, trit `n` of a byte read as the top trit of
/// `byte · 3^n` (mod 256):
///
/// ```text
/// bytes 0..32   byte m: weights m + 32n, n = 0..5       → group 0; vector 0 of group 1
/// bytes 32..48  byte m: weights 160 + m + 16n, n = 0..5 → lower halves of group 1's 1..4
/// bytes 48..52  byte j: weights 240 + j + 4n, n = 0..4  → upper half of group 1's vector 3
/// ```
struct TQ1_0;

/// `v · 3^n` bytewise, modulo 256.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn times3_pow(mut v: __m256i, n: usize) -> __m256i {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        for _ in 0..n {
            v = times3(v);
        }
        v
    }
}

impl Codes for TQ1_0 {
    const BLOCK_BYTES: usize = 54;
    const BLOCK_LEN: usize = 256;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn decode<const I: usize>(block: &[u8], group: usize) -> __m256i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            if group == 0 || I == 0 {
                // Bytes 0..32: trit I for group 0, trit 4 for group 1's first vector.
                return top_trit(times3_pow(load_u8(block), 4 * group + I));
            }
            // b(n): bytes 32..48 in the lower half and the qh dword (bytes 48..52) in each dword
            // of the upper half, times 3^n.
            let qh = i32::from_le_bytes([block[48], block[49], block[50], block[51]]);
            let lower = &block[32..48];
            // SAFETY: `lower` is 16 readable bytes; the load has no alignment requirement.
            let lower = _mm_loadu_si128(lower.as_ptr().cast());
            let b0 = _mm256_set_m128i(_mm_set1_epi32(qh), lower);
            let b1 = times3(b0);
            let b2 = times3(b1);
            let b3 = times3(b2);
            top_trit(match I {
                // Weights 160..224: the lower halves of trits (0, 1) and (2, 3).
                1 => _mm256_permute2x128_si256::<0x20>(b0, b1),
                2 => _mm256_permute2x128_si256::<0x20>(b2, b3),
                // Weights 224..256: trit 4 of bytes 32..48, then qh trit n in upper dword n.
                _ => {
                    let w = _mm256_blend_epi32::<0b0001_0000>(times3(b3), b0);
                    let w = _mm256_blend_epi32::<0b0010_0000>(w, b1);
                    let w = _mm256_blend_epi32::<0b0100_0000>(w, b2);
                    _mm256_blend_epi32::<0b1000_0000>(w, b3)
                }
            })
        }
    }
}

/// Adds the products of vector `I` of group `group` to the 16-bit pair sums: `R` rows' block
/// bytes against `T` tokens' block activations `q` (`pairs[t][r]`). Decodes each row's vector
/// once, right before its `T` multiplies, so few decoded vectors are live at a time.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn add_products<F: Codes, const I: usize, const R: usize, const T: usize>(
    pairs: &mut [[__m256i; R]; T],
    blocks: [&[u8]; R],
    group: usize,
    q: [&[i8]; T],
) {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut qv = [_mm256_setzero_si256(); T];
        for (qv, q) in qv.iter_mut().zip(q) {
            *qv = load_i8(&q[128 * group + 32 * I..]);
        }
        for (r, block) in blocks.iter().enumerate() {
            let u = F::decode::<I>(block, group);
            for (pairs, &q) in pairs.iter_mut().zip(&qv) {
                pairs[r] = _mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(u, q));
            }
        }
    }
}

/// The tile kernel for layout `F` (see [`super::TernaryTileFn`]): `Σ t·q = Σ u·q − Σ q`, with
/// `maddubs(u, q)` taking the unsigned `u ≤ 3` and the signed `q` directly. A pair of products
/// is at most 768 in magnitude and a block has at most 8 `maddubs` per row and token, so the
/// 16-bit sums of one block stay below 6144; they are widened to int32 once per block.
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2<F: Codes, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&[i8]; T],
) -> [[i32; R]; T] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); R]; T];
        for b in 0..rows[0].len() / F::BLOCK_BYTES {
            let mut blocks = [&[][..]; R];
            for (block, row) in blocks.iter_mut().zip(rows) {
                *block = &row[b * F::BLOCK_BYTES..][..F::BLOCK_BYTES];
            }
            let mut q = [&[][..]; T];
            for (q, a) in q.iter_mut().zip(acts) {
                *q = &a[b * F::BLOCK_LEN..][..F::BLOCK_LEN];
            }
            let mut pairs = [[_mm256_setzero_si256(); R]; T];
            for g in 0..F::BLOCK_LEN / 128 {
                add_products::<F, 0, R, T>(&mut pairs, blocks, g, q);
                add_products::<F, 1, R, T>(&mut pairs, blocks, g, q);
                add_products::<F, 2, R, T>(&mut pairs, blocks, g, q);
                add_products::<F, 3, R, T>(&mut pairs, blocks, g, q);
            }
            for (acc, pairs) in acc.iter_mut().zip(&pairs) {
                for (acc, &p) in acc.iter_mut().zip(pairs) {
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(p, ones));
                }
            }
        }
        let mut sums = [[0; R]; T];
        for (sums, acc) in sums.iter_mut().zip(&acc) {
            for (s, &acc) in sums.iter_mut().zip(acc) {
                *s = sum_i32(acc);
            }
        }
        sums
    }
}

/// Tokens per pass of [`tile_avx2`]: with 4 rows, 2 tokens' 16-bit sums and int32
/// accumulators (16 registers) are as many as AVX2's 16 registers hold without spilling the
/// inner loop's sums.
const AVX2_TOKENS: usize = 2;

/// Defines the safe tile kernel `$name::<R, T>` for layout `$codes`: the tile's tokens in
/// passes of [`AVX2_TOKENS`], then `− Σ q` per token.
macro_rules! safe_tile {
    ($($name:ident = $codes:ty;)*) => {$(
        fn $name<const R: usize, const T: usize>(
            rows: [&[u8]; R],
            acts: [&QuantActs; T],
        ) -> [[i32; R]; T] {
            let mut sums = [[0; R]; T];
            for (sums, acts) in sums.chunks_mut(AVX2_TOKENS).zip(acts.chunks(AVX2_TOKENS)) {
                match acts {
                    // SAFETY: only reachable through `KERNELS`, which `table` returns only
                    // after detecting AVX2; every load reads a slice bounds-checked to the
                    // loaded width.
                    [a, b] => sums.copy_from_slice(&unsafe {
                        tile_avx2::<$codes, R, 2>(rows, [&a.q, &b.q])
                    }),
                    // SAFETY: as above.
                    [a] => sums.copy_from_slice(&unsafe { tile_avx2::<$codes, R, 1>(rows, [&a.q]) }),
                    _ => unreachable!("chunks of 1..=AVX2_TOKENS"),
                }
                signed_sums(sums, acts);
            }
            sums
        }
    )*};
}

safe_tile! {
    kernel_i2s = I2S;
    kernel_tq2_0 = TQ2_0;
    kernel_tq1_0 = TQ1_0;
}

tile_fn!(tile_i2s = kernel_i2s<>);
tile_fn!(tile_tq2_0 = kernel_tq2_0<>);
tile_fn!(tile_tq1_0 = kernel_tq1_0<>);

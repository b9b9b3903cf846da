//! The `"neon-i8mm"` table: `SMMLA` multiplies 8 weights of 2 rows by 8 activations of 2
//! tokens in tiles of 2 or more tokens (chosen when the CPU also reports `i8mm`); `SDOT` for
//! single tokens and the Q8_0 head.

use std::arch::aarch64::*;
use std::arch::asm;

use super::dotprod::Sdot;
use super::{load_s8, tile, whole_blocks, Codes, Mac, QuantActs, TILE_ROWS, TILE_TOKENS};

neon_table!(
    /// NEON with the int8 matrix-multiply extension: one `SMMLA` per 8 weights of 2 rows ×
    /// 2 tokens in tiles of 2 or more tokens; `SDOT` for 1-token tiles (decode) and Q8_0 dots.
    NEON_I8MM,
    "neon-i8mm",
    tile_mmla,
    Sdot,
    "neon,dotprod,i8mm"
);

/// `acc` plus the 2×2 int32 product of two 2×8 int8 matrices (`SMMLA`): lane `2i + j` gains
/// `Σ_{k<8} a[8i + k] · b[8j + k]`, i.e. row `i` of `a` times row `j` of `b`, exactly.
///
/// # Safety
/// The CPU supports `i8mm`.
#[inline(always)]
unsafe fn smmla(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        asm!(
            "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
        acc
    }
}

/// Two 16-byte vectors `x`, `y` as the two 2×8 operands of [`smmla`] that cover all their
/// bytes: `[x[0..8], y[0..8]]` and `[x[8..16], y[8..16]]` (`ZIP1`/`ZIP2` on 64-bit lanes).
#[inline(always)]
unsafe fn pair(x: int8x16_t, y: int8x16_t) -> [int8x16_t; 2] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let (x, y) = (vreinterpretq_s64_s8(x), vreinterpretq_s64_s8(y));
        [vzip1q_s64(x, y), vzip2q_s64(x, y)].map(|v| vreinterpretq_s8_s64(v))
    }
}

/// Row pairs of a tile ([`TILE_ROWS`] / 2).
const ROW_PAIRS: usize = TILE_ROWS / 2;
/// Token pairs of a tile ([`TILE_TOKENS`] / 2).
const TOKEN_PAIRS: usize = TILE_TOKENS / 2;

/// [`tile`] with `SMMLA` (see [`super::TernaryTileFn`]): rows and tokens are taken in pairs
/// (an odd last row or token is paired with itself, its duplicate sums dropped) and each
/// accumulator `acc[p][s]` holds the 2×2 block of rows `2p, 2p + 1` × tokens `2s, 2s + 1`,
/// lane `2 · (r % 2) + t % 2`. Per group, each pair of decoded rows is interleaved once into
/// [`pair`] operands and reused by every token pair, so 16 weights of 2 rows × 2 tokens cost
/// 2 `SMMLA` instead of 4 `SDOT`. A 1-token tile (decode) has nothing to pair and runs
/// [`tile`] with `M`.
///
/// # Safety
/// The CPU supports `i8mm` and `M`'s instructions.
#[inline(always)]
unsafe fn tile_mmla<F: Codes, M: Mac, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&QuantActs; T],
) -> [[i32; R]; T] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        if T < 2 {
            return tile::<F, M, R, T>(rows, acts);
        }
        let (row_pairs, token_pairs) = (R.div_ceil(2), T.div_ceil(2));
        let mut acc = [[vdupq_n_s32(0); TOKEN_PAIRS]; ROW_PAIRS];
        let blocks = whole_blocks::<F>(&rows, &acts);
        for b in 0..blocks {
            let (bytes, weights) = (b * F::BLOCK_BYTES, b * F::BLOCK_LEN);
            for g in 0..F::BLOCK_LEN / 64 {
                let mut u = [[vdupq_n_s8(0); 4]; R];
                let mut at = [0; 4];
                for (u, row) in u.iter_mut().zip(rows) {
                    // SAFETY: b < blocks ≤ row.len() / BLOCK_BYTES (unchecked as in `tile`).
                    let block = row.get_unchecked(bytes..bytes + F::BLOCK_BYTES);
                    (*u, at) = F::decode(block, g);
                }
                // w[p][i]: vector i of rows 2p and 2p + 1 as the two SMMLA row operands.
                let mut w = [[[vdupq_n_s8(0); 2]; 4]; ROW_PAIRS];
                for (p, w) in w.iter_mut().enumerate().take(row_pairs) {
                    let (u0, u1) = (&u[2 * p], &u[(2 * p + 1).min(R - 1)]);
                    for (i, w) in w.iter_mut().enumerate() {
                        *w = pair(u0[i], u1[i]);
                    }
                }
                for s in 0..token_pairs {
                    let (a0, a1) = (acts[2 * s], acts[(2 * s + 1).min(T - 1)]);
                    // SAFETY: b < blocks ≤ a.q.len() / BLOCK_LEN for both tokens.
                    let q0 = a0.q.get_unchecked(weights..weights + F::BLOCK_LEN);
                    let q1 = a1.q.get_unchecked(weights..weights + F::BLOCK_LEN);
                    for (i, &at) in at.iter().enumerate() {
                        let [lo, hi] = pair(load_s8(&q0[at..][..16]), load_s8(&q1[at..][..16]));
                        for (acc, w) in acc.iter_mut().zip(&w).take(row_pairs) {
                            acc[s] = smmla(smmla(acc[s], w[i][0], lo), w[i][1], hi);
                        }
                    }
                }
            }
        }
        let mut lanes = [[[0i32; 4]; TOKEN_PAIRS]; ROW_PAIRS];
        for (lanes, acc) in lanes.iter_mut().zip(&acc) {
            for (lanes, &acc) in lanes.iter_mut().zip(acc) {
                vst1q_s32(lanes.as_mut_ptr(), acc);
            }
        }
        let mut sums = [[0; R]; T];
        for (t, (sums, a)) in sums.iter_mut().zip(acts).enumerate() {
            for (r, s) in sums.iter_mut().enumerate() {
                *s = lanes[r / 2][t / 2][2 * (r % 2) + t % 2].wrapping_sub(a.sum);
            }
        }
        sums
    }
}

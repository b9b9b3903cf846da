//! aarch64 tables: `"neon"` (baseline Advanced SIMD, on every aarch64 CPU this module is
//! compiled for), `"neon-dotprod"` (adds `SDOT`, chosen when the CPU reports `dotprod`) and
//! `"neon-i8mm"` (adds `SMMLA` for tiles of 2 or more tokens, when it also reports `i8mm`),
//! one file each (`neon.rs`, `dotprod.rs`, `i8mm.rs`).
//!
//! The tables differ only in the int8 multiply-accumulate of the ternary loops ([`Mac`]) and,
//! for `"neon-i8mm"`, in the tile loop (`i8mm::tile_mmla`); this file holds what they share:
//! the ternary decoders, the tile loops, activation quantisation and the float dots, all
//! baseline NEON. Every loop gives the scalar table's result bit for bit:
//! the ternary sums are exact int32, and the float loops keep the canonical lane order of
//! [`super::FloatDotFn`] with fused multiply-adds (`FMLA`). Ragged tails are run through the
//! same vector code from a zero-padded copy.
//!
//! Three instructions are written as inline assembly because their intrinsics are not stable at
//! the crate's minimum Rust (1.89): `SDOT` (`vdotq_s32`, still unstable), `SMMLA`
//! (`vmmlaq_s32`, still unstable) and `FCVTL` (`vcvt_f32_f16`, stable only from 1.94 with the
//! f16 vector types).
//!
//! The module is compiled only where NEON is a compile-time target feature (every aarch64
//! target with an OS) on little-endian CPUs (the byte layouts are read as little-endian
//! lanes). Helpers are `unsafe fn` because NEON intrinsics are unsafe to call at Rust 1.85;
//! unless their `# Safety` says more, NEON is their only precondition, which the `cfg` holds.

use std::arch::aarch64::*;
use std::arch::asm;

use super::head::{q4_k_block_product, q6_k_block_product};
use super::{scalar, Kernels, Q8Acts, QuantActs, FLOAT_LANES, Q8_LANES, TILE_ROWS, TILE_TOKENS};
use crate::quant::{BlockFormat, BlockI2S, BlockQ4K, BlockQ6K, BlockQ8_0, BlockTQ1_0, BlockTQ2_0};

/// The tables this CPU runs, baseline first.
pub(super) fn available() -> Vec<&'static Kernels> {
    let mut tables = vec![&neon::NEON];
    if std::arch::is_aarch64_feature_detected!("dotprod") {
        tables.push(&dotprod::NEON_DOTPROD);
        if std::arch::is_aarch64_feature_detected!("i8mm") {
            tables.push(&i8mm::NEON_I8MM);
        }
    }
    tables
}

/// Defines the table `$table` named `$name` whose ternary tiles run the tile loop `$tile`
/// ([`tile`] or `i8mm::tile_mmla`) with the int8 step `$mac` (also the Q8_0 dot's step),
/// compiled with the target features `$features`. Sound to call only where those features are
/// present: [`available`] hands a table out only then. Each table's file invokes it.
macro_rules! neon_table {
    ($(#[$doc:meta])* $table:ident, $name:literal, $tile:ident, $mac:ty, $features:literal) => {
        $(#[$doc])*
        pub(super) static $table: $crate::kernels::Kernels = {
            use $crate::kernels::aarch64::{
                dot_f16, dot_f32, dot_q4_k_row, dot_q6_k_row, dot_q8_0_keys_rows, dot_q8_0_row,
                quantize_acts,
                weighted_sum_f16, weighted_sum_q8_0, Codes, I2S, TQ1_0, TQ2_0,
            };
            use $crate::kernels::{Kernels, Q8Acts, QuantActs};
            use $crate::quant::{BlockTQ1_0, BlockTQ2_0, TernaryFormat};
            #[target_feature(enable = $features)]
            unsafe fn kernel<F: Codes, const R: usize, const T: usize>(
                rows: [&[u8]; R],
                acts: [&QuantActs; T],
            ) -> [[i32; R]; T] {
                // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
                unsafe {
                $tile::<F, $mac, R, T>(rows, acts)
            }
            }
            fn safe<F: Codes, const R: usize, const T: usize>(
                rows: [&[u8]; R],
                acts: [&QuantActs; T],
            ) -> [[i32; R]; T] {
                // SAFETY: `available` hands this table out only where `$features` are present;
                // every load reads a slice bounds-checked to the loaded width.
                unsafe { kernel::<F, R, T>(rows, acts) }
            }
            #[target_feature(enable = $features)]
            unsafe fn dot_q8_0_keys(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
                // SAFETY: this function's own preconditions (the CPU features of its module)
                // are exactly what these operations require.
                unsafe { dot_q8_0_keys_rows::<$mac>(keys, q, blocks, out) }
            }
            #[target_feature(enable = $features)]
            unsafe fn dot_q8_0(row: &[u8], acts: &Q8Acts) -> f32 {
                // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
                unsafe {
                dot_q8_0_row::<$mac>(row, acts)
            }
            }
            #[target_feature(enable = $features)]
            unsafe fn dot_q6_k(row: &[u8], acts: &Q8Acts) -> f32 {
                // SAFETY: this function's own preconditions (the CPU features of its module)
                // are exactly what these operations require.
                unsafe { dot_q6_k_row::<$mac>(row, acts) }
            }
            #[target_feature(enable = $features)]
            unsafe fn dot_q4_k(row: &[u8], acts: &Q8Acts) -> f32 {
                // SAFETY: this function's own preconditions (the CPU features of its module)
                // are exactly what these operations require.
                unsafe { dot_q4_k_row::<$mac>(row, acts) }
            }
            $crate::kernels::tile_fn!(tile_i2s = safe<I2S>);
            $crate::kernels::tile_fn!(tile_tq2_0 = safe<TQ2_0>);
            $crate::kernels::tile_fn!(tile_tq1_0 = safe<TQ1_0>);
            Kernels {
                name: $name,
                quantize_acts,
                tile_i2s,
                tile_tq2_0,
                tile_tq1_0,
                dot_tq2_0: BlockTQ2_0::dot_i8,
                dot_tq1_0: BlockTQ1_0::dot_i8,
                dot_f32,
                dot_f16,
                // SAFETY: as above.
                dot_q8_0: |row, acts| unsafe { dot_q8_0(row, acts) },
                // SAFETY: as above.
                dot_q6_k: |row, acts| unsafe { dot_q6_k(row, acts) },
                // SAFETY: as above.
                dot_q4_k: |row, acts| unsafe { dot_q4_k(row, acts) },
                weighted_sum_f16,
                // SAFETY: as above.
                dot_q8_0_keys: |keys, q, blocks, out| unsafe {
                    dot_q8_0_keys(keys, q, blocks, out)
                },
                weighted_sum_q8_0,
                // NEON is the baseline: the shared loops as every aarch64 build compiles them.
                softmax: $crate::kernels::attention::softmax,
                row_walk: $crate::kernels::RowWalk::SHARED_LOADS,
            }
        };
    };
}

mod dotprod;
mod i8mm;
mod neon;

/// One table's int8 multiply-accumulate step.
trait Mac {
    /// `acc` with `Σ_{i<16} t_i · q_i` added across its lanes, exactly (how the sum spreads
    /// over the lanes is the step's own; only the lanes' total is meaningful).
    ///
    /// # Safety
    /// The CPU supports the step's instructions.
    unsafe fn mac(acc: int32x4_t, t: int8x16_t, q: int8x16_t) -> int32x4_t;

    /// Whether single-token tiles run [`tile_planes`] with this step: only where the step is
    /// one instruction, so that the 12 accumulators and one row's vectors stay in registers.
    const PLANES: bool;
}

/// Loads the first 16 bytes of `b`.
///
/// # Safety
/// `b` is at least 16 bytes long (checked in debug builds).
#[inline(always)]
unsafe fn load_u8(b: &[u8]) -> uint8x16_t {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        debug_assert!(b.len() >= 16);
        vld1q_u8(b.as_ptr())
    }
}

/// Loads the first 16 int8 activations of `q`.
///
/// # Safety
/// `q` is at least 16 long (checked in debug builds).
#[inline(always)]
unsafe fn load_s8(q: &[i8]) -> int8x16_t {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        debug_assert!(q.len() >= 16);
        vld1q_s8(q.as_ptr())
    }
}

/// A ternary block layout as the NEON tiles decode it: groups of 64 weights, each as 4 vectors
/// of 16 unsigned weights `u = t + 1` (0..=3) and, for each vector, the offset within the
/// block of its 16 activations.
trait Codes {
    /// Bytes per block.
    const BLOCK_BYTES: usize;
    /// Weights per block (a multiple of 64).
    const BLOCK_LEN: usize;

    /// Group `group`'s 4 vectors of `u` from the block's `BLOCK_BYTES` bytes `block`, and where
    /// each vector's activations start in the block.
    unsafe fn decode(block: &[u8], group: usize) -> ([int8x16_t; 4], [usize; 4]);

    /// Left shifts of [`Codes::decode_planes`]' vectors: 0, 2 or 4 each.
    const PLANE_SHIFTS: [u32; 4] = [0; 4];

    /// [`Codes::decode`] for the single-token tile ([`tile_planes`]), where vector `i` may hold
    /// `u << PLANE_SHIFTS[i]` if that decodes in fewer instructions (codes masked in place).
    #[inline(always)]
    unsafe fn decode_planes(block: &[u8], group: usize) -> ([int8x16_t; 4], [usize; 4]) {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { Self::decode(block, group) }
    }
}

/// I2_S's `u` for each code, repeated so that any index below 64 reads `U[index & 3]`: codes
/// 0, 1, 2 → 0, 1, 2 and code 3 (never written, t = 0) → 1.
const I2S_U: [i8; 64] = {
    let mut table = [0i8; 64];
    let mut i = 0;
    while i < 64 {
        table[i] = [0, 1, 2, 1][i % 4];
        i += 1;
    }
    table
};

/// I2_S: two groups of 16 bytes per 32-byte block; bits 7-6, 5-4, 3-2, 1-0 of byte `16h + m`
/// hold weights `m + 16h` plus 0, 32, 64, 96 (see [`BlockI2S`]). Each shifted code is looked
/// up in [`I2S_U`] without masking the higher codes off (the table repeats).
struct I2S;

impl Codes for I2S {
    const BLOCK_BYTES: usize = BlockI2S::BYTES;
    const BLOCK_LEN: usize = BlockI2S::LEN;

    #[inline(always)]
    unsafe fn decode(block: &[u8], group: usize) -> ([int8x16_t; 4], [usize; 4]) {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let table = vld1q_s8_x4(I2S_U.as_ptr());
            let b = load_u8(&block[16 * group..][..16]);
            let u = [
                vqtbl1q_s8(table.0, vshrq_n_u8::<6>(b)),
                vqtbl1q_s8(table.0, vshrq_n_u8::<4>(b)),
                vqtbl4q_s8(table, vshrq_n_u8::<2>(b)),
                vqtbl1q_s8(table.0, vandq_u8(b, vdupq_n_u8(15))),
            ];
            let at = 16 * group;
            (u, [at, at + 32, at + 64, at + 96])
        }
    }
}

/// TQ2_0: 66-byte blocks of 256 weights, two 32-byte code groups then the f16 scale; bits
/// `2l + 1..2l` of byte `32c + m` hold weight `128c + 32l + m` (see [`BlockTQ2_0`]). Every code
/// is `t + 1` (3 → +2 as the reference decoder reads it), so `u` is the code itself.
struct TQ2_0;

impl Codes for TQ2_0 {
    const BLOCK_BYTES: usize = BlockTQ2_0::BYTES;
    const BLOCK_LEN: usize = BlockTQ2_0::LEN;

    #[inline(always)]
    unsafe fn decode(block: &[u8], group: usize) -> ([int8x16_t; 4], [usize; 4]) {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let three = vdupq_n_u8(3);
            let b = load_u8(&block[16 * group..][..16]);
            let u = [
                vandq_u8(b, three),
                vandq_u8(vshrq_n_u8::<2>(b), three),
                vandq_u8(vshrq_n_u8::<4>(b), three),
                vshrq_n_u8::<6>(b),
            ]
            .map(|u| vreinterpretq_s8_u8(u));
            let at = 128 * (group / 2) + 16 * (group % 2);
            (u, [at, at + 32, at + 64, at + 96])
        }
    }

    // Planes 0-2 masked in place (`u · 4^k`, at most 48: a valid int8 for `SDOT`); plane 3
    // shifted down, as in `decode` (`u · 64` would not fit an int8).
    const PLANE_SHIFTS: [u32; 4] = [0, 2, 4, 0];

    #[inline(always)]
    unsafe fn decode_planes(block: &[u8], group: usize) -> ([int8x16_t; 4], [usize; 4]) {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let b = load_u8(&block[16 * group..][..16]);
            let u = [
                vandq_u8(b, vdupq_n_u8(0x03)),
                vandq_u8(b, vdupq_n_u8(0x0c)),
                vandq_u8(b, vdupq_n_u8(0x30)),
                vshrq_n_u8::<6>(b),
            ]
            .map(|u| vreinterpretq_s8_u8(u));
            let at = 128 * (group / 2) + 16 * (group % 2);
            (u, [at, at + 32, at + 64, at + 96])
        }
    }
}

/// The top trit of 16 bytes `s = byte · 3^n mod 256` as `u = t + 1`: `(s · 3) >> 8` (see
/// [`BlockTQ1_0`]), computed as `(s + s/2) >> 7` with a halving add so it stays in 8 bits.
#[inline(always)]
unsafe fn trit(s: uint8x16_t) -> int8x16_t {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe { vreinterpretq_s8_u8(vshrq_n_u8::<6>(vhaddq_u8(s, vshrq_n_u8::<1>(s)))) }
}

/// Trit `n` of 16 bytes `b` as `u` (see [`trit`]).
#[inline(always)]
unsafe fn trit_n(b: uint8x16_t, n: u32) -> int8x16_t {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe { trit(vmulq_u8(b, vdupq_n_u8(3u8.pow(n)))) }
}

/// TQ1_0: 54-byte blocks of 256 weights (see [`BlockTQ1_0`]):
///
/// ```text
/// bytes 0..16   trit n of byte m: weight 32n + m        (n < 4: group 0, n = 4: group 2)
/// bytes 16..32  trit n of byte m: weight 32n + 16 + m   (n < 4: group 1, n = 4: group 2)
/// bytes 32..48  trit n of byte m: weight 160 + 16n + m  (n < 2: group 2, else group 3)
/// bytes 48..52  trit n of byte j: weight 240 + 4n + j   (group 3)
/// ```
struct TQ1_0;

impl Codes for TQ1_0 {
    const BLOCK_BYTES: usize = BlockTQ1_0::BYTES;
    const BLOCK_LEN: usize = BlockTQ1_0::LEN;

    #[inline(always)]
    unsafe fn decode(block: &[u8], group: usize) -> ([int8x16_t; 4], [usize; 4]) {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            match group {
                0 | 1 => {
                    let b = load_u8(&block[16 * group..][..16]);
                    let at = 16 * group;
                    let u = [trit(b), trit_n(b, 1), trit_n(b, 2), trit_n(b, 3)];
                    (u, [at, at + 32, at + 64, at + 96])
                }
                2 => {
                    let (lo, hi) = (load_u8(&block[..16]), load_u8(&block[16..32]));
                    let mid = load_u8(&block[32..48]);
                    let u = [trit_n(lo, 4), trit_n(hi, 4), trit(mid), trit_n(mid, 1)];
                    (u, [128, 144, 160, 176])
                }
                _ => {
                    let mid = load_u8(&block[32..48]);
                    // qh bytes 48..52, each repeated in four lanes: lane 4n + j is byte j · 3^n.
                    const QH_POW: [u8; 16] = [1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27];
                    let qh = u32::from_le_bytes([block[48], block[49], block[50], block[51]]);
                    let qh = vmulq_u8(
                        vreinterpretq_u8_u32(vdupq_n_u32(qh)),
                        vld1q_u8(QH_POW.as_ptr()),
                    );
                    let u = [trit_n(mid, 2), trit_n(mid, 3), trit_n(mid, 4), trit(qh)];
                    (u, [192, 208, 224, 240])
                }
            }
        }
    }
}

/// Whole blocks of layout `F` that every row and every token's activations hold (the driver
/// gives them all the same number): the bound of the tile loops' unchecked block reads.
#[inline(always)]
fn whole_blocks<F: Codes>(rows: &[&[u8]], acts: &[&QuantActs]) -> usize {
    let rows_blocks = rows.iter().map(|row| row.len() / F::BLOCK_BYTES);
    let acts_blocks = acts.iter().map(|a| a.q.len() / F::BLOCK_LEN);
    rows_blocks.chain(acts_blocks).min().unwrap_or(0)
}

/// The tile loop for layout `F` with the int8 step `M` (see [`super::TernaryTileFn`]):
/// `Σ t·q = Σ u·q − Σ q`, every group of the `R` rows decoded once and multiplied with the
/// `T` tokens' activations, one int32 accumulator per row and token (`|u·q| ≤ 384`, so the
/// baseline step's 16-bit pairs cannot overflow either).
///
/// # Safety
/// The CPU supports `M`'s instructions.
#[inline(always)]
unsafe fn tile<F: Codes, M: Mac, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&QuantActs; T],
) -> [[i32; R]; T] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        if T == 1 && M::PLANES {
            let mut sums = [[0; R]; T];
            sums[0] = tile_planes::<F, M, R>(rows, acts[0]);
            return sums;
        }
        let mut acc = [[vdupq_n_s32(0); R]; T];
        let blocks = whole_blocks::<F>(&rows, &acts);
        for b in 0..blocks {
            let (bytes, weights) = (b * F::BLOCK_BYTES, b * F::BLOCK_LEN);
            for g in 0..F::BLOCK_LEN / 64 {
                let mut u = [[vdupq_n_s8(0); 4]; R];
                let mut at = [0; 4];
                for (u, row) in u.iter_mut().zip(rows) {
                    // SAFETY: b < blocks ≤ row.len() / BLOCK_BYTES (unchecked: the per-row checks
                    // cost more than the decode in this loop).
                    let block = row.get_unchecked(bytes..bytes + F::BLOCK_BYTES);
                    (*u, at) = F::decode(block, g);
                }
                for (acc, a) in acc.iter_mut().zip(acts) {
                    // SAFETY: b < blocks ≤ a.q.len() / BLOCK_LEN.
                    let q = a.q.get_unchecked(weights..weights + F::BLOCK_LEN);
                    for (i, &at) in at.iter().enumerate() {
                        let q = load_s8(&q[at..][..16]);
                        for (acc, u) in acc.iter_mut().zip(&u) {
                            *acc = M::mac(*acc, u[i], q);
                        }
                    }
                }
            }
        }
        let mut sums = [[0; R]; T];
        for ((sums, acc), a) in sums.iter_mut().zip(&acc).zip(acts) {
            for (s, &acc) in sums.iter_mut().zip(acc) {
                *s = vaddvq_s32(acc).wrapping_sub(a.sum);
            }
        }
        sums
    }
}

/// [`tile`] for one token (decode) on [`Codes::decode_planes`]' vectors: one accumulator per
/// row and plane shift (0, 2, 4), each shifted back at the end, exactly (every product in
/// accumulator `s` is a multiple of `4^s`; `|u · 16 · q| ≤ 48 · 128`, so even a 131072-wide
/// row stays far from int32 overflow, and from the baseline step's 16-bit pair sums).
/// TQ2_0: 5 instructions decode 64 weights of a row instead of 7. Run where [`Mac::PLANES`].
///
/// # Safety
/// The CPU supports `M`'s instructions.
#[inline(always)]
unsafe fn tile_planes<F: Codes, M: Mac, const R: usize>(
    rows: [&[u8]; R],
    acts: &QuantActs,
) -> [i32; R] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        // acc[r][s]: row r's products of the vectors shifted left by 2s.
        let mut acc = [[vdupq_n_s32(0); 3]; R];
        let blocks = rows.iter().map(|row| row.len() / F::BLOCK_BYTES);
        let blocks = blocks
            .chain([acts.q.len() / F::BLOCK_LEN])
            .min()
            .unwrap_or(0);
        for b in 0..blocks {
            let (bytes, weights) = (b * F::BLOCK_BYTES, b * F::BLOCK_LEN);
            // SAFETY: b < blocks ≤ acts.q.len() / BLOCK_LEN.
            let q = acts.q.get_unchecked(weights..weights + F::BLOCK_LEN);
            for g in 0..F::BLOCK_LEN / 64 {
                // Rows one after another, each used as soon as it is decoded (12 accumulators, the
                // 4 activation vectors and one row's 4 vectors stay in registers).
                let mut acts = [vdupq_n_s8(0); 4];
                for (r, (acc, row)) in acc.iter_mut().zip(rows).enumerate() {
                    // SAFETY: b < blocks ≤ row.len() / BLOCK_BYTES (unchecked as in `tile`).
                    let block = row.get_unchecked(bytes..bytes + F::BLOCK_BYTES);
                    let (u, at) = F::decode_planes(block, g);
                    if r == 0 {
                        for (acts, at) in acts.iter_mut().zip(at) {
                            *acts = load_s8(&q[at..][..16]);
                        }
                    }
                    for ((u, q), shift) in u.into_iter().zip(acts).zip(F::PLANE_SHIFTS) {
                        let s = shift as usize / 2;
                        acc[s] = M::mac(acc[s], u, q);
                    }
                }
            }
        }
        acc.map(|[a0, a1, a2]| {
            let sum = vaddvq_s32(a0)
                .wrapping_add(vaddvq_s32(a1) >> 2)
                .wrapping_add(vaddvq_s32(a2) >> 4);
            sum.wrapping_sub(acts.sum)
        })
    }
}

/// Absmax int8 quantisation of one token (see [`QuantActs`]), as the scalar table does it: the
/// max ignores NaN, products round half to even (`FCVTNS`, NaN → 0) and saturate to int8.
fn quantize_acts(x: &[f32], out: &mut QuantActs) {
    let (body, tail) = x.split_at(x.len() - x.len() % 16);
    let mut padded = [0f32; 16];
    padded[..tail.len()].copy_from_slice(tail);
    // SAFETY: NEON is a compile-time feature of this module (see the module docs).
    let max = unsafe { absmax(body).max(absmax(&padded)) };
    let scale = 127.0 / max.max(1e-5);
    out.q.clear();
    out.q.resize(x.len(), 0);
    let (q_body, q_tail) = out.q.split_at_mut(body.len());
    let mut q_padded = [0i8; 16];
    // SAFETY: as above. Zero padding quantises to 0 and adds nothing to the sum.
    let sum = unsafe { quantize(body, scale, q_body) + quantize(&padded, scale, &mut q_padded) };
    q_tail.copy_from_slice(&q_padded[..q_tail.len()]);
    out.scale = scale;
    out.sum = sum;
}

/// `max |x|` over whole 16-element chunks of `x` (0 when empty), skipping NaN as the scalar
/// fold does: each NaN, quiet or signalling, is made +0 by masking its bits before the max (a
/// compare-and-select would do, but the compiler may turn it into `FMAXNM`, which returns NaN
/// for a signalling one).
unsafe fn absmax(x: &[f32]) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut max = [vdupq_n_f32(0.0); 4];
        for x in x.chunks_exact(16) {
            for (i, max) in max.iter_mut().enumerate() {
                let x = vld1q_f32(x[4 * i..].as_ptr());
                let not_nan = vceqq_f32(x, x);
                let a = vandq_u32(vreinterpretq_u32_f32(vabsq_f32(x)), not_nan);
                *max = vmaxq_f32(*max, vreinterpretq_f32_u32(a));
            }
        }
        // No lane is NaN, so the propagating max is the plain one.
        vmaxvq_f32(vmaxq_f32(
            vmaxq_f32(max[0], max[1]),
            vmaxq_f32(max[2], max[3]),
        ))
    }
}

/// Quantises whole 16-element chunks of `x` into `q` (as long as `x`'s chunks) with
/// `clamp(round_half_even(x · scale), −128, 127)`; returns `Σ q`.
unsafe fn quantize(x: &[f32], scale: f32, q: &mut [i8]) -> i32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        debug_assert_eq!(x.len() / 16 * 16, q.len());
        let mut sum = vdupq_n_s32(0);
        for (x, q) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)) {
            // FCVTNS rounds to nearest even and saturates (NaN → 0); the narrowing saturates on.
            let r: [int32x4_t; 4] = std::array::from_fn(|i| {
                vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x[4 * i..].as_ptr()), scale))
            });
            let lo = vqmovn_s16(vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1])));
            let hi = vqmovn_s16(vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3])));
            let v = vcombine_s8(lo, hi);
            vst1q_s8(q.as_mut_ptr(), v);
            sum = vpadalq_s16(sum, vpaddlq_s8(v));
        }
        vaddvq_s32(sum)
    }
}

/// Adds the 16 products `a · b` into the canonical lanes `acc` (lane `i` of `acc[k]` is
/// canonical lane `4k + i`), each fused with its add (`FMLA`), as the scalar loop does.
///
/// # Safety
/// `b` points to 16 readable f32.
#[inline(always)]
unsafe fn add_products(acc: &mut [float32x4_t; 4], a: [float32x4_t; 4], b: *const f32) {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        for (k, (acc, a)) in acc.iter_mut().zip(a).enumerate() {
            *acc = vfmaq_f32(*acc, a, vld1q_f32(b.add(4 * k)));
        }
    }
}

/// Folds the lane accumulators like the scalar table (see [`scalar::fold_lanes`]).
#[inline(always)]
unsafe fn fold(acc: [float32x4_t; 4]) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut lanes = [0f32; FLOAT_LANES];
        for (k, acc) in acc.into_iter().enumerate() {
            vst1q_f32(lanes[4 * k..].as_mut_ptr(), acc);
        }
        scalar::fold_lanes(lanes)
    }
}

/// Splits `n` elements into whole 16-element chunks and a tail length.
fn split16(n: usize) -> (usize, usize) {
    (n - n % 16, n % 16)
}

/// The canonical lane-wise float dot product (see [`super::FloatDotFn`]). A ragged tail is run
/// from zero-padded copies: lanes start at +0 and so never become −0 (`fma(x, y, z)` is −0
/// only when `x · y` and `z` both are), hence adding the padding's `+0 · +0` leaves every lane
/// unchanged.
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (body, tail) = split16(a.len().min(b.len()));
    let (mut pa, mut pb) = ([0f32; 16], [0f32; 16]);
    pa[..tail].copy_from_slice(&a[body..body + tail]);
    pb[..tail].copy_from_slice(&b[body..body + tail]);
    // SAFETY: NEON is a compile-time feature of this module; every load reads 16 elements of a
    // 16-element chunk.
    unsafe {
        let mut acc = [vdupq_n_f32(0.0); 4];
        let chunks = a[..body].chunks_exact(16).zip(b[..body].chunks_exact(16));
        for (a, b) in chunks.chain((tail > 0).then_some((&pa[..], &pb[..]))) {
            let a = std::array::from_fn(|k| vld1q_f32(a[4 * k..].as_ptr()));
            add_products(&mut acc, a, b.as_ptr());
        }
        fold(acc)
    }
}

/// Widens 8 IEEE f16 values (raw bits) to f32, exactly (`FCVTL`, `FCVTL2`).
#[inline(always)]
unsafe fn f16x8_to_f32(h: uint16x8_t) -> [float32x4_t; 2] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let (lo, hi): (float32x4_t, float32x4_t);
        asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags),
        );
        [lo, hi]
    }
}

/// Two f16 (raw bits) widened exactly to f32 (`FCVTL`): a block's scales, without a call into
/// a library's conversion.
#[inline(always)]
unsafe fn widen_f16(bits: [u16; 2]) -> [f32; 2] {
    // SAFETY: plain NEON register moves and `f16x8_to_f32`'s `FCVTL`.
    unsafe {
        let packed = u64::from(bits[0]) | u64::from(bits[1]) << 16;
        let [lo, _] = f16x8_to_f32(vcombine_u16(vcreate_u16(packed), vcreate_u16(0)));
        [vgetq_lane_f32::<0>(lo), vgetq_lane_f32::<1>(lo)]
    }
}

/// [`super::F16DotFn`] through the shared block driver.
fn dot_f16(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
    super::dot_f16_blocks::<Neon>(a, b, m, out);
}

/// The NEON [`super::F16Block`]: `R` f16 rows against `Q` f32 rows, 4 accumulators (16 lanes)
/// per dot, each 16 values of every row loaded (and widened) once per pass; a ragged tail from
/// zero-padded copies, as in [`dot_f32`].
struct Neon;

impl super::F16Block for Neon {
    fn block<const R: usize, const Q: usize>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
        let (a, b, out) = (&a[..2 * R * m], &b[..Q * m], &mut out[..R * Q]);
        let (body, tail) = split16(m);
        // SAFETY: NEON is a compile-time feature of this module. In the body `c + 16 ≤ body ≤
        // m`: 32 bytes of row `r` of `a` (R rows of 2m bytes, sliced above) at `2(r·m + c)`
        // and 16 floats of row `q` of `b` (Q rows of m) at `q·m + c`; the tail reads 32-byte
        // and 16-float padded copies.
        unsafe {
            let mut acc = [[[vdupq_n_f32(0.0); 4]; Q]; R];
            for c in (0..body).step_by(16) {
                let mut wide = [[vdupq_n_f32(0.0); 4]; R];
                for (r, wide) in wide.iter_mut().enumerate() {
                    *wide = widen16(a.as_ptr().add(2 * (r * m + c)));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    for (q, acc) in acc.iter_mut().enumerate() {
                        add_products(acc, wide[r], b.as_ptr().add(q * m + c));
                    }
                }
            }
            if tail > 0 {
                for (r, acc) in acc.iter_mut().enumerate() {
                    let mut pa = [0u8; 32];
                    pa[..2 * tail].copy_from_slice(&a[2 * (r * m + body)..2 * (r + 1) * m]);
                    let wide = widen16(pa.as_ptr());
                    for (q, acc) in acc.iter_mut().enumerate() {
                        let mut pb = [0f32; 16];
                        pb[..tail].copy_from_slice(&b[q * m + body..(q + 1) * m]);
                        add_products(acc, wide, pb.as_ptr());
                    }
                }
            }
            for (r, acc) in acc.into_iter().enumerate() {
                for (q, acc) in acc.into_iter().enumerate() {
                    out[r * Q + q] = fold(acc);
                }
            }
        }
    }
}

/// 16 little-endian f16 (the 32 bytes at `a`) widened to f32, as 4 registers of 4 lanes.
///
/// # Safety
/// `a` points to 32 readable bytes.
#[inline(always)]
unsafe fn widen16(a: *const u8) -> [float32x4_t; 4] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let [a0, a1] = f16x8_to_f32(vreinterpretq_u16_u8(vld1q_u8(a)));
        let [a2, a3] = f16x8_to_f32(vreinterpretq_u16_u8(vld1q_u8(a.add(16))));
        [a0, a1, a2, a3]
    }
}

/// Each head's `Σ_j w[j · H + h] · x_j` over f16 rows (see [`super::F16WeightedSumFn`])
/// through the shared driver: the sums stay in registers over all rows, each lane adding its
/// products in row order, fused (`FMLA`), as the scalar table does.
fn weighted_sum_f16(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    super::weighted_sum_f16_by::<Neon>(x, w, heads, out);
}

impl super::WeightedColumns for Neon {
    /// 16 accumulators (4 heads × 2 × 2 registers of 4 lanes) of the 32 registers.
    const WIDE: usize = 2;

    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        col: usize,
        out: &mut [f32],
    ) {
        weighted_sum_columns::<H, V>(x, w, heads, h0, col, out);
    }
}

/// Columns `col..col + 8V` of the sums of heads `h0..h0 + H` (see
/// [`super::WeightedColumns::columns`]): `2HV` accumulators, from `out`, over every row of `x`,
/// each row's `8V` values loaded and widened once for the `H` heads.
fn weighted_sum_columns<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    col: usize,
    out: &mut [f32],
) {
    // SAFETY: NEON is a compile-time feature of this module; each load reads 16 bytes of the
    // row's `16V`-byte slice.
    unsafe {
        let m = out.len() / H;
        let mut acc = load_columns::<H, V>(out, m, col);
        for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(2 * m)) {
            let (w, row) = (&w[h0..h0 + H], &row[2 * col..2 * col + 16 * V]);
            let mut values = [[vdupq_n_f32(0.0); 2]; V];
            for (v, value) in values.iter_mut().enumerate() {
                *value = f16x8_to_f32(vreinterpretq_u16_u8(load_u8(&row[16 * v..])));
            }
            for (acc, &w) in acc.iter_mut().zip(w) {
                for (acc, value) in acc.iter_mut().zip(&values) {
                    acc[0] = vfmaq_n_f32(acc[0], value[0], w);
                    acc[1] = vfmaq_n_f32(acc[1], value[1], w);
                }
            }
        }
        store_columns(&acc, m, col, out);
    }
}

/// Head `h`'s registers `v` from `out[h · m + col + 8v..][..8]`: the sums so far.
fn load_columns<const H: usize, const V: usize>(
    out: &[f32],
    m: usize,
    col: usize,
) -> [[[float32x4_t; 2]; V]; H] {
    let head = |h: usize| {
        let out = &out[h * m + col..][..8 * V];
        // SAFETY: NEON is a compile-time feature of this module; each load reads 4 of `out`'s
        // `8V` floats.
        std::array::from_fn(|v| unsafe {
            [
                vld1q_f32(out[8 * v..].as_ptr()),
                vld1q_f32(out[8 * v + 4..].as_ptr()),
            ]
        })
    };
    std::array::from_fn(head)
}

/// Stores head `h`'s registers `v` at `out[h · m + col + 8v..][..8]`.
fn store_columns<const H: usize, const V: usize>(
    acc: &[[[float32x4_t; 2]; V]; H],
    m: usize,
    col: usize,
    out: &mut [f32],
) {
    for (acc, out) in acc.iter().zip(out.chunks_exact_mut(m)) {
        for (v, acc) in acc.iter().enumerate() {
            let out = &mut out[col + 8 * v..col + 8 * v + 8];
            // SAFETY: NEON is a compile-time feature of this module; `out` is 8 writable f32.
            unsafe {
                vst1q_f32(out.as_mut_ptr(), acc[0]);
                vst1q_f32(out[4..].as_mut_ptr(), acc[1]);
            }
        }
    }
}

/// The f16 scales of 8 consecutive 34-byte Q8_0 blocks (bytes 0..2 of each), widened to f32.
///
/// # Safety
/// `blocks` holds 8 blocks (checked by indexing).
#[inline(always)]
unsafe fn block_scales(blocks: &[u8]) -> [float32x4_t; 2] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let d: [u16; 8] =
            std::array::from_fn(|i| u16::from_le_bytes([blocks[34 * i], blocks[34 * i + 1]]));
        f16x8_to_f32(vld1q_u16(d.as_ptr()))
    }
}

/// The canonical Q8_0 dot (see [`super::Q8DotFn`]) of one row with `M`'s int8 step: per group
/// of 8 blocks, each block's exact int32 sum (two 16-weight steps; `|w| ≤ 128`, `|x| ≤ 127`,
/// so `Widen`'s int16 pair sums stay within ±32512) is reduced with pairwise adds into lane
/// `b % 8` of two registers, converted, scaled by `d_w · d_x` and added into the 8 f32 lanes.
/// Blocks past the last whole group are added by the scalar block product.
///
/// # Safety
/// The CPU supports `M`'s instructions.
#[inline(always)]
unsafe fn dot_q8_0_row<M: Mac>(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        const BYTES: usize = BlockQ8_0::BYTES;
        const LEN: usize = BlockQ8_0::LEN;
        let blocks = (row.len() / BYTES)
            .min(acts.d.len())
            .min(acts.q.len() / LEN);
        let groups = blocks / Q8_LANES;
        let mut acc = [vdupq_n_f32(0.0); 2];
        let w_groups = row.chunks_exact(BYTES * Q8_LANES);
        let x_groups = acts.q.chunks_exact(LEN * Q8_LANES);
        let d_groups = acts.d.chunks_exact(Q8_LANES);
        for ((w, x), d_x) in w_groups.zip(x_groups).zip(d_groups) {
            // A loop, not a closure: closures do not inherit the target features `M` needs.
            let mut sums = [vdupq_n_s32(0); Q8_LANES];
            for (i, sum) in sums.iter_mut().enumerate() {
                let (w, x) = (&w[BYTES * i + 2..][..LEN], &x[LEN * i..][..LEN]);
                *sum = M::mac(*sum, vreinterpretq_s8_u8(load_u8(w)), load_s8(x));
                *sum = M::mac(
                    *sum,
                    vreinterpretq_s8_u8(load_u8(&w[16..])),
                    load_s8(&x[16..]),
                );
            }
            let d_w = block_scales(w);
            for (k, acc) in acc.iter_mut().enumerate() {
                // vpaddq(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3]: two rounds give 4 block totals.
                let s = &sums[4 * k..];
                let total = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                let d = vmulq_f32(d_w[k], vld1q_f32(d_x[4 * k..].as_ptr()));
                *acc = vaddq_f32(*acc, vmulq_f32(d, vcvtq_f32_s32(total)));
            }
        }
        let mut lanes = [0f32; Q8_LANES];
        vst1q_f32(lanes.as_mut_ptr(), acc[0]);
        vst1q_f32(lanes[4..].as_mut_ptr(), acc[1]);
        scalar::finish_q8_0(lanes, Q8_LANES * groups, row, &acts.q, &acts.d)
    }
}

// ---- the Q6_K head ----

/// The canonical Q6_K dot (see [`super::Q6KDotFn`]) of one row with `M`'s int8 step. Per
/// super-block half `h` and pair `p` of weight groups (groups `2p`, `2p + 1` of 32 weights,
/// i.e. the 4 consecutive sub-blocks `j = 8h + 4p..8h + 4p + 4`), the 6-bit values are
/// unpacked from 16 bytes of each `ql` half and of `qh`, `q_g = (ql nibble) | (qh bits
/// 2g+1..2g) << 4` (0..=63, a valid int8), and multiplied with the sub-block's activations by
/// one `M` step (`Widen`'s int16 pair sums ≤ 2 · 63 · 127); the four sub-block totals, reduced
/// by pairwise adds into one register, are multiplied by their int8 scales (the block's 16,
/// widened once) and accumulated, exactly, in int32 lanes; `32 · Σ_j sc_j · Σ x_j` (the
/// activations' 16-value sums) is subtracted once per block. The float steps follow the
/// canonical order.
///
/// # Safety
/// The CPU supports `M`'s instructions.
#[inline(always)]
unsafe fn dot_q6_k_row<M: Mac>(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of
    // its module) are exactly what these operations require; every load reads a slice sliced
    // to at least the loaded width.
    unsafe {
        const LEN: usize = BlockQ6K::LEN;
        let low2 = vdupq_n_u8(3);
        let mut acc = 0f32;
        let blocks = row.chunks_exact(BlockQ6K::BYTES);
        let x_blocks = acts.q.chunks_exact(LEN).zip(acts.sums.chunks_exact(16));
        for (block, ((x, sums), &d_x)) in blocks.zip(x_blocks.zip(&acts.d)) {
            // The 16 scales as int32, four sub-blocks per register, and the bias terms.
            let sc8 = vld1q_s8(block[192..208].as_ptr().cast());
            let (lo, hi) = (vmovl_s8(vget_low_s8(sc8)), vmovl_high_s8(sc8));
            let scales = [
                vmovl_s16(vget_low_s16(lo)),
                vmovl_high_s16(lo),
                vmovl_s16(vget_low_s16(hi)),
                vmovl_high_s16(hi),
            ];
            let (s0, s1) = (vld1q_s16(sums.as_ptr()), vld1q_s16(sums[8..].as_ptr()));
            let bias = vmlal_high_s16(vmull_s16(vget_low_s16(lo), vget_low_s16(s0)), lo, s0);
            let bias = vmlal_high_s16(vmlal_s16(bias, vget_low_s16(hi), vget_low_s16(s1)), hi, s1);
            let mut sums = vdupq_n_s32(0);
            for h in 0..2 {
                // Group g's 16-byte halves s = 0, 1 (weights 128h + 32g + 16s..): the nibble
                // with the two qh bits inserted above it (`SLI` keeps the low 4 bits).
                let mut q = [[vdupq_n_u8(0); 2]; 4];
                for s in 0..2 {
                    let ql0 = load_u8(&block[64 * h + 16 * s..]);
                    let ql1 = load_u8(&block[64 * h + 32 + 16 * s..]);
                    let qh = load_u8(&block[128 + 32 * h + 16 * s..]);
                    q[0][s] = vsliq_n_u8::<4>(ql0, vandq_u8(qh, low2));
                    q[1][s] = vsliq_n_u8::<4>(ql1, vandq_u8(vshrq_n_u8::<2>(qh), low2));
                    q[2][s] =
                        vsliq_n_u8::<4>(vshrq_n_u8::<4>(ql0), vandq_u8(vshrq_n_u8::<4>(qh), low2));
                    q[3][s] = vsliq_n_u8::<4>(vshrq_n_u8::<4>(ql1), vshrq_n_u8::<6>(qh));
                }
                for p in 0..2 {
                    // Sub-blocks j = 8h + 4p + k: group 2p + k / 2, half k % 2.
                    let mut totals = [vdupq_n_s32(0); 4];
                    for (k, total) in totals.iter_mut().enumerate() {
                        let q = vreinterpretq_s8_u8(q[2 * p + k / 2][k % 2]);
                        *total = M::mac(*total, q, load_s8(&x[16 * (8 * h + 4 * p + k)..]));
                    }
                    // vpaddq(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3]: two rounds give 4 totals.
                    let t = vpaddq_s32(
                        vpaddq_s32(totals[0], totals[1]),
                        vpaddq_s32(totals[2], totals[3]),
                    );
                    sums = vmlaq_s32(sums, t, scales[2 * h + p]);
                }
            }
            let sum = vaddvq_s32(vsubq_s32(sums, vshlq_n_s32::<5>(bias)));
            let [d_w, _] = widen_f16([u16::from_le_bytes([block[208], block[209]]), 0]);
            acc += q6_k_block_product(d_w, d_x, sum);
        }
        acc
    }
}

// ---- the Q4_K head ----

/// The canonical Q4_K dot (see [`super::Q4KDotFn`]) of one row with `M`'s int8 step. Per
/// super-block the 6-bit scales and mins are unpacked once ([`BlockQ4K::scales_mins`]) and
/// widened; each 32 `qs` bytes hold sub-block `2p` in their low nibbles and `2p + 1` in their
/// high ones (0..=15, a valid int8), multiplied with the sub-block's activations by two `M`
/// steps each (`Widen`'s int16 pair sums ≤ 2 · 15 · 127); the eight sub-block totals, reduced
/// by pairwise adds into two registers, are multiplied by their scales, and the mins by the
/// activations' 32-value sums (the 16-value sums added in pairs), all exact in int32 lanes.
/// The float steps follow the canonical order.
///
/// # Safety
/// The CPU supports `M`'s instructions.
#[inline(always)]
unsafe fn dot_q4_k_row<M: Mac>(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of
    // its module) are exactly what these operations require; every load reads a slice sliced
    // to at least the loaded width.
    unsafe {
        const LEN: usize = BlockQ4K::LEN;
        let low4 = vdupq_n_u8(15);
        let mut acc = 0f32;
        let blocks = row.chunks_exact(BlockQ4K::BYTES);
        let x_blocks = acts.q.chunks_exact(LEN).zip(acts.sums.chunks_exact(16));
        for (block, ((x, sums), &d_x)) in blocks.zip(x_blocks.zip(&acts.d)) {
            let [w0, w1, w2, w3] = BlockQ4K::scales_mins(&block[4..16]).map(u64::from);
            let sc = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(w0 | w1 << 32)));
            let mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(w2 | w3 << 32)));
            let scales = [vmovl_s16(vget_low_s16(sc)), vmovl_high_s16(sc)];
            // vpaddq(a, b) = [a0+a1, .., b6+b7]: sub-block j's sum is 16-value sums 2j, 2j+1.
            let x_sums = vpaddq_s16(vld1q_s16(sums.as_ptr()), vld1q_s16(sums[8..].as_ptr()));
            let m = vmlal_high_s16(
                vmull_s16(vget_low_s16(mins), vget_low_s16(x_sums)),
                mins,
                x_sums,
            );
            let mut totals = [vdupq_n_s32(0); 8];
            for p in 0..4 {
                let (q0, q1) = (
                    load_u8(&block[16 + 32 * p..]),
                    load_u8(&block[32 + 32 * p..]),
                );
                let halves = [
                    [vandq_u8(q0, low4), vandq_u8(q1, low4)],
                    [vshrq_n_u8::<4>(q0), vshrq_n_u8::<4>(q1)],
                ];
                // A loop, not a closure: closures do not inherit the target features `M` needs.
                for (k, q) in halves.iter().enumerate() {
                    let x = &x[64 * p + 32 * k..];
                    let t = M::mac(totals[2 * p + k], vreinterpretq_s8_u8(q[0]), load_s8(x));
                    totals[2 * p + k] = M::mac(t, vreinterpretq_s8_u8(q[1]), load_s8(&x[16..]));
                }
            }
            // Two rounds of pairwise adds: sub-blocks 0..4 and 4..8, one total per lane.
            let [t0, t1, t2, t3, t4, t5, t6, t7] = totals;
            let low = vpaddq_s32(vpaddq_s32(t0, t1), vpaddq_s32(t2, t3));
            let high = vpaddq_s32(vpaddq_s32(t4, t5), vpaddq_s32(t6, t7));
            let s = vmlaq_s32(vmulq_s32(low, scales[0]), high, scales[1]);
            let sums = (vaddvq_s32(s), vaddvq_s32(m));
            let bits = [0, 2].map(|i| u16::from_le_bytes([block[i], block[i + 1]]));
            acc += q4_k_block_product(widen_f16(bits), d_x, sums);
        }
        acc
    }
}

// ---- attention over a Q8_0 cache ----

/// [`super::Q8KeyDotFn`] with `M`'s int8 step: keys in groups of 4 (the 4 lanes of a
/// register), then the rest by the scalar loop. Per group and head, block `b`'s 4 exact int32
/// sums (two 16-value steps per key, reduced by pairwise adds into lane `j` = key `j`) are
/// scaled by `d_k · d_q` and added into lane register `b % 8`; the 8 lane registers are folded
/// in halves, as the scalar fold does for each key.
///
/// # Safety
/// The CPU supports `M`'s instructions.
#[inline(always)]
unsafe fn dot_q8_0_keys_rows<M: Mac>(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    const BYTES: usize = BlockQ8_0::BYTES;
    const LEN: usize = BlockQ8_0::LEN;
    let heads = q.d.len().checked_div(blocks).unwrap_or(0);
    let mut done = 0;
    // `blocks > 0` whenever there are heads.
    if let Some(positions) = out.len().checked_div(heads) {
        let row = BYTES * blocks;
        let groups = (keys.len() / row).min(positions) / 4;
        // SAFETY: the CPU supports `M` (this function's precondition) and NEON; every load
        // reads a slice sliced to its width.
        unsafe {
            for (g, rows) in keys.chunks_exact(4 * row).take(groups).enumerate() {
                for h0 in (0..heads).step_by(4) {
                    let hn = (heads - h0).min(4);
                    let mut lanes = [[vdupq_n_f32(0.0); Q8_LANES]; 4];
                    for b in 0..blocks {
                        let mut d = [0u16; 8];
                        for (j, d) in d.iter_mut().take(4).enumerate() {
                            let at = j * row + BYTES * b;
                            *d = u16::from_le_bytes([rows[at], rows[at + 1]]);
                        }
                        let [d_k, _] = f16x8_to_f32(vld1q_u16(d.as_ptr()));
                        for (h, lanes) in lanes.iter_mut().enumerate().take(hn) {
                            let at = (h0 + h) * blocks + b;
                            let x = &q.q[LEN * at..][..LEN];
                            let (x0, x1) = (load_s8(x), load_s8(&x[16..]));
                            let mut sums = [vdupq_n_s32(0); 4];
                            for (j, sum) in sums.iter_mut().enumerate() {
                                let w = &rows[j * row + BYTES * b + 2..][..LEN];
                                *sum = M::mac(*sum, vreinterpretq_s8_u8(load_u8(w)), x0);
                                *sum = M::mac(*sum, vreinterpretq_s8_u8(load_u8(&w[16..])), x1);
                            }
                            // vpaddq(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3]: lane j = key j.
                            let total = vpaddq_s32(
                                vpaddq_s32(sums[0], sums[1]),
                                vpaddq_s32(sums[2], sums[3]),
                            );
                            let d = vmulq_f32(d_k, vdupq_n_f32(q.d[at]));
                            let lane = &mut lanes[b % Q8_LANES];
                            *lane = vaddq_f32(*lane, vmulq_f32(d, vcvtq_f32_s32(total)));
                        }
                    }
                    for (h, lanes) in lanes.iter_mut().enumerate().take(hn) {
                        for half in [4, 2, 1] {
                            for i in 0..half {
                                lanes[i] = vaddq_f32(lanes[i], lanes[i + half]);
                            }
                        }
                        let mut dots = [0f32; 4];
                        vst1q_f32(dots.as_mut_ptr(), lanes[0]);
                        for (j, dot) in dots.into_iter().enumerate() {
                            out[(4 * g + j) * heads + h0 + h] = dot;
                        }
                    }
                }
            }
        }
        done = 4 * groups;
    }
    scalar::q8_key_dots(keys, q, blocks, done, &mut out[done * heads..]);
}

/// Each head's `Σ_j w[j · H + h] · x_j` over Q8_0 rows (see [`super::Q8WeightedSumFn`])
/// through the shared driver: the sums stay in registers over all rows, each lane adding its
/// products in row order, fused (`FMLA`), as the scalar table does.
fn weighted_sum_q8_0(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    super::weighted_sum_q8_0_by::<Neon>(x, w, heads, out);
}

impl super::Q8WeightedColumns for Neon {
    /// 16 accumulators (4 heads × half a block in 4 registers of 4 lanes) of the 32 registers.
    const WIDE: usize = 2;

    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        blocks: usize,
        col: usize,
        out: &mut [f32],
    ) {
        weighted_sum_q8_0_columns::<H, V>(x, w, heads, h0, blocks, col, out);
    }
}

/// Columns `col..col + 8V` (inside block `col / 32`) of the sums of heads `h0..h0 + H` (see
/// [`super::Q8WeightedColumns::columns`]): `2HV` accumulators, from `out`, over every row of `x`, each
/// row's `8V` int8 values widened exactly to f32 once for the `H` heads; each head's `w · d`
/// one rounded multiply.
fn weighted_sum_q8_0_columns<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    blocks: usize,
    col: usize,
    out: &mut [f32],
) {
    const BYTES: usize = BlockQ8_0::BYTES;
    // SAFETY: NEON is a compile-time feature of this module; each load reads 8 bytes of the
    // block's `8V`-byte slice.
    unsafe {
        let (block, at) = (col / BlockQ8_0::LEN, col % BlockQ8_0::LEN);
        let mut acc = load_columns::<H, V>(out, BlockQ8_0::LEN * blocks, col);
        for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(BYTES * blocks)) {
            let w = &w[h0..h0 + H];
            let block = &row[BYTES * block..BYTES * (block + 1)];
            let q = &block[2 + at..2 + at + 8 * V];
            let mut values = [[vdupq_n_f32(0.0); 2]; V];
            for (v, value) in values.iter_mut().enumerate() {
                let q = vmovl_s8(vld1_s8(q[8 * v..8 * v + 8].as_ptr().cast()));
                *value = [
                    vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))),
                    vcvtq_f32_s32(vmovl_high_s16(q)),
                ];
            }
            // `d` widened (`FCVTL`, exact), times each head's weight: one rounded multiply.
            let [d, _] = f16x8_to_f32(vdupq_n_u16(u16::from_le_bytes([block[0], block[1]])));
            let d = vgetq_lane_f32::<0>(d);
            for (acc, &w) in acc.iter_mut().zip(w) {
                let c = w * d;
                for (acc, value) in acc.iter_mut().zip(&values) {
                    acc[0] = vfmaq_n_f32(acc[0], value[0], c);
                    acc[1] = vfmaq_n_f32(acc[1], value[1], c);
                }
            }
        }
        store_columns(&acc, BlockQ8_0::LEN * blocks, col, out);
    }
}

#[cfg(test)]
mod tests {
    use half::f16;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::kernels::tests::{acts_of, assert_tiles_match, dot_f16_one};
    use crate::quant::TensorType;

    /// Row widths: one block of each format, and the hidden and FFN sizes of BitNet 2B.
    const WIDTHS: [usize; 4] = [128, 256, 2560, 6912];

    fn scalar() -> &'static Kernels {
        Kernels::scalar()
    }

    /// Checks every ternary tile of every NEON table against the scalar table on the rows
    /// `rows` (`row_bytes` each, any values: every code pattern, TQ1_0 bytes beyond 242) and
    /// every tile shape of the tokens `qs`; also the per-block-scale TQ dots on each row.
    fn check_ternary(ty: TensorType, rows: &[u8], row_bytes: usize, qs: &[Vec<i8>]) {
        let acts: Vec<QuantActs> = qs.iter().map(|q| acts_of(q)).collect();
        for k in available() {
            assert_tiles_match(k, ty, rows, row_bytes, &acts);
            let dot = match ty {
                TensorType::TQ2_0 => Some((k.dot_tq2_0, scalar().dot_tq2_0)),
                TensorType::TQ1_0 => Some((k.dot_tq1_0, scalar().dot_tq1_0)),
                _ => None,
            };
            if let Some((dot, reference)) = dot {
                for (row, q) in rows.chunks_exact(row_bytes).zip(qs) {
                    assert_eq!(
                        dot(row, q).to_bits(),
                        reference(row, q).to_bits(),
                        "{}",
                        k.name
                    );
                }
            }
        }
    }

    fn row_bytes(ty: TensorType, cols: usize) -> usize {
        cols / ty.block_len() as usize * ty.block_bytes() as usize
    }

    #[test]
    fn tables_are_listed_by_cpu_feature() {
        let names: Vec<_> = available().iter().map(|k| k.name).collect();
        let dotprod = std::arch::is_aarch64_feature_detected!("dotprod");
        let i8mm = std::arch::is_aarch64_feature_detected!("i8mm");
        let expected = match (dotprod, i8mm) {
            (true, true) => vec!["neon", "neon-dotprod", "neon-i8mm"],
            (true, false) => vec!["neon", "neon-dotprod"],
            _ => vec!["neon"],
        };
        assert_eq!(names, expected);
        let all: Vec<_> = Kernels::available().iter().map(|k| k.name).collect();
        assert_eq!(all[0], "scalar");
        assert_eq!(all[1..], expected[..]);
    }

    #[test]
    fn ternary_tiles_match_scalar_on_random_bytes() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for ty in [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0] {
            for cols in WIDTHS {
                if cols % ty.block_len() as usize != 0 {
                    continue;
                }
                let n = row_bytes(ty, cols);
                let rows: Vec<u8> = (0..TILE_ROWS * n).map(|_| rng.random()).collect();
                let qs: Vec<Vec<i8>> = (0..TILE_TOKENS)
                    .map(|_| (0..cols).map(|_| rng.random()).collect())
                    .collect();
                check_ternary(ty, &rows, n, &qs);
            }
        }
    }

    #[test]
    fn ternary_tiles_match_scalar_on_every_byte_and_extreme_activations() {
        // Byte b at position p: every code pattern (incl. code 3) and every TQ1_0 byte value
        // lands in every position of a block over the 256 rotations.
        let cols = 2560;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let random: Vec<i8> = (0..cols).map(|_| rng.random()).collect();
        let activations = [
            vec![-128; cols],
            vec![127; cols],
            (0..cols)
                .map(|i| if i % 3 == 0 { -128 } else { 127 })
                .collect(),
            random,
        ];
        for ty in [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0] {
            let n = row_bytes(ty, cols);
            for rotation in (0..256).step_by(7 * TILE_ROWS) {
                // Rows rotated by rotation, rotation + 7, ...
                let rows: Vec<u8> = (0..TILE_ROWS * n)
                    .map(|i| (i % n + rotation + 7 * (i / n)) as u8)
                    .collect();
                check_ternary(ty, &rows, n, &activations);
            }
            for fills in [[0u8, 0x55, 0xAA, 0xFF], [242, 243, 0xFF, 0x7F]] {
                let rows: Vec<u8> = fills.iter().flat_map(|&f| vec![f; n]).collect();
                check_ternary(ty, &rows, n, &activations);
            }
        }
    }

    #[test]
    fn tq1_trits_decode_like_the_reference_for_every_byte() {
        // `trit_n` against `(byte · 3^n mod 256) · 3 >> 8` (= t + 1) for all bytes and n < 5.
        for n in 0..5u32 {
            let bytes: Vec<u8> = (0..=255).collect();
            for chunk in bytes.chunks_exact(16) {
                let mut t = [0i8; 16];
                // SAFETY: NEON is enabled for this module; 16-byte loads and stores.
                unsafe {
                    vst1q_s8(t.as_mut_ptr(), trit_n(load_u8(chunk), n));
                }
                for (&b, &t) in chunk.iter().zip(&t) {
                    let shifted = u16::from(b.wrapping_mul(3u8.pow(n)));
                    assert_eq!(t, ((shifted * 3) >> 8) as i8, "byte {b} trit {n}");
                }
            }
        }
    }

    /// Checks `quantize_acts` of every NEON table against the scalar table bit for bit.
    fn check_quantize(x: &[f32]) {
        let mut expected = QuantActs::default();
        scalar().quantize_acts(x, &mut expected);
        for k in available() {
            let mut got = QuantActs {
                q: vec![5; 3],
                ..QuantActs::default()
            };
            k.quantize_acts(x, &mut got);
            assert_eq!(got.q, expected.q, "{} {x:?}", k.name);
            assert_eq!(got.scale.to_bits(), expected.scale.to_bits(), "{}", k.name);
            assert_eq!(got.sum, expected.sum, "{}", k.name);
        }
    }

    #[test]
    fn quantize_acts_matches_scalar_on_random_lengths() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for n in [0, 1, 15, 16, 17, 33, 2560, 6912] {
            let x: Vec<f32> = (0..n).map(|_| rng.random_range(-8.0f32..8.0)).collect();
            check_quantize(&x);
        }
    }

    #[test]
    fn quantize_acts_matches_scalar_on_ties_zeros_and_non_finite_values() {
        // max |x| = 127 → scale 1: exact halves tie, ±127.5-ish products saturate.
        let mut ties: Vec<f32> = (-40..40).map(|i| i as f32 + 0.5).collect();
        ties.extend([127.0, -127.0, 0.49, -0.5, 0.0, -0.0, 126.5, -126.5]);
        check_quantize(&ties);
        check_quantize(&[0.0; 35]);
        check_quantize(&[-0.0; 7]);
        check_quantize(&[1e-30; 19]);
        let snan = f32::from_bits(0x7F80_0001);
        for special in [f32::NAN, -f32::NAN, snan, f32::INFINITY, f32::NEG_INFINITY] {
            for n in [1, 5, 16, 17, 40] {
                for at in [0, n / 2, n - 1] {
                    let mut x: Vec<f32> = (0..n).map(|i| (i as f32 - 7.5) * 0.3).collect();
                    x[at] = special;
                    check_quantize(&x);
                }
            }
        }
        check_quantize(&[f32::NAN; 20]);
    }

    /// Random values over many binades, so that any change of summation order shows.
    fn wide_random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0) * (2f32).powi(rng.random_range(-20..20)))
            .collect()
    }

    fn to_f16_bytes(a: &[f32]) -> Vec<u8> {
        a.iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect()
    }

    #[test]
    fn float_dots_match_scalar_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for n in [0, 1, 15, 16, 17, 31, 33, 2560, 2563] {
            for _ in 0..4 {
                let a = wide_random(&mut rng, n);
                let b = wide_random(&mut rng, n);
                let h = to_f16_bytes(&a);
                for k in available() {
                    let (f32_dot, f16_dot) = ((k.dot_f32)(&a, &b), dot_f16_one(k, &h, &b));
                    let expected = (scalar().dot_f32)(&a, &b);
                    assert_eq!(f32_dot.to_bits(), expected.to_bits(), "{} f32 {n}", k.name);
                    let expected = dot_f16_one(scalar(), &h, &b);
                    assert_eq!(f16_dot.to_bits(), expected.to_bits(), "{} f16 {n}", k.name);
                }
            }
        }
    }

    #[test]
    fn float_dots_keep_signed_zeros_and_infinities_like_scalar() {
        let cases: [(Vec<f32>, Vec<f32>); 4] = [
            (vec![-1.0; 17], vec![0.0; 17]),
            (vec![-0.0; 3], vec![5.0; 3]),
            (
                (0..20)
                    .map(|i| if i == 18 { f32::INFINITY } else { 1.0 })
                    .collect(),
                vec![2.0; 20],
            ),
            (vec![f32::MAX; 33], vec![2.0; 33]),
        ];
        for (a, b) in &cases {
            let h = to_f16_bytes(a);
            for k in available() {
                let expected = (scalar().dot_f32)(a, b);
                assert_eq!(
                    (k.dot_f32)(a, b).to_bits(),
                    expected.to_bits(),
                    "{}",
                    k.name
                );
                let expected = dot_f16_one(scalar(), &h, b);
                assert_eq!(
                    dot_f16_one(k, &h, b).to_bits(),
                    expected.to_bits(),
                    "{}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn f16_widening_is_exact_for_every_bit_pattern() {
        let bits: Vec<u16> = (0..=u16::MAX).collect();
        for chunk in bits.chunks_exact(8) {
            let mut got = [0f32; 8];
            // SAFETY: NEON is enabled for this module; 8-element loads, 4-element stores.
            unsafe {
                let [lo, hi] = f16x8_to_f32(vld1q_u16(chunk.as_ptr()));
                vst1q_f32(got.as_mut_ptr(), lo);
                vst1q_f32(got[4..].as_mut_ptr(), hi);
            }
            for (&h, &f) in chunk.iter().zip(&got) {
                let expected = f16::from_bits(h).to_f32();
                assert_eq!(f.to_bits(), expected.to_bits(), "f16 bits {h:#06x}");
            }
        }
    }
}

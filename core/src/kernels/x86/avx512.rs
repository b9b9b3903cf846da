//! The x86_64 AVX-512 table (`"avx512"`): the ternary tiles with AVX-512 VNNI
//! (`vpdpbusd`: 64 unsigned × signed int8 products summed four by four straight into 16 int32
//! lanes, one instruction per 64 weights and token) and VBMI (`vpermi2b`, 128-byte table
//! lookups: TQ1_0's base-3 bytes to trits), and the Q6_K and Q4_K heads' AVX2 loops with VNNI's
//! `vpdpwssd` for their int16 pair sums, the Q8_0 attention keys with `vpdpbusd`, and the
//! attention's weighted sums over twice the AVX2 table's columns per pass (AVX-512 VL's 32
//! registers); every other entry is the AVX2 table's.
//!
//! The tiles compute `Σ t·q = Σ u·q − Σ q` from unsigned codes `u = t + 1` like the AVX2 ones,
//! so they equal the scalar table bit for bit (exact int32 sums; `|u·q| ≤ 384`, far from
//! overflow). Rows are read in chunks of 256 weights; a row's last I2_S block when the count
//! is odd runs through the same code from a zero-padded copy (code 0 decodes to `u = 0`).

use std::arch::x86_64::*;

use super::super::{tile_fn, Kernels, Q8Acts, QuantActs};
use crate::quant::{BlockFormat, BlockQ8_0, BlockTQ1_0, BlockTQ2_0, TernaryFormat};

/// The AVX-512 table; reachable only through [`table`].
static KERNELS: Kernels = Kernels {
    name: "avx512",
    quantize_acts: super::quantize_acts,
    tile_i2s,
    tile_tq2_0,
    tile_tq1_0,
    dot_tq2_0: BlockTQ2_0::dot_i8,
    dot_tq1_0: BlockTQ1_0::dot_i8,
    dot_f32: super::dot_f32,
    dot_f16: super::dot_f16,
    dot_q8_0: super::dot_q8_0,
    dot_q6_k,
    dot_q4_k,
    weighted_sum_f16,
    dot_q8_0_keys,
    weighted_sum_q8_0,
    softmax,
    row_walk: super::super::RowWalk::SEQUENTIAL,
};

/// The AVX-512 table, when this CPU has the AVX2 table's features and AVX-512 F, BW, VNNI and
/// VBMI (Ice Lake and later, Zen 4 and later; Cascade Lake, VNNI without VBMI, runs AVX2).
pub(super) fn table() -> Option<&'static Kernels> {
    let features = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
        && is_x86_feature_detected!("avx512vbmi");
    (super::table().is_some() && features).then_some(&KERNELS)
}

/// [`super::super::Q6KDotFn`]: the AVX2 loop with [`Dpwssd`].
fn dot_q6_k(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: only `KERNELS` reaches this, and `table` hands it out only after detecting the
    // AVX2 table's features and AVX-512 F, BW, VNNI (VL comes with them on every such CPU, and
    // is checked there too); memory safety does not depend on the arguments.
    unsafe { dot_q6_k_vnni(row, acts) }
}

#[target_feature(enable = "avx2,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn dot_q6_k_vnni(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: the CPU features of this function are the loop's and `Dpwssd`'s.
    unsafe { super::dot_q6_k_rows::<Dpwssd>(row, acts) }
}

/// [`super::super::Q4KDotFn`]: the AVX2 loop with [`Dpwssd`].
fn dot_q4_k(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: as for `dot_q6_k`.
    unsafe { dot_q4_k_vnni(row, acts) }
}

#[target_feature(enable = "avx2,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn dot_q4_k_vnni(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: the CPU features of this function are the loop's and `Dpwssd`'s.
    unsafe { super::dot_q4_k_rows::<Dpwssd>(row, acts) }
}

/// VNNI's `vpdpwssd`: the int16 pair products added into the int32 lanes in one instruction.
struct Dpwssd;

impl super::PairMac for Dpwssd {
    #[inline(always)]
    unsafe fn pair_mac(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: AVX-512 VNNI and VL, the trait's precondition.
        unsafe { _mm256_dpwssd_epi32(acc, a, b) }
    }
}

// ---- attention ----

/// [`super::super::Q8KeyDotFn`]: the AVX2 loop with [`UnsignedMac`], then the scalar loop.
fn dot_q8_0_keys(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    // SAFETY: as for `dot_q6_k`.
    unsafe { dot_q8_0_keys_vnni(keys, q, blocks, out) }
}

#[target_feature(enable = "avx2,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn dot_q8_0_keys_vnni(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    // SAFETY: the CPU features of this function are the loop's and `UnsignedMac`'s.
    unsafe { super::dot_q8_0_keys_by::<UnsignedMac>(keys, q, blocks, out) }
}

/// VNNI's `vpdpbusd` on the keys made unsigned, `k + 128` (one `xor` per key block, shared by
/// the heads): `Σ (k + 128)·x = Σ k·x + 128 · Σ x`, so the exact sum subtracts `128 · Σ x`.
struct UnsignedMac;

impl super::KeyMac for UnsignedMac {
    #[inline(always)]
    unsafe fn prepare(k: __m256i) -> __m256i {
        // SAFETY: AVX2, the trait's precondition.
        unsafe { _mm256_xor_si256(k, _mm256_set1_epi8(i8::MIN)) }
    }

    #[inline(always)]
    unsafe fn products(k: __m256i, x: __m256i) -> __m256i {
        // SAFETY: AVX-512 VNNI and VL, the trait's precondition.
        unsafe { _mm256_dpbusd_epi32(_mm256_setzero_si256(), k, x) }
    }

    #[inline(always)]
    unsafe fn exact(sums: __m256i, x_sum: i16) -> __m256i {
        // SAFETY: AVX2, the trait's precondition.
        unsafe { _mm256_sub_epi32(sums, _mm256_set1_epi32(128 * i32::from(x_sum))) }
    }
}

/// [`super::super::SoftmaxFn`]: the shared loops compiled for AVX-512's 16-lane registers.
fn softmax(x: &mut [f32], heads: usize, scale: f32) {
    // SAFETY: as for `dot_q6_k`.
    unsafe { softmax_avx512(x, heads, scale) }
}

#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(x: &mut [f32], heads: usize, scale: f32) {
    super::super::attention::softmax(x, heads, scale);
}

/// The AVX-512 weighted sums: the AVX2 loops over twice as many columns per pass, their
/// accumulators in the 32 registers AVX-512 VL gives.
struct Avx512;

/// [`super::super::F16WeightedSumFn`] through the shared driver.
fn weighted_sum_f16(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    super::super::weighted_sum_f16_by::<Avx512>(x, w, heads, out);
}

impl super::super::WeightedColumns for Avx512 {
    /// 16 accumulators (4 heads × 4).
    const WIDE: usize = 4;

    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        col: usize,
        out: &mut [f32],
    ) {
        // SAFETY: as for `dot_q6_k`.
        unsafe { weighted_sum_columns::<H, V>(x, w, heads, h0, col, out) }
    }
}

#[target_feature(enable = "avx2,f16c,fma,avx512f,avx512vl")]
unsafe fn weighted_sum_columns<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    col: usize,
    out: &mut [f32],
) {
    // SAFETY: the CPU features of this function are the loop's.
    unsafe { super::weighted_sum_columns::<H, V>(x, w, heads, h0, col, out) }
}

/// [`super::super::Q8WeightedSumFn`] through the shared driver.
fn weighted_sum_q8_0(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    super::super::weighted_sum_q8_0_by::<Avx512>(x, w, heads, out);
}

impl super::super::Q8WeightedColumns for Avx512 {
    /// 8 accumulators of 16 lanes (4 heads × a whole block).
    const WIDE: usize = 4;

    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        blocks: usize,
        col: usize,
        out: &mut [f32],
    ) {
        // SAFETY: as for `dot_q6_k`.
        unsafe { weighted_sum_q8_0_columns::<H, V>(x, w, heads, h0, blocks, col, out) }
    }
}

#[target_feature(enable = "avx2,f16c,fma,avx512f,avx512vl")]
unsafe fn weighted_sum_q8_0_columns<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    blocks: usize,
    col: usize,
    out: &mut [f32],
) {
    // SAFETY: the CPU features of this function are the loops'.
    unsafe {
        if V.is_multiple_of(2) {
            q8_0_columns_by_16::<H, V>(x, w, heads, h0, blocks, col, out);
        } else {
            super::weighted_sum_q8_0_columns::<H, V>(x, w, heads, h0, blocks, col, out);
        }
    }
}

/// The AVX2 loop's sums (see `super::weighted_sum_q8_0_columns`) in 16-lane registers: `8V`
/// columns (`V` even) as `V / 2` registers per head, each 16 int8 widened with one conversion
/// chain; `c = w · d` and each `fma(c, q, acc)` exactly as there, lane for lane.
///
/// # Safety
/// The CPU has AVX-512 F and F16C.
#[inline(always)]
unsafe fn q8_0_columns_by_16<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    blocks: usize,
    col: usize,
    out: &mut [f32],
) {
    const BYTES: usize = BlockQ8_0::BYTES;
    let m = BlockQ8_0::LEN * blocks;
    // SAFETY: the CPU features are this function's precondition; every load reads a slice
    // sliced to its width, every store writes one.
    unsafe {
        let (block, at) = (col / BlockQ8_0::LEN, col % BlockQ8_0::LEN);
        let mut acc = [[_mm512_setzero_ps(); 2]; H];
        for (h, acc) in acc.iter_mut().enumerate() {
            for (z, acc) in acc.iter_mut().take(V / 2).enumerate() {
                let out = &out[h * m + col + 16 * z..][..16];
                *acc = _mm512_loadu_ps(out.as_ptr());
            }
        }
        for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(BYTES * blocks)) {
            let w = &w[h0..h0 + H];
            let block = &row[BYTES * block..BYTES * (block + 1)];
            let q = &block[2 + at..2 + at + 8 * V];
            let mut values = [_mm512_setzero_ps(); 2];
            for (z, value) in values.iter_mut().take(V / 2).enumerate() {
                let q = &q[16 * z..16 * z + 16];
                let q = _mm_loadu_si128(q.as_ptr().cast());
                *value = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
            }
            let d = _mm512_cvtph_ps(_mm256_set1_epi16(i16::from_le_bytes([block[0], block[1]])));
            for (acc, &w) in acc.iter_mut().zip(w) {
                let c = _mm512_mul_ps(_mm512_set1_ps(w), d);
                for (acc, &value) in acc.iter_mut().zip(&values).take(V / 2) {
                    *acc = _mm512_fmadd_ps(c, value, *acc);
                }
            }
        }
        for (h, acc) in acc.iter().enumerate() {
            for (z, acc) in acc.iter().take(V / 2).enumerate() {
                let out = &mut out[h * m + col + 16 * z..][..16];
                _mm512_storeu_ps(out.as_mut_ptr(), *acc);
            }
        }
    }
}

/// Weights per chunk, the unit the tile loop walks.
const CHUNK_LEN: usize = 256;

/// A ternary layout read in chunks of [`CHUNK_LEN`] weights: vector `I` (`I` <
/// [`Chunks::VECTORS`]) of a chunk holds up to 64 unsigned weights `u = t + 1` (0..=3) whose
/// activations are [`Chunks::acts`]`::<I>` (0 in lanes without a weight).
trait Chunks {
    /// Bytes per chunk.
    const CHUNK_BYTES: usize;

    /// Vectors per chunk: 4 of 64 weights, or 5 (TQ1_0: one per trit position).
    const VECTORS: usize = 4;

    /// Vector `I` of the chunk `chunk` (at least [`Chunks::CHUNK_BYTES`] bytes, checked).
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VBMI.
    unsafe fn decode<const I: usize>(chunk: &[u8]) -> __m512i;

    /// The activations of vector `I` from the chunk's 256 activations `q`: by default the
    /// 64 in order from `64I`, one load that `vpdpbusd` takes as its memory operand.
    ///
    /// # Safety
    /// The CPU has AVX-512 F.
    #[inline(always)]
    unsafe fn acts<const I: usize>(q: &[i8]) -> __m512i {
        let q = &q[64 * I..][..64];
        // SAFETY: `q` is 64 readable bytes; the load has no alignment requirement.
        unsafe { _mm512_loadu_si512(q.as_ptr().cast()) }
    }
}

/// Codes of 64 weights from one 32-byte half of a chunk: the half broadcast to both 256-bit
/// lanes of a vector, its lower lane shifted right by `LO` bits and its upper lane by `HI` (per
/// 16-bit word, `vpsrlvw`), the 2-bit code at the bottom of each byte kept.
#[inline(always)]
unsafe fn half_codes<const LO: u16, const HI: u16>(half: &[u8]) -> __m512i {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let half = &half[..32];
        // SAFETY: `half` is 32 readable bytes; the load has no alignment requirement.
        let bytes = _mm512_broadcast_i64x4(_mm256_loadu_si256(half.as_ptr().cast()));
        let shifts =
            _mm512_inserti64x4::<1>(_mm512_set1_epi16(LO as i16), _mm256_set1_epi16(HI as i16));
        _mm512_and_si512(_mm512_srlv_epi16(bytes, shifts), _mm512_set1_epi8(3))
    }
}

/// I2_S, two 32-byte blocks per chunk: weight `k` of a block in byte `k % 32` at bits 7-6
/// (k < 32), 5-4, 3-2, 1-0 (96 ≤ k), so vector `I` (weights `64I..64I + 64`) is the codes at
/// bits 7-6 and 5-4 (`I` even) or 3-2 and 1-0 (`I` odd) of block `I / 2`. Codes 0, 1, 2 → u =
/// 0, 1, 2; code 3 (t = 0) → u = 1, by a table lookup.
struct I2S;

impl Chunks for I2S {
    const CHUNK_BYTES: usize = 64;

    #[inline(always)]
    unsafe fn decode<const I: usize>(chunk: &[u8]) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let block = &chunk[32 * (I / 2)..];
            let codes = match I % 2 {
                0 => half_codes::<6, 4>(block),
                _ => half_codes::<2, 0>(block),
            };
            let u = _mm512_set1_epi32(i32::from_le_bytes([0, 1, 2, 1]));
            _mm512_shuffle_epi8(u, codes)
        }
    }
}

/// TQ2_0, one 66-byte block per chunk (64 code bytes, then the f16 scale): weight
/// `128g + 32l + m` in byte `32g + m` at bits `2l + 1..2l`, so vector `I` (weights
/// `64I..64I + 64`) is the codes at bits 1-0 and 3-2 (`I` even) or 5-4 and 7-6 (`I` odd) of
/// code bytes `32 (I / 2)..`; `u` is the code itself.
struct TQ2_0;

impl Chunks for TQ2_0 {
    const CHUNK_BYTES: usize = 66;

    #[inline(always)]
    unsafe fn decode<const I: usize>(chunk: &[u8]) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let half = &chunk[32 * (I / 2)..];
            match I % 2 {
                0 => half_codes::<0, 2>(half),
                _ => half_codes::<4, 6>(half),
            }
        }
    }
}

/// The activations `q[32k..][..32]` ‖ `q[128 + 32k..][..32]` of a chunk's 256 (`k` < 4): the
/// weights of lanes `m` and `32 + m` of a vector whose bytes come from both 32-byte halves of
/// a chunk.
#[inline(always)]
unsafe fn paired_acts(q: &[i8], k: usize) -> __m512i {
    let (lo, hi) = (&q[32 * k..][..32], &q[128 + 32 * k..][..32]);
    // SAFETY: `lo` and `hi` are 32 readable bytes each; the loads have no alignment requirement.
    unsafe {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(lo.as_ptr().cast())),
            _mm256_loadu_si256(hi.as_ptr().cast()),
        )
    }
}

/// A layout whose single-token tiles run [`tile_planes`]: a chunk decodes to 64 code bytes
/// holding the `u` of four vectors ("planes") in 2-bit fields, and a fifth vector when
/// [`Chunks::VECTORS`] is 5 ([`Chunks::decode`]`::<4>`, unshifted).
trait Planes: Chunks {
    /// The chunk's 64 code bytes: plane `k`'s `u` at bits `2k + 1..2k` of each byte.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VBMI.
    unsafe fn code_bytes(chunk: &[u8]) -> __m512i;

    /// The activations of plane `k` (< 4), lane for lane, from the chunk's 256 `q`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW.
    unsafe fn plane_acts(q: &[i8], k: usize) -> __m512i;
}

impl Planes for I2S {
    /// The chunk's 64 code bytes (its two blocks), code 3 (t = 0) made 1 in every field:
    /// byte `32h + m` then holds `u` of weights `128h + 32(3 − k) + m` at bits `2k + 1..2k`.
    #[inline(always)]
    unsafe fn code_bytes(chunk: &[u8]) -> __m512i {
        let codes = &chunk[..64];
        // SAFETY: `codes` is 64 readable bytes; no alignment needed. The shifts are per
        // 16-bit word; the bits they carry across a byte are masked off.
        unsafe {
            let x = _mm512_loadu_si512(codes.as_ptr().cast());
            // A field's low bit where both its bits are set (code 3), moved to its high bit
            // and cleared there: 3 → 1, every other code kept.
            let both = _mm512_and_si512(
                _mm512_and_si512(x, _mm512_srli_epi16::<1>(x)),
                _mm512_set1_epi8(0x55),
            );
            _mm512_xor_si512(x, _mm512_slli_epi16::<1>(both))
        }
    }

    #[inline(always)]
    unsafe fn plane_acts(q: &[i8], k: usize) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { paired_acts(q, 3 - k) }
    }
}

impl Planes for TQ2_0 {
    /// The chunk's 64 code bytes as stored: byte `32h + m` holds weights `128h + 32k + m`.
    #[inline(always)]
    unsafe fn code_bytes(chunk: &[u8]) -> __m512i {
        let codes = &chunk[..64];
        // SAFETY: `codes` is 64 readable bytes; no alignment needed.
        unsafe { _mm512_loadu_si512(codes.as_ptr().cast()) }
    }

    #[inline(always)]
    unsafe fn plane_acts(q: &[i8], k: usize) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { paired_acts(q, k) }
    }
}

/// TQ1_0, one 54-byte block per chunk (see [`BlockTQ1_0`]): trit `n` of packed byte `L` (< 52)
/// is weight
///
/// ```text
/// lanes 0..32    32n + L            (n < 5)
/// lanes 32..48   160 + 16n + L − 32  (n < 5)
/// lanes 48..52   240 + 4n + L − 48   (n < 4; trit 4 of a qh byte is no weight)
/// ```
///
/// Vector `n` is trit `n` of every packed byte, in the byte's lane (lanes 52..64 hold 0), with
/// its activations gathered into the same lanes ([`tq1_acts`]; 0 where there is no weight).
/// Two 256-entry table lookups per chunk ([`TQ1_TRITS`]) give trits 0..4 as the 2-bit fields of
/// one byte (TQ2_0's code byte, so single tokens run [`tile_planes`]) and trit 4.
struct TQ1_0;

/// TQ1_0's trits of each byte value `b`, as the reference decoder reads them (trit `n` =
/// `((b · 3^n) mod 256) · 3 >> 8`, `u = t + 1`): `[0][b]` holds trits 0..4 at bits `2n + 1..2n`,
/// `[1][b]` trit 4.
static TQ1_TRITS: [[u8; 256]; 2] = {
    let mut tables = [[0u8; 256]; 2];
    let mut b = 0;
    while b < 256 {
        let mut shifted = b as u8;
        let mut n = 0;
        while n < 5 {
            let trit = ((shifted as u16 * 3) >> 8) as u8;
            if n < 4 {
                tables[0][b] |= trit << (2 * n);
            } else {
                tables[1][b] = trit;
            }
            shifted = shifted.wrapping_mul(3);
            n += 1;
        }
        b += 1;
    }
    tables
};

/// `table[b]` for each byte `b` of `bytes`, given `top`, the bytes' top bits (`vpmovb2m`): two
/// 128-entry `vpermi2b` lookups on bits 6..0, blended on bit 7.
#[inline(always)]
unsafe fn lookup(table: &[u8; 256], bytes: __m512i, top: __mmask64) -> __m512i {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut part = [_mm512_setzero_si512(); 4];
        for (part, table) in part.iter_mut().zip(table.chunks_exact(64)) {
            // SAFETY: `table` is 64 readable bytes; the load has no alignment requirement.
            *part = _mm512_loadu_si512(table.as_ptr().cast());
        }
        let low = _mm512_permutex2var_epi8(part[0], bytes, part[1]);
        let high = _mm512_permutex2var_epi8(part[2], bytes, part[3]);
        _mm512_mask_blend_epi8(top, low, high)
    }
}

/// A TQ1_0 chunk's code byte of trits 0..4 and trit 4, lane for lane (see [`TQ1_0`]).
#[inline(always)]
unsafe fn tq1_trits(chunk: &[u8]) -> [__m512i; 2] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let packed = &chunk[..52];
        // SAFETY: the mask loads lanes 0..52 only, the 52 readable bytes of `packed` (masked-off
        // lanes are not accessed and read as 0); no alignment needed.
        let bytes = _mm512_maskz_loadu_epi8((1 << 52) - 1, packed.as_ptr().cast());
        let top = _mm512_movepi8_mask(bytes);
        [
            lookup(&TQ1_TRITS[0], bytes, top),
            lookup(&TQ1_TRITS[1], bytes, top),
        ]
    }
}

/// The activations of TQ1_0's vector `n` (< 5) from a chunk's 256 `q`, in its lanes (see
/// [`TQ1_0`]): `q[32n..][..32]`, `q[160 + 16n..][..16]`, then `q[240 + 4n..][..4]` (n < 4).
#[inline(always)]
unsafe fn tq1_acts(q: &[i8], n: usize) -> __m512i {
    let q = &q[..CHUNK_LEN];
    assert!(n < 5);
    let p = q.as_ptr();
    // SAFETY: each masked load reads only its mask's lanes (masked-off lanes are not accessed):
    // lanes 0..32 from p + 32n (bytes 32n..32n + 32), lanes 32..48 from p + 128 + 16n (bytes
    // 160 + 16n..176 + 16n), lanes 48..52 from p + 192 + 4n (bytes 240 + 4n..244 + 4n, n < 4),
    // all inside the 256 bytes of `q`, as are the three base pointers; no alignment needed.
    unsafe {
        let v = _mm512_maskz_loadu_epi8(0xffff_ffff, p.add(32 * n));
        let v = _mm512_mask_loadu_epi8(v, 0xffff << 32, p.add(128 + 16 * n));
        match n {
            4 => v,
            _ => _mm512_mask_loadu_epi8(v, 0xf << 48, p.add(192 + 4 * n)),
        }
    }
}

impl Chunks for TQ1_0 {
    const CHUNK_BYTES: usize = 54;
    const VECTORS: usize = 5;

    #[inline(always)]
    unsafe fn acts<const I: usize>(q: &[i8]) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { tq1_acts(q, I) }
    }

    /// Field `I` of the code byte, or trit 4 (the compiler merges the repeated lookups of a
    /// chunk's five vectors).
    #[inline(always)]
    unsafe fn decode<const I: usize>(chunk: &[u8]) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let [codes, trit4] = tq1_trits(chunk);
            let field = match I {
                0 => codes,
                1 => _mm512_srli_epi16::<2>(codes),
                2 => _mm512_srli_epi16::<4>(codes),
                3 => _mm512_srli_epi16::<6>(codes),
                _ => return trit4,
            };
            _mm512_and_si512(field, _mm512_set1_epi8(3))
        }
    }
}

impl Planes for TQ1_0 {
    #[inline(always)]
    unsafe fn code_bytes(chunk: &[u8]) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { tq1_trits(chunk)[0] }
    }

    #[inline(always)]
    unsafe fn plane_acts(q: &[i8], k: usize) -> __m512i {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe { tq1_acts(q, k) }
    }
}

/// Adds vector `I` of one chunk of `R` rows times `T` tokens into the int32 lanes `acc[t][r]`.
/// Each token's activation vector is built once for all rows; each row's codes once for all
/// tokens.
#[inline(always)]
unsafe fn add_vector<F: Chunks, const I: usize, const R: usize, const T: usize>(
    acc: &mut [[__m512i; R]; T],
    chunks: [&[u8]; R],
    q: [&[i8]; T],
) {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut qv = [_mm512_setzero_si512(); T];
        for (qv, q) in qv.iter_mut().zip(q) {
            *qv = F::acts::<I>(q);
        }
        for (r, chunk) in chunks.iter().enumerate() {
            let u = F::decode::<I>(chunk);
            for (acc, &q) in acc.iter_mut().zip(&qv) {
                acc[r] = _mm512_dpbusd_epi32(acc[r], u, q);
            }
        }
    }
}

/// Adds one chunk of `R` rows times `T` tokens (all its vectors) into `acc`.
#[inline(always)]
unsafe fn add_chunk<F: Chunks, const R: usize, const T: usize>(
    acc: &mut [[__m512i; R]; T],
    chunks: [&[u8]; R],
    q: [&[i8]; T],
) {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        add_vector::<F, 0, R, T>(acc, chunks, q);
        add_vector::<F, 1, R, T>(acc, chunks, q);
        add_vector::<F, 2, R, T>(acc, chunks, q);
        add_vector::<F, 3, R, T>(acc, chunks, q);
        if F::VECTORS > 4 {
            add_vector::<F, 4, R, T>(acc, chunks, q);
        }
    }
}

/// The sums `Σ u·q` of `R` rows against `T` tokens (see [`super::super::TernaryTileFn`]),
/// token-major, chunk by chunk; a ragged last piece (an odd I2_S block) is zero-padded.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
unsafe fn tile_vnni<F: Chunks, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&[i8]; T],
) -> [[i32; R]; T] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); R]; T];
        let whole = rows[0].len() / F::CHUNK_BYTES;
        for c in 0..whole {
            // Loops, not `array::map`: closures do not inherit the target features, and a call
            // out of the loop would spill the accumulators.
            let mut chunks = [&[][..]; R];
            for (chunk, row) in chunks.iter_mut().zip(rows) {
                *chunk = &row[c * F::CHUNK_BYTES..][..F::CHUNK_BYTES];
            }
            let mut q = [&[][..]; T];
            for (q, a) in q.iter_mut().zip(acts) {
                *q = &a[c * CHUNK_LEN..][..CHUNK_LEN];
            }
            add_chunk::<F, R, T>(&mut acc, chunks, q);
        }
        let (done, done_len) = (whole * F::CHUNK_BYTES, whole * CHUNK_LEN);
        if done < rows[0].len() {
            let mut codes = [[0u8; 128]; R];
            for (pad, row) in codes.iter_mut().zip(rows) {
                pad[..row.len() - done].copy_from_slice(&row[done..]);
            }
            let mut q = [[0i8; CHUNK_LEN]; T];
            for (pad, a) in q.iter_mut().zip(acts) {
                pad[..a.len() - done_len].copy_from_slice(&a[done_len..]);
            }
            let mut chunks = [&[][..]; R];
            for (chunk, codes) in chunks.iter_mut().zip(&codes) {
                *chunk = &codes[..];
            }
            let mut acts = [&[][..]; T];
            for (a, q) in acts.iter_mut().zip(&q) {
                *a = &q[..];
            }
            add_chunk::<F, R, T>(&mut acc, chunks, acts);
        }
        let mut sums = [[0; R]; T];
        for (sums, acc) in sums.iter_mut().zip(&acc) {
            for (s, &acc) in sums.iter_mut().zip(acc) {
                *s = _mm512_reduce_add_epi32(acc);
            }
        }
        sums
    }
}

/// [`tile_vnni`] for a [`Planes`] layout, single tokens (decode) through [`tile_planes`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
unsafe fn tile_vnni_planes<F: Planes, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&[i8]; T],
) -> [[i32; R]; T] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        // Several tokens, or a ragged last piece (an odd I2_S block): the general tile.
        if T > 1 || !rows[0].len().is_multiple_of(F::CHUNK_BYTES) {
            return tile_vnni::<F, R, T>(rows, acts);
        }
        let mut sums = [[0; R]; T];
        sums[0] = tile_planes::<F, R>(rows, acts[0]);
        sums
    }
}

/// The sums `Σ u·q` of `R` rows of a [`Planes`] layout against one token (decode), with no
/// shifts: plane `k` of a chunk's 64 code bytes masked in place (`byte & 3 << 2k`) is
/// `u · 4^k`, which `vpdpbusd` adds (≤ 4 · 192 · 128 per lane and step, far from overflow)
/// into accumulator `k` of the row against the plane's [`Planes::plane_acts`] (built once per
/// chunk for all rows); a fifth vector (TQ1_0's trit 4) goes unshifted into accumulator 0.
/// Accumulator `k` is then exactly `4^k` times its plane's sum, and an arithmetic shift right
/// by `2k` recovers it. Per row and chunk: one load (TQ1_0: a masked load, `vpmovb2m` and two
/// lookups of 3 instructions), 4 `vpandq`, 4 `vpdpbusd` (TQ1_0: 5).
#[inline(always)]
unsafe fn tile_planes<F: Planes, const R: usize>(rows: [&[u8]; R], q: &[i8]) -> [i32; R] {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); 4]; R];
        let masks = [0x03, 0x0c, 0x30, 0xc0].map(|m: u8| _mm512_set1_epi8(m as i8));
        for c in 0..rows[0].len() / F::CHUNK_BYTES {
            let q = &q[c * CHUNK_LEN..][..CHUNK_LEN];
            let mut qv = [_mm512_setzero_si512(); 4];
            for (k, qv) in qv.iter_mut().enumerate() {
                *qv = F::plane_acts(q, k);
            }
            let fifth = match F::VECTORS {
                5 => F::acts::<4>(q),
                _ => _mm512_setzero_si512(),
            };
            for (acc, row) in acc.iter_mut().zip(rows) {
                let chunk = &row[c * F::CHUNK_BYTES..][..F::CHUNK_BYTES];
                let bytes = F::code_bytes(chunk);
                for k in 0..4 {
                    let u = _mm512_and_si512(bytes, masks[k]);
                    acc[k] = _mm512_dpbusd_epi32(acc[k], u, qv[k]);
                }
                if F::VECTORS == 5 {
                    acc[0] = _mm512_dpbusd_epi32(acc[0], F::decode::<4>(chunk), fifth);
                }
            }
        }
        let mut sums = [0; R];
        for (sum, [a0, a1, a2, a3]) in sums.iter_mut().zip(acc) {
            let a = _mm512_add_epi32(
                _mm512_add_epi32(a0, _mm512_srai_epi32::<2>(a1)),
                _mm512_add_epi32(_mm512_srai_epi32::<4>(a2), _mm512_srai_epi32::<6>(a3)),
            );
            *sum = _mm512_reduce_add_epi32(a);
        }
        sums
    }
}

/// Defines the safe tile kernel `$name::<R, T>` for layout `$chunks`: `$tile` ([`tile_vnni`]
/// or [`tile_vnni_planes`]), then `− Σ q` per token.
macro_rules! safe_tile {
    ($($name:ident = $tile:ident<$chunks:ty>;)*) => {$(
        fn $name<const R: usize, const T: usize>(
            rows: [&[u8]; R],
            acts: [&QuantActs; T],
        ) -> [[i32; R]; T] {
            // SAFETY: only reachable through `KERNELS`, which `table` returns only after
            // detecting AVX-512 F, BW, VNNI and VBMI; every load reads a slice bounds-checked to
            // the loaded width (masked loads: the lanes they read).
            let mut sums = unsafe { $tile::<$chunks, R, T>(rows, acts.map(|a| &a.q[..])) };
            super::signed_sums(&mut sums, &acts);
            sums
        }
    )*};
}

safe_tile! {
    kernel_i2s = tile_vnni_planes<I2S>;
    kernel_tq2_0 = tile_vnni_planes<TQ2_0>;
    kernel_tq1_0 = tile_vnni_planes<TQ1_0>;
}

tile_fn!(tile_i2s = kernel_i2s<>);
tile_fn!(tile_tq2_0 = kernel_tq2_0<>);
tile_fn!(tile_tq1_0 = kernel_tq1_0<>);

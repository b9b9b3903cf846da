//! The x86_64 AVX-512 table (`"avx512"`): the ternary tiles with AVX-512 VNNI
//! (`vpdpbusd`: 64 unsigned × signed int8 products summed four by four straight into 16 int32
//! lanes, one instruction per 64 weights and token); every other entry is the AVX2 table's.
//!
//! The tiles compute `Σ t·q = Σ u·q − Σ q` from unsigned codes `u = t + 1` like the AVX2 ones,
//! so they equal the scalar table bit for bit (exact int32 sums; `|u·q| ≤ 384`, far from
//! overflow). Rows are read in chunks of 256 weights; a row's last I2_S block when the count
//! is odd runs through the same code from a zero-padded copy (code 0 decodes to `u = 0`).

use std::arch::x86_64::*;

use super::super::{tile_fn, Kernels, QuantActs};
use crate::quant::{BlockTQ1_0, BlockTQ2_0, TernaryFormat};

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
    weighted_sum_f16: super::weighted_sum_f16,
    row_walk: super::super::RowWalk::SEQUENTIAL,
};

/// The AVX-512 table, when this CPU has the AVX2 table's features and AVX-512 F, BW and VNNI.
pub(super) fn table() -> Option<&'static Kernels> {
    let vnni = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni");
    (super::table().is_some() && vnni).then_some(&KERNELS)
}

/// Weights per chunk, the unit the tile loop walks.
const CHUNK_LEN: usize = 256;

/// A ternary layout read in chunks of [`CHUNK_LEN`] weights: vector `I` (0..4) of a chunk holds
/// 64 unsigned weights `u = t + 1` (0..=3) whose activations are [`Chunks::acts`]`::<I>`.
trait Chunks {
    /// Bytes per chunk.
    const CHUNK_BYTES: usize;

    /// Whether a chunk's first 64 bytes hold `u` as the 2-bit fields at bits `2k + 1..2k`
    /// (k = 0..4) of each byte, with weights `32k + m` (byte `m` < 32) and `128 + 32k + m`
    /// (byte `32 + m`): single-token tiles then run [`tile_planes`].
    const PLANES: bool = false;

    /// Vector `I` of the chunk `chunk` (at least [`Chunks::CHUNK_BYTES`] bytes, checked).
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW.
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
    let half = &half[..32];
    // SAFETY: `half` is 32 readable bytes; the load has no alignment requirement.
    let bytes = _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(half.as_ptr().cast()) });
    let shifts =
        _mm512_inserti64x4::<1>(_mm512_set1_epi16(LO as i16), _mm256_set1_epi16(HI as i16));
    _mm512_and_si512(_mm512_srlv_epi16(bytes, shifts), _mm512_set1_epi8(3))
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
        let block = &chunk[32 * (I / 2)..];
        let codes = match I % 2 {
            0 => half_codes::<6, 4>(block),
            _ => half_codes::<2, 0>(block),
        };
        let u = _mm512_set1_epi32(i32::from_le_bytes([0, 1, 2, 1]));
        _mm512_shuffle_epi8(u, codes)
    }
}

/// TQ2_0, one 66-byte block per chunk (64 code bytes, then the f16 scale): weight
/// `128g + 32l + m` in byte `32g + m` at bits `2l + 1..2l`, so vector `I` (weights
/// `64I..64I + 64`) is the codes at bits 1-0 and 3-2 (`I` even) or 5-4 and 7-6 (`I` odd) of
/// code bytes `32 (I / 2)..`; `u` is the code itself.
struct TQ2_0;

impl Chunks for TQ2_0 {
    const CHUNK_BYTES: usize = 66;
    const PLANES: bool = true;

    #[inline(always)]
    unsafe fn decode<const I: usize>(chunk: &[u8]) -> __m512i {
        let half = &chunk[32 * (I / 2)..];
        match I % 2 {
            0 => half_codes::<0, 2>(half),
            _ => half_codes::<4, 6>(half),
        }
    }
}

/// TQ1_0, one 54-byte block per chunk (see the AVX2 decoder's table of where each weight's
/// trit lives): trit `n` of a byte is the top trit of `byte · 3^n` (mod 256). Vector `I`:
///
/// ```text
/// lanes 0..32   trit I of bytes 0..32                      (weights 32I + m)
/// lanes 32..64  I = 0: trit 4 of bytes 0..32                (weights 128 + m)
///               I = 1, 2: trits 2I − 2, 2I − 1 of bytes 32..48 (weights 128 + 32I + m)
///               I = 3: trit 4 of bytes 32..48, then trit n of the 4 qh bytes 48..52 in
///                      lanes 48 + 4n..52 + 4n                (weights 224 + m, 240 + 4n + j)
/// ```
///
/// The byte planes `· 3^n` are shared by the four vectors of a chunk (the compiler merges the
/// repeated loads and multiplies).
struct TQ1_0;

/// Each byte times 3, modulo 256: shifts a packed base-3 fraction one trit left.
#[inline(always)]
unsafe fn times3(v: __m256i) -> __m256i {
    _mm256_add_epi8(v, _mm256_add_epi8(v, v))
}

/// `v · 3^N` bytewise, modulo 256.
#[inline(always)]
unsafe fn times3_pow<const N: usize>(mut v: __m256i) -> __m256i {
    for _ in 0..N {
        v = times3(v);
    }
    v
}

/// The top trit of each byte `m` as `u = t + 1`: `(3m) >> 8`, that is `[m ≥ 86] + [m ≥ 171]`.
#[inline(always)]
unsafe fn top_trit(m: __m512i) -> __m512i {
    let one = _mm512_set1_epi8(1);
    let ge86 = _mm512_cmpge_epu8_mask(m, _mm512_set1_epi8(86));
    let ge171 = _mm512_cmpge_epu8_mask(m, _mm512_set1_epi8(171u8 as i8));
    let u = _mm512_maskz_mov_epi8(ge86, one);
    _mm512_mask_add_epi8(u, ge171, u, one)
}

/// The activations `q[32k..][..32]` ‖ `q[128 + 32k..][..32]` of a chunk's 256 (`k` < 4): the
/// weights of lanes `m` and `32 + m` of a vector whose bytes come from both 32-byte halves of
/// a chunk.
#[inline(always)]
unsafe fn paired_acts(q: &[i8], k: usize) -> __m512i {
    let (lo, hi) = (&q[32 * k..][..32], &q[128 + 32 * k..][..32]);
    // SAFETY: `lo` and `hi` are 32 readable bytes each; the loads have no alignment requirement.
    unsafe {
        concat(
            _mm256_loadu_si256(lo.as_ptr().cast()),
            _mm256_loadu_si256(hi.as_ptr().cast()),
        )
    }
}

/// `lo` in lanes 0..32 and `hi` in lanes 32..64.
#[inline(always)]
unsafe fn concat(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

impl Chunks for TQ1_0 {
    const CHUNK_BYTES: usize = 54;

    /// Lanes 0..32 from `q[32I..]`, lanes 32..64 from `q[128 + 32I..]` (see the table above).
    #[inline(always)]
    unsafe fn acts<const I: usize>(q: &[i8]) -> __m512i {
        paired_acts(q, I)
    }

    #[inline(always)]
    unsafe fn decode<const I: usize>(chunk: &[u8]) -> __m512i {
        let (head, tail) = (&chunk[..32], &chunk[32..52]);
        // SAFETY: `head` is 32 readable bytes; the load has no alignment requirement.
        let a = unsafe { _mm256_loadu_si256(head.as_ptr().cast()) };
        // b0: bytes 32..48 in the lower half, the qh dword (bytes 48..52) in each upper dword.
        let qh = i32::from_le_bytes([tail[16], tail[17], tail[18], tail[19]]);
        // SAFETY: `tail[..16]` is 16 readable bytes; the load has no alignment requirement.
        let lower = unsafe { _mm_loadu_si128(tail[..16].as_ptr().cast()) };
        let b0 = _mm256_set_m128i(_mm_set1_epi32(qh), lower);
        let low_halves = |x: __m256i, y: __m256i| _mm256_permute2x128_si256::<0x20>(x, y);
        top_trit(match I {
            0 => concat(a, times3_pow::<4>(a)),
            1 => concat(times3_pow::<1>(a), low_halves(b0, times3_pow::<1>(b0))),
            2 => concat(
                times3_pow::<2>(a),
                low_halves(times3_pow::<2>(b0), times3_pow::<3>(b0)),
            ),
            _ => {
                // Lower half: trit 4 of bytes 32..48; upper dword n: qh · 3^n.
                let w = _mm256_blend_epi32::<0b0001_0000>(times3_pow::<4>(b0), b0);
                let w = _mm256_blend_epi32::<0b0010_0000>(w, times3_pow::<1>(b0));
                let w = _mm256_blend_epi32::<0b0100_0000>(w, times3_pow::<2>(b0));
                let w = _mm256_blend_epi32::<0b1000_0000>(w, times3_pow::<3>(b0));
                concat(times3_pow::<3>(a), w)
            }
        })
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

/// Adds one chunk of `R` rows times `T` tokens (all four vectors) into `acc`.
#[inline(always)]
unsafe fn add_chunk<F: Chunks, const R: usize, const T: usize>(
    acc: &mut [[__m512i; R]; T],
    chunks: [&[u8]; R],
    q: [&[i8]; T],
) {
    add_vector::<F, 0, R, T>(acc, chunks, q);
    add_vector::<F, 1, R, T>(acc, chunks, q);
    add_vector::<F, 2, R, T>(acc, chunks, q);
    add_vector::<F, 3, R, T>(acc, chunks, q);
}

/// The sums `Σ u·q` of `R` rows against `T` tokens (see [`super::super::TernaryTileFn`]),
/// token-major, chunk by chunk; a ragged last piece (an odd I2_S block) is zero-padded.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_vnni<F: Chunks, const R: usize, const T: usize>(
    rows: [&[u8]; R],
    acts: [&[i8]; T],
) -> [[i32; R]; T] {
    if T == 1 && F::PLANES && rows[0].len().is_multiple_of(F::CHUNK_BYTES) {
        let mut sums = [[0; R]; T];
        sums[0] = tile_planes::<F, R>(rows, acts[0]);
        return sums;
    }
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

/// The sums `Σ u·q` of `R` rows of a [`Chunks::PLANES`] layout against one token (decode),
/// with no shifts: plane `k` of a chunk's 64 code bytes masked in place (`byte & 3 << 2k`) is
/// `u · 4^k`, which `vpdpbusd` adds (≤ 4 · 192 · 128 per lane and step, far from overflow)
/// into accumulator `k` of the row against the plane's [`paired_acts`] (built once per chunk
/// for all rows). Accumulator `k` is then exactly
/// `4^k` times its plane's sum, and an arithmetic shift right by `2k` recovers it. Per row and
/// chunk: one load, 4 `vpandq`, 4 `vpdpbusd` (the general tile: 4 × broadcast load, `vpsrlvw`,
/// `vpandq`, `vpdpbusd`).
#[inline(always)]
unsafe fn tile_planes<F: Chunks, const R: usize>(rows: [&[u8]; R], q: &[i8]) -> [i32; R] {
    let mut acc = [[_mm512_setzero_si512(); 4]; R];
    let masks = [0x03, 0x0c, 0x30, 0xc0].map(|m: u8| _mm512_set1_epi8(m as i8));
    for c in 0..rows[0].len() / F::CHUNK_BYTES {
        let q = &q[c * CHUNK_LEN..][..CHUNK_LEN];
        let mut qv = [_mm512_setzero_si512(); 4];
        for (k, qv) in qv.iter_mut().enumerate() {
            *qv = paired_acts(q, k);
        }
        for (acc, row) in acc.iter_mut().zip(rows) {
            let codes = &row[c * F::CHUNK_BYTES..][..64];
            // SAFETY: `codes` is 64 readable bytes; no alignment needed.
            let bytes = unsafe { _mm512_loadu_si512(codes.as_ptr().cast()) };
            for k in 0..4 {
                let u = _mm512_and_si512(bytes, masks[k]);
                acc[k] = _mm512_dpbusd_epi32(acc[k], u, qv[k]);
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

/// Defines the safe tile kernel `$name::<R, T>` for layout `$chunks`: [`tile_vnni`], then
/// `− Σ q` per token.
macro_rules! safe_tile {
    ($($name:ident = $chunks:ty;)*) => {$(
        fn $name<const R: usize, const T: usize>(
            rows: [&[u8]; R],
            acts: [&QuantActs; T],
        ) -> [[i32; R]; T] {
            // SAFETY: only reachable through `KERNELS`, which `table` returns only after
            // detecting AVX-512 F, BW and VNNI; every load reads a slice bounds-checked to the
            // loaded width.
            let mut sums = unsafe { tile_vnni::<$chunks, R, T>(rows, acts.map(|a| &a.q[..])) };
            super::signed_sums(&mut sums, &acts);
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

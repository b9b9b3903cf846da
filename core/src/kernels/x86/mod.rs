//! The x86_64 tables — `"avx2"` (`avx2.rs`) and `"avx512"` (`avx512.rs`), which differ in their
//! ternary tiles — and the entries they share, which need AVX2, F16C and FMA (every AVX2 CPU
//! but a few VIA parts has them): activation quantisation, the canonical float dots (two 8-lane
//! f32 registers), the F16 dots and weighted sums of the head and attention, and the Q8_0 head.
//!
//! Every entry gives the scalar table's result bit for bit. The `#[target_feature]` functions
//! are `unsafe` because they may only run on a CPU with those features; the tables' entries are
//! safe wrappers that [`table`] hands out only after detecting them. Memory safety never
//! depends on the caller: every load reads a slice that was sliced (and so bounds-checked) to
//! the loaded width, or, in the attention's hot loops, a pointer offset within a slice whose
//! length was checked first (stated at the load).

mod avx2;
mod avx512;

use std::arch::x86_64::*;

use half::f16;

use super::head::{q4_k_block_product, q6_k_block_product};
use super::walk::{prefetch_line, LINE_BYTES};
use super::{scalar, Kernels, Q8Acts, QuantActs, FLOAT_LANES, Q8_LANES};
use crate::quant::{BlockFormat, BlockQ4K, BlockQ6K, BlockQ8_0};

/// The x86_64 tables this CPU runs, slowest first: AVX2, then AVX-512 (see [`avx512`]).
pub(super) fn tables() -> Vec<&'static Kernels> {
    table().into_iter().chain(avx512::table()).collect()
}

/// The AVX2 table, when this CPU has AVX2, F16C and FMA.
fn table() -> Option<&'static Kernels> {
    (is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("f16c")
        && is_x86_feature_detected!("fma"))
    .then_some(&avx2::KERNELS)
}

/// Defines each table entry as a safe function calling its `#[target_feature]` twin.
macro_rules! safe_entries {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $imp:ident;)*) => {$(
        fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: this function is only reachable through `KERNELS`, which `table` returns
            // only after detecting AVX2, F16C and FMA, the only features the callee is compiled
            // for.
            // Its memory safety does not depend on the arguments (see the module docs).
            unsafe { $imp($($arg),*) }
        }
    )*};
}

safe_entries! {
    fn quantize_acts(x: &[f32], out: &mut QuantActs) = quantize_acts_avx2;
    fn dot_f32(a: &[f32], b: &[f32]) -> f32 = dot_f32_avx2;
    fn dot_q8_0(row: &[u8], acts: &Q8Acts) -> f32 = dot_q8_0_avx2;
    fn dot_q6_k(row: &[u8], acts: &Q8Acts) -> f32 = dot_q6_k_avx2;
    fn dot_q4_k(row: &[u8], acts: &Q8Acts) -> f32 = dot_q4_k_avx2;
}

// ---- loads and reductions ----

/// The first 32 bytes of `v` (panics when shorter; callers pass exact chunks, so the check
/// folds away).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_u8(v: &[u8]) -> __m256i {
    let v = &v[..32];
    // SAFETY: `v` is 32 readable bytes; the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// [`load_u8`] for int8 activations.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_i8(v: &[i8]) -> __m256i {
    let v = &v[..32];
    // SAFETY: `v` is 32 readable bytes; the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// The first 8 floats of `v`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_f32(v: &[f32]) -> __m256 {
    let v = &v[..8];
    // SAFETY: `v` is 8 readable f32; the load has no alignment requirement.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Two f16 (raw bits) widened exactly to f32 by F16C: a block's scales, without a call into a
/// library's conversion.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn widen_f16(bits: [u16; 2]) -> [f32; 2] {
    let h = _mm_cvtsi32_si128(i32::from(bits[0]) | i32::from(bits[1]) << 16);
    let f = _mm_cvtph_ps(h);
    [_mm_cvtss_f32(f), _mm_cvtss_f32(_mm_shuffle_ps::<1>(f, f))]
}

/// The first 8 little-endian f16 of `v` (16 bytes), converted exactly to f32.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn load_f16(v: &[u8]) -> __m256 {
    let v = &v[..16];
    // SAFETY: `v` is 16 readable bytes; the load has no alignment requirement.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(v.as_ptr().cast()) })
}

/// The sum of the eight i32 lanes of `v` (wrapping; the sums here stay far below 2^31).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn sum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

// ---- activation quantisation ----

/// Absmax int8 quantisation of one token (see [`QuantActs`]), 32 values per step.
#[target_feature(enable = "avx2")]
unsafe fn quantize_acts_avx2(x: &[f32], out: &mut QuantActs) {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        // max |x|, skipping NaN like the scalar fold: `max_ps` returns its second
        // operand (the running max) when either is NaN. The order of a max does not matter.
        let abs_mask = _mm256_set1_ps(-0.0);
        let mut max8 = _mm256_setzero_ps();
        let chunks = x.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            max8 = _mm256_max_ps(_mm256_andnot_ps(abs_mask, load_f32(c)), max8);
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` is 8 writable f32; the store has no alignment requirement.
        _mm256_storeu_ps(lanes.as_mut_ptr(), max8);
        let max = lanes.iter().chain(tail).fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = 127.0 / max.max(1e-5);

        let scale8 = _mm256_set1_ps(scale);
        out.q.clear();
        out.q.resize(x.len(), 0);
        let mut sum = _mm256_setzero_si256();
        let mut xs = x.chunks_exact(32);
        let mut qs = out.q.chunks_exact_mut(32);
        for (x, q) in (&mut xs).zip(&mut qs) {
            sum = _mm256_add_epi32(sum, quantize_32(x, scale8, q));
        }
        // The last partial step, padded with zeros (which quantise to 0 and add nothing).
        let tail = xs.remainder();
        let mut x_pad = [0f32; 32];
        x_pad[..tail.len()].copy_from_slice(tail);
        let mut q_pad = [0i8; 32];
        sum = _mm256_add_epi32(sum, quantize_32(&x_pad, scale8, &mut q_pad));
        let q_tail = qs.into_remainder();
        q_tail.copy_from_slice(&q_pad[..q_tail.len()]);
        out.scale = scale;
        out.sum = sum_i32(sum);
    }
}

/// Quantises `x[..32]` into `q[..32]`: `clamp(round_half_even(x · scale), −128, 127)`, NaN → 0.
/// Returns the values' sum spread over 8 i32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn quantize_32(x: &[f32], scale: __m256, q: &mut [i8]) -> __m256i {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        const NEAREST_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        let x = &x[..32];
        let q = &mut q[..32];
        let (lo, hi) = (_mm256_set1_ps(-128.0), _mm256_set1_ps(127.0));
        let mut ints = [_mm256_setzero_si256(); 4];
        for (i, x) in ints.iter_mut().zip(x.chunks_exact(8)) {
            let r = _mm256_round_ps::<NEAREST_EVEN>(_mm256_mul_ps(load_f32(x), scale));
            // NaN → 0 (the scalar saturating cast); ±inf survive to be clamped.
            let r = _mm256_and_ps(r, _mm256_cmp_ps::<_CMP_ORD_Q>(r, r));
            *i = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
        }
        let [a, b, c, d] = ints;
        let sum = _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d));
        // The packs interleave 128-bit halves: dword k of `bytes` holds a[0..4], b[0..4], c[0..4],
        // d[0..4], a[4..8], b[4..8], c[4..8], d[4..8]; the permute puts them back in order.
        let bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        // SAFETY: `q` is 32 writable bytes; the store has no alignment requirement.
        _mm256_storeu_si256(q.as_mut_ptr().cast(), bytes);
        sum
    }
}

/// Turns the tile sums `Σ u·q` of unsigned codes `u = t + 1` into `Σ t·q = Σ u·q − Σ q`, per
/// token (`sums[t]` belongs to `acts[t]`); shared by the AVX2 and AVX-512 tiles.
fn signed_sums<const R: usize>(sums: &mut [[i32; R]], acts: &[&QuantActs]) {
    for (sums, a) in sums.iter_mut().zip(acts) {
        for s in sums {
            *s = s.wrapping_sub(a.sum);
        }
    }
}

// ---- canonical float dots ----

/// Adds the tail products `a_j · b_j` (j ≥ the last whole 16) into the lanes `lo` (0..8) and
/// `hi` (8..16), fused, and folds them as the scalar table does.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn finish_lanes(
    lo: __m256,
    hi: __m256,
    tail_a: impl Iterator<Item = f32>,
    tail_b: &[f32],
) -> f32 {
    let mut lanes = [0f32; FLOAT_LANES];
    let (l, h) = lanes.split_at_mut(8);
    // SAFETY: `l` and `h` are 8 writable f32 each; the stores have no alignment requirement.
    unsafe {
        _mm256_storeu_ps(l.as_mut_ptr(), lo);
        _mm256_storeu_ps(h.as_mut_ptr(), hi);
    }
    for (lane, (a, b)) in lanes.iter_mut().zip(tail_a.zip(tail_b)) {
        *lane = a.mul_add(*b, *lane);
    }
    scalar::fold_lanes(lanes)
}

/// Four dots' lanes folded together, as [`finish_lanes`] folds each without a tail: the same
/// adds (`lo + hi`, then lanes `i + 4`, `i + 2`, `i + 1` into lane `i`), two or four dots per
/// register instead of a shuffle chain per dot. Returns the 4 sums in order.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn fold_lanes4(lo: [__m256; 4], hi: [__m256; 4]) -> [f32; 4] {
    let v = [0, 1, 2, 3].map(|d| _mm256_add_ps(lo[d], hi[d]));
    // [lanes 0..4 of dots d, e] + [lanes 4..8 of d, e]: each 128-bit half is one dot's 4 lanes.
    let half = |d: usize, e: usize| {
        let low = _mm256_permute2f128_ps::<0x20>(v[d], v[e]);
        let high = _mm256_permute2f128_ps::<0x31>(v[d], v[e]);
        _mm256_add_ps(low, high)
    };
    let (a01, a23) = (half(0, 1), half(2, 3));
    // Halves: [dot 0 | dot 1] and [dot 2 | dot 3] → [0: l0, l1; 2: l0, l1 | 1: ...; 3: ...].
    let b = _mm256_add_ps(
        _mm256_shuffle_ps::<0b01_00_01_00>(a01, a23),
        _mm256_shuffle_ps::<0b11_10_11_10>(a01, a23),
    );
    let c = _mm256_add_ps(
        _mm256_shuffle_ps::<0b10_00_10_00>(b, b),
        _mm256_shuffle_ps::<0b11_01_11_01>(b, b),
    );
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` is 8 writable f32; the store has no alignment requirement.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), c) };
    // c = [dot 0, dot 2, .., .. | dot 1, dot 3, .., ..].
    [lanes[0], lanes[4], lanes[1], lanes[5]]
}

/// The canonical float dot (see [`super::FloatDotFn`]): lanes 0..8 and 8..16 are two
/// registers, each product fused with its add (`VFMADD`).
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (a16, b16) = (a.chunks_exact(FLOAT_LANES), b.chunks_exact(FLOAT_LANES));
        let (tail_a, tail_b) = (a16.remainder(), b16.remainder());
        for (a, b) in a16.zip(b16) {
            lo = _mm256_fmadd_ps(load_f32(a), load_f32(b), lo);
            hi = _mm256_fmadd_ps(load_f32(&a[8..]), load_f32(&b[8..]), hi);
        }
        finish_lanes(lo, hi, tail_a.iter().copied(), tail_b)
    }
}

/// [`super::F16DotFn`] through the shared block driver.
fn dot_f16(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
    super::dot_f16_blocks::<Avx2>(a, b, m, out);
}

/// The AVX2 [`super::F16Block`].
struct Avx2;

impl super::F16Block for Avx2 {
    fn block<const R: usize, const Q: usize>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
        // SAFETY: only `dot_f16` calls this, and only `KERNELS` (handed out after detecting
        // AVX2, F16C and FMA) reaches `dot_f16`.
        unsafe { dot_f16_block::<R, Q>(a, b, m, out) }
    }
}

/// `R` f16 rows of `a` against `Q` f32 rows of `b` (rows of `m`) into `out[r·Q + q]`:
/// `2RQ` accumulators (lanes 0..8 and 8..16 of each dot), each 16 values of every row loaded
/// (and widened) once per pass; converted by F16C (exact), fused by `VFMADD`.
#[target_feature(enable = "avx2,f16c,fma")]
unsafe fn dot_f16_block<const R: usize, const Q: usize>(
    a: &[u8],
    b: &[f32],
    m: usize,
    out: &mut [f32],
) {
    let (a, b, out) = (&a[..2 * R * m], &b[..Q * m], &mut out[..R * Q]);
    let (mut lo, mut hi) = ([[_mm256_setzero_ps(); Q]; R], [[_mm256_setzero_ps(); Q]; R]);
    let body = m - m % FLOAT_LANES;
    for c in (0..body).step_by(FLOAT_LANES) {
        // SAFETY: `c + 16 ≤ body ≤ m`: 32 bytes of row `r` of `a` (R rows of 2m bytes, sliced
        // above) at `2(r·m + c)`, 16 floats of row `q` of `b` (Q rows of m) at `q·m + c`; no
        // alignment needed.
        unsafe {
            let mut wide = [[_mm256_setzero_ps(); 2]; R];
            for (r, wide) in wide.iter_mut().enumerate() {
                let a = a.as_ptr().add(2 * (r * m + c));
                wide[0] = _mm256_cvtph_ps(_mm_loadu_si128(a.cast()));
                wide[1] = _mm256_cvtph_ps(_mm_loadu_si128(a.add(16).cast()));
            }
            for q in 0..Q {
                let b = b.as_ptr().add(q * m + c);
                let (b_lo, b_hi) = (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8)));
                for r in 0..R {
                    lo[r][q] = _mm256_fmadd_ps(wide[r][0], b_lo, lo[r][q]);
                    hi[r][q] = _mm256_fmadd_ps(wide[r][1], b_hi, hi[r][q]);
                }
            }
        }
    }
    if R * Q == 4 && body == m {
        let dots = |acc: [[__m256; Q]; R]| std::array::from_fn(|i| acc[i / Q][i % Q]);
        // SAFETY: AVX2 is enabled in this function.
        out.copy_from_slice(&unsafe { fold_lanes4(dots(lo), dots(hi)) });
        return;
    }
    for r in 0..R {
        for q in 0..Q {
            let tail_a = a[2 * (r * m + body)..2 * (r + 1) * m]
                .chunks_exact(2)
                .map(|h| f16::from_le_bytes([h[0], h[1]]).to_f32());
            let tail_b = &b[q * m + body..(q + 1) * m];
            // SAFETY: AVX2 is enabled for this function, the only precondition of the fold.
            out[r * Q + q] = unsafe { finish_lanes(lo[r][q], hi[r][q], tail_a, tail_b) };
        }
    }
}

/// Each head's `Σ_j w[j · H + h] · x_j` over f16 rows (see [`super::F16WeightedSumFn`])
/// through the shared driver: the sums stay in registers over all rows, each lane adding its
/// products in row order, fused, as the scalar table does.
fn weighted_sum_f16(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    super::weighted_sum_f16_by::<Avx2>(x, w, heads, out);
}

impl super::WeightedColumns for Avx2 {
    /// 8 accumulators (4 heads × 2) of the 16 registers.
    const WIDE: usize = 2;

    fn columns<const H: usize, const V: usize>(
        x: &[u8],
        w: &[f32],
        heads: usize,
        h0: usize,
        col: usize,
        out: &mut [f32],
    ) {
        // SAFETY: only `weighted_sum_f16` calls this, and only `KERNELS` (handed out after
        // detecting AVX2, F16C and FMA) reaches it.
        unsafe { weighted_sum_columns_avx2::<H, V>(x, w, heads, h0, col, out) }
    }
}

#[target_feature(enable = "avx2,f16c,fma")]
unsafe fn weighted_sum_columns_avx2<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    col: usize,
    out: &mut [f32],
) {
    // SAFETY: the CPU features of this function are the loop's.
    unsafe { weighted_sum_columns::<H, V>(x, w, heads, h0, col, out) }
}

/// Columns `col..col + 8V` of the sums of heads `h0..h0 + H` (see
/// [`super::WeightedColumns::columns`]): `H · V` accumulators, from `out`, over every row of
/// `x`, each row's `8V` values loaded and widened once for the `H` heads.
///
/// # Safety
/// The CPU has AVX2, F16C and FMA.
#[inline(always)]
unsafe fn weighted_sum_columns<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    col: usize,
    out: &mut [f32],
) {
    // SAFETY: the CPU features are this function's precondition; every load reads a slice
    // sliced to its width.
    unsafe {
        let m = out.len() / H;
        let mut acc = load_columns::<H, V>(out, m, col);
        for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(2 * m)) {
            let (w, row) = (&w[h0..h0 + H], &row[2 * col..2 * col + 16 * V]);
            let mut values = [_mm256_setzero_ps(); V];
            for (v, value) in values.iter_mut().enumerate() {
                *value = load_f16(&row[16 * v..]);
            }
            for (acc, &w) in acc.iter_mut().zip(w) {
                let w = _mm256_set1_ps(w);
                for (acc, &value) in acc.iter_mut().zip(&values) {
                    *acc = _mm256_fmadd_ps(w, value, *acc);
                }
            }
        }
        store_columns(&acc, m, col, out);
    }
}

/// Head `h`'s register `v` from `out[h · m + col + 8v..][..8]`: the sums so far.
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn load_columns<const H: usize, const V: usize>(
    out: &[f32],
    m: usize,
    col: usize,
) -> [[__m256; V]; H] {
    let head = |h: usize| {
        let out = &out[h * m + col..][..8 * V];
        // SAFETY: each load reads 8 of `out`'s `8V` floats; no alignment requirement; AVX is
        // this function's precondition.
        std::array::from_fn(|v| unsafe { _mm256_loadu_ps(out[8 * v..].as_ptr()) })
    };
    std::array::from_fn(head)
}

/// Stores head `h`'s register `v` at `out[h · m + col + 8v..][..8]`.
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn store_columns<const H: usize, const V: usize>(
    acc: &[[__m256; V]; H],
    m: usize,
    col: usize,
    out: &mut [f32],
) {
    for (acc, out) in acc.iter().zip(out.chunks_exact_mut(m)) {
        for (v, acc) in acc.iter().enumerate() {
            let out = &mut out[col + 8 * v..col + 8 * v + 8];
            // SAFETY: `out` is 8 writable f32; the store has no alignment requirement; AVX is
            // this function's precondition.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), *acc) };
        }
    }
}

// ---- the Q8_0 head ----

/// The 8 i32 pair-of-pair sums of the 32 products `w · x` of one Q8_0 block: `maddubs(|w|,
/// x · sign w)`. `|w| ≤ 128` fits the unsigned operand even for `w = −128`, and `|x| ≤ 127`
/// ([`Q8Acts`]) keeps each 16-bit pair sum within ±32512, so nothing saturates.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn mul_w_x(w: __m256i, x: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
}

/// Lane `i` of the result is the sum of the eight i32 lanes of `v[i]`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn sum_each_i32(v: [__m256i; 8]) -> __m256i {
    // `hadd` works within 128-bit halves: after two rounds, the lower half of `a` holds the
    // sums of lanes 0..4 of v[0..4] and its upper half those of lanes 4..8; likewise `b`.
    let a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    let b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(a, b),
        _mm256_permute2x128_si256::<0x31>(a, b),
    )
}

/// The f16 scales of 8 consecutive 34-byte Q8_0 blocks (bytes 0..2 of each), as f32.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn block_scales(blocks: &[u8]) -> __m256 {
    let d = |i: usize| i16::from_le_bytes([blocks[34 * i], blocks[34 * i + 1]]);
    let h = _mm_setr_epi16(d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7));
    _mm256_cvtph_ps(h)
}

/// The canonical Q8_0 dot (see [`super::Q8DotFn`]) of one row: per group of 8 blocks (272
/// weight bytes, 256 activations), the 8 exact block sums are gathered into one i32 register
/// (lane = block `b % 8`), converted, scaled by `d_w · d_x` and added into the 8 f32 lanes.
/// Blocks past the last whole group are added by the scalar block product.
#[target_feature(enable = "avx2,f16c")]
unsafe fn dot_q8_0_avx2(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
    unsafe {
        const BYTES: usize = BlockQ8_0::BYTES;
        const LEN: usize = BlockQ8_0::LEN;
        let blocks = (row.len() / BYTES)
            .min(acts.d.len())
            .min(acts.q.len() / LEN);
        let groups = blocks / Q8_LANES;
        let mut acc = _mm256_setzero_ps();
        let w_groups = row.chunks_exact(BYTES * Q8_LANES);
        let x_groups = acts.q.chunks_exact(LEN * Q8_LANES);
        let d_groups = acts.d.chunks_exact(Q8_LANES);
        for ((w, x), d_x) in w_groups.zip(x_groups).zip(d_groups) {
            let mut sums = [_mm256_setzero_si256(); Q8_LANES];
            // A loop, not a closure: closures do not inherit the target features.
            for (i, sum) in sums.iter_mut().enumerate() {
                *sum = mul_w_x(load_u8(&w[BYTES * i + 2..]), load_i8(&x[LEN * i..]));
            }
            let d = _mm256_mul_ps(block_scales(w), load_f32(d_x));
            let products = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_each_i32(sums)));
            acc = _mm256_add_ps(acc, products);
        }
        let mut lanes = [0f32; Q8_LANES];
        // SAFETY: `lanes` is 8 writable f32; the store has no alignment requirement.
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        scalar::finish_q8_0(lanes, Q8_LANES * groups, row, &acts.q, &acts.d)
    }
}

// ---- the Q6_K head ----

/// Byte-shuffle indices picking, from the 8 int16 scales in each 128-bit lane, scale `2g`
/// (bytes `4g`, `4g + 1`) into every word of the low lane and scale `2g + 1` into the high.
static Q6K_SCALE_PICKS: [[u8; 32]; 4] = {
    let mut picks = [[0u8; 32]; 4];
    let mut g = 0;
    while g < 4 {
        let mut i = 0;
        while i < 32 {
            picks[g][i] = (4 * g + 2 * (i / 16) + i % 2) as u8;
            i += 1;
        }
        g += 1;
    }
    picks
};

/// The canonical Q6_K dot (see [`super::Q6KDotFn`]) of one row. Per super-block, each half
/// (128 weights: 64 `ql` bytes, 32 `qh` bytes) is unpacked into four registers of 32 six-bit
/// values, `q_g = (ql nibble) | (qh bits 2g+1..2g) << 4` for the 32 weights `32g..32g + 32` of
/// the half, i.e. sub-blocks `2g` and `2g + 1`; `maddubs(q, x)` (unsigned `q` ≤ 63, pair sums
/// ≤ 2 · 63 · 127) then `madd` with the two sub-blocks' scales (low 128 bits: sub-block `2g`,
/// high: `2g + 1`, picked from the block's 16 scales by one byte shuffle) sum `Σ sc · q · x`
/// into int32 lanes; `32 · Σ_j sc_j · Σ x_j` (the activations' 16-value sums) is subtracted
/// once per block. All exact; the float steps follow the canonical order.
#[target_feature(enable = "avx2,f16c")]
unsafe fn dot_q6_k_avx2(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: the CPU features of this function are `Madd`'s and the loop's.
    unsafe { dot_q6_k_rows::<Madd>(row, acts) }
}

/// How a table adds `Σ` of each pair of int16 products into the int32 lanes of `acc`
/// (`vpmaddwd` + `vpaddd`, or AVX-512 VNNI's one `vpdpwssd`): exact either way.
trait PairMac {
    /// `acc[i] + a[2i]·b[2i] + a[2i+1]·b[2i+1]` for each int32 lane `i`.
    ///
    /// # Safety
    /// The CPU has the instructions of the step (AVX2; VNNI and VL for [`Dpwssd`]).
    unsafe fn pair_mac(acc: __m256i, a: __m256i, b: __m256i) -> __m256i;
}

/// AVX2's `vpmaddwd` then `vpaddd`.
struct Madd;

impl PairMac for Madd {
    #[inline(always)]
    unsafe fn pair_mac(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: AVX2, the trait's precondition.
        unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)) }
    }
}

/// [`dot_q6_k_avx2`]'s loop with `P`'s int16 pair step.
///
/// # Safety
/// The CPU has AVX2, F16C and `P`'s instructions.
#[inline(always)]
unsafe fn dot_q6_k_rows<P: PairMac>(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: this function's own preconditions (AVX2 and `P`'s instructions) are exactly
    // what these operations require; every load reads a slice sliced to the loaded width.
    unsafe {
        const LEN: usize = BlockQ6K::LEN;
        let low4 = _mm256_set1_epi8(0x0F);
        let mask_high = _mm256_set1_epi8(0x30);
        let pick = |g: usize| Q6K_SCALE_PICKS[g].as_ptr().cast();
        let picks = [
            _mm256_loadu_si256(pick(0)),
            _mm256_loadu_si256(pick(1)),
            _mm256_loadu_si256(pick(2)),
            _mm256_loadu_si256(pick(3)),
        ];
        let mut acc = 0f32;
        let blocks = row.chunks_exact(BlockQ6K::BYTES);
        let x_blocks = acts.q.chunks_exact(LEN).zip(acts.sums.chunks_exact(16));
        for (block, ((x, sums), &d_x)) in blocks.zip(x_blocks.zip(&acts.d)) {
            // [s0..s7 | s8..s15] as int16, then each half's 8 scales in both lanes.
            let scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(block[192..208].as_ptr().cast()));
            let halves = [
                _mm256_permute4x64_epi64::<0x44>(scales),
                _mm256_permute4x64_epi64::<0xEE>(scales),
            ];
            let bias = _mm256_madd_epi16(scales, _mm256_loadu_si256(sums.as_ptr().cast()));
            let mut total = _mm256_setzero_si256();
            for (h, &sc) in halves.iter().enumerate() {
                let ql0 = load_u8(&block[64 * h..]);
                let ql1 = load_u8(&block[64 * h + 32..]);
                let qh = load_u8(&block[128 + 32 * h..]);
                // Byte-wise shifts by 16-bit shifts: bits crossing into a byte are masked off.
                let lows = [
                    ql0,
                    ql1,
                    _mm256_srli_epi16::<4>(ql0),
                    _mm256_srli_epi16::<4>(ql1),
                ];
                let highs = [
                    _mm256_slli_epi16::<4>(qh),
                    _mm256_slli_epi16::<2>(qh),
                    qh,
                    _mm256_srli_epi16::<2>(qh),
                ];
                // A loop, not closures: closures do not inherit the target features.
                for g in 0..4 {
                    let high = _mm256_and_si256(highs[g], mask_high);
                    let q = _mm256_or_si256(_mm256_and_si256(lows[g], low4), high);
                    let pairs = _mm256_maddubs_epi16(q, load_i8(&x[128 * h + 32 * g..]));
                    let sc = _mm256_shuffle_epi8(sc, picks[g]);
                    total = P::pair_mac(total, pairs, sc);
                }
            }
            // One reduction: Σ lanes of (total − 32 · bias), exact (lanes stay far below 2^31).
            let sum = sum_i32(_mm256_sub_epi32(total, _mm256_slli_epi32::<5>(bias)));
            let [d_w, _] = widen_f16([u16::from_le_bytes([block[208], block[209]]), 0]);
            acc += q6_k_block_product(d_w, d_x, sum);
        }
        acc
    }
}

// ---- the Q4_K head ----

/// Byte-shuffle indices picking, from 8 int16 values in each 128-bit lane, value `j` (bytes
/// `2j`, `2j + 1`) into every word of both lanes.
static Q4K_SCALE_PICKS: [[u8; 32]; 8] = {
    let mut picks = [[0u8; 32]; 8];
    let mut j = 0;
    while j < 8 {
        let mut i = 0;
        while i < 32 {
            picks[j][i] = (2 * j + i % 2) as u8;
            i += 1;
        }
        j += 1;
    }
    picks
};

/// The canonical Q4_K dot (see [`super::Q4KDotFn`]) of one row. Per super-block the 6-bit
/// scales and mins are unpacked once ([`BlockQ4K::scales_mins`]) and widened to int16; each
/// 32 `qs` bytes hold sub-block `2p` in their low nibbles and `2p + 1` in their high ones
/// (unsigned ≤ 15), `maddubs(q, x)` pair sums (≤ 2 · 15 · 127) then `madd` with the sub-block's
/// scale (picked into every word by one byte shuffle) sum `Σ sc · q · x` into int32 lanes; the
/// mins' term `Σ_j m_j · Σ x_j` comes from the activations' 16-value sums, added in pairs. All
/// exact; the float steps follow the canonical order.
#[target_feature(enable = "avx2,f16c")]
unsafe fn dot_q4_k_avx2(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: the CPU features of this function are `Madd`'s and the loop's.
    unsafe { dot_q4_k_rows::<Madd>(row, acts) }
}

/// [`dot_q4_k_avx2`]'s loop with `P`'s int16 pair step.
///
/// # Safety
/// The CPU has AVX2, F16C and `P`'s instructions.
#[inline(always)]
unsafe fn dot_q4_k_rows<P: PairMac>(row: &[u8], acts: &Q8Acts) -> f32 {
    // SAFETY: this function's own preconditions (AVX2 and `P`'s instructions) are exactly
    // what these operations require; every load reads a slice sliced to the loaded width.
    unsafe {
        const LEN: usize = BlockQ4K::LEN;
        let low4 = _mm256_set1_epi8(0x0F);
        let mut acc = 0f32;
        let blocks = row.chunks_exact(BlockQ4K::BYTES);
        let x_blocks = acts.q.chunks_exact(LEN).zip(acts.sums.chunks_exact(16));
        for (block, ((x, sums), &d_x)) in blocks.zip(x_blocks.zip(&acts.d)) {
            let [w0, w1, w2, w3] = BlockQ4K::scales_mins(&block[4..16]).map(|w| w as i32);
            // [sc0..sc7 | m0..m7] as int16; the scales then in both lanes.
            let sm = _mm256_cvtepu8_epi16(_mm_setr_epi32(w0, w1, w2, w3));
            let scales = _mm256_permute4x64_epi64::<0x44>(sm);
            // Sub-block j's activation sum is 16-value sums 2j + 2j+1 (|·| ≤ 32 · 127).
            let (s_lo, s_hi) = (
                _mm_loadu_si128(sums.as_ptr().cast()),
                _mm_loadu_si128(sums[8..].as_ptr().cast()),
            );
            let mins = _mm_madd_epi16(
                _mm256_extracti128_si256::<1>(sm),
                _mm_hadd_epi16(s_lo, s_hi),
            );
            // Four accumulators: the pair steps' latency, not their throughput, would
            // otherwise bound the loop (eight dependent steps per block).
            let mut totals = [_mm256_setzero_si256(); 4];
            for p in 0..4 {
                let q = load_u8(&block[16 + 32 * p..]);
                let lo = _mm256_and_si256(q, low4);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), low4);
                let pairs_lo = _mm256_maddubs_epi16(lo, load_i8(&x[64 * p..]));
                let pairs_hi = _mm256_maddubs_epi16(hi, load_i8(&x[64 * p + 32..]));
                let pick = |j: usize| _mm256_loadu_si256(Q4K_SCALE_PICKS[j].as_ptr().cast());
                let sc_lo = _mm256_shuffle_epi8(scales, pick(2 * p));
                let sc_hi = _mm256_shuffle_epi8(scales, pick(2 * p + 1));
                let (a, b) = (2 * (p % 2), 2 * (p % 2) + 1);
                totals[a] = P::pair_mac(totals[a], pairs_lo, sc_lo);
                totals[b] = P::pair_mac(totals[b], pairs_hi, sc_hi);
            }
            let total = _mm256_add_epi32(
                _mm256_add_epi32(totals[0], totals[1]),
                _mm256_add_epi32(totals[2], totals[3]),
            );
            // One reduction for both sums: [s, m, s, m] after two horizontal adds.
            let s4 = _mm_add_epi32(
                _mm256_castsi256_si128(total),
                _mm256_extracti128_si256::<1>(total),
            );
            let both = _mm_hadd_epi32(s4, mins);
            let both = _mm_hadd_epi32(both, both);
            let sums = (_mm_cvtsi128_si32(both), _mm_extract_epi32::<1>(both));
            let bits = [0, 2].map(|i| u16::from_le_bytes([block[i], block[i + 1]]));
            acc += q4_k_block_product(widen_f16(bits), d_x, sums);
        }
        acc
    }
}

// ---- attention over a Q8_0 cache ----

/// [`super::Q8KeyDotFn`]: keys in groups of 8 (the 8 lanes of a register) with
/// [`mul_w_x`], then the rest by the scalar loop ([`dot_q8_0_keys_by`]).
fn dot_q8_0_keys(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    // SAFETY: only `KERNELS` (handed out after detecting AVX2, F16C and FMA) reaches this.
    unsafe { dot_q8_0_keys_avx2(keys, q, blocks, out) }
}

#[target_feature(enable = "avx2,f16c")]
unsafe fn dot_q8_0_keys_avx2(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    // SAFETY: the CPU features of this function are the loop's and `SignedMac`'s.
    unsafe { dot_q8_0_keys_by::<SignedMac>(keys, q, blocks, out) }
}

/// How a table's Q8_0 key dots multiply one key block by one query block: into 8 int32
/// lanes whose sum, after [`exact`](Self::exact), is the block's exact `Σ k·x`.
trait KeyMac {
    /// The key block's 32 int8 as [`products`](Self::products) takes them (made once per key
    /// block, shared by the query heads).
    ///
    /// # Safety
    /// The CPU has the instructions of the step (AVX2; VNNI and VL for the VNNI step).
    unsafe fn prepare(k: __m256i) -> __m256i;

    /// 8 int32 lanes of products of the prepared key block `k` and the query block `x`.
    ///
    /// # Safety
    /// As for [`prepare`](Self::prepare).
    unsafe fn products(k: __m256i, x: __m256i) -> __m256i;

    /// The exact sums from the lane sums of 8 keys' [`products`](Self::products) with one
    /// query block whose values sum to `x_sum`.
    ///
    /// # Safety
    /// As for [`prepare`](Self::prepare).
    unsafe fn exact(sums: __m256i, x_sum: i16) -> __m256i;
}

/// AVX2's signed products: [`mul_w_x`] on the keys as they are.
struct SignedMac;

impl KeyMac for SignedMac {
    #[inline(always)]
    unsafe fn prepare(k: __m256i) -> __m256i {
        k
    }

    #[inline(always)]
    unsafe fn products(k: __m256i, x: __m256i) -> __m256i {
        // SAFETY: AVX2, the trait's precondition.
        unsafe { mul_w_x(k, x) }
    }

    #[inline(always)]
    unsafe fn exact(sums: __m256i, _: i16) -> __m256i {
        sums
    }
}

/// The f16 scales of block `b` of the 8 rows of `rows` (rows of `row` bytes), as f32.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn row_scales(rows: &[u8], row: usize, b: usize) -> __m256 {
    let d = |j: usize| {
        let at = j * row + BlockQ8_0::BYTES * b;
        i16::from_le_bytes([rows[at], rows[at + 1]])
    };
    _mm256_cvtph_ps(_mm_setr_epi16(
        d(0),
        d(1),
        d(2),
        d(3),
        d(4),
        d(5),
        d(6),
        d(7),
    ))
}

/// The canonical Q8_0 dots of whole groups of 8 key rows of up to 8 blocks against every head
/// of `q` (which holds each block's `Σ x` in `q.sums`), lane `j` of each register being key
/// `j` of the group: the group's key blocks prepared once ([`KeyMac::prepare`]), then for each
/// head and block the 8 keys' exact int32 sums gathered into one register ([`sum_each_i32`],
/// [`KeyMac::exact`]), scaled by `d_k · d_q` and added into lane register `b` (from `+0`); the
/// 8 lane registers folded in halves, as the scalar fold does for each key. The keys past the
/// last whole group (all of them for rows of more than 8 blocks) run through the scalar loop.
///
/// # Safety
/// The CPU has AVX2, F16C and `M`'s instructions.
#[inline(always)]
unsafe fn dot_q8_0_keys_by<M: KeyMac>(keys: &[u8], q: &Q8Acts, blocks: usize, out: &mut [f32]) {
    // SAFETY: the CPU features are this function's precondition.
    let done = unsafe {
        // The common head dims (64, 128, 256) with the block loop unrolled.
        match blocks {
            2 => key_groups::<M, 2>(keys, q, blocks, out),
            4 => key_groups::<M, 4>(keys, q, blocks, out),
            8 => key_groups::<M, 8>(keys, q, blocks, out),
            _ => key_groups::<M, 0>(keys, q, blocks, out),
        }
    };
    let heads = q.d.len().checked_div(blocks).unwrap_or(0);
    scalar::q8_key_dots(keys, q, blocks, done, &mut out[done * heads..]);
}

/// Groups of 8 keys between the one [`key_groups`] computes and the one it prefetches.
const KEYS_AHEAD: usize = 2;

/// The whole groups of [`dot_q8_0_keys_by`] for rows of `B` blocks (`B` = `blocks`), or of
/// `blocks` when `B` is 0; returns the keys done (a multiple of 8, none for rows of more than 8
/// blocks).
///
/// # Safety
/// As for [`dot_q8_0_keys_by`].
#[inline(always)]
unsafe fn key_groups<M: KeyMac, const B: usize>(
    keys: &[u8],
    q: &Q8Acts,
    blocks: usize,
    out: &mut [f32],
) -> usize {
    // SAFETY: the CPU features are this function's precondition; every load reads a slice
    // sliced to its width.
    unsafe {
        const LEN: usize = BlockQ8_0::LEN;
        const BYTES: usize = BlockQ8_0::BYTES;
        let blocks = if B > 0 { B } else { blocks };
        if !(1..=Q8_LANES).contains(&blocks) || q.d.len() < blocks || q.sums.len() != q.d.len() {
            return 0;
        }
        let (row, heads) = (BYTES * blocks, q.d.len() / blocks);
        let n = (keys.len() / row).min(out.len() / heads);
        let groups = n / 8;
        for (g, rows) in keys.chunks_exact(8 * row).take(groups).enumerate() {
            // The group after next on its way from memory: 8 rows whose first bytes (the
            // scales) are read right away, where the hardware prefetcher falls behind.
            if let Some(ahead) =
                keys.get((g + KEYS_AHEAD) * 8 * row..(g + KEYS_AHEAD + 1) * 8 * row)
            {
                for line in ahead.chunks(LINE_BYTES) {
                    prefetch_line(line.as_ptr());
                }
            }
            let mut k = [[_mm256_setzero_si256(); 8]; Q8_LANES];
            let mut d_k = [_mm256_setzero_ps(); Q8_LANES];
            for b in 0..blocks {
                d_k[b] = row_scales(rows, row, b);
                for (j, k) in k[b].iter_mut().enumerate() {
                    *k = M::prepare(load_u8(&rows[j * row + BYTES * b + 2..]));
                }
            }
            let heads_x = q.q.chunks_exact(LEN * blocks);
            let scales = q.d.chunks_exact(blocks).zip(q.sums.chunks_exact(blocks));
            for (h, (x, (d_x, x_sums))) in heads_x.zip(scales).take(heads).enumerate() {
                let mut lanes = [_mm256_setzero_ps(); Q8_LANES];
                for b in 0..blocks {
                    let x_b = load_i8(&x[LEN * b..]);
                    let mut sums = [_mm256_setzero_si256(); 8];
                    for (sum, &k) in sums.iter_mut().zip(&k[b]) {
                        *sum = M::products(k, x_b);
                    }
                    let sums = M::exact(sum_each_i32(sums), x_sums[b]);
                    let d = _mm256_mul_ps(d_k[b], _mm256_set1_ps(d_x[b]));
                    let p = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sums));
                    lanes[b] = _mm256_add_ps(lanes[b], p);
                }
                for half in [4, 2, 1] {
                    for i in 0..half {
                        lanes[i] = _mm256_add_ps(lanes[i], lanes[i + half]);
                    }
                }
                let mut dots = [0f32; 8];
                // SAFETY: `dots` is 8 writable f32; the store has no alignment requirement.
                _mm256_storeu_ps(dots.as_mut_ptr(), lanes[0]);
                for (j, dot) in dots.into_iter().enumerate() {
                    out[(8 * g + j) * heads + h] = dot;
                }
            }
        }
        8 * groups
    }
}

/// [`super::SoftmaxFn`]: the shared loops compiled for AVX2's 8-lane registers.
fn softmax(x: &mut [f32], heads: usize, scale: f32) {
    // SAFETY: only `KERNELS` (handed out after detecting AVX2) reaches this.
    unsafe { softmax_avx2(x, heads, scale) }
}

#[target_feature(enable = "avx2")]
unsafe fn softmax_avx2(x: &mut [f32], heads: usize, scale: f32) {
    super::attention::softmax(x, heads, scale);
}

/// Each head's `Σ_j w[j · H + h] · x_j` over Q8_0 rows (see [`super::Q8WeightedSumFn`])
/// through the shared driver: the sums stay in registers over all rows, each lane adding its
/// products in row order, fused, as the scalar table does.
fn weighted_sum_q8_0(x: &[u8], w: &[f32], heads: usize, out: &mut [f32]) {
    super::weighted_sum_q8_0_by::<Avx2>(x, w, heads, out);
}

impl super::Q8WeightedColumns for Avx2 {
    /// 8 accumulators (4 heads × half a block) of the 16 registers.
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
        // SAFETY: only `weighted_sum_q8_0` calls this, and only `KERNELS` (handed out after
        // detecting AVX2, F16C and FMA) reaches it.
        unsafe { weighted_sum_q8_0_columns_avx2::<H, V>(x, w, heads, h0, blocks, col, out) }
    }
}

#[target_feature(enable = "avx2,f16c,fma")]
unsafe fn weighted_sum_q8_0_columns_avx2<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    blocks: usize,
    col: usize,
    out: &mut [f32],
) {
    // SAFETY: the CPU features of this function are the loop's.
    unsafe { weighted_sum_q8_0_columns::<H, V>(x, w, heads, h0, blocks, col, out) }
}

/// Columns `col..col + 8V` (inside block `col / 32`) of the sums of heads `h0..h0 + H` (see
/// [`super::Q8WeightedColumns::columns`]): `H · V` accumulators, from `out`, over every row of `x`, each
/// row's `8V` int8 values widened exactly to f32 once for the `H` heads; each head's `w · d`
/// one rounded multiply (in every lane: the block scale is broadcast as f16 and widened there,
/// which keeps the conversion off the accumulators' dependency chains).
///
/// # Safety
/// The CPU has AVX2, F16C and FMA.
#[inline(always)]
unsafe fn weighted_sum_q8_0_columns<const H: usize, const V: usize>(
    x: &[u8],
    w: &[f32],
    heads: usize,
    h0: usize,
    blocks: usize,
    col: usize,
    out: &mut [f32],
) {
    const BYTES: usize = BlockQ8_0::BYTES;
    // SAFETY: the CPU features are this function's precondition; every load reads a slice
    // sliced to its width.
    unsafe {
        let (block, at) = (col / BlockQ8_0::LEN, col % BlockQ8_0::LEN);
        let mut acc = load_columns::<H, V>(out, BlockQ8_0::LEN * blocks, col);
        for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(BYTES * blocks)) {
            let w = &w[h0..h0 + H];
            let block = &row[BYTES * block..BYTES * (block + 1)];
            let q = &block[2 + at..2 + at + 8 * V];
            let mut values = [_mm256_setzero_ps(); V];
            for (v, value) in values.iter_mut().enumerate() {
                let q = &q[8 * v..8 * v + 8];
                let q = _mm_loadl_epi64(q.as_ptr().cast());
                *value = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
            }
            // `d` in every lane, times each head's weight: one rounded multiply per lane.
            let d = _mm256_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes([block[0], block[1]])));
            for (acc, &w) in acc.iter_mut().zip(w) {
                let c = _mm256_mul_ps(_mm256_set1_ps(w), d);
                for (acc, &value) in acc.iter_mut().zip(&values) {
                    *acc = _mm256_fmadd_ps(c, value, *acc);
                }
            }
        }
        store_columns(&acc, BlockQ8_0::LEN * blocks, col, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::{acts_of, assert_tiles_match, dot_f16_one, tile_entry};
    use crate::kernels::{TILE_ROWS, TILE_TOKENS};
    use crate::quant::TensorType;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The AVX2 table, or `None` (with a notice) on a CPU without AVX2 and F16C.
    fn avx2() -> Option<&'static Kernels> {
        let table = table();
        if table.is_none() {
            println!("skipped: this CPU lacks AVX2 or F16C");
        }
        table
    }

    /// Bit-for-bit equality, any NaN equal to any NaN.
    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn assert_quantize_matches(k: &Kernels, x: &[f32]) {
        let (mut fast, mut reference) = (QuantActs::default(), QuantActs::default());
        // A dirty, longer buffer must be reused and resized.
        fast.q = vec![9; x.len() + 5];
        k.quantize_acts(x, &mut fast);
        Kernels::scalar().quantize_acts(x, &mut reference);
        assert_eq!(fast.q, reference.q, "len {}", x.len());
        assert_eq!(fast.sum, reference.sum, "len {}", x.len());
        assert!(same(fast.scale, reference.scale), "len {}", x.len());
    }

    #[test]
    fn quantize_acts_matches_scalar() {
        let Some(k) = avx2() else { return };
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for len in [0, 1, 7, 8, 31, 32, 33, 100, 2560, 6912] {
            let x: Vec<f32> = (0..len).map(|_| rng.random_range(-3.0f32..3.0)).collect();
            assert_quantize_matches(k, &x);
            assert_quantize_matches(k, &vec![0.0; len]);
            assert_quantize_matches(k, &vec![-0.0; len]);
        }
        // Ties: max |x| = 127 makes the scale 1, so x · scale = k + 0.5 exactly.
        let ties: Vec<f32> = (-128..128).map(|k| k as f32 + 0.5).collect();
        assert_quantize_matches(k, &[&ties[..], &[127.0]].concat());
        // Ties at a scale that is not 1: max |x| = 63.5 gives scale 2, x · 2 = k + 0.5.
        let ties: Vec<f32> = (-127..127).map(|k| (k as f32 + 0.5) / 2.0).collect();
        assert_quantize_matches(k, &ties);
        // Extremes, tiny values and non-finite inputs, in and out of the 32-wide steps.
        let special = [
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-7,
            -1e-6,
            0.0,
        ];
        for len in [1, 5, 32, 40, 77] {
            for &s in &special {
                let mut x: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                let at = rng.random_range(0..len);
                x[at] = s;
                assert_quantize_matches(k, &x);
                assert_quantize_matches(k, &vec![s; len]);
            }
            let x: Vec<f32> = (0..len).map(|i| special[i % special.len()]).collect();
            assert_quantize_matches(k, &x);
        }
    }

    const TERNARY: [TensorType; 3] = [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0];

    /// Activation patterns: random over the whole int8 range, and the extremes.
    fn activations(rng: &mut ChaCha8Rng, cols: usize) -> Vec<Vec<i8>> {
        vec![
            (0..cols).map(|_| rng.random()).collect(),
            vec![-128; cols],
            vec![127; cols],
            vec![-127; cols],
            (0..cols)
                .map(|i| if i % 2 == 0 { 127 } else { -128 })
                .collect(),
            (0..cols)
                .map(|_| [-128, 127, 0][rng.random_range(0..3)])
                .collect(),
        ]
    }

    #[test]
    fn ternary_tiles_match_scalar_on_any_bytes() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (k, ty) in tables().into_iter().flat_map(|k| TERNARY.map(|ty| (k, ty))) {
            // One block (I2_S: 128, TQ: 256 weights), two, and the 2B4T widths.
            for cols in [ty.block_len() as usize, 512, 2560, 6912] {
                let bytes = ty.row_bytes(cols as u64).expect("whole blocks") as usize;
                let acts: Vec<QuantActs> = activations(&mut rng, cols)
                    .iter()
                    .map(|q| acts_of(q))
                    .collect();
                let random: Vec<u8> = (0..TILE_ROWS * bytes).map(|_| rng.random()).collect();
                assert_tiles_match(k, ty, &random, bytes, &acts);
                // Every byte value in every position (rows v, v + 1, ...): all code patterns,
                // code 3 included, and every TQ1_0 byte.
                for v in (0..=255u8).step_by(TILE_ROWS) {
                    let rows: Vec<u8> = (0..TILE_ROWS * bytes)
                        .map(|i| v.wrapping_add((i / bytes) as u8))
                        .collect();
                    for tokens in acts.chunks(TILE_TOKENS) {
                        let n = TILE_ROWS * tokens.len();
                        let (mut got, mut expected) = (vec![0; n], vec![1; n]);
                        (tile_entry(k, ty))(&rows, TILE_ROWS, bytes, tokens, &mut got);
                        (tile_entry(Kernels::scalar(), ty))(
                            &rows,
                            TILE_ROWS,
                            bytes,
                            tokens,
                            &mut expected,
                        );
                        assert_eq!(got, expected, "{} {ty} {cols} {v:#x}", k.name());
                    }
                }
            }
        }
    }

    #[test]
    fn ternary_gemv_matches_scalar_in_every_format() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let (rows, cols) = (6, 2560);
        let t: Vec<i8> = (0..rows * cols).map(|_| rng.random_range(-1..=1)).collect();
        let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let mut acts = QuantActs::default();
        Kernels::scalar().quantize_acts(&x, &mut acts);
        for (k, ty) in tables().into_iter().flat_map(|k| TERNARY.map(|ty| (k, ty))) {
            let bytes = crate::quant::encode_ternary_tensor(ty, &t, cols, 0.7).expect("encodes");
            let mut w = crate::quant::WeightView::new(ty, cols, rows, &bytes, 1.0).expect("valid");
            // Per-block scales (the TQ dot path), then the whole-row integer path.
            for _ in 0..2 {
                let (mut fast, mut reference) = (vec![0f32; rows], vec![0f32; rows]);
                k.ternary_gemv(&w, &acts, 0..rows, &mut fast)
                    .expect("shapes");
                Kernels::scalar()
                    .ternary_gemv(&w, &acts, 0..rows, &mut reference)
                    .expect("shapes");
                assert_eq!(fast, reference, "{} {ty}", k.name());
                if let Some(d) = w.uniform_block_scale() {
                    w = w.with_uniform_block_scale(d);
                }
            }
        }
    }

    /// Values spanning many magnitudes and both signs.
    fn spread(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0) * 2f32.powi(rng.random_range(-30..30)))
            .collect()
    }

    #[test]
    fn float_dots_match_scalar() {
        let Some(k) = avx2() else { return };
        let s = Kernels::scalar();
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 255, 2560] {
            let (a, b) = (spread(&mut rng, len), spread(&mut rng, len));
            assert!(same((k.dot_f32)(&a, &b), (s.dot_f32)(&a, &b)), "f32 {len}");
            // Any finite f16 bit pattern (subnormals included).
            let halves: Vec<u8> = (0..len)
                .flat_map(|_| {
                    let h = rng.random::<u16>() & !0x7C00 | (rng.random_range(0..31u16) << 10);
                    h.to_le_bytes()
                })
                .collect();
            assert!(
                same(dot_f16_one(k, &halves, &b), dot_f16_one(s, &halves, &b)),
                "f16 {len}"
            );
            // Wide-range activations against f16 weights near the f16 limits.
            let big: Vec<f32> = b.iter().map(|v| v * 1e6).collect();
            assert!(
                same(dot_f16_one(k, &halves, &big), dot_f16_one(s, &halves, &big)),
                "f16 big {len}"
            );
        }
        // Non-finite values give the same NaN or infinity.
        for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX] {
            for len in [5, 16, 40] {
                let (mut a, b) = (spread(&mut rng, len), spread(&mut rng, len));
                a[len / 2] = special;
                assert!(
                    same((k.dot_f32)(&a, &b), (s.dot_f32)(&a, &b)),
                    "{special} {len}"
                );
                let halves: Vec<u8> = a
                    .iter()
                    .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                    .collect();
                assert!(
                    same(dot_f16_one(k, &halves, &b), dot_f16_one(s, &halves, &b)),
                    "{special}"
                );
            }
        }
    }

    #[test]
    fn per_block_dots_are_the_scalar_loops() {
        let Some(k) = avx2() else { return };
        let s = Kernels::scalar();
        assert!(std::ptr::fn_addr_eq(k.dot_tq2_0, s.dot_tq2_0));
        assert!(std::ptr::fn_addr_eq(k.dot_tq1_0, s.dot_tq1_0));
    }

    #[test]
    fn avx512_shares_the_avx2_tables_other_entries() {
        let Some(wide) = avx512::table() else {
            println!("skipped: this CPU lacks AVX-512 VNNI");
            return;
        };
        let k = table().expect("AVX-512 implies the AVX2 table");
        assert_eq!(wide.name(), "avx512");
        assert!(std::ptr::eq(
            Kernels::by_name("avx512").expect("listed"),
            wide
        ));
        assert!(std::ptr::fn_addr_eq(wide.quantize_acts, k.quantize_acts));
        assert!(std::ptr::fn_addr_eq(wide.dot_f16, k.dot_f16));
        assert!(std::ptr::fn_addr_eq(wide.dot_q8_0, k.dot_q8_0));
        assert!(std::ptr::fn_addr_eq(wide.dot_f32, k.dot_f32));
    }

    #[test]
    fn the_table_is_listed_when_detected() {
        let Some(k) = avx2() else { return };
        assert_eq!(k.name(), "avx2");
        assert!(std::ptr::eq(Kernels::by_name("avx2").expect("listed"), k));
    }
}

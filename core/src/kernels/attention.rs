//! Attention over the KV cache: the query heads that share one kv head against its cached
//! positions.
//!
//! F16 and F32 caches: the scores use the table's canonical float dots ([`super::F16DotFn`]
//! reads each cached key once for up to 4 of the group's heads), and the heads' weighted sums
//! of values the table's [`super::F16WeightedSumFn`] (each cached value read once for up to 4
//! heads; F32 caches, the float reference, sum one head at a time). Q8_0 caches: the query
//! heads are quantised to Q8_0 blocks ([`Q8Acts`], as ggml quantises the activations of a
//! q8_0 · q8_0 dot) and scored by the table's [`super::Q8KeyDotFn`] (exact int32 block sums,
//! fixed float order); the values go through [`super::Q8WeightedSumFn`]. The dots stay
//! position-major, as the kernels write them, and become the probabilities in place through
//! the table's [`super::SoftmaxFn`] (one code for every table, compiled for each one's vector
//! width), which the weighted sums read in that order.
//! Every weighted sum is elementwise in position order, so every table gives the scalar
//! table's output bit for bit, and a head's output does not depend on which heads it was
//! grouped with.
//!
//! The intermediate buffers live in an [`AttentionScratch`] the caller keeps: attention runs
//! once per layer, kv head and token, and allocating them on each call would put the
//! allocator on the decode path.

use super::{check_len, math, KernelError, Kernels, Q8Acts};
use crate::quant::{BlockFormat, BlockQ8_0};

/// One kv head's cached keys or values at positions `0..n`: `n` rows of `head_dim` values,
/// position-major, back to back.
#[derive(Clone, Copy, Debug)]
pub enum KvRows<'a> {
    /// Little-endian IEEE f16: `2 · head_dim` bytes per position.
    F16(&'a [u8]),
    /// f32: `head_dim` values per position.
    F32(&'a [f32]),
    /// Q8_0 blocks (ggml's `block_q8_0`, see [`BlockQ8_0`]): each row is `⌈head_dim / 32⌉`
    /// blocks of 34 bytes (an f16 scale, then 32 int8), the last block's values past
    /// `head_dim` zero: `34 · ⌈head_dim / 32⌉` bytes per position.
    Q8_0(&'a [u8]),
}

/// Q8_0 blocks per cached row of `head_dim` values.
pub(crate) fn q8_0_blocks(head_dim: usize) -> usize {
    head_dim.div_ceil(BlockQ8_0::LEN)
}

impl KvRows<'_> {
    /// Checks that the rows hold `n` positions of `head_dim` values, for the buffer `what`.
    /// The sizes saturate: `n` comes from the caller, and a product too large for `usize`
    /// matches no buffer.
    fn check(&self, what: &'static str, head_dim: usize, n: usize) -> Result<(), KernelError> {
        match self {
            KvRows::F16(bytes) => check_len(what, n.saturating_mul(2 * head_dim), bytes.len()),
            KvRows::F32(values) => check_len(what, n.saturating_mul(head_dim), values.len()),
            KvRows::Q8_0(bytes) => {
                let row = BlockQ8_0::BYTES * q8_0_blocks(head_dim);
                check_len(what, n.saturating_mul(row), bytes.len())
            }
        }
    }
}

/// The buffers of [`Kernels::attend`] between its steps, kept by the caller so that calls
/// reuse them: each call sizes them for its shapes and grows one only when it is too small,
/// so a caller that keeps one scratch per thread allocates nothing once the buffers have
/// reached its largest shapes (or after [`reserve`](Self::reserve)). What a call leaves in
/// them is of no use to the next: a call's output does not depend on what the scratch held.
#[derive(Debug, Default)]
pub struct AttentionScratch {
    /// Every cached key's dots with the heads, position-major as the dot kernels write them,
    /// then the probabilities in that order for the weighted sums: `n · heads` floats (at most
    /// [`MAX_GROUP`] heads: larger groups run in passes).
    dots: Vec<f32>,
    /// The query heads in Q8_0 blocks, with each block's `Σ q` (Q8_0 keys).
    acts: Q8Acts,
    /// The query heads zero-padded to whole blocks: `heads · 32 · ⌈head_dim / 32⌉` floats
    /// (Q8_0 keys when `head_dim` is not a multiple of 32).
    padded_q: Vec<f32>,
    /// The heads' outputs over whole blocks: `heads · 32 · ⌈head_dim / 32⌉` floats (Q8_0
    /// values when `head_dim` is not a multiple of 32).
    padded_out: Vec<f32>,
}

impl AttentionScratch {
    /// Makes room for [`Kernels::attend`] calls with heads of `head_dim` values, up to `heads`
    /// of them over up to `positions` positions, whatever the caches' precision, so that those
    /// calls allocate nothing: `4 · min(heads, 8) · positions` bytes for the key dots and
    /// probabilities,
    /// `38 · heads · ⌈head_dim / 32⌉` bytes for the queries in Q8_0 blocks (int8 values, f32
    /// scales, i16 sums) and, when `head_dim` is not a multiple of 32, `256 · heads · ⌈head_dim
    /// / 32⌉` bytes for the zero-padded queries and outputs. The room is reserved, not written: a
    /// call writes only what its shapes use. When the sizes overflow or the allocator refuses
    /// them, the buffers stay as they are and the calls grow them as they need.
    pub fn reserve(&mut self, heads: usize, head_dim: usize, positions: usize) {
        if let Some(floats) = heads.min(MAX_GROUP).checked_mul(positions) {
            reserve_total(&mut self.dots, floats);
        }
        let blocks = q8_0_blocks(head_dim);
        let Some(row) = BlockQ8_0::LEN.checked_mul(blocks) else {
            return;
        };
        if let (Some(values), Some(scales)) = (heads.checked_mul(row), heads.checked_mul(blocks)) {
            reserve_total(&mut self.acts.q, values);
            reserve_total(&mut self.acts.d, scales);
            reserve_total(&mut self.acts.sums, scales);
            if row != head_dim {
                reserve_total(&mut self.padded_q, values);
                reserve_total(&mut self.padded_out, values);
            }
        }
    }
}

/// Grows `buf`'s capacity to at least `total` elements, exactly (a reservation for a known
/// largest size gains nothing from the amortised doubling); on failure it stays as it is.
fn reserve_total<T>(buf: &mut Vec<T>, total: usize) {
    let _ = buf.try_reserve_exact(total.saturating_sub(buf.len()));
}

/// `buf[..len]`, growing `buf` only when it is shorter (so a reused buffer keeps its largest
/// size). The values are unspecified (an earlier call's): callers write every one they read.
/// `len` is at most [`MAX_FLOATS`]: within that, growing never overflows `isize`, and when the
/// amortised doubling would, the exact size is asked for instead.
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        let more = len - buf.len();
        if buf.try_reserve(more).is_err() {
            buf.reserve_exact(more);
        }
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// The most f32 a buffer can hold (`isize::MAX` bytes).
const MAX_FLOATS: usize = isize::MAX as usize / size_of::<f32>();

/// `a · b` floats for the buffer `what`, or a [`KernelError::Length`] whose `actual` is
/// [`MAX_FLOATS`] when no buffer can hold them (a caller's shapes may multiply past `usize`).
fn floats(what: &'static str, a: usize, b: usize) -> Result<usize, KernelError> {
    match a.checked_mul(b) {
        Some(len) if len <= MAX_FLOATS => Ok(len),
        _ => Err(KernelError::Length {
            what,
            expected: a.saturating_mul(b),
            actual: MAX_FLOATS,
        }),
    }
}

impl Kernels {
    /// Causal attention of `q.len() / head_dim` query heads `q` (head-major, `head_dim` floats
    /// each) sharing one kv head, over the first `positions` positions of `keys` and `values`
    /// (each exactly `positions` rows of `head_dim` values, see [`KvRows`]). For each head:
    /// `scores[j] = (k_j · q) · scale` by the canonical float dot (Q8_0 keys: the canonical
    /// Q8_0 dot with `q` quantised to Q8_0 blocks), then a softmax (max subtracted, sum in
    /// f64, see [`super::SoftmaxFn`]), then `out = Σ_j p_j · v_j` added in position order
    /// (each product fused with its add). Up to 8 heads share one pass over the
    /// cache.
    /// `scratch` holds the key dots and the quantised queries between the steps
    /// (see [`AttentionScratch`]; its contents do not affect the result); `out` (`q.len()`
    /// floats) gets the heads' outputs, head-major.
    #[allow(clippy::too_many_arguments)]
    pub fn attend(
        &self,
        head_dim: usize,
        q: &[f32],
        keys: KvRows<'_>,
        values: KvRows<'_>,
        positions: usize,
        scale: f32,
        scratch: &mut AttentionScratch,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_len("attention output", q.len(), out.len())?;
        if head_dim == 0 || q.is_empty() {
            out.fill(0.0);
            return Ok(()); // `chunks_exact(0)` would panic; no heads, nothing to do
        }
        let heads = q.len() / head_dim;
        check_len("attention queries", heads * head_dim, q.len())?;
        let n = positions;
        keys.check("attention keys", head_dim, n)?;
        values.check("attention values", head_dim, n)?;
        if n == 0 {
            out.fill(0.0);
            return Ok(());
        }
        // A head's output does not depend on the heads beside it: larger groups run in passes.
        let group = MAX_GROUP * head_dim;
        for (q, out) in q.chunks(group).zip(out.chunks_mut(group)) {
            self.attend_group(head_dim, q, keys, values, n, scale, scratch, out)?;
        }
        Ok(())
    }

    /// [`attend`](Self::attend) for shapes it has checked, with at most [`MAX_GROUP`] heads.
    #[allow(clippy::too_many_arguments)]
    fn attend_group(
        &self,
        head_dim: usize,
        q: &[f32],
        keys: KvRows<'_>,
        values: KvRows<'_>,
        n: usize,
        scale: f32,
        scratch: &mut AttentionScratch,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let heads = q.len() / head_dim;
        let AttentionScratch {
            dots,
            acts,
            padded_q,
            padded_out,
        } = scratch;
        // Every key's dots with the heads, position-major, become the probabilities in place.
        let p = sized(dots, floats("attention scores", heads, n)?);
        match keys {
            // One call for every key (the table loops over them).
            KvRows::F16(k) => (self.dot_f16)(k, q, head_dim, p),
            KvRows::Q8_0(k) => {
                let blocks = q8_0_blocks(head_dim);
                let row = BlockQ8_0::LEN * blocks;
                if head_dim == row {
                    acts.quantize(q)?;
                } else {
                    // Each head zero-padded to whole blocks, as the cached rows are; every
                    // value is written, the padding included, so no earlier call's remains.
                    let padded = sized(padded_q, floats("attention queries", heads, row)?);
                    for (row, q) in padded.chunks_exact_mut(row).zip(q.chunks_exact(head_dim)) {
                        let (head, padding) = row.split_at_mut(head_dim);
                        head.copy_from_slice(q);
                        padding.fill(0.0);
                    }
                    acts.quantize(padded)?;
                }
                (self.dot_q8_0_keys)(k, acts, blocks, p);
            }
            KvRows::F32(k) => {
                for (dots, k) in p.chunks_exact_mut(heads).zip(k.chunks_exact(head_dim)) {
                    for (dot, q) in dots.iter_mut().zip(q.chunks_exact(head_dim)) {
                        *dot = (self.dot_f32)(k, q);
                    }
                }
            }
        }
        (self.softmax)(p, heads, scale);
        match values {
            KvRows::F16(v) => (self.weighted_sum_f16)(v, p, heads, out),
            KvRows::Q8_0(v) => {
                let row = floats("attention values", BlockQ8_0::LEN, q8_0_blocks(head_dim))?;
                if row == head_dim {
                    (self.weighted_sum_q8_0)(v, p, heads, out);
                } else {
                    // Rows that are not whole blocks: each head's sum over whole blocks (the
                    // weighted sum overwrites all of it), then its first `head_dim` values.
                    let padded = sized(padded_out, floats("attention values", heads, row)?);
                    (self.weighted_sum_q8_0)(v, p, heads, padded);
                    let heads_out = out.chunks_exact_mut(head_dim);
                    for (out, padded) in heads_out.zip(padded.chunks_exact(row)) {
                        out.copy_from_slice(&padded[..head_dim]);
                    }
                }
            }
            KvRows::F32(v) => {
                for (h, out) in out.chunks_exact_mut(head_dim).enumerate() {
                    out.fill(0.0);
                    for (p, v) in p.chunks_exact(heads).zip(v.chunks_exact(head_dim)) {
                        for (o, &v) in out.iter_mut().zip(v) {
                            *o = p[h].mul_add(v, *o);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The most query heads one pass of [`Kernels::attend`] takes over a kv head's cache (and
/// [`super::SoftmaxFn`] at once): larger groups run in passes of this many.
pub(super) const MAX_GROUP: usize = 8;

/// [`super::SoftmaxFn`], for every table (each compiles it for its own vector width): the
/// loops below, monomorphised for each head count up to [`MAX_GROUP`]; other counts leave `x`
/// as it is (the driver never passes them).
#[inline(always)]
pub(super) fn softmax(x: &mut [f32], heads: usize, scale: f32) {
    match heads {
        1 => softmax_heads::<1>(x, scale),
        2 => softmax_heads::<2>(x, scale),
        3 => softmax_heads::<3>(x, scale),
        4 => softmax_heads::<4>(x, scale),
        5 => softmax_heads::<5>(x, scale),
        6 => softmax_heads::<6>(x, scale),
        7 => softmax_heads::<7>(x, scale),
        8 => softmax_heads::<8>(x, scale),
        _ => {}
    }
}

/// [`super::SoftmaxFn`] for `H` heads: over the positions 8 at a time (`8 · H` floats, one
/// accumulator each), a pass for each head's largest scaled score, a pass for the exps and
/// their f64 sums (position `j` into partial sum `j % 8`, the partial sums folded as
/// [`math::sum_f64`] folds them: each head's sum is `sum_f64` of its exps alone), a pass
/// multiplying by each head's `1 / sum`. Elementwise IEEE arithmetic in a fixed order: the
/// same bits at every vector width.
#[inline(always)]
fn softmax_heads<const H: usize>(x: &mut [f32], scale: f32) {
    const L: usize = math::SUM_LANES;
    let n = x.len() / H;
    let x = &mut x[..n * H];
    let (body, tail) = x.split_at_mut(n / L * L * H);
    let mut lanes = [[f32::NEG_INFINITY; H]; L];
    let lane_max = lanes.as_flattened_mut();
    // Whole steps of 8 positions, then the tail: position `j` lands in lane `j % 8` either way.
    let maxes = |chunk: &[f32], lane_max: &mut [f32]| {
        for (m, &v) in lane_max.iter_mut().zip(chunk) {
            *m = m.max(v * scale);
        }
    };
    for chunk in body.chunks_exact(L * H) {
        maxes(chunk, lane_max);
    }
    maxes(tail, lane_max);
    let max: [f32; H] =
        std::array::from_fn(|h| lanes.iter().fold(f32::NEG_INFINITY, |m, l| m.max(l[h])));
    let by_lane = [max; L];
    let by_lane = by_lane.as_flattened();
    let mut sums = [[0f64; H]; L];
    let lane_sums = sums.as_flattened_mut();
    let exps = |chunk: &mut [f32], lane_sums: &mut [f64]| {
        for ((v, sum), &m) in chunk.iter_mut().zip(lane_sums).zip(by_lane) {
            *v = math::exp(*v * scale - m);
            *sum += f64::from(*v);
        }
    };
    for chunk in body.chunks_exact_mut(L * H) {
        exps(chunk, lane_sums);
    }
    exps(tail, lane_sums);
    let inv: [f32; H] =
        std::array::from_fn(|h| (1.0 / math::fold_lanes(sums.map(|l| l[h]))) as f32);
    let by_lane = [inv; L];
    for chunk in x.chunks_mut(L * H) {
        for (v, &inv) in chunk.iter_mut().zip(by_lane.as_flattened()) {
            *v *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn to_f16_bytes(v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect()
    }

    /// One head's softmax as [`super::SoftmaxFn`] defines it, on its scores alone.
    fn softmax_of(scores: &[f32], scale: f32) -> Vec<f32> {
        let s: Vec<f32> = scores.iter().map(|&x| x * scale).collect();
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = s.iter().map(|&s| math::exp(s - max)).collect();
        let inv = (1.0 / math::sum_f64(&e, f64::from)) as f32;
        e.iter().map(|&e| e * inv).collect()
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax_of(&[1.0, 3.0, 2.0, -100.0], 1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[2] && p[2] > p[0] && p[0] > p[3]);
    }

    #[test]
    fn every_tables_softmax_is_each_heads_own_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for heads in 1..=MAX_GROUP {
            // Fewer positions than a pass takes, whole passes, whole passes and a tail.
            for n in [1, 3, 8, 9, 31, 64, 301] {
                let x: Vec<f32> = (0..n * heads)
                    .map(|_| rng.random_range(-40.0f32..40.0))
                    .collect();
                let scale = 0.37;
                let mut want = vec![0f32; x.len()];
                for h in 0..heads {
                    let head: Vec<f32> = x.iter().skip(h).step_by(heads).copied().collect();
                    for (j, p) in softmax_of(&head, scale).into_iter().enumerate() {
                        want[j * heads + h] = p;
                    }
                }
                for table in Kernels::available() {
                    let mut got = x.clone();
                    (table.softmax)(&mut got, heads, scale);
                    assert_eq!(bits(&got), bits(&want), "{} {heads} × {n}", table.name());
                }
            }
        }
        // Other head counts are the driver's: the table leaves the scores alone.
        let mut x = vec![1.5f32; 18];
        (Kernels::scalar().softmax)(&mut x, 9, 1.0);
        assert_eq!(x, vec![1.5f32; 18]);
    }

    /// The definition, written out: f32 keys/values as f16 round trips.
    fn reference(q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
        let hd = q.len();
        let mut scores: Vec<f32> = k
            .chunks_exact(hd)
            .map(|k| k.iter().zip(q).map(|(a, b)| a * b).sum::<f32>())
            .collect();
        scores = softmax_of(&scores, scale);
        let mut out = vec![0f32; hd];
        for (p, v) in scores.iter().zip(v.chunks_exact(hd)) {
            for (o, v) in out.iter_mut().zip(v) {
                *o += p * v;
            }
        }
        out
    }

    #[test]
    fn every_table_matches_scalar_and_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let shapes = [
            (1, 1, 1),
            (8, 3, 2),
            (17, 5, 3),
            (64, 1, 4),
            (128, 37, 4),
            (80, 200, 9),
        ];
        for (hd, positions, heads) in shapes {
            let mut rand =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect() };
            let q = rand(heads * hd);
            // Values exactly representable in f16, so both precisions hold the same numbers.
            let round = |v: Vec<f32>| -> Vec<f32> {
                v.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
            };
            let (k, v) = (round(rand(hd * positions)), round(rand(hd * positions)));
            let (k16, v16) = (to_f16_bytes(&k), to_f16_bytes(&v));
            let scale = 1.0 / (hd as f32).sqrt();
            let run = |kernels: &Kernels, q: &[f32], keys, values| {
                let mut out = vec![f32::NAN; q.len()];
                let mut scratch = AttentionScratch::default();
                kernels
                    .attend(
                        hd,
                        q,
                        keys,
                        values,
                        positions,
                        scale,
                        &mut scratch,
                        &mut out,
                    )
                    .expect("shapes");
                out
            };
            let scalar = Kernels::scalar();
            let expected = run(scalar, &q, KvRows::F16(&k16), KvRows::F16(&v16));
            let f32_cache = run(scalar, &q, KvRows::F32(&k), KvRows::F32(&v));
            assert_eq!(f32_cache, expected, "f16 and f32 caches of the same values");
            // Each head alone gives what it gave in the group.
            let alone: Vec<f32> = q
                .chunks_exact(hd)
                .flat_map(|q| run(scalar, q, KvRows::F16(&k16), KvRows::F16(&v16)))
                .collect();
            assert_eq!(alone, expected, "hd {hd}: grouped and alone");
            for (q, got) in q.chunks_exact(hd).zip(expected.chunks_exact(hd)) {
                for (got, want) in got.iter().zip(reference(q, &k, &v, scale)) {
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{got} vs {want}"
                    );
                }
            }
            for table in Kernels::available() {
                let got = run(table, &q, KvRows::F16(&k16), KvRows::F16(&v16));
                let same = got
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{} hd {hd} × {positions}, {heads} heads",
                    table.name()
                );
            }
        }
    }

    /// Rows of `hd` values as [`KvRows::Q8_0`] stores them (the cache's quantiser).
    fn to_q8_rows(v: &[f32], hd: usize) -> Vec<u8> {
        let row = BlockQ8_0::BYTES * q8_0_blocks(hd);
        let mut bytes = vec![0u8; v.len() / hd * row];
        for (v, out) in v.chunks_exact(hd).zip(bytes.chunks_exact_mut(row)) {
            crate::model::Q8Row::write(v, out);
        }
        bytes
    }

    #[test]
    fn q8_0_cache_every_table_matches_scalar_and_stays_near_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        // Head dims that are and are not whole blocks (the padded path), the 2B4T group.
        let shapes = [
            (1, 1, 1),
            (17, 5, 3),
            (32, 9, 2),
            (64, 33, 2),
            (80, 200, 3),
            (128, 37, 4),
            (128, 300, 4),
        ];
        for (hd, positions, heads) in shapes {
            let mut rand =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect() };
            let (q, k, v) = (rand(heads * hd), rand(hd * positions), rand(hd * positions));
            let (k8, v8) = (to_q8_rows(&k, hd), to_q8_rows(&v, hd));
            let scale = 1.0 / (hd as f32).sqrt();
            let run = |kernels: &Kernels, q: &[f32]| {
                let mut out = vec![f32::NAN; q.len()];
                kernels
                    .attend(
                        hd,
                        q,
                        KvRows::Q8_0(&k8),
                        KvRows::Q8_0(&v8),
                        positions,
                        scale,
                        &mut AttentionScratch::default(),
                        &mut out,
                    )
                    .expect("shapes");
                out
            };
            let expected = run(Kernels::scalar(), &q);
            let alone: Vec<f32> = q
                .chunks_exact(hd)
                .flat_map(|q| run(Kernels::scalar(), q))
                .collect();
            assert_eq!(alone, expected, "hd {hd}: grouped and alone");
            // Near the definition on the unquantised values: the error of 8-bit keys, values
            // and queries.
            for (q, got) in q.chunks_exact(hd).zip(expected.chunks_exact(hd)) {
                for (got, want) in got.iter().zip(reference(q, &k, &v, scale)) {
                    assert!((got - want).abs() <= 0.05, "hd {hd}: {got} vs {want}");
                }
            }
            for table in Kernels::available() {
                let got = run(table, &q);
                let same = got
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{} hd {hd} × {positions}, {heads} heads",
                    table.name()
                );
            }
        }
        // A row of the wrong size is a typed error.
        let k = Kernels::scalar();
        let err = k
            .attend(
                64,
                &[1.0; 64],
                KvRows::Q8_0(&[0; 68]),
                KvRows::Q8_0(&[0; 67]),
                1,
                1.0,
                &mut AttentionScratch::default(),
                &mut [0.0; 64],
            )
            .expect_err("one row of 64 values is 68 bytes");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention values",
                expected: 68,
                actual: 67
            }
        ));
    }

    #[test]
    fn shape_errors_are_typed() {
        let k = Kernels::scalar();
        let (q, kv) = ([1.0f32; 4], [0u8; 16]);
        let mut scratch = AttentionScratch::default();
        let mut attend = |head_dim, positions, out: &mut [f32]| {
            let (keys, values) = (KvRows::F16(&kv), KvRows::F16(&kv));
            k.attend(
                head_dim,
                &q,
                keys,
                values,
                positions,
                1.0,
                &mut scratch,
                out,
            )
        };
        let err = attend(4, 3, &mut [0.0; 4]).expect_err("3 positions need 24 bytes");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention keys",
                expected: 24,
                actual: 16
            }
        ));
        let err = attend(4, 2, &mut [0.0; 3]).expect_err("short output");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention output",
                ..
            }
        ));
        let err = attend(3, 2, &mut [0.0; 4]).expect_err("4 floats are not whole 3-wide heads");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention queries",
                ..
            }
        ));
        // Positions whose bytes overflow `usize` are a typed error, not an overflow.
        let err = attend(4, usize::MAX, &mut [0.0; 4]).expect_err("no cache holds them");
        assert!(matches!(
            err,
            KernelError::Length {
                what: "attention keys",
                expected: usize::MAX,
                actual: 16
            }
        ));
        // So are scores no buffer can hold, and sizes no reservation can hold change nothing.
        assert!(matches!(
            floats("attention scores", usize::MAX, 2),
            Err(KernelError::Length {
                actual: MAX_FLOATS,
                ..
            })
        ));
        assert_eq!(floats("attention scores", MAX_FLOATS, 1), Ok(MAX_FLOATS));
        let mut scratch = AttentionScratch::default();
        scratch.reserve(usize::MAX, usize::MAX, usize::MAX);
        scratch.reserve(2, usize::MAX, 3);
        assert_eq!(scratch.dots.capacity(), 6);
        assert_eq!(scratch.acts.q.capacity(), 0);
    }

    /// The precision of a test cache.
    #[derive(Clone, Copy, Debug)]
    enum Cache {
        F16,
        F32,
        Q8_0,
    }

    /// `hd`-wide rows `v` (f16-exact for F16 and F32) as the cache `kind` stores them.
    enum Stored {
        Bytes(Vec<u8>),
        Floats(Vec<f32>),
    }

    impl Stored {
        fn new(kind: Cache, v: &[f32], hd: usize) -> Self {
            match kind {
                Cache::F16 => Stored::Bytes(to_f16_bytes(v)),
                Cache::F32 => Stored::Floats(v.to_vec()),
                Cache::Q8_0 => Stored::Bytes(to_q8_rows(v, hd)),
            }
        }

        fn rows(&self, kind: Cache) -> KvRows<'_> {
            match (self, kind) {
                (Stored::Bytes(b), Cache::Q8_0) => KvRows::Q8_0(b),
                (Stored::Bytes(b), _) => KvRows::F16(b),
                (Stored::Floats(v), _) => KvRows::F32(v),
            }
        }
    }

    /// One attention call's inputs: head dim, queries, keys and values with their precisions.
    struct Call {
        hd: usize,
        positions: usize,
        q: Vec<f32>,
        keys: (Cache, Stored),
        values: (Cache, Stored),
    }

    impl Call {
        fn new(rng: &mut ChaCha8Rng, shape: (usize, usize, usize, Cache, Cache)) -> Self {
            let (hd, positions, heads, keys, values) = shape;
            let mut rand = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| f16::from_f32(rng.random_range(-2.0f32..2.0)).to_f32())
                    .collect()
            };
            let (q, k, v) = (rand(heads * hd), rand(hd * positions), rand(hd * positions));
            Call {
                hd,
                positions,
                q,
                keys: (keys, Stored::new(keys, &k, hd)),
                values: (values, Stored::new(values, &v, hd)),
            }
        }

        fn run(&self, kernels: &Kernels, scratch: &mut AttentionScratch) -> Vec<f32> {
            let mut out = vec![f32::NAN; self.q.len()];
            let (keys, values) = (
                self.keys.1.rows(self.keys.0),
                self.values.1.rows(self.values.0),
            );
            let scale = 1.0 / (self.hd as f32).sqrt();
            kernels
                .attend(
                    self.hd,
                    &self.q,
                    keys,
                    values,
                    self.positions,
                    scale,
                    scratch,
                    &mut out,
                )
                .expect("shapes");
            out
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn a_reused_scratch_gives_a_fresh_scratchs_bits() {
        use Cache::{F16, F32, Q8_0};
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        // Positions growing and shrinking, heads changing, whole and padded Q8_0 blocks
        // (head dims 128, 40 and 20: padded rows of another width), every precision of keys
        // and values, mixed too.
        let shapes = [
            (128, 37, 4, F16, F16),
            (128, 300, 1, Q8_0, Q8_0),
            (40, 5, 3, Q8_0, Q8_0),
            (40, 200, 4, F16, F16),
            (128, 9, 2, Q8_0, Q8_0),
            (40, 64, 1, Q8_0, F16),
            (40, 120, 4, F16, Q8_0),
            (128, 1, 4, F32, F32),
            (40, 33, 2, Q8_0, Q8_0),
            (128, 300, 4, F16, F16),
            (40, 2, 4, Q8_0, Q8_0),
            (40, 250, 4, F32, Q8_0),
            (20, 40, 3, Q8_0, Q8_0),
            (40, 7, 4, Q8_0, Q8_0),
            (128, 17, 3, Q8_0, F32),
        ];
        let calls: Vec<Call> = shapes.into_iter().map(|s| Call::new(&mut rng, s)).collect();
        for table in Kernels::available() {
            // One scratch that starts empty, one that starts full of junk: NaN where a stale
            // value read would show, finite in the padding (the Q8_0 quantiser turns NaN into
            // 0, which would hide a padding left unwritten).
            let mut reused = AttentionScratch::default();
            let mut junk = AttentionScratch {
                dots: vec![f32::NAN; 4096],
                acts: Q8Acts {
                    q: vec![-128; 4096],
                    d: vec![f32::NAN; 128],
                    sums: vec![-1; 16],
                },
                padded_q: vec![3.0; 4096],
                padded_out: vec![3.0; 128],
            };
            for (i, call) in calls.iter().enumerate() {
                let fresh = bits(&call.run(table, &mut AttentionScratch::default()));
                let what = format!("{} call {i}: {:?}", table.name(), shapes[i]);
                assert_eq!(bits(&call.run(table, &mut reused)), fresh, "{what}");
                assert_eq!(bits(&call.run(table, &mut junk)), fresh, "{what}, junk");
            }
        }
    }

    #[test]
    fn a_reserved_scratch_allocates_nothing() {
        use Cache::{F16, F32, Q8_0};
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let (heads, positions) = (4, 300);
        for hd in [128, 40] {
            let mut scratch = AttentionScratch::default();
            scratch.reserve(heads, hd, positions);
            // Every buffer's address and capacity: unchanged means never reallocated.
            let buffers = |s: &AttentionScratch| {
                [
                    (s.dots.as_ptr().addr(), s.dots.capacity()),
                    (s.acts.q.as_ptr().addr(), s.acts.q.capacity()),
                    (s.acts.d.as_ptr().addr(), s.acts.d.capacity()),
                    (s.acts.sums.as_ptr().addr(), s.acts.sums.capacity()),
                    (s.padded_q.as_ptr().addr(), s.padded_q.capacity()),
                    (s.padded_out.as_ptr().addr(), s.padded_out.capacity()),
                ]
            };
            let reserved = buffers(&scratch);
            assert_eq!(scratch.dots.capacity(), heads * positions);
            assert_eq!(
                scratch.padded_out.capacity(),
                if hd == 40 { 64 * heads } else { 0 }
            );
            for (g, n) in [(1, 1), (4, positions), (2, 17), (3, positions), (4, 2)] {
                for (keys, values) in [(F16, F16), (Q8_0, Q8_0), (F32, F32), (Q8_0, F16)] {
                    let call = Call::new(&mut rng, (hd, n, g, keys, values));
                    for table in Kernels::available() {
                        call.run(table, &mut scratch);
                        let what = format!("{} hd {hd}, {g} × {n}", table.name());
                        assert_eq!(buffers(&scratch), reserved, "{what}");
                    }
                }
            }
        }
    }
}

//! The per-session key/value cache: keys and values of every layer and position.

use half::f16;

use super::ModelConfig;
use crate::kernels::KvRows;
use crate::quant::{BlockFormat, BlockQ8_0, QuantizeFormat};

/// Storage precision of a KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum KvPrecision {
    /// IEEE f16, 2 bytes per value (llama.cpp's default).
    F16,
    /// f32, 4 bytes per value: the exact reference path for float-weight models.
    F32,
    /// Q8_0 blocks, 34 bytes per 32 values (see [`Q8Row`]): about half of F16's bytes, at a
    /// small logit error.
    Q8_0,
}

impl KvPrecision {
    /// Bytes one cached row (one kv head at one position, `head_dim` values) takes.
    pub fn row_bytes(self, head_dim: usize) -> usize {
        match self {
            KvPrecision::F16 => 2 * head_dim,
            KvPrecision::F32 => 4 * head_dim,
            KvPrecision::Q8_0 => Q8Row::bytes(head_dim),
        }
    }
}

/// One cached key or value row of one kv head at one position in a [`KvPrecision::Q8_0`]
/// cache: `⌈head_dim / 32⌉` Q8_0 blocks (ggml's `block_q8_0`), quantised by the Q8_0
/// reference quantiser ([`BlockQ8_0`]'s `quantize_block`), the last block zero-padded when
/// `head_dim` is not a multiple of 32.
///
/// ```text
/// bytes 34b + 0..34b + 2    d_b: f16, little-endian (block b = values 32b..32b + 32)
/// bytes 34b + 2..34b + 34   qs_b[0..32]: int8, value 32b + j = qs_b[j] · d_b
/// ```
///
/// Each row is quantised on its own, so rows can be overwritten and the cache truncated at
/// any position (speculative decoding's rollback) without touching other rows.
#[derive(Clone, Copy, Debug)]
pub struct Q8Row;

impl Q8Row {
    /// Bytes of a row of `head_dim` values.
    pub fn bytes(head_dim: usize) -> usize {
        BlockQ8_0::BYTES * head_dim.div_ceil(BlockQ8_0::LEN)
    }

    /// Quantises `x` into `out` ([`Q8Row::bytes`]`(x.len())` bytes).
    pub(crate) fn write(x: &[f32], out: &mut [u8]) {
        for (x, out) in x
            .chunks(BlockQ8_0::LEN)
            .zip(out.chunks_exact_mut(BlockQ8_0::BYTES))
        {
            // A short last chunk leaves the block's remaining values zero.
            BlockQ8_0::quantize_block(x).write_block(out);
        }
    }
}

/// One layer's keys and values, each `kv_heads × capacity` rows of `head_dim` values,
/// head-major so that one kv head's positions are contiguous rows (what [`KvRows`] hands the
/// attention kernel).
#[derive(Debug)]
enum Store {
    /// Little-endian IEEE f16 bytes.
    F16 {
        k: Vec<u8>,
        v: Vec<u8>,
    },
    F32 {
        k: Vec<f32>,
        v: Vec<f32>,
    },
    /// [`Q8Row`]s.
    Q8_0 {
        k: Vec<u8>,
        v: Vec<u8>,
    },
}

impl Store {
    /// Storage for `rows` rows of `head_dim` values.
    fn new(precision: KvPrecision, rows: usize, head_dim: usize) -> Self {
        let bytes = rows * precision.row_bytes(head_dim);
        match precision {
            KvPrecision::F16 => Store::F16 {
                k: vec![0; bytes],
                v: vec![0; bytes],
            },
            KvPrecision::F32 => Store::F32 {
                k: vec![0.0; rows * head_dim],
                v: vec![0.0; rows * head_dim],
            },
            KvPrecision::Q8_0 => Store::Q8_0 {
                k: vec![0; bytes],
                v: vec![0; bytes],
            },
        }
    }
}

/// Keys and values of the tokens a session has evaluated.
///
/// Layout per layer: `[kv_head][position][i]` (`i < head_dim`), positions `0..len` valid.
/// Storage is allocated zeroed up front (the OS commits pages as positions are written).
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Store>,
    head_dim: usize,
    len: usize,
    capacity: usize,
    precision: KvPrecision,
}

/// An empty cache of no capacity (nothing allocated): what a cache moved out for a shared
/// pass leaves behind.
impl Default for KvCache {
    fn default() -> Self {
        KvCache {
            layers: Vec::new(),
            head_dim: 0,
            len: 0,
            capacity: 0,
            precision: KvPrecision::F16,
        }
    }
}

impl KvCache {
    /// A cache for `capacity` positions (tokens) of a model with `config`.
    pub fn new(config: &ModelConfig, capacity: usize, precision: KvPrecision) -> Self {
        KvCache {
            layers: (0..config.n_layer)
                .map(|_| Store::new(precision, capacity * config.n_head_kv, config.head_dim))
                .collect(),
            head_dim: config.head_dim,
            len: 0,
            capacity,
            precision,
        }
    }

    /// Bytes one position takes across all layers (keys and values).
    pub fn bytes_per_token(config: &ModelConfig, precision: KvPrecision) -> usize {
        config.n_layer * 2 * config.n_head_kv * precision.row_bytes(config.head_dim)
    }

    /// The storage precision.
    pub fn precision(&self) -> KvPrecision {
        self.precision
    }

    /// Positions currently held, in tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the cache can hold, in tokens.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position from `len` on (no-op when `len >= self.len()`).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Stores position `pos` of `layer` from the concatenated kv heads `k` and `v` (rounded
    /// to the cache's precision); `pos < capacity`.
    pub(super) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (hd, cap) = (self.head_dim, self.capacity);
        let heads = k.chunks_exact(hd).zip(v.chunks_exact(hd)).enumerate();
        match &mut self.layers[layer] {
            Store::F16 { k: ks, v: vs } => {
                for (h, (k, v)) in heads {
                    let at = 2 * (h * cap + pos) * hd..2 * (h * cap + pos + 1) * hd;
                    write_f16(&mut ks[at.clone()], k);
                    write_f16(&mut vs[at], v);
                }
            }
            Store::F32 { k: ks, v: vs } => {
                for (h, (k, v)) in heads {
                    let at = (h * cap + pos) * hd..(h * cap + pos + 1) * hd;
                    ks[at.clone()].copy_from_slice(k);
                    vs[at].copy_from_slice(v);
                }
            }
            Store::Q8_0 { k: ks, v: vs } => {
                let row = Q8Row::bytes(hd);
                for (h, (k, v)) in heads {
                    let at = (h * cap + pos) * row..(h * cap + pos + 1) * row;
                    Q8Row::write(k, &mut ks[at.clone()]);
                    Q8Row::write(v, &mut vs[at]);
                }
            }
        }
    }

    /// Keys and values of kv head `head` of `layer` at positions `0..n`.
    pub(super) fn head(&self, layer: usize, head: usize, n: usize) -> (KvRows<'_>, KvRows<'_>) {
        let first = head * self.capacity * self.head_dim;
        let values = first..first + n * self.head_dim;
        match &self.layers[layer] {
            Store::F16 { k, v } => {
                let bytes = 2 * values.start..2 * values.end;
                (KvRows::F16(&k[bytes.clone()]), KvRows::F16(&v[bytes]))
            }
            Store::F32 { k, v } => (KvRows::F32(&k[values.clone()]), KvRows::F32(&v[values])),
            Store::Q8_0 { k, v } => {
                let row = Q8Row::bytes(self.head_dim);
                let first = head * self.capacity * row;
                let bytes = first..first + n * row;
                (KvRows::Q8_0(&k[bytes.clone()]), KvRows::Q8_0(&v[bytes]))
            }
        }
    }

    /// Marks positions `0..len` as valid after a forward pass wrote them.
    pub(super) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }
}

/// Writes `src` rounded to f16 into `dst` as little-endian bytes (`2 · src.len()`).
fn write_f16(dst: &mut [u8], src: &[f32]) {
    for (d, &s) in dst.chunks_exact_mut(2).zip(src) {
        d.copy_from_slice(&f16::from_f32(s).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    fn config(head_dim: usize) -> ModelConfig {
        ModelConfig {
            arch: Arch::Bitnet,
            n_embd: 4 * head_dim,
            n_ff: 8,
            n_layer: 2,
            n_head: 4,
            n_head_kv: 2,
            head_dim,
            rope_dims: head_dim,
            rope_base: 10_000.0,
            rms_eps: 1e-5,
            n_ctx_train: 64,
            vocab_size: 8,
        }
    }

    /// Keys and values of position `pos` of layer `layer` (both kv heads), distinct per call.
    fn row(layer: usize, pos: usize, salt: f32, kv_dim: usize) -> (Vec<f32>, Vec<f32>) {
        let v = |i: usize, s: f32| ((i * 7 + pos * 13 + layer * 3) % 23) as f32 / 5.0 - 2.0 + s;
        (
            (0..kv_dim).map(|i| v(i, salt)).collect(),
            (0..kv_dim).map(|i| v(i + 1, -salt)).collect(),
        )
    }

    /// The rows of kv head `head` of `layer` at positions `0..n`, decoded to f32.
    fn decoded(kv: &KvCache, layer: usize, head: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
        let hd = kv.head_dim;
        let decode = |rows: KvRows<'_>| -> Vec<f32> {
            match rows {
                KvRows::F16(b) => b
                    .chunks_exact(2)
                    .map(|h| f16::from_le_bytes([h[0], h[1]]).to_f32())
                    .collect(),
                KvRows::F32(v) => v.to_vec(),
                KvRows::Q8_0(b) => b
                    .chunks_exact(Q8Row::bytes(hd))
                    .flat_map(|row| {
                        let mut out = vec![0f32; hd.div_ceil(32) * 32];
                        BlockQ8_0::dequantize_row(row, &mut out);
                        out.truncate(hd);
                        out
                    })
                    .collect(),
            }
        };
        let (k, v) = kv.head(layer, head, n);
        (decode(k), decode(v))
    }

    #[test]
    fn q8_0_rows_are_the_reference_blocks_and_halve_f16() {
        // 2B4T: 30 layers, 5 kv heads of 128 → 76 800 bytes per token in F16, 40 800 in Q8_0.
        let mut cfg = config(128);
        (cfg.n_layer, cfg.n_head_kv) = (30, 5);
        assert_eq!(KvCache::bytes_per_token(&cfg, KvPrecision::F16), 76_800);
        assert_eq!(KvCache::bytes_per_token(&cfg, KvPrecision::Q8_0), 40_800);
        assert_eq!(KvCache::bytes_per_token(&cfg, KvPrecision::F32), 153_600);
        // A row of 40 values: one whole block and one padded one.
        assert_eq!(Q8Row::bytes(40), 68);
        let x: Vec<f32> = (0..40).map(|i| i as f32 - 20.5).collect();
        let mut row = vec![0xAA; 68];
        Q8Row::write(&x, &mut row);
        let mut expected = vec![0u8; 68];
        BlockQ8_0::quantize_row(&x[..32], &mut expected[..34]);
        let mut last = [0f32; 32];
        last[..8].copy_from_slice(&x[32..]);
        BlockQ8_0::quantize_row(&last, &mut expected[34..]);
        assert_eq!(row, expected);
    }

    #[test]
    fn stored_rows_read_back_in_every_precision() {
        for hd in [64, 40] {
            let cfg = config(hd);
            for precision in [KvPrecision::F16, KvPrecision::F32, KvPrecision::Q8_0] {
                let mut kv = KvCache::new(&cfg, 6, precision);
                assert_eq!((kv.capacity(), kv.len(), kv.precision()), (6, 0, precision));
                for layer in 0..2 {
                    for pos in 0..6 {
                        let (k, v) = row(layer, pos, 0.0, cfg.kv_dim());
                        kv.store(layer, pos, &k, &v);
                    }
                }
                kv.set_len(6);
                // Within each precision's rounding: f16 half an ulp, Q8_0 half a step.
                let tolerance = match precision {
                    KvPrecision::F32 => 0.0,
                    KvPrecision::F16 => 2e-3,
                    KvPrecision::Q8_0 => 2.5 / 127.0,
                };
                for layer in 0..2 {
                    for head in 0..2 {
                        let (k, v) = decoded(&kv, layer, head, 6);
                        for pos in 0..6 {
                            let (ek, ev) = row(layer, pos, 0.0, cfg.kv_dim());
                            let at = head * hd..(head + 1) * hd;
                            let got = k[pos * hd..][..hd].iter().chain(&v[pos * hd..][..hd]);
                            let want = ek[at.clone()].iter().chain(&ev[at]);
                            for (g, w) in got.zip(want) {
                                assert!((g - w).abs() <= tolerance, "{precision:?} {g} vs {w}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn truncating_and_rewriting_touches_only_the_rewritten_positions() {
        // Speculative decoding: drafted positions are written, the rejected ones forgotten
        // (truncate) and written again with other tokens.
        let cfg = config(64);
        for precision in [KvPrecision::F16, KvPrecision::F32, KvPrecision::Q8_0] {
            let (mut kv, mut plain) = (
                KvCache::new(&cfg, 8, precision),
                KvCache::new(&cfg, 8, precision),
            );
            for pos in 0..8 {
                for layer in 0..2 {
                    let (k, v) = row(layer, pos, 0.0, cfg.kv_dim());
                    plain.store(layer, pos, &k, &v);
                    // Positions 5.. first hold a rejected draft.
                    let salt = if pos >= 5 { 0.75 } else { 0.0 };
                    let (k, v) = row(layer, pos, salt, cfg.kv_dim());
                    kv.store(layer, pos, &k, &v);
                }
            }
            kv.set_len(8);
            kv.truncate(10);
            assert_eq!(kv.len(), 8, "truncating beyond the length is a no-op");
            kv.truncate(5);
            assert_eq!(kv.len(), 5);
            for pos in 5..8 {
                for layer in 0..2 {
                    let (k, v) = row(layer, pos, 0.0, cfg.kv_dim());
                    kv.store(layer, pos, &k, &v);
                }
            }
            kv.set_len(8);
            plain.set_len(8);
            for layer in 0..2 {
                for head in 0..2 {
                    let (a, b) = (
                        decoded(&kv, layer, head, 8),
                        decoded(&plain, layer, head, 8),
                    );
                    assert_eq!(a, b, "{precision:?}");
                }
            }
        }
    }
}

//! The per-session key/value cache: keys and values of every layer and position.

use half::f16;

use super::ModelConfig;
use crate::kernels::KvRows;

/// Storage precision of a KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum KvPrecision {
    /// IEEE f16, 2 bytes per value (llama.cpp's default; what phones should use).
    F16,
    /// f32, 4 bytes per value: the exact reference path for float-weight models.
    F32,
}

impl KvPrecision {
    /// Bytes per stored value.
    pub fn bytes(self) -> usize {
        match self {
            KvPrecision::F16 => 2,
            KvPrecision::F32 => 4,
        }
    }
}

/// One layer's keys and values, each `kv_heads × capacity × head_dim` values, head-major so
/// that one kv head's positions are contiguous rows (what [`KvRows`] hands the attention
/// kernel).
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
}

impl Store {
    fn new(precision: KvPrecision, values: usize) -> Self {
        match precision {
            KvPrecision::F16 => Store::F16 {
                k: vec![0; 2 * values],
                v: vec![0; 2 * values],
            },
            KvPrecision::F32 => Store::F32 {
                k: vec![0.0; values],
                v: vec![0.0; values],
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

impl KvCache {
    /// A cache for `capacity` positions (tokens) of a model with `config`.
    pub fn new(config: &ModelConfig, capacity: usize, precision: KvPrecision) -> Self {
        KvCache {
            layers: (0..config.n_layer)
                .map(|_| Store::new(precision, capacity * config.kv_dim()))
                .collect(),
            head_dim: config.head_dim,
            len: 0,
            capacity,
            precision,
        }
    }

    /// Bytes one position takes across all layers (keys and values).
    pub fn bytes_per_token(config: &ModelConfig, precision: KvPrecision) -> usize {
        config.n_layer * 2 * config.kv_dim() * precision.bytes()
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

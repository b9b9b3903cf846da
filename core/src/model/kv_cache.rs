//! The per-session key/value cache: keys and values of every layer and position.

use half::f16;

use super::ModelConfig;

/// Storage precision of a KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A value type the cache can hold.
pub(super) trait KvElem: Copy + Default {
    fn from_f32(v: f32) -> Self;
    fn to_f32(self) -> f32;
}

/// f16 stored as its bits, so a zeroed allocation is a valid empty cache.
impl KvElem for u16 {
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v).to_bits()
    }
    fn to_f32(self) -> f32 {
        f16::from_bits(self).to_f32()
    }
}

impl KvElem for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f32(self) -> f32 {
        self
    }
}

/// One layer's keys and values for positions `0..n`, each row-major `[pos][kv_dim]`.
pub(super) enum LayerKv<'a> {
    F16(&'a [u16], &'a [u16]),
    F32(&'a [f32], &'a [f32]),
}

/// One layer's keys and values, `capacity × kv_dim` each.
#[derive(Debug)]
enum Store {
    F16 { k: Vec<u16>, v: Vec<u16> },
    F32 { k: Vec<f32>, v: Vec<f32> },
}

impl Store {
    fn new(precision: KvPrecision, len: usize) -> Self {
        match precision {
            KvPrecision::F16 => Store::F16 {
                k: vec![0; len],
                v: vec![0; len],
            },
            KvPrecision::F32 => Store::F32 {
                k: vec![0.0; len],
                v: vec![0.0; len],
            },
        }
    }

    fn write(&mut self, at: std::ops::Range<usize>, k: &[f32], v: &[f32]) {
        fn write<T: KvElem>(dst: &mut [T], src: &[f32]) {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = T::from_f32(s);
            }
        }
        match self {
            Store::F16 { k: ks, v: vs } => {
                write(&mut ks[at.clone()], k);
                write(&mut vs[at], v);
            }
            Store::F32 { k: ks, v: vs } => {
                write(&mut ks[at.clone()], k);
                write(&mut vs[at], v);
            }
        }
    }
}

/// Keys and values of the tokens a session has evaluated.
///
/// Layout per layer: `[position][kv_head * head_dim + i]`, positions `0..len` valid.
/// Storage is allocated zeroed up front (the OS commits pages as positions are written).
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Store>,
    kv_dim: usize,
    len: usize,
    capacity: usize,
    precision: KvPrecision,
}

impl KvCache {
    /// A cache for `capacity` positions (tokens) of a model with `config`.
    pub fn new(config: &ModelConfig, capacity: usize, precision: KvPrecision) -> Self {
        let kv_dim = config.kv_dim();
        KvCache {
            layers: (0..config.n_layer)
                .map(|_| Store::new(precision, capacity * kv_dim))
                .collect(),
            kv_dim,
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

    /// Stores position `pos` of `layer` (rounded to the cache's precision); `pos < capacity`.
    pub(super) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let at = pos * self.kv_dim..(pos + 1) * self.kv_dim;
        self.layers[layer].write(at, k, v);
    }

    /// Keys and values of `layer` for positions `0..n`.
    pub(super) fn layer(&self, layer: usize, n: usize) -> LayerKv<'_> {
        let len = n * self.kv_dim;
        match &self.layers[layer] {
            Store::F16 { k, v } => LayerKv::F16(&k[..len], &v[..len]),
            Store::F32 { k, v } => LayerKv::F32(&k[..len], &v[..len]),
        }
    }

    /// Marks positions `0..len` as valid after a forward pass wrote them.
    pub(super) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }
}

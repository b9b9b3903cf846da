//! The per-session key/value cache: F16 keys and values for every layer and position.

use half::f16;

use super::ModelConfig;

/// Keys and values of the tokens a session has evaluated, as IEEE f16 (2 bytes each).
///
/// Layout per layer: `[position][kv_head * head_dim + i]`, positions `0..len` valid.
/// Storage is allocated zeroed up front (the OS commits pages as positions are written).
#[derive(Debug)]
pub struct KvCache {
    k: Vec<Vec<u16>>,
    v: Vec<Vec<u16>>,
    kv_dim: usize,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// A cache for `capacity` positions (tokens) of a model with `config`.
    pub fn new(config: &ModelConfig, capacity: usize) -> Self {
        let kv_dim = config.kv_dim();
        let layer = || vec![0u16; capacity * kv_dim];
        KvCache {
            k: (0..config.n_layer).map(|_| layer()).collect(),
            v: (0..config.n_layer).map(|_| layer()).collect(),
            kv_dim,
            len: 0,
            capacity,
        }
    }

    /// Bytes one position takes across all layers (keys and values).
    pub fn bytes_per_token(config: &ModelConfig) -> usize {
        config.n_layer * 2 * config.kv_dim() * std::mem::size_of::<u16>()
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

    /// Stores position `pos` of `layer` (rounding to f16). `pos` must be `< capacity`.
    pub(super) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let at = pos * self.kv_dim..(pos + 1) * self.kv_dim;
        for (dst, &src) in self.k[layer][at.clone()].iter_mut().zip(k) {
            *dst = f16::from_f32(src).to_bits();
        }
        for (dst, &src) in self.v[layer][at].iter_mut().zip(v) {
            *dst = f16::from_f32(src).to_bits();
        }
    }

    /// Keys of `layer` for positions `0..n`, row-major `[pos][kv_dim]`, as f16 bits.
    pub(super) fn keys(&self, layer: usize, n: usize) -> &[u16] {
        &self.k[layer][..n * self.kv_dim]
    }

    /// Values of `layer` for positions `0..n`, row-major `[pos][kv_dim]`, as f16 bits.
    pub(super) fn values(&self, layer: usize, n: usize) -> &[u16] {
        &self.v[layer][..n * self.kv_dim]
    }

    /// Marks positions `0..len` as valid after a forward pass wrote them.
    pub(super) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }
}

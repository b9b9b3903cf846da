//! Tensor storage formats: the GGML type ids this engine reads, their block geometry, and
//! per-format reference codecs (dequantise to f32; ternary dot products with int8 activations).
//!
//! Geometry lives on [`TensorType`]; each format's codec lives in a module of its own named for
//! the format, with a block struct whose comment states its byte layout.

/// Bytes at the end of an I2_S tensor after its 2-bit codes; the first 4 hold the f32 scale.
pub const I2S_TAIL_BYTES: u64 = 32;

/// A GGML tensor type this engine can store and compute with.
///
/// Ids are GGML's (`ggml.h`), plus bitnet.cpp's `I2_S` = 36.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// IEEE binary32, 4 bytes per weight.
    F32,
    /// IEEE binary16, 2 bytes per weight.
    F16,
    /// Blocks of 32 int8 weights with one f16 scale (34 bytes).
    Q8_0,
    /// Super-blocks of 256 4-bit weights with 6-bit sub-block scales and mins (144 bytes).
    Q4K,
    /// Super-blocks of 256 6-bit weights with int8 sub-block scales (210 bytes).
    Q6K,
    /// bfloat16, 2 bytes per weight.
    BF16,
    /// Ternary, base-3 packed: 256 weights in 54 bytes (llama.cpp).
    TQ1_0,
    /// Ternary, 2 bits per weight: 256 weights in 66 bytes (llama.cpp).
    TQ2_0,
    /// Ternary, 2 bits per weight in bitnet.cpp's 128-weight/32-byte layout, one f32 scale per
    /// tensor stored in a 32-byte tail.
    I2S,
}

impl TensorType {
    /// Every supported type, in id order.
    pub const ALL: [TensorType; 9] = [
        TensorType::F32,
        TensorType::F16,
        TensorType::Q8_0,
        TensorType::Q4K,
        TensorType::Q6K,
        TensorType::BF16,
        TensorType::TQ1_0,
        TensorType::TQ2_0,
        TensorType::I2S,
    ];

    /// The type for a GGML type id, or `None` when this engine does not support it.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The GGML type id as stored in GGUF tensor records.
    pub fn id(self) -> u32 {
        match self {
            TensorType::F32 => 0,
            TensorType::F16 => 1,
            TensorType::Q8_0 => 8,
            TensorType::Q4K => 12,
            TensorType::Q6K => 14,
            TensorType::BF16 => 30,
            TensorType::TQ1_0 => 34,
            TensorType::TQ2_0 => 35,
            TensorType::I2S => 36,
        }
    }

    /// The name GGML tools print (`"TQ2_0"`, `"I2_S"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TensorType::F32 => "F32",
            TensorType::F16 => "F16",
            TensorType::Q8_0 => "Q8_0",
            TensorType::Q4K => "Q4_K",
            TensorType::Q6K => "Q6_K",
            TensorType::BF16 => "BF16",
            TensorType::TQ1_0 => "TQ1_0",
            TensorType::TQ2_0 => "TQ2_0",
            TensorType::I2S => "I2_S",
        }
    }

    /// Weights per block: a row length (`ne0`) must be a multiple of this.
    pub fn block_len(self) -> u64 {
        match self {
            TensorType::F32 | TensorType::F16 | TensorType::BF16 => 1,
            TensorType::Q8_0 => 32,
            TensorType::I2S => 128,
            TensorType::Q4K | TensorType::Q6K | TensorType::TQ1_0 | TensorType::TQ2_0 => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        match self {
            TensorType::F32 => 4,
            TensorType::F16 | TensorType::BF16 => 2,
            TensorType::Q8_0 => 34,
            TensorType::Q4K => 144,
            TensorType::Q6K => 210,
            TensorType::TQ1_0 => 54,
            TensorType::TQ2_0 => 66,
            TensorType::I2S => 32,
        }
    }

    /// Whether weights are ternary {-1, 0, +1} times a scale (multiplied with int8 activations).
    pub fn is_ternary(self) -> bool {
        matches!(
            self,
            TensorType::TQ1_0 | TensorType::TQ2_0 | TensorType::I2S
        )
    }

    /// Bytes of one row of `ne0` weights, or `None` when `ne0` is not a multiple of
    /// [`block_len`](Self::block_len) or the size overflows.
    pub fn row_bytes(self, ne0: u64) -> Option<u64> {
        if ne0 % self.block_len() != 0 {
            return None;
        }
        (ne0 / self.block_len()).checked_mul(self.block_bytes())
    }

    /// Bytes of a whole tensor with dimensions `dims` (`ne0` first), or `None` when a row is not
    /// a whole number of blocks or the size overflows. I2_S includes its 32-byte scale tail.
    pub fn tensor_bytes(self, dims: &[u64]) -> Option<u64> {
        let ne0 = dims.first().copied().unwrap_or(1);
        let rows = dims
            .iter()
            .skip(1)
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        let data = self.row_bytes(ne0)?.checked_mul(rows)?;
        match self {
            TensorType::I2S => data.checked_add(I2S_TAIL_BYTES),
            _ => Some(data),
        }
    }
}

impl std::fmt::Display for TensorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_rejected() {
        for t in TensorType::ALL {
            assert_eq!(TensorType::from_id(t.id()), Some(t));
        }
        assert_eq!(TensorType::from_id(2), None); // Q4_0: not supported
        assert_eq!(TensorType::from_id(u32::MAX), None);
    }

    #[test]
    fn sizes_match_the_spec() {
        // 2B4T attn_q: 2560 x 2560 I2_S = n/4 + 32 bytes.
        assert_eq!(
            TensorType::I2S.tensor_bytes(&[2560, 2560]),
            Some(2560 * 2560 / 4 + 32)
        );
        assert_eq!(TensorType::TQ2_0.row_bytes(512), Some(132));
        assert_eq!(TensorType::TQ1_0.row_bytes(256), Some(54));
        assert_eq!(TensorType::TQ1_0.row_bytes(100), None);
        assert_eq!(
            TensorType::F16.tensor_bytes(&[2560, 128256]),
            Some(656_670_720)
        );
        assert_eq!(TensorType::F32.tensor_bytes(&[u64::MAX, 2]), None);
    }
}

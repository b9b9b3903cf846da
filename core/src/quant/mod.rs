//! Tensor storage formats: the GGML type ids this engine reads, their block geometry, and
//! per-format reference codecs (dequantise to f32; ternary dot products with int8 activations).
//!
//! Geometry lives on [`TensorType`]; each format's codec lives in a module of its own named for
//! the format, with a block struct whose comment states its byte layout, implementing the
//! traits in [`format`](mod@format). The free functions here dispatch on a [`TensorType`] and
//! check every length, returning [`QuantError`] instead of panicking. [`WeightView`] borrows a
//! 2-D weight matrix from the mapped file without copying it.

mod float;
pub mod format;
pub mod i2_s;
pub mod q4_k;
pub mod q6_k;
pub mod q8_0;
pub mod tq1_0;
pub mod tq2_0;
mod weight_view;

pub use format::{BlockFormat, QuantizeFormat, TernaryFormat};
pub use i2_s::BlockI2S;
pub use q4_k::BlockQ4K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use tq1_0::BlockTQ1_0;
pub use tq2_0::BlockTQ2_0;
pub use weight_view::WeightView;

use half::{bf16, f16};

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
    pub const fn block_len(self) -> u64 {
        match self {
            TensorType::F32 | TensorType::F16 | TensorType::BF16 => 1,
            TensorType::Q8_0 => 32,
            TensorType::I2S => 128,
            TensorType::Q4K | TensorType::Q6K | TensorType::TQ1_0 | TensorType::TQ2_0 => 256,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> u64 {
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
        if !ne0.is_multiple_of(self.block_len()) {
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

/// A tensor's bytes or shape that a format cannot hold, or a request a format cannot serve.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// A row length that is not a whole number of blocks.
    #[error("{ty} rows of {cols} weights are not a whole number of {}-weight blocks", ty.block_len())]
    PartialBlock {
        /// The format.
        ty: TensorType,
        /// Weights per row (`ne0`).
        cols: u64,
    },
    /// A tensor whose size in bytes overflows.
    #[error("{ty} tensor of {cols} x {rows} weights is too large")]
    TooLarge {
        /// The format.
        ty: TensorType,
        /// Weights per row (`ne0`).
        cols: u64,
        /// Rows (`ne1`).
        rows: u64,
    },
    /// A weight matrix with no rows or no columns.
    #[error("{ty} weight matrix of {cols} x {rows} weights is empty")]
    EmptyMatrix {
        /// The format.
        ty: TensorType,
        /// Weights per row (`ne0`).
        cols: u64,
        /// Rows (`ne1`).
        rows: u64,
    },
    /// Bytes that are not the size the shape calls for.
    #[error("{ty}: expected {expected} bytes, got {actual}")]
    Length {
        /// The format.
        ty: TensorType,
        /// Bytes the shape calls for.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// A weight scale that is NaN or infinite (I2_S tail times the optional `.scale` tensor).
    #[error("{ty} weight scale {scale} is not finite")]
    NonFiniteScale {
        /// The format.
        ty: TensorType,
        /// The offending scale.
        scale: f32,
    },
    /// A ternary operation on a format that is not ternary.
    #[error("{0} is not a ternary format")]
    NotTernary(TensorType),
    /// Encoding from f32 into a format this engine only decodes.
    #[error("encoding {0} from f32 is not supported")]
    NoEncoder(TensorType),
    /// A row index past the end of a weight matrix.
    #[error("row {row} out of range for a matrix of {rows} rows")]
    RowOutOfRange {
        /// The requested row.
        row: usize,
        /// Rows in the matrix.
        rows: usize,
    },
}

/// Runs `$body` with `$F` bound to the block type of `$ty`.
macro_rules! with_format {
    ($ty:expr, |$F:ident| $body:expr) => {
        match $ty {
            TensorType::F32 => {
                type $F = f32;
                $body
            }
            TensorType::F16 => {
                type $F = f16;
                $body
            }
            TensorType::BF16 => {
                type $F = bf16;
                $body
            }
            TensorType::Q8_0 => {
                type $F = BlockQ8_0;
                $body
            }
            TensorType::Q4K => {
                type $F = BlockQ4K;
                $body
            }
            TensorType::Q6K => {
                type $F = BlockQ6K;
                $body
            }
            TensorType::TQ1_0 => {
                type $F = BlockTQ1_0;
                $body
            }
            TensorType::TQ2_0 => {
                type $F = BlockTQ2_0;
                $body
            }
            TensorType::I2S => {
                type $F = BlockI2S;
                $body
            }
        }
    };
}

/// Runs `$body` with `$F` bound to the block type of the ternary format `$ty`, giving
/// `Ok($body)`, or [`QuantError::NotTernary`].
macro_rules! with_ternary_format {
    ($ty:expr, |$F:ident| $body:expr) => {
        match $ty {
            TensorType::I2S => {
                type $F = BlockI2S;
                Ok($body)
            }
            TensorType::TQ2_0 => {
                type $F = BlockTQ2_0;
                Ok($body)
            }
            TensorType::TQ1_0 => {
                type $F = BlockTQ1_0;
                Ok($body)
            }
            ty => Err(QuantError::NotTernary(ty)),
        }
    };
}

/// Bytes of one row of `cols` weights of format `ty` in a tensor of `rows` rows, or the error
/// saying why there is no such row.
fn row_bytes(ty: TensorType, cols: u64, rows: u64) -> Result<u64, QuantError> {
    if !cols.is_multiple_of(ty.block_len()) {
        return Err(QuantError::PartialBlock { ty, cols });
    }
    ty.row_bytes(cols)
        .ok_or(QuantError::TooLarge { ty, cols, rows })
}

/// Checks that `bytes` bytes of format `ty` hold exactly `weights` weights.
fn check_row(ty: TensorType, bytes: usize, weights: usize) -> Result<(), QuantError> {
    let expected = row_bytes(ty, weights as u64, 1)?;
    if bytes as u64 != expected {
        return Err(QuantError::Length {
            ty,
            expected,
            actual: bytes as u64,
        });
    }
    Ok(())
}

/// Checks that `values` values fill a `cols`-wide tensor of format `ty`, and returns its size
/// in bytes (I2_S tail included).
fn check_tensor(ty: TensorType, values: usize, cols: usize) -> Result<usize, QuantError> {
    let (cols, values) = (cols as u64, values as u64);
    if cols == 0 || values % cols != 0 {
        return Err(QuantError::PartialBlock { ty, cols });
    }
    let rows = values / cols;
    row_bytes(ty, cols, rows)?;
    ty.tensor_bytes(&[cols, rows])
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(QuantError::TooLarge { ty, cols, rows })
}

/// Decodes one row of format `ty` to f32 (`out.len()` weights). I2_S rows decode to the bare
/// ternary values; [`WeightView::dequantize_row`] applies the tensor scale.
pub fn dequantize_row(ty: TensorType, row: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    check_row(ty, row.len(), out.len())?;
    with_format!(ty, |F| F::dequantize_row(row, out));
    Ok(())
}

/// Encodes one row of f32 weights as format `ty` (F32, F16, BF16, Q8_0, Q4_K or Q6_K) into `out`.
pub fn quantize_row(ty: TensorType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    check_row(ty, out.len(), x.len())?;
    match ty {
        TensorType::F32 => f32::quantize_row(x, out),
        TensorType::F16 => f16::quantize_row(x, out),
        TensorType::BF16 => bf16::quantize_row(x, out),
        TensorType::Q8_0 => BlockQ8_0::quantize_row(x, out),
        TensorType::Q4K => BlockQ4K::quantize_row(x, out),
        TensorType::Q6K => BlockQ6K::quantize_row(x, out),
        ty => return Err(QuantError::NoEncoder(ty)),
    }
    Ok(())
}

/// Encodes a whole tensor of f32 weights, `cols` (`ne0`) per row, as format `ty` (F32, F16,
/// BF16, Q8_0, Q4_K or Q6_K); the bytes a GGUF file stores for it.
pub fn quantize_tensor(ty: TensorType, x: &[f32], cols: usize) -> Result<Vec<u8>, QuantError> {
    let mut out = vec![0u8; check_tensor(ty, x.len(), cols)?];
    quantize_row(ty, x, &mut out)?;
    Ok(out)
}

/// Decodes one row of the ternary format `ty` to its values (`out.len()` weights).
pub fn decode_ternary_row(ty: TensorType, row: &[u8], out: &mut [i8]) -> Result<(), QuantError> {
    check_row(ty, row.len(), out.len())?;
    with_ternary_format!(ty, |F| F::decode_ternary_row(row, out))
}

/// Encodes one row of ternary values (each stored by its sign) as format `ty` into `out`, with
/// block scale `scale` for TQ1_0/TQ2_0 (stored as f16); I2_S ignores it (see
/// [`encode_ternary_tensor`]).
pub fn encode_ternary_row(
    ty: TensorType,
    t: &[i8],
    scale: f32,
    out: &mut [u8],
) -> Result<(), QuantError> {
    check_row(ty, out.len(), t.len())?;
    with_ternary_format!(ty, |F| F::encode_ternary_row(t, scale, out))
}

/// Encodes a whole ternary tensor, `cols` (`ne0`) values per row, as format `ty`: the bytes a
/// GGUF file stores for it. TQ1_0/TQ2_0 store `scale` as every block's f16 scale; I2_S stores
/// it as the f32 in its 32-byte tail.
pub fn encode_ternary_tensor(
    ty: TensorType,
    t: &[i8],
    cols: usize,
    scale: f32,
) -> Result<Vec<u8>, QuantError> {
    let mut out = vec![0u8; check_tensor(ty, t.len(), cols)?];
    let tail_len = if ty == TensorType::I2S {
        I2S_TAIL_BYTES as usize
    } else {
        0
    };
    let codes_len = out.len() - tail_len;
    let (codes, tail) = out.split_at_mut(codes_len);
    encode_ternary_row(ty, t, scale, codes)?;
    if ty == TensorType::I2S {
        tail.copy_from_slice(&i2_s::tail(scale));
    }
    Ok(out)
}

/// `Σ t·q` over one row of the ternary format `ty` against int8 activations `q` (one per
/// weight): the scale-free int32 accumulator, the same for every format.
pub fn ternary_acc(ty: TensorType, row: &[u8], q: &[i8]) -> Result<i32, QuantError> {
    check_row(ty, row.len(), q.len())?;
    with_ternary_format!(ty, |F| F::acc_i8(row, q))
}

/// `Σ_blocks d_b · (Σ t·q)_b` over one row of the ternary format `ty` (I2_S: `d_b` = 1).
pub fn ternary_dot(ty: TensorType, row: &[u8], q: &[i8]) -> Result<f32, QuantError> {
    check_row(ty, row.len(), q.len())?;
    with_ternary_format!(ty, |F| F::dot_i8(row, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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

    /// `n` random ternary values, seeded.
    fn ternary(seed: u64, n: usize) -> Vec<i8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1i8..=1)).collect()
    }

    #[test]
    fn the_same_ternary_weights_agree_in_every_ternary_format() {
        let (cols, rows) = (768, 3);
        let t = ternary(7, cols * rows);
        let q: Vec<i8> = ternary(8, cols)
            .iter()
            .enumerate()
            .map(|(i, &s)| s * (i % 128) as i8)
            .collect();
        let scale = 0.375; // exact in f16
        let mut decoded = Vec::new();
        for ty in [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0] {
            let bytes = encode_ternary_tensor(ty, &t, cols, scale).expect("encodes");
            assert_eq!(Some(bytes.len() as u64), ty.tensor_bytes(&[768, 3]));
            let w = WeightView::new(ty, cols, rows, &bytes, 1.0).expect("valid");
            let mut values = vec![0f32; cols * rows];
            for (r, out) in values.chunks_mut(cols).enumerate() {
                w.dequantize_row(r, out).expect("decodes");
                let mut back = vec![0i8; cols];
                decode_ternary_row(ty, w.row(r), &mut back).expect("decodes");
                assert_eq!(back, t[r * cols..][..cols], "{ty}");
                let acc: i32 = back
                    .iter()
                    .zip(&q)
                    .map(|(&a, &b)| i32::from(a) * i32::from(b))
                    .sum();
                assert_eq!(ternary_acc(ty, w.row(r), &q), Ok(acc), "{ty}");
                let dot = ternary_dot(ty, w.row(r), &q).expect("ternary");
                let d = if ty == TensorType::I2S { 1.0 } else { scale };
                assert_eq!(dot, acc as f32 * d, "{ty}");
            }
            decoded.push(values);
        }
        assert!(decoded.windows(2).all(|p| p[0] == p[1]));
    }

    #[test]
    fn checked_entry_points_return_typed_errors() {
        let mut out = [0f32; 256];
        assert_eq!(
            dequantize_row(TensorType::TQ2_0, &[0; 65], &mut out),
            Err(QuantError::Length {
                ty: TensorType::TQ2_0,
                expected: 66,
                actual: 65
            })
        );
        assert_eq!(
            dequantize_row(TensorType::Q8_0, &[0; 34], &mut out[..31]),
            Err(QuantError::PartialBlock {
                ty: TensorType::Q8_0,
                cols: 31
            })
        );
        assert_eq!(
            ternary_acc(TensorType::Q8_0, &[0; 34], &[0; 32]),
            Err(QuantError::NotTernary(TensorType::Q8_0))
        );
        assert_eq!(
            quantize_row(TensorType::TQ2_0, &[0.0; 256], &mut [0; 66]),
            Err(QuantError::NoEncoder(TensorType::TQ2_0))
        );
        assert!(matches!(
            encode_ternary_row(TensorType::TQ1_0, &[0; 256], 1.0, &mut [0; 53]),
            Err(QuantError::Length { .. })
        ));
        assert!(matches!(
            quantize_tensor(TensorType::Q8_0, &[0.0; 96], 48),
            Err(QuantError::PartialBlock { .. })
        ));
        assert!(matches!(
            encode_ternary_tensor(TensorType::I2S, &[0; 200], 0, 1.0),
            Err(QuantError::PartialBlock { .. })
        ));
    }

    #[test]
    fn i2s_tensors_carry_their_scale_in_the_tail() {
        let t = ternary(3, 256);
        let bytes = encode_ternary_tensor(TensorType::I2S, &t, 128, 0.8125).expect("encodes");
        assert_eq!(bytes.len(), 256 / 4 + 32);
        assert_eq!(i2_s::tail_scale(&bytes[64..]), Some(0.8125));
        assert!(bytes[68..].iter().all(|&b| b == 0));
    }

    #[test]
    fn quantize_then_dequantize_round_trips_every_encoder() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) / 8.0).collect();
        // Step sizes: values on a 1/8 grid below 4 are exact in f16 and bf16; Q8_0 is within
        // half its step.
        for (ty, tolerance) in [
            (TensorType::F32, 0.0),
            (TensorType::F16, 0.0),
            (TensorType::BF16, 0.0),
            (TensorType::Q8_0, 0.5 * 3.9375 / 127.0 + 1e-3),
        ] {
            let bytes = quantize_tensor(ty, &x, 32).expect("encodes");
            let mut back = vec![0f32; 64];
            dequantize_row(ty, &bytes, &mut back).expect("decodes");
            for (a, b) in x.iter().zip(&back) {
                assert!((a - b).abs() <= tolerance, "{ty}: {a} vs {b}");
            }
        }
    }
}

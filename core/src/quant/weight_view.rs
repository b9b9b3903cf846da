//! [`WeightView`]: a 2-D weight matrix borrowed from the mapped model file.

use super::{
    dequantize_row, i2_s, row_bytes, BlockTQ1_0, BlockTQ2_0, QuantError, TensorType, TernaryFormat,
};

/// A weight matrix of `rows` × `cols` weights in format `ty`, borrowed from the mapped file and
/// never copied. Row `r` holds the weights that produce output `r` (GGUF `ne1` = rows,
/// `ne0` = cols); weight = stored value · [`scale`](Self::scale).
///
/// Invariant: `data` is exactly `rows × row_bytes` bytes (the I2_S tail excluded) and `scale`
/// is finite. Kernels rely on it.
///
/// Ternary rows are multiplied one of two ways. With one scale for the whole matrix (I2_S, or
/// a TQ tensor whose block scales are all equal, see
/// [`with_uniform_block_scale`](Self::with_uniform_block_scale)) a row's product is its int32
/// sum `Σ t·q` times `scale`, so the same ternary weights give bit-identical results in every
/// format. Otherwise each block's sum is scaled by its own `d` first.
#[derive(Clone, Copy, Debug)]
pub struct WeightView<'a> {
    ty: TensorType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: &'a [u8],
    scale: f32,
    per_block_scales: bool,
}

impl<'a> WeightView<'a> {
    /// Views `tensor_bytes`, a whole tensor as stored in the file (I2_S: codes and 32-byte tail),
    /// as `rows` rows of `cols` weights (`ne0`). `extra_scale` is the value of llama.cpp's
    /// optional `<name>.scale` tensor, 1.0 when absent. The view's scale is the I2_S tail scale
    /// times `extra_scale`, or `extra_scale` for the other formats.
    ///
    /// Errors: an empty shape, a row that is not whole blocks, a size that overflows, bytes of
    /// the wrong length, or a scale that is NaN or infinite.
    pub fn new(
        ty: TensorType,
        cols: usize,
        rows: usize,
        tensor_bytes: &'a [u8],
        extra_scale: f32,
    ) -> Result<Self, QuantError> {
        let (cols64, rows64) = (cols as u64, rows as u64);
        if cols == 0 || rows == 0 {
            return Err(QuantError::EmptyMatrix {
                ty,
                cols: cols64,
                rows: rows64,
            });
        }
        let row_bytes = row_bytes(ty, cols64, rows64)?;
        let too_large = QuantError::TooLarge {
            ty,
            cols: cols64,
            rows: rows64,
        };
        let expected = ty
            .tensor_bytes(&[cols64, rows64])
            .ok_or(too_large.clone())?;
        if tensor_bytes.len() as u64 != expected {
            return Err(QuantError::Length {
                ty,
                expected,
                actual: tensor_bytes.len() as u64,
            });
        }
        // Both fit in usize: they are no larger than `tensor_bytes.len()`.
        let row_bytes = usize::try_from(row_bytes).map_err(|_| too_large)?;
        let (data, tail) = tensor_bytes.split_at(row_bytes * rows);
        let scale = match ty {
            TensorType::I2S => {
                let tail_scale = i2_s::tail_scale(tail).ok_or(QuantError::Length {
                    ty,
                    expected,
                    actual: tensor_bytes.len() as u64,
                })?;
                tail_scale * extra_scale
            }
            _ => extra_scale,
        };
        if !scale.is_finite() {
            return Err(QuantError::NonFiniteScale { ty, scale });
        }
        Ok(Self {
            ty,
            rows,
            cols,
            row_bytes,
            data,
            scale,
            per_block_scales: matches!(ty, TensorType::TQ1_0 | TensorType::TQ2_0),
        })
    }

    /// For a TQ tensor whose blocks all store the same scale `d`, returns `d` (reads every
    /// block's scale: call once at load). `None` for other formats or differing scales.
    pub fn uniform_block_scale(&self) -> Option<f32> {
        fn uniform<F: TernaryFormat>(data: &[u8]) -> Option<f32> {
            let mut scales = data
                .chunks_exact(F::BYTES)
                .map(|b| F::read_block(b).block_scale());
            let first = scales.next()?;
            scales
                .all(|d| d.to_bits() == first.to_bits())
                .then_some(first)
        }
        match self.ty {
            TensorType::TQ2_0 => uniform::<BlockTQ2_0>(self.data),
            TensorType::TQ1_0 => uniform::<BlockTQ1_0>(self.data),
            _ => None,
        }
    }

    /// The index of the first block whose stored scale is NaN or infinite (TQ formats; reads
    /// every block's scale: call once at load). `None` when all are finite or the format has
    /// no block scales.
    pub fn first_non_finite_block_scale(&self) -> Option<usize> {
        fn first<F: TernaryFormat>(data: &[u8]) -> Option<usize> {
            data.chunks_exact(F::BYTES)
                .position(|b| !F::read_block(b).block_scale().is_finite())
        }
        match self.ty {
            TensorType::TQ2_0 => first::<BlockTQ2_0>(self.data),
            TensorType::TQ1_0 => first::<BlockTQ1_0>(self.data),
            _ => None,
        }
    }

    /// Folds the one block scale `d` of a TQ tensor into the matrix scale, so kernels take the
    /// whole-row int32 path. `d` must be what [`uniform_block_scale`](Self::uniform_block_scale)
    /// returned for this tensor (another value gives wrong products, never unsafety); a
    /// non-finite product leaves the view unchanged.
    pub fn with_uniform_block_scale(mut self, d: f32) -> Self {
        let scale = self.scale * d;
        if self.per_block_scales && scale.is_finite() {
            self.scale = scale;
            self.per_block_scales = false;
        }
        self
    }

    /// Whether ternary rows are scaled block by block (TQ with differing block scales) rather
    /// than once per row.
    pub fn per_block_scales(&self) -> bool {
        self.per_block_scales
    }

    /// The storage format.
    pub fn ty(&self) -> TensorType {
        self.ty
    }

    /// Rows (outputs, `ne1`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Weights per row (inputs, `ne0`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// The weight scale: every stored value is multiplied by it (finite).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// All rows' bytes, `rows × row_bytes` (the I2_S tail excluded).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Row `r`'s bytes.
    ///
    /// # Panics
    /// When `r >= rows` (kernels check their row ranges first).
    pub fn row(&self, r: usize) -> &'a [u8] {
        &self.data[r * self.row_bytes..][..self.row_bytes]
    }

    /// Decodes row `r` to f32 with the scale applied: `out[j] = stored_j · scale`, `cols` long.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<(), QuantError> {
        if r >= self.rows {
            return Err(QuantError::RowOutOfRange {
                row: r,
                rows: self.rows,
            });
        }
        dequantize_row(self.ty, self.row(r), out)?;
        for v in out.iter_mut() {
            *v *= self.scale;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::encode_ternary_tensor;

    #[test]
    fn i2s_view_reads_the_tail_scale_and_multiplies_extra_scale() {
        let t: Vec<i8> = (0..3 * 128).map(|i| (i % 3) as i8 - 1).collect();
        let bytes = encode_ternary_tensor(TensorType::I2S, &t, 128, 0.5).expect("encodes");
        assert_eq!(bytes.len(), 3 * 32 + 32);
        let w = WeightView::new(TensorType::I2S, 128, 3, &bytes, 3.0).expect("valid");
        assert_eq!(
            (w.rows(), w.cols(), w.row_bytes(), w.scale()),
            (3, 128, 32, 1.5)
        );
        assert_eq!(w.data().len(), 96);
        assert_eq!(w.row(2), &bytes[64..96]);
        let mut out = [0f32; 128];
        w.dequantize_row(1, &mut out).expect("in range");
        for (k, &v) in out.iter().enumerate() {
            assert_eq!(v, f32::from(t[128 + k]) * 1.5);
        }
        assert_eq!(
            w.dequantize_row(3, &mut out),
            Err(QuantError::RowOutOfRange { row: 3, rows: 3 })
        );
    }

    #[test]
    fn non_finite_i2s_scales_are_rejected() {
        let mut bytes = vec![0u8; 32 + 32];
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            bytes[32..36].copy_from_slice(&bad.to_le_bytes());
            let err = WeightView::new(TensorType::I2S, 128, 1, &bytes, 1.0).unwrap_err();
            assert!(matches!(err, QuantError::NonFiniteScale { .. }), "{err}");
        }
        bytes[32..36].copy_from_slice(&f32::MAX.to_le_bytes());
        let err = WeightView::new(TensorType::I2S, 128, 1, &bytes, 4.0).unwrap_err();
        assert!(matches!(err, QuantError::NonFiniteScale { .. }));
        let err = WeightView::new(TensorType::F32, 1, 1, &[0; 4], f32::NAN).unwrap_err();
        assert!(matches!(err, QuantError::NonFiniteScale { .. }));
    }

    #[test]
    fn bad_shapes_and_lengths_are_typed_errors() {
        let bytes = [0u8; 66 * 2];
        assert!(WeightView::new(TensorType::TQ2_0, 256, 2, &bytes, 1.0).is_ok());
        assert_eq!(
            WeightView::new(TensorType::TQ2_0, 256, 3, &bytes, 1.0).unwrap_err(),
            QuantError::Length {
                ty: TensorType::TQ2_0,
                expected: 198,
                actual: 132
            }
        );
        assert!(matches!(
            WeightView::new(TensorType::TQ2_0, 128, 2, &bytes, 1.0),
            Err(QuantError::PartialBlock { .. })
        ));
        assert!(matches!(
            WeightView::new(TensorType::TQ2_0, 0, 2, &bytes, 1.0),
            Err(QuantError::EmptyMatrix { .. })
        ));
        assert!(matches!(
            WeightView::new(TensorType::F16, usize::MAX, usize::MAX, &bytes, 1.0),
            Err(QuantError::TooLarge { .. })
        ));
        // An I2_S tensor without its tail.
        assert!(matches!(
            WeightView::new(TensorType::I2S, 128, 2, &bytes[..64], 1.0),
            Err(QuantError::Length { .. })
        ));
    }
}

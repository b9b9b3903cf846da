//! The output head: the matrix that turns the final hidden state into logits, read as the file
//! stores it or, as an opt-in, in Q8_0 (re-quantised at load), which cuts the bytes every
//! decoded token reads (2B4T: the tied F16 embedding is 657 MB, over half of a token's bytes;
//! in Q8_0 it is 349 MB).

use super::weights::Matrix;
use super::ModelError;
use crate::gguf::GgufFile;
use crate::quant::{BlockFormat, BlockQ8_0, QuantizeFormat, TensorType, WeightView};
use crate::runtime::ThreadPool;

/// How the engine stores and multiplies the output head ([`EngineConfig`]'s `head`).
///
/// [`EngineConfig`]: crate::engine::EngineConfig
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum HeadPrecision {
    /// The head as the file stores it (F16 in BitNet files: the tied embedding), read in place
    /// from the mapping and multiplied in f32 with the canonical float dot. The default.
    #[default]
    F16,
    /// Q8_0 (ggml's 32-weight blocks: f16 scale, int8 values) multiplied by the activations
    /// quantised to Q8_0 blocks (int8 dots, f32 block scaling; ggml's q8_0 × q8_0 product).
    /// A Q8_0 head in the file is used in place; an F32, F16 or BF16 head is re-quantised at
    /// load (llama.cpp's reference quantiser) into an owned buffer
    /// ([`Model::head_resident_bytes`](super::Model::head_resident_bytes)). Heads in other
    /// formats (Q4_K, Q6_K: already under 8.5 bits per weight) are kept as stored.
    Q8_0,
}

/// Which tensor is the output head and how it is multiplied, decided from the file's header
/// and the precision asked for; the loader and the memory estimate both follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadPlan {
    /// `output.weight` when the file has it, else the tied `token_embd.weight`.
    pub tensor: &'static str,
    /// Its format in the file.
    pub stored: TensorType,
    /// Whether it is re-quantised to Q8_0 at load into an owned buffer.
    pub requantized: bool,
    /// Whether products are Q8_0 × Q8_0 int8 dots (else the float kernels).
    pub int8: bool,
    /// Bytes held outside the mapped file (the re-quantised copy), in bytes.
    pub owned_bytes: u64,
}

impl HeadPlan {
    /// The head of `file` at `precision`.
    pub fn for_file(file: &GgufFile, precision: HeadPrecision) -> Result<Self, ModelError> {
        let tensor = match file.tensor("output.weight") {
            Some(_) => "output.weight",
            None => "token_embd.weight",
        };
        let info = file
            .tensor(tensor)
            .ok_or_else(|| ModelError::MissingTensor(tensor.to_owned()))?;
        let dim = |i: usize| {
            info.dims
                .get(i)
                .and_then(|&d| usize::try_from(d).ok())
                .unwrap_or(0)
        };
        let requantized = precision.requantizes(info.ty);
        Ok(HeadPlan {
            tensor,
            stored: info.ty,
            requantized,
            int8: requantized || (precision == HeadPrecision::Q8_0 && info.ty == TensorType::Q8_0),
            owned_bytes: precision.owned_bytes(info.ty, dim(1), dim(0)) as u64,
        })
    }

    /// The format products read the head in (Q8_0 when re-quantised).
    pub fn multiplied(&self) -> TensorType {
        if self.requantized {
            TensorType::Q8_0
        } else {
            self.stored
        }
    }
}

/// The output head the forward pass multiplies.
#[derive(Debug)]
pub(super) struct OutputHead {
    /// The head's matrix in the file (the tied `token_embd` or `output.weight`).
    matrix: Matrix,
    /// The matrix re-quantised to Q8_0 at load (`rows × cols / 32` blocks), when it was.
    requantized: Option<Vec<u8>>,
    /// Whether products are Q8_0 × Q8_0 int8 dots (else the float kernels).
    int8: bool,
}

impl HeadPrecision {
    /// Whether a head stored as `ty` is re-quantised to Q8_0 at load at this precision.
    fn requantizes(self, ty: TensorType) -> bool {
        self == HeadPrecision::Q8_0
            && matches!(ty, TensorType::F32 | TensorType::F16 | TensorType::BF16)
    }

    /// Bytes a head of `ty`, `rows × cols`, holds outside the mapped file at this precision:
    /// its Q8_0 copy when re-quantised, else 0 (for memory estimates made before loading).
    fn owned_bytes(self, ty: TensorType, rows: usize, cols: usize) -> usize {
        match self.requantizes(ty) {
            true => rows * (cols / BlockQ8_0::LEN) * BlockQ8_0::BYTES,
            false => 0,
        }
    }
}

impl OutputHead {
    /// The head `matrix` of `file_bytes` as `plan` says; re-quantises on `pool`'s workers.
    pub(super) fn load(
        matrix: Matrix,
        plan: &HeadPlan,
        file_bytes: &[u8],
        pool: &ThreadPool,
    ) -> Result<Self, ModelError> {
        let requantized = match plan.requantized {
            true => Some(requantize_q8_0(&matrix.view(file_bytes)?, pool)?),
            false => None,
        };
        Ok(OutputHead {
            matrix,
            requantized,
            int8: plan.int8,
        })
    }

    /// A view of the head's weights: the owned Q8_0 copy, or the matrix in `file_bytes`.
    pub(super) fn view<'a>(&'a self, file_bytes: &'a [u8]) -> Result<WeightView<'a>, ModelError> {
        match &self.requantized {
            Some(bytes) => Ok(WeightView::new(
                TensorType::Q8_0,
                self.matrix.cols,
                self.matrix.rows,
                bytes,
                1.0,
            )?),
            None => self.matrix.view(file_bytes),
        }
    }

    /// Whether products are Q8_0 × Q8_0 int8 dots ([`crate::kernels::Kernels::q8_0_gemm`]).
    pub(super) fn int8(&self) -> bool {
        self.int8
    }

    /// The format the head is multiplied in.
    pub(super) fn ty(&self) -> TensorType {
        if self.requantized.is_some() {
            TensorType::Q8_0
        } else {
            self.matrix.ty
        }
    }

    /// Bytes one product reads (the whole head), in bytes.
    pub(super) fn byte_len(&self) -> usize {
        self.requantized
            .as_ref()
            .map_or(self.matrix.byte_len(), Vec::len)
    }

    /// Bytes the head holds outside the mapped file (the re-quantised copy), in bytes.
    pub(super) fn owned_bytes(&self) -> usize {
        self.requantized.as_ref().map_or(0, Vec::len)
    }
}

/// `w` re-quantised row by row to Q8_0 (rows dequantised with the view's scale, then encoded by
/// the reference quantiser), split over `pool`'s workers.
fn requantize_q8_0(w: &WeightView, pool: &ThreadPool) -> Result<Vec<u8>, ModelError> {
    if !w.cols().is_multiple_of(BlockQ8_0::LEN) {
        return Err(ModelError::BadTensor {
            name: "output head".into(),
            reason: format!(
                "a Q8_0 head needs a width that is a multiple of {}, got {}",
                BlockQ8_0::LEN,
                w.cols()
            ),
        });
    }
    let row_bytes = w.cols() / BlockQ8_0::LEN * BlockQ8_0::BYTES;
    let mut out = vec![0u8; w.rows() * row_bytes];
    let byte_ranges: Vec<_> = pool
        .split(w.rows(), 64)
        .into_iter()
        .map(|r| r.start * row_bytes..r.end * row_bytes)
        .collect();
    let results = pool.for_each_chunk(&byte_ranges, &mut out, |bytes, chunk| {
        let mut row = vec![0f32; w.cols()];
        for (r, out) in (bytes.start / row_bytes..).zip(chunk.chunks_exact_mut(row_bytes)) {
            w.dequantize_row(r, &mut row)?;
            BlockQ8_0::quantize_row(&row, out);
        }
        Ok::<(), ModelError>(())
    });
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(out)
}

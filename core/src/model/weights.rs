//! The model's tensors, located in the mapped file: matrices are byte ranges of the mapping
//! (never copied); only the small norm vectors are decoded to f32 at load.

use std::ops::Range;

use super::{ModelConfig, ModelError};
use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::{self, TensorType, WeightView};

/// The ternary projections of every block, by the name between `blk.N.` and `.weight`.
pub const PROJECTIONS: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// A weight matrix of `rows` × `cols` located in the mapped file.
#[derive(Clone, Debug)]
pub struct Matrix {
    /// Storage format.
    pub ty: TensorType,
    /// Output rows (`ne1`).
    pub rows: usize,
    /// Input width (`ne0`).
    pub cols: usize,
    /// The tensor's bytes inside the file (an I2_S tensor's 32-byte tail included).
    range: Range<usize>,
    /// The value of the llama.cpp `.scale` tensor (1.0 when absent).
    extra_scale: f32,
    /// The one block scale of a TQ tensor whose blocks all share it (whole-row int32 path).
    uniform_block_scale: Option<f32>,
    /// Bytes of the rows (an I2_S tail excluded): what one full product reads.
    row_data_len: usize,
}

impl Matrix {
    /// Locates tensor `name`, which must have shape `[cols, rows]`. `extra_scale` is the value
    /// of its llama.cpp `.scale` tensor (1.0 when absent).
    fn load(
        file: &GgufFile,
        name: &str,
        cols: usize,
        rows: usize,
        extra_scale: f32,
    ) -> Result<Self, ModelError> {
        let info = tensor(file, name)?;
        expect_shape(info, &[cols, rows])?;
        let view = WeightView::new(info.ty, cols, rows, file.tensor_data(info), extra_scale)
            .map_err(|source| ModelError::BadTensor {
                name: name.to_owned(),
                reason: source.to_string(),
            })?;
        if let Some(block) = view.first_non_finite_block_scale() {
            return Err(ModelError::NonFiniteScale {
                tensor: name.to_owned(),
                block,
            });
        }
        let start = info.offset as usize;
        Ok(Matrix {
            ty: info.ty,
            rows,
            cols,
            range: start..start + info.n_bytes as usize,
            extra_scale,
            uniform_block_scale: view.uniform_block_scale(),
            row_data_len: view.data().len(),
        })
    }

    /// A view of this matrix in `file_bytes` (the bytes of the file it was loaded from; the
    /// view was validated at load, so this fails only if given another file).
    pub fn view<'a>(&self, file_bytes: &'a [u8]) -> Result<WeightView<'a>, ModelError> {
        let bytes = file_bytes
            .get(self.range.clone())
            .ok_or_else(|| ModelError::BadTensor {
                name: format!("{} matrix", self.ty),
                reason: "outside the mapped file".into(),
            })?;
        let view = WeightView::new(self.ty, self.cols, self.rows, bytes, self.extra_scale)?;
        Ok(match self.uniform_block_scale {
            Some(d) => view.with_uniform_block_scale(d),
            None => view,
        })
    }

    /// Bytes of the file this matrix reads per full product.
    pub fn byte_len(&self) -> usize {
        self.row_data_len
    }
}

/// One transformer block's weights.
#[derive(Debug)]
pub struct Layer {
    /// RMSNorm weight before attention, `n_embd`.
    pub attn_norm: Vec<f32>,
    /// Query projection, `n_embd` → `n_embd`.
    pub attn_q: Matrix,
    /// Key projection, `n_embd` → `kv_dim`.
    pub attn_k: Matrix,
    /// Value projection, `n_embd` → `kv_dim`.
    pub attn_v: Matrix,
    /// Attention output projection, `n_embd` → `n_embd`.
    pub attn_output: Matrix,
    /// RMSNorm weight on the attention output before `attn_output`, `n_embd`.
    pub attn_sub_norm: Vec<f32>,
    /// RMSNorm weight before the FFN, `n_embd`.
    pub ffn_norm: Vec<f32>,
    /// FFN gate projection, `n_embd` → `n_ff`.
    pub ffn_gate: Matrix,
    /// FFN up projection, `n_embd` → `n_ff`.
    pub ffn_up: Matrix,
    /// FFN down projection, `n_ff` → `n_embd`.
    pub ffn_down: Matrix,
    /// RMSNorm weight on the gated FFN activation before `ffn_down`, `n_ff`.
    pub ffn_sub_norm: Vec<f32>,
}

impl Layer {
    /// The seven projection matrices (the BitLinears), in graph order.
    pub fn projections(&self) -> [&Matrix; 7] {
        [
            &self.attn_q,
            &self.attn_k,
            &self.attn_v,
            &self.attn_output,
            &self.ffn_gate,
            &self.ffn_up,
            &self.ffn_down,
        ]
    }
}

/// Every tensor the forward pass reads.
#[derive(Debug)]
pub struct Weights {
    /// Token embedding, `vocab_size` rows of `n_embd`.
    pub token_embd: Matrix,
    /// Final norm.
    pub output_norm: Vec<f32>,
    /// Output head: `output.weight` when present, else the tied `token_embd`.
    pub output: Matrix,
    /// Transformer blocks.
    pub layers: Vec<Layer>,
}

impl Weights {
    /// Whether any block's projection is stored in a ternary format (the model then quantises
    /// activations, and its KV cache defaults to F16).
    pub fn has_ternary_projection(file: &GgufFile) -> bool {
        file.tensors().iter().any(|t| {
            let mut parts = t.name.split('.');
            t.ty.is_ternary()
                && parts.next() == Some("blk")
                && parts.nth(1).is_some_and(|p| PROJECTIONS.contains(&p))
        })
    }

    /// The vocabulary size implied by `token_embd` (its row count).
    pub fn vocab_size(file: &GgufFile) -> Result<usize, ModelError> {
        let info = tensor(file, "token_embd.weight")?;
        match info.dims.as_slice() {
            [_, rows] => Ok(*rows as usize),
            _ => Err(bad_shape(info, "2 dimensions")),
        }
    }

    /// Locates every tensor of `config`'s graph and checks its shape and format; the output
    /// head is tensor `head` (`output.weight` or the tied `token_embd.weight`).
    pub fn load(file: &GgufFile, config: &ModelConfig, head: &str) -> Result<Self, ModelError> {
        let (embd, ff, kv) = (config.n_embd, config.n_ff, config.kv_dim());
        let token_embd = Matrix::load(file, "token_embd.weight", embd, config.vocab_size, 1.0)?;
        let output = match head {
            "token_embd.weight" => token_embd.clone(),
            name => Matrix::load(file, name, embd, config.vocab_size, 1.0)?,
        };
        for (name, m) in [
            ("token_embd.weight", &token_embd),
            ("output.weight", &output),
        ] {
            if m.ty.is_ternary() {
                return Err(ModelError::BadTensor {
                    name: name.into(),
                    reason: format!("{} is not a supported embedding or head format", m.ty),
                });
            }
        }
        let layers = (0..config.n_layer)
            .map(|i| {
                let linear = |name: &str, cols, rows| {
                    let name = format!("blk.{i}.{name}");
                    let scale = scale_tensor(file, &name)?;
                    Matrix::load(file, &format!("{name}.weight"), cols, rows, scale)
                };
                let norm =
                    |name: &str, len| norm_vector(file, &format!("blk.{i}.{name}.weight"), len);
                Ok(Layer {
                    attn_norm: norm("attn_norm", embd)?,
                    attn_q: linear("attn_q", embd, embd)?,
                    attn_k: linear("attn_k", embd, kv)?,
                    attn_v: linear("attn_v", embd, kv)?,
                    attn_output: linear("attn_output", embd, embd)?,
                    attn_sub_norm: norm("attn_sub_norm", embd)?,
                    ffn_norm: norm("ffn_norm", embd)?,
                    ffn_gate: linear("ffn_gate", embd, ff)?,
                    ffn_up: linear("ffn_up", embd, ff)?,
                    ffn_down: linear("ffn_down", ff, embd)?,
                    ffn_sub_norm: norm("ffn_sub_norm", ff)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Weights {
            token_embd,
            output_norm: norm_vector(file, "output_norm.weight", embd)?,
            output,
            layers,
        })
    }
}

fn tensor<'f>(file: &'f GgufFile, name: &str) -> Result<&'f TensorInfo, ModelError> {
    file.tensor(name)
        .ok_or_else(|| ModelError::MissingTensor(name.to_owned()))
}

fn bad_shape(info: &TensorInfo, expected: &str) -> ModelError {
    ModelError::BadTensor {
        name: info.name.clone(),
        reason: format!("shape {:?}, expected {expected}", info.dims),
    }
}

fn expect_shape(info: &TensorInfo, dims: &[usize]) -> Result<(), ModelError> {
    let matches =
        info.dims.len() == dims.len() && info.dims.iter().zip(dims).all(|(&a, &b)| a == b as u64);
    if matches {
        Ok(())
    } else {
        Err(bad_shape(info, &format!("{dims:?}")))
    }
}

/// A 1-D float tensor of `len` elements decoded to f32 (norm weights: a few KB).
fn norm_vector(file: &GgufFile, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let info = tensor(file, name)?;
    expect_shape(info, &[len])?;
    if info.ty.is_ternary() {
        return Err(ModelError::BadTensor {
            name: name.to_owned(),
            reason: format!("{} is not a float format", info.ty),
        });
    }
    let mut out = vec![0.0; len];
    quant::dequantize_row(info.ty, file.tensor_data(info), &mut out)?;
    if out.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::BadTensor {
            name: name.to_owned(),
            reason: "contains NaN or infinity".into(),
        });
    }
    Ok(out)
}

/// The value of llama.cpp's optional `<name>.scale` tensor (one f32), 1.0 when absent.
fn scale_tensor(file: &GgufFile, name: &str) -> Result<f32, ModelError> {
    let scale_name = format!("{name}.scale");
    if file.tensor(&scale_name).is_none() {
        return Ok(1.0);
    }
    let v = norm_vector(file, &scale_name, 1)?[0];
    Ok(v)
}

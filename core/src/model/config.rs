//! Model hyper-parameters read from GGUF metadata.

use super::ModelError;
use crate::gguf::GgufFile;

/// Which BitNet graph a file asks for (`general.architecture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// llama.cpp's `bitnet`: SiLU-gated FFN, optional per-projection `.scale` tensors.
    Bitnet,
    /// The official BitNet-b1.58-2B-4T upload (`bitnet-b1.58`): squared-ReLU FFN.
    BitnetB158,
    /// An older upload of the same model (`bitnet-25`): squared-ReLU FFN.
    Bitnet25,
}

impl Arch {
    /// The architecture for a `general.architecture` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "bitnet" => Some(Arch::Bitnet),
            "bitnet-b1.58" => Some(Arch::BitnetB158),
            "bitnet-25" => Some(Arch::Bitnet25),
            _ => None,
        }
    }

    /// The `general.architecture` string, also the metadata key prefix.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Bitnet => "bitnet",
            Arch::BitnetB158 => "bitnet-b1.58",
            Arch::Bitnet25 => "bitnet-25",
        }
    }

    /// The FFN activation this architecture's graph uses (spec §4).
    pub fn ffn_activation(self) -> FfnActivation {
        match self {
            Arch::Bitnet => FfnActivation::Silu,
            Arch::BitnetB158 | Arch::Bitnet25 => FfnActivation::ReluSquared,
        }
    }
}

/// The gate activation of the gated FFN: `f = act(gate) * up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FfnActivation {
    /// `silu(g) = g / (1 + e^-g)` (llama.cpp's `bitnet` graph).
    Silu,
    /// `relu(g)²` (BitNet b1.58 as trained).
    ReluSquared,
}

/// Upper bounds that keep a hostile file from asking for absurd allocations.
const MAX_DIM: u32 = 1 << 20;
const MAX_LAYERS: u32 = 4096;

/// Hyper-parameters of a BitNet model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The graph variant.
    pub arch: Arch,
    /// Hidden width (`embedding_length`).
    pub n_embd: usize,
    /// FFN inner width (`feed_forward_length`).
    pub n_ff: usize,
    /// Transformer blocks (`block_count`).
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (GQA: `n_head` is a multiple of it).
    pub n_head_kv: usize,
    /// Width of one head: `n_embd / n_head`.
    pub head_dim: usize,
    /// Rotated dimensions per head (`rope.dimension_count`, default `head_dim`).
    pub rope_dims: usize,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// Context length the model was trained with, in tokens.
    pub n_ctx_train: usize,
    /// Vocabulary size (rows of the token embedding).
    pub vocab_size: usize,
}

impl ModelConfig {
    /// Reads and checks the `<arch>.*` keys. The vocabulary size comes from `token_embd`'s
    /// shape, which the caller passes in.
    pub fn from_gguf(file: &GgufFile, vocab_size: usize) -> Result<Self, ModelError> {
        let arch_name = file.get_str("general.architecture")?;
        let arch = Arch::from_name(arch_name)
            .ok_or_else(|| ModelError::UnsupportedArch(arch_name.to_owned()))?;
        let key = |k: &str| format!("{}.{k}", arch.name());
        let dim = |k: &str| -> Result<usize, ModelError> {
            let v = file.get_u32(&key(k))?;
            if v == 0 || v > MAX_DIM {
                return Err(ModelError::BadConfig(format!(
                    "{} = {v} is out of range",
                    key(k)
                )));
            }
            Ok(v as usize)
        };
        let n_embd = dim("embedding_length")?;
        let n_ff = dim("feed_forward_length")?;
        let n_head = dim("attention.head_count")?;
        let n_head_kv = match file.get_u32_opt(&key("attention.head_count_kv"))? {
            Some(_) => dim("attention.head_count_kv")?,
            None => n_head,
        };
        let n_layer = file.get_u32(&key("block_count"))?;
        if n_layer == 0 || n_layer > MAX_LAYERS {
            return Err(ModelError::BadConfig(format!(
                "block_count = {n_layer} is out of range"
            )));
        }
        if n_embd % n_head != 0 || n_head % n_head_kv != 0 {
            return Err(ModelError::BadConfig(format!(
                "{n_head} heads / {n_head_kv} KV heads do not divide embedding {n_embd}"
            )));
        }
        let head_dim = n_embd / n_head;
        let rope_dims = match file.get_u32_opt(&key("rope.dimension_count"))? {
            Some(d) => d as usize,
            None => head_dim,
        };
        if head_dim % 2 != 0 || rope_dims % 2 != 0 || rope_dims > head_dim || rope_dims == 0 {
            return Err(ModelError::BadConfig(format!(
                "rope dimension {rope_dims} does not fit head dimension {head_dim}"
            )));
        }
        let rope_base = file
            .get_f32_opt(&key("rope.freq_base"))?
            .unwrap_or(10_000.0);
        let rms_eps = file.get_f32(&key("attention.layer_norm_rms_epsilon"))?;
        let finite_positive = |v: f32| v.is_finite() && v > 0.0;
        if !finite_positive(rope_base) || !finite_positive(rms_eps) {
            return Err(ModelError::BadConfig(format!(
                "rope base {rope_base} / rms epsilon {rms_eps} must be finite and positive"
            )));
        }
        Ok(ModelConfig {
            arch,
            n_embd,
            n_ff,
            n_layer: n_layer as usize,
            n_head,
            n_head_kv,
            head_dim,
            rope_dims,
            rope_base,
            rms_eps,
            n_ctx_train: dim("context_length")?,
            vocab_size,
        })
    }

    /// Width of the K (and V) projection: `n_head_kv * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

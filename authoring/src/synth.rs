//! Synthetic BitNet models: random ternary projections with one scale per tensor, random norms
//! and embeddings, and a vocabulary, so every tool and test can run without downloading a
//! model.
//!
//! Values come from a ChaCha8 stream seeded by the model seed and the tensor's name, consumed
//! row by row in the same amount whatever the format: the same seed gives the same ternary
//! weights and scales as I2_S, TQ2_0, TQ1_0 or F32. Scales are rounded to f16 so TQ files (f16
//! block scales) hold exactly the I2_S file's f32 scale.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use bitnet_core::gguf::{TensorInfo, Value};
use bitnet_core::model::Arch;
use bitnet_core::quant::{self, TensorType};
use bitnet_core::tokenizer::TokenizerSpec;
use half::f16;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{vocabulary, GgufWriter, WriteError};

/// Model sizes [`write_synthetic`] can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// 2 layers, width 256, the vocabulary's own size: fast enough for tests.
    Tiny,
    /// 16 layers, width 1024, a 32 000-token vocabulary (≈110 MB as I2_S): a mid-size model
    /// for memory and speed tests.
    Small,
    /// The exact tensor shapes and types of BitNet-b1.58-2B-4T (≈1.2 GB as I2_S).
    B2B4T,
}

/// What to write: size, architecture, projection format, seed and vocabulary.
#[derive(Clone, Debug)]
pub struct SyntheticModel {
    /// The hyper-parameters.
    pub preset: Preset,
    /// Written to `general.architecture` (and the metadata key prefix).
    pub arch: Arch,
    /// Type of the ternary projections: I2_S, TQ2_0, TQ1_0 or F32 (then the embedding is F32
    /// too; otherwise F16).
    pub format: TensorType,
    /// Seed of every value.
    pub seed: u64,
    /// The vocabulary; padded with unused control tokens to the preset's embedding rows.
    pub vocabulary: TokenizerSpec,
}

/// Hyper-parameters of a preset.
struct Shape {
    embd: u64,
    ff: u64,
    layers: u64,
    heads: u64,
    kv_heads: u64,
    ctx: u64,
    /// Rows of the embedding (at least the vocabulary's size).
    vocab: u64,
}

impl Preset {
    fn shape(self) -> Shape {
        match self {
            Preset::Tiny => Shape {
                embd: 256,
                ff: 768,
                layers: 2,
                heads: 4,
                kv_heads: 2,
                ctx: 1024,
                vocab: 0,
            },
            Preset::Small => Shape {
                embd: 1024,
                ff: 2816,
                layers: 16,
                heads: 16,
                kv_heads: 4,
                ctx: 2048,
                vocab: 32_000,
            },
            Preset::B2B4T => Shape {
                embd: 2560,
                ff: 6912,
                layers: 30,
                heads: 20,
                kv_heads: 5,
                ctx: 4096,
                vocab: 128_256,
            },
        }
    }
}

/// `general.file_type` of a model whose projections are `format`: llama.cpp's
/// `LLAMA_FTYPE_MOSTLY_*` (TQ1_0 36, TQ2_0 37), bitnet.cpp's I2_S 40, all-F32 0; `None` for a
/// type that is not a projection format.
pub fn file_type(format: TensorType) -> Option<u32> {
    match format {
        TensorType::I2S => Some(40),
        TensorType::TQ2_0 => Some(37),
        TensorType::TQ1_0 => Some(36),
        TensorType::F32 => Some(0),
        _ => None,
    }
}

/// Writes `model` to `path` and returns the file's length (bytes) and its embedding rows
/// (tokens).
pub fn write_synthetic(model: &SyntheticModel, path: &Path) -> Result<(u64, u64), WriteError> {
    let file_type = file_type(model.format).ok_or_else(|| {
        WriteError::NotConvertible(format!("{} is not a projection format", model.format))
    })?;
    let embd_ty = if model.format == TensorType::F32 {
        TensorType::F32
    } else {
        TensorType::F16
    };
    let mut spec = model.vocabulary.clone();
    let mut shape = model.preset.shape();
    shape.vocab = shape.vocab.max(spec.tokens.len() as u64);
    pad_vocabulary(&mut spec, shape.vocab as usize);

    let arch = model.arch.name();
    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.add("general.architecture", arch);
    w.add(
        "general.name",
        format!("synthetic {:?} (seed {})", model.preset, model.seed),
    );
    w.add("general.file_type", file_type);
    w.add(key("context_length"), shape.ctx as u32);
    w.add(key("embedding_length"), shape.embd as u32);
    w.add(key("block_count"), shape.layers as u32);
    w.add(key("feed_forward_length"), shape.ff as u32);
    w.add(key("attention.head_count"), shape.heads as u32);
    w.add(key("attention.head_count_kv"), shape.kv_heads as u32);
    w.add(key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    w.add(key("rope.freq_base"), Value::F32(500_000.0));
    w.add(
        key("rope.dimension_count"),
        (shape.embd / shape.heads) as u32,
    );
    w.add(key("vocab_size"), shape.vocab as u32);
    // The official 2B4T file has no `pre` key; llama.cpp needs it to pick the Llama-3 regex.
    vocabulary::add_to(&mut w, &spec, model.arch == Arch::Bitnet);

    let (embd, ff, kv) = (
        shape.embd,
        shape.ff,
        shape.embd / shape.heads * shape.kv_heads,
    );
    let linear_ty = model.format;
    w.add_tensor_info("token_embd.weight", &[embd, shape.vocab], embd_ty)?;
    for i in 0..shape.layers {
        let name = |n: &str| format!("blk.{i}.{n}.weight");
        w.add_tensor_info(name("attn_norm"), &[embd], TensorType::F32)?;
        w.add_tensor_info(name("attn_q"), &[embd, embd], linear_ty)?;
        w.add_tensor_info(name("attn_k"), &[embd, kv], linear_ty)?;
        w.add_tensor_info(name("attn_v"), &[embd, kv], linear_ty)?;
        w.add_tensor_info(name("attn_output"), &[embd, embd], linear_ty)?;
        w.add_tensor_info(name("attn_sub_norm"), &[embd], TensorType::F32)?;
        w.add_tensor_info(name("ffn_norm"), &[embd], TensorType::F32)?;
        w.add_tensor_info(name("ffn_gate"), &[embd, ff], linear_ty)?;
        w.add_tensor_info(name("ffn_up"), &[embd, ff], linear_ty)?;
        w.add_tensor_info(name("ffn_down"), &[ff, embd], linear_ty)?;
        w.add_tensor_info(name("ffn_sub_norm"), &[ff], TensorType::F32)?;
    }
    w.add_tensor_info("output_norm.weight", &[embd], TensorType::F32)?;

    let out = File::create(path).map_err(WriteError::Io)?;
    let bytes = w.write_to(BufWriter::with_capacity(1 << 20, out), |info, sink| {
        write_tensor(info, model.seed, sink)
    })?;
    Ok((bytes, shape.vocab))
}

/// Pads the vocabulary to `len` tokens with unused control tokens (`<|reserved_N|>`), so a
/// preset keeps its exact embedding shape whatever vocabulary it was given.
fn pad_vocabulary(spec: &mut TokenizerSpec, len: usize) {
    for i in spec.tokens.len()..len {
        spec.tokens.push(format!("<|reserved_{i}|>"));
        spec.token_types.push(3);
    }
}

/// A ChaCha8 stream for one tensor: seeded by the model seed and the tensor's name (FNV-1a),
/// so a tensor's values do not depend on the format or on the other tensors.
fn tensor_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    ChaCha8Rng::seed_from_u64(seed ^ hash)
}

/// Generates and writes one tensor, row by row (the 2B4T embedding is 657 MB as F16).
fn write_tensor(info: &TensorInfo, seed: u64, sink: &mut dyn Write) -> io::Result<()> {
    let mut rng = tensor_rng(seed, &info.name);
    let cols = info.dims[0] as usize;
    let rows = info.dims.get(1).copied().unwrap_or(1) as usize;
    let row_bytes = info.ty.row_bytes(cols as u64).unwrap_or(0) as usize;
    let mut row = vec![0u8; row_bytes];
    let mut values = vec![0f32; cols];

    if info.dims.len() == 1 {
        // Norm weights around 1.
        values
            .iter_mut()
            .for_each(|v| *v = rng.random_range(0.75..1.25));
        return write_f32s(&values, sink);
    }
    if info.name == "token_embd.weight" {
        // f16-exact values: the F32 file's embedding equals the other formats' F16 one.
        for _ in 0..rows {
            for v in values.iter_mut() {
                *v = f16::from_f32(rng.random_range(-1.0..1.0)).to_f32();
            }
            quant::quantize_row(info.ty, &values, &mut row).map_err(io::Error::other)?;
            sink.write_all(&row)?;
        }
        return Ok(());
    }
    // A ternary projection: one scale ≈ 1/sqrt(cols) keeps activations near unit size.
    let scale = f16::from_f32(rng.random_range(0.75..1.25) / (cols as f32).sqrt()).to_f32();
    let mut ternary = vec![0i8; cols];
    let mut random = vec![0u8; cols];
    for _ in 0..rows {
        rng.fill(&mut random[..]);
        for (t, &r) in ternary.iter_mut().zip(&random) {
            *t = (r % 3) as i8 - 1;
        }
        if info.ty.is_ternary() {
            quant::encode_ternary_row(info.ty, &ternary, scale, &mut row)
                .map_err(io::Error::other)?;
            sink.write_all(&row)?;
        } else {
            for (v, &t) in values.iter_mut().zip(&ternary) {
                *v = f32::from(t) * scale;
            }
            write_f32s(&values, sink)?;
        }
    }
    if info.ty == TensorType::I2S {
        sink.write_all(&quant::i2_s::tail(scale))?;
    }
    Ok(())
}

/// Little-endian f32 bytes of `values`.
pub(crate) fn write_f32s(values: &[f32], sink: &mut dyn Write) -> io::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    sink.write_all(&bytes)
}

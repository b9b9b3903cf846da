//! `bitnet synth`: writes a synthetic BitNet model — random ternary projections with one scale
//! per tensor, random norms and embeddings, and a byte-level BPE vocabulary — so every tool
//! and test can run without downloading a model.
//!
//! Values come from a ChaCha8 stream seeded by `--seed` and the tensor's name, consumed row by
//! row in the same amount whatever the format: the same seed gives the same ternary weights
//! and scales as I2_S, TQ2_0, TQ1_0 or F32. Scales are rounded to f16 so TQ files (f16 block
//! scales) hold exactly the I2_S file's f32 scale.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use bitnet_core::gguf::{ArrayValue, GgufWriter, TensorInfo, Value};
use bitnet_core::quant::{self, TensorType};
use bitnet_core::tokenizer::TokenizerSpec;
use clap::{Args, ValueEnum};
use half::f16;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Model sizes `synth` can write.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Preset {
    /// 2 layers, width 256: fast enough for tests.
    Tiny,
    /// 16 layers, width 1024, a 32 000-token vocabulary (≈110 MB as I2_S): a mid-size model
    /// for memory and speed tests.
    Small,
    /// The exact tensor shapes and types of BitNet-b1.58-2B-4T (≈1.2 GB as I2_S).
    #[value(name = "2b4t")]
    B2B4T,
}

/// Architectures `synth` can write.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ArchArg {
    /// llama.cpp's `bitnet` (SiLU FFN).
    Bitnet,
    /// The official 2B4T `bitnet-b1.58` (squared-ReLU FFN).
    #[value(name = "bitnet-b1.58")]
    BitnetB158,
}

/// Storage formats of the ternary projections.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// bitnet.cpp's I2_S (the official file's format).
    #[value(name = "i2_s")]
    I2S,
    /// llama.cpp's TQ2_0.
    #[value(name = "tq2_0")]
    TQ2_0,
    /// llama.cpp's TQ1_0.
    #[value(name = "tq1_0")]
    TQ1_0,
    /// Plain f32 (ternary values times the scale): the reference path; embeddings are f32 too.
    F32,
}

impl FormatArg {
    /// The tensor type of the ternary projections.
    pub fn projection_type(self) -> TensorType {
        match self {
            FormatArg::I2S => TensorType::I2S,
            FormatArg::TQ2_0 => TensorType::TQ2_0,
            FormatArg::TQ1_0 => TensorType::TQ1_0,
            FormatArg::F32 => TensorType::F32,
        }
    }

    /// The tensor type `synth` writes the embedding in (F16 beside ternary projections).
    fn embedding_type(self) -> TensorType {
        match self {
            FormatArg::F32 => TensorType::F32,
            _ => TensorType::F16,
        }
    }

    /// `general.file_type`: llama.cpp's `LLAMA_FTYPE_MOSTLY_*` (TQ1_0 36, TQ2_0 37), bitnet.cpp's
    /// I2_S 40, all-F32 0.
    pub fn file_type(self) -> u32 {
        match self {
            FormatArg::I2S => 40,
            FormatArg::TQ2_0 => 37,
            FormatArg::TQ1_0 => 36,
            FormatArg::F32 => 0,
        }
    }
}

/// Arguments of `bitnet synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Model size.
    #[arg(long, value_enum, default_value_t = Preset::Tiny)]
    preset: Preset,
    /// Architecture written to `general.architecture`.
    #[arg(long, value_enum, default_value_t = ArchArg::BitnetB158)]
    arch: ArchArg,
    /// Storage format of the projections.
    #[arg(long, value_enum, default_value_t = FormatArg::I2S)]
    format: FormatArg,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A Hugging Face `tokenizer.json` (e.g. Llama-3's) for the vocabulary; default: the file
    /// named by $BITNET_LLAMA3_TOKENIZER if set, else a small built-in byte-level vocabulary.
    #[arg(long)]
    vocab: Option<PathBuf>,
    /// Output path.
    #[arg(short, long)]
    output: PathBuf,
}

/// Hyper-parameters of a preset.
struct Shape {
    embd: u64,
    ff: u64,
    layers: u64,
    heads: u64,
    kv_heads: u64,
    ctx: u64,
    /// Rows of the embedding (at least the tokenizer's size).
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

/// Writes the model and prints a one-line summary.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let vocab_path = args
        .vocab
        .clone()
        .or_else(|| std::env::var_os("BITNET_LLAMA3_TOKENIZER").map(PathBuf::from));
    let mut spec = match &vocab_path {
        Some(path) => TokenizerSpec::from_tokenizer_json(path)
            .with_context(|| format!("reading vocabulary {}", path.display()))?,
        None => TokenizerSpec::builtin(),
    };
    let mut shape = args.preset.shape();
    shape.vocab = shape.vocab.max(spec.tokens.len() as u64);
    pad_vocab(&mut spec, shape.vocab as usize);

    let (arch, ffn_act) = match args.arch {
        ArchArg::Bitnet => ("bitnet", "SiLU"),
        ArchArg::BitnetB158 => ("bitnet-b1.58", "squared ReLU"),
    };
    let (linear_ty, embd_ty, file_type) = (
        args.format.projection_type(),
        args.format.embedding_type(),
        args.format.file_type(),
    );

    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.add("general.architecture", Value::String(arch.into()));
    w.add(
        "general.name",
        Value::String(format!("synthetic {:?} (seed {})", args.preset, args.seed)),
    );
    w.add("general.file_type", Value::U32(file_type));
    w.add(key("context_length"), Value::U32(shape.ctx as u32));
    w.add(key("embedding_length"), Value::U32(shape.embd as u32));
    w.add(key("block_count"), Value::U32(shape.layers as u32));
    w.add(key("feed_forward_length"), Value::U32(shape.ff as u32));
    w.add(key("attention.head_count"), Value::U32(shape.heads as u32));
    w.add(
        key("attention.head_count_kv"),
        Value::U32(shape.kv_heads as u32),
    );
    w.add(key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    w.add(key("rope.freq_base"), Value::F32(500_000.0));
    w.add(
        key("rope.dimension_count"),
        Value::U32((shape.embd / shape.heads) as u32),
    );
    w.add(key("vocab_size"), Value::U32(shape.vocab as u32));
    add_vocabulary(&mut w, &spec, matches!(args.arch, ArchArg::Bitnet));

    let (embd, ff, kv) = (
        shape.embd,
        shape.ff,
        shape.embd / shape.heads * shape.kv_heads,
    );
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

    let out = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let bytes = w.write_to(BufWriter::with_capacity(1 << 20, out), |info, sink| {
        write_tensor(info, args.seed, sink)
    })?;
    println!(
        "wrote {} ({} bytes): {arch} ({ffn_act} FFN), {:?} preset, projections {linear_ty}, vocabulary {} tokens ({})",
        args.output.display(),
        bytes,
        args.preset,
        shape.vocab,
        vocab_path.map_or("built-in byte-level".into(), |p| p.display().to_string()),
    );
    Ok(())
}

/// Pads the vocabulary to `len` tokens with unused control tokens (`<|reserved_N|>`), so a
/// preset keeps its exact embedding shape whatever vocabulary it was given.
fn pad_vocab(spec: &mut TokenizerSpec, len: usize) {
    for i in spec.tokens.len()..len {
        spec.tokens.push(format!("<|reserved_{i}|>"));
        spec.token_types.push(3);
    }
}

fn add_vocabulary(w: &mut GgufWriter, spec: &TokenizerSpec, llama_cpp_arch: bool) {
    w.add("tokenizer.ggml.model", Value::String(spec.model.clone()));
    // The official 2B4T file has no `pre` key; llama.cpp needs it to pick the Llama-3 regex.
    if llama_cpp_arch {
        w.add("tokenizer.ggml.pre", Value::String("llama-bpe".into()));
    }
    let strings = |v: &[String]| Value::Array(ArrayValue::String(v.to_vec()));
    w.add("tokenizer.ggml.tokens", strings(&spec.tokens));
    w.add(
        "tokenizer.ggml.token_type",
        Value::Array(ArrayValue::I32(spec.token_types.clone())),
    );
    w.add("tokenizer.ggml.merges", strings(&spec.merges));
    for (k, id) in [
        ("tokenizer.ggml.bos_token_id", spec.bos),
        ("tokenizer.ggml.eos_token_id", spec.eos),
        ("tokenizer.ggml.eot_token_id", spec.eot),
    ] {
        if let Some(id) = id {
            w.add(k, Value::U32(id));
        }
    }
    w.add("tokenizer.ggml.add_bos_token", Value::Bool(spec.add_bos));
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

fn write_f32s(values: &[f32], sink: &mut dyn Write) -> io::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    sink.write_all(&bytes)
}

//! `bitnet synth`: writes a synthetic BitNet model (see `bitnet_authoring::synth`: random
//! ternary projections with one scale per tensor, random norms and embeddings, and a
//! byte-level BPE vocabulary) so every tool and test can run without downloading a model.

use std::path::PathBuf;

use anyhow::Context;
use bitnet_authoring::synth::{self, SyntheticModel};
use bitnet_authoring::vocabulary;
use bitnet_core::model::Arch;
use bitnet_core::quant::TensorType;
use clap::{Args, ValueEnum};

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

impl From<Preset> for synth::Preset {
    fn from(p: Preset) -> Self {
        match p {
            Preset::Tiny => synth::Preset::Tiny,
            Preset::Small => synth::Preset::Small,
            Preset::B2B4T => synth::Preset::B2B4T,
        }
    }
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

/// Writes the model and prints a one-line summary.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let vocab_path = args
        .vocab
        .clone()
        .or_else(|| std::env::var_os("BITNET_LLAMA3_TOKENIZER").map(PathBuf::from));
    let vocabulary = match &vocab_path {
        Some(path) => vocabulary::from_tokenizer_json(path)?,
        None => vocabulary::builtin(),
    };
    let (arch, ffn_act) = match args.arch {
        ArchArg::Bitnet => (Arch::Bitnet, "SiLU"),
        ArchArg::BitnetB158 => (Arch::BitnetB158, "squared ReLU"),
    };
    let model = SyntheticModel {
        preset: args.preset.into(),
        arch,
        format: args.format.projection_type(),
        seed: args.seed,
        vocabulary,
    };
    let (bytes, vocab) = synth::write_synthetic(&model, &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} ({} bytes): {} ({ffn_act} FFN), {:?} preset, projections {}, vocabulary {} tokens ({})",
        args.output.display(),
        bytes,
        arch.name(),
        args.preset,
        model.format,
        vocab,
        vocab_path.map_or("built-in byte-level".into(), |p| p.display().to_string()),
    );
    Ok(())
}

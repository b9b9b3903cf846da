//! Command-line options shared by the generating commands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use bitnet_core::engine::{Engine, EngineConfig, GenerationOptions, SessionConfig};
use bitnet_core::gguf::GgufFile;
use bitnet_core::model::HeadPrecision;
use bitnet_core::sampling::SamplingParams;
use clap::{Args, ValueEnum};

/// The model file and engine settings.
#[derive(Args, Debug)]
pub struct EngineArgs {
    /// Path of the GGUF model file.
    pub model: PathBuf,
    /// Worker threads for matmuls (0 = automatic, up to 4).
    #[arg(short = 't', long, default_value_t = 0)]
    pub threads: usize,
    /// Kernel table to use (e.g. scalar); default: the fastest this CPU runs.
    #[arg(long)]
    pub kernels: Option<String>,
    /// Output head precision: f16 = as the file stores it; q8_0 = re-quantised at load (about
    /// half the head's bytes per token, small logit error).
    #[arg(long, value_enum, default_value_t = HeadArg::F16)]
    pub head: HeadArg,
}

/// `--head` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeadArg {
    /// The head as the file stores it (F16 in BitNet files).
    F16,
    /// Q8_0, re-quantised at load.
    #[value(name = "q8_0")]
    Q8_0,
}

impl From<HeadArg> for HeadPrecision {
    fn from(h: HeadArg) -> Self {
        match h {
            HeadArg::F16 => HeadPrecision::F16,
            HeadArg::Q8_0 => HeadPrecision::Q8_0,
        }
    }
}

impl EngineArgs {
    /// Loads the engine with these settings and default limits.
    pub fn load(&self) -> anyhow::Result<Engine> {
        let config = EngineConfig {
            threads: self.threads,
            kernels: self.kernels.clone(),
            head: self.head.into(),
            ..EngineConfig::default()
        };
        Engine::load(&self.model, config)
            .with_context(|| format!("loading {}", self.model.display()))
    }
}

/// Engine settings plus the session's context length.
#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Context length in tokens (0 = the model's, capped at 5120).
    #[arg(long = "ctx", default_value_t = 0)]
    pub context_length: usize,
}

impl ModelArgs {
    /// Loads the engine with default limits.
    pub fn load(&self) -> anyhow::Result<Engine> {
        self.engine.load()
    }

    /// Session settings from these options.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            context_length: self.context_length,
            ..SessionConfig::default()
        }
    }
}

/// Maps and validates the GGUF file at `path` (for commands that need no model).
pub fn open_file(path: &Path) -> anyhow::Result<GgufFile> {
    GgufFile::open(path).with_context(|| format!("loading {}", path.display()))
}

/// Sampling and stopping options.
#[derive(Args, Debug)]
pub struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Drop tokens less likely than min-p times the most likely one (0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub min_p: f32,
    /// Penalty for tokens among the last `--repeat-last-n` (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    #[arg(long, default_value_t = 64)]
    pub repeat_last_n: usize,
    /// Random seed (same seed, same output).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop before this string (repeatable).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
}

impl SamplingArgs {
    /// Generation options from these flags.
    pub fn options(&self) -> GenerationOptions {
        GenerationOptions {
            max_tokens: self.max_tokens,
            sampling: SamplingParams {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                repetition_penalty: self.repeat_penalty,
                repeat_last_n: self.repeat_last_n,
                seed: self.seed,
            },
            stop: self.stop.clone(),
            cancel: None,
        }
    }
}

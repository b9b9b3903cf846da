//! Command-line options shared by the generating commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bitnet_core::engine::{Engine, EngineConfig, GenerationOptions, SessionConfig};
use bitnet_core::gguf::GgufFile;
use bitnet_core::model::{HeadPrecision, KvPrecision};
use bitnet_core::runtime::thermal::{
    HostThermal, HostThresholds, ScriptedThermal, ThermalSource, SYSFS_THERMAL,
};
use bitnet_core::runtime::Profile;
use bitnet_core::sampling::SamplingParams;
use clap::{Args, ValueEnum};

/// The model file and engine settings.
#[derive(Args, Debug)]
pub struct EngineArgs {
    /// Path of the GGUF model file.
    pub model: PathBuf,
    /// Worker threads for matmuls (0 = automatic: the performance cores, up to 4); default:
    /// the profile's, else automatic.
    #[arg(short = 't', long)]
    pub threads: Option<usize>,
    /// Kernel table to use (e.g. scalar); default: the fastest this CPU runs.
    #[arg(long)]
    pub kernels: Option<String>,
    /// Replay a thermal schedule, e.g. "0s:nominal,5s:serious,10s:critical" (time from the
    /// start of the generation or benchmark); default: this host's /sys/class/thermal zones.
    #[arg(long)]
    pub thermal_schedule: Option<String>,
    /// Deployment profile (mobile, edge, server, cloud): its thread limit and memory budget,
    /// unless -t / --memory-budget say otherwise.
    #[arg(long)]
    pub profile: Option<Profile>,
    /// Memory budget in bytes, or with a K, M or G suffix (powers of 1024: 512M = 512 MiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub memory_budget: Option<u64>,
    /// Pin the worker threads to the performance cores (Linux/Android).
    #[arg(long)]
    pub pin_threads: bool,
    /// Output head precision: f16 = as the file stores it; q8_0 / q6_k / q4_k = int8 products
    /// over a head in that format (about 1/2, 2/5, 2/7 of an F16 head's bytes per token; logit
    /// error grows as the bits shrink); default: the profile's, else f16.
    #[arg(long, value_enum)]
    pub head: Option<HeadArg>,
    /// Directory to keep a re-quantised output head in, mapped by later runs instead of made
    /// again; default: $BITNET_CACHE_DIR, else $XDG_CACHE_HOME/bitnet, else ~/.cache/bitnet.
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Keep nothing on disk: re-quantise the head (if asked for) at every run.
    #[arg(long)]
    pub no_cache: bool,
    /// KV cache precision (f16, f32, q8_0); default: the profile's (q8_0 for mobile), else f16
    /// for ternary models, f32 for float ones.
    #[arg(long, value_enum)]
    pub kv: Option<KvArg>,
    /// Speculative decoding: tokens drafted by prompt lookup and verified with each decoded
    /// token in one pass (0 = off, at most 15); the output is unchanged.
    #[arg(long, default_value_t = 0)]
    pub draft_tokens: usize,
    /// Continuous batching: sessions decoding at the same moment share one pass over the
    /// weights (true / false); default: the profile's (on for server and cloud), else off.
    #[arg(long, value_name = "BOOL")]
    pub decode_batching: Option<bool>,
}

/// `--kv` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KvArg {
    /// 2 bytes per value.
    F16,
    /// 4 bytes per value: the same arithmetic as a float reference.
    F32,
    /// Q8_0 blocks, 34 bytes per 32 values (about half of f16's), small logit error.
    #[value(name = "q8_0")]
    Q8_0,
}

impl From<KvArg> for KvPrecision {
    fn from(kv: KvArg) -> Self {
        match kv {
            KvArg::F16 => KvPrecision::F16,
            KvArg::F32 => KvPrecision::F32,
            KvArg::Q8_0 => KvPrecision::Q8_0,
        }
    }
}

/// `--head` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeadArg {
    /// The head as the file stores it (F16 in BitNet files).
    F16,
    /// Q8_0 (8.5 bits per weight): used in place when the file stores it, else
    /// re-quantised at load.
    #[value(name = "q8_0")]
    Q8_0,
    /// Q6_K (6.56 bits per weight; Q8_0 for widths that are not a multiple of 256): used in
    /// place when the file stores it, else re-quantised at load.
    #[value(name = "q6_k")]
    Q6K,
    /// Q4_K (4.5 bits per weight; Q8_0 for widths that are not a multiple of 256): used in
    /// place when the file stores it, else re-quantised at load.
    #[value(name = "q4_k")]
    Q4K,
}

impl From<HeadArg> for HeadPrecision {
    fn from(h: HeadArg) -> Self {
        match h {
            HeadArg::F16 => HeadPrecision::F16,
            HeadArg::Q8_0 => HeadPrecision::Q8_0,
            HeadArg::Q6K => HeadPrecision::Q6K,
            HeadArg::Q4K => HeadPrecision::Q4K,
        }
    }
}

impl EngineArgs {
    /// The engine settings these options give (default limits otherwise).
    pub fn config(&self) -> EngineConfig {
        let base = self
            .profile
            .map_or_else(EngineConfig::default, EngineConfig::from_profile);
        EngineConfig {
            threads: self.threads.unwrap_or(base.threads),
            kernels: self.kernels.clone(),
            pin_threads: self.pin_threads,
            memory_budget_bytes: self.memory_budget.or(base.memory_budget_bytes),
            head: self.head.map(Into::into).or(base.head),
            cache_dir: match self.no_cache {
                true => None,
                false => self.cache_dir.clone().or_else(default_cache_dir),
            },
            kv_precision: self.kv.map(Into::into).or(base.kv_precision),
            draft_tokens: self.draft_tokens,
            decode_batching: self.decode_batching.or(base.decode_batching),
            ..base
        }
    }

    /// Loads the engine with these settings and feeds it this host's (or the scripted)
    /// thermal readings.
    pub fn load(&self) -> anyhow::Result<Engine> {
        let engine = Engine::load(&self.model, self.config())
            .with_context(|| format!("loading {}", self.model.display()))?;
        engine.set_thermal_source(self.thermal_source()?);
        Ok(engine)
    }

    /// The scripted schedule if given, else the host's thermal zones if it has any.
    fn thermal_source(&self) -> anyhow::Result<Option<Arc<dyn ThermalSource>>> {
        if let Some(schedule) = &self.thermal_schedule {
            let script = ScriptedThermal::parse(schedule).context("--thermal-schedule")?;
            return Ok(Some(Arc::new(script)));
        }
        match HostThermal::new(Path::new(SYSFS_THERMAL), HostThresholds::default()) {
            Ok(host) => Ok(Some(Arc::new(host))),
            // No readable zones (containers, some VMs): the state stays nominal.
            Err(_) => Ok(None),
        }
    }
}

/// Parses a byte count: digits with an optional K, M or G suffix (binary: ×1024, ×1024²,
/// ×1024³; a trailing `B` or `iB` is accepted).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let number = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match number.chars().last() {
        Some('K') => (&number[..number.len() - 1], 10),
        Some('M') => (&number[..number.len() - 1], 20),
        Some('G') => (&number[..number.len() - 1], 30),
        _ => (number, 0),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count (e.g. 536870912, 512M, 1G)"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Engine settings plus the session's context length.
#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Context length in tokens (0 = the model's, capped at 5120); either is capped to the
    /// memory budget.
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

/// Sampling and stopping options; the sampling defaults are the core's ([`SamplingParams`]).
#[derive(Args, Debug)]
pub struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = SamplingParams::default().temperature)]
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    #[arg(long, default_value_t = SamplingParams::default().top_k)]
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1 = off).
    #[arg(long, default_value_t = SamplingParams::default().top_p)]
    pub top_p: f32,
    /// Drop tokens less likely than min-p times the most likely one (0 = off).
    #[arg(long, default_value_t = SamplingParams::default().min_p)]
    pub min_p: f32,
    /// Penalty for tokens among the last `--repeat-last-n` (1 = off).
    #[arg(long, default_value_t = SamplingParams::default().repetition_penalty)]
    pub repeat_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    #[arg(long, default_value_t = SamplingParams::default().repeat_last_n)]
    pub repeat_last_n: usize,
    /// Random seed (same seed, same output).
    #[arg(long, default_value_t = SamplingParams::default().seed)]
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
        }
    }
}

/// `$BITNET_CACHE_DIR`, else `$XDG_CACHE_HOME/bitnet`, else `$HOME/.cache/bitnet`.
fn default_cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("BITNET_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("bitnet")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/bitnet")))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("64kib"), Ok(64 << 10));
        assert_eq!(parse_bytes("2MB"), Ok(2 << 20));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }
}

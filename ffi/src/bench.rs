//! The benchmark screen's calls: what this device runs the engine on ([`hardware`]) and a
//! timed benchmark of a loaded engine (`BitNetEngine::benchmark`, the core's `bench::run`,
//! which `bitnet bench` runs too).

use bitnet_core::bench;
use bitnet_core::kernels::Kernels;
use bitnet_core::runtime::{default_threads, memory, CpuTopology};

use crate::error::count;

pub use bitnet_core::bench::Stat;

/// Mean and sample standard deviation of repeated measurements (in the unit of the field
/// holding it).
#[uniffi::remote(Record)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one sample).
    pub sd: f64,
}

/// What a benchmark measures. Start from `default_bench_config()` (512 prompt tokens, 128
/// generated, 3 repetitions, prefill in batches of 64), as `bitnet bench` does.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BenchConfig {
    /// Random prompt tokens evaluated in prefill, in tokens (≥ 1).
    pub prompt_tokens: u32,
    /// Tokens decoded one at a time after the prompt, in tokens (≥ 1).
    pub gen_tokens: u32,
    /// Repetitions, each from an empty KV cache (≥ 1).
    pub reps: u32,
    /// Prompt tokens per forward call during prefill, in tokens (≥ 1).
    pub batch: u32,
}

/// The benchmark settings of `bitnet bench`.
#[uniffi::export]
pub fn default_bench_config() -> BenchConfig {
    let core = bench::BenchConfig::default();
    BenchConfig {
        prompt_tokens: count(core.prompt_tokens),
        gen_tokens: count(core.gen_tokens),
        reps: count(core.reps),
        batch: count(core.batch),
    }
}

impl BenchConfig {
    /// The core's configuration, cancelled through `cancel`.
    pub(crate) fn to_core(&self, cancel: bitnet_core::engine::CancelToken) -> bench::BenchConfig {
        bench::BenchConfig {
            prompt_tokens: self.prompt_tokens as usize,
            gen_tokens: self.gen_tokens as usize,
            reps: self.reps as usize,
            batch: self.batch as usize,
            cancel: Some(cancel),
        }
    }
}

/// What one benchmark measured (`bitnet bench` prints the same figures).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct BenchReport {
    /// The kernel table the matmuls ran on (`"avx2"`, `"neon-dotprod"`, ...).
    pub kernels: String,
    /// Threads the matmuls ran on.
    pub threads: u32,
    /// Prompt tokens per repetition, in tokens.
    pub prompt_tokens: u32,
    /// Tokens decoded per repetition, in tokens.
    pub gen_tokens: u32,
    /// Repetitions measured: the configured count, fewer when the run was cancelled (0: the
    /// speeds below are 0).
    pub reps: u32,
    /// Prefill speed, in tokens/s.
    pub prefill_tokens_per_s: Stat,
    /// Decode speed, in tokens/s.
    pub decode_tokens_per_s: Stat,
    /// Time to the first generated token's logits (the prompt's prefill), in ms.
    pub time_to_first_token_ms: Stat,
    /// Weight bytes one decoded token reads (projections, head, one embedding row), in bytes.
    pub bytes_per_token: u64,
    /// `bytes_per_token` × mean decode speed, in GB/s (10^9 bytes/s).
    pub effective_gb_per_s: f64,
    /// This device's memory-copy bandwidth with the same threads (read + written bytes, as
    /// STREAM's Copy counts them), sampled right after each repetition's decode, in GB/s.
    pub copy_gb_per_s: f64,
    /// Each repetition's effective GB/s over the copy bandwidth sampled right after it,
    /// averaged, in percent: how close decode comes to the memory roofline.
    pub roofline_percent: f64,
    /// Peak resident memory of the process during the runs (mapped weight pages included), in
    /// bytes; `None` where the platform does not report it.
    pub peak_resident_bytes: Option<u64>,
    /// The most memory the process held outside clean file pages after a repetition (Linux
    /// and Android `RssAnon`, Apple `phys_footprint`), in bytes: what the phone's memory limit
    /// applies to; `None` where the platform does not report it.
    pub footprint_bytes: Option<u64>,
    /// The format the output head is multiplied in (`"F16"`, `"Q8_0"`, ...).
    pub head_type: String,
    /// Bytes the output head holds outside the mapped file (a re-quantised copy), in bytes.
    pub head_resident_bytes: u64,
}

impl From<bench::BenchReport> for BenchReport {
    fn from(r: bench::BenchReport) -> Self {
        BenchReport {
            kernels: r.kernels.into(),
            threads: count(r.threads),
            prompt_tokens: count(r.prompt_tokens),
            gen_tokens: count(r.gen_tokens),
            reps: count(r.reps),
            prefill_tokens_per_s: r.prefill_tokens_per_s,
            decode_tokens_per_s: r.decode_tokens_per_s,
            time_to_first_token_ms: r.time_to_first_token_ms,
            bytes_per_token: r.bytes_per_token,
            effective_gb_per_s: r.effective_gb_per_s,
            copy_gb_per_s: r.copy_gb_per_s,
            roofline_percent: r.roofline_percent,
            peak_resident_bytes: r.peak_rss_bytes,
            footprint_bytes: r.footprint_bytes,
            head_type: r.head_type.into(),
            head_resident_bytes: r.head_resident_bytes,
        }
    }
}

/// What this device offers the engine, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Hardware {
    /// Ids of the online CPUs, ascending (empty where the platform does not list them).
    pub cpus: Vec<u32>,
    /// Ids of the performance ("big") cores among them, ascending: the ones an engine pins its
    /// workers to with `EngineConfig::pin_threads`.
    pub performance_cpus: Vec<u32>,
    /// Threads an engine runs matmuls on when `EngineConfig::threads` is 0.
    pub default_threads: u32,
    /// The kernel tables this CPU runs, from the portable reference to the fastest.
    pub kernel_tables: Vec<String>,
    /// The table an engine uses unless `EngineConfig::kernels` names another.
    pub default_kernels: String,
    /// Physical memory, in bytes; `None` where the platform does not report it.
    pub physical_memory_bytes: Option<u64>,
}

/// This device's CPUs, kernel tables and memory, as an engine loaded now would use them.
#[uniffi::export]
pub fn hardware() -> Hardware {
    let topology = CpuTopology::system();
    let ids = |cpus: Vec<usize>| cpus.into_iter().map(count).collect();
    Hardware {
        cpus: ids(topology.online_cpus()),
        performance_cpus: ids(topology.performance_cpus()),
        default_threads: count(default_threads()),
        kernel_tables: Kernels::available()
            .iter()
            .map(|k| k.name().to_owned())
            .collect(),
        default_kernels: Kernels::detect().name().to_owned(),
        physical_memory_bytes: memory::physical_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_the_cores() {
        let core = bench::BenchConfig::default();
        let ffi = default_bench_config();
        let back = ffi.to_core(Default::default());
        assert_eq!(
            (back.prompt_tokens, back.gen_tokens, back.reps, back.batch),
            (core.prompt_tokens, core.gen_tokens, core.reps, core.batch)
        );
    }

    #[test]
    fn hardware_names_the_default_table_among_the_available_ones() {
        let h = hardware();
        assert!(h.kernel_tables.contains(&h.default_kernels));
        assert_eq!(h.kernel_tables[0], "scalar");
        assert!(h.default_threads >= 1);
        assert!(h.performance_cpus.iter().all(|c| h.cpus.contains(c)));
    }
}

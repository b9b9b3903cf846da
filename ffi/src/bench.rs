//! The benchmark screen's calls: what this device runs the engine on ([`hardware`]) and a
//! timed benchmark of a loaded engine (`BitNetEngine::benchmark`, the core's `bench::run`,
//! which `bitnet bench` runs too).

use bitnet_core::bench::BenchConfig;
use bitnet_core::kernels::Kernels;
use bitnet_core::runtime::{default_threads, memory, CpuTopology};

/// The benchmark settings of `bitnet bench` (512 prompt tokens, 128 generated, 3
/// repetitions, prefill in batches of 64).
#[uniffi::export]
pub fn default_bench_config() -> BenchConfig {
    BenchConfig::default()
}

/// What this device offers the engine, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Hardware {
    /// Ids of the online CPUs, ascending (empty where the platform does not list them).
    pub cpus: Vec<usize>,
    /// Ids of the performance ("big") cores among them, ascending: the ones an engine pins its
    /// workers to with `EngineConfig::pin_threads`.
    pub performance_cpus: Vec<usize>,
    /// Threads an engine runs matmuls on when `EngineConfig::threads` is 0.
    pub default_threads: usize,
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
    Hardware {
        cpus: topology.online_cpus(),
        performance_cpus: topology.performance_cpus(),
        default_threads: default_threads(),
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
    fn hardware_names_the_default_table_among_the_available_ones() {
        let h = hardware();
        assert!(h.kernel_tables.contains(&h.default_kernels));
        assert_eq!(h.kernel_tables[0], "scalar");
        assert!(h.default_threads >= 1);
        assert!(h.performance_cpus.iter().all(|c| h.cpus.contains(c)));
    }
}

//! Which CPUs are the performance cores, and how many worker threads to start by default.
//!
//! Linux and Android describe each CPU under `/sys/devices/system/cpu/cpuN/`: `cpu_capacity`
//! (the scheduler's relative speed, 1024 = the fastest core; arm64 kernels) or
//! `cpufreq/cpuinfo_max_freq` (kHz). Phones mix clusters — a 1+3+4 layout has one prime core,
//! three big and four little ones — and matmuls on little cores only slow the big ones down
//! (every row range joins at a barrier). The rule, adapted from ncnn's big-core detection:
//!
//! - a CPU is a **performance core** when its speed is at least the midpoint between the
//!   slowest and the fastest online CPU (a flat host: every CPU). A 1+3+4 phone gives the
//!   prime and big cores (4), a 4+4 phone the big cluster (4), a 2+6 phone its 2 big cores;
//! - the automatic thread count is the number of performance cores, at most
//!   [`MAX_AUTO_THREADS`] and at most the CPUs this process may run on
//!   (`available_parallelism`, which sees affinity masks and cgroup quotas).
//!
//! Apple platforms report the performance-level core count (`hw.perflevel0.physicalcpu`).
//! Where none of this can be read, the automatic count is `available_parallelism`, capped.

use std::path::Path;

/// Most threads the automatic count picks: decoding a ternary model is bound by memory
/// bandwidth, which four big cores already saturate on current phones (more cores then only
/// add heat).
pub const MAX_AUTO_THREADS: usize = 4;

/// Where Linux and Android describe the CPUs.
const SYSFS_CPU_ROOT: &str = "/sys/devices/system/cpu";

/// The online CPUs of a machine and their relative speeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuTopology {
    /// Online CPUs as `(cpu id, speed)`, ascending by id. Speed is `cpu_capacity` when every
    /// online CPU has one, else `cpuinfo_max_freq` (kHz) when every one has that, else 0 for
    /// all (no ranking: every CPU counts as a performance core).
    cpus: Vec<(usize, u64)>,
}

impl CpuTopology {
    /// Reads the topology under `root` (a sysfs CPU directory such as
    /// `/sys/devices/system/cpu`, or a fake tree in tests). Missing or unreadable files are
    /// treated as absent; an empty or missing tree gives an empty topology.
    ///
    /// A CPU is online when it is listed in `root/online` (if that file exists) and its own
    /// `cpuN/online` (if present; the boot CPU usually has none) does not read `0`.
    pub fn read(root: &Path) -> CpuTopology {
        let listed = read_trimmed(&root.join("online")).and_then(|s| parse_cpu_list(&s));
        let Ok(entries) = std::fs::read_dir(root) else {
            return CpuTopology::default();
        };
        let mut ids: Vec<usize> = entries
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("cpu")?
                    .parse()
                    .ok()
            })
            .filter(|id| listed.as_ref().is_none_or(|l| l.contains(id)))
            .filter(|id| {
                read_trimmed(&root.join(format!("cpu{id}/online"))).as_deref() != Some("0")
            })
            .collect();
        ids.sort_unstable();
        let speeds = |file: &str| -> Option<Vec<u64>> {
            ids.iter()
                .map(|id| {
                    read_trimmed(&root.join(format!("cpu{id}/{file}")))?
                        .parse()
                        .ok()
                })
                .collect()
        };
        let speeds = speeds("cpu_capacity")
            .or_else(|| speeds("cpufreq/cpuinfo_max_freq"))
            .unwrap_or_else(|| vec![0; ids.len()]);
        CpuTopology {
            cpus: ids.into_iter().zip(speeds).collect(),
        }
    }

    /// The topology of this machine (empty where sysfs does not exist).
    pub fn system() -> CpuTopology {
        CpuTopology::read(Path::new(SYSFS_CPU_ROOT))
    }

    /// Ids of the online CPUs, ascending.
    pub fn online_cpus(&self) -> Vec<usize> {
        self.cpus.iter().map(|&(id, _)| id).collect()
    }

    /// Ids of the performance cores, ascending: the online CPUs whose speed is at least the
    /// midpoint between the slowest and the fastest (see the module doc).
    pub fn performance_cpus(&self) -> Vec<usize> {
        let speeds = self.cpus.iter().map(|&(_, s)| s);
        let (Some(min), Some(max)) = (speeds.clone().min(), speeds.max()) else {
            return Vec::new();
        };
        let midpoint = min + (max - min) / 2;
        self.cpus
            .iter()
            .filter(|&&(_, s)| s >= midpoint)
            .map(|&(id, _)| id)
            .collect()
    }
}

/// Worker threads allowed per CPU this process may use ([`max_threads`]). More threads than
/// CPUs only time-slice, and thousands of them exhaust the address space for their stacks.
pub const THREADS_PER_CPU: usize = 4;

/// The thread cap on any machine, however few its CPUs: every deployment profile's thread
/// count loads everywhere.
pub const MIN_THREAD_CAP: usize = 64;

/// The largest `EngineConfig.threads` accepted, in threads: [`THREADS_PER_CPU`] per CPU this
/// process may use, at least [`MIN_THREAD_CAP`]. More is refused with `InvalidOption`.
pub fn max_threads() -> usize {
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    allowed.saturating_mul(THREADS_PER_CPU).max(MIN_THREAD_CAP)
}

/// The automatic thread count (`EngineConfig.threads = 0`): the performance cores of this
/// machine, at most [`MAX_AUTO_THREADS`] and at most the CPUs this process may use.
pub fn default_threads() -> usize {
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    let performance = performance_core_count().unwrap_or(allowed);
    performance.min(allowed).clamp(1, MAX_AUTO_THREADS)
}

/// Performance cores reported by the OS, `None` when it reports nothing usable.
#[cfg(not(target_vendor = "apple"))]
fn performance_core_count() -> Option<usize> {
    Some(CpuTopology::system().performance_cpus().len()).filter(|&n| n > 0)
}

/// Performance-level physical cores (`hw.perflevel0.physicalcpu`, iOS 15+ / macOS 12+).
#[cfg(target_vendor = "apple")]
fn performance_core_count() -> Option<usize> {
    let mut count: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: the name is a NUL-terminated literal; `count` is a c_int and `len` its size, as
    // this sysctl (an int) expects; no new value is written (null, 0).
    let rc = unsafe {
        libc::sysctlbyname(
            c"hw.perflevel0.physicalcpu".as_ptr(),
            (&raw mut count).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    usize::try_from(count).ok().filter(|&n| rc == 0 && n > 0)
}

/// Restricts the calling thread to `cpus` (Linux/Android `sched_setaffinity`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pin_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array for which all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus.iter().filter(|&&c| c < capacity) {
        // SAFETY: `cpu` is below the set's bit capacity (checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Pinning is not available on this platform (Apple schedules by QoS class instead).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pin_current_thread(_cpus: &[usize]) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// The CPUs a thread may run on, saved to be put back with [`Affinity::restore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affinity(Vec<usize>);

impl Affinity {
    /// Restricts the calling thread to the saved CPUs again.
    pub fn restore(&self) -> std::io::Result<()> {
        pin_current_thread(&self.0)
    }
}

/// The CPUs the calling thread may run on now (Linux/Android `sched_getaffinity`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn current_affinity() -> std::io::Result<Affinity> {
    // SAFETY: cpu_set_t is a plain bit array for which all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a writable cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: every `cpu` is below the set's bit capacity.
    let cpus = (0..capacity).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) });
    Ok(Affinity(cpus.collect()))
}

/// Affinity is not available on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn current_affinity() -> std::io::Result<Affinity> {
    Err(std::io::ErrorKind::Unsupported.into())
}

fn read_trimmed(path: &Path) -> Option<String> {
    Some(std::fs::read_to_string(path).ok()?.trim().to_owned())
}

/// Parses a sysfs CPU list such as `0-3,5,7-8`; `None` when malformed.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().ok()?..=b.parse().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fake sysfs CPU directory: one `(capacity, max_freq_khz, online)` per CPU (`None` =
    /// file absent), plus the root `online` list when given.
    fn tree(
        cpus: &[(Option<u64>, Option<u64>, Option<bool>)],
        online: Option<&str>,
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (id, &(capacity, freq, on)) in cpus.iter().enumerate() {
            let cpu = dir.path().join(format!("cpu{id}"));
            fs::create_dir_all(cpu.join("cpufreq")).expect("mkdir");
            if let Some(c) = capacity {
                fs::write(cpu.join("cpu_capacity"), format!("{c}\n")).expect("write");
            }
            if let Some(f) = freq {
                fs::write(cpu.join("cpufreq/cpuinfo_max_freq"), format!("{f}\n")).expect("write");
            }
            if let Some(on) = on {
                fs::write(cpu.join("online"), if on { "1\n" } else { "0\n" }).expect("write");
            }
        }
        // Directories sysfs also has that are not CPUs.
        fs::create_dir_all(dir.path().join("cpufreq")).expect("mkdir");
        fs::create_dir_all(dir.path().join("cpuidle")).expect("mkdir");
        if let Some(list) = online {
            fs::write(dir.path().join("online"), format!("{list}\n")).expect("write");
        }
        dir
    }

    fn perf(cpus: &[(Option<u64>, Option<u64>, Option<bool>)], online: Option<&str>) -> Vec<usize> {
        CpuTopology::read(tree(cpus, online).path()).performance_cpus()
    }

    fn capacities(caps: &[u64]) -> Vec<(Option<u64>, Option<u64>, Option<bool>)> {
        caps.iter()
            .map(|&c| (Some(c), Some(1_000_000), None))
            .collect()
    }

    #[test]
    fn phone_1_3_4_picks_the_prime_and_big_cores() {
        // Snapdragon 8-class: 4 little (A510), 3 big (A710), 1 prime (X2).
        let caps = [325, 325, 325, 325, 828, 828, 828, 1024];
        assert_eq!(perf(&capacities(&caps), Some("0-7")), vec![4, 5, 6, 7]);
    }

    #[test]
    fn phone_4_4_picks_the_big_cluster() {
        let caps = [381, 381, 381, 381, 1024, 1024, 1024, 1024];
        assert_eq!(perf(&capacities(&caps), None), vec![4, 5, 6, 7]);
    }

    #[test]
    fn phone_2_6_picks_its_two_big_cores() {
        let caps = [1024, 1024, 400, 400, 400, 400, 400, 400];
        assert_eq!(perf(&capacities(&caps), None), vec![0, 1]);
    }

    #[test]
    fn flat_host_counts_every_core() {
        // An x86 host: no cpu_capacity, equal max frequencies.
        let cpus = vec![(None, Some(3_600_000), None); 8];
        assert_eq!(perf(&cpus, Some("0-7")), (0..8).collect::<Vec<_>>());
        // No speed files at all: every online CPU counts.
        let cpus = vec![(None, None, None); 8];
        assert_eq!(perf(&cpus, None), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn offline_cores_are_skipped() {
        // 4+4 with two big cores hot-unplugged: by the root list, or by their own files.
        let caps = [381, 381, 381, 381, 1024, 1024, 1024, 1024];
        assert_eq!(perf(&capacities(&caps), Some("0-4,7")), vec![4, 7]);
        let mut cpus = capacities(&caps);
        cpus[5].2 = Some(false);
        cpus[6].2 = Some(false);
        cpus[4].2 = Some(true);
        assert_eq!(perf(&cpus, None), vec![4, 7]);
        // Only little cores online: they are the fastest there are.
        assert_eq!(perf(&capacities(&caps), Some("0-3")), vec![0, 1, 2, 3]);
    }

    #[test]
    fn max_frequency_ranks_cores_without_capacity() {
        let freqs = [
            1_800_000, 1_800_000, 1_800_000, 1_800_000, 2_420_000, 2_420_000, 2_420_000, 2_840_000,
        ];
        let cpus: Vec<_> = freqs.iter().map(|&f| (None, Some(f), None)).collect();
        assert_eq!(perf(&cpus, Some("0-7")), vec![4, 5, 6, 7]);
        // A capacity on only some CPUs is ignored in favour of a complete frequency set.
        let mut mixed = cpus.clone();
        mixed[0].0 = Some(1024);
        assert_eq!(perf(&mixed, None), vec![4, 5, 6, 7]);
    }

    #[test]
    fn empty_or_missing_tree_has_no_cpus() {
        let dir = tempfile::tempdir().expect("tempdir");
        let topo = CpuTopology::read(dir.path());
        assert!(topo.online_cpus().is_empty() && topo.performance_cpus().is_empty());
        let topo = CpuTopology::read(&dir.path().join("absent"));
        assert_eq!(topo, CpuTopology::default());
    }

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-3,5,7-8"), Some(vec![0, 1, 2, 3, 5, 7, 8]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("0-x"), None);
    }

    #[test]
    fn default_threads_is_within_the_allowed_cpus_and_the_cap() {
        let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = default_threads();
        assert!(n >= 1 && n <= allowed.min(MAX_AUTO_THREADS), "{n}");
    }
}

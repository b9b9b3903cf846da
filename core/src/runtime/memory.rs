//! The process's resident memory, as the OS counts it against the app.
//!
//! Linux and Android: `/proc/self/statm` (current resident pages) and `/proc/self/status`
//! (`VmHWM`, the peak). Apple: `task_info(TASK_VM_INFO)`'s `phys_footprint` and its ledger
//! peak — the figure jetsam kills apps by, which leaves out clean file-backed pages such as
//! mapped weights. Other platforms report `None`.

/// The device's physical memory, in bytes (`None` where it cannot be read): no allocation
/// larger than this can ever be backed.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
pub fn physical_bytes() -> Option<u64> {
    // SAFETY: sysconf reads system constants; it takes no pointers and is thread-safe.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let pages = u64::try_from(pages).ok()?;
    let page = u64::try_from(page).ok()?;
    pages.checked_mul(page).filter(|&bytes| bytes > 0)
}

/// The device's physical memory, in bytes (`None`: not known on this platform).
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
pub fn physical_bytes() -> Option<u64> {
    None
}

/// Hands the allocator's free memory back to the OS. glibc keeps freed heap memory for reuse
/// (a process that dropped its sessions stays at its peak resident size until then);
/// `malloc_trim(0)` returns every free page. Elsewhere a no-op: Android's and Apple's
/// allocators return free pages by themselves.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`resident_bytes`] and [`peak_resident_bytes`] read together, the peak raised to at least
/// the current figure: the two come from different kernel counters (statm, `VmHWM`), which
/// another thread's allocations between the reads can put out of order.
pub fn resident_and_peak_bytes() -> (Option<u64>, Option<u64>) {
    let now = resident_bytes();
    let peak = peak_resident_bytes().map(|peak| now.map_or(peak, |now| peak.max(now)));
    (now, peak)
}

/// Resident memory of this process now, in bytes (`None` where it cannot be read).
#[cfg(not(target_vendor = "apple"))]
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // statm: size resident shared text lib data dt, in pages.
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Peak resident memory of this process so far, in bytes (`None` where it cannot be read).
#[cfg(not(target_vendor = "apple"))]
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory this process holds that the OS cannot reclaim by dropping clean file pages, in
/// bytes: `RssAnon` (anonymous pages: heap, stacks, KV caches, a re-quantised head) on Linux
/// and Android, where mapped weights are file pages; `None` where it cannot be read.
#[cfg(not(target_vendor = "apple"))]
pub fn footprint_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The page size `statm` counts in, in bytes: the mapping granule of `/proc/self/smaps`'s
/// first entry (`KernelPageSize`), else 4096.
#[cfg(not(target_vendor = "apple"))]
fn page_size() -> u64 {
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("KernelPageSize:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(4096)
}

/// Physical footprint of this process now, in bytes (`None` where it cannot be read).
#[cfg(target_vendor = "apple")]
pub fn resident_bytes() -> Option<u64> {
    apple::task_vm_info().map(|info| info.phys_footprint)
}

/// Memory this process holds that the OS cannot reclaim by dropping clean file pages, in
/// bytes: the physical footprint, what iOS's memory limit applies to (`None` where it cannot
/// be read).
#[cfg(target_vendor = "apple")]
pub fn footprint_bytes() -> Option<u64> {
    resident_bytes()
}

/// Peak physical footprint of this process so far, in bytes (`None` where it cannot be read).
#[cfg(target_vendor = "apple")]
pub fn peak_resident_bytes() -> Option<u64> {
    apple::task_vm_info().and_then(|info| u64::try_from(info.ledger_phys_footprint_peak).ok())
}

#[cfg(target_vendor = "apple")]
mod apple {
    /// The leading fields of `<mach/task_info.h>`'s `task_vm_info` up to revision 3
    /// (`ledger_phys_footprint_peak`); libc does not declare the struct.
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct TaskVmInfo {
        _virtual_size: u64,
        _region_count: i32,
        _page_size: i32,
        _resident_size: u64,
        _resident_size_peak: u64,
        /// `device` … `compressed_lifetime`: counters not read here.
        _counters: [u64; 14],
        pub(super) phys_footprint: u64,
        _min_address: u64,
        _max_address: u64,
        pub(super) ledger_phys_footprint_peak: i64,
    }

    /// `TASK_VM_INFO` from `<mach/task_info.h>`.
    const TASK_VM_INFO: libc::task_flavor_t = 22;

    /// This task's VM info, `None` when the call fails or the kernel's struct is older than
    /// revision 3.
    pub(super) fn task_vm_info() -> Option<TaskVmInfo> {
        let mut info = TaskVmInfo::default();
        let words = std::mem::size_of::<TaskVmInfo>() / std::mem::size_of::<libc::natural_t>();
        let mut count = words as libc::mach_msg_type_number_t;
        // SAFETY: `info` is a repr(C) prefix of task_vm_info and `count` its size in natural_t
        // words, so the kernel writes at most that many words into it; the task port is our
        // own.
        #[allow(deprecated)] // libc points to the mach2 crate; this one call does not need it.
        let rc = unsafe {
            libc::task_info(
                libc::mach_task_self(),
                TASK_VM_INFO,
                (&raw mut info).cast(),
                &mut count,
            )
        };
        (rc == libc::KERN_SUCCESS && count as usize >= words).then_some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_and_peak_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let now = resident_bytes().expect("statm");
            let peak = peak_resident_bytes().expect("VmHWM");
            assert!(now > 0 && peak > 0);
            // Touch 64 MiB: both readings grow by most of it.
            let block = vec![1u8; 64 << 20];
            std::hint::black_box(&block);
            assert!(resident_bytes().expect("statm") >= now + (32 << 20));
            assert!(peak_resident_bytes().expect("VmHWM") >= now + (32 << 20));
        }
    }

    #[test]
    fn the_footprint_counts_anonymous_memory_on_linux() {
        if cfg!(target_os = "linux") {
            // Other tests allocate and free meanwhile, so no difference of two readings is
            // reliable; the touched block itself is surely counted.
            let block = vec![1u8; 128 << 20];
            std::hint::black_box(&block);
            let held = footprint_bytes().expect("RssAnon");
            assert!(held >= 128 << 20, "{held} bytes");
        }
    }
}

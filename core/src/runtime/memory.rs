//! The process's resident memory, as the OS counts it against the app.
//!
//! Linux and Android: `/proc/self/statm` (current resident pages) and `/proc/self/status`
//! (`VmHWM`, the peak). Other platforms report `None` until their reader lands (Apple:
//! `task_info` / `phys_footprint`).

/// Resident memory of this process now, in bytes (`None` where it cannot be read).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // statm: size resident shared text lib data dt, in pages.
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Peak resident memory of this process so far, in bytes (`None` where it cannot be read).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The page size `statm` counts in, in bytes: the mapping granule of `/proc/self/smaps`'s
/// first entry (`KernelPageSize`), else 4096.
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
}

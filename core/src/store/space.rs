//! Free space on the file system holding a directory.

use std::path::Path;

/// Bytes an unprivileged process may still write on the file system holding `dir`; `None`
/// where the platform does not say.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
pub(super) fn available_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: all-zero is a valid value of this plain C struct, which statvfs fills in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid out-pointer, both live
    // for the call.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    let (blocks, size) = (u64::from(stat.f_bavail), u64::from(stat.f_frsize));
    Some(blocks.saturating_mul(size))
}

/// Bytes an unprivileged process may still write on the file system holding `dir`; `None`
/// where the platform does not say.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
pub(super) fn available_bytes(_dir: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg_attr(miri, ignore = "calls statvfs")]
    fn the_temporary_directory_has_some_space() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::available_bytes(dir.path()).is_some_and(|n| n > 0));
    }
}

//! A file mapped read-only (a model; a cached re-quantised head), and the check that it is
//! still the file that was mapped.
//!
//! Weights are read in place from the map, so the file must stay as it was while loaded. Two
//! ways it can change are caught: a truncation that a read runs into (the SIGBUS it raises is
//! turned into zero-filled pages and a mark, see [`sigbus`](super::sigbus)), and any change of
//! length or modification time, seen by `fstat` on the open descriptor. A file replaced by a
//! rename is not a change: the map holds the old file, which stays intact.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use memmap2::Mmap;

use super::sigbus::{self, Registration};
use super::{FileChange, GgufError};

/// A read-only map of a whole file, registered with the SIGBUS handler.
#[derive(Debug)]
pub(crate) struct Mapping {
    // Dropped first: the handler forgets the range before the map is unmapped.
    registration: Option<Registration>,
    map: Mmap,
    file: File,
    path: PathBuf,
    opened: Stamp,
}

/// What `fstat` says of the file: compared on every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(file: &File) -> std::io::Result<Stamp> {
        let meta = file.metadata()?;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

impl Mapping {
    /// Maps the regular file at `path` read-only.
    pub(crate) fn open(path: &Path) -> Result<Mapping, GgufError> {
        let io_err = |error| GgufError::Io {
            path: path.to_owned(),
            error,
        };
        let file = File::open(path).map_err(io_err)?;
        let opened = Stamp::of(&file).map_err(io_err)?;
        // SAFETY: the map is read-only and private; it is only read through shared slices.
        // Pages the file loses while mapped read as zeros instead of raising SIGBUS (the
        // registration below), and `check` reports that and every other change.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        let registration = sigbus::register(map.as_ptr(), map.len());
        Ok(Mapping {
            registration,
            map,
            file,
            path: path.to_owned(),
            opened,
        })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The path the file was opened at.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` while the file is as it was mapped; [`GgufError::FileChanged`] from the first read
    /// that found pages missing, or once its length or modification time differs.
    pub(crate) fn check(&self) -> Result<(), GgufError> {
        let change = if self
            .registration
            .as_ref()
            .is_some_and(Registration::faulted)
        {
            Some(FileChange::Truncated)
        } else {
            match Stamp::of(&self.file) {
                Ok(now) if now == self.opened => None,
                Ok(now) if now.len != self.opened.len => Some(FileChange::Resized {
                    opened: self.opened.len,
                    now: now.len,
                }),
                Ok(_) => Some(FileChange::Modified),
                Err(_) => Some(FileChange::Unreadable),
            }
        };
        match change {
            None => Ok(()),
            Some(change) => Err(GgufError::FileChanged {
                path: self.path.clone(),
                change,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_of(len: usize) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&vec![7u8; len]).unwrap();
        file.flush().unwrap();
        file
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps files and installs a signal handler")]
    fn an_untouched_file_passes() {
        let file = file_of(3 * 4096);
        let mapping = Mapping::open(file.path()).unwrap();
        assert!(mapping.check().is_ok());
        assert!(mapping.bytes().iter().all(|&b| b == 7));
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    #[cfg_attr(miri, ignore = "maps files and installs a signal handler")]
    fn pages_cut_off_while_mapped_read_as_zeros_and_are_reported() {
        let page = 4096 * 4; // a multiple of every page size in use (4 and 16 KiB)
        let file = file_of(4 * page);
        let mapping = Mapping::open(file.path()).unwrap();
        file.as_file().set_len(page as u64).unwrap();
        // Without the handler this read would raise SIGBUS and end the test binary.
        let tail = std::hint::black_box(mapping.bytes()[2 * page]);
        assert_eq!(tail, 0);
        assert_eq!(
            mapping.bytes()[page - 1],
            7,
            "pages before the cut are the file's"
        );
        match mapping.check() {
            Err(GgufError::FileChanged {
                change: FileChange::Truncated,
                ..
            }) => {}
            other => panic!("expected a truncation, got {other:?}"),
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps files and installs a signal handler")]
    fn a_new_length_is_reported() {
        let file = file_of(4096);
        let mapping = Mapping::open(file.path()).unwrap();
        file.as_file().set_len(8192).unwrap();
        match mapping.check() {
            Err(GgufError::FileChanged {
                change: FileChange::Resized { opened, now },
                ..
            }) => assert_eq!((opened, now), (4096, 8192)),
            other => panic!("expected a new length, got {other:?}"),
        }
    }
}

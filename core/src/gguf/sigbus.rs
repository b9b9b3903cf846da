//! Survives a mapped model file shrinking underneath the engine.
//!
//! Reading a page of a file mapping that lies past the file's end raises SIGBUS, whose default
//! action ends the process. Model weights are read in place from a map, so another process (or
//! the app, re-downloading in place) truncating the file would kill the app. Every map a
//! [`GgufFile`](super::GgufFile) makes is registered here; on SIGBUS at an address inside one,
//! the handler replaces the map's pages from the faulting one to its end with zero-filled
//! anonymous pages (so the read resumes and reads zeros), and marks the registration
//! [`faulted`](Registration::faulted). The engine checks that mark after every forward pass
//! and reports the change as an error. Any other SIGBUS goes to the handler that was installed
//! before ours (on Android the runtime's chain; by default the process ends, as without us).
//!
//! The handler only reads atomics and makes one `mmap` system call, which does not touch the
//! heap or locks. Registrations live in a fixed table of [`SLOTS`]; a map registered while
//! the table is full is not protected (reported by [`register`] returning `None`).

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

/// Maps that can be protected at once: far more models than a device keeps loaded.
pub(super) const SLOTS: usize = 64;

/// One registered map. `start`/`len` are written under a sequence lock (`seq` odd while they
/// change) so the handler never pairs one map's start with another's length.
struct Slot {
    taken: AtomicBool,
    seq: AtomicUsize,
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            taken: AtomicBool::new(false),
            seq: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            faulted: AtomicBool::new(false),
        }
    }

    /// Publishes `[start, start + len)` (len 0 = nothing) for the handler.
    fn publish(&self, start: usize, len: usize) {
        self.seq.fetch_add(1, Ordering::AcqRel);
        self.start.store(start, Ordering::Relaxed);
        self.len.store(len, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
    }

    /// The published range, if one is published and was not being changed while read.
    fn range(&self) -> Option<(usize, usize)> {
        let before = self.seq.load(Ordering::Acquire);
        let (start, len) = (
            self.start.load(Ordering::Relaxed),
            self.len.load(Ordering::Relaxed),
        );
        fence(Ordering::Acquire);
        let stable = before.is_multiple_of(2) && self.seq.load(Ordering::Relaxed) == before;
        (stable && len > 0).then_some((start, len))
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

/// A map's place in the table, released on drop (before the map is unmapped: a field of the
/// owner declared after the map, or dropped first).
#[derive(Debug)]
pub(super) struct Registration {
    slot: &'static Slot,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("range", &self.range())
            .field("faulted", &self.faulted.load(Ordering::Relaxed))
            .finish()
    }
}

impl Registration {
    /// Whether a read of the map found pages missing (the file shrank); sticky.
    pub(super) fn faulted(&self) -> bool {
        self.slot.faulted.load(Ordering::Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.slot.publish(0, 0);
        self.slot.faulted.store(false, Ordering::Relaxed);
        self.slot.taken.store(false, Ordering::Release);
    }
}

/// Registers the map of `len` bytes at `start`, installing the handler on first use; `None`
/// when the table is full or the platform has no handler.
pub(super) fn register(start: *const u8, len: usize) -> Option<Registration> {
    if len == 0 || !platform::install() {
        return None;
    }
    let slot = TABLE.iter().find(|slot| {
        slot.taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    })?;
    slot.faulted.store(false, Ordering::Relaxed);
    slot.publish(start as usize, len);
    Some(Registration { slot })
}

/// The registered map holding `addr`, if any.
fn slot_holding(addr: usize) -> Option<(&'static Slot, usize, usize)> {
    TABLE.iter().find_map(|slot| {
        let (start, len) = slot.range()?;
        (addr >= start && addr - start < len).then_some((slot, start, len))
    })
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
mod platform {
    use std::ptr;
    use std::sync::{Once, OnceLock};

    use libc::{c_int, c_void, siginfo_t};

    use super::*;

    /// The page size (bytes), read when the handler is installed.
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    /// The SIGBUS action in place before ours, which other faults are passed to.
    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
    static INSTALL: Once = Once::new();
    static INSTALLED: AtomicBool = AtomicBool::new(false);

    /// Installs the handler once per process; whether it is in place.
    pub(super) fn install() -> bool {
        INSTALL.call_once(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let Ok(page) = usize::try_from(page) else {
                return;
            };
            PAGE.store(page, Ordering::Relaxed);
            // SAFETY: an all-zero sigaction is a valid value of this plain C struct.
            let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: reads the current action into a valid out-pointer; no action changes.
            if unsafe { libc::sigaction(libc::SIGBUS, ptr::null(), &mut previous) } != 0 {
                return;
            }
            let _ = PREVIOUS.set(previous);
            // SAFETY: as above, all-zero is a valid sigaction to fill in.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            // SAFETY: `action` is fully initialised and its handler has the SA_SIGINFO
            // signature; `sa_mask` stays empty (zeroed = no signal blocked).
            let ok = unsafe { libc::sigaction(libc::SIGBUS, &action, ptr::null_mut()) } == 0;
            INSTALLED.store(ok, Ordering::Release);
        });
        INSTALLED.load(Ordering::Acquire)
    }

    /// The fault address of a SIGBUS.
    ///
    /// # Safety
    /// `info` must be the siginfo the kernel passed to an SA_SIGINFO handler.
    unsafe fn fault_address(info: *const siginfo_t) -> usize {
        #[cfg(target_vendor = "apple")]
        // SAFETY: valid per the contract; Darwin's siginfo has the field directly.
        let addr = unsafe { (*info).si_addr };
        #[cfg(not(target_vendor = "apple"))]
        // SAFETY: valid per the contract; SIGBUS fills si_addr.
        let addr = unsafe { (*info).si_addr() };
        addr as usize
    }

    extern "C" fn on_sigbus(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
        // SAFETY: the kernel calls this SA_SIGINFO handler with its siginfo.
        let addr = unsafe { fault_address(info) };
        if let Some((slot, start, len)) = slot_holding(addr) {
            let page = addr & !(PAGE.load(Ordering::Relaxed) - 1);
            // SAFETY: [page, start + len) lies inside a read-only map that a live GgufFile
            // registered (it unregisters before unmapping), so nothing but its weights is
            // replaced; MAP_FIXED swaps those pages for zero-filled ones atomically.
            let mapped = unsafe {
                libc::mmap(
                    page as *mut c_void,
                    start + len - page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                slot.faulted.store(true, Ordering::Release);
                return;
            }
        }
        forward(signal, info, context);
    }

    /// Hands a SIGBUS that is not ours to the previous action; with none (the default), puts
    /// the default back so the faulting read repeats and ends the process as it would have.
    fn forward(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
        let previous = PREVIOUS.get();
        let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: an all-zero sigaction with SIG_DFL (0) is the default action.
            let default: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: installs a fully initialised action; async-signal-safe.
            unsafe { libc::sigaction(signal, &default, ptr::null_mut()) };
        } else if previous.is_some_and(|p| p.sa_flags & libc::SA_SIGINFO != 0) {
            // SAFETY: the previous action was installed with SA_SIGINFO, so its handler has
            // this signature; it gets the arguments the kernel gave us.
            let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
                unsafe { std::mem::transmute(handler) };
            f(signal, info, context);
        } else {
            // SAFETY: without SA_SIGINFO the previous handler takes the signal number only.
            let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
            f(signal);
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod platform {
    /// No SIGBUS on this platform's terms: nothing to install.
    pub(super) fn install() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "maps files and installs a signal handler")]
    fn a_registration_covers_its_range_until_dropped() {
        let bytes = [0u8; 100];
        let start = bytes.as_ptr() as usize;
        let registration = register(bytes.as_ptr(), bytes.len()).expect("a free slot");
        assert!(slot_holding(start).is_some());
        assert!(slot_holding(start + 99).is_some());
        assert!(slot_holding(start + 100).is_none());
        assert!(!registration.faulted());
        drop(registration);
        assert!(slot_holding(start).is_none());
    }
}

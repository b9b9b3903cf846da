//! Android's JNI entry point. The bindings reach the library through JNA, whose `dlopen` never
//! runs `JNI_OnLoad`; the Kotlin package also loads it with `System.loadLibrary` (androidMain's
//! `AndroidLibrary`) so that the runtime calls [`JNI_OnLoad`] once, which keeps the `JavaVM`
//! for native code that must call into Java and installs the logcat logger.

use std::ffi::c_void;
use std::panic::catch_unwind;
use std::sync::OnceLock;

use jni::sys::{jint, JNI_ERR, JNI_VERSION_1_6};
use jni::JavaVM;

/// The process's Java VM, set by [`JNI_OnLoad`].
static JAVA_VM: OnceLock<JavaVM> = OnceLock::new();

/// The Java VM, once the Android runtime has loaded the library (`None` when only JNA has).
/// Native code that calls into Java attaches its thread through it.
pub fn java_vm() -> Option<&'static JavaVM> {
    JAVA_VM.get()
}

/// Called by the Android runtime when `System.loadLibrary("bitnet_ffi")` loads the library:
/// installs the logcat logger and keeps `vm`. Returns the JNI version the library needs, or
/// `JNI_ERR` (the load then fails with `UnsatisfiedLinkError`).
///
/// # Safety
///
/// `vm` must be the runtime's `JavaVM` pointer (null is rejected), as the runtime passes it.
#[no_mangle]
pub unsafe extern "system" fn JNI_OnLoad(
    vm: *mut jni::sys::JavaVM,
    _reserved: *mut c_void,
) -> jint {
    // Nothing may unwind into the runtime: a panic fails the load instead.
    catch_unwind(|| {
        crate::logging::init();
        // SAFETY: per this function's contract `vm` is the runtime's JavaVM, valid for the
        // life of the process; `from_raw` rejects null.
        match unsafe { JavaVM::from_raw(vm) } {
            Ok(vm) => {
                // A second load of the library (another class loader) keeps the first VM:
                // there is one per process.
                let _ = JAVA_VM.set(vm);
                JNI_VERSION_1_6
            }
            Err(_) => JNI_ERR,
        }
    })
    .unwrap_or(JNI_ERR)
}

//! What the `uniffi` feature adds: the scaffolding that lets the records and enums of this
//! crate cross to Kotlin and Swift as they are declared here (each one derives its uniffi
//! traits behind the feature, next to its fields, docs and defaults), and the two Rust types
//! they use that the bindings have no words for.
//!
//! The bindings crate (`bitnet-ffi`) exports the objects and functions; the generated Kotlin
//! puts these types in the package `dev.bitnet.core`, the Swift ones in the module `BitNet`.

use std::path::PathBuf;

/// A count (tokens, positions, threads, repetitions): Rust's `usize`. It crosses as an
/// unsigned 32-bit integer; a count above 2^32 − 1 reads as 2^32 − 1 on the foreign side.
pub type Count = usize;

uniffi::custom_type!(Count, u32, {
    remote,
    lower: |n| u32::try_from(n).unwrap_or(u32::MAX),
    try_lift: |n| Ok(n as usize),
});

/// A file path: Rust's `PathBuf`. It crosses as a string (a path that is not UTF-8 has its
/// invalid bytes replaced by U+FFFD on the way out).
pub type PathString = PathBuf;

uniffi::custom_type!(PathString, String, {
    remote,
    lower: |p| p.to_string_lossy().into_owned(),
    try_lift: |s| Ok(PathBuf::from(s)),
});

#[cfg(test)]
mod tests {
    use uniffi::{Lift, Lower};

    #[test]
    fn counts_saturate_at_u32_and_read_back_whole() {
        let lower = <usize as Lower<crate::UniFfiTag>>::lower;
        assert_eq!(lower(7), 7);
        assert_eq!(lower(usize::MAX), u32::MAX);
        let lift = <usize as Lift<crate::UniFfiTag>>::try_lift;
        assert_eq!(lift(u32::MAX).unwrap(), u32::MAX as usize);
    }
}

//! `uniffi-bindgen`: generates the Kotlin and Swift bindings from the built `bitnet_ffi`
//! library (`generate --library target/<profile>/libbitnet_ffi.so --language kotlin|swift`).
//! A separate crate so the generator's dependencies never reach the mobile libraries.

fn main() {
    uniffi::uniffi_bindgen_main()
}

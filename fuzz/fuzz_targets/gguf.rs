//! Any bytes as a GGUF file: an accepted file's metadata, tensor views and rewrite must be
//! consistent (see `bitnet_fuzz::gguf`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitnet_fuzz::gguf::run(data));

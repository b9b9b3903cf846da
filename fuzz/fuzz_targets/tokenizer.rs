//! Arbitrary text and token ids through the demo tokenizer: round trips, streaming decode,
//! content ranges, invalid ids (see `bitnet_fuzz::tokenizer`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitnet_fuzz::tokenizer::run(data));

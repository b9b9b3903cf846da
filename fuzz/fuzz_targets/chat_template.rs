//! Arbitrary conversations through both chat templates and the demo tokenizer: content ranges
//! and control tokens (see `bitnet_fuzz::chat_template`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitnet_fuzz::chat_template::run(data));

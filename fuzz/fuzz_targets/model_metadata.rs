//! Hostile model files, raw or as edits to a minimal valid model, through the config, the
//! tokenizer, the plan, loading and a forward pass (see `bitnet_fuzz::model_metadata`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitnet_fuzz::model_metadata::run(data));

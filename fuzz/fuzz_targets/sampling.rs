//! Arbitrary sampling parameters, logits and recent ids through the sampler: ids in range,
//! typed errors only (see `bitnet_fuzz::sampling`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitnet_fuzz::sampling::run(data));

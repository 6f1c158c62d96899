#![no_main]
//! Fuzz target `amf3`: see `klive_fuzz::amf3` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::amf3(data));

#![no_main]
//! Fuzz target `amf0`: see `klive_fuzz::amf0` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::amf0(data));

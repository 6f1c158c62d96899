#![no_main]
//! Fuzz target `aac`: see `klive_fuzz::aac` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::aac(data));

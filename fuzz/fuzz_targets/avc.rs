#![no_main]
//! Fuzz target `avc`: see `klive_fuzz::avc` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::avc(data));

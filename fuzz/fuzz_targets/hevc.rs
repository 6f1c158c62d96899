#![no_main]
//! Fuzz target `hevc`: see `klive_fuzz::hevc` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::hevc(data));

#![no_main]
//! Fuzz target `chunk`: see `klive_fuzz::chunk` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::chunk(data));

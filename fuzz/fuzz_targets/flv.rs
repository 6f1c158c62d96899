#![no_main]
//! Fuzz target `flv`: see `klive_fuzz::flv` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::flv(data));

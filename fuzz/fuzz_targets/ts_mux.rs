#![no_main]
//! Fuzz target `ts_mux`: see `klive_fuzz::ts_mux` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::ts_mux(data));

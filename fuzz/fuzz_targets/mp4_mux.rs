#![no_main]
//! Fuzz target `mp4_mux`: see `klive_fuzz::mp4_mux` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::mp4_mux(data));

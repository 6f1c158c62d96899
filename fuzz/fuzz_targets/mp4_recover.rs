#![no_main]
//! Fuzz target `mp4_recover`: see `klive_fuzz::mp4_recover` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::mp4_recover(data));

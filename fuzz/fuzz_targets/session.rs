#![no_main]
//! Fuzz target `session`: see `klive_fuzz::session` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::session(data));

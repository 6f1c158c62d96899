#![no_main]
//! Fuzz target `handshake`: see `klive_fuzz::handshake` for what it drives and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| klive_fuzz::handshake(data));

#![no_main]
//! libFuzzer entry point of `selector`; the body is `rrd_fuzz::selector`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::selector::run(data));

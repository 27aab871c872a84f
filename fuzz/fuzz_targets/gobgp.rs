#![no_main]
//! libFuzzer entry point of `gobgp`; the body is `rrd_fuzz::gobgp`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::gobgp::run(data));

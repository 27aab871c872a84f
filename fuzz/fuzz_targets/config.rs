#![no_main]
//! libFuzzer entry point of `config`; the body is `rrd_fuzz::config`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::config::run(data));

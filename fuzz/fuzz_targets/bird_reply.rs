#![no_main]
//! libFuzzer entry point of `bird_reply`; the body is `rrd_fuzz::bird_reply`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::bird_reply::run(data));

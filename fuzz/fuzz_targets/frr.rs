#![no_main]
//! libFuzzer entry point of `frr`; the body is `rrd_fuzz::frr`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::frr::run(data));

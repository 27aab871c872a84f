#![no_main]
//! libFuzzer entry point of `calico_v1`; the body is `rrd_fuzz::calico_v1`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::calico_v1::run(data));

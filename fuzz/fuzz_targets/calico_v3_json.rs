#![no_main]
//! libFuzzer entry point of `calico_v3_json`; the body is `rrd_fuzz::calico_v3_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::calico_v3_json::run(data));

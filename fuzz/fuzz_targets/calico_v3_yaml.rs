#![no_main]
//! libFuzzer entry point of `calico_v3_yaml`; the body is `rrd_fuzz::calico_v3_yaml`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::calico_v3_yaml::run(data));

#![no_main]
//! libFuzzer entry point of `source_file`; the body is `rrd_fuzz::source_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rrd_fuzz::source_file::run(data));

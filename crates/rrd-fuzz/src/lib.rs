//! The bodies of rrd's fuzz targets, one module per parser.
//!
//! `fuzz/` (cargo-fuzz, nightly, its own workspace) wraps each [`Target`]
//! in a libFuzzer entry point; `tests/corpus_replay.rs` runs every file of
//! `fuzz/corpus/<name>/` through the same functions on the stable
//! toolchain, so a regression on an input the fuzzer once found shows in
//! the normal test suite. A body panics when a property fails: besides "no
//! panic", each checks what is cheap to check (a decode -> encode -> decode
//! round trip, agreement between two decoders of the same data).

pub mod bird_reply;
pub mod calico_v1;
pub mod calico_v3_json;
pub mod calico_v3_yaml;
pub mod config;
pub mod frr;
pub mod gobgp;
pub mod selector;
pub mod source_file;

/// One fuzz target: its name (the folder of its corpus and the file name
/// under `fuzz/fuzz_targets/`) and its body.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "calico_v1",
        run: calico_v1::run,
    },
    Target {
        name: "calico_v3_json",
        run: calico_v3_json::run,
    },
    Target {
        name: "calico_v3_yaml",
        run: calico_v3_yaml::run,
    },
    Target {
        name: "selector",
        run: selector::run,
    },
    Target {
        name: "bird_reply",
        run: bird_reply::run,
    },
    Target {
        name: "config",
        run: config::run,
    },
    Target {
        name: "source_file",
        run: source_file::run,
    },
    Target {
        name: "gobgp",
        run: gobgp::run,
    },
    Target {
        name: "frr",
        run: frr::run,
    },
];

/// The input up to the first NUL byte and the rest (empty without one):
/// how targets that read two documents take them from one input.
pub(crate) fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

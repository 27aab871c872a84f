//! Every file of every fuzz corpus (`fuzz/corpus/<target>/`) through its
//! target's body, on the stable toolchain: an input the fuzzer once found
//! (a crash, now fixed, or a new path) fails this test if it regresses.

use std::path::PathBuf;

use rrd_fuzz::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_target_has_a_corpus_and_a_libfuzzer_entry_point() {
    let targets_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for t in TARGETS {
        let files = std::fs::read_dir(corpus_dir(t.name))
            .unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name))
            .count();
        assert!(files > 0, "the corpus of {} is empty", t.name);
        let entry = std::fs::read_to_string(targets_dir.join(format!("{}.rs", t.name)))
            .unwrap_or_else(|e| panic!("fuzz target {}: {e}", t.name));
        assert!(
            entry.contains(&format!("rrd_fuzz::{}::run", t.name)),
            "fuzz/fuzz_targets/{}.rs does not call rrd_fuzz::{}::run",
            t.name,
            t.name
        );
    }
}

#[test]
fn every_corpus_file_passes_its_target() {
    let mut replayed = 0;
    for t in TARGETS {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir(t.name))
            .unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                // A fuzzer working on this corpus reduces files in place.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let outcome = std::panic::catch_unwind(|| (t.run)(&data));
            assert!(
                outcome.is_ok(),
                "{} fails on {} (replay: cd fuzz && cargo +nightly fuzz run {} {})",
                t.name,
                path.display(),
                t.name,
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed > 0);
}

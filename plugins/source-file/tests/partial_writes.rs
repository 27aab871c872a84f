//! What a half-written or hostile topology file does: an empty or
//! truncated-to-nothing file keeps the last good topology unless it says
//! it is empty on purpose; text too large or nested too deep is refused
//! (naming the file and the limit) before any parser sees it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rrd_core::{EventSink, PeerSource, SourceEvent};
use rrd_source_file::{FileConfig, FileLayout, FileSource, EMPTY_MARKER};
use tokio::sync::mpsc;

const SEED: &str = "rules = \"legacy\"\n\
    [[route_reflectors]]\nip = \"198.51.100.10\"\ncluster_id = \"1.0.0.1\"\n\
    [[nodes]]\nname = \"n1\"\nipv4 = \"198.51.100.21\"\n\
    [[nodes]]\nname = \"n2\"\nipv4 = \"198.51.100.22\"\n\
    [[peers]]\nip = \"198.51.100.10\"\nasn = 64512\n";

fn source(path: &Path, layout: FileLayout) -> FileSource {
    FileSource::new(FileConfig {
        path: path.to_owned(),
        poll_interval: Duration::from_millis(20),
        layout,
    })
}

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn next(rx: &mut mpsc::Receiver<SourceEvent>) -> SourceEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10s")
        .expect("source running")
}

fn topology_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[tokio::test]
async fn an_empty_file_keeps_the_last_good_topology_until_it_says_it_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = topology_file(&dir, "topology.toml");
    replace(&path, SEED);
    let (sink, mut rx) = EventSink::channel(16);
    let task = tokio::spawn(source(&path, FileLayout::Canonical).watch(sink));
    let SourceEvent::Snapshot(t) = next(&mut rx).await else {
        panic!("first event is the snapshot")
    };
    assert_eq!(t.nodes.len(), 2);

    // 0 bytes, blank lines, and a file cut after its first line: each is
    // taken for a partial write, named, and changes nothing.
    for partial in ["", "\n  \n", "rules = \"legacy\"\n"] {
        replace(&path, partial);
        match next(&mut rx).await {
            SourceEvent::Rejected { key, reason } => {
                assert_eq!(key, path.display().to_string());
                assert!(reason.contains("empty topology"), "{reason}");
                assert!(reason.contains(EMPTY_MARKER), "{reason}");
            }
            other => panic!("{partial:?} must be refused, got {other:?}"),
        }
    }
    // Back to the same good text: nothing to change, the rejection resolved.
    replace(&path, SEED);
    match next(&mut rx).await {
        SourceEvent::Resolved { key } => assert_eq!(key, path.display().to_string()),
        other => panic!("a good file again resolves the rejection, got {other:?}"),
    }
    // Empty on purpose: every entry goes.
    replace(&path, &format!("{EMPTY_MARKER}\nrules = \"legacy\"\n"));
    match next(&mut rx).await {
        SourceEvent::Changes(changes) => assert_eq!(changes.len(), 4, "{changes:?}"),
        other => panic!("the marked empty file applies, got {other:?}"),
    }
    task.abort();
}

#[tokio::test]
async fn a_0_byte_file_is_refused_by_a_single_read() {
    let dir = tempfile::tempdir().unwrap();
    for (name, layout) in [
        ("topology.toml", FileLayout::Canonical),
        ("topology.yaml", FileLayout::Canonical),
        ("calico.yaml", FileLayout::CalicoV3),
    ] {
        let path = topology_file(&dir, name);
        replace(&path, "");
        let err = source(&path, layout).snapshot().await.unwrap_err();
        assert!(err.to_string().contains("empty topology (0 bytes"), "{err}");
        replace(&path, &format!("{EMPTY_MARKER}\n"));
        let t = source(&path, layout).snapshot().await.unwrap();
        assert!(t.nodes.is_empty() && t.peers.is_empty());
    }
}

#[tokio::test]
async fn deep_nesting_is_refused_naming_the_file_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for (name, layout, text) in [
        ("t.yaml", FileLayout::Canonical, format!("nodes: {deep}\n")),
        ("t.toml", FileLayout::Canonical, format!("nodes = {deep}\n")),
        (
            "c.yaml",
            FileLayout::CalicoV3,
            format!("kind: Node\nspec: {deep}\n"),
        ),
    ] {
        let path = topology_file(&dir, name);
        replace(&path, &text);
        let err = source(&path, layout).snapshot().await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("more than 64 levels deep"), "{text}");
    }
}

#[tokio::test]
async fn a_file_larger_than_the_limit_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = topology_file(&dir, "topology.toml");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: no disk space used.
    file.set_len(rrd_layouts::limits::MAX_INPUT_BYTES + 1)
        .unwrap();
    let err = source(&path, FileLayout::Canonical)
        .snapshot()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("67108865 bytes is more than the 67108864 bytes"),
        "{text}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
}

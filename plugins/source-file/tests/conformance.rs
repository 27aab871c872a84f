//! The file source against the shared source conformance suite, with the
//! file rewritten the way editors and config managers do (atomic rename).

use std::path::PathBuf;
use std::time::Duration;

use rrd_core::testing::conformance::{source_suite, SourceFixture};
use rrd_core::{Asn, NodeSelector, PeerMatch, Topology};
use rrd_source_file::{FileConfig, FileSource};

struct FileFixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// Write a topology in the file format (the inverse of `format::parse`).
fn to_toml(t: &Topology) -> String {
    let mut out = String::from("rules = \"legacy\"\n");
    if let Some(asn) = t.defaults.asn {
        out += &format!(
            "[defaults]\nasn = {asn}\nnode_mesh = {}\n",
            t.defaults.node_mesh
        );
    } else if !t.defaults.node_mesh {
        out += "[defaults]\nnode_mesh = false\n";
    }
    for rr in t.route_reflectors.values() {
        out += &format!("[[route_reflectors]]\nip = \"{}\"\n", rr.ip);
        if let Some(c) = rr.cluster_id {
            out += &format!("cluster_id = \"{c}\"\n");
        }
    }
    for n in t.nodes.values() {
        out += &format!("[[nodes]]\nname = \"{}\"\n", n.name);
        if let Some(ip) = n.ipv4 {
            out += &format!("ipv4 = \"{ip}\"\n");
        }
    }
    for p in t.peers.values() {
        let PeerMatch::Ip { addr, .. } = &p.peer else {
            panic!("legacy peers only")
        };
        out += &format!("[[peers]]\nip = \"{addr}\"\n");
        if let Some(Asn(a)) = p.asn {
            out += &format!("asn = {a}\n");
        }
        if let NodeSelector::Named(n) = &p.nodes {
            out += &format!("node = \"{n}\"\n");
        }
    }
    out
}

impl FileFixture {
    fn replace(&self, text: &str) {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }
}

impl SourceFixture for FileFixture {
    type Source = FileSource;

    fn source(&mut self) -> FileSource {
        FileSource::new(FileConfig {
            path: self.path.clone(),
            poll_interval: Duration::from_millis(50),
            layout: rrd_source_file::FileLayout::Canonical,
        })
    }

    async fn write(&mut self, topology: &Topology) {
        self.replace(&to_toml(topology));
    }

    async fn write_invalid(&mut self) -> String {
        let mut text = std::fs::read_to_string(&self.path).unwrap();
        text += "[[nodes]]\nname = \"broken\"\nipv4 = \"not-an-ip\"\n";
        self.replace(&text);
        self.path.display().to_string()
    }
}

#[tokio::test]
async fn file_source_passes_the_source_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topology.toml");
    let mut fixture = FileFixture { _dir: dir, path };
    source_suite(&mut fixture).await;
}

#[tokio::test]
async fn missing_file_is_unreachable_not_empty() {
    let mut source = FileSource::new(FileConfig::new("/nonexistent/rrd/topology.toml"));
    let err = rrd_core::PeerSource::snapshot(&mut source)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/rrd/topology.toml"),
        "{err}"
    );
}

//! A file of Calico v3 resources (as `calicoctl get -o yaml` prints them)
//! read through the file source gives Calico's sessions; a bad object is
//! skipped and named, the rest still applies.

use rrd_core::{compute, EventSink, PeerSource, RrIdentity, SourceEvent};
use rrd_source_file::{FileConfig, FileLayout, FileSource};

const RESOURCES: &str = r#"
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { nodeToNodeMeshEnabled: false, asNumber: 64512 }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: rr1, labels: { route-reflector: "true" } }
spec: { bgp: { ipv4Address: 198.51.100.10/24, routeReflectorClusterID: 1.0.0.1 } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: w1 }
spec: { bgp: { ipv4Address: 198.51.100.21/24 } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: w2 }
spec: { bgp: { ipv4Address: 198.51.100.22/24 } }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-rrs }
spec: { nodeSelector: all(), peerSelector: route-reflector == 'true' }
"#;

const BROKEN: &str = r#"
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: broken }
spec: { nodeSelector: "has(", peerIP: 198.51.100.99 }
"#;

fn source(path: std::path::PathBuf) -> FileSource {
    FileSource::new(FileConfig {
        layout: FileLayout::CalicoV3,
        ..FileConfig::new(path)
    })
}

#[tokio::test]
async fn calico_v3_resources_file_gives_calico_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    std::fs::write(&path, RESOURCES).unwrap();
    let topology = source(path).snapshot().await.unwrap();
    let rr = RrIdentity {
        node_name: Some("rr1".into()),
        ..RrIdentity::default()
    };
    let out = compute(&topology, &rr).unwrap();
    let names: Vec<_> = out.config.neighbors.keys().map(|k| k.0.as_str()).collect();
    assert_eq!(names, ["Node_198_51_100_21", "Node_198_51_100_22"]);
    assert!(out
        .config
        .neighbors
        .values()
        .all(|n| n.role.cluster_id().map(|c| c.to_string()) == Some("1.0.0.1".into())));
}

#[tokio::test]
async fn a_bad_object_is_named_and_skipped_while_the_rest_applies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    std::fs::write(&path, format!("{RESOURCES}{BROKEN}")).unwrap();
    let (sink, mut rx) = EventSink::channel(16);
    let task = tokio::spawn(source(path).watch(sink));
    let mut rejected = None;
    let mut snapshot = None;
    while rejected.is_none() || snapshot.is_none() {
        match tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            SourceEvent::Rejected { reason, .. } => rejected = Some(reason),
            SourceEvent::Snapshot(t) => snapshot = Some(t),
            _ => {}
        }
    }
    assert!(rejected.unwrap().contains("broken"));
    assert_eq!(snapshot.unwrap().nodes.len(), 3);
    task.abort();
}

//! Nodes are read as `PartialObjectMetadata`: Calico's annotations and the
//! labels are all rrd needs, and a Node's status is most of its size (at
//! 100,000 nodes, most of the list). A server that ignores the projection
//! and sends whole Nodes works the same.

mod common;

use common::{requests_for, watch, WITHIN};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_source_kubernetes::testing::{expected_for, KubernetesFixture, Resource};

async fn nodes_decode_the_same(metadata_projection: bool) {
    let f = KubernetesFixture::start().await;
    f.server
        .with_state(|s| s.metadata_projection = metadata_projection);
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
    f.write_topology(&seed_grown());
    w.converge(&expected_for(&seed_grown()), WITHIN).await;

    let nodes = requests_for(&f.server, Resource::Nodes);
    assert!(nodes.iter().any(|r| r.is_watch()));
    for r in &nodes {
        let want = if r.is_watch() {
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        } else {
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        };
        assert_eq!(r.accept, want);
    }
    for r in requests_for(&f.server, Resource::BgpPeers) {
        assert!(
            !r.accept.contains("PartialObjectMetadata"),
            "CRDs are read whole: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_listed_and_watched_as_partial_object_metadata() {
    nodes_decode_the_same(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_sends_whole_nodes_works_the_same() {
    nodes_decode_the_same(false).await;
}

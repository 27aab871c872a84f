//! Lost watch history: etcd v2 clears event indexes older than its last
//! 1000 events (error 401), etcd v3 compacts revisions. Either way the
//! source must re-read, say so, and converge on the right topology.
//!
//! The source is held right after its first read by a channel of capacity
//! one that the test does not drain (the `Connected` status fills it, the
//! snapshot waits): its watch then starts from an index/revision that the
//! test makes stale before letting it go.

mod common;

use std::time::Duration;

use common::{is_resyncing, watch};
use rrd_core::testing::fixtures;
use rrd_core::{Node, Topology};
use rrd_source_etcd::testing::EtcdFixture;
use rrd_source_etcd::{EtcdApi, Layout};

fn with_bulk_nodes(mut t: Topology, n: u32) -> Topology {
    for i in 0..n {
        let name = format!("bulk-{i}");
        let mut node = Node::new(&name);
        node.ipv4 = Some(std::net::Ipv4Addr::from(0xC612_0000 + i + 1)); // 198.18.0.0/15
        t.nodes.insert(name, node);
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleared_v2_event_index_leads_to_a_re_read_that_converges() {
    let f = EtcdFixture::start(EtcdApi::V2, Layout::CalicoV1).await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut w = watch(f.config.clone(), 1);
    w.wait_until_buffered(1, Duration::from_secs(15)).await;

    // 1100 writes (> the 1000 events etcd v2 keeps) while the source waits.
    let target = with_bulk_nodes(fixtures::seed(), 1100);
    f.write_kvs(f.calico_v1_kvs(&target)).await;

    w.converge(&target, Duration::from_secs(60)).await;
    let resync = w.log.iter().find(|e| is_resyncing(e)).cloned();
    let text = format!("{resync:?}");
    assert!(
        text.contains("cleared"),
        "expected a Resyncing status naming the cleared index, got {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_compaction_past_the_watch_revision_leads_to_a_re_read_that_converges() {
    let f = EtcdFixture::start(EtcdApi::V3, Layout::CalicoV1).await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut w = watch(f.config.clone(), 1);
    w.wait_until_buffered(1, Duration::from_secs(15)).await;

    let mut target = with_bulk_nodes(fixtures::seed(), 50);
    target.nodes.remove("kube-master");
    f.write_kvs(f.calico_v1_kvs(&target)).await;
    let mut client = f.server.v3_client().await;
    let rev = client
        .get("/", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    client.compact(rev, None).await.unwrap();

    w.converge(&target, Duration::from_secs(60)).await;
    let text = format!("{:?}", w.log.iter().find(|e| is_resyncing(e)));
    assert!(
        text.contains("compacted"),
        "expected a Resyncing status naming the compaction, got {text}"
    );
}

//! The seed replayed: the keys calicoctl and the README's curl left in
//! etcd for the blog post's cluster, written through the v2 API (as they
//! were) and through the v3 API (as after an etcd v2 -> v3 migration).

use rrd_core::testing::fixtures;
use rrd_core::{EventSink, PeerSource, SourceEvent, Topology};
use rrd_source_etcd::testing::EtcdFixture;
use rrd_source_etcd::{EtcdApi, Layout};

/// calicoctl (pycalico) wrote JSON with `json.dumps` spacing; the README's
/// curl wrote it compact.
async fn replay_seed(f: &EtcdFixture) {
    for (name, addr) in [
        ("kube-master", "172.17.42.30"),
        ("kube-node1", "172.17.42.31"),
        ("kube-node2", "172.17.42.32"),
    ] {
        // `calicoctl node` on each host.
        f.kv.put(&f.key(&format!("host/{name}/ip_addr_v4")), addr)
            .await
            .unwrap();
        f.kv.put(&f.key(&format!("host/{name}/ip_addr_v6")), "")
            .await
            .unwrap();
    }
    // `calicoctl bgp node-mesh off`
    f.kv.put(&f.key("global/node_mesh"), r#"{"enabled": false}"#)
        .await
        .unwrap();
    // curl -XPUT .../v2/keys/calico/bgp/v1/rr_v4/172.17.42.40 -d value=...
    f.kv.put(
        &f.key("rr_v4/172.17.42.40"),
        r#"{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}"#,
    )
    .await
    .unwrap();
    // `calicoctl bgp peer add 172.17.42.40 as 65100`
    f.kv.put(
        &f.key("global/peer_v4/172.17.42.40"),
        r#"{"ip": "172.17.42.40", "as_num": "65100"}"#,
    )
    .await
    .unwrap();
}

/// `fixtures::seed()` leaves out the blog's `node-mesh off` step.
fn seed_with_mesh_off() -> Topology {
    let mut t = fixtures::seed();
    t.defaults.node_mesh = false;
    t
}

async fn seed_replayed_reads_as_the_seed(api: EtcdApi) {
    let f = EtcdFixture::start(api, Layout::CalicoV1).await;
    replay_seed(&f).await;
    let mut source = rrd_source_etcd::EtcdSource::new(f.config.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), seed_with_mesh_off());

    let (sink, mut rx) = EventSink::channel(16);
    let task = tokio::spawn(source.watch(sink));
    let first = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv())
            .await
            .expect("a snapshot within 15 s")
            .expect("source running")
        {
            SourceEvent::Status(_) => continue,
            other => break other,
        }
    };
    assert_eq!(first, SourceEvent::Snapshot(seed_with_mesh_off()));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_written_through_the_v2_api_reads_as_the_seed_topology() {
    seed_replayed_reads_as_the_seed(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_written_through_the_v3_api_reads_as_the_seed_topology() {
    seed_replayed_reads_as_the_seed(EtcdApi::V3).await;
}

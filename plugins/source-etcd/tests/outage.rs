//! etcd going away and coming back, or coming up after the source: the
//! source reports `Unreachable`, never emits an empty or partial topology,
//! emits no changes for an unchanged datastore, and resumes.

mod common;

use std::time::Duration;

use common::{is_connected, is_snapshot, is_unreachable, short, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::{SourceEvent, SourceStatus};
use rrd_source_etcd::testing::{EtcdFixture, EtcdServer, RawKv};
use rrd_source_etcd::{EtcdApi, Layout};

async fn thirty_second_outage(api: EtcdApi) {
    let mut f = EtcdFixture::start(api, Layout::CalicoV1).await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), Duration::from_secs(15)).await;

    f.server.stop();
    let during = w.collect_for(Duration::from_secs(30)).await;
    assert!(
        during.iter().any(is_unreachable),
        "no Unreachable status while etcd was down: {:?}",
        during.iter().map(short).collect::<Vec<_>>()
    );
    for e in &during {
        assert!(
            matches!(e, SourceEvent::Status(SourceStatus::Unreachable { .. })),
            "only Unreachable statuses while etcd is down, got {}",
            short(e)
        );
    }

    f.server.launch().await;
    let back = w
        .wait_for(
            "Connected after the restart",
            Duration::from_secs(30),
            is_connected,
        )
        .await;
    assert!(is_connected(&back));
    let after = w.collect_for(Duration::from_secs(2)).await;
    let since_stop: Vec<_> = w.log.iter().skip_while(|e| !is_unreachable(e)).collect();
    for e in &since_stop {
        assert!(
            !matches!(e, SourceEvent::Snapshot(_) | SourceEvent::Changes(_)),
            "an unchanged datastore must yield no snapshot and no changes after the outage, got {} (after: {:?})",
            short(e),
            after.iter().map(short).collect::<Vec<_>>()
        );
    }
    assert_eq!(w.store.as_ref(), Some(&fixtures::seed()));

    // And it resumes watching.
    f.kv = RawKv::connect(&f.config).await.unwrap();
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_v2_outage_is_reported_and_changes_nothing() {
    thirty_second_outage(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_v3_outage_is_reported_and_changes_nothing() {
    thirty_second_outage(EtcdApi::V3).await;
}

async fn etcd_after_the_source(api: EtcdApi) {
    let mut server = EtcdServer::prepare(false);
    let config = server.config(api, Layout::CalicoV1);
    let mut w = watch(config.clone(), 256);
    let early = w.collect_for(Duration::from_secs(3)).await;
    assert!(
        !early.is_empty() && early.iter().all(is_unreachable),
        "before etcd runs the source only reports Unreachable: {:?}",
        early.iter().map(short).collect::<Vec<_>>()
    );

    server.launch().await;
    let kv = RawKv::connect(&config).await.unwrap();
    let f_key = |rel: &str| format!("{}/{rel}", config.prefix());
    kv.put(&f_key("host/kube-node1/ip_addr_v4"), "172.17.42.31")
        .await
        .unwrap();
    let first_data = w
        .wait_for("the first data event", Duration::from_secs(30), |e| {
            !matches!(e, SourceEvent::Status(_))
        })
        .await;
    assert!(
        is_snapshot(&first_data),
        "the first data event must be a snapshot, got {}",
        short(&first_data)
    );
    let mut target = fixtures::seed();
    target.nodes.retain(|n, _| n == "kube-node1");
    target.route_reflectors.clear();
    target.peers.clear();
    w.converge(&target, Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_started_before_etcd_v2_waits_for_its_first_complete_read() {
    etcd_after_the_source(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_started_before_etcd_v3_waits_for_its_first_complete_read() {
    etcd_after_the_source(EtcdApi::V3).await;
}

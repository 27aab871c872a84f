//! Endpoint lists and idle watches: a dead first endpoint does not stop
//! the source, and an idle v2 long poll is re-issued at the same index
//! without a re-read.

mod common;

use std::time::Duration;

use common::{is_resyncing, is_unreachable, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::PeerSource;
use rrd_source_etcd::testing::EtcdFixture;
use rrd_source_etcd::{EtcdApi, EtcdSource, Layout};

/// A loopback port with nothing listening (bound, then released).
fn dead_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

async fn a_dead_first_endpoint_is_skipped(api: EtcdApi) {
    let f = EtcdFixture::start(api, Layout::CalicoV1).await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut config = f.config.clone();
    config.endpoints.insert(0, dead_endpoint());
    let mut source = EtcdSource::new(config.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());
    let mut w = watch(config, 64);
    w.converge(&fixtures::seed(), Duration::from_secs(20)).await;
    f.kv.delete(&f.key("host/kube-master/ip_addr_v4"))
        .await
        .unwrap();
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_v2_endpoint_is_skipped() {
    a_dead_first_endpoint_is_skipped(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_v3_endpoint_is_skipped() {
    a_dead_first_endpoint_is_skipped(EtcdApi::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_v2_watch_is_re_issued_without_a_re_read() {
    let f = EtcdFixture::start(EtcdApi::V2, Layout::CalicoV1).await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut config = f.config.clone();
    config.watch_timeout = Duration::from_millis(300);
    let mut w = watch(config, 64);
    w.converge(&fixtures::seed(), Duration::from_secs(15)).await;
    // Several idle polls; a few writes outside the prefix move the index.
    for i in 0..5 {
        f.kv.put(&format!("/elsewhere/{i}"), "x").await.unwrap();
    }
    let idle = w.collect_for(Duration::from_secs(2)).await;
    assert!(idle.is_empty(), "an idle watch emits nothing: {idle:?}");
    f.kv.delete(&f.key("host/kube-master/ip_addr_v4"))
        .await
        .unwrap();
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), Duration::from_secs(15)).await;
    assert!(
        !w.log.iter().any(|e| is_resyncing(e) || is_unreachable(e)),
        "idle polls are neither errors nor history loss: {:?}",
        w.log.iter().map(common::short).collect::<Vec<_>>()
    );
}

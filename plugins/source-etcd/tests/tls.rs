//! etcd with `--client-cert-auth`: the source reads and watches through TLS
//! with a CA, a client certificate and its key, on both APIs; without the
//! client certificate it is refused and says so.

mod common;

use std::time::Duration;

use common::{is_unreachable, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::PeerSource;
use rrd_source_etcd::testing::{EtcdServer, RawKv};
use rrd_source_etcd::{EtcdApi, EtcdSource, Layout};

async fn reads_and_watches_through_tls(api: EtcdApi) {
    let server = EtcdServer::start_tls().await;
    let config = server.config(api, Layout::CalicoV1);
    assert!(config.endpoints[0].starts_with("https://"));
    let kv = RawKv::connect(&config).await.unwrap();
    let prefix = config.prefix();
    let write = |t: rrd_core::Topology| {
        let kv = &kv;
        let prefix = prefix.clone();
        async move {
            for (k, v) in rrd_layouts_kvs(&t) {
                kv.put(&format!("{prefix}/{k}"), &v).await.unwrap();
            }
        }
    };
    write(fixtures::seed()).await;
    let mut source = EtcdSource::new(config.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());

    let mut w = watch(config.clone(), 64);
    w.converge(&fixtures::seed(), Duration::from_secs(15)).await;
    // seed_grown drops kube-master: delete its keys, write the rest.
    kv.delete(&format!("{prefix}/host/kube-master/ip_addr_v4"))
        .await
        .unwrap();
    write(seed_grown()).await;
    w.converge(&seed_grown(), Duration::from_secs(15)).await;

    // Without a client certificate etcd refuses the connection.
    let mut no_cert = config.clone();
    no_cert.cert_file = None;
    no_cert.key_file = None;
    let err = EtcdSource::new(no_cert.clone())
        .unwrap()
        .snapshot()
        .await
        .expect_err("etcd requires a client certificate");
    assert!(err.is_retryable(), "{err}");
    let mut w = watch(no_cert, 64);
    w.wait_for(
        "Unreachable without a client certificate",
        Duration::from_secs(15),
        is_unreachable,
    )
    .await;
    assert!(w.store.is_none());
}

fn rrd_layouts_kvs(t: &rrd_core::Topology) -> Vec<(String, String)> {
    rrd_layouts::calico_v1::encode::to_kvs(t)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.path(), v))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v2_api_is_read_and_watched_through_tls_with_a_client_certificate() {
    reads_and_watches_through_tls(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v3_api_is_read_and_watched_through_tls_with_a_client_certificate() {
    reads_and_watches_through_tls(EtcdApi::V3).await;
}

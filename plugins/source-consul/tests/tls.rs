//! A Consul agent with `verify_incoming`: the source reads and watches
//! through TLS with a CA, a client certificate and its key; without the
//! client certificate the handshake fails and the source says so.

mod common;

use std::time::Duration;

use common::{is_unreachable, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::PeerSource;
use rrd_source_consul::testing::{ConsulFixture, FakeConsul};
use rrd_source_consul::ConsulSource;

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prefix_is_read_and_watched_through_tls_with_a_client_certificate() {
    let server = FakeConsul::start_tls().await;
    let config = server.config();
    assert!(config.addresses[0].starts_with("https://"));
    let f = ConsulFixture {
        server,
        config: config.clone(),
        write_token: None,
    };
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut source = ConsulSource::new(config.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());

    let mut w = watch(config.clone(), 64);
    w.converge(&fixtures::seed(), WITHIN).await;
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), WITHIN).await;

    // Without a client certificate the agent refuses the handshake.
    let mut no_cert = config.clone();
    no_cert.cert_file = None;
    no_cert.key_file = None;
    let err = ConsulSource::new(no_cert.clone())
        .unwrap()
        .snapshot()
        .await
        .expect_err("the agent requires a client certificate");
    assert!(err.is_retryable(), "{err}");
    let mut w = watch(no_cert, 64);
    w.wait_for(
        "Unreachable without a client certificate",
        WITHIN,
        is_unreachable,
    )
    .await;
    assert!(w.store.is_none());

    // A CA that did not sign the agent's certificate is refused too.
    let mut wrong_ca = config;
    wrong_ca.ca_file = wrong_ca.cert_file.clone();
    assert!(ConsulSource::new(wrong_ca)
        .unwrap()
        .snapshot()
        .await
        .is_err());
}

//! rrd-core's source conformance suite against the fake Consul (the real
//! one cannot be installed where rrd is tested): calico-v1 keys under the
//! default prefix, read and watched with blocking queries.

use rrd_core::testing::conformance::source_suite;
use rrd_source_consul::testing::ConsulFixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v1_keys_in_consul_kv_pass_the_source_conformance_suite() {
    let mut f = ConsulFixture::start().await;
    source_suite(&mut f).await;
    // The watch blocked at the index it had read, as Consul asks.
    let lists = f.server.list_requests();
    assert!(
        lists
            .iter()
            .any(|r| r.index() > 0 && r.param("wait") == Some("300s")),
        "no blocking query seen: {lists:?}"
    );
}

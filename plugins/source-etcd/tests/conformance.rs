//! rrd-core's source conformance suite against a real etcd, per API and
//! layout.

use rrd_core::testing::conformance::source_suite;
use rrd_source_etcd::testing::EtcdFixture;
use rrd_source_etcd::{EtcdApi, Layout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v1_keys_on_the_v2_api_pass_the_source_conformance_suite() {
    let mut f = EtcdFixture::start(EtcdApi::V2, Layout::CalicoV1).await;
    source_suite(&mut f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v1_keys_on_the_v3_api_pass_the_source_conformance_suite() {
    let mut f = EtcdFixture::start(EtcdApi::V3, Layout::CalicoV1).await;
    source_suite(&mut f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v3_resources_on_the_v3_api_pass_the_source_conformance_suite() {
    let mut f = EtcdFixture::start(EtcdApi::V3, Layout::CalicoV3).await;
    source_suite(&mut f).await;
}

/// `rrd run`'s source keeps only the RR's own data: the same suite, against
/// what a scoped calico-v1 store makes of each state (the seed's RR is a
/// global peer, the rack model's RRs are named by their racks' nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v1_keys_scoped_to_one_rr_pass_the_source_conformance_suite() {
    for rr in ["172.17.42.40", "198.51.100.11"] {
        let own = vec![rr.parse().unwrap()];
        let mut f = EtcdFixture::scoped(EtcdApi::V3, Layout::CalicoV1, own).await;
        source_suite(&mut f).await;
    }
}

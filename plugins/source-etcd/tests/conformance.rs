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

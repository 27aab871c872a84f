//! rrd-core's source conformance suite against the in-test API server:
//! the suite's topologies written as Calico's Kubernetes objects.

use rrd_core::testing::conformance::source_suite;
use rrd_source_kubernetes::testing::KubernetesFixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_objects_in_the_kubernetes_api_pass_the_source_conformance_suite() {
    let mut f = KubernetesFixture::start().await;
    source_suite(&mut f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_also_passes_with_one_object_per_list_page() {
    let mut f = KubernetesFixture::start().await;
    f.config.page_size = 1;
    source_suite(&mut f).await;
}

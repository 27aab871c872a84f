//! Calico's two CRD groups: `crd.projectcalico.org/v1` (the Kubernetes
//! datastore's CRDs) and `projectcalico.org/v3` (native v3 CRDs), chosen
//! by what the API server serves, said in status, or forced by config.

mod common;

use common::{is_unreachable, watch, WITHIN};
use rrd_core::testing::fixtures;
use rrd_core::{SourceEvent, SourceStatus};
use rrd_source_kubernetes::testing::{expected_for, KubernetesFixture};
use rrd_source_kubernetes::CalicoApi;

fn located(e: &SourceEvent) -> Option<String> {
    match e {
        SourceEvent::Status(SourceStatus::Located { location }) => Some(location.clone()),
        _ => None,
    }
}

async fn read_through(served: &[CalicoApi], want: CalicoApi) {
    let f = KubernetesFixture::start().await;
    f.server
        .with_state(|s| s.calico_groups = served.iter().copied().collect());
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
    let location = w.log.iter().find_map(located).expect("a Located status");
    assert!(
        location.ends_with(&format!("({})", want.api_version())),
        "{location}"
    );
    let crd_paths: Vec<String> = f
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("bgppeers"))
        .map(|r| r.path)
        .collect();
    assert!(!crd_paths.is_empty());
    for p in crd_paths {
        assert!(
            p.starts_with(&format!("/apis/{}/", want.api_version())),
            "{p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_v3_crds_are_read_when_only_projectcalico_org_v3_is_served() {
    read_through(&[CalicoApi::V3], CalicoApi::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v1_crds_win_when_both_groups_are_served() {
    read_through(&[CalicoApi::CrdV1, CalicoApi::V3], CalicoApi::CrdV1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_group_the_server_does_not_serve_is_an_outage_that_names_it() {
    let mut f = KubernetesFixture::start().await;
    f.config.api_group = CalicoApi::V3;
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());
    let e = w
        .wait_for("an Unreachable status", WITHIN, is_unreachable)
        .await;
    assert!(
        format!("{e:?}").contains("projectcalico.org/v3 is not served"),
        "{e:?}"
    );
    // Calico upgraded to native v3 CRDs meanwhile.
    f.server
        .with_state(|s| s.calico_groups = [CalicoApi::V3].into());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
}

//! The API server down at start, and going away and coming back: the
//! source reports `Unreachable`, never emits an empty or partial topology,
//! and resumes with what changed meanwhile.

mod common;

use common::{is_connected, is_data, is_snapshot, is_unreachable, watch, WITHIN};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::{PeerSource, SourceEvent};
use rrd_source_kubernetes::testing::{expected_for, FakeApiServer, KubernetesFixture, Resource};
use rrd_source_kubernetes::KubernetesSource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_down_at_start_is_waited_for_and_nothing_empty_is_emitted() {
    let f = KubernetesFixture::around(FakeApiServer::prepare(None).await);
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());

    // Refused connections: statuses only.
    w.wait_for("an Unreachable status", WITHIN, is_unreachable)
        .await;
    for _ in 0..3 {
        w.wait_for("another Unreachable status", WITHIN, is_unreachable)
            .await;
    }
    assert!(
        !w.log.iter().any(is_data),
        "no data while the API server is down: {:#?}",
        w.short_log()
    );

    f.server.resume().await;
    let first = w.wait_for("the first data event", WITHIN, is_data).await;
    let SourceEvent::Snapshot(t) = first else {
        panic!(
            "the first data event must be the snapshot: {:#?}",
            w.short_log()
        )
    };
    assert_eq!(t, expected_for(&fixtures::seed()));
    assert!(w.log.iter().any(is_connected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_reports_unreachable_keeps_quiet_and_resumes_with_the_changes() {
    let f = KubernetesFixture::start().await;
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
    let seen = w.log.len();

    f.server.stop();
    w.wait_for("an Unreachable status", WITHIN, is_unreachable)
        .await;
    // Changed while nobody can watch.
    f.write_topology(&seed_grown());
    for _ in 0..3 {
        w.wait_for("another Unreachable status", WITHIN, is_unreachable)
            .await;
    }
    assert!(
        !w.log[seen..].iter().any(is_data),
        "no data while the API server is down: {:#?}",
        w.short_log()
    );

    f.server.resume().await;
    w.converge(&expected_for(&seed_grown()), WITHIN).await;
    if !w.log[seen..].iter().any(is_connected) {
        w.wait_for("Connected after the outage", WITHIN, is_connected)
            .await;
    }
    assert_eq!(w.count(is_snapshot), 1, "changes, not a new snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_calico_crds_are_an_error_that_says_so_and_nothing_is_emitted() {
    let f = KubernetesFixture::start().await;
    f.write_topology(&fixtures::seed());
    f.server
        .with_state(|s| s.not_installed.insert(Resource::BgpPeers));
    let e = KubernetesSource::new(f.config.clone())
        .unwrap()
        .snapshot()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("bgppeers.crd.projectcalico.org"),
        "{e}"
    );

    let mut w = watch(f.config.clone());
    for _ in 0..3 {
        w.wait_for("an Unreachable status", WITHIN, is_unreachable)
            .await;
    }
    assert!(!w.log.iter().any(is_data), "{:#?}", w.short_log());
    f.server.with_state(|s| s.not_installed.clear());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
}

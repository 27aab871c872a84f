//! Consul going away and coming back, coming up after the source, cutting
//! connections, or one agent of two being down: the source reports
//! `Unreachable`, never emits an empty or partial topology, emits nothing
//! for an unchanged prefix, and resumes. An empty prefix (404) is a valid,
//! empty read — not an error.

mod common;

use std::time::Duration;

use common::{is_connected, is_data, is_snapshot, is_unreachable, poll_until, short, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::{PeerSource, RuleSet, SourceEvent, Topology};
use rrd_source_consul::testing::{ConsulFixture, FakeConsul};
use rrd_source_consul::ConsulSource;

const WITHIN: Duration = Duration::from_secs(15);

/// Wait until the fake has received a blocking read at its current index.
async fn blocked(f: &ConsulFixture, after: usize) {
    let index = f.server.list_index("calico/bgp/v1/");
    poll_until("a blocking query at the current index", WITHIN, || {
        f.server
            .list_requests()
            .iter()
            .skip(after)
            .any(|r| r.index() == index)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_started_before_consul_waits_for_its_first_complete_read() {
    let mut server = FakeConsul::prepare(false);
    let mut w = watch(server.config(), 256);
    let early = w.collect_for(Duration::from_secs(2)).await;
    assert!(
        !early.is_empty() && early.iter().all(is_unreachable),
        "before Consul runs the source only reports Unreachable: {:?}",
        early.iter().map(short).collect::<Vec<_>>()
    );

    server.launch().await;
    server.put("calico/bgp/v1/host/kube-node1/ip_addr_v4", "172.17.42.31");
    let first_data = w
        .wait_for("the first data event", WITHIN, |e| {
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
    w.converge(&target, WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consul_outage_mid_watch_is_reported_and_changes_nothing() {
    let mut f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;
    blocked(&f, 0).await;

    // The agent dies under a blocking query.
    f.server.stop().await;
    let during = w.collect_for(Duration::from_secs(3)).await;
    assert!(
        during.iter().any(is_unreachable),
        "no Unreachable status while Consul was down: {:?}",
        during.iter().map(short).collect::<Vec<_>>()
    );
    for e in &during {
        assert!(
            is_unreachable(e),
            "only Unreachable statuses while Consul is down, got {}",
            short(e)
        );
    }

    let n = f.server.list_requests().len();
    f.server.launch().await;
    w.wait_for("Connected after the restart", WITHIN, is_connected)
        .await;
    blocked(&f, n).await;
    w.drain_now();
    let since_stop: Vec<_> = w.log.iter().skip_while(|e| !is_unreachable(e)).collect();
    for e in &since_stop {
        assert!(
            !is_data(e),
            "an unchanged prefix must yield no snapshot and no changes after the outage, got {}",
            short(e)
        );
    }
    assert_eq!(w.store.as_ref(), Some(&fixtures::seed()));

    // And it resumes watching.
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_retried_and_emits_no_data() {
    let f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;
    blocked(&f, 0).await;

    let n = f.server.list_requests().len();
    f.server.drop_connections();
    w.wait_for("Unreachable after the cut", WITHIN, is_unreachable)
        .await;
    w.wait_for("Connected again", WITHIN, is_connected).await;
    blocked(&f, n).await;
    let events = w.drain_now();
    let since_cut: Vec<_> = w.log.iter().skip_while(|e| !is_unreachable(e)).collect();
    assert!(
        !since_cut.iter().any(|e| is_data(e)),
        "a reconnect to an unchanged prefix emits no data: {:?} {:?}",
        since_cut.iter().map(|e| short(e)).collect::<Vec<_>>(),
        events.iter().map(short).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_prefix_is_an_empty_topology_not_an_error() {
    let server = FakeConsul::start().await;
    // Keys next to the prefix are not below it.
    server.put("calico/bgp/v1x/rr_v4/198.51.100.1", "{}");
    server.put("calico/bgp/v1", "not a folder");
    let mut source = ConsulSource::new(server.config()).unwrap();
    let empty = Topology {
        rules: RuleSet::Legacy,
        ..Topology::default()
    };
    assert_eq!(source.snapshot().await.unwrap(), empty);

    let mut w = watch(server.config(), 64);
    let first = w
        .wait_for("the first data event", WITHIN, |e| {
            !matches!(e, SourceEvent::Status(_))
        })
        .await;
    assert_eq!(first, SourceEvent::Snapshot(empty));
    assert!(
        w.log.iter().all(|e| !is_unreachable(e)),
        "a 404 is not an outage: {:?}",
        w.log.iter().map(short).collect::<Vec<_>>()
    );

    // The first key below the prefix arrives as a change.
    server.put("calico/bgp/v1/global/as_num", "64512");
    w.wait_for("the change", WITHIN, |e| {
        matches!(e, SourceEvent::Changes(_))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_agent_answers_when_the_first_is_down() {
    let down = FakeConsul::prepare(false);
    let f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut config = f.config.clone();
    config.addresses = vec![down.url(), f.server.url()];
    let mut source = ConsulSource::new(config.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());

    let mut w = watch(config, 64);
    w.converge(&fixtures::seed(), WITHIN).await;
    assert!(
        !w.log.iter().any(is_unreachable),
        "one agent down of two is not an outage: {:?}",
        w.log.iter().map(short).collect::<Vec<_>>()
    );
}

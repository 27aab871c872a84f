//! Consul's blocking-query rules, provoked on the fake Consul: an index
//! that goes backwards (snapshot restore, reaped tombstones) resets the
//! loop to a re-read that emits only the difference; wake-ups without a
//! change emit nothing; an `X-Consul-Index` of 0 is never used to block and
//! the rate limit keeps the loop from spinning.

mod common;

use std::time::Duration;

use common::{is_data, is_resyncing, poll_until, short, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::SourceEvent;
use rrd_source_consul::testing::ConsulFixture;

const WITHIN: Duration = Duration::from_secs(15);

/// Wait until the fake has received a blocking read at `index` (so every
/// event the source had for the answers before it has been sent).
async fn blocked_at(f: &ConsulFixture, index: u64) {
    poll_until(
        &format!("a blocking query at index {index}"),
        WITHIN,
        || f.server.list_requests().iter().any(|r| r.index() == index),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_restore_sends_the_index_back_and_the_source_re_reads_the_difference() {
    let f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let saved = f.server.snapshot();
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), WITHIN).await;
    blocked_at(&f, f.server.list_index("calico/bgp/v1/")).await;
    let before = f.server.list_requests().len();

    // The restore abandons the state store: the blocked query returns at
    // once with the old, lower index.
    f.server.restore(&saved);
    w.wait_for("Resyncing after the restore", WITHIN, is_resyncing)
        .await;
    w.converge(&fixtures::seed(), WITHIN).await;
    let after: Vec<_> = f.server.list_requests().split_off(before);
    assert!(
        after.iter().any(|r| r.index() == 0),
        "the index was not reset to 0 (a plain re-read): {after:?}"
    );

    // And the loop goes on from the new index.
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaped_tombstones_send_the_index_back_and_the_re_read_emits_nothing() {
    let mut f = ConsulFixture::start().await;
    // Blocking queries see the lower index when their wait runs out.
    f.config.wait = Duration::from_secs(1);
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    // The newest write below the prefix is a delete: its tombstone holds
    // the listing's index.
    let extra = f.key("host/short-lived/ip_addr_v4");
    f.put(&extra, "198.51.100.99").await;
    f.delete(&extra).await;
    let with_tombstone = f.server.list_index("calico/bgp/v1/");
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;
    blocked_at(&f, with_tombstone).await;

    f.server.reap_tombstones();
    let lower = f.server.list_index("calico/bgp/v1/");
    assert!(lower < with_tombstone);
    w.wait_for("Resyncing after the reap", WITHIN, is_resyncing)
        .await;
    blocked_at(&f, lower).await;
    let events = w.drain_now();
    assert!(
        !events.iter().any(is_data),
        "an unchanged prefix re-read after an index reset emits no data: {:?}",
        events.iter().map(short).collect::<Vec<_>>()
    );
    assert_eq!(w.store.as_ref(), Some(&fixtures::seed()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_query_woken_without_a_change_emits_nothing() {
    let mut f = ConsulFixture::start().await;
    f.config.wait = Duration::from_secs(1);
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;
    let index = f.server.list_index("calico/bgp/v1/");

    // The wait runs out twice: the same index comes back.
    poll_until("two blocking queries that timed out", WITHIN, || {
        f.server
            .list_requests()
            .iter()
            .filter(|r| r.index() == index)
            .count()
            >= 3
    })
    .await;
    // A wake-up without any write.
    let n = f.server.list_requests().len();
    f.server.wake_blocking_queries();
    poll_until("the query after the wake-up", WITHIN, || {
        f.server.list_requests().len() > n
    })
    .await;
    // Writes that move the index but not the topology: new flags on a
    // key, a key Calico writes and rrd ignores, a folder key.
    f.server
        .put_with_flags(&f.key("host/kube-node1/ip_addr_v4"), "172.17.42.31", 42);
    blocked_at(&f, f.server.list_index("calico/bgp/v1/")).await;
    f.put(&f.key("global/loglevel"), "debug").await;
    blocked_at(&f, f.server.list_index("calico/bgp/v1/")).await;
    f.put(&f.key("host/"), "").await;
    blocked_at(&f, f.server.list_index("calico/bgp/v1/")).await;

    let events = w.drain_now();
    assert!(
        events.is_empty(),
        "wake-ups and writes that change no topology emit nothing: {:?}",
        events.iter().map(short).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_zero_is_never_used_to_block_and_the_loop_is_rate_limited() {
    let mut f = ConsulFixture::start().await;
    let interval = Duration::from_millis(200);
    f.config.rate_limit = interval;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    // A Consul with the old bug: every answer says index 0, so every
    // blocking query returns at once.
    f.server.set_zero_index(true);
    let fixture_reads = f.server.list_requests().len();
    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;
    poll_until("eight reads", WITHIN, || {
        f.server.list_requests().len() >= fixture_reads + 8
    })
    .await;

    let reqs = f.server.list_requests().split_off(fixture_reads);
    assert_eq!(reqs[0].index(), 0, "the first read does not block");
    for r in &reqs[1..] {
        assert_eq!(
            r.param("index"),
            Some("1"),
            "after an index of 0 the source blocks at 1: {r:?}"
        );
    }
    // Burst of two, then one query per interval.
    let span = reqs[7].at - reqs[2].at;
    assert!(
        span >= interval * 5 - Duration::from_millis(20),
        "the loop spins: 6 queries in {span:?} with a {interval:?} rate limit"
    );
    let events = w.drain_now();
    assert!(
        !events.iter().any(|e| matches!(e, SourceEvent::Changes(_))),
        "re-reads of an unchanged prefix emit no changes: {:?}",
        events.iter().map(short).collect::<Vec<_>>()
    );

    // Changes still arrive, and the loop blocks again once the index is sane.
    f.server.set_zero_index(false);
    f.write_kvs(f.calico_v1_kvs(&seed_grown())).await;
    w.converge(&seed_grown(), WITHIN).await;
    blocked_at(&f, f.server.list_index("calico/bgp/v1/")).await;
}

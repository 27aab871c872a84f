//! Bad values in Consul KV: each is reported with its full key as a
//! `Rejected` event, counted once (not again on every blocking-query
//! answer, each of which is the whole prefix), skipped (or its entity kept
//! at the last good value), and the rest of the topology keeps working.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{is_snapshot, watch};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::SourceEvent;
use rrd_source_consul::testing::ConsulFixture;

const WITHIN: Duration = Duration::from_secs(15);

/// (path below the prefix, bad value)
const BAD: &[(&str, &str)] = &[
    ("global/as_num", "abc"),
    ("global/node_mesh", "off"),
    (
        "global/peer_v4/198.51.100.7",
        r#"{"ip":"198.51.100.7","as_num":"abc"}"#,
    ),
    (
        "global/peer_v4/198.51.100.8",
        r#"{"ip":"198.51.100.9","as_num":"65000"}"#,
    ),
    ("host/kube-node1/ip_addr_v4", "172.17.42.300"),
    ("host/kube-node9/ip_addr_v6", "not-an-address"),
    ("host/kube-node2/peer_v4/198.51.100.1", "{broken json"),
    (
        "rr_v4/172.17.42.40",
        r#"{"ip":"172.17.42.40","cluster_id":"1.2.3"}"#,
    ),
    ("rr_v4/999.1.1.1", r#"{"ip":"999.1.1.1","cluster_id":""}"#),
    // A key without data (Consul's "Value": null) where JSON is expected.
    ("rr_v4/198.51.100.20", ""),
    ("something/outside/the/layout", "1"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_rejected_by_key_once_and_the_rest_keeps_working() {
    let f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    // One bad key present before the source starts.
    f.put(&f.key("rr_v6/fd00::zz"), "{}").await;

    let mut w = watch(f.config.clone(), 256);
    w.wait_for("the snapshot", WITHIN, is_snapshot).await;
    let e = w
        .wait_for("the rejection found by the first read", WITHIN, |e| {
            matches!(e, SourceEvent::Rejected { .. })
        })
        .await;
    assert!(
        matches!(&e, SourceEvent::Rejected { key, .. } if *key == f.key("rr_v6/fd00::zz")),
        "{e:?}"
    );
    assert_eq!(w.store.as_ref(), Some(&fixtures::seed()));

    for (rel, value) in BAD {
        f.put(&f.key(rel), value).await;
    }
    let want: BTreeSet<String> = BAD.iter().map(|(rel, _)| f.key(rel)).collect();
    let mut seen = BTreeSet::new();
    while seen != want {
        let e = w
            .wait_for("a rejection of each bad key", WITHIN, |e| {
                matches!(e, SourceEvent::Rejected { .. })
            })
            .await;
        let SourceEvent::Rejected { key, reason } = e else {
            unreachable!()
        };
        assert!(!reason.is_empty());
        assert!(
            want.contains(&key),
            "rejected a key that is fine: {key}: {reason}"
        );
        assert!(seen.insert(key.clone()), "{key} rejected twice");
    }
    // Nothing else changed: the RR, kube-node1 and the defaults keep their
    // last good values; the other bad keys added nothing.
    assert_eq!(w.store.as_ref(), Some(&fixtures::seed()));

    // Everything else keeps working.
    f.delete(&f.key("host/kube-master/ip_addr_v4")).await;
    for (k, v) in f.calico_v1_kvs(&seed_grown()) {
        if !want.contains(&k) {
            f.put(&k, &v).await;
        }
    }
    // kube-node1's address key is still bad and keeps its last good value,
    // which is what seed_grown has.
    w.converge(&seed_grown(), WITHIN).await;
    let rejections = w
        .log
        .iter()
        .filter(|e| matches!(e, SourceEvent::Rejected { .. }))
        .count();
    assert_eq!(rejections, BAD.len() + 1, "each bad key counted once");
}

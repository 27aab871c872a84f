//! Bad objects: each is rejected with its kind and name and skipped; a
//! good object turned bad keeps its last good version; the rest of the
//! topology keeps working.

mod common;

use common::{is_data, watch, WITHIN};
use rrd_core::testing::fixtures;
use rrd_core::{Asn, Node, SourceEvent};
use rrd_source_kubernetes::testing::{expected_for, node_object, KubernetesFixture, Resource};
use serde_json::json;

/// The seed's global peer record as a BGPPeer name.
const SEED_PEER: &str = "global-peer-v4-172-17-42-40";

fn rejected(e: &SourceEvent, key: &str) -> bool {
    matches!(e, SourceEvent::Rejected { key: k, .. } if k == key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_object_is_rejected_by_kind_and_name_and_the_rest_keeps_working() {
    let f = KubernetesFixture::start().await;
    let mut t = fixtures::seed();
    f.write_topology(&t);
    f.server.with_state(|s| {
        s.apply(json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "BGPPeer",
            "metadata": { "name": "broken-peer" },
            "spec": { "peerIP": "not-an-ip", "asNumber": 64512 },
        }));
        s.apply(node_object(
            "bad-node",
            &Default::default(),
            [("projectcalico.org/IPv4Address", "nonsense".to_owned())].into(),
        ));
    });

    let mut w = watch(f.config.clone());
    let first = w.wait_for("the snapshot", WITHIN, is_data).await;
    assert_eq!(first, SourceEvent::Snapshot(expected_for(&t)));
    w.seen_or_wait("the bad BGPPeer's rejection", WITHIN, |e| {
        rejected(e, "BGPPeer broken-peer")
    })
    .await;
    w.seen_or_wait("the bad Node's rejection", WITHIN, |e| {
        rejected(e, "Node bad-node")
    })
    .await;
    let reason = w
        .log
        .iter()
        .find_map(|e| match e {
            SourceEvent::Rejected { key, reason } if key == "BGPPeer broken-peer" => {
                Some(reason.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("spec.peerIP"), "{reason}");

    // A good BGPPeer turned bad: rejected, its last good version stays.
    f.server.with_state(|s| {
        let mut o = s.get(Resource::BgpPeers, "", SEED_PEER).cloned().unwrap();
        o["spec"]["peerIP"] = json!("300.1.1.1");
        s.apply(o);
    });
    let key = format!("BGPPeer {SEED_PEER}");
    w.wait_for("the modified BGPPeer's rejection", WITHIN, |e| {
        rejected(e, &key)
    })
    .await;
    let mut n = Node::new("kube-node3");
    n.ipv4 = "172.17.42.33".parse().ok();
    t.nodes.insert(n.name.clone(), n);
    f.server.with_state(|s| {
        s.apply(node_object(
            "kube-node3",
            &Default::default(),
            [(
                "projectcalico.org/IPv4Address",
                "172.17.42.33/24".to_owned(),
            )]
            .into(),
        ))
    });
    w.converge(&expected_for(&t), WITHIN).await;

    // Repaired, then deleted.
    for p in t.peers.values_mut() {
        p.asn = Some(Asn(65002));
    }
    f.write_topology(&t);
    f.server
        .with_state(|s| s.delete(Resource::BgpPeers, "", "broken-peer"));
    w.converge(&expected_for(&t), WITHIN).await;
    t.peers.clear();
    f.write_topology(&t);
    w.converge(&expected_for(&t), WITHIN).await;
    assert!(w.store.as_ref().unwrap().peers.is_empty());
}

//! The store on its own: decoding as the API server sends objects,
//! re-lists as diffs, last-good versions, and Secret references.

use serde_json::json;

use super::*;

fn nodes() -> Feed {
    Feed::Calico(ResourceKind::Node)
}

fn peers() -> Feed {
    Feed::Calico(ResourceKind::BgpPeer)
}

fn secret_feed(name: &str) -> Feed {
    Feed::Secret {
        namespace: "kube-system".into(),
        name: name.into(),
    }
}

/// A Node list item: no kind, no apiVersion (core list items carry none).
fn node_item(name: &str, ipv4: &str) -> Item {
    decode_item(
        &nodes(),
        CalicoApi::CrdV1,
        json!({
            "metadata": {
                "name": name,
                "labels": { "rack": "r1" },
                "annotations": { "projectcalico.org/IPv4Address": ipv4 },
            },
        }),
    )
}

fn peer_item(name: &str, ip: &str, secret: Option<(&str, &str)>) -> Item {
    let mut spec = json!({ "peerIP": ip, "asNumber": 64512 });
    if let Some((n, k)) = secret {
        spec["password"] = json!({ "secretKeyRef": { "name": n, "key": k } });
    }
    decode_item(
        &peers(),
        CalicoApi::CrdV1,
        json!({ "kind": "BGPPeer", "metadata": { "name": name }, "spec": spec }),
    )
}

fn secret_item(name: &str, data: serde_json::Value) -> Item {
    decode_item(
        &secret_feed(name),
        CalicoApi::CrdV1,
        json!({ "metadata": { "name": name }, "data": data }),
    )
}

#[test]
fn core_node_list_items_decode_through_calicos_annotations_and_labels() {
    let mut s = Store::new("kube-system");
    let u = s.replace(&nodes(), vec![node_item("n1", "10.0.0.1/24")]);
    assert_eq!(u.changes.len(), 1);
    let n = &s.topology().nodes["n1"];
    assert_eq!(n.ipv4, "10.0.0.1".parse().ok());
    assert_eq!(n.labels.get("rack"), Some("r1"));
    assert_eq!(s.topology().rules, RuleSet::CalicoV3);
}

#[test]
fn a_relist_yields_only_the_differences() {
    let mut s = Store::new("kube-system");
    s.replace(
        &nodes(),
        vec![
            node_item("n1", "10.0.0.1/24"),
            node_item("n2", "10.0.0.2/24"),
        ],
    );
    let u = s.replace(
        &nodes(),
        vec![
            node_item("n2", "10.0.0.2/24"),
            node_item("n3", "10.0.0.3/24"),
        ],
    );
    assert!(u
        .changes
        .iter()
        .any(|c| matches!(c, TopologyChange::RemoveNode(n) if n == "n1")));
    assert!(u
        .changes
        .iter()
        .any(|c| matches!(c, TopologyChange::UpsertNode(n) if n.name == "n3")));
    assert_eq!(u.changes.len(), 2, "{:?}", u.changes);
}

#[test]
fn a_bad_version_is_reported_once_and_the_last_good_one_stays() {
    let mut s = Store::new("kube-system");
    s.upsert(peer_item("p", "10.0.0.9", None));
    let bad = || peer_item("p", "10.0.0.300", None);
    let u = s.upsert(bad());
    assert!(u.changes.is_empty());
    assert_eq!(u.rejected.len(), 1);
    assert_eq!(u.rejected[0].0, "BGPPeer p");
    assert!(
        u.rejected[0].1.starts_with("spec.peerIP"),
        "{:?}",
        u.rejected
    );
    assert!(s.topology().peers.contains_key("p"));
    // The same problem again (a re-list) is not reported twice.
    assert!(s.replace(&peers(), vec![bad()]).rejected.is_empty());
    assert!(s.topology().peers.contains_key("p"));
    // Gone from the list: gone.
    let u = s.replace(&peers(), vec![]);
    assert_eq!(u.changes, vec![TopologyChange::RemovePeer("p".into())]);
}

#[test]
fn only_referenced_secret_keys_reach_the_topology() {
    let mut s = Store::new("kube-system");
    let u = s.upsert(peer_item("p", "10.0.0.9", Some(("bgp", "a"))));
    assert_eq!(s.referenced_secrets(), BTreeSet::from(["bgp".to_owned()]));
    assert_eq!(u.changes.len(), 1, "no password yet");
    // "cGFzcw==" is "pass", "b3RoZXI=" is "other".
    let u = s.replace(
        &secret_feed("bgp"),
        vec![secret_item(
            "bgp",
            json!({ "a": "cGFzcw==", "b": "b3RoZXI=", "c": "%%" }),
        )],
    );
    let r = SecretRef {
        name: "bgp".into(),
        key: "a".into(),
    };
    assert_eq!(
        u.changes,
        vec![TopologyChange::UpsertSecret(r.clone(), Secret::new("pass"))]
    );
    assert_eq!(u.rejected.len(), 1, "the bad key c: {:?}", u.rejected);
    assert_eq!(u.rejected[0].0, "Secret kube-system/bgp");
    // The Secret is deleted: the password goes.
    let u = s.replace(&secret_feed("bgp"), vec![]);
    assert_eq!(u.changes, vec![TopologyChange::RemoveSecret(r)]);
}

#[test]
fn an_object_without_a_name_is_rejected() {
    let item = decode_item(&nodes(), CalicoApi::CrdV1, json!({ "metadata": {} }));
    let mut s = Store::new("kube-system");
    let u = s.upsert(item);
    assert_eq!(u.rejected[0].0, "Node without a name");
}

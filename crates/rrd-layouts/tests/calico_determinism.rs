//! Determinism of Calico v3 decoding + semantics: the order in which a
//! datastore hands over resources must never show in the sessions.
//!
//! Random fabrics (nodes with labels, cluster ids and AS numbers; BGPPeers
//! with names in random lexical order, selectors, peer IPs that collide on
//! purpose) are written as a document stream, shuffled, decoded with
//! `decode_documents` and computed for every node: the output must be
//! identical. Colliding BGPPeers must resolve to the lexically smallest
//! name, and a global BGPPeer must beat node-specific ones.

use proptest::prelude::*;
use rrd_core::{compute, Computed, PeerKey, RrIdentity, Topology};
use rrd_layouts::calico_v3::decode_documents;
use serde_json::{json, Value};

const SELECTORS: [&str; 6] = [
    "has(rr)",
    "!has(rr)",
    "rack == 'a'",
    "all()",
    "rack in {'a', 'b'} && !has(rr)",
    "rack != 'b' || has(rr)",
];

/// Peer addresses: nodes' own addresses and outsiders, so that peerings
/// land on nodes, on externals and on each other.
const PEER_IPS: [&str; 7] = [
    "198.51.100.11",
    "198.51.100.12",
    "198.51.100.13:1790",
    "2001:db8::12",
    "203.0.113.9",
    "[2001:db8::ff]:50",
    "203.0.113.10",
];

fn node_doc(i: usize, rr: Option<u8>, rack: u8, asn: Option<u32>, v6: bool) -> Value {
    let mut labels = json!({ "rack": if rack == 0 { "a" } else { "b" } });
    let mut bgp = json!({ "ipv4Address": format!("198.51.100.{}/24", 10 + i) });
    if let Some(cluster) = rr {
        labels["rr"] = json!("true");
        bgp["routeReflectorClusterID"] = json!(format!("1.0.0.{cluster}"));
    }
    if let Some(asn) = asn {
        bgp["asNumber"] = json!(asn);
    }
    if v6 {
        bgp["ipv6Address"] = json!(format!("2001:db8::{}/64", 10 + i));
    }
    json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "Node",
        "metadata": { "name": format!("node-{i}"), "labels": labels },
        "spec": { "bgp": bgp },
    })
}

#[derive(Clone, Debug)]
struct PeerSpec {
    node_side: u8,
    peer_side: u8,
    asn: u32,
    ttl: u8,
    keep: bool,
    manual: bool,
}

fn peer_doc(name: &str, p: &PeerSpec, nodes: usize) -> Value {
    let mut spec = json!({});
    match p.node_side % 3 {
        0 => {}
        1 => spec["node"] = json!(format!("node-{}", usize::from(p.node_side) % nodes)),
        _ => spec["nodeSelector"] = json!(SELECTORS[usize::from(p.node_side) % SELECTORS.len()]),
    }
    if p.peer_side.is_multiple_of(2) {
        spec["peerIP"] = json!(PEER_IPS[usize::from(p.peer_side / 2) % PEER_IPS.len()]);
        spec["asNumber"] = json!(p.asn);
    } else {
        spec["peerSelector"] = json!(SELECTORS[usize::from(p.peer_side / 2) % SELECTORS.len()]);
    }
    if p.ttl > 0 {
        spec["ttlSecurity"] = json!(p.ttl);
    }
    if p.keep {
        spec["keepOriginalNextHop"] = json!(true);
    }
    if p.manual {
        spec["reversePeering"] = json!("Manual");
    }
    json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "BGPPeer",
        "metadata": { "name": name },
        "spec": spec,
    })
}

fn config_doc(mesh: bool, asn: Option<u32>, port: Option<u16>) -> Value {
    let mut spec = json!({ "nodeToNodeMeshEnabled": mesh });
    if let Some(asn) = asn {
        spec["asNumber"] = json!(asn);
    }
    if let Some(port) = port {
        spec["listenPort"] = json!(port);
    }
    json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "BGPConfiguration",
        "metadata": { "name": "default" },
        "spec": spec,
    })
}

fn stream(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn node_spec() -> impl Strategy<Value = (Option<u8>, u8, Option<u32>, bool)> {
    (
        prop::option::weighted(0.4, 1u8..3),
        0u8..2,
        prop::option::weighted(0.2, prop::sample::select(vec![64512u32, 65001])),
        any::<bool>(),
    )
}

fn peer_spec() -> impl Strategy<Value = PeerSpec> {
    (
        any::<u8>(),
        any::<u8>(),
        prop::sample::select(vec![64512u32, 65001, 65002]),
        prop::sample::select(vec![0u8, 0, 1, 2]),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(node_side, peer_side, asn, ttl, keep, manual)| PeerSpec {
            node_side,
            peer_side,
            asn,
            ttl,
            keep,
            manual,
        })
}

/// A fabric as documents, before shuffling.
fn fabric() -> impl Strategy<Value = (usize, Vec<Value>)> {
    (
        prop::collection::vec(node_spec(), 2..6),
        prop::collection::btree_set("[a-z]{1,5}", 0..8),
        prop::collection::vec(peer_spec(), 8),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![64512u32, 64600])),
        prop::option::weighted(0.3, Just(1790u16)),
    )
        .prop_map(|(nodes, names, peers, mesh, asn, port)| {
            let mut docs: Vec<Value> = nodes
                .iter()
                .enumerate()
                .map(|(i, (rr, rack, asn, v6))| node_doc(i + 1, *rr, *rack, *asn, *v6))
                .collect();
            docs.extend(
                names
                    .iter()
                    .zip(&peers)
                    .map(|(name, p)| peer_doc(name, p, nodes.len())),
            );
            docs.push(config_doc(mesh, asn, port));
            (nodes.len(), docs)
        })
}

fn decode(docs: &[Value]) -> Topology {
    let (topology, errors) = decode_documents(&stream(docs));
    assert!(errors.is_empty(), "{errors:#?}");
    topology
}

/// Every node's sessions and diagnostics, in a comparable form.
fn everything(t: &Topology, nodes: usize) -> Vec<(String, Computed)> {
    (1..=nodes)
        .map(|i| {
            let name = format!("node-{i}");
            let me = RrIdentity {
                node_name: Some(name.clone()),
                ..RrIdentity::default()
            };
            let computed = compute(t, &me).expect("every generated node computes");
            (name, computed)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sessions_do_not_depend_on_the_order_of_resources(
        (nodes, docs) in fabric(),
        seed in any::<u64>(),
    ) {
        let original = decode(&docs);
        let mut shuffled = docs.clone();
        shuffle(&mut shuffled, seed);
        let reordered = decode(&shuffled);
        prop_assert_eq!(&original, &reordered);
        let a = everything(&original, nodes);
        let b = everything(&reordered, nodes);
        prop_assert_eq!(&a, &b);
        // And the same run twice gives byte-identical output.
        let json_a = serde_json::to_string(&a.iter().map(|(n, c)| (n, &c.config)).collect::<Vec<_>>()).unwrap();
        let json_b = serde_json::to_string(&b.iter().map(|(n, c)| (n, &c.config)).collect::<Vec<_>>()).unwrap();
        prop_assert_eq!(json_a, json_b);
    }

    #[test]
    fn colliding_bgppeers_resolve_to_the_smallest_name_and_global_wins(
        names in prop::collection::btree_set("[a-z]{1,6}", 2..6),
        seed in any::<u64>(),
        with_node_specific in any::<bool>(),
    ) {
        // Every name peers every node with 203.0.113.9, each with its own AS.
        let names: Vec<String> = names.into_iter().collect();
        let mut docs = vec![
            node_doc(1, None, 0, None, false),
            node_doc(2, Some(1), 1, None, false),
            config_doc(false, None, None),
        ];
        for (i, name) in names.iter().enumerate() {
            let asn = 65100 + u32::try_from(i).unwrap();
            let mut spec = json!({ "peerIP": "203.0.113.9", "asNumber": asn });
            if with_node_specific && i % 2 == 0 {
                spec["nodeSelector"] = json!("all()");
            }
            docs.push(json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "BGPPeer",
                "metadata": { "name": name },
                "spec": spec,
            }));
        }
        shuffle(&mut docs, seed);
        let t = decode(&docs);
        // `names` is sorted: the smallest global one must win, since a
        // global peering beats node-specific ones whatever their names.
        let globals: Vec<usize> = (0..names.len())
            .filter(|i| !(with_node_specific && i % 2 == 0))
            .collect();
        let (key, winner) = match globals.first() {
            Some(i) => ("Global_203_0_113_9", *i),
            None => ("Node_203_0_113_9", 0),
        };
        for (node, computed) in everything(&t, 2) {
            let n = computed.config.neighbors.get(&PeerKey(key.into()));
            prop_assert!(n.is_some(), "{} lacks {}: {:?}", node, key, computed.config.neighbors.keys());
            prop_assert_eq!(n.unwrap().remote_as.0, 65100 + u32::try_from(winner).unwrap());
            prop_assert_eq!(computed.config.neighbors.len(), 1);
        }
    }
}

/// A permutation chosen by `seed` (Fisher-Yates over a splitmix64 stream).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    let mut next = || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

use std::time::Duration;

use rrd_core::{Asn, NodeSelector, PeerMatch, ReversePeering, SecretRef, SourceAddress};
use serde_json::json;

use super::*;

fn peer(spec: Value) -> std::result::Result<PeerRule, DecodeError> {
    let obj = json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "BGPPeer",
        "metadata": {"name": "p1"},
        "spec": spec,
    });
    match decode_object(&obj)? {
        Decoded::Peer(p) => Ok(p),
        other => panic!("not a peer: {other:?}"),
    }
}

fn field_of(e: DecodeError) -> String {
    e.field.unwrap_or_default()
}

#[test]
fn resource_kinds_map_to_calico_kinds_and_etcd_folders() {
    assert_eq!(
        ResourceKind::from_kind("BGPPeer"),
        Some(ResourceKind::BgpPeer)
    );
    assert_eq!(
        ResourceKind::from_kind("bgpconfiguration"),
        Some(ResourceKind::BgpConfiguration)
    );
    assert_eq!(ResourceKind::from_kind("Node"), Some(ResourceKind::Node));
    assert_eq!(ResourceKind::from_kind("IPPool"), None);
    assert_eq!(ResourceKind::BgpPeer.etcd_dir(), "bgppeers");
    assert_eq!(
        ResourceKind::BgpConfiguration.etcd_dir(),
        "bgpconfigurations"
    );
    assert_eq!(ResourceKind::Node.etcd_dir(), "nodes");
}

#[test]
fn an_etcd_node_object_decodes_addresses_from_cidrs_and_keeps_labels() {
    let obj = json!({
        "kind": "Node",
        "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "kube-master", "uid": "x", "creationTimestamp": "2024-01-01T00:00:00Z",
                     "labels": {"routeReflector": "true"}},
        "spec": {"bgp": {"ipv4Address": "10.192.0.2/16", "ipv6Address": "fe0a::2/96",
                         "asNumber": 64532, "routeReflectorClusterID": "10.0.0.1",
                         "ipv4IPIPTunnelAddr": "192.168.0.1"},
                 "orchRefs": [{"nodeName": "kube-master", "orchestrator": "k8s"}]},
        "status": {}
    });
    let Decoded::Node(n) = decode_object(&obj).unwrap() else {
        panic!("not a node")
    };
    assert_eq!(n.name, "kube-master");
    assert_eq!(n.ipv4.unwrap().to_string(), "10.192.0.2");
    assert_eq!(n.ipv6.unwrap().to_string(), "fe0a::2");
    assert_eq!(n.asn, Some(Asn(64532)));
    assert_eq!(n.rr_cluster_id.unwrap().to_string(), "10.0.0.1");
    assert_eq!(n.labels.get("routeReflector"), Some("true"));
}

#[test]
fn a_kubernetes_core_node_reads_calico_annotations() {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {"rack": "r1"},
                     "annotations": {"projectcalico.org/IPv4Address": "198.51.100.7/24",
                                     "projectcalico.org/ASNumber": "65001",
                                     "projectcalico.org/RouteReflectorClusterID": "1.0.0.1"}},
        "spec": {"podCIDR": "10.0.0.0/24"}
    });
    let Decoded::Node(n) = decode_object(&obj).unwrap() else {
        panic!("not a node")
    };
    assert_eq!(n.ipv4.unwrap().to_string(), "198.51.100.7");
    assert_eq!(n.ipv6, None);
    assert_eq!(n.asn, Some(Asn(65001)));
    assert_eq!(n.rr_cluster_id.unwrap().to_string(), "1.0.0.1");
    assert_eq!(n.labels.get("rack"), Some("r1"));
}

#[test]
fn a_node_address_of_the_wrong_family_names_the_field() {
    let obj = json!({"kind": "Node", "metadata": {"name": "n"},
                     "spec": {"bgp": {"ipv4Address": "fe0a::2/96"}}});
    let e = decode_object(&obj).unwrap_err();
    assert_eq!(e.object, "Node n");
    assert_eq!(e.field.as_deref(), Some("spec.bgp.ipv4Address"));
    let obj = json!({"kind": "Node", "metadata": {"name": "n"},
                     "spec": {"bgp": {"ipv4Address": "10.0.0.1/40"}}});
    assert!(decode_object(&obj).unwrap_err().message.contains("prefix"));
}

#[test]
fn every_bgppeer_field_is_carried() {
    let p = peer(json!({
        "nodeSelector": "has(routeReflector)",
        "peerIP": "[ac13::57]:50",
        "asNumber": "64533",
        "localASNumber": 65001,
        "password": {"secretKeyRef": {"name": "bgp-secrets", "key": "rr"}},
        "sourceAddress": "None",
        "maxRestartTime": "10s",
        "keepaliveTime": "1m30s",
        "ttlSecurity": 2,
        "numAllowedLocalASNumbers": 1,
        "nextHopMode": "Self",
        "keepOriginalNextHop": true,
        "reversePeering": "Manual",
        "reachableBy": "ffee::1:1",
        "filters": ["f1"],
        "someFutureField": {"x": 1}
    }))
    .unwrap();
    assert_eq!(p.name, "p1");
    assert_eq!(
        p.nodes,
        NodeSelector::Selector("has(routeReflector)".into())
    );
    assert_eq!(
        p.peer,
        PeerMatch::Ip {
            addr: "ac13::57".parse().unwrap(),
            port: Some(50)
        }
    );
    assert_eq!(p.asn, Some(Asn(64533)));
    assert_eq!(p.local_asn, Some(Asn(65001)));
    assert_eq!(
        p.password,
        Some(SecretRef {
            name: "bgp-secrets".into(),
            key: "rr".into()
        })
    );
    assert_eq!(p.source_address, SourceAddress::None);
    assert_eq!(p.max_restart_time, Some(Duration::from_secs(10)));
    assert_eq!(p.keepalive_time, Some(Duration::from_secs(90)));
    assert_eq!(p.ttl_security, Some(2));
    assert_eq!(p.num_allowed_local_as, Some(1));
    assert_eq!(p.next_hop_mode.as_deref(), Some("Self"));
    assert!(p.keep_original_next_hop);
    assert_eq!(p.reverse_peering, ReversePeering::Manual);
}

#[test]
fn a_bgppeer_without_node_fields_is_global_and_defaults_apply() {
    let p = peer(json!({"peerIP": "10.192.0.3", "asNumber": 64567})).unwrap();
    assert_eq!(p.nodes, NodeSelector::All);
    assert_eq!(p.source_address, SourceAddress::UseNodeIP);
    assert_eq!(p.reverse_peering, ReversePeering::Auto);
    assert_eq!(p.next_hop_mode, None);
    assert_eq!(p.password, None);
    let p = peer(json!({"node": "kube-master", "peerSelector": "has(x)"})).unwrap();
    assert_eq!(p.nodes, NodeSelector::Named("kube-master".into()));
    assert_eq!(p.peer, PeerMatch::Selector("has(x)".into()));
    assert_eq!(p.asn, None);
}

#[test]
fn peer_ip_accepts_address_address_port_and_bracketed_ipv6_port() {
    let cases = [
        ("10.192.0.1", "10.192.0.1", None),
        ("10.192.0.1:166", "10.192.0.1", Some(166)),
        ("fe0a::2", "fe0a::2", None),
        ("[ac13::57]:50", "ac13::57", Some(50)),
        ("[ac13::57]", "ac13::57", None),
        ("10.0.0.1:0", "10.0.0.1", None),
    ];
    for (text, addr, port) in cases {
        let got = fields::parse_peer_ip(text).unwrap();
        assert_eq!(got, (addr.parse().unwrap(), port), "{text}");
    }
    for bad in [
        "10.0.0.300",
        "10.0.0.1:x",
        "10.0.0.1:70000",
        "ac13::57:50x",
        "[ac13::57]50",
        "host:179",
    ] {
        assert!(
            fields::parse_peer_ip(bad).is_err(),
            "{bad} should be refused"
        );
    }
}

#[test]
fn bad_bgppeer_values_name_the_object_and_field() {
    let cases = [
        (
            json!({"peerIP": "10.0.0.1:99999", "asNumber": 1}),
            "spec.peerIP",
        ),
        (
            json!({"peerIP": "10.0.0.1", "asNumber": "abc"}),
            "spec.asNumber",
        ),
        (
            json!({"peerIP": "10.0.0.1", "ttlSecurity": 300}),
            "spec.ttlSecurity",
        ),
        (
            json!({"peerIP": "10.0.0.1", "maxRestartTime": "ten"}),
            "spec.maxRestartTime",
        ),
        (
            json!({"peerIP": "10.0.0.1", "nextHopMode": "self"}),
            "spec.nextHopMode",
        ),
        (
            json!({"peerIP": "10.0.0.1", "reversePeering": "Sometimes"}),
            "spec.reversePeering",
        ),
        (
            json!({"peerIP": "10.0.0.1", "sourceAddress": "Other"}),
            "spec.sourceAddress",
        ),
        (
            json!({"peerIP": "10.0.0.1", "keepOriginalNextHop": "yes"}),
            "spec.keepOriginalNextHop",
        ),
        (
            json!({"peerIP": "10.0.0.1", "numAllowedLocalASNumbers": -1}),
            "spec.numAllowedLocalASNumbers",
        ),
        (
            json!({"peerIP": "10.0.0.1", "password": {"secretKeyRef": {"name": "s"}}}),
            "spec.password.secretKeyRef.key",
        ),
        (
            json!({"node": "a", "nodeSelector": "all()", "peerIP": "10.0.0.1"}),
            "spec.nodeSelector",
        ),
        (
            json!({"peerIP": "10.0.0.1", "peerSelector": "all()"}),
            "spec.peerSelector",
        ),
        (
            json!({"peerSelector": "all()", "asNumber": 64512}),
            "spec.asNumber",
        ),
        (json!({"asNumber": 64512}), "spec.peerIP"),
        (
            json!({"localWorkloadSelector": "all()", "asNumber": 1}),
            "spec.localWorkloadSelector",
        ),
    ];
    for (spec, field) in cases {
        let e = peer(spec.clone()).unwrap_err();
        assert_eq!(e.object, "BGPPeer p1", "{spec}");
        assert_eq!(field_of(e), field, "{spec}");
    }
}

#[test]
fn a_bad_selector_is_reported_with_its_offset() {
    let e =
        peer(json!({"nodeSelector": "has(rr) && zone = 'a'", "peerIP": "10.0.0.1"})).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("spec.nodeSelector"));
    assert!(e.message.contains("offset 16"), "{e}");
    assert!(
        e.to_string().starts_with("BGPPeer p1: spec.nodeSelector: "),
        "{e}"
    );
}

#[test]
fn bgp_configurations_give_defaults_or_node_settings() {
    let d = json!({"kind": "BGPConfiguration", "metadata": {"name": "default"},
                   "spec": {"asNumber": 64567, "listenPort": 150, "bindMode": "NodeIP",
                            "logSeverityScreen": "Debug",
                            "nodeMeshPassword": {"secretKeyRef": {"name": "m", "key": "k"}},
                            "nodeMeshMaxRestartTime": "2m"}});
    let Decoded::Defaults(d) = decode_object(&d).unwrap() else {
        panic!("not defaults")
    };
    assert_eq!(d.asn, Some(Asn(64567)));
    assert!(d.node_mesh, "nodeToNodeMeshEnabled missing means on");
    assert_eq!(d.listen_port, Some(150));
    assert_eq!(d.node_mesh_max_restart_time, Some(Duration::from_secs(120)));
    assert!(d.node_mesh_password.is_some());

    let off = json!({"kind": "BGPConfiguration", "metadata": {"name": "default"},
                     "spec": {"nodeToNodeMeshEnabled": false}});
    let Decoded::Defaults(off) = decode_object(&off).unwrap() else {
        panic!("not defaults")
    };
    assert!(!off.node_mesh);
    assert_eq!(off.asn, None);

    let n = json!({"kind": "BGPConfiguration", "metadata": {"name": "node.kube-node-1"},
                   "spec": {"listenPort": 500}});
    assert_eq!(
        decode_object(&n).unwrap(),
        Decoded::NodeConfig(
            "kube-node-1".into(),
            NodeBgpConfig {
                listen_port: Some(500)
            }
        )
    );
    let empty =
        json!({"kind": "BGPConfiguration", "metadata": {"name": "node.kube-node-1"}, "spec": {}});
    assert_eq!(
        decode_object(&empty).unwrap().into_change(),
        TopologyChange::UpsertNodeConfig("kube-node-1".into(), NodeBgpConfig::default())
    );
    let odd = json!({"kind": "BGPConfiguration", "metadata": {"name": "rack1"}, "spec": {}});
    assert_eq!(field_of(decode_object(&odd).unwrap_err()), "metadata.name");
}

#[test]
fn objects_without_kind_or_name_are_refused() {
    let e = decode_object(&json!({"metadata": {"name": "x"}})).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("kind"));
    let e = decode_object(&json!({"kind": "BGPPeer", "spec": {}})).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("metadata.name"));
    let e = decode_object(&json!({"kind": "IPPool", "metadata": {"name": "x"}})).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("kind"));
    assert!(decode_object(&json!([1, 2])).is_err());
}

#[test]
fn removals_undo_what_was_decoded() {
    assert_eq!(
        removal(ResourceKind::BgpPeer, "p"),
        TopologyChange::RemovePeer("p".into())
    );
    assert_eq!(
        removal(ResourceKind::Node, "n"),
        TopologyChange::RemoveNode("n".into())
    );
    assert_eq!(
        removal(ResourceKind::BgpConfiguration, "default"),
        TopologyChange::Defaults(Defaults::default())
    );
    assert_eq!(
        removal(ResourceKind::BgpConfiguration, "node.n1"),
        TopologyChange::RemoveNodeConfig("n1".into())
    );
    let mut t = Topology::default();
    t.node_configs.insert("n1".into(), NodeBgpConfig::default());
    assert!(!t
        .clone()
        .apply(removal(ResourceKind::BgpConfiguration, "rack1")));
    assert!(t.apply(removal(ResourceKind::BgpConfiguration, "node.n1")));
}

#[test]
fn a_document_stream_decodes_yaml_1_1_labels_and_skips_other_kinds() {
    let text = "\
kind: Node
apiVersion: projectcalico.org/v3
metadata:
  name: kube-master
  labels:
    route-reflector: yes
    quoted: \"yes\"
spec:
  bgp:
    ipv4Address: 10.192.0.2/16
---
kind: IPPool
apiVersion: projectcalico.org/v3
metadata:
  name: ippool-1
spec:
  cidr: 192.168.0.0/16
";
    let (t, errors) = decode_documents(text);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(t.rules, RuleSet::CalicoV3);
    let labels = &t.nodes["kube-master"].labels;
    assert_eq!(labels.get("route-reflector"), Some("true"));
    assert_eq!(labels.get("quoted"), Some("yes"));
    assert!(t.defaults.node_mesh);
}

#[test]
fn one_bad_object_does_not_stop_the_others() {
    let text = "\
kind: BGPPeer
metadata: {name: bad}
spec: {peerIP: not-an-ip}
---
kind: BGPPeer
metadata: {name: good}
spec: {peerIP: 10.0.0.1, asNumber: 64512}
---
kind: BGPPeer
metadata: {name: broken
---
kind: Node
metadata: {name: n1}
spec: {bgp: {ipv4Address: 10.0.0.2}}
";
    let (t, errors) = decode_documents(text);
    assert_eq!(t.peers.keys().collect::<Vec<_>>(), ["good"]);
    assert!(t.nodes.contains_key("n1"));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors.iter().filter(|e| e.object == "BGPPeer bad").count(),
        1
    );
    assert!(errors.iter().any(|e| e.message.contains("not valid YAML")));
}

#[test]
fn list_objects_decode_their_items_with_the_implied_kind() {
    let text = r#"{"kind": "BGPPeerList", "apiVersion": "crd.projectcalico.org/v1",
        "items": [{"metadata": {"name": "a"}, "spec": {"peerIP": "10.0.0.1", "asNumber": 1}},
                  {"metadata": {"name": "b"}, "spec": {"peerSelector": "all()"}}]}
---
kind: List
items:
- kind: Node
  metadata: {name: n1}
- kind: IPPool
  metadata: {name: pool}
"#;
    let (t, errors) = decode_documents(text);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(t.peers.len(), 2);
    assert!(t.nodes.contains_key("n1"));
}

#[test]
fn a_resource_defined_twice_is_reported_and_the_later_one_wins() {
    let text = "\
kind: BGPPeer
metadata: {name: p}
spec: {peerIP: 10.0.0.1, asNumber: 1}
---
kind: BGPPeer
metadata: {name: p}
spec: {peerIP: 10.0.0.2, asNumber: 1}
";
    let (t, errors) = decode_documents(text);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].object, "BGPPeer p");
    assert!(
        matches!(t.peers["p"].peer, PeerMatch::Ip { addr, .. } if addr.to_string() == "10.0.0.2")
    );
}

#[test]
fn decoded_values_turn_into_upserts() {
    let n = Node::new("n");
    assert_eq!(
        Decoded::Node(n.clone()).into_change(),
        TopologyChange::UpsertNode(n)
    );
    assert_eq!(
        Decoded::Defaults(Defaults::default()).into_change(),
        TopologyChange::Defaults(Defaults::default())
    );
}

#[test]
fn a_zero_cluster_id_is_refused_naming_the_field_and_value() {
    for (obj, field) in [
        (
            json!({"kind": "Node", "metadata": {"name": "n"},
                   "spec": {"bgp": {"ipv4Address": "10.0.0.1/24", "routeReflectorClusterID": "0.0.0.0"}}}),
            "spec.bgp.routeReflectorClusterID",
        ),
        (
            json!({"kind": "Node", "metadata": {"name": "n"},
                   "spec": {"bgp": {"ipv4Address": "10.0.0.1/24", "routeReflectorClusterID": 0}}}),
            "spec.bgp.routeReflectorClusterID",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": "n", "annotations": {
                       "projectcalico.org/IPv4Address": "198.51.100.7/24",
                       "projectcalico.org/RouteReflectorClusterID": "0.0.0.0"}}}),
            "metadata.annotations.projectcalico.org/RouteReflectorClusterID",
        ),
    ] {
        let e = decode_object(&obj).unwrap_err();
        assert!(e.message.contains("not a usable cluster id"), "{e}");
        assert!(e.message.contains('0'), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
    }
}

//! Topologies written as Calico v3 objects, for the calico-v3 layout
//! fixture. A legacy topology maps onto v3 as an operator would migrate
//! it: nodes stay nodes, each registered RR becomes a node carrying its
//! cluster id, each peer record a BGPPeer, the defaults the `default`
//! BGPConfiguration. What the source must then report is what Calico's
//! decoder makes of those objects ([`expected_for`]).

use std::collections::BTreeMap;

use rrd_core::{NodeSelector, PeerMatch, RuleSet, Topology};
use rrd_layouts::calico_v3::{self, ResourceKind};
use serde_json::{json, Value};

fn object(kind: ResourceKind, name: &str, metadata: Value, spec: Value) -> Value {
    let mut meta = metadata;
    meta["name"] = json!(name);
    json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": kind.kind(),
        "metadata": meta,
        "spec": spec,
    })
}

/// A Kubernetes-style name from a rule name or address.
fn dns_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// `(kind, name, object)` for every object that makes `topology`.
fn objects(topology: &Topology) -> Vec<(ResourceKind, String, Value)> {
    let mut out = Vec::new();
    let d = &topology.defaults;
    let mut spec = json!({ "nodeToNodeMeshEnabled": d.node_mesh });
    if let Some(asn) = d.asn {
        spec["asNumber"] = json!(asn.0);
    }
    if let Some(port) = d.listen_port {
        spec["listenPort"] = json!(port);
    }
    out.push((
        ResourceKind::BgpConfiguration,
        "default".to_owned(),
        object(ResourceKind::BgpConfiguration, "default", json!({}), spec),
    ));
    for n in topology.nodes.values() {
        let mut bgp = json!({});
        if let Some(a) = n.ipv4 {
            bgp["ipv4Address"] = json!(format!("{a}/32"));
        }
        if let Some(a) = n.ipv6 {
            bgp["ipv6Address"] = json!(format!("{a}/128"));
        }
        if let Some(asn) = n.asn {
            bgp["asNumber"] = json!(asn.0);
        }
        if let Some(c) = n.rr_cluster_id {
            bgp["routeReflectorClusterID"] = json!(c.to_string());
        }
        let meta = json!({ "labels": n.labels });
        out.push((
            ResourceKind::Node,
            n.name.clone(),
            object(ResourceKind::Node, &n.name, meta, json!({ "bgp": bgp })),
        ));
    }
    for rr in topology.route_reflectors.values() {
        let name = format!("rr-{}", dns_name(&rr.ip.to_string()));
        let mut bgp = if rr.ip.is_ipv4() {
            json!({ "ipv4Address": format!("{}/32", rr.ip) })
        } else {
            json!({ "ipv6Address": format!("{}/128", rr.ip) })
        };
        if let Some(c) = rr.cluster_id {
            bgp["routeReflectorClusterID"] = json!(c.to_string());
        }
        out.push((
            ResourceKind::Node,
            name.clone(),
            object(ResourceKind::Node, &name, json!({}), json!({ "bgp": bgp })),
        ));
    }
    for p in topology.peers.values() {
        let name = if topology.rules == RuleSet::CalicoV3 {
            p.name.clone()
        } else {
            dns_name(&p.name)
        };
        let mut spec = json!({});
        match &p.nodes {
            NodeSelector::All => {}
            NodeSelector::Named(n) => spec["node"] = json!(n),
            NodeSelector::Selector(s) => spec["nodeSelector"] = json!(s),
        }
        match &p.peer {
            PeerMatch::Ip { addr, port: None } => spec["peerIP"] = json!(addr.to_string()),
            PeerMatch::Ip {
                addr,
                port: Some(port),
            } => {
                spec["peerIP"] = json!(match addr {
                    std::net::IpAddr::V4(a) => format!("{a}:{port}"),
                    std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
                })
            }
            PeerMatch::Selector(s) => spec["peerSelector"] = json!(s),
        }
        if let Some(asn) = p.asn {
            spec["asNumber"] = json!(asn.0);
        }
        out.push((
            ResourceKind::BgpPeer,
            name.clone(),
            object(ResourceKind::BgpPeer, &name, json!({}), spec),
        ));
    }
    out
}

/// Full etcd key -> JSON text of every object that makes `topology`.
pub fn objects_for(topology: &Topology, prefix: &str) -> BTreeMap<String, String> {
    objects(topology)
        .into_iter()
        .map(|(kind, name, obj)| {
            (
                format!(
                    "{}/{}/{name}",
                    prefix.trim_end_matches('/'),
                    kind.etcd_dir()
                ),
                obj.to_string(),
            )
        })
        .collect()
}

/// The topology a calico-v3 source must report once `topology` was
/// written with [`objects_for`].
pub fn expected_for(topology: &Topology) -> Topology {
    let mut t = Topology {
        rules: RuleSet::CalicoV3,
        ..Topology::default()
    };
    for (_, _, obj) in objects(topology) {
        let decoded = calico_v3::decode_object(&obj)
            .unwrap_or_else(|e| panic!("the fixture wrote an object Calico cannot read: {e}"));
        t.apply(decoded.into_change());
    }
    t
}

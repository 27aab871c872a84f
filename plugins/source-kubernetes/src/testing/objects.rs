//! Topologies written as Kubernetes objects, as Calico's Kubernetes
//! datastore holds them: core `v1` Nodes with `projectcalico.org/*`
//! annotations and the node's labels, `crd.projectcalico.org/v1` BGPPeers
//! and BGPConfigurations, and Secrets for passwords. A legacy topology maps
//! as an operator would migrate it: each registered RR becomes a Node
//! carrying its cluster id, each peer record a BGPPeer. What the source
//! must then report is what Calico's decoder makes of those objects
//! ([`expected_for`]).

use std::collections::BTreeMap;

use rrd_core::{NodeSelector, PeerMatch, RuleSet, Topology};
use rrd_layouts::calico_v3;
use serde_json::{json, Value};

use super::state::Resource;

/// A Kubernetes-style name from a rule name or an address.
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

fn crd(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": kind,
        "metadata": { "name": name },
        "spec": spec,
    })
}

/// A core Node with Calico's annotations.
pub fn node_object(
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: BTreeMap<&str, String>,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": name, "labels": labels, "annotations": annotations },
        "spec": { "podCIDR": "192.0.2.0/26" },
        "status": { "nodeInfo": { "kubeletVersion": "v1.30.0" } },
    })
}

/// A Secret given as text values (stored base64-encoded in `data`).
pub fn secret_object(namespace: &str, name: &str, values: &[(&str, &str)]) -> Value {
    let string_data: BTreeMap<&str, &str> = values.iter().copied().collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": "Opaque",
        "stringData": string_data,
    })
}

/// Every object that makes `topology`, by resource. Secrets go to
/// `secrets_namespace`.
pub fn objects_for(topology: &Topology, secrets_namespace: &str) -> BTreeMap<Resource, Vec<Value>> {
    let mut out: BTreeMap<Resource, Vec<Value>> =
        Resource::ALL.into_iter().map(|r| (r, Vec::new())).collect();
    let d = &topology.defaults;
    let mut spec = json!({ "nodeToNodeMeshEnabled": d.node_mesh });
    if let Some(asn) = d.asn {
        spec["asNumber"] = json!(asn.0);
    }
    if let Some(port) = d.listen_port {
        spec["listenPort"] = json!(port);
    }
    if let Some(r) = &d.node_mesh_password {
        spec["nodeMeshPassword"] = json!({ "secretKeyRef": { "name": r.name, "key": r.key } });
    }
    let configs = out.entry(Resource::BgpConfigurations).or_default();
    configs.push(crd("BGPConfiguration", "default", spec));
    for (node, c) in &topology.node_configs {
        let mut spec = json!({});
        if let Some(p) = c.listen_port {
            spec["listenPort"] = json!(p);
        }
        configs.push(crd("BGPConfiguration", &format!("node.{node}"), spec));
    }
    let nodes = out.entry(Resource::Nodes).or_default();
    for n in topology.nodes.values() {
        let mut a = BTreeMap::new();
        if let Some(ip) = n.ipv4 {
            a.insert("projectcalico.org/IPv4Address", format!("{ip}/24"));
        }
        if let Some(ip) = n.ipv6 {
            a.insert("projectcalico.org/IPv6Address", format!("{ip}/64"));
        }
        if let Some(asn) = n.asn {
            a.insert("projectcalico.org/ASNumber", asn.0.to_string());
        }
        if let Some(c) = n.rr_cluster_id {
            a.insert("projectcalico.org/RouteReflectorClusterID", c.to_string());
        }
        nodes.push(node_object(&n.name, &n.labels.to_map(), a));
    }
    for rr in topology.route_reflectors.values() {
        let name = format!("rr-{}", dns_name(&rr.ip.to_string()));
        let mut a = BTreeMap::new();
        if rr.ip.is_ipv4() {
            a.insert("projectcalico.org/IPv4Address", format!("{}/32", rr.ip));
        } else {
            a.insert("projectcalico.org/IPv6Address", format!("{}/128", rr.ip));
        }
        if let Some(c) = rr.cluster_id {
            a.insert("projectcalico.org/RouteReflectorClusterID", c.to_string());
        }
        if let Some(asn) = rr.asn {
            a.insert("projectcalico.org/ASNumber", asn.0.to_string());
        }
        nodes.push(node_object(&name, &BTreeMap::new(), a));
    }
    let peers = out.entry(Resource::BgpPeers).or_default();
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
        if let Some(r) = &p.password {
            spec["password"] = json!({ "secretKeyRef": { "name": r.name, "key": r.key } });
        }
        peers.push(crd("BGPPeer", &name, spec));
    }
    let mut by_name: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (r, v) in &topology.secrets {
        by_name
            .entry(&r.name)
            .or_default()
            .push((&r.key, v.expose()));
    }
    let secrets = out.entry(Resource::Secrets).or_default();
    for (name, values) in by_name {
        secrets.push(secret_object(secrets_namespace, name, &values));
    }
    out
}

/// The topology the Kubernetes source must report once `topology` was
/// written with [`objects_for`].
pub fn expected_for(topology: &Topology) -> Topology {
    let mut t = Topology {
        rules: RuleSet::CalicoV3,
        ..Topology::default()
    };
    let objects = objects_for(topology, "unused");
    for resource in [
        Resource::BgpConfigurations,
        Resource::BgpPeers,
        Resource::Nodes,
    ] {
        for obj in &objects[&resource] {
            let decoded = calico_v3::decode_object(obj)
                .unwrap_or_else(|e| panic!("the fixture wrote an object Calico cannot read: {e}"));
            t.apply(decoded.into_change());
        }
    }
    let referenced: Vec<_> = t
        .peers
        .values()
        .filter_map(|p| p.password.clone())
        .collect();
    for (r, v) in &topology.secrets {
        if referenced.contains(r) || t.defaults.node_mesh_password.as_ref() == Some(r) {
            t.secrets.insert(r.clone(), v.clone());
        }
    }
    t
}

//! Topology -> calico-v1 keys: the inverse of [`super::LegacyStore`], for
//! test fixtures, migrations and `rrd export`. Only what the layout can hold
//! is accepted; anything else (selectors, labels, v3-only peer fields) is an
//! [`EncodeError`] rather than silently dropped.

use rrd_core::{NodeSelector, PeerMatch, PeerRule, RuleSet, Topology};

use super::admin::Command;
use super::LegacyKey;

/// A part of the topology that calico-v1 keys cannot express.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} cannot be written as calico-v1 keys: {why}")]
pub struct EncodeError {
    pub what: String,
    pub why: &'static str,
}

/// Every key/value pair (paths relative to the prefix) that makes
/// `topology`, in key order.
pub fn to_kvs(topology: &Topology) -> Result<Vec<(LegacyKey, String)>, EncodeError> {
    let err = |what: String, why| Err(EncodeError { what, why });
    if topology.rules != RuleSet::Legacy {
        return err("the topology".into(), "it uses the Calico v3 rule set");
    }
    let d = &topology.defaults;
    if d.listen_port.is_some()
        || d.node_mesh_password.is_some()
        || d.node_mesh_max_restart_time.is_some()
    {
        return err(
            "defaults".into(),
            "only as_num and node_mesh exist in calico-v1",
        );
    }
    if !topology.node_configs.is_empty() {
        return err(
            "node configs".into(),
            "calico-v1 has no per-node BGP configuration",
        );
    }
    let mut out = Vec::new();
    if let Some(asn) = d.asn {
        out.push((LegacyKey::DefaultAsn, asn.to_string()));
    }
    if !d.node_mesh {
        out.push((LegacyKey::NodeMesh, r#"{"enabled":false}"#.to_owned()));
    }
    for n in topology.nodes.values() {
        if !n.labels.is_empty() || n.rr_cluster_id.is_some() {
            return err(
                format!("node {}", n.name),
                "labels and node cluster ids are v3 fields",
            );
        }
        if n.name.is_empty() || n.name.contains('/') {
            return err(
                format!("node {:?}", n.name),
                "a node name is one key segment",
            );
        }
        out.push((
            LegacyKey::HostIpv4(n.name.clone()),
            n.ipv4.map(|a| a.to_string()).unwrap_or_default(),
        ));
        if let Some(v6) = n.ipv6 {
            out.push((LegacyKey::HostIpv6(n.name.clone()), v6.to_string()));
        }
        if let Some(asn) = n.asn {
            out.push((LegacyKey::HostAsn(n.name.clone()), asn.to_string()));
        }
    }
    for rr in topology.route_reflectors.values() {
        if rr.asn.is_some() {
            return err(
                format!("route reflector {}", rr.ip),
                "an RR record has no AS",
            );
        }
        let c = Command::RrAdd {
            ip: rr.ip,
            cluster_id: rr.cluster_id,
        };
        push_write(&mut out, &c);
    }
    for p in topology.peers.values() {
        out.push(peer_kv(p)?);
    }
    out.sort();
    Ok(out)
}

fn push_write(out: &mut Vec<(LegacyKey, String)>, c: &Command) {
    if let super::admin::KvWrite::Put { key, value } = c.write() {
        out.push((key, value));
    }
}

fn peer_kv(p: &PeerRule) -> Result<(LegacyKey, String), EncodeError> {
    let bad = |why| EncodeError {
        what: format!("peer rule {}", p.name),
        why,
    };
    let PeerMatch::Ip { addr, port: None } = p.peer else {
        return Err(bad("calico-v1 peers are plain addresses"));
    };
    let legacy = match &p.nodes {
        NodeSelector::All => PeerRule::legacy_global(addr, p.asn),
        NodeSelector::Named(n) => PeerRule::legacy_node(n, addr, p.asn),
        NodeSelector::Selector(_) => return Err(bad("selectors are v3 only")),
    };
    if *p != legacy {
        return Err(bad("it carries fields or a name calico-v1 cannot hold"));
    }
    let key = match &p.nodes {
        NodeSelector::Named(n) => LegacyKey::HostPeer(n.clone(), addr),
        _ => LegacyKey::GlobalPeer(addr),
    };
    let value = match p.asn {
        Some(asn) => format!(r#"{{"ip":"{addr}","as_num":"{asn}"}}"#),
        None => format!(r#"{{"ip":"{addr}"}}"#),
    };
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use rrd_core::testing::fixtures;
    use rrd_core::{NodeSelector, PeerMatch, PeerRule};

    use super::*;
    use crate::calico_v1::LegacyStore;

    fn round_trip(t: &Topology) -> Topology {
        let kvs = to_kvs(t).expect("encodable");
        let (store, rejected) = LegacyStore::from_kvs(
            "/p",
            kvs.iter()
                .map(|(k, v)| (format!("/p/{}", k.path()), v.clone())),
        );
        assert!(rejected.is_empty(), "{rejected:?}");
        store.snapshot()
    }

    #[test]
    fn the_fixtures_survive_encoding_and_decoding() {
        for t in [
            fixtures::seed(),
            fixtures::racks(),
            rrd_core::testing::conformance::seed_grown(),
        ] {
            assert_eq!(round_trip(&t), t);
        }
    }

    #[test]
    fn what_calico_v1_cannot_hold_is_refused() {
        let mut t = fixtures::seed();
        t.peers.insert(
            "sel".into(),
            PeerRule::new(
                "sel",
                NodeSelector::Selector("all()".into()),
                PeerMatch::Selector("rr == 'true'".into()),
                None,
            ),
        );
        assert!(to_kvs(&t).is_err());
        let mut t = fixtures::seed();
        t.rules = RuleSet::CalicoV3;
        assert!(to_kvs(&t).is_err());
    }
}

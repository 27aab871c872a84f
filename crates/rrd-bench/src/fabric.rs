//! The seed's fabric, generated: 100 route reflectors in rack pairs and N
//! Calico nodes spread over the racks, as calico-v1 keys or as Calico v3
//! resources.
//!
//! Rack `k` (0..50) has RRs `2k` and `2k+1` (one cluster id per rack) and
//! every node `i` with `i % 50 == k`; each node peers with both RRs of its
//! rack. All RRs mesh. So at 100,000 nodes each RR has 2,000 clients and 99
//! RR peers: 2,099 sessions. Addresses come from the benchmarking range
//! 198.18.0.0/15: RRs at 198.18.0.1..=100, node `i` at 198.18.1.0 + i.
//! The benchmarked RR is RR 0.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

/// calico-v1 keys (legacy rules) or Calico v3 resources (Calico's rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    CalicoV1,
    CalicoV3,
}

impl Layout {
    pub fn label(self) -> &'static str {
        match self {
            Layout::CalicoV1 => "calico-v1",
            Layout::CalicoV3 => "calico-v3",
        }
    }

    /// The etcd prefix rrd reads.
    pub fn prefix(self) -> &'static str {
        match self {
            Layout::CalicoV1 => V1,
            Layout::CalicoV3 => V3,
        }
    }
}

const V1: &str = "/calico/bgp/v1";
const V3: &str = "/calico/resources/v3/projectcalico.org";
/// AS of the v1 fabric (global/as_num) and of the v3 one (asNumber).
pub const ASN: u32 = 64511;

/// A fabric of `nodes` nodes and `rrs` route reflectors (an even number).
#[derive(Clone, Copy, Debug)]
pub struct Fabric {
    pub nodes: usize,
    pub rrs: usize,
}

/// One etcd write of a benchmark change: keys to put, or a key prefix to
/// delete, in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    Put(Vec<(String, String)>),
    DeletePrefix(String),
}

impl Fabric {
    pub fn new(nodes: usize) -> Fabric {
        Fabric { nodes, rrs: 100 }
    }

    pub fn racks(&self) -> usize {
        self.rrs / 2
    }

    pub fn rr_ip(r: usize) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 1)) + r as u32)
    }

    /// Node `i`'s address; extra nodes (changes) continue after the fabric.
    pub fn node_ip(i: usize) -> Ipv4Addr {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 1, 0)) + i as u32);
        assert!(
            ip < Ipv4Addr::new(198, 20, 0, 0),
            "node {i} is outside 198.18.0.0/15"
        );
        ip
    }

    pub fn node_name(i: usize) -> String {
        format!("node-{i:06}")
    }

    pub fn rack_of(&self, node: usize) -> usize {
        node % self.racks()
    }

    pub fn cluster_id(rack: usize) -> String {
        format!("1.0.{}.{}", rack / 256, rack % 256)
    }

    /// The benchmarked RR.
    pub fn me() -> Ipv4Addr {
        Self::rr_ip(0)
    }

    /// The addresses RR 0 must peer with: the other RRs and the nodes of
    /// rack 0.
    pub fn expected_peers(&self) -> BTreeSet<IpAddr> {
        let mut out: BTreeSet<IpAddr> = (1..self.rrs).map(|r| Self::rr_ip(r).into()).collect();
        out.extend(
            (0..self.nodes)
                .filter(|i| self.rack_of(*i) == 0)
                .map(|i| IpAddr::V4(Self::node_ip(i))),
        );
        out
    }

    /// Every key of the fabric, in `layout`.
    pub fn kvs(&self, layout: Layout) -> Vec<(String, String)> {
        match layout {
            Layout::CalicoV1 => self.v1_kvs(),
            Layout::CalicoV3 => self.v3_kvs(),
        }
    }

    fn v1_kvs(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (format!("{V1}/global/as_num"), ASN.to_string()),
            (
                format!("{V1}/global/node_mesh"),
                r#"{"enabled":false}"#.to_owned(),
            ),
        ];
        for r in 0..self.rrs {
            let ip = Self::rr_ip(r);
            out.push((
                format!("{V1}/rr_v4/{ip}"),
                format!(
                    r#"{{"ip":"{ip}","cluster_id":"{}"}}"#,
                    Self::cluster_id(r / 2)
                ),
            ));
        }
        for i in 0..self.nodes {
            out.extend(self.v1_node(i, self.rack_of(i)));
        }
        out
    }

    /// The four keys of node `i` in `rack`: its addresses and one peer
    /// record per RR of the rack.
    fn v1_node(&self, i: usize, rack: usize) -> Vec<(String, String)> {
        let name = Self::node_name(i);
        let host = format!("{V1}/host/{name}");
        let mut out = vec![
            (format!("{host}/ip_addr_v4"), Self::node_ip(i).to_string()),
            (format!("{host}/ip_addr_v6"), String::new()),
        ];
        for r in [2 * rack, 2 * rack + 1] {
            let rr = Self::rr_ip(r);
            out.push((
                format!("{host}/peer_v4/{rr}"),
                format!(r#"{{"ip":"{rr}","as_num":"{ASN}"}}"#),
            ));
        }
        out
    }

    fn v3_kvs(&self) -> Vec<(String, String)> {
        let mut out = vec![(
            format!("{V3}/bgpconfigurations/default"),
            v3_object(
                "BGPConfiguration",
                "default",
                "{}",
                &format!(r#"{{"nodeToNodeMeshEnabled":false,"asNumber":{ASN}}}"#),
            ),
        )];
        out.push((
            format!("{V3}/bgppeers/rr-mesh"),
            v3_object(
                "BGPPeer",
                "rr-mesh",
                "{}",
                r#"{"nodeSelector":"has(route-reflector)","peerSelector":"has(route-reflector)"}"#,
            ),
        ));
        for k in 0..self.racks() {
            let name = format!("rack-r{k}");
            out.push((
                format!("{V3}/bgppeers/{name}"),
                v3_object(
                    "BGPPeer",
                    &name,
                    "{}",
                    &format!(
                        r#"{{"nodeSelector":"rack == 'r{k}'","peerSelector":"rr-rack == 'r{k}'"}}"#
                    ),
                ),
            ));
        }
        for r in 0..self.rrs {
            let name = format!("rr-{r:03}");
            out.push((
                format!("{V3}/nodes/{name}"),
                v3_object(
                    "Node",
                    &name,
                    &format!(r#"{{"rr-rack":"r{}","route-reflector":"true"}}"#, r / 2),
                    &format!(
                        r#"{{"bgp":{{"ipv4Address":"{}/32","routeReflectorClusterID":"{}"}}}}"#,
                        Self::rr_ip(r),
                        Self::cluster_id(r / 2)
                    ),
                ),
            ));
        }
        for i in 0..self.nodes {
            out.push(self.v3_node(i, self.rack_of(i)));
        }
        out
    }

    fn v3_node(&self, i: usize, rack: usize) -> (String, String) {
        let name = Self::node_name(i);
        (
            format!("{V3}/nodes/{name}"),
            v3_object(
                "Node",
                &name,
                &format!(r#"{{"rack":"r{rack}"}}"#),
                &format!(r#"{{"bgp":{{"ipv4Address":"{}/32"}}}}"#, Self::node_ip(i)),
            ),
        )
    }

    /// Add node `i` (past the fabric's own nodes) to `rack`: one write.
    pub fn add_node(&self, layout: Layout, i: usize, rack: usize) -> Write {
        match layout {
            Layout::CalicoV1 => Write::Put(self.v1_node(i, rack)),
            Layout::CalicoV3 => Write::Put(vec![self.v3_node(i, rack)]),
        }
    }

    /// Remove node `i` again: one write.
    pub fn remove_node(&self, layout: Layout, i: usize) -> Write {
        let name = Self::node_name(i);
        match layout {
            Layout::CalicoV1 => Write::DeletePrefix(format!("{V1}/host/{name}/")),
            Layout::CalicoV3 => Write::DeletePrefix(format!("{V3}/nodes/{name}")),
        }
    }
}

fn v3_object(kind: &str, name: &str, labels: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"projectcalico.org/v3","kind":"{kind}","metadata":{{"name":"{name}","labels":{labels}}},"spec":{spec}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rr_has_its_rack_and_the_mesh() {
        let f = Fabric::new(100_000);
        assert_eq!(f.expected_peers().len(), 2_099);
        assert_eq!(f.kvs(Layout::CalicoV1).len(), 400_102);
    }

    #[test]
    fn v3_objects_decode_as_calico_resources() {
        let f = Fabric::new(100);
        for (key, value) in f.kvs(Layout::CalicoV3) {
            let json: serde_json::Value = serde_json::from_str(&value).unwrap();
            rrd_layouts::calico_v3::decode_object(&json)
                .unwrap_or_else(|e| panic!("{key}: {e}: {value}"));
        }
    }
}

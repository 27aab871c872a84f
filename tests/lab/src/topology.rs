//! A legacy-rules topology file (the file source's format, see
//! `plugins/source-file/src/format.rs`) built from the lab's hosts and
//! replaced atomically, as a config manager would.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// Registered RRs, nodes, global and node-specific peers, one default AS.
#[derive(Clone, Debug, Default)]
pub struct LegacyTopology {
    pub asn: u32,
    /// `rr_v4/<ip>` with its cluster id (`None` = empty).
    pub route_reflectors: Vec<(Ipv4Addr, Option<String>)>,
    /// `host/<name>/ip_addr_v4`.
    pub nodes: Vec<(String, Ipv4Addr)>,
    /// `global/peer_v4/<ip>`.
    pub global_peers: Vec<Ipv4Addr>,
    /// `host/<node>/peer_v4/<ip>`.
    pub node_peers: Vec<(String, Ipv4Addr)>,
}

impl LegacyTopology {
    pub fn new(asn: u32) -> Self {
        LegacyTopology {
            asn,
            ..Self::default()
        }
    }

    pub fn to_toml(&self) -> String {
        let asn = self.asn;
        let mut t = format!("rules = \"legacy\"\n[defaults]\nasn = {asn}\nnode_mesh = false\n");
        for (ip, cluster) in &self.route_reflectors {
            let _ = write!(t, "\n[[route_reflectors]]\nip = \"{ip}\"\n");
            if let Some(c) = cluster {
                let _ = writeln!(t, "cluster_id = \"{c}\"");
            }
        }
        for (name, ip) in &self.nodes {
            let _ = write!(t, "\n[[nodes]]\nname = \"{name}\"\nipv4 = \"{ip}\"\n");
        }
        for ip in &self.global_peers {
            let _ = write!(t, "\n[[peers]]\nip = \"{ip}\"\nasn = {asn}\n");
        }
        for (node, ip) in &self.node_peers {
            let _ = write!(
                t,
                "\n[[peers]]\nnode = \"{node}\"\nip = \"{ip}\"\nasn = {asn}\n"
            );
        }
        t
    }

    /// Write to `path` through a temporary file and a rename.
    pub fn write(&self, path: &Path) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_toml()).expect("write topology");
        std::fs::rename(&tmp, path).expect("rename topology");
    }
}

//! The scenario's moving parts: a lab, the RR host (BIRD started by the
//! lab as systemd would, rrd driving it from a topology file) and clients.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rrd_lab::calico_client::CalicoClient;
use rrd_lab::route_reflector::{RouteReflectorHost, RrDaemon};
use rrd_lab::Lab;

pub const RR_INDEX: u8 = 10;
pub const ASN: u32 = 64512;

/// Fields drop in order: clients and the RR first, the lab last.
pub struct Scenario {
    pub clients: Vec<CalicoClient>,
    pub rr: RouteReflectorHost,
    nodes: BTreeMap<String, Ipv4Addr>,
    topology: PathBuf,
    lab: Lab,
}

impl Scenario {
    pub fn start(daemon: RrDaemon, clients: u8) -> Scenario {
        let mut lab = Lab::new(if daemon == RrDaemon::Bird2 {
            "b2"
        } else {
            "b16"
        });
        let host = lab.add_host("rr", RR_INDEX);
        let topology = lab.path("topology.toml");
        let nodes = (0..clients)
            .map(|i| (format!("c{}", 21 + i), Ipv4Addr::new(198, 51, 100, 21 + i)))
            .collect();
        let rr = RouteReflectorHost::new(
            &lab,
            &host,
            daemon,
            &topology,
            Path::new(env!("CARGO_BIN_EXE_rrd")),
            "[runtime]\nobserve_interval = \"500ms\"\n",
        );
        let mut s = Scenario {
            clients: Vec::new(),
            rr,
            nodes,
            topology,
            lab,
        };
        s.write_topology();
        s.rr.start_rrd();
        s.rr.wait_ready(Duration::from_secs(30));
        for i in 0..clients {
            s.start_client(21 + i);
        }
        s
    }

    fn topology_text(&self) -> String {
        let rr = self.rr.host.ipv4;
        let mut t = format!(
            "rules = \"legacy\"\n[defaults]\nasn = {ASN}\nnode_mesh = false\n\n[[route_reflectors]]\nip = \"{rr}\"\ncluster_id = \"1.0.0.1\"\n\n[[peers]]\nip = \"{rr}\"\nasn = {ASN}\n"
        );
        for (name, ip) in &self.nodes {
            t += &format!("\n[[nodes]]\nname = \"{name}\"\nipv4 = \"{ip}\"\n");
        }
        t
    }

    /// Replace the topology file atomically, as a config manager would.
    pub fn write_topology(&self) {
        self.replace_topology(&self.topology_text());
    }

    /// Write the current topology plus `extra` (to make it invalid).
    pub fn write_raw_topology(&self, extra: &str) {
        self.replace_topology(&format!("{}{extra}", self.topology_text()));
    }

    fn replace_topology(&self, text: &str) {
        let tmp = self.topology.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.topology).unwrap();
    }

    fn start_client(&mut self, index: u8) {
        let host = self.lab.add_host(&format!("c{index}"), index);
        self.clients.push(CalicoClient::start(
            &self.lab,
            &host,
            ASN,
            &[self.rr.host.ipv4],
        ));
    }

    pub fn add_client(&mut self, index: u8) {
        self.nodes
            .insert(format!("c{index}"), Ipv4Addr::new(198, 51, 100, index));
        self.write_topology();
        self.start_client(index);
    }

    pub fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.write_topology();
    }

    pub fn client_blocks(&self) -> Vec<String> {
        self.clients.iter().map(|c| c.block.clone()).collect()
    }

    pub fn rr_since(&self) -> BTreeMap<String, String> {
        self.rr.bird_since()
    }

    pub fn rr_config_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.rr.bird_conf).unwrap()
    }

    pub fn status(&self) -> serde_json::Value {
        self.rr.status_json()
    }

    /// Ready, and the daemon's sessions observed: every desired one
    /// Established.
    pub fn wait_established(&self) -> serde_json::Value {
        self.rr.wait_established(Duration::from_secs(30))
    }

    pub fn restart_rrd(&mut self) {
        self.rr.start_rrd();
    }
}

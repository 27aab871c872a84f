//! The scenario's moving parts: a lab, BIRD as the RR (started by the test,
//! as systemd would), rrd driving it from a topology file, and clients.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use rrd_lab::calico_client::{birdc, CalicoClient};
use rrd_lab::{bins, poll, Host, Lab, Process};
use rrd_runtime::Status;

pub const RR_INDEX: u8 = 10;
pub const ASN: u32 = 64512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrEngine {
    Bird2,
    Bird16,
}

/// Fields drop in order: processes first, the lab (namespaces) last.
pub struct Scenario {
    pub clients: Vec<CalicoClient>,
    rrd: Option<Process>,
    _rr_daemons: Vec<Process>,
    pub rr: Host,
    engine: RrEngine,
    nodes: BTreeMap<String, Ipv4Addr>,
    topology: PathBuf,
    config: PathBuf,
    bird_conf: PathBuf,
    bird_ctl: PathBuf,
    lab: Lab,
}

fn rrd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rrd")
}

impl Scenario {
    pub fn start(engine: RrEngine, clients: u8) -> Scenario {
        let mut lab = Lab::new(match engine {
            RrEngine::Bird2 => "b2",
            RrEngine::Bird16 => "b16",
        });
        let rr = lab.add_host("rr", RR_INDEX);
        let bird_conf = lab.path("rr-bird.conf");
        let bird_ctl = lab.path("rr-bird.ctl");
        let bootstrap = format!("router id {};\nprotocol device {{ }}\n", rr.ipv4);
        std::fs::write(&bird_conf, &bootstrap).unwrap();
        let mut daemons = Vec::new();
        match engine {
            RrEngine::Bird2 => daemons.push(rr.spawn(
                "rr bird2",
                bins::bird2(),
                &["-f", "-c", bird_conf.to_str().unwrap(), "-s", bird_ctl.to_str().unwrap()],
                lab.path("rr-bird.log"),
            )),
            RrEngine::Bird16 => {
                std::fs::write(lab.path("rr-bird6.conf"), &bootstrap).unwrap();
                daemons.push(rr.spawn(
                    "rr bird",
                    bins::bird16(),
                    &["-f", "-c", bird_conf.to_str().unwrap(), "-s", bird_ctl.to_str().unwrap()],
                    lab.path("rr-bird.log"),
                ));
                daemons.push(rr.spawn(
                    "rr bird6",
                    bins::bird16_v6(),
                    &["-f", "-c", lab.path("rr-bird6.conf").to_str().unwrap(), "-s", lab.path("rr-bird6.ctl").to_str().unwrap()],
                    lab.path("rr-bird6.log"),
                ));
            }
        }
        let mut s = Scenario {
            clients: Vec::new(),
            rrd: None,
            _rr_daemons: daemons,
            rr,
            engine,
            nodes: BTreeMap::new(),
            topology: lab.path("topology.toml"),
            config: lab.path("rrd.toml"),
            bird_conf,
            bird_ctl,
            lab,
        };
        poll::until("the RR's BIRD control socket", Duration::from_secs(10), || {
            if s.bird_ctl.exists() { Ok(()) } else { Err("no socket yet".into()) }
        });
        for i in 0..clients {
            let index = 21 + i;
            s.nodes.insert(format!("c{index}"), Ipv4Addr::new(198, 51, 100, index));
        }
        s.write_topology();
        s.write_rrd_config();
        s.rrd = Some(s.spawn_rrd());
        s.wait_ready();
        for i in 0..clients {
            s.start_client(21 + i);
        }
        s
    }

    fn write_rrd_config(&self) {
        let (version, binary, binary_v6) = match self.engine {
            RrEngine::Bird2 => ("2", bins::bird2(), bins::bird2()),
            RrEngine::Bird16 => ("1.6", bins::bird16(), bins::bird16_v6()),
        };
        let text = format!(
            r#"[identity]
ipv4 = "{rr}"

[source]
kind = "file"
[source.file]
path = "{topology}"
poll_interval = "100ms"

[engine]
kind = "bird"
[engine.bird]
version = "{version}"
config_path = "{conf}"
config_path_v6 = "{conf6}"
socket = "{ctl}"
socket_v6 = "{ctl6}"
binary = "{binary}"
binary_v6 = "{binary_v6}"

[runtime]
observe_interval = "500ms"

[http]
listen = "127.0.0.1:9180"

[log]
level = "debug"
"#,
            rr = self.rr.ipv4,
            topology = self.topology.display(),
            conf = self.bird_conf.display(),
            conf6 = self.lab.path("rr-bird6.conf").display(),
            ctl = self.bird_ctl.display(),
            ctl6 = self.lab.path("rr-bird6.ctl").display(),
            binary = binary.display(),
            binary_v6 = binary_v6.display(),
        );
        std::fs::write(&self.config, text).unwrap();
    }

    fn spawn_rrd(&self) -> Process {
        self.rr.spawn(
            "rrd",
            rrd_bin(),
            &["run", "--config", self.config.to_str().unwrap()],
            self.lab.path("rrd.log"),
        )
    }

    fn topology_text(&self) -> String {
        let mut t = format!(
            "rules = \"legacy\"\n[defaults]\nasn = {ASN}\nnode_mesh = false\n\n[[route_reflectors]]\nip = \"{}\"\ncluster_id = \"1.0.0.1\"\n\n[[peers]]\nip = \"{}\"\nasn = {ASN}\n",
            self.rr.ipv4, self.rr.ipv4
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
        self.clients.push(CalicoClient::start(&self.lab, &host, ASN, &[self.rr.ipv4]));
    }

    pub fn add_client(&mut self, index: u8) {
        self.nodes.insert(format!("c{index}"), Ipv4Addr::new(198, 51, 100, index));
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

    /// The RR's BGP sessions and their "since" column.
    pub fn rr_since(&self) -> BTreeMap<String, String> {
        let birdc_bin = match self.engine {
            RrEngine::Bird2 => bins::birdc2(),
            RrEngine::Bird16 => bins::birdc16(),
        };
        let text = birdc(&birdc_bin, &self.bird_ctl, "show protocols");
        text.lines()
            .filter_map(|l| {
                let cols: Vec<_> = l.split_whitespace().collect();
                let name = *cols.first()?;
                let known = ["Global_", "Node_", "Mesh_"].iter().any(|p| name.starts_with(p));
                (known && cols.len() >= 5).then(|| (name.to_string(), cols[4].to_string()))
            })
            .collect()
    }

    pub fn rr_config_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.bird_conf).unwrap()
    }

    pub fn status(&self) -> Status {
        let out = self
            .rr
            .command(rrd_bin())
            .args(["status", "--json", "--url", "127.0.0.1:9180"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    pub fn wait_ready(&self) -> Status {
        poll::until("rrd ready", Duration::from_secs(30), || {
            let st = self.status();
            if st.ready() {
                Ok(st)
            } else {
                Err(format!("status: {st:#?}\nrrd log:\n{}", self.rrd.as_ref().map(Process::log_text).unwrap_or_default()))
            }
        })
    }

    pub fn restart_rrd(&mut self) {
        if let Some(mut old) = self.rrd.take() {
            old.stop();
        }
        self.rrd = Some(self.spawn_rrd());
    }
}

//! The lab of the etcd scenarios: an etcd host, the RR host where rrd runs
//! in drop-in mode (no config file, the image's environment), clients.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rrd_lab::calico_client::{birdc, CalicoClient};
use rrd_lab::etcd::EtcdHost;
use rrd_lab::{bins, poll, Host, Lab, Process};

pub const ASN: u32 = 65100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    V2,
    V3,
}

/// Fields drop in order: processes first, the lab last.
pub struct SeedLab {
    pub clients: Vec<CalicoClient>,
    rrd: Option<Process>,
    pub etcd: EtcdHost,
    pub rr: Host,
    api: Api,
    lab: Lab,
}

fn rrd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rrd")
}

impl SeedLab {
    pub fn new(api: Api) -> SeedLab {
        let mut lab = Lab::new(if api == Api::V2 { "e2" } else { "e3" });
        let etcd_host = lab.add_host("etcd", 5);
        let rr = lab.add_host("rr", 10);
        let etcd = EtcdHost::start(&lab, &etcd_host);
        SeedLab {
            clients: Vec::new(),
            rrd: None,
            etcd,
            rr,
            api,
            lab,
        }
    }

    pub fn put(&self, key: &str, value: &str) {
        match self.api {
            Api::V2 => self.etcd.put_v2(key, value),
            Api::V3 => self.etcd.put_v3(key, value),
        }
    }

    /// The seed's writes, with lab addresses: `calicoctl bgp node-mesh off`,
    /// `calicoctl bgp peer add <rr> as 65100`, the nodes' own keys, and the
    /// README's `curl -XPUT .../rr_v4/<rr> -d value={"ip":..,"cluster_id":"1.0.0.1"}`.
    pub fn write_seed(&self) {
        let rr = self.rr.ipv4;
        self.put("/calico/bgp/v1/global/node_mesh", r#"{"enabled":false}"#);
        self.put(
            &format!("/calico/bgp/v1/global/peer_v4/{rr}"),
            &format!(r#"{{"ip":"{rr}","as_num":"{ASN}"}}"#),
        );
        for i in 21..=23 {
            self.put(
                &format!("/calico/bgp/v1/host/c{i}/ip_addr_v4"),
                &format!("198.51.100.{i}"),
            );
        }
        self.put(
            &format!("/calico/bgp/v1/rr_v4/{rr}"),
            &format!(r#"{{"ip":"{rr}","cluster_id":"1.0.0.1"}}"#),
        );
    }

    fn dropin_command(&self, args: &[&str], ip: &str) -> std::process::Command {
        let mut cmd = self.rr.command(rrd_bin());
        cmd.args(args)
            .env_remove("RRD_CONFIG")
            .env("IP", ip)
            .env("ETCD_AUTHORITY", self.etcd.authority())
            .env(
                "RRD_ETCD_API",
                if self.api == Api::V2 { "v2" } else { "v3" },
            )
            .env("RRD_STATE_DIR", self.lab.path("rr-state"))
            .env("RRD_RUN_DIR", self.lab.path("rr-run"))
            .env("RRD_BIRD_BINARY", bins::bird2())
            .env("RUST_LOG", "debug");
        cmd
    }

    /// `rrd run` with the image's environment only.
    pub fn start_rrd(&mut self) {
        let cmd = self.dropin_command(&["run"], &self.rr.ipv4.to_string());
        self.rrd = Some(Process::spawn("rrd", cmd, self.lab.path("rrd.log")));
    }

    /// Start another build of rrd as the RR (e.g. the container image's,
    /// chrooted): `program args` run in the RR's namespace, logged to the
    /// lab's rrd.log, stopped with the lab. (Used by tests/image_smoke,
    /// which includes this file.)
    #[allow(dead_code)]
    pub fn start_rrd_with(&mut self, program: &str, args: &[&str]) {
        let mut cmd = self.rr.command(program);
        cmd.args(args);
        self.rrd = Some(Process::spawn("rrd", cmd, self.lab.path("rrd.log")));
    }

    /// Run an rrd subcommand in drop-in mode as RR `ip`.
    pub fn dropin(&self, args: &[&str], ip: &str) -> std::process::Output {
        self.dropin_command(args, ip).output().expect("run rrd")
    }

    /// The raw value of `key` (v2 or v3 API, as configured).
    pub fn get(&self, key: &str) -> Option<String> {
        match self.api {
            Api::V2 => self.etcd.get_v2(key),
            Api::V3 => self.etcd.get_v3(key),
        }
    }

    /// `rrd render` in drop-in mode as RR `ip`.
    pub fn render_as(&self, ip: &str) -> String {
        let out = self
            .dropin_command(&["render"], ip)
            .output()
            .expect("rrd render");
        assert!(
            out.status.success(),
            "rrd render: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self
            .rr
            .command(rrd_bin())
            .args(["status", "--json", "--url", "127.0.0.1:9180"])
            .output()
            .expect("rrd status");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn wait_ready(&self, timeout: Duration) {
        poll::until("rrd ready", timeout, || {
            let s = self.status();
            let ready = s["source"]["synced"] == true
                && s["source"]["connected"] == true
                && s["in_sync"] == true;
            if ready {
                Ok(())
            } else {
                let log = std::fs::read_to_string(self.lab.path("rrd.log")).unwrap_or_default();
                let tail: Vec<_> = log.lines().rev().take(20).collect();
                Err(format!(
                    "{s:#}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ))
            }
        });
    }

    pub fn bird_conf_path(&self) -> PathBuf {
        self.lab.path("rr-state").join("bird.conf")
    }

    pub fn bird_conf(&self) -> Vec<u8> {
        std::fs::read(self.bird_conf_path()).unwrap_or_default()
    }

    /// The RR's BGP protocols and their "since" column.
    pub fn rr_protocols(&self) -> BTreeMap<String, String> {
        let socket = self.lab.path("rr-run").join("bird.ctl");
        rrd_lab::since::since_by_session(&birdc(&bins::birdc2(), &socket, "show protocols"))
    }

    pub fn start_clients(&mut self) {
        for i in 21..=23 {
            let host = self.lab.add_host(&format!("c{i}"), i);
            self.clients
                .push(CalicoClient::start(&self.lab, &host, ASN, &[self.rr.ipv4]));
        }
    }

    /// Every client learns every other client's block through the RR.
    pub fn check_reflection(&self) {
        for c in &self.clients {
            let others: Vec<String> = self
                .clients
                .iter()
                .filter(|o| o.block != c.block)
                .map(|o| o.block.clone())
                .collect();
            c.wait_for_routes(&others, Duration::from_secs(60));
            for o in self.clients.iter().filter(|o| o.block != c.block) {
                let a = c.route_attributes(&o.block);
                assert_eq!(a.originator_id, Some(o.host.ipv4.to_string()), "{a:?}");
                assert_eq!(a.cluster_list.as_deref(), Some("1.0.0.1"), "{a:?}");
            }
        }
    }

    pub fn assert_clients_hold_all_routes(&self) {
        for c in &self.clients {
            let have = c.host.bird_routes();
            for o in self.clients.iter().filter(|o| o.block != c.block) {
                assert!(
                    have.contains(&o.block),
                    "{} lost {}: {have:?}",
                    c.host.name,
                    o.block
                );
            }
        }
    }
}

//! A route-reflector host of a lab: the BGP daemon (started by the lab, as
//! systemd would) and rrd driving it from a topology file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::calico_client::birdc;
use crate::lab::{Host, Lab};
use crate::process::Process;
use crate::{bins, poll};

/// Which daemon the RR runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrDaemon {
    Bird2,
    Bird16,
    Gobgp,
}

/// gRPC port of gobgpd inside the RR's namespace.
pub const GOBGP_API: &str = "127.0.0.1:50051";
/// rrd's HTTP endpoint inside the RR's namespace.
pub const RRD_HTTP: &str = "127.0.0.1:9180";

/// Fields drop in order: rrd first, then the daemons.
#[derive(Debug)]
pub struct RouteReflectorHost {
    rrd: Option<Process>,
    daemons: Vec<Process>,
    pub host: Host,
    pub daemon: RrDaemon,
    pub rrd_binary: PathBuf,
    pub config: PathBuf,
    pub bird_conf: PathBuf,
    pub bird_ctl: PathBuf,
    pub log: PathBuf,
}

impl RouteReflectorHost {
    /// Start the daemon in `host`'s namespace and write rrd's config for
    /// `topology` (rrd itself starts with [`Self::start_rrd`]).
    /// `extra_config` is appended to rrd's TOML (e.g. a `[runtime]` table).
    pub fn new(
        lab: &Lab,
        host: &Host,
        daemon: RrDaemon,
        topology: &Path,
        rrd_binary: &Path,
        extra_config: &str,
    ) -> Self {
        let p = |s: &str| lab.path(&format!("{}-{s}", host.name));
        let bird_conf = p("bird.conf");
        let bird_ctl = p("bird.ctl");
        let bootstrap = format!("router id {};\nprotocol device {{ }}\n", host.ipv4);
        let mut daemons = Vec::new();
        let engine = match daemon {
            RrDaemon::Bird2 | RrDaemon::Bird16 => {
                let (version, bird, bird6) = if daemon == RrDaemon::Bird2 {
                    ("2", bins::bird2(), bins::bird2())
                } else {
                    ("1.6", bins::bird16(), bins::bird16_v6())
                };
                std::fs::write(&bird_conf, &bootstrap).expect("bootstrap bird.conf");
                daemons.push(host.spawn(
                    "bird",
                    &bird,
                    &[
                        "-f",
                        "-c",
                        bird_conf.to_str().unwrap(),
                        "-s",
                        bird_ctl.to_str().unwrap(),
                    ],
                    p("bird.log"),
                ));
                if daemon == RrDaemon::Bird16 {
                    std::fs::write(p("bird6.conf"), &bootstrap).expect("bootstrap bird6.conf");
                    daemons.push(host.spawn(
                        "bird6",
                        &bird6,
                        &[
                            "-f",
                            "-c",
                            p("bird6.conf").to_str().unwrap(),
                            "-s",
                            p("bird6.ctl").to_str().unwrap(),
                        ],
                        p("bird6.log"),
                    ));
                }
                poll::until(
                    "the RR's BIRD control socket",
                    Duration::from_secs(10),
                    || {
                        if bird_ctl.exists() {
                            Ok(())
                        } else {
                            Err("no socket yet".into())
                        }
                    },
                );
                format!(
                    "[engine]\nkind = \"bird\"\n[engine.bird]\nversion = \"{version}\"\nconfig_path = \"{}\"\nconfig_path_v6 = \"{}\"\n\
                     socket = \"{}\"\nsocket_v6 = \"{}\"\nbinary = \"{}\"\nbinary_v6 = \"{}\"\n",
                    bird_conf.display(),
                    p("bird6.conf").display(),
                    bird_ctl.display(),
                    p("bird6.ctl").display(),
                    bird.display(),
                    bird6.display()
                )
            }
            RrDaemon::Gobgp => {
                daemons.push(host.spawn(
                    "gobgpd",
                    bins::gobgpd(),
                    &["--api-hosts", GOBGP_API, "--pprof-disable", "--log-plain"],
                    p("gobgpd.log"),
                ));
                format!("[engine]\nkind = \"gobgp\"\n[engine.gobgp]\napi = \"{GOBGP_API}\"\n")
            }
        };
        let config = p("rrd.toml");
        let text = format!(
            "[identity]\nipv4 = \"{}\"\n\n[source]\nkind = \"file\"\n[source.file]\npath = \"{}\"\npoll_interval = \"100ms\"\n\n{engine}\n\
             [http]\nlisten = \"{RRD_HTTP}\"\n\n[log]\nlevel = \"debug\"\n\n{extra_config}",
            host.ipv4,
            topology.display(),
        );
        std::fs::write(&config, text).expect("write rrd.toml");
        RouteReflectorHost {
            rrd: None,
            daemons,
            host: host.clone(),
            daemon,
            rrd_binary: rrd_binary.to_path_buf(),
            config,
            bird_conf,
            bird_ctl,
            log: p("rrd.log"),
        }
    }

    /// Start (or restart) `rrd run` in the RR's namespace.
    pub fn start_rrd(&mut self) {
        self.stop_rrd();
        self.rrd = Some(self.host.spawn(
            "rrd",
            &self.rrd_binary,
            &["run", "--config", self.config.to_str().unwrap()],
            self.log.clone(),
        ));
    }

    pub fn stop_rrd(&mut self) {
        if let Some(mut p) = self.rrd.take() {
            p.stop();
        }
    }

    /// The BGP daemon processes (for kill/restart tests).
    pub fn daemons_mut(&mut self) -> &mut Vec<Process> {
        &mut self.daemons
    }

    /// Run an rrd subcommand in the RR's namespace.
    pub fn rrd(&self, args: &[&str]) -> Output {
        self.host
            .command(&self.rrd_binary)
            .args(args)
            .output()
            .expect("run rrd")
    }

    /// `rrd status --json` as a JSON value (`Null` when rrd does not answer).
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.rrd(&["status", "--json", "--url", RRD_HTTP]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// `rrd status` as printed for an operator.
    pub fn status_table(&self) -> String {
        String::from_utf8_lossy(&self.rrd(&["status", "--url", RRD_HTTP]).stdout).into_owned()
    }

    pub fn rrd_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until rrd's `/readyz` condition holds; returns the status.
    pub fn wait_ready(&self, timeout: Duration) -> serde_json::Value {
        poll::until(&format!("rrd on {} ready", self.host.name), timeout, || {
            let s = self.status_json();
            let ready = s["source"]["synced"] == true
                && s["source"]["connected"] == true
                && s["in_sync"] == true
                && s["pending_mass_removal"].is_null();
            if ready {
                Ok(s)
            } else {
                Err(format!(
                    "status: {s:#}\nrrd log (tail):\n{}",
                    tail(&self.rrd_log(), 30)
                ))
            }
        })
    }

    /// BIRD's session names and their "since" column (BIRD daemons only).
    pub fn bird_since(&self) -> BTreeMap<String, String> {
        let birdc_bin = match self.daemon {
            RrDaemon::Bird2 => bins::birdc2(),
            RrDaemon::Bird16 => bins::birdc16(),
            RrDaemon::Gobgp => panic!("bird_since on a GoBGP RR"),
        };
        birdc(&birdc_bin, &self.bird_ctl, "show protocols")
            .lines()
            .filter_map(|l| {
                let cols: Vec<_> = l.split_whitespace().collect();
                let name = *cols.first()?;
                let ours = ["Global_", "Node_", "Mesh_"]
                    .iter()
                    .any(|p| name.starts_with(p));
                (ours && cols.len() >= 5).then(|| (name.to_string(), cols[4].to_string()))
            })
            .collect()
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<_> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

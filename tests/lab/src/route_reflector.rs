//! A route-reflector host of a lab: the BGP daemon (started by the lab, as
//! systemd would) and rrd driving it from a topology file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use nix::sys::signal::Signal;

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
    /// FRR's bgpd alone (no zebra) in a pathspace of its own, attached by
    /// rrd over its vty socket.
    Frr,
}

/// How the lab starts the RR's daemon (again after a stop).
#[derive(Debug)]
struct DaemonCommand {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// BIRD's control socket: removed before a start, waited for after.
    socket: Option<PathBuf>,
}

impl DaemonCommand {
    fn bird(name: &str, program: &Path, config: &Path, socket: &Path, log: PathBuf) -> Self {
        DaemonCommand {
            name: name.into(),
            program: program.to_path_buf(),
            args: vec![
                "-f".into(),
                "-c".into(),
                config.display().to_string(),
                "-s".into(),
                socket.display().to_string(),
            ],
            log,
            socket: Some(socket.to_path_buf()),
        }
    }
}

/// The BGP view rrd configures in FRR.
pub const FRR_VIEW: &str = "rrd";

/// gRPC port of gobgpd inside the RR's namespace.
pub const GOBGP_API: &str = "127.0.0.1:50051";
/// rrd's HTTP endpoint inside the RR's namespace.
pub const RRD_HTTP: &str = "127.0.0.1:9180";

/// Fields drop in order: rrd first, then the daemons.
#[derive(Debug)]
pub struct RouteReflectorHost {
    rrd: Option<Process>,
    daemons: Vec<Process>,
    commands: Vec<DaemonCommand>,
    pub host: Host,
    pub daemon: RrDaemon,
    pub rrd_binary: PathBuf,
    pub config: PathBuf,
    pub bird_conf: PathBuf,
    pub bird_ctl: PathBuf,
    /// FRR: the folder of bgpd's vty socket, and bgpd's pathspace.
    pub frr_socket_dir: PathBuf,
    pub frr_pathspace: String,
    pub log: PathBuf,
}

impl Drop for RouteReflectorHost {
    fn drop(&mut self) {
        if self.daemon == RrDaemon::Frr {
            let _ = std::fs::remove_dir(bins::frr_pathspace_dir(&self.frr_pathspace));
        }
    }
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
        let source = format!(
            "[source]\nkind = \"file\"\n[source.file]\npath = \"{}\"\npoll_interval = \"100ms\"\n",
            topology.display()
        );
        Self::with_source(lab, host, daemon, "", &source, rrd_binary, extra_config)
    }

    /// [`Self::new`] with any datastore: `identity` is added to the
    /// `[identity]` table (which holds the host's address), `source` is the
    /// `[source]` table and its subtable.
    pub fn with_source(
        lab: &Lab,
        host: &Host,
        daemon: RrDaemon,
        identity: &str,
        source: &str,
        rrd_binary: &Path,
        extra_config: &str,
    ) -> Self {
        let p = |s: &str| lab.path(&format!("{}-{s}", host.name));
        let bird_conf = p("bird.conf");
        let bird_ctl = p("bird.ctl");
        let bootstrap = format!("router id {};\nprotocol device {{ }}\n", host.ipv4);
        let mut commands = Vec::new();
        let frr_socket_dir = p("frr-run");
        let frr_pathspace = format!("{}{}", lab.id, host.name);
        let engine = match daemon {
            RrDaemon::Bird2 | RrDaemon::Bird16 => {
                let (version, bird, bird6) = if daemon == RrDaemon::Bird2 {
                    ("2", bins::bird2(), bins::bird2())
                } else {
                    ("1.6", bins::bird16(), bins::bird16_v6())
                };
                std::fs::write(&bird_conf, &bootstrap).expect("bootstrap bird.conf");
                commands.push(DaemonCommand::bird(
                    "bird",
                    &bird,
                    &bird_conf,
                    &bird_ctl,
                    p("bird.log"),
                ));
                if daemon == RrDaemon::Bird16 {
                    std::fs::write(p("bird6.conf"), &bootstrap).expect("bootstrap bird6.conf");
                    commands.push(DaemonCommand::bird(
                        "bird6",
                        &bird6,
                        &p("bird6.conf"),
                        &p("bird6.ctl"),
                        p("bird6.log"),
                    ));
                }
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
                commands.push(DaemonCommand {
                    name: "gobgpd".into(),
                    program: bins::gobgpd(),
                    args: ["--api-hosts", GOBGP_API, "--pprof-disable", "--log-plain"]
                        .map(String::from)
                        .to_vec(),
                    log: p("gobgpd.log"),
                    socket: None,
                });
                format!("[engine]\nkind = \"gobgp\"\n[engine.gobgp]\napi = \"{GOBGP_API}\"\n")
            }
            RrDaemon::Frr => {
                // As a service would run it: bgpd alone, its own pathspace,
                // a file holding no BGP yet (rrd attaches over the socket).
                std::fs::create_dir_all(&frr_socket_dir).expect("bgpd socket dir");
                let conf = p("bgpd.conf");
                std::fs::write(&conf, "frr defaults traditional\n").expect("bootstrap bgpd.conf");
                let d = |x: &Path| x.display().to_string();
                commands.push(DaemonCommand {
                    name: "bgpd".into(),
                    program: bins::bgpd(),
                    args: vec![
                        "-Z".into(),
                        "-S".into(),
                        "-N".into(),
                        frr_pathspace.clone(),
                        "--vty_socket".into(),
                        d(&frr_socket_dir),
                        "-f".into(),
                        d(&conf),
                        "-i".into(),
                        d(&frr_socket_dir.join("bgpd.pid")),
                        "--log".into(),
                        "stdout".into(),
                    ],
                    log: p("bgpd.log"),
                    socket: Some(frr_socket_dir.join("bgpd.vty")),
                });
                format!(
                    "[engine]\nkind = \"frr\"\n[engine.frr]\npathspace = \"{frr_pathspace}\"\nsocket_dir = \"{}\"\n\
                     state_dir = \"{}\"\nview = \"{FRR_VIEW}\"\nbinary = \"{}\"\n",
                    d(&frr_socket_dir),
                    d(&p("frr-state")),
                    d(&bins::bgpd()),
                )
            }
        };
        let config = p("rrd.toml");
        let text = format!(
            "[identity]\nipv4 = \"{}\"\n{identity}\n{source}\n{engine}\n\
             [http]\nlisten = \"{RRD_HTTP}\"\nadmin_socket = \"{}\"\n\n[log]\nlevel = \"debug\"\n\n{extra_config}",
            host.ipv4,
            p("rrd.sock").display(),
        );
        std::fs::write(&config, text).expect("write rrd.toml");
        let mut rr = RouteReflectorHost {
            rrd: None,
            daemons: Vec::new(),
            commands,
            host: host.clone(),
            daemon,
            rrd_binary: rrd_binary.to_path_buf(),
            config,
            bird_conf,
            bird_ctl,
            frr_socket_dir,
            frr_pathspace,
            log: p("rrd.log"),
        };
        rr.start_daemon();
        rr
    }

    /// Start the BGP daemon as its service manager would: with the config
    /// files on disk (bootstrap at first, then what rrd rendered). Waits
    /// for BIRD's control socket (bgpd's vty socket); gobgpd and bgpd
    /// start without rrd's sessions.
    pub fn start_daemon(&mut self) {
        assert!(self.daemons.is_empty(), "the RR's daemon already runs");
        for c in &self.commands {
            if let Some(socket) = &c.socket {
                let _ = std::fs::remove_file(socket);
            }
            let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
            self.daemons
                .push(self.host.spawn(&c.name, &c.program, &args, c.log.clone()));
        }
        for socket in self.commands.iter().filter_map(|c| c.socket.as_ref()) {
            poll::until(
                "the RR daemon's control socket",
                Duration::from_secs(10),
                || {
                    if socket.exists() {
                        Ok(())
                    } else {
                        Err(format!("no {} yet", socket.display()))
                    }
                },
            );
        }
    }

    /// Stop the BGP daemon with `signal` and wait for it to exit: SIGTERM
    /// sends a Cease to every peer (both daemons), SIGKILL leaves the
    /// peers to find the TCP connection gone (graceful-restart helpers
    /// keep its routes as stale).
    pub fn stop_daemon(&mut self, signal: Signal) {
        for mut d in self.daemons.drain(..) {
            d.stop_with(signal);
        }
    }

    /// The `gobgp` CLI against this RR's gobgpd (inside its namespace).
    pub fn gobgp(&self, args: &[&str]) -> Result<String, String> {
        let (host, port) = GOBGP_API.split_once(':').expect("host:port");
        let out = self
            .host
            .command(bins::gobgp())
            .args(["-u", host, "-p", port])
            .args(args)
            .output()
            .map_err(|e| format!("gobgp: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "gobgp {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// `vtysh -c <command>` against this RR's bgpd (FRR only).
    pub fn vtysh(&self, command: &str) -> String {
        let out = self
            .host
            .command(bins::vtysh())
            .arg("--vty_socket")
            .arg(&self.frr_socket_dir)
            .args(["-c", command])
            .output();
        out.map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_else(|e| format!("vtysh: {e}"))
    }

    /// gobgpd's peers (`gobgp neighbor -j`): `conf.neighbor_address`,
    /// `conf.description`, `state.session_state` (6 = established), ...
    pub fn gobgp_neighbors(&self) -> Result<Vec<serde_json::Value>, String> {
        let text = self.gobgp(&["neighbor", "-j"])?;
        serde_json::from_str(&text).map_err(|e| format!("gobgp neighbor -j: {e}: {text}"))
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

    /// Wait until rrd is ready and the daemon reports every desired
    /// session Established (`desired` and `sessions` of `rrd status`);
    /// returns that status.
    pub fn wait_established(&self, timeout: Duration) -> serde_json::Value {
        let what = format!("every session of {} Established", self.host.name);
        poll::until(&what, timeout, || {
            let s = self.status_json();
            let (desired, established) = desired_and_established(&s);
            let ready = s["in_sync"] == true && s["source"]["synced"] == true;
            if ready && !desired.is_empty() && desired == established {
                Ok(s)
            } else {
                Err(format!(
                    "desired {desired:?}, established {established:?}\n{}\nrrd log (tail):\n{}",
                    self.status_table(),
                    tail(&self.rrd_log(), 20)
                ))
            }
        })
    }

    /// BIRD's session names and their "since" column (BIRD daemons only).
    pub fn bird_since(&self) -> BTreeMap<String, String> {
        let birdc_bin = match self.daemon {
            RrDaemon::Bird2 => bins::birdc2(),
            RrDaemon::Bird16 => bins::birdc16(),
            RrDaemon::Gobgp | RrDaemon::Frr => panic!("bird_since on a {:?} RR", self.daemon),
        };
        crate::since::since_by_session(&birdc(&birdc_bin, &self.bird_ctl, "show protocols"))
    }
}

/// The session names rrd wants and those the daemon has Established,
/// from an `rrd status --json` value.
pub fn desired_and_established(status: &serde_json::Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let desired = status["desired"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let established = status["sessions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|x| x["state"] == "Established")
                .filter_map(|x| x["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (desired, established)
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<_> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

//! The RR's BGP daemon, started by the lab as a service manager would
//! (BIRD with a bootstrap file, gobgpd empty, bgpd with a file holding no
//! BGP) or left to rrd to start (`manage_process`), and the probes that
//! look into it: every measurement is taken through the daemon's own
//! interface (BIRD's control socket, GoBGP's ListPeer and peer events,
//! bgpd's vty socket), never through rrd.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use rrd_core::{Asn, Neighbor, PeerKey, Role, SessionKind};
use rrd_engine_bird::socket::BirdSocket;
use rrd_engine_frr::full_look::{neighbor_of, read_neighbors, WINDOW};
use rrd_engine_frr::view::View;
use rrd_engine_frr::vty::Vty;
use rrd_engine_frr::FrrConfig;
use rrd_engine_gobgp::mapping::{peer_of_spec, spec_of_neighbor, MapContext};
use rrd_engine_gobgp::Client;
use rrd_lab::{bins, poll, Host, Lab, Process};

/// gobgpd's gRPC address inside the RR's namespace.
pub const GOBGP_API: &str = "127.0.0.1:50051";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Bird,
    Gobgp,
    Frr,
}

impl Engine {
    pub fn label(self) -> &'static str {
        match self {
            Engine::Bird => "BIRD 2",
            Engine::Gobgp => "GoBGP",
            Engine::Frr => "FRR",
        }
    }

    /// The name of `--engines` and of the run's files.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Bird => "bird",
            Engine::Gobgp => "gobgp",
            Engine::Frr => "frr",
        }
    }

    pub fn of_name(name: &str) -> anyhow::Result<Engine> {
        [Engine::Bird, Engine::Gobgp, Engine::Frr]
            .into_iter()
            .find(|e| e.name() == name)
            .with_context(|| format!("unknown engine {name:?}"))
    }
}

/// The view rrd configures in bgpd (the FRR engine's default).
pub const FRR_VIEW: &str = "rrd";

/// A daemon plus what rrd needs to know to drive it: started by the lab
/// ([`Daemon::start`]), or by rrd itself ([`Daemon::managed`]).
#[derive(Debug)]
pub struct Daemon {
    pub engine: Engine,
    /// The lab's process; `None` when rrd runs the daemon.
    pub process: Option<Process>,
    pub bird_conf: PathBuf,
    pub bird_ctl: PathBuf,
    /// FRR: rrd's `[engine.frr]` (pathspace, socket, files).
    pub frr: FrrConfig,
    /// GoBGP: the Go collector's target (`GOGC`) of gobgpd, whoever starts
    /// it: rrd's `engine.gobgp.gogc` when rrd runs it; 0 = Go's default.
    pub gobgp_gogc: u32,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        drop(self.process.take());
        if self.engine == Engine::Frr {
            // bgpd makes /run/frr/<pathspace>/ for itself.
            let _ = std::fs::remove_dir(bins::frr_pathspace_dir(&self.frr.pathspace));
        }
    }
}

impl Daemon {
    /// The files of a daemon tagged `tag`; nothing started.
    fn files(lab: &Lab, engine: Engine, tag: &str) -> Daemon {
        let frr_dir = lab.path(&format!("{tag}-frr"));
        Daemon {
            engine,
            process: None,
            bird_conf: lab.path(&format!("{tag}-bird.conf")),
            bird_ctl: lab.path(&format!("{tag}-bird.ctl")),
            frr: FrrConfig {
                binary: bins::bgpd(),
                log_file: Some(frr_dir.join("bgpd.log")),
                ..FrrConfig::in_dir(&frr_dir, &format!("rrdbench{}", std::process::id()))
            },
            gobgp_gogc: 0,
        }
    }

    /// A daemon that rrd starts and stops itself (`manage_process`, as the
    /// container image and the packages run it).
    pub fn managed(lab: &Lab, engine: Engine, tag: &str, gobgp_gogc: u32) -> Option<Daemon> {
        let mut d = Daemon::files(lab, engine, tag);
        d.gobgp_gogc = gobgp_gogc;
        match engine {
            Engine::Bird => {
                let _ = std::fs::remove_file(&d.bird_conf);
                let _ = std::fs::remove_file(&d.bird_ctl);
            }
            Engine::Gobgp => {
                let _ = std::fs::remove_dir_all(d.gobgp_state_dir());
            }
            Engine::Frr => {
                let _ = std::fs::remove_dir_all(&d.frr.state_dir);
                let _ = std::fs::remove_file(&d.frr.config_path);
                d.frr.manage_process = true;
                d.frr.stop_daemon_on_exit = true;
            }
        }
        Some(d)
    }

    /// The PID file of the daemon rrd runs.
    pub fn managed_pid_file(&self) -> PathBuf {
        match self.engine {
            Engine::Frr => self.frr.pid_path(),
            Engine::Gobgp => self.gobgp_state_dir().join("gobgpd.pid"),
            Engine::Bird => rrd_engine_bird::BirdConfig::pid_path(&self.bird_conf),
        }
    }

    /// gobgpd run by rrd: `[engine.gobgp] state_dir` (PID file, applied
    /// record), beside the daemon's other files.
    fn gobgp_state_dir(&self) -> PathBuf {
        let name = self
            .bird_conf
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let tag = name.strip_suffix("-bird.conf").unwrap_or(name);
        self.bird_conf.with_file_name(format!("{tag}-gobgp-state"))
    }

    /// Start the daemon as an operator would run it beside rrd. gobgpd
    /// gets `GOGC=<gobgp_gogc>` (unless 0), as rrd would give it.
    pub fn start(
        lab: &Lab,
        host: &Host,
        engine: Engine,
        tag: &str,
        gobgp_gogc: u32,
    ) -> anyhow::Result<Daemon> {
        let mut daemon = Daemon::files(lab, engine, tag);
        daemon.gobgp_gogc = gobgp_gogc;
        let Daemon {
            bird_conf,
            bird_ctl,
            frr,
            ..
        } = &daemon;
        let process = match engine {
            Engine::Bird => {
                std::fs::write(
                    bird_conf,
                    format!("router id {};\nprotocol device {{ }}\n", host.ipv4),
                )?;
                let _ = std::fs::remove_file(bird_ctl);
                let p = host.spawn(
                    "bird",
                    bins::bird2(),
                    &[
                        "-f",
                        "-c",
                        bird_conf.to_str().context("path")?,
                        "-s",
                        bird_ctl.to_str().context("path")?,
                    ],
                    lab.path(&format!("{tag}-bird.log")),
                );
                let ctl = bird_ctl.clone();
                poll::until("BIRD's control socket", Duration::from_secs(10), || {
                    if ctl.exists() {
                        Ok(())
                    } else {
                        Err("no socket yet".into())
                    }
                });
                p
            }
            Engine::Gobgp => {
                let mut cmd = host.command(bins::gobgpd());
                cmd.args(["--api-hosts", GOBGP_API, "--pprof-disable", "--log-plain"]);
                if gobgp_gogc != 0 {
                    cmd.env("GOGC", gobgp_gogc.to_string());
                }
                Process::spawn("gobgpd", cmd, lab.path(&format!("{tag}-gobgpd.log")))
            }
            Engine::Frr => {
                // As a service would run it: alone (no zebra), in its own
                // pathspace, with a file holding no BGP yet.
                std::fs::create_dir_all(&frr.socket_dir)?;
                std::fs::write(&frr.config_path, "frr defaults traditional\n")?;
                let vty = frr.vty_path();
                let _ = std::fs::remove_file(&vty);
                let d = |p: &Path| p.display().to_string();
                let p = host.spawn(
                    "bgpd",
                    &frr.binary,
                    &[
                        "-Z",
                        "-S",
                        "-N",
                        &frr.pathspace,
                        "--vty_socket",
                        &d(&frr.socket_dir),
                        "-f",
                        &d(&frr.config_path),
                        "-i",
                        &d(&frr.socket_dir.join("bgpd.pid")),
                        "-l",
                        &host.ipv4.to_string(),
                        "--log",
                        &format!("file:{}", lab.path(&format!("{tag}-bgpd.log")).display()),
                    ],
                    lab.path(&format!("{tag}-bgpd.out")),
                );
                poll::until("bgpd's vty socket", Duration::from_secs(10), || {
                    if vty.exists() {
                        Ok(())
                    } else {
                        Err("no socket yet".into())
                    }
                });
                p
            }
        };
        daemon.process = Some(process);
        Ok(daemon)
    }

    /// The `[engine]` tables of rrd's configuration for this daemon.
    pub fn rrd_engine_config(&self) -> String {
        let managed = "manage_process = true\nstop_daemon_on_exit = true\n";
        let managed = if self.process.is_none() { managed } else { "" };
        match self.engine {
            // A BIRD rrd runs logs to rrd's stderr; the running one logs to
            // a file: with BIRD's default (syslog) and no syslog daemon here,
            // glibc writes each log line to /dev/console, ~1 ms a line, and
            // the cold start's `configure` of 2,099 protocols logs 2,099.
            Engine::Bird if managed.is_empty() => bird_engine_config(
                &self.bird_conf,
                &self.bird_ctl,
                &format!(
                    "log_file = \"{}\"\n",
                    self.bird_conf.with_extension("log-file").display()
                ),
            ),
            Engine::Bird => bird_engine_config(&self.bird_conf, &self.bird_ctl, managed),
            Engine::Gobgp => {
                let dir = self.gobgp_state_dir();
                // Managed: gobgpd's output to a file of its own (gobgpd dies
                // of SIGPIPE on a pipe nobody reads once rrd is gone).
                let files = if managed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "state_dir = \"{}\"\nbinary = \"{}\"\nlog_file = \"{}\"\ngogc = {}\n",
                        dir.display(),
                        bins::gobgpd().display(),
                        dir.with_extension("log").display(),
                        self.gobgp_gogc
                    )
                };
                format!(
                    "[engine]\nkind = \"gobgp\"\n[engine.gobgp]\napi = \"{GOBGP_API}\"\n{managed}{files}"
                )
            }
            Engine::Frr => {
                let f = &self.frr;
                let log = f
                    .log_file
                    .as_ref()
                    .map_or_else(String::new, |p| format!("log_file = \"{}\"\n", p.display()));
                format!(
                    "[engine]\nkind = \"frr\"\n[engine.frr]\n{managed}pathspace = \"{}\"\n\
                     socket_dir = \"{}\"\nconfig_path = \"{}\"\nstate_dir = \"{}\"\nbinary = \"{}\"\n\
                     view = \"{FRR_VIEW}\"\nset_originator_id = {}\n{log}",
                    f.pathspace,
                    f.socket_dir.display(),
                    f.config_path.display(),
                    f.state_dir.display(),
                    f.binary.display(),
                    f.set_originator_id,
                )
            }
        }
    }

    pub async fn probe(&self) -> anyhow::Result<Probe> {
        Probe::connect(self).await
    }

    /// The lab's daemon's PID (`None` when rrd runs it).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref()?.pid()
    }
}

/// rrd's `[engine]` tables for the BIRD 2 at `conf` and `ctl`, with the
/// `extra` lines of `[engine.bird]`.
fn bird_engine_config(conf: &Path, ctl: &Path, extra: &str) -> String {
    format!(
        "[engine]\nkind = \"bird\"\n[engine.bird]\nversion = \"2\"\nconfig_path = \"{}\"\nsocket = \"{}\"\nbinary = \"{}\"\n{extra}\
         # No per-session debug log: without a syslog daemon BIRD's log\n\
         # lines go to the console, ~1 ms each (see BENCHMARKS.md).\n\
         debug = \"off\"\n",
        conf.display(),
        ctl.display(),
        bins::bird2().display()
    )
}

/// An open line into the daemon.
#[derive(Debug)]
pub enum Probe {
    Bird(BirdSocket),
    Gobgp(Client),
    Frr(Vty),
}

/// The session name rrd gives a neighbor, read back to its address:
/// `Node_198_18_1_0` -> 198.18.1.0.
fn address_of_name(name: &str) -> Option<IpAddr> {
    let (_, rest) = name.split_once('_')?;
    rest.replace('_', ".").parse().ok()
}

impl Probe {
    pub fn engine(&self) -> Engine {
        match self {
            Probe::Bird(_) => Engine::Bird,
            Probe::Gobgp(_) => Engine::Gobgp,
            Probe::Frr(_) => Engine::Frr,
        }
    }

    pub async fn connect(daemon: &Daemon) -> anyhow::Result<Probe> {
        match daemon.engine {
            Engine::Bird => {
                let mut s = BirdSocket::connect(&daemon.bird_ctl).await?;
                s.set_timeout(Duration::from_secs(120));
                Ok(Probe::Bird(s))
            }
            Engine::Gobgp => {
                let c = Client::new(GOBGP_API, Duration::from_secs(10), Duration::from_secs(120))?;
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                // A gobgpd rrd runs is watched once rrd's StartBgp is in
                // (no peer yet, so these GetBgp cost it next to nothing).
                let running =
                    |g: &rrd_engine_gobgp::apipb::Global| daemon.process.is_some() || g.asn != 0;
                while !c.get_bgp().await.is_ok_and(|g| running(&g)) {
                    if std::time::Instant::now() > deadline {
                        bail!("gobgpd does not answer on {GOBGP_API}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Probe::Gobgp(c))
            }
            Engine::Frr => {
                let vty = Vty::connect(&daemon.frr.vty_path(), Duration::from_secs(10)).await?;
                Ok(Probe::Frr(vty.with_timeout(Duration::from_secs(120))))
            }
        }
    }

    /// The neighbor addresses the daemon holds.
    pub async fn peers(&mut self) -> anyhow::Result<BTreeSet<IpAddr>> {
        match self {
            Probe::Bird(s) => {
                let reply = s.command("show protocols").await?;
                if reply.is_error() {
                    bail!("show protocols: {}", reply.summary());
                }
                Ok(reply
                    .lines
                    .iter()
                    .filter(|(code, _)| *code == 1002)
                    .filter_map(|(_, line)| {
                        let mut cols = line.split_whitespace();
                        let name = cols.next()?;
                        (cols.next()? == "BGP").then_some(name)
                    })
                    .filter_map(address_of_name)
                    .collect())
            }
            Probe::Gobgp(c) => Ok(c
                .list_peer("", false)
                .await?
                .iter()
                .filter_map(|p| p.conf.as_ref()?.neighbor_address.parse().ok())
                .collect()),
            Probe::Frr(vty) => {
                let reply = vty.run("show running-config").await?;
                if !reply.ok() {
                    bail!("show running-config: {}", reply.message());
                }
                Ok(View::parse(&reply.text, FRR_VIEW)
                    .map(|v| v.neighbors.into_keys().collect())
                    .unwrap_or_default())
            }
        }
    }

    /// Wait until the daemon holds `want` without polling its whole
    /// listing, then check with one listing that it holds exactly `want`;
    /// when the last wanted peer was seen. `None` for BIRD (its listing is
    /// cheap), or when the daemon's answers and the listing disagree (a
    /// peer added and removed again): poll [`Probe::peers`] instead.
    ///
    /// GoBGP: gobgpd's peer events (WatchEvent: every peer it holds, then
    /// each one added or changing state) until they named every address.
    /// FRR: [`Probe::walk_until_held`].
    ///
    /// Why not poll: every gobgpd request costs it time in proportion to
    /// its peer count, a listing of 2,099 peers 84 ms of gobgpd CPU
    /// (`plugins/engine-gobgp/benches/add_peers.rs`). Polling it every
    /// 20 ms while rrd added 2,099 peers took 5.9 instead of 3.2 s of
    /// gobgpd CPU and 11.5 instead of 3.8 s: the probe measured itself.
    /// An event costs gobgpd one message on a channel.
    pub async fn watch_until_held(
        &mut self,
        want: &BTreeSet<IpAddr>,
        within: Duration,
    ) -> anyhow::Result<Option<std::time::Instant>> {
        let client = match self {
            Probe::Bird(_) => return Ok(None),
            Probe::Gobgp(client) => client,
            Probe::Frr(_) => return self.walk_until_held(want, within).await,
        };
        let mut events = client.watch_peers().await?;
        let mut announced = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + within;
        let at = loop {
            let event = match tokio::time::timeout_at(deadline, events.message()).await {
                Ok(Ok(Some(event))) => event,
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => bail!(
                    "timed out after {within:?}: gobgpd announced {} of {} sessions",
                    want.intersection(&announced).count(),
                    want.len()
                ),
            };
            if let Some(a) = peer_event_address(event) {
                announced.insert(a);
            }
            if want.is_subset(&announced) {
                break std::time::Instant::now();
            }
        };
        drop(events);
        Ok((self.peers().await? == *want).then_some(at))
    }

    /// GoBGP: gobgpd's peer events, opened before an isolated change so
    /// that its addition is seen the moment gobgpd adds the peer (gobgpd
    /// sends a peer event from inside `AddPeer`), with no request to
    /// gobgpd at all. `None` for BIRD and FRR, and when the probe polls
    /// (`--gobgp-probe poll`).
    ///
    /// Why: a `ListPeer` of one address costs gobgpd's main loop about
    /// 2.6 ms at 2,099 peers, so polling it every millisecond keeps that
    /// loop busy with the probe while rrd's `AddPeer` waits its turn.
    /// Removals have no event in gobgpd 3.10 (`deleteNeighbor` notifies no
    /// watcher) and are polled.
    pub async fn additions(&mut self, poll_only: bool) -> anyhow::Result<Option<Additions>> {
        match self {
            Probe::Gobgp(client) if !poll_only => Ok(Some(Additions(client.watch_peers().await?))),
            _ => Ok(None),
        }
    }

    /// FRR: ask bgpd for the addresses of `want` not seen held yet (one
    /// neighbor's JSON each, a window of the engine's full look sent at
    /// once: [`read_neighbors`]), until it held them all.
    /// Why not poll the listing: `show running-config` of 2,099 neighbors
    /// takes bgpd about 70 ms, so polling it would keep bgpd busy while rrd
    /// configures it; one neighbor's JSON is a lookup. Until 5 December the
    /// questions went one at a time, about 1 ms each: a sweep of the 3,099
    /// peers after a burst took the probe seconds, which it counted as
    /// the burst's convergence.
    async fn walk_until_held(
        &mut self,
        want: &BTreeSet<IpAddr>,
        within: Duration,
    ) -> anyhow::Result<Option<std::time::Instant>> {
        let Probe::Frr(vty) = self else {
            return Ok(None);
        };
        let deadline = std::time::Instant::now() + within;
        let mut missing: Vec<IpAddr> = want.iter().copied().collect();
        while !missing.is_empty() {
            let window: Vec<IpAddr> = missing.iter().take(WINDOW).copied().collect();
            let held = read_neighbors(vty, FRR_VIEW, &window).await?;
            missing.retain(|a| !held.contains_key(&a.to_string()));
            if held.is_empty() {
                if std::time::Instant::now() > deadline {
                    bail!(
                        "timed out after {within:?}: bgpd does not hold {} (and {} more)",
                        window[0],
                        missing.len() - 1
                    );
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let at = std::time::Instant::now();
        Ok((self.peers().await? == *want).then_some(at))
    }

    /// Whether the daemon holds a session to `address` (`name` is rrd's
    /// name for it): one cheap query.
    pub async fn holds(&mut self, name: &str, address: IpAddr) -> anyhow::Result<bool> {
        match self {
            Probe::Bird(s) => {
                let reply = s.command(&format!("show protocols \"{name}\"")).await?;
                match reply.code {
                    0 => Ok(reply.lines.iter().any(|(c, _)| *c == 1002)),
                    8003 => Ok(false),
                    _ => bail!("show protocols {name}: {}", reply.summary()),
                }
            }
            Probe::Gobgp(c) => match c.list_peer(&address.to_string(), false).await {
                Ok(peers) => Ok(!peers.is_empty()),
                // gobgpd answers an unknown address with an error.
                Err(e) if e.to_string().contains("not found") => Ok(false),
                Err(e) => Err(e.into()),
            },
            Probe::Frr(vty) => {
                let reply = vty
                    .run(&format!(
                        "show bgp view {FRR_VIEW} neighbors {address} json"
                    ))
                    .await?;
                // No view yet (rrd has not configured bgpd): nothing held.
                Ok(reply.ok() && neighbor_of(address, &reply.text).is_some())
            }
        }
    }

    /// BIRD: `Last reconfiguration on ...` of `show status`; GoBGP: none.
    pub async fn last_reconfiguration(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Probe::Bird(s) => {
                let reply = s.command("show status").await?;
                Ok(reply
                    .lines
                    .iter()
                    .map(|(_, t)| t.trim())
                    .find(|t| t.starts_with("Last reconfiguration"))
                    .map(str::to_owned))
            }
            Probe::Gobgp(_) | Probe::Frr(_) => Ok(None),
        }
    }
}

/// BIRD: `configure "file"` over the socket, and when BIRD answers that
/// the reconfiguration goes on (sessions to shut down), until `show status`
/// says it is done. Timed by the caller.
pub async fn bird_configure(socket: &mut BirdSocket, file: &str) -> anyhow::Result<u16> {
    let reply = socket.command(&format!("configure \"{file}\"")).await?;
    match reply.code {
        3 | 19 | 20 => Ok(reply.code),
        4 | 5 => loop {
            let st = socket.command("show status").await?;
            let status = rrd_engine_bird::observe::DaemonStatus::parse(&st);
            if status.is_settled() {
                return Ok(reply.code);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        },
        _ => bail!("configure {file}: {}", reply.summary()),
    }
}

/// A client session as rrd would add it to gobgpd (legacy rules).
pub fn gobgp_peer(me: Ipv4Addr, address: Ipv4Addr) -> rrd_engine_gobgp::apipb::Peer {
    let asn = Asn(crate::fabric::ASN);
    let key = rrd_core::model::session_name(SessionKind::Node, address.into(), None);
    let neighbor = Neighbor::new(
        SessionKind::Node,
        address.into(),
        asn,
        Role::RrClient { cluster_id: None },
        Some(me.into()),
    );
    let ctx = MapContext {
        router_id: me,
        global_asn: asn.0,
        restart_time: 120,
        deferral_time: 360,
    };
    let spec = spec_of_neighbor(&PeerKey(key.0), &neighbor, &ctx).expect("a plain client session");
    peer_of_spec(&spec, false)
}

/// The peer a gobgpd peer event names (`None` for other events).
fn peer_event_address(event: rrd_engine_gobgp::apipb::WatchEventResponse) -> Option<IpAddr> {
    use rrd_engine_gobgp::apipb::watch_event_response::Event;
    let Some(Event::Peer(pe)) = event.event else {
        return None;
    };
    pe.peer?.conf?.neighbor_address.parse().ok()
}

/// gobgpd's peer-event stream, kept open across isolated changes
/// ([`Probe::additions`]).
pub struct Additions(tonic::Streaming<rrd_engine_gobgp::apipb::WatchEventResponse>);

impl Additions {
    /// Wait for the first peer event naming `address`; when it came.
    /// Events of other peers (earlier changes' state moves, the initial
    /// listing) are passed over.
    pub async fn until_added(
        &mut self,
        address: IpAddr,
        within: Duration,
    ) -> anyhow::Result<std::time::Instant> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = match tokio::time::timeout_at(deadline, self.0.message()).await {
                Ok(Ok(Some(event))) => event,
                Ok(Ok(None)) => bail!("gobgpd closed its peer-event stream"),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => bail!("gobgpd sent no event for {address} within {within:?}"),
            };
            if peer_event_address(event) == Some(address) {
                return Ok(std::time::Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::address_of_name;

    #[test]
    fn session_names_give_back_their_address() {
        assert_eq!(
            address_of_name("Node_198_18_1_0"),
            Some("198.18.1.0".parse().unwrap())
        );
        assert_eq!(
            address_of_name("Mesh_198_18_0_2"),
            Some("198.18.0.2".parse().unwrap())
        );
        assert_eq!(address_of_name("device1"), None);
    }
}

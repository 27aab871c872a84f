//! One benchmark run: one fabric (size, layout) in etcd, one engine, rrd
//! started against it. Every step is timed from outside: from the etcd
//! write to the daemon holding the session, looked for through the daemon.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use rrd_core::model::session_name;
use rrd_core::SessionKind;
use rrd_lab::{Host, Lab};

use crate::daemon::{bird_configure, gobgp_peer, Additions, Daemon, Engine, Probe, FRR_VIEW};
use crate::etcd::Etcd;
use crate::fabric::{Fabric, Layout, Write};
use crate::profile::Sample;
use crate::rrd::{Memory, Rrd, RrdSetup};
use crate::stats::{SampleLog, Samples, Summary};
use rrd_engine_frr::vty::Vty;
use rrd_engine_frr::FrrConfig;

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Isolated changes (half adds, half removes).
    pub changes: usize,
    /// Quiet time between two isolated changes.
    pub gap: Duration,
    pub unrelated: usize,
    pub burst: usize,
    /// Samples of each floor.
    pub floor_samples: usize,
    /// FRR: `engine.frr.set_originator_id` (the per-client ORIGINATOR_ID
    /// route maps, which bgpd 8.4 cannot load by the thousand).
    pub frr_set_originator_id: bool,
    /// GoBGP: `GOGC` of gobgpd, the bench's own and the one rrd runs
    /// (`engine.gobgp.gogc`); 0 = Go's default.
    pub gobgp_gogc: u32,
    /// GoBGP: poll `ListPeer` for additions too, instead of watching
    /// gobgpd's peer events ([`Probe::additions`]).
    pub gobgp_probe_polls: bool,
    /// Append every isolated sample to this CSV file.
    pub samples_out: Option<std::path::PathBuf>,
    /// Keep each run's rrd log in this folder.
    pub rrd_logs_to: Option<std::path::PathBuf>,
    /// rrd's `log.level` (a level or `target=level` directives).
    pub rrd_log: String,
    /// rrd's `source.etcd.page_size` (its default when `None`).
    pub etcd_page_size: Option<u32>,
    /// rrd's `runtime.observe_interval` (its default when `None`).
    pub observe_interval: Option<String>,
}

/// Floors measured in the same run.
#[derive(Clone, Debug, Default)]
pub struct Floors {
    /// An etcd write plus one daemon query.
    pub harness: Summary,
    /// BIRD `configure` of rrd's own file with one protocol added / removed.
    pub bird_configure: Option<Summary>,
    /// One GoBGP AddPeer.
    pub gobgp_add_peer: Option<Summary>,
    /// FRR: one `neighbor A remote-as AS` over bgpd's vty socket, in the
    /// view's node.
    pub frr_neighbor: Option<Summary>,
    /// FRR: `bgpd -C` of the view's lines plus one neighbor, as the FRR
    /// engine checks a change before it applies it.
    pub frr_check: Option<Summary>,
}

#[derive(Clone, Debug, Default)]
pub struct Unrelated {
    pub changes: usize,
    /// Applies rrd made meanwhile (its `/status` counter).
    pub applies: u64,
    /// BIRD's `Last reconfiguration` moved.
    pub bird_reconfigured: Option<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct Burst {
    pub changes: usize,
    /// From the first to the last write.
    pub written_in: Duration,
    pub applies: u64,
    /// From the last write until the daemon holds every new session.
    pub converged_after_last: Duration,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub engine: Engine,
    pub sessions: usize,
    pub cold_start: Duration,
    /// The cold start when rrd starts the daemon itself
    /// ([`Run::managed_cold_start`]).
    pub managed_cold_start: Option<Duration>,
    pub rss_after_start: Memory,
    pub floors: Floors,
    pub isolated: Summary,
    /// The same changes from etcd's answer to the write (its commit, and
    /// the fsync in it, left out) until the daemon was seen holding them.
    pub isolated_after_ack: Summary,
    pub unrelated: Unrelated,
    pub burst: Burst,
    pub peak: Memory,
    pub daemon: Memory,
}

/// Node ids past the fabric's own, for changes: isolated, unrelated, burst.
fn extra(fabric: &Fabric, offset: usize) -> usize {
    fabric.nodes + offset
}

fn session_of(node: usize) -> (String, IpAddr) {
    let ip = IpAddr::V4(Fabric::node_ip(node));
    (session_name(SessionKind::Node, ip, None).0, ip)
}

/// Poll `probe` until it returns `Some`, at `every`, for at most `within`.
pub async fn until<T, F, Fut>(
    what: &str,
    within: Duration,
    every: Duration,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Wait until the daemon holds exactly `want`; when it did. GoBGP: its
/// peer events, FRR: one address after the other
/// ([`Probe::watch_until_held`]), polling the listing only when they and a
/// listing disagree; BIRD: `show protocols` every `every`.
pub async fn wait_for_peers(
    probe: &mut Probe,
    want: &BTreeSet<IpAddr>,
    within: Duration,
    every: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + within;
    if let Some(at) = probe.watch_until_held(want, within).await? {
        return Ok(at);
    }
    loop {
        let held = probe.peers().await.unwrap_or_default();
        if held == *want {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {within:?}: the daemon holds {} sessions, {} expected",
                held.len(),
                want.len()
            );
        }
        tokio::time::sleep(every).await;
    }
}

/// A cold start's end: when the daemon holds every session `rrd` should
/// give it (rrd's log tail in the error otherwise).
async fn all_held(
    probe: &mut Probe,
    expected: &BTreeSet<IpAddr>,
    rrd: &Rrd,
) -> anyhow::Result<Instant> {
    wait_for_peers(
        probe,
        expected,
        Duration::from_secs(300),
        Duration::from_millis(20),
    )
    .await
    .with_context(|| rrd.log_tail(20))
}

/// Time from a write to the daemon holding (or no longer holding) `node`'s
/// session, when the write was sent and when etcd acknowledged it. An addition is seen through
/// `additions` when the probe has them (GoBGP's peer events), otherwise
/// by asking the daemon every millisecond.
async fn timed_change(
    etcd: &Etcd,
    probe: &mut Probe,
    additions: Option<&mut Additions>,
    write: &Write,
    node: usize,
    present: bool,
) -> anyhow::Result<Sample> {
    let (name, ip) = session_of(node);
    let (written, started) = (SystemTime::now(), Instant::now());
    etcd.write(write).await?;
    let acked = started.elapsed();
    let sample = |kind, took| Sample {
        kind,
        written,
        acked,
        took,
    };
    if let (true, Some(additions)) = (present, additions) {
        let at = additions
            .until_added(ip, Duration::from_secs(60))
            .await
            .with_context(|| format!("{name} not added"))?;
        return Ok(sample("add", at - started));
    }
    let kind = if present { "add" } else { "remove" };
    loop {
        if probe.holds(&name, ip).await? == present {
            return Ok(sample(kind, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "{name} not {} after 60 s",
                if present { "added" } else { "removed" }
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub struct Run<'a> {
    pub lab: &'a Lab,
    pub host: &'a Host,
    pub rrd_binary: &'a Path,
    pub etcd: &'a Etcd,
    pub fabric: Fabric,
    pub layout: Layout,
    pub plan: &'a Plan,
}

impl Run<'_> {
    fn tag(&self, engine: Engine) -> String {
        format!(
            "{}-{}-{}",
            self.fabric.nodes,
            self.layout.label(),
            engine.name()
        )
    }

    /// `rrd run` against this run's etcd and layout, with `engine_config`.
    fn start_rrd(&self, engine_config: &str, tag: &str) -> anyhow::Result<Rrd> {
        let etcd_url = self.etcd.url();
        let setup = RrdSetup {
            binary: self.rrd_binary,
            etcd_url: &etcd_url,
            layout: self.layout,
            engine_config,
            log_level: &self.plan.rrd_log,
            etcd_page_size: self.plan.etcd_page_size,
            observe_interval: self.plan.observe_interval.as_deref(),
        };
        Rrd::start(self.lab, self.host, &setup, tag)
    }

    /// With `--rrd-logs-to`, keep rrd's log of this run as `<tag>-rrd.log`.
    fn keep_log(&self, rrd: &crate::rrd::Rrd, tag: &str) -> anyhow::Result<()> {
        let Some(dir) = &self.plan.rrd_logs_to else {
            return Ok(());
        };
        let path = dir.join(format!("{tag}-rrd.log"));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, rrd.log_text()))
            .with_context(|| format!("keeping rrd's log in {}", path.display()))
    }

    /// Cold start as deployed: rrd runs the daemon itself
    /// (`manage_process`), so its first apply starts BIRD or bgpd with the
    /// whole file instead of having a running, empty daemon reconfigure
    /// every session in. Timed from rrd's start until the daemon answers
    /// and holds every session; rrd then stops, and the daemon with it
    /// (`stop_daemon_on_exit`).
    pub async fn managed_cold_start(&self, engine: Engine) -> anyhow::Result<Option<Duration>> {
        let tag = format!("{}-managed", self.tag(engine));
        let Some(mut daemon) = Daemon::managed(self.lab, engine, &tag, self.plan.gobgp_gogc) else {
            return Ok(None);
        };
        daemon.frr.set_originator_id = self.plan.frr_set_originator_id;
        let expected = self.fabric.expected_peers();
        let started = Instant::now();
        let rrd = self.start_rrd(&daemon.rrd_engine_config(), &tag)?;
        let mut probe = until(
            "the daemon rrd starts",
            Duration::from_secs(300),
            Duration::from_millis(5),
            || async { Ok(Probe::connect(&daemon).await.ok()) },
        )
        .await
        .with_context(|| rrd.log_tail(20))?;
        let held = all_held(&mut probe, &expected, &rrd).await?;
        drop(probe);
        let pid = std::fs::read_to_string(daemon.managed_pid_file()).unwrap_or_default();
        let cpu = cpu_report(&rrd, pid.trim().parse().ok());
        self.keep_log(&rrd, &tag)?;
        rrd.stop();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            until(
                "rrd's daemon to stop with rrd",
                Duration::from_secs(30),
                Duration::from_millis(20),
                || async { Ok((!Path::new(&format!("/proc/{pid}")).exists()).then_some(())) },
            )
            .await?;
        }
        eprintln!(
            "  [{tag}] cold start with rrd starting the daemon: {:?} ({cpu})",
            held - started
        );
        Ok(Some(held - started))
    }

    /// Start the daemon and rrd, measure, stop rrd. The daemon is returned
    /// still running (the seed's way reuses BIRD).
    pub async fn run(&self, engine: Engine) -> anyhow::Result<(RunResult, Daemon)> {
        let managed_cold_start = self.managed_cold_start(engine).await?;
        let tag = self.tag(engine);
        let mut daemon = Daemon::start(self.lab, self.host, engine, &tag, self.plan.gobgp_gogc)?;
        daemon.frr.set_originator_id = self.plan.frr_set_originator_id;
        let mut probe = daemon.probe().await?;
        let expected = self.fabric.expected_peers();
        eprintln!("  [{tag}] cold start: {} sessions expected", expected.len());
        let daemon_cpu_before = daemon.pid().map_or(0.0, crate::rrd::cpu_seconds);
        let started = Instant::now();
        let rrd = self.start_rrd(&daemon.rrd_engine_config(), &tag)?;
        let cold = all_held(&mut probe, &expected, &rrd).await? - started;
        eprintln!(
            "  [{tag}] cold start CPU: daemon {:.2} s, rrd {:.2} s",
            daemon.pid().map_or(0.0, crate::rrd::cpu_seconds) - daemon_cpu_before,
            rrd.pid().map_or(0.0, crate::rrd::cpu_seconds)
        );
        // rrd's own timestamps split the cold start (read, compute, apply).
        eprintln!("  [{tag}] rrd's log so far:\n{}", rrd.log_tail(12));
        until(
            "rrd in sync",
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async {
                let s = rrd.status().await.ok();
                Ok(s.filter(|s| s["in_sync"] == true).map(|_| ()))
            },
        )
        .await?;
        let rss_after_start = rrd.memory()?;
        eprintln!(
            "  [{tag}] cold start {cold:?}, rrd RSS {} MiB",
            rss_after_start.rss_kib / 1024
        );

        let floors = self.floors(&daemon, &mut probe).await?;
        eprintln!("  [{tag}] floors: harness {}", floors.harness);
        let (isolated, samples) = self.isolated(&mut probe).await?;
        eprintln!("  [{tag}] isolated changes: {isolated}");
        let isolated_after_ack = crate::profile::after_ack(&samples);
        eprintln!("  [{tag}] isolated changes after etcd answered: {isolated_after_ack}");
        let steps = crate::profile::explain(&rrd.log_text(), &samples, 8);
        if !steps.is_empty() {
            eprintln!("  [{tag}] isolated changes, rrd's steps (its debug log):\n{steps}");
        }
        let unrelated = self.unrelated(&rrd, &mut probe).await?;
        eprintln!(
            "  [{tag}] unrelated: {} changes, {} applies",
            unrelated.changes, unrelated.applies
        );
        let burst = self.burst(&rrd, &mut probe, &expected).await?;
        eprintln!(
            "  [{tag}] burst: {} changes in {:?}, {} applies, converged {:?} after the last",
            burst.changes, burst.written_in, burst.applies, burst.converged_after_last
        );
        self.keep_log(&rrd, &tag)?;
        let peak = rrd.stop();
        let daemon_memory = daemon.pid().map(crate::rrd::memory).unwrap_or_default();
        // Put the fabric back as it was for the next run.
        for j in 0..self.plan.burst {
            self.etcd
                .write(
                    &self
                        .fabric
                        .remove_node(self.layout, extra(&self.fabric, BURST + j)),
                )
                .await?;
        }
        Ok((
            RunResult {
                engine,
                sessions: expected.len(),
                cold_start: cold,
                managed_cold_start,
                rss_after_start,
                floors,
                isolated,
                isolated_after_ack,
                unrelated,
                burst,
                peak,
                daemon: daemon_memory,
            },
            daemon,
        ))
    }

    async fn floors(&self, daemon: &Daemon, probe: &mut Probe) -> anyhow::Result<Floors> {
        let n = self.plan.floor_samples;
        // The harness: one etcd write rrd does not read, one daemon query.
        let (name, ip) = session_of(
            (0..self.fabric.nodes)
                .find(|i| self.fabric.rack_of(*i) == 0)
                .context("rack 0 is empty")?,
        );
        let mut harness = Samples::default();
        for i in 0..n {
            let t = Instant::now();
            self.etcd.put_unwatched(&i.to_string()).await?;
            if !probe.holds(&name, ip).await? {
                bail!("{name} missing from the daemon");
            }
            harness.push(t.elapsed());
        }
        let mut floors = Floors {
            harness: harness.summary(),
            ..Floors::default()
        };
        match probe {
            Probe::Bird(socket) => {
                let live = std::fs::read_to_string(&daemon.bird_conf)?;
                let plus_one = self
                    .lab
                    .path(&format!("{}-floor.conf", self.tag(Engine::Bird)));
                std::fs::write(&plus_one, with_extra_protocol(&live)?)?;
                let live_path = daemon.bird_conf.display().to_string();
                let plus_path = plus_one.display().to_string();
                let mut configure = Samples::default();
                for _ in 0..n.div_ceil(2) {
                    for file in [&plus_path, &live_path] {
                        let t = Instant::now();
                        bird_configure(socket, file).await?;
                        configure.push(t.elapsed());
                    }
                }
                floors.bird_configure = Some(configure.summary());
            }
            Probe::Gobgp(client) => {
                let mut add = Samples::default();
                for j in 0..n {
                    let addr = floor_address(j);
                    let peer = gobgp_peer(Fabric::me(), addr);
                    let t = Instant::now();
                    client.add_peer(peer).await?;
                    add.push(t.elapsed());
                    client.delete_peer(&addr.to_string(), "floor").await?;
                }
                floors.gobgp_add_peer = Some(add.summary());
            }
            Probe::Frr(vty) => {
                floors.frr_neighbor = Some(frr_neighbor_floor(vty, n).await?);
                floors.frr_check = Some(frr_check_floor(&daemon.frr, n).await?);
            }
        }
        Ok(floors)
    }

    async fn isolated(&self, probe: &mut Probe) -> anyhow::Result<(Summary, Vec<Sample>)> {
        self.isolated_from(probe, ISOLATED, self.plan.changes).await
    }

    /// The same isolated changes, for the seed's confd-style loop.
    pub async fn seed_isolated(
        &self,
        probe: &mut Probe,
        changes: usize,
    ) -> anyhow::Result<Summary> {
        Ok(self.isolated_from(probe, SEED, changes).await?.0)
    }

    async fn isolated_from(
        &self,
        probe: &mut Probe,
        offset: usize,
        changes: usize,
    ) -> anyhow::Result<(Summary, Vec<Sample>)> {
        let mut timed = Vec::new();
        let run = match offset {
            SEED => format!("{}-seed", self.tag(probe.engine())),
            _ => self.tag(probe.engine()),
        };
        let mut log = SampleLog::open(self.plan.samples_out.as_deref(), &run)?;
        let mut additions = probe.additions(self.plan.gobgp_probe_polls).await?;
        for j in 0..changes.div_ceil(2) {
            let node = extra(&self.fabric, offset + j);
            let (_, ip) = session_of(node);
            let add = self.fabric.add_node(self.layout, node, 0);
            tokio::time::sleep(self.plan.gap).await;
            let added =
                timed_change(self.etcd, probe, additions.as_mut(), &add, node, true).await?;
            log.record(&added, ip, additions.is_some())?;
            timed.push(added);
            tokio::time::sleep(self.plan.gap).await;
            let remove = self.fabric.remove_node(self.layout, node);
            let removed = timed_change(self.etcd, probe, None, &remove, node, false).await?;
            log.record(&removed, ip, false)?;
            timed.push(removed);
        }
        let summary = timed.iter().map(|s| s.took).collect::<Samples>().summary();
        Ok((summary, timed))
    }

    async fn unrelated(&self, rrd: &Rrd, probe: &mut Probe) -> anyhow::Result<Unrelated> {
        let before = quiet_applies(rrd).await?;
        let reconfigured_before = probe.last_reconfiguration().await?;
        let mut changes = 0;
        for j in 0..self.plan.unrelated.div_ceil(2) {
            let node = extra(&self.fabric, UNRELATED + j);
            self.etcd
                .write(&self.fabric.add_node(self.layout, node, 1))
                .await?;
            self.etcd
                .write(&self.fabric.remove_node(self.layout, node))
                .await?;
            changes += 2;
        }
        // Longer than any debounce: whatever rrd would do, it has done.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let applies = rrd.applies().await? - before;
        let after = probe.last_reconfiguration().await?;
        let bird_reconfigured = match (&reconfigured_before, &after) {
            (Some(b), Some(a)) => {
                let moved = reconfiguration_moved(b, a)
                    .with_context(|| format!("BIRD's status lines: {b:?}, {a:?}"))?;
                if !moved.is_zero() {
                    eprintln!("  BIRD's last reconfiguration moved by {moved:?}: {b:?} -> {a:?}");
                }
                Some(moved.unsigned_abs() > CLOCK_SLEW)
            }
            _ => None,
        };
        if bird_reconfigured == Some(true) {
            // Who reconfigured BIRD: rrd's own account of the phase.
            eprintln!(
                "  BIRD reconfigured during the unrelated changes; rrd's log:\n{}",
                rrd.log_tail(40)
            );
        }
        Ok(Unrelated {
            changes,
            applies,
            bird_reconfigured,
        })
    }

    async fn burst(
        &self,
        rrd: &Rrd,
        probe: &mut Probe,
        expected: &BTreeSet<IpAddr>,
    ) -> anyhow::Result<Burst> {
        let before = quiet_applies(rrd).await?;
        let n = self.plan.burst;
        let mut want = expected.clone();
        let mut writes = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1) / n.max(1) as u32);
        let first = Instant::now();
        for j in 0..n {
            tick.tick().await;
            let node = extra(&self.fabric, BURST + j);
            want.insert(IpAddr::V4(Fabric::node_ip(node)));
            let write = self.fabric.add_node(self.layout, node, 0);
            let client = self.etcd.writer();
            writes.spawn(async move { client.write(&write).await });
        }
        while let Some(r) = writes.join_next().await {
            r??;
        }
        let last = Instant::now();
        let converged = wait_for_peers(
            probe,
            &want,
            Duration::from_secs(120),
            Duration::from_millis(5),
        )
        .await
        .with_context(|| rrd.log_tail(20))?;
        // Let a trailing apply land before counting.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(Burst {
            changes: n,
            written_in: last - first,
            applies: rrd.applies().await? - before,
            converged_after_last: converged.saturating_duration_since(last),
        })
    }
}

/// CPU seconds of rrd and of the daemon it started, so far.
fn cpu_report(rrd: &Rrd, daemon: Option<u32>) -> String {
    format!(
        "CPU: rrd {:.2} s, daemon {:.2} s",
        rrd.pid().map_or(0.0, crate::rrd::cpu_seconds),
        daemon.map_or(0.0, crate::rrd::cpu_seconds)
    )
}

/// rrd's apply count once it stopped moving (an apply the daemon already
/// shows may not be counted yet).
async fn quiet_applies(rrd: &Rrd) -> anyhow::Result<u64> {
    let mut last = rrd.applies().await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rrd.applies().await?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
}

/// How far BIRD's `Last reconfiguration` may move with no reconfiguration.
/// BIRD 2 prints it as the wall-clock time now minus the monotonic time
/// since it (`tm_format_time` in `lib/timer.c`), so the value follows any
/// slew of the wall clock: a millisecond or two was seen within a phase.
/// A reconfiguration during the unrelated phase moves it by at least the
/// seconds the bench waits for rrd's applies to settle before the phase.
const CLOCK_SLEW: Duration = Duration::from_millis(100);

/// How far BIRD's `Last reconfiguration on 2026-12-05 00:09:12.345` line
/// moved from `before` to `after` (both local time, BIRD 2 with
/// milliseconds, BIRD 1.6 without).
fn reconfiguration_moved(before: &str, after: &str) -> Option<jiff::SignedDuration> {
    let at = |line: &str| {
        line.strip_prefix("Last reconfiguration on ")?
            .trim()
            .parse::<jiff::civil::DateTime>()
            .ok()
    };
    Some(at(after)?.duration_since(at(before)?))
}

/// Offsets of the extra node ids of each step.
const ISOLATED: usize = 0;
const UNRELATED: usize = 1_000;
const BURST: usize = 2_000;
const SEED: usize = 4_000;

/// rrd's BIRD file with one more client protocol: a copy of the last
/// `protocol bgp` block under a new name and address.
fn with_extra_protocol(live: &str) -> anyhow::Result<String> {
    let start = live
        .rfind("\nprotocol bgp ")
        .context("no protocol bgp in the live file")?
        + 1;
    let end = live[start..]
        .find("\n}\n")
        .context("unterminated protocol")?
        + start
        + 3;
    let block = &live[start..end];
    let name = block
        .split_whitespace()
        .nth(2)
        .context("protocol name")?
        .to_owned();
    let address = name.split_once('_').context("name")?.1.replace('_', ".");
    let extra_ip = "198.19.251.1";
    let copy = block
        .replace(&name, "Node_198_19_251_1")
        .replace(&address, extra_ip);
    Ok(format!("{live}{copy}"))
}

/// An address no session of the fabric has, for the daemon floors.
fn floor_address(j: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 250, 0)) + j as u32)
}

/// `vty` sends `command` in configuration mode; bgpd must accept it.
async fn vty_ok(vty: &mut Vty, command: &str) -> anyhow::Result<()> {
    let reply = vty.run(command).await?;
    if !reply.ok() {
        bail!("bgpd refused `{command}`: {}", reply.message());
    }
    Ok(())
}

/// FRR: one `neighbor A remote-as AS` command over the vty socket, in the
/// view's node of a bgpd holding every session (removed again, untimed).
async fn frr_neighbor_floor(vty: &mut Vty, n: usize) -> anyhow::Result<Summary> {
    vty_ok(vty, "configure terminal").await?;
    vty_ok(
        vty,
        &format!("router bgp {} view {FRR_VIEW}", crate::fabric::ASN),
    )
    .await?;
    let mut add = Samples::default();
    for j in 0..n {
        let a = floor_address(j);
        let t = Instant::now();
        vty_ok(
            vty,
            &format!("neighbor {a} remote-as {}", crate::fabric::ASN),
        )
        .await?;
        add.push(t.elapsed());
        vty_ok(vty, &format!("no neighbor {a}")).await?;
    }
    vty_ok(vty, "end").await?;
    Ok(add.summary())
}

/// FRR: `bgpd -C` of a view with one client neighbor, the check the FRR
/// engine runs before it sends a change.
async fn frr_check_floor(frr: &FrrConfig, n: usize) -> anyhow::Result<Summary> {
    let dir = frr.state_dir.join("floor-check");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bgpd.conf");
    let a = floor_address(0);
    std::fs::write(
        &file,
        format!(
            "frr defaults traditional\nrouter bgp {asn} view {FRR_VIEW}\n bgp router-id {me}\n \
             no bgp default ipv4-unicast\n neighbor {a} remote-as {asn}\n \
             address-family ipv4 unicast\n  neighbor {a} activate\n  \
             neighbor {a} route-reflector-client\n exit-address-family\nexit\n",
            asn = crate::fabric::ASN,
            me = Fabric::me(),
        ),
    )?;
    let mut check = Samples::default();
    for _ in 0..n {
        let t = Instant::now();
        let out = tokio::process::Command::new(&frr.binary)
            .args(["-C", "-Z", "-S", "-f"])
            .arg(&file)
            .arg("--vty_socket")
            .arg(&dir)
            .output()
            .await?;
        check.push(t.elapsed());
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || text.contains('%') {
            bail!("bgpd -C refused the floor's file: {text}");
        }
    }
    Ok(check.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slewed_clock_moves_birds_reconfiguration_time_by_less_than_an_apply() {
        let moved = |a, b| reconfiguration_moved(a, b).unwrap().unsigned_abs();
        let before = "Last reconfiguration on 2026-12-05 00:09:12.345";
        assert_eq!(moved(before, before), Duration::ZERO);
        let slewed = moved(before, "Last reconfiguration on 2026-12-05 00:09:12.346");
        assert_eq!(slewed, Duration::from_millis(1));
        assert!(slewed <= CLOCK_SLEW);
        let applied = moved(before, "Last reconfiguration on 2026-12-05 00:09:14.020");
        assert!(applied > CLOCK_SLEW);
        // BIRD 1.6 prints whole seconds.
        assert_eq!(
            moved(
                "Last reconfiguration on 2026-11-22 20:57:51",
                "Last reconfiguration on 2026-11-22 20:57:53"
            ),
            Duration::from_secs(2)
        );
        assert!(reconfiguration_moved(before, "Last reboot on 2026-12-05 00:09:12").is_none());
    }
}

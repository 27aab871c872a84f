//! [`GobgpEngine`]: the [`BgpEngine`] that makes gobgpd hold an
//! [`RrConfig`] over gRPC. The runtime calls `held` -> `plan` -> `apply` ->
//! `observe`; this module sequences RPCs, [`crate::ops`] decides them and
//! [`crate::mapping`] shapes them.
//!
//! With `manage_process` a restarted rrd finds the gobgpd the previous one
//! left running (`<state_dir>/gobgpd.pid`) and adopts it, and reads back
//! what it applied (`<state_dir>/applied.json`): `held` then returns exactly
//! that config, the plan is empty, and no RPC changes anything.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use nix::sys::signal::Signal;
use rrd_core::{
    ApplyReport, BgpEngine, DaemonProcess, DaemonState, EngineError, EngineInfo, MigrationRole,
    Neighbor, Observation, PeerKey, Plan, RouterSettings, RrConfig, SessionStatus, StartMode,
    StopMode,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::Client;
use crate::config::GobgpConfig;
use crate::error::{GobgpError, ENGINE};
use crate::mapping::{
    global_of_spec, neighbor_of_spec, peer_of_spec, router_of_global, spec_of_global, spec_of_peer,
    GlobalSpec, MapContext,
};
use crate::observe::{key_of, session_of, session_of_listing};
use crate::ops::{self, Live, Op};
use crate::process::{ManagedDaemon, OnDrop};
use crate::sent_counts::{Decision, SentCounting};
use crate::states::{Freshness, PeerStates};
use rrd_process::PidFile;

/// What rrd applied last: the source of the [`Neighbor`] fields GoBGP does
/// not store (see [`crate::mapping`]).
#[derive(Debug, Default)]
struct Applied {
    router: Option<RouterSettings>,
    neighbors: BTreeMap<PeerKey, Neighbor>,
}

/// The GoBGP engine. Create with [`GobgpEngine::new`], then
/// [`BgpEngine::start`].
#[derive(Debug)]
pub struct GobgpEngine {
    config: GobgpConfig,
    client: Option<Client>,
    daemon: Option<ManagedDaemon>,
    /// Started with [`StartMode::Restarting`] and the BGP instance not yet
    /// created: the AddPeers that create it carry `local_restarting`.
    restarting: bool,
    applied: Applied,
    version: Option<String>,
    /// The last full listing, kept current by peer events and applies:
    /// what a states-only observation returns.
    states: PeerStates,
    /// The BGP instance gobgpd ran at the last look or checked apply.
    seen_global: Option<GlobalSpec>,
    /// Whether looks ask for the routes sent to each peer.
    sent_counting: SentCounting,
}

impl GobgpEngine {
    pub fn new(config: GobgpConfig) -> GobgpEngine {
        GobgpEngine {
            client: None,
            daemon: None,
            restarting: false,
            applied: Applied::default(),
            version: None,
            sent_counting: SentCounting::new(config.count_routes_sent_up_to),
            states: PeerStates::default(),
            seen_global: None,
            config,
        }
    }

    pub fn config(&self) -> &GobgpConfig {
        &self.config
    }

    /// PID of the managed gobgpd `config` names, if it runs now (its PID
    /// file names a live gobgpd on this API address), whoever manages it.
    pub fn running_daemon(config: &GobgpConfig) -> Option<u32> {
        rrd_process::recorded_process(&config.pid_path(), |args| config.is_own_daemon(args))
    }

    /// The gRPC client, once started: ListPath counts
    /// ([`Client::rib_summary`]) and the raw WatchEvent stream.
    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// PID of the managed gobgpd, while one runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().and_then(ManagedDaemon::pid)
    }

    /// How often the managed gobgpd died and was restarted.
    pub fn daemon_restarts(&self) -> u64 {
        self.daemon.as_ref().map_or(0, ManagedDaemon::restarts)
    }

    fn require_client(&self) -> Result<&Client, GobgpError> {
        self.client.as_ref().ok_or_else(|| GobgpError::NotReady {
            endpoint: self.config.api.clone(),
            waited: Duration::ZERO,
            last: "the engine is not started".into(),
        })
    }

    fn err(&self, e: GobgpError) -> EngineError {
        e.into_engine_error(&self.config.api)
    }

    /// Managed mode: adopt the gobgpd a previous rrd left running, or
    /// start one. Refused when another rrd manages it (the PID file is
    /// locked) or something else holds the API address.
    async fn start_daemon(&mut self, mode: StartMode) -> Result<(), GobgpError> {
        self.version = daemon_version(&self.config).await;
        let pidfile = PidFile::lock(&self.config.pid_path())?;
        let on_drop = if self.config.stop_daemon_on_exit {
            OnDrop::Stop
        } else {
            OnDrop::Leave
        };
        let daemon = match ManagedDaemon::find_adoptable(&self.config, &pidfile) {
            Some(pidfd) => {
                if mode == StartMode::Restarting {
                    tracing::warn!(
                        pid = pidfd.pid(),
                        "asked to start gobgpd as a restarting speaker, but it already runs: adopting it as it is"
                    );
                }
                ManagedDaemon::adopt(&self.config, pidfd, pidfile, on_drop)
            }
            None => {
                if let Some(detail) = api_in_use(&self.config).await {
                    return Err(GobgpError::AlreadyRunning {
                        endpoint: self.config.api.clone(),
                        detail,
                    });
                }
                ManagedDaemon::start(&self.config, pidfile, on_drop)?
            }
        };
        self.daemon = Some(daemon);
        if on_drop == OnDrop::Leave && self.config.log_file.is_none() {
            warn_if_output_is_a_pipe();
        }
        if self.applied.router.is_none() {
            if let Some(c) = rrd_process::record::read_json::<RrConfig>(&self.config.record_path())
            {
                self.applied = Applied {
                    router: Some(c.router),
                    neighbors: c.neighbors,
                };
            }
        }
        Ok(())
    }

    /// Managed mode: keep what was applied for the next rrd (a cache: a
    /// failure is logged, never fatal).
    fn save_record(&self) {
        let Some(router) = self.applied.router.clone() else {
            return;
        };
        let record = RrConfig {
            router,
            neighbors: self.applied.neighbors.clone(),
        };
        let path = self.config.record_path();
        if let Err(e) = rrd_process::record::write_json(&path, &record) {
            tracing::warn!(file = %path.display(), error = %e, "cannot record the applied configuration; a restarted rrd will re-plan what gobgpd does not store");
        }
    }

    async fn start_inner(&mut self, mode: StartMode) -> Result<(), GobgpError> {
        self.config.validate().map_err(GobgpError::Unsupported)?;
        if self.config.manage_process && self.daemon.is_none() {
            self.start_daemon(mode).await?;
        }
        let client = Client::new(
            &self.config.api,
            self.config.connect_timeout,
            self.config.request_timeout,
        )?;
        let global = wait_ready(&client, self.config.connect_timeout).await?;
        self.client = Some(client);
        self.restarting = mode == StartMode::Restarting;
        if self.restarting && global.asn != 0 {
            tracing::warn!(
                asn = global.asn,
                "started as a restarting speaker, but gobgpd already runs BGP: peers it holds keep their settings"
            );
        }
        Ok(())
    }

    async fn live(&self, client: &Client) -> Result<Live, GobgpError> {
        let g = client.get_bgp().await?;
        let Some(global) = spec_of_global(&g)? else {
            return Ok(Live::NotRunning);
        };
        let mut peers = BTreeMap::new();
        for p in client.list_peer("", false).await? {
            let spec = spec_of_peer(&p)?;
            peers.insert(spec.address, spec);
        }
        Ok(Live::Running { global, peers })
    }

    async fn held_inner(&self) -> Result<Option<RrConfig>, GobgpError> {
        let client = self.require_client()?;
        let g = client.get_bgp().await?;
        let Some(global) = spec_of_global(&g)? else {
            return Ok(None);
        };
        let ctx = MapContext {
            router_id: global.router_id,
            global_asn: global.asn,
            restart_time: self.config.restart_time,
            deferral_time: self.config.deferral_time,
        };
        let router = router_of_global(
            &global,
            self.config.listen_port,
            self.applied.router.as_ref(),
        );
        let mut neighbors = BTreeMap::new();
        for p in client.list_peer("", false).await? {
            let spec = spec_of_peer(&p)?;
            let mut key = key_of(&p);
            if neighbors.contains_key(&key) {
                // Two peers with one description (added by hand): keep both
                // so that the plan removes the stray one.
                key = PeerKey(format!("{key}@{}", spec.address));
            }
            let n = neighbor_of_spec(&key, &spec, &ctx, self.applied.neighbors.get(&key));
            neighbors.insert(key, n);
        }
        Ok(Some(RrConfig { router, neighbors }))
    }

    /// What gobgpd runs, for the addresses `plan` touches only: GetBgp plus
    /// one ListPeer per address, or one ListPeer of every peer when the
    /// plan touches more than [`LIST_EACH_UP_TO`] addresses. `None` when no
    /// BGP instance runs.
    async fn live_at(&self, client: &Client, plan: &Plan) -> Result<Option<Live>, GobgpError> {
        let g = client.get_bgp().await?;
        let Some(global) = spec_of_global(&g)? else {
            return Ok(None);
        };
        let addresses: std::collections::BTreeSet<IpAddr> = plan
            .add
            .values()
            .chain(plan.remove.values())
            .map(|n| n.address)
            .chain(
                plan.update
                    .values()
                    .flat_map(|(h, d)| [h.address, d.address]),
            )
            .collect();
        let mut peers = BTreeMap::new();
        if addresses.len() > LIST_EACH_UP_TO {
            for p in client.list_peer("", false).await? {
                let spec = spec_of_peer(&p)?;
                if addresses.contains(&spec.address) {
                    peers.insert(spec.address, spec);
                }
            }
            return Ok(Some(Live::Running { global, peers }));
        }
        for a in addresses {
            match client.list_peer(&a.to_string(), false).await {
                Ok(listed) => {
                    for p in listed {
                        let spec = spec_of_peer(&p)?;
                        peers.insert(spec.address, spec);
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Live::Running { global, peers }))
    }

    async fn apply_inner(
        &mut self,
        desired: &RrConfig,
        plan: &Plan,
    ) -> Result<ApplyReport, GobgpError> {
        if plan.is_empty() {
            return Ok(ApplyReport::default());
        }
        let client = self.require_client()?.clone();
        // A few additions and removals (a node came or went) are sent at
        // once, presuming that gobgpd holds what this engine applied and
        // runs the instance it last saw: every request costs gobgpd time in
        // proportion to its peers, and reading them first took two more.
        // gobgpd refuses what the presumption gets wrong (an address it
        // holds already, one it does not hold, no instance); the plan is
        // then checked against what it holds, as below.
        if let Some((v, ops)) = self.presumed(desired, plan)? {
            match self.send_ops(&client, desired, plan, &v, ops, false).await {
                Ok(report) => return Ok(report),
                Err(e) => tracing::info!(
                    error = %e,
                    plan = %plan.summary(),
                    "gobgpd refused a change sent on what was applied before; reading what it holds and applying again"
                ),
            }
        }
        // A plan of a few sessions on a running instance (the common case:
        // one node came or went) is checked and applied for those sessions
        // only: no listing of every peer. Router changes, a fresh daemon or
        // big plans take the whole config.
        let small = plan.add.len() + plan.update.len() + plan.remove.len()
            <= (desired.neighbors.len() / 4).max(16);
        let mut targeted = None;
        if plan.router.is_none() && self.applied.router.is_some() && small {
            let v = ops::validate_sessions(desired, ops::planned_keys(plan), &self.config)?;
            if let Some(live) = self.live_at(&client, plan).await? {
                if matches!(&live, Live::Running { global, .. } if *global == v.global) {
                    targeted = Some((v, live));
                }
            }
        }
        let whole = targeted.is_none();
        let (v, live) = match targeted {
            Some(t) => t,
            // Validate everything before the first mutation.
            None => {
                let v = ops::validate(desired, &self.config)?;
                let live = self.live(&client).await?;
                (v, live)
            }
        };
        let ops = ops::operations(&v, plan, &live);
        let report = self
            .send_ops(&client, desired, plan, &v, ops, whole)
            .await?;
        self.seen_global = Some(v.global.clone());
        Ok(report)
    }

    /// [`ops::presumed_operations`] of a plan of at most
    /// [`LIST_EACH_UP_TO`] additions and removals, when what backs the
    /// presumption holds: this engine applied the router and every removed
    /// session (at the same address) and none of the added ones, and the
    /// desired instance is the one gobgpd ran when last seen.
    fn presumed(
        &self,
        desired: &RrConfig,
        plan: &Plan,
    ) -> Result<Option<(ops::Validated, Vec<Op>)>, GobgpError> {
        let applied = &self.applied.neighbors;
        let backed = self.applied.router.is_some()
            && plan.add.len() + plan.remove.len() <= LIST_EACH_UP_TO
            && plan.add.keys().all(|k| !applied.contains_key(k))
            && plan
                .remove
                .iter()
                .all(|(k, n)| applied.get(k).is_some_and(|a| a.address == n.address));
        let Some(seen) = self.seen_global.as_ref().filter(|_| backed) else {
            return Ok(None);
        };
        if plan.router.is_some() || !plan.update.is_empty() {
            return Ok(None);
        }
        let v = ops::validate_sessions(desired, ops::planned_keys(plan), &self.config)?;
        if v.global != *seen {
            return Ok(None);
        }
        Ok(ops::presumed_operations(&v, plan).map(|ops| (v, ops)))
    }

    /// Send `ops` (planned for `plan` with `v`), then keep what was applied
    /// (`whole`: `desired` is all gobgpd holds now).
    async fn send_ops(
        &mut self,
        client: &Client,
        desired: &RrConfig,
        plan: &Plan,
        v: &ops::Validated,
        ops: Vec<Op>,
        whole: bool,
    ) -> Result<ApplyReport, GobgpError> {
        let bootstrap = ops.iter().any(|o| matches!(o, Op::StartBgp(_)));
        if ops.first() == Some(&Op::StopBgp) {
            tracing::warn!(
                router_id = %v.global.router_id,
                asn = v.global.asn,
                "router settings changed: restarting GoBGP's BGP instance, every session resets"
            );
        }
        let local_restarting = bootstrap && self.restarting;
        if local_restarting {
            tracing::info!(
                peers = v.peers.len(),
                "adding peers as a restarting speaker (R and F bits)"
            );
        }
        // Remember what was asked for before mutating: held() only uses it
        // where gobgpd's peers match it, so a failure half-way is harmless.
        self.applied.router = Some(desired.router.clone());
        let asked = if whole {
            desired.neighbors.keys().collect::<Vec<_>>()
        } else {
            ops::planned_keys(plan).collect()
        };
        for k in asked {
            if let Some(n) = desired.neighbors.get(k) {
                self.applied.neighbors.insert(k.clone(), n.clone());
            }
        }

        let mut report = ApplyReport {
            changed: !ops.is_empty(),
            operations: Vec::with_capacity(ops.len()),
        };
        let mut i = 0;
        while i < ops.len() {
            // A run of AddPeers (a whole config at start, a burst of new
            // nodes) or of DeletePeers goes out several RPCs at a time:
            // gobgpd takes them in turn, without waiting for rrd between
            // two.
            let run = concurrent_run(&ops[i..]);
            if run > 1 {
                send_concurrently(client, &ops[i..i + run], local_restarting).await?;
                report
                    .operations
                    .extend(ops[i..i + run].iter().map(Op::describe));
                i += run;
                continue;
            }
            let op = &ops[i];
            send(client, op, local_restarting).await?;
            report.operations.push(op.describe());
            i += 1;
        }
        if bootstrap {
            self.restarting = false;
        }
        if whole {
            self.applied
                .neighbors
                .retain(|k, _| desired.neighbors.contains_key(k));
        } else {
            for k in plan.remove.keys() {
                if !desired.neighbors.contains_key(k) {
                    self.applied.neighbors.remove(k);
                }
            }
        }
        if self.config.manage_process {
            self.save_record();
        }
        // A states-only look shows the change at once: removed sessions
        // gone, added ones Idle until their first peer event.
        let now = std::time::SystemTime::now();
        for key in plan.remove.keys() {
            self.states.removed(key);
        }
        for key in plan.update.keys().chain(plan.add.keys()) {
            if let Some(n) = desired.neighbors.get(key) {
                self.states.added(key, n, now);
            }
        }
        tracing::info!(plan = %plan.summary(), rpcs = ops.len(), "applied to gobgpd");
        Ok(report)
    }

    /// A full observation: GetBgp, then a ListPeer of every peer with its
    /// counts (the peer-event stream opened first, when it is not).
    async fn observe_inner(&mut self) -> Result<Observation, GobgpError> {
        let client = match self.observed_daemon().await? {
            Ok(client) => client,
            Err(observation) => return Ok(observation),
        };
        self.list_every_peer(&client).await
    }

    /// A states-only observation: GetBgp, and the states the peer-event
    /// stream delivered merged into the last listing; a listing only when
    /// the stream is not open (the first look, gobgpd restarted); the
    /// sessions that came up or went down since read again.
    async fn observe_states_inner(&mut self) -> Result<Observation, GobgpError> {
        let client = match self.observed_daemon().await? {
            Ok(client) => client,
            Err(observation) => return Ok(observation),
        };
        let applied = &self.applied.neighbors;
        let key_of = |a: IpAddr| {
            applied
                .iter()
                .find(|(_, n)| n.address == a)
                .map(|(k, _)| k.clone())
        };
        if self.states.drain(key_of) == Freshness::NeedsListing {
            return self.list_every_peer(&client).await;
        }
        let stale = self.states.stale();
        if stale.len() > LIST_EACH_UP_TO {
            return self.list_every_peer(&client).await;
        }
        let sent_counted = self.sent_counting.current() == Decision::Count;
        for address in stale {
            let peers = match client.list_peer(&address.to_string(), sent_counted).await {
                Ok(p) => p,
                Err(e) if e.is_unreachable() => {
                    self.states.unwatch();
                    return Ok(Observation {
                        daemon: DaemonState::Down {
                            reason: e.to_string(),
                        },
                        sessions: Vec::new(),
                    });
                }
                Err(e) => return Err(e),
            };
            let read = peers
                .iter()
                .filter_map(|p| session_of_listing(p, sent_counted))
                .find(|s| s.address == address);
            self.states.relisted(address, read);
        }
        Ok(Observation {
            daemon: DaemonState::Running,
            sessions: self.states.sessions(),
        })
    }

    /// GetBgp: the client when gobgpd runs BGP, else the observation
    /// (down, unconfigured) to return as it is.
    async fn observed_daemon(&mut self) -> Result<Result<Client, Observation>, GobgpError> {
        let down = |reason: String| Observation {
            daemon: DaemonState::Down { reason },
            sessions: Vec::new(),
        };
        let Some(client) = self.client.clone() else {
            return Ok(Err(down("the engine is not started".into())));
        };
        self.seen_global = None;
        let g = match client.get_bgp().await {
            Ok(g) => g,
            Err(e) if e.is_unreachable() => {
                self.states.unwatch();
                return Ok(Err(down(e.to_string())));
            }
            Err(e) => return Err(e),
        };
        self.seen_global = spec_of_global(&g).ok().flatten();
        if g.asn == 0 {
            return Ok(Err(Observation {
                daemon: DaemonState::Unconfigured,
                sessions: Vec::new(),
            }));
        }
        Ok(Ok(client))
    }

    /// ListPeer of every peer with counts (the routes sent only while
    /// [`SentCounting`] says gobgpd's walk for them stays small), after
    /// (re)opening the peer-event stream when it is not open, so that the
    /// states merged until the next listing start from this one.
    async fn list_every_peer(&mut self, client: &Client) -> Result<Observation, GobgpError> {
        let down = |reason: String| Observation {
            daemon: DaemonState::Down { reason },
            sessions: Vec::new(),
        };
        if self.states.drain(|_| None) == Freshness::NeedsListing {
            if let Err(e) = self.states.watch(client).await {
                tracing::debug!(error = %e, "no peer-event stream; every look lists every peer");
            }
        }
        let sent_counted =
            self.sent_counting.next(Some(self.states.look_size())) == Decision::Count;
        let peers = match client.list_peer("", sent_counted).await {
            Ok(p) => p,
            Err(e) if e.is_unreachable() => {
                self.states.unwatch();
                return Ok(down(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        let mut sessions: Vec<SessionStatus> = peers
            .iter()
            .filter_map(|p| session_of_listing(p, sent_counted))
            .collect();
        sessions.sort_by(|a, b| a.key.cmp(&b.key));
        self.states.listed(sessions.clone());
        Ok(Observation {
            daemon: DaemonState::Running,
            sessions,
        })
    }

    async fn stop_inner(&mut self, mode: StopMode) -> Result<(), GobgpError> {
        self.states.unwatch();
        self.seen_global = None;
        let daemon = self.daemon.take();
        let client = self.client.take();
        match (daemon, mode) {
            // gobgpd turns SIGTERM into StopBgp: Cease to every peer.
            (Some(d), StopMode::Graceful) => d.stop(Signal::SIGTERM).await,
            // Only SIGKILL leaves peers in graceful-restart helper mode
            // (SIGTERM, SIGINT and StopBgp all send Cease).
            (Some(d), StopMode::PreserveForwarding) => d.stop(Signal::SIGKILL).await,
            (None, StopMode::Graceful) => {
                if let Some(c) = client {
                    c.stop_bgp().await?;
                }
            }
            (None, StopMode::PreserveForwarding) => {
                self.client = client;
                return Err(GobgpError::Unsupported(
                    "gobgpd is not run by rrd (manage_process = false): it cannot be stopped \
                     without NOTIFICATIONs over gRPC; SIGKILL it with its service manager"
                        .into(),
                ));
            }
        }
        self.restarting = false;
        Ok(())
    }

    /// Session changes as gobgpd reports them (every peer once at first,
    /// then each state change), for a runtime that wants to observe at
    /// once instead of polling. Each event is completed with a ListPeer of
    /// that peer; a peer already deleted keeps the event's bare fields (key
    /// `gobgp_<address>`). The channel closes when the stream ends
    /// (gobgpd gone); the forwarding task ends when the receiver is dropped.
    pub async fn watch_sessions(&self) -> Result<mpsc::Receiver<SessionStatus>, EngineError> {
        let client = self.require_client().map_err(|e| self.err(e))?.clone();
        let mut stream = client.watch_peers().await.map_err(|e| self.err(e))?;
        let sent_counted = self.sent_counting.current() == Decision::Count;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                let Some(crate::apipb::watch_event_response::Event::Peer(pe)) = event.event else {
                    continue;
                };
                let Some(mut status) = pe.peer.as_ref().and_then(session_of) else {
                    continue;
                };
                // Events carry address, AS and state only: fetch the rest
                // (description = session name, counts, capabilities) while
                // the peer exists.
                let full = client
                    .list_peer(&status.address.to_string(), sent_counted)
                    .await;
                let read = full
                    .ok()
                    .and_then(|p| p.first().and_then(|p| session_of_listing(p, sent_counted)));
                if let Some(s) = read {
                    status = SessionStatus {
                        state: status.state,
                        ..s
                    };
                }
                if tx.send(status).await.is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }
}

/// Up to this many addresses, a targeted apply (or a states-only look at
/// sessions that came up or went down) lists each peer on its own;
/// past it, every peer at once. gobgpd's main loop selects over a channel
/// per peer for every request, so even a ListPeer of one address costs it
/// time proportional to its peer count: at 2,099 peers one such ListPeer
/// cost 2.6 ms of gobgpd CPU and a ListPeer of all 84 ms (`benches/
/// add_peers.rs`), about 32 single ones, whatever the peer count.
const LIST_EACH_UP_TO: usize = 16;

/// RPCs in flight at once for a run of AddPeers or DeletePeers.
const RPCS_IN_FLIGHT: usize = 16;

/// One RPC.
async fn send(client: &Client, op: &Op, local_restarting: bool) -> Result<(), GobgpError> {
    match op {
        Op::StopBgp => client.stop_bgp().await,
        Op::StartBgp(g) => client.start_bgp(global_of_spec(g)).await,
        Op::DeletePeer { key, address } => client.delete_peer(&address.to_string(), &key.0).await,
        Op::UpdatePeer { spec, .. } => {
            if client.update_peer(peer_of_spec(spec, false)).await? {
                tracing::debug!(peer = %spec.address, "gobgpd suggests a soft reset in; not needed for timers");
            }
            Ok(())
        }
        Op::AddPeer { spec, .. } => client.add_peer(peer_of_spec(spec, local_restarting)).await,
    }
}

/// How many operations from the start of `ops` may go out together: a run
/// of AddPeers or of DeletePeers. Their order within the run does not
/// matter: [`ops::operations`] names each address at most once per kind
/// and puts every DeletePeer before the AddPeers.
fn concurrent_run(ops: &[Op]) -> usize {
    let same_kind = |a: &Op, b: &Op| {
        matches!(
            (a, b),
            (Op::AddPeer { .. }, Op::AddPeer { .. })
                | (Op::DeletePeer { .. }, Op::DeletePeer { .. })
        )
    };
    match ops.first() {
        Some(first @ (Op::AddPeer { .. } | Op::DeletePeer { .. })) => {
            ops.iter().take_while(|o| same_kind(first, o)).count()
        }
        _ => usize::from(!ops.is_empty()),
    }
}

/// Send a run of operations, [`RPCS_IN_FLIGHT`] at a time. Every failure is
/// logged with its peer; none is sent after the first failure, and the
/// first is returned once the RPCs in flight have ended.
async fn send_concurrently(
    client: &Client,
    ops: &[Op],
    local_restarting: bool,
) -> Result<(), GobgpError> {
    let started = Instant::now();
    let mut pending = ops.iter();
    let mut running = tokio::task::JoinSet::new();
    let mut first_error = None;
    loop {
        while running.len() < RPCS_IN_FLIGHT && first_error.is_none() {
            let Some(op) = pending.next() else { break };
            let (client, op) = (client.clone(), op.clone());
            running.spawn(async move { send(&client, &op, local_restarting).await });
        }
        match running.join_next().await {
            None => break,
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "gobgpd refused an operation");
                first_error.get_or_insert(e);
            }
            // Never aborted: only a panic ends a task early; pass it on.
            Some(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        }
    }
    tracing::debug!(
        rpcs = ops.len(),
        took = ?started.elapsed(),
        in_flight = RPCS_IN_FLIGHT,
        "sent a run of peer operations"
    );
    first_error.map_or(Ok(()), Err)
}

/// `gobgpd --version` -> `gobgpd 3.10.0`.
async fn daemon_version(config: &GobgpConfig) -> Option<String> {
    let out = tokio::process::Command::new(&config.binary)
        .arg("--version")
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().last()?;
    Some(format!("gobgpd {version}"))
}

/// Whether something accepts connections on the API address (then a new
/// gobgpd could not listen there): a description, or `None`.
async fn api_in_use(config: &GobgpConfig) -> Option<String> {
    let connect = tokio::net::TcpStream::connect(&config.api);
    match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok(_)) => Some(format!(
            "no gobgpd of rrd's runs ({} names none alive)",
            config.pid_path().display()
        )),
        _ => None,
    }
}

/// gobgpd (Go) dies of SIGPIPE when it writes to a pipe nobody reads: if
/// it shares rrd's stdout/stderr and that is a pipe, it may not survive
/// rrd's exit by long.
fn warn_if_output_is_a_pipe() {
    for fd in [1, 2] {
        let pipe =
            std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok_and(|m| m.file_type().is_fifo());
        if pipe {
            tracing::warn!(
                fd,
                "gobgpd shares rrd's output, a pipe: if its reader exits with rrd, gobgpd dies of SIGPIPE at its next log line; set engine.gobgp.log_file"
            );
            return;
        }
    }
}

/// Poll GetBgp until gobgpd answers or `within` has passed.
async fn wait_ready(client: &Client, within: Duration) -> Result<crate::apipb::Global, GobgpError> {
    let deadline = Instant::now() + within;
    loop {
        match client.get_bgp().await {
            Ok(g) => return Ok(g),
            Err(e) if Instant::now() >= deadline => {
                return Err(GobgpError::NotReady {
                    endpoint: client.endpoint().to_owned(),
                    waited: within,
                    last: e.to_string(),
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

impl BgpEngine for GobgpEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: ENGINE,
            version: self.version.clone(),
            endpoint: self.config.api.clone(),
        }
    }

    /// gobgpd's TOML configuration holding the same peers
    /// ([`crate::render`]); validates like `apply`.
    fn render(&self, desired: &RrConfig) -> Result<String, EngineError> {
        let v = ops::validate(desired, &self.config).map_err(|e| self.err(e))?;
        Ok(crate::render::gobgpd_toml(&v, &self.config.api))
    }

    fn running_daemons(&self) -> Vec<DaemonProcess> {
        GobgpEngine::running_daemon(&self.config)
            .map(|pid| DaemonProcess {
                name: "gobgpd".into(),
                pid,
            })
            .into_iter()
            .collect()
    }

    /// gobgpd must be rrd's (SIGKILL is the only stop without Cease, and a
    /// restarting speaker is a fresh gobgpd) and outlive this engine; as
    /// the source it must run now.
    async fn prepare_migration(&mut self, role: MigrationRole) -> Result<Vec<String>, EngineError> {
        let refuse = |reason: String| EngineError::Precondition {
            engine: ENGINE,
            reason,
        };
        self.config.validate().map_err(refuse)?;
        if !self.config.manage_process {
            return Err(refuse("engine.gobgp.manage_process must be true for a migration: rrd starts gobgpd, and stops it with SIGKILL (SIGTERM would send Cease to every peer)".into()));
        }
        self.config.stop_daemon_on_exit = false;
        if role == MigrationRole::Source && GobgpEngine::running_daemon(&self.config).is_none() {
            return Err(refuse(format!(
                "{} names no running gobgpd of rrd's: there is no gobgpd to migrate from",
                self.config.pid_path().display()
            )));
        }
        let mut warnings = Vec::new();
        if self.config.log_file.is_none() {
            warnings.push("engine.gobgp.log_file is not set: a gobgpd started by this command writes to its output and dies of SIGPIPE once that is gone (a pipe)".into());
        }
        Ok(warnings)
    }

    async fn start(&mut self, mode: StartMode) -> Result<(), EngineError> {
        self.start_inner(mode).await.map_err(|e| self.err(e))
    }

    async fn held(&mut self) -> Result<Option<RrConfig>, EngineError> {
        self.held_inner().await.map_err(|e| self.err(e))
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        self.apply_inner(desired, plan)
            .await
            .map_err(|e| self.err(e))
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        self.observe_inner().await.map_err(|e| self.err(e))
    }

    async fn observe_states(&mut self) -> Result<Observation, EngineError> {
        self.observe_states_inner().await.map_err(|e| self.err(e))
    }

    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        self.stop_inner(mode).await.map_err(|e| self.err(e))
    }

    /// A look only reads: a dropped gRPC call is cancelled, the peer-event
    /// stream is kept only once open, a session to read again stays so
    /// until it was read, and a listing cut short is taken again.
    fn looks_may_give_way(&self) -> bool {
        true
    }

    fn daemon_restarts(&self) -> u64 {
        GobgpEngine::daemon_restarts(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn op(kind: &str, i: u8) -> Op {
        let address = IpAddr::V4(Ipv4Addr::new(198, 51, 100, i));
        let key = PeerKey(format!("peer{i}"));
        let neighbor = Neighbor::new(
            rrd_core::SessionKind::Node,
            address,
            rrd_core::Asn(64512),
            rrd_core::Role::RrClient { cluster_id: None },
            None,
        );
        let ctx = MapContext {
            router_id: Ipv4Addr::new(198, 51, 100, 1),
            global_asn: 64512,
            restart_time: 120,
            deferral_time: 360,
        };
        match kind {
            "del" => Op::DeletePeer { key, address },
            "stop" => Op::StopBgp,
            _ => Op::AddPeer {
                spec: crate::mapping::spec_of_neighbor(&key, &neighbor, &ctx).unwrap(),
                key,
            },
        }
    }

    #[test]
    fn runs_of_deletions_and_of_additions_go_out_together_and_nothing_else_does() {
        let ops = [
            op("stop", 0),
            op("del", 1),
            op("del", 2),
            op("del", 3),
            op("add", 1),
            op("add", 4),
        ];
        assert_eq!(concurrent_run(&ops), 1);
        assert_eq!(concurrent_run(&ops[1..]), 3);
        assert_eq!(concurrent_run(&ops[4..]), 2);
        assert_eq!(concurrent_run(&ops[5..]), 1);
        assert_eq!(concurrent_run(&[]), 0);
    }
}

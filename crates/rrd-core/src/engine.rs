//! The engine contract: how a real BGP daemon is made to hold an
//! [`RrConfig`].
//!
//! The runtime asks an engine what it holds ([`BgpEngine::held`]), diffs
//! with [`crate::plan`], and hands both the desired config and the plan to
//! [`BgpEngine::apply`]: file-based engines (BIRD) render the whole config and
//! let the daemon restart only changed sessions; API engines (GoBGP) apply
//! the plan peer by peer. [`StartMode`] and [`StopMode`] exist for the
//! migration between daemons: stop one daemon without NOTIFICATIONs, start
//! the other as a restarting speaker so clients keep forwarding on stale
//! routes.
//!
//! Everything the binary needs to know about a particular daemon sits
//! behind this contract: what a user reads ([`BgpEngine::render`]), which
//! daemon processes rrd runs ([`BgpEngine::running_daemons`]) and whether
//! the engine can take part in a migration
//! ([`BgpEngine::prepare_migration`]), and what it takes over from the
//! daemon a migration moves away from ([`BgpEngine::carry_over`]). A new
//! engine is one crate plus a line of wiring in the binary.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::model::{Asn, Family, PeerKey, RrConfig};
use crate::plan::Plan;

/// What an engine is, for logs and status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    /// `bird`, `gobgp`, `frr`: the value of `engine.kind`.
    pub kind: &'static str,
    /// Daemon version, when known (`BIRD 2.0.12`, `gobgpd 3.10.0`).
    pub version: Option<String>,
    /// Socket path or gRPC address.
    pub endpoint: String,
}

/// How to start (or attach to) the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StartMode {
    /// Normal start.
    Fresh,
    /// Graceful-restart recovery (BIRD `-R`, GoBGP `local_restarting`):
    /// announce the Restart-State and Forwarding-State bits so peers keep
    /// the routes they hold from us until our End-of-RIB.
    Restarting,
}

/// How to stop the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StopMode {
    /// Orderly: Cease NOTIFICATION to every peer, peers flush our routes.
    Graceful,
    /// No NOTIFICATION (BIRD 2 `graceful restart`, SIGKILL otherwise):
    /// peers with graceful restart keep our routes as stale.
    PreserveForwarding,
}

/// Which side of a migration an engine is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MigrationRole {
    /// The engine whose daemon holds the RR now; it is stopped without
    /// NOTIFICATIONs (and restarted as a restarting speaker on a rollback).
    Source,
    /// The engine whose daemon takes over as a restarting speaker.
    Target,
}

/// A daemon process that rrd runs for an engine (`manage_process`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DaemonProcess {
    /// The program, as an operator knows it (`bird`, `bird6`, `gobgpd`,
    /// `bgpd`).
    pub name: String,
    pub pid: u32,
}

impl std::fmt::Display for DaemonProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// BGP finite-state-machine state of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    /// Administratively down or not started.
    Down,
}

impl SessionState {
    pub fn label(self) -> &'static str {
        match self {
            SessionState::Idle => "Idle",
            SessionState::Connect => "Connect",
            SessionState::Active => "Active",
            SessionState::OpenSent => "OpenSent",
            SessionState::OpenConfirm => "OpenConfirm",
            SessionState::Established => "Established",
            SessionState::Down => "Down",
        }
    }
}

/// Where a session stands in the daemon's own graceful-restart recovery
/// (after a [`StartMode::Restarting`] start): the migration's step 5 waits
/// until every session is [`Recovery::Done`]. Ordered from done to least
/// advanced, so a session over several channels is the `max` of theirs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// No recovery under way: the daemon did not restart, or it has sent
    /// its routes and End-of-RIB (BIRD shows no `GR recovery` line; GoBGP's
    /// `local_restarting` is cleared).
    #[default]
    Done,
    /// This peer's End-of-RIB arrived; the daemon still holds back its own
    /// routes until every peer's has (BIRD `GR recovery: waiting`, GoBGP
    /// `local_restarting`).
    RoutesDeferred,
    /// The daemon restarted and waits for this peer's End-of-RIB (BIRD `GR
    /// recovery: pending`; GoBGP `end_of_rib_received` false).
    AwaitingEndOfRib,
}

impl Recovery {
    pub fn label(self) -> &'static str {
        match self {
            Recovery::Done => "done",
            Recovery::AwaitingEndOfRib => "awaiting End-of-RIB",
            Recovery::RoutesDeferred => "routes deferred",
        }
    }
}

/// One session as the daemon reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    pub key: PeerKey,
    pub address: IpAddr,
    pub remote_as: Option<Asn>,
    pub state: SessionState,
    /// Since when the session is in this state: an RFC 3339 timestamp
    /// (UTC), converted by the engine from what its daemon reports.
    pub since: Option<String>,
    /// Last error or extra info (`Socket: Connection refused`).
    pub info: String,
    pub routes_received: Option<u64>,
    pub routes_sent: Option<u64>,
    /// Families for which the peer announced graceful restart.
    pub peer_graceful_restart: BTreeSet<Family>,
    /// Whether the daemon shows this peer as an RR client.
    pub rr_client: Option<bool>,
    /// The daemon's own graceful-restart recovery on this session.
    #[serde(default)]
    pub recovery: Recovery,
    /// The peer's BGP identifier as its OPEN gave it (BIRD's "Neighbor
    /// ID", GoBGP's peer state, FRR's `remoteRouterId`), while the session
    /// is Established; `None` before, or when the daemon does not say. A
    /// migration hands it to the target ([`BgpEngine::carry_over`]), which
    /// may need it before its daemon has seen an OPEN (FRR's ORIGINATOR_ID
    /// route maps).
    #[serde(default)]
    pub peer_router_id: Option<Ipv4Addr>,
}

/// A [`SessionStatus::since`] from a daemon's Unix time in seconds (GoBGP's
/// uptime, FRR's epoch of the Established transition); `None` after
/// 9999-12-31, which RFC 3339 cannot write and only a confused daemon
/// reports.
pub fn since_unix_seconds(seconds: u64) -> Option<String> {
    /// 10000-01-01T00:00:00Z.
    const YEAR_10000: u64 = 253_402_300_800;
    (seconds < YEAR_10000).then(|| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        humantime::format_rfc3339_seconds(at).to_string()
    })
}

/// Daemon-level health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DaemonState {
    /// Running and holding a BGP configuration.
    Running,
    /// Running, but holding no BGP configuration (GoBGP restarted empty):
    /// the runtime must re-create everything.
    Unconfigured,
    /// Not reachable.
    Down { reason: String },
}

/// A look at the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub daemon: DaemonState,
    /// Every BGP session the daemon holds, the ones rrd did not write
    /// included (a protocol added to bird.conf by hand, a peer added with
    /// `gobgp neighbor add`): the runtime compares these with what it
    /// applied and reports the difference as drift.
    pub sessions: Vec<SessionStatus>,
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Whether the daemon was touched at all.
    pub changed: bool,
    /// Operations performed, in order, for logs (`configure: 0003
    /// Reconfigured`, `AddPeer 198.51.100.7`).
    pub operations: Vec<String>,
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach {engine} at {endpoint}: {detail}")]
    Unreachable {
        engine: &'static str,
        endpoint: String,
        detail: String,
    },
    /// The daemon refused the configuration; it keeps running the old one.
    #[error("{engine} rejected the configuration: {reason}")]
    Rejected {
        engine: &'static str,
        reason: String,
    },
    /// The desired configuration cannot be expressed by this engine.
    #[error("{engine} cannot hold this configuration: {reason}")]
    Unsupported {
        engine: &'static str,
        reason: String,
    },
    /// The engine, as configured or as its daemon stands, cannot do what
    /// was asked (a migration with a daemon rrd does not run, a source
    /// daemon that is not running).
    #[error("{engine}: {reason}")]
    Precondition {
        engine: &'static str,
        reason: String,
    },
    /// Another rrd manages this daemon (it holds the lock on its PID file):
    /// this rrd must not run beside it.
    #[error("another rrd already manages this {engine}: {pid_file} is locked")]
    ManagedElsewhere {
        engine: &'static str,
        pid_file: String,
    },
    #[error("{engine}: {operation} failed: {source}")]
    Failed {
        engine: &'static str,
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl EngineError {
    /// Whether trying again later may help (a rejected or unsupported
    /// configuration will be refused again until the topology changes).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            EngineError::Unreachable { .. } | EngineError::Failed { .. }
        )
    }
}

/// A BGP daemon that rrd drives.
///
/// Implementations: BIRD 1.6 / 2.x (config file + control socket), GoBGP
/// (gRPC), FRR (bgpd, vtysh).
pub trait BgpEngine: Send + 'static {
    fn info(&self) -> EngineInfo;

    /// `desired` as the daemon's users read it (`rrd render`): BIRD's
    /// configuration file(s), gobgpd's TOML configuration, FRR's
    /// configuration. Validates like [`BgpEngine::apply`] (an error here
    /// is the error an apply would give) and touches nothing.
    fn render(&self, desired: &RrConfig) -> Result<String, EngineError>;

    /// The daemon processes that rrd runs for this engine's configuration
    /// and that are alive now, whoever manages them (PID files): how
    /// `rrd run` notices a daemon a migration left for another engine, and
    /// how `rrd migrate` names the daemon it leaves running. Empty when rrd
    /// does not manage the daemon.
    fn running_daemons(&self) -> Vec<DaemonProcess> {
        Vec::new()
    }

    /// Before a migration touches anything: refuse what this engine cannot
    /// do as `role` ([`EngineError::Precondition`]; e.g. stop its daemon
    /// without NOTIFICATIONs, or restart it as a restarting speaker, when
    /// rrd does not run it), check that a source's daemon runs now (a
    /// migration never starts the daemon it moves away from), and make the
    /// daemon outlive the engine. Returns warnings for the operator.
    /// Engines that cannot take part in a migration keep the default.
    fn prepare_migration(
        &mut self,
        role: MigrationRole,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send {
        let engine = self.info().kind;
        async move {
            Err(EngineError::Precondition {
                engine,
                reason: format!("this engine cannot be a migration's {role:?}"),
            })
        }
    }

    /// What the daemon a migration moves away from last observed
    /// (`source`, a full [`BgpEngine::observe`] of the source engine),
    /// handed to the target before it is started or renders anything:
    /// what the source's daemon learned from its peers that the target
    /// would otherwise learn only once its own sessions are up. The FRR
    /// engine takes the clients' router ids
    /// ([`SessionStatus::peer_router_id`]) that differ from what it would
    /// render, so that its first configuration already sets the right
    /// ORIGINATOR_ID. An error refuses the migration before anything is
    /// stopped. Engines whose daemon learns all it needs from the OPENs
    /// (BIRD, GoBGP) keep the default, which does nothing.
    fn carry_over(&mut self, source: &Observation, desired: &RrConfig) -> Result<(), EngineError> {
        let _ = (source, desired);
        Ok(())
    }

    /// Attach to the daemon, starting it first when rrd manages the process.
    fn start(&mut self, mode: StartMode) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// The configuration the daemon holds, as far as the engine can tell;
    /// `None` when it holds none (fresh daemon) or it cannot be known.
    fn held(&mut self) -> impl Future<Output = Result<Option<RrConfig>, EngineError>> + Send;

    /// Make the daemon hold `desired`. `plan` is `plan(desired, held)`.
    /// Validate first, then mutate: on error the daemon keeps what it held.
    fn apply(
        &mut self,
        desired: &RrConfig,
        plan: &Plan,
    ) -> impl Future<Output = Result<ApplyReport, EngineError>> + Send;

    /// Session states and route counts of every BGP session the daemon
    /// holds, also those rrd did not write ([`Observation::sessions`]),
    /// read from the daemon now: the full listing. The runtime asks for it
    /// every `runtime.counts_interval`, a migration at every step.
    fn observe(&mut self) -> impl Future<Output = Result<Observation, EngineError>> + Send;

    /// The cheap look the runtime takes every `runtime.observe_interval`:
    /// the daemon's health and every session's state as of now; the route
    /// counts, capabilities and other detail of each session may be those
    /// of the last [`BgpEngine::observe`] (a session that appeared since
    /// has them read for it alone, or none). Engines whose full listing is
    /// cheap keep the default: the full listing.
    fn observe_states(&mut self) -> impl Future<Output = Result<Observation, EngineError>> + Send {
        self.observe()
    }

    /// Whether a look ([`BgpEngine::observe`], [`BgpEngine::observe_states`])
    /// may be dropped at any of its awaits and leave the daemon and the
    /// engine as they were or as after a whole look. The runtime then lets
    /// a datastore change that arrives during a periodic look go first
    /// instead of waiting it out. Only an engine whose looks merely read
    /// says yes; one whose look may change the daemon must keep the
    /// default.
    fn looks_may_give_way(&self) -> bool {
        false
    }

    /// How often rrd's supervisor restarted the daemon after it died, since
    /// this engine started (0 when rrd does not manage the process). Only
    /// read, never reset: the runtime turns increases into a counter.
    fn daemon_restarts(&self) -> u64 {
        0
    }

    /// Stop the daemon (managed) or detach from it.
    fn stop(&mut self, mode: StopMode) -> impl Future<Output = Result<(), EngineError>> + Send;
}

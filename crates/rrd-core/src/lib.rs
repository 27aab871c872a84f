//! rrd-core: everything about route reflectors that needs no I/O.
//!
//! Data flows `PeerSource -> Topology -> semantics::compute -> RrConfig ->
//! plan -> BgpEngine`. This crate owns the types at every arrow and the two
//! contracts on either side ([`PeerSource`], [`BgpEngine`]); the runtime
//! (`rrd-runtime`) only moves values between them.
//!
//! * [`model`] — the canonical topology (what the datastore says) and the
//!   per-RR configuration (what one daemon must hold).
//! * [`semantics`] — the pure function topology + identity -> [`RrConfig`].
//! * [`desired`] — that function kept current change by change: a change
//!   costs what it touches, not what the fabric holds.
//! * [`plan`] — the diff between a desired and a held [`RrConfig`].
//! * [`check`] — topology-wide safety checks (`rrd check`).
//! * [`source`] / [`engine`] — the plugin contracts.
//! * [`testing`] (feature `testing`) — fakes and conformance suites.

pub mod check;
pub mod desired;
pub mod engine;
pub mod model;
pub mod plan;
pub mod semantics;
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;

pub use desired::{DesiredState, Touched};
pub use engine::{
    since_unix_seconds, ApplyReport, BgpEngine, DaemonProcess, DaemonState, EngineError,
    EngineInfo, MigrationRole, Observation, Recovery, SessionState, SessionStatus, StartMode,
    StopMode,
};
pub use model::{
    Asn, ClusterId, Defaults, Family, GracefulRestart, Labels, Neighbor, NextHop, Node,
    NodeBgpConfig, NodeSelector, PeerKey, PeerMatch, PeerRule, ReversePeering, Role,
    RouteReflector, RouterSettings, RrConfig, RrIdentity, RuleSet, Secret, SecretRef, SessionKind,
    SourceAddress, Topology, TopologyChange, Ttl,
};
pub use plan::{plan, plan_sessions, Plan};
pub use semantics::{compute, Computed, Diagnostic, SemanticsError};
pub use source::{
    bounded_echo, EventSink, PeerSource, SourceError, SourceEvent, SourceInfo, SourceStatus,
};

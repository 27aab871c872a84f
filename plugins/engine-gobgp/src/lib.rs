//! GoBGP engine: makes gobgpd 3.x hold an [`rrd_core::RrConfig`] over its
//! gRPC API (`proto/gobgp.proto`, package `apipb`).
//!
//! Where it sits: runtime -> [`GobgpEngine`] ([`rrd_core::BgpEngine`]) ->
//! gobgpd. The engine applies plans peer by peer (AddPeer / DeletePeer /
//! UpdatePeer), re-creates everything when gobgpd comes back empty, and can
//! run and supervise gobgpd itself.
//!
//! * [`config`] — `[engine.gobgp]` settings.
//! * [`mapping`] — Neighbor <-> `apipb::Peer`, RouterSettings <-> `apipb::Global`.
//! * [`ops`] — validation and the RPCs an apply sends (pure).
//! * [`engine`] — the [`rrd_core::BgpEngine`] implementation.
//! * [`render`] — the desired config as gobgpd's TOML file (`rrd render`).
//! * [`observe`] — ListPeer -> session status.
//! * [`states`] — session states between two full listings: the
//!   WatchEvent peer stream merged into the last ListPeer.
//! * [`sent_counts`] — whether a full look asks gobgpd for the routes sent
//!   (a Loc-RIB walk per peer inside gobgpd's main loop).
//! * [`client`] — the typed gRPC client; [`process`] — gobgpd's part of the
//!   managed daemon (command line, log file, adoption check) on
//!   `rrd-process`'s `Supervisor` (restarts, stop, PID file, pidfd).

pub mod client;
pub mod config;
pub mod engine;
pub mod error;
pub mod mapping;
pub mod observe;
pub mod ops;
pub mod process;
pub mod render;
pub mod sent_counts;
pub mod states;

/// The generated GoBGP API subset (`proto/gobgp.proto` and
/// `proto/capability.proto`, package `apipb`).
#[allow(missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod apipb {
    tonic::include_proto!("apipb");
}

pub use client::{Client, RibSummary, RpcCounts};
pub use config::GobgpConfig;
pub use engine::GobgpEngine;
pub use error::GobgpError;

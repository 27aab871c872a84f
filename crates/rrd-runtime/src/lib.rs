//! rrd-runtime: the reconciliation loop (ARCHITECTURE.md, "The loop").
//!
//! ```text
//! PeerSource::watch ──events──▶ Reconciler (owns the DesiredState)
//!                                 │ touched sessions only (rrd_core::desired)
//!                                 │ debounce: at once after quiet, bursts batched
//!                                 │ rrd_core::plan_sessions(desired, held, touched)
//!                                 │   (full plan against engine.held() at resync)
//!                                 │ mass-removal guard
//!                                 ▼
//!                               BgpEngine::apply ─▶ observe ─▶ Status
//! ```
//!
//! One task owns all state; the HTTP server and the CLI talk to it through
//! [`Control`] messages and read [`Status`] snapshots from a watch channel.
//! Each observation of the daemon is also compared with what rrd applied
//! ([`drift`]) and feeds the per-peer [`metrics`].
//!
//! [`migration`] moves an RR from one daemon to another (docs/migration.md) through
//! the same engine contract, outside the loop (`rrd migrate`).

mod backoff;
pub mod debounce;
pub mod drift;
mod guard;
pub mod http;
pub mod metrics;
pub mod migration;
mod reconciler;
mod settings;
pub mod status;

pub use reconciler::{Control, ControlHandle, Reconciler};
pub use settings::{MassRemovalSettings, RuntimeSettings};
pub use status::Status;

//! FRR engine: makes FRR 8.x's bgpd hold an [`rrd_core::RrConfig`] as one
//! BGP view, applied incrementally over bgpd's vty socket.
//!
//! Where it sits: runtime -> [`FrrEngine`] ([`rrd_core::BgpEngine`]) ->
//! bgpd. bgpd runs alone (no zebra: an RR installs nothing), in a
//! pathspace of its own; the engine can run and supervise it, and adopt
//! it across rrd restarts (`crates/rrd-process`).
//!
//! * [`config`] — `[engine.frr]` settings.
//! * [`render`] — `RrConfig` -> the view's FRR lines (pure), and what FRR
//!   cannot express.
//! * [`view`] — a view's lines, grouped; read back from the running config.
//! * [`delta`] — the vty commands from one view to another (pure).
//! * [`checked`] — the neighbor shapes bgpd's check accepted (pure).
//! * [`readback`] — a view as an `RrConfig` when it is not rrd's.
//! * [`observe`] — bgpd's JSON -> session states (pure).
//! * [`states`] — the frequent look: bgpd's summary merged into the last
//!   full look (pure).
//! * [`originator`] — the ORIGINATOR_ID route maps of client sessions.
//! * [`vty`] — bgpd's vty socket protocol.
//! * [`engine`] — the [`rrd_core::BgpEngine`] implementation.
//! * `daemon` — bgpd's command line and adoption on `rrd-process`'s
//!   `Supervisor`.
//!
//! What FRR does and does not do, as tested: `README.md` of this crate.

pub mod checked;
pub mod config;
mod daemon;
pub mod delta;
pub mod engine;
mod error;
pub mod full_look;
pub mod observe;
pub mod originator;
pub mod readback;
pub mod render;
pub mod states;
pub mod view;
pub mod vty;

pub use config::{ConfigError, FrrConfig};
pub use engine::FrrEngine;
pub use error::FrrError;

//! rrd's BIRD engine: makes a BIRD 2.x daemon, or a BIRD 1.6 pair (`bird` +
//! `bird6`), hold exactly the sessions of an `RrConfig`.
//!
//! Position in source -> runtime -> engine: the runtime hands
//! [`BirdEngine`] the desired `RrConfig`; the engine renders it
//! ([`render()`]), and when the text differs from the live file it stages
//! it, has BIRD load it with `configure` over the control socket
//! ([`socket`]) and only then renames it over the live file; [`observe`] turns `show protocols all` back into
//! session states. With `manage_process` the engine also runs the daemon
//! (`daemon`).
//!
//! * [`config`] — `[engine.bird]` of rrd's TOML configuration.
//! * [`render`] — `RrConfig` -> BIRD 2 / BIRD 1.6 text (pure).
//! * [`socket`] — the control-socket protocol.
//! * [`observe`] — `show protocols all` / `show status` parsers.
//! * `files` — atomic writes, file stamps and the record of the applied
//!   config.
//! * `applied` — what the engine last applied: kept in memory between
//!   applies, recorded on disk off the apply path.
//! * `engine` — [`BirdEngine`], the `rrd_core::BgpEngine` implementation.
//! * `daemon` — BIRD's part of a managed daemon (command line, output,
//!   adoption check) on `rrd-process`'s `Supervisor` (restarts, stop, PID
//!   file, adoption by the next rrd).

mod applied;
pub mod config;
mod daemon;
mod engine;
mod error;
mod files;
pub mod observe;
pub mod render;
pub mod socket;

pub use config::{BirdConfig, BirdVersion, ConfigError};
pub use engine::BirdEngine;
pub use error::BirdError;
pub use render::{render, RenderError, RenderOptions, Rendered};

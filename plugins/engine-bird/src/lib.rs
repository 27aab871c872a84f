//! rrd's BIRD engine: makes a BIRD 2.x daemon, or a BIRD 1.6 pair (`bird` +
//! `bird6`), hold exactly the sessions of an `RrConfig`.
//!
//! Position in source -> runtime -> engine: the runtime hands
//! [`BirdEngine`] the desired `RrConfig`; the engine renders it
//! ([`render`]), and when the text differs from the live file it checks it,
//! replaces the file atomically and sends `configure` over the control
//! socket ([`socket`]); [`observe`] turns `show protocols all` back into
//! session states.

pub mod config;
pub mod observe;
pub mod render;
pub mod socket;

pub use config::{BirdConfig, BirdVersion, ConfigError};
pub use render::{render, RenderError, RenderOptions, Rendered};

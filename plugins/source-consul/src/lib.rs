//! Consul source: calico-v1 keys under a Consul KV prefix (default
//! `calico/bgp/v1`), read and watched with blocking queries.
//!
//! Sits at the start of `source -> runtime -> engine`: [`ConsulSource`]
//! implements [`rrd_core::PeerSource`] over Consul's KV HTTP API and
//! decodes with `rrd_layouts::calico_v1` (the same decoder as the etcd
//! source, so the same keys give the same topology).
//!
//! * a small HTTP client of its own on reqwest + rustls (`client`): agent
//!   list with failover, ACL token in `X-Consul-Token` (from a file or an
//!   environment variable, never logged), datacenter, read mode, TLS with
//!   CA and client certificate;
//! * Consul's blocking-query rules (`blocking`): index resets, index > 0,
//!   spurious wake-ups, a token-bucket rate limit;
//! * the watch loop (`source`): full read, blocking queries at
//!   `X-Consul-Index`, each answer diffed against what was emitted.
//!
//! Feature `testing`: [`testing::FakeConsul`], an in-process HTTP server
//! that follows Consul's KV API (Consul itself cannot be installed where
//! rrd is tested), TLS material and the conformance fixture.

mod blocking;
mod client;
mod config;
mod error;
mod mirror;
mod source;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{Consistency, ConsulConfig, Token, DEFAULT_PREFIX, MAX_WAIT};
pub use error::ConsulError;
pub use source::ConsulSource;

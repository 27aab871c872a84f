//! etcd source: v2 and v3 APIs, calico-v1 keys and Calico v3 resources.
//!
//! Sits at the start of `source -> runtime -> engine`: [`EtcdSource`]
//! implements [`rrd_core::PeerSource`] over either etcd API, decoding with
//! `rrd_layouts` (calico-v1 keys on both APIs, Calico v3 objects on v3).
//! [`EtcdAdmin`] is the library behind the binary's `rr`, `peer`,
//! `node-mesh` and `default-as` commands; [`EtcdConfig::from_routereflector_env`]
//! reads the `calico/routereflector` image's environment (drop-in mode).
//!
//! * v2: our own small HTTP client ([`v2`]): recursive GET, long-poll watch
//!   at `waitIndex`, 401 "EventIndexCleared" -> full re-read + diff.
//! * v3: `etcd-client` ([`v3`]): paged range read at one revision, prefix
//!   watch from `revision + 1`, compaction -> full re-read + diff.
//!
//! Feature `testing`: a real etcd per test ([`testing::EtcdServer`]),
//! generated TLS material and a change-latency probe.

mod admin;
mod config;
mod dropin;
mod error;
mod layout;
mod source;
mod v2;
mod v3;

#[cfg(feature = "testing")]
pub mod testing;

pub use admin::{EtcdAdmin, RrList};
pub use config::{EtcdApi, EtcdConfig, Layout};
pub use dropin::{discover, ApiRequest, DropInEtcd};
pub use error::EtcdError;
pub use rrd_layouts::calico_v1::admin::{ArgumentError, Command};
pub use source::EtcdSource;

//! Test support (feature `testing`): a real etcd per test, TLS material,
//! raw key access on either API, the conformance fixture and a latency
//! probe. Used by this crate's tests and by the end-to-end scenarios.
//!
//! Every etcd gets its own data directory (a tempdir), free loopback
//! client and peer ports and a name carrying the process id; it is stopped
//! by PID when its [`EtcdServer`] is dropped, also when a test panics.

mod fixture;
mod kv;
mod latency;
mod server;
mod tls;
mod v3_objects;

pub use fixture::EtcdFixture;
pub use kv::RawKv;
pub use latency::{measure_change_latency, LatencyStats};
pub use server::EtcdServer;
pub use tls::TlsMaterial;
pub use v3_objects::{expected_for, objects_for};

//! Test support (feature `testing`): [`FakeConsul`], an in-process HTTP
//! server that follows Consul's KV API, TLS material, and the conformance
//! fixture. Used by this crate's tests and by the end-to-end scenarios.
//!
//! Consul cannot be installed where rrd is tested, so the source is tested
//! against this server, not a real Consul: it implements what the source
//! relies on (recursive reads, blocking queries with `X-Consul-Index` and
//! `wait`, 404 for an empty prefix, Consul's headers, ACL tokens, TLS with
//! client certificates, tombstones and snapshot restores that send the
//! index backwards) as Consul's documentation and state store describe it.

mod api;
mod fixture;
mod kv;
mod server;
mod tls;

pub use api::{Acl, RequestRecord};
pub use fixture::ConsulFixture;
pub use kv::{Entry, KvSnapshot};
pub use server::{FakeConsul, DATACENTER};
pub use tls::TlsMaterial;

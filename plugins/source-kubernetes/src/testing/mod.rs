//! Test support (feature `testing`): an in-test Kubernetes API server and
//! the conformance fixture. Kubernetes cannot be installed on the machines
//! rrd is tested on, so [`FakeApiServer`] plays the API server: a real
//! HTTP/1.1 server on 127.0.0.1 (plain or TLS) serving list and watch of
//! Nodes, BGPPeers, BGPConfigurations and Secrets with the real API's
//! resourceVersion, paging, bookmark and 410 Gone semantics. Tests change
//! its data, compact its history and break its connections.
//!
//! Everything a server starts runs as tasks of the test's runtime, aborted
//! when the server is dropped.

mod fixture;
mod objects;
mod server;
mod state;
mod tls;

pub use fixture::{write_kubeconfig, Credentials, KubernetesFixture, CALICO_RESOURCES};
pub use objects::{expected_for, node_object, objects_for, secret_object};
pub use server::FakeApiServer;
pub use state::{ApiState, RecordedRequest, Resource};
pub use tls::TlsMaterial;

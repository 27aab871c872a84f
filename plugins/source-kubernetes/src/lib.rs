//! Kubernetes source: Calico's `crd.projectcalico.org/v1` BGPPeers and
//! BGPConfigurations, core `v1` Nodes (Calico's `projectcalico.org/*`
//! annotations, the Node's labels), and BGP passwords from Secrets.
//!
//! Sits at the start of `source -> runtime -> engine`: [`KubernetesSource`]
//! implements [`rrd_core::PeerSource`]; objects are decoded by
//! `rrd_layouts::calico_v3`, so a topology reads the same from Kubernetes,
//! from etcd (calico-v3 layout) or from a file.
//!
//! * access ([`KubernetesConfig`]): a kubeconfig (file, `$KUBECONFIG`,
//!   `~/.kube/config`) or the pod's service account;
//! * transport: a small client of our own on reqwest + rustls (list pages,
//!   watch streams), not kube-rs: it adds no crate to the build, and the
//!   loop sees every 410 and every bad object itself;
//! * per feed: paged list, watch from exactly the list's resourceVersion
//!   with bookmarks, resume after a dropped connection, re-list + diff on
//!   410 Gone, backoff with jitter; Secrets are watched one by one by name
//!   (`fieldSelector=metadata.name=...`), as Calico does.
//!
//! Feature `testing`: an in-test API server ([`testing::FakeApiServer`])
//! that serves list and watch like the real one, and the conformance
//! fixture. This source is tested against it, not against a real cluster.

mod access;
mod client;
mod config;
mod error;
mod source;
mod store;
mod watcher;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::KubernetesConfig;
pub use error::KubeError;
pub use source::KubernetesSource;

//! Kubernetes source: Calico's BGPPeers and BGPConfigurations (as
//! `crd.projectcalico.org/v1` or native `projectcalico.org/v3` CRDs, found
//! by discovery), core `v1` Nodes (Calico's `projectcalico.org/*`
//! annotations, the Node's labels), and BGP passwords from Secrets.
//!
//! Sits at the start of `source -> runtime -> engine`: [`KubernetesSource`]
//! implements [`rrd_core::PeerSource`]; objects are decoded by
//! `rrd_layouts::calico_v3`, so a topology reads the same from Kubernetes,
//! from etcd (calico-v3 layout) or from a file.
//!
//! * access ([`KubernetesConfig`]): a kubeconfig (file, `$KUBECONFIG`,
//!   `~/.kube/config`) or the pod's service account;
//! * transport: kube's client (every kubeconfig auth kind, proxies,
//!   `tls-server-name`); Calico objects read untyped (`DynamicObject`) so
//!   that a bad one is rejected by kind and name, not a failed watch;
//!   Nodes as k8s-openapi `PartialObjectMeta<Node>`, Secrets typed;
//! * per feed: kube-runtime's watcher (paged list, watch from exactly the
//!   list's resourceVersion with bookmarks, resume after a dropped
//!   connection, re-list on 410 Gone) + a diff of every re-list, backoff
//!   with jitter; Secrets are watched one by one by name
//!   (`fieldSelector=metadata.name=...`), as Calico does.
//!
//! Feature `testing`: an in-test API server ([`testing::FakeApiServer`])
//! that serves list and watch like the real one, and the conformance
//! fixture. This source is tested against it, not against a real cluster.

mod access;
mod api;
mod config;
mod error;
mod feed;
mod source;
mod store;

#[cfg(feature = "testing")]
pub mod testing;

pub use api::CalicoApi;
pub use config::KubernetesConfig;
pub use error::KubeError;
pub use source::KubernetesSource;

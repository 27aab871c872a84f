//! Decoders from datastore layouts into the canonical [`rrd_core::Topology`].
//!
//! Sources own transport (HTTP, gRPC, files); this crate owns meaning: which
//! key or object becomes which node, RR or peer rule. etcd and Consul share
//! [`calico_v1`]; etcd v3 resources, Kubernetes CRDs and the file source's
//! YAML form share [`calico_v3`].

pub mod calico_v1;
pub mod calico_v3;
pub mod limits;

/// Forget `key` among the keys rejected so far (`bad`): the key, named,
/// when it was there (a `SourceEvent::Resolved` to send), else nothing.
pub fn forget_rejected<V>(
    bad: &mut std::collections::BTreeMap<String, V>,
    key: &str,
) -> Vec<String> {
    bad.remove(key)
        .map(|_| key.to_owned())
        .into_iter()
        .collect()
}

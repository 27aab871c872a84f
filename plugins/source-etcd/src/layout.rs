//! The decoded state of the keys the source reads, whatever the layout:
//! calico-v1 keys through [`rrd_layouts::calico_v1::LegacyStore`], Calico v3
//! objects through [`rrd_layouts::calico_v3`]. Transport code feeds keys in
//! and gets [`TopologyChange`]s and rejections out; a complete read is fed
//! page by page into a [`Reread`], so no page outlives its decoding.
//!
//! Each store keeps one decoded copy of what it reads (the topology), not
//! the keys or objects it came from: a Calico v3 object is located again
//! by its key. A calico-v1 store scoped to one RR keeps only what that RR
//! needs ([`LegacyStore::scoped`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use rrd_core::{RuleSet, Topology, TopologyChange};
use rrd_layouts::calico_v1::{self, LegacyStore, Replacement};
use rrd_layouts::calico_v3::{self, Decoded, ResourceKind};

use crate::config::{EtcdConfig, Layout};

/// What one write, delete or re-read did.
#[derive(Debug, Default)]
pub(crate) struct StoreUpdate {
    pub changes: Vec<TopologyChange>,
    /// (full key, reason)
    pub rejected: Vec<(String, String)>,
}

impl StoreUpdate {
    pub fn merge(&mut self, other: StoreUpdate) {
        self.changes.extend(other.changes);
        self.rejected.extend(other.rejected);
    }
}

impl From<calico_v1::Update> for StoreUpdate {
    fn from(u: calico_v1::Update) -> Self {
        StoreUpdate {
            changes: u.changes,
            rejected: u
                .rejected
                .into_iter()
                .map(|r| (r.key, r.reason.to_string()))
                .collect(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum LayoutStore {
    V1(LegacyStore),
    V3(ResourceStore),
}

/// A complete read being fed into a [`LayoutStore`].
#[derive(Debug)]
pub(crate) enum Reread {
    V1(Replacement),
    V3(ResourceStore, Vec<(String, String)>),
}

impl LayoutStore {
    /// An empty store; `scope`: the addresses of the one RR whose data a
    /// calico-v1 store keeps (everything when `None`).
    pub fn new(config: &EtcdConfig, scope: Option<&[IpAddr]>) -> LayoutStore {
        let prefix = config.prefix();
        match (config.layout, scope) {
            (Layout::CalicoV1, None) => LayoutStore::V1(LegacyStore::new(&prefix)),
            (Layout::CalicoV1, Some(own)) => {
                LayoutStore::V1(LegacyStore::scoped(&prefix, own.iter().copied()))
            }
            (Layout::CalicoV3, _) => LayoutStore::V3(ResourceStore::new(&prefix)),
        }
    }

    /// Start a complete read that will replace this store's content.
    pub fn begin(&self) -> Reread {
        match self {
            LayoutStore::V1(s) => Reread::V1(s.begin_replace()),
            LayoutStore::V3(s) => Reread::V3(s.empty_like(), Vec::new()),
        }
    }

    /// One page of the complete read.
    pub fn feed(&self, reread: &mut Reread, kvs: Vec<(Vec<u8>, Vec<u8>)>) {
        match (self, reread) {
            (LayoutStore::V1(s), Reread::V1(r)) => {
                for (k, v) in kvs {
                    s.feed(r, &k, &v);
                }
            }
            (LayoutStore::V3(s), Reread::V3(next, rejected)) => {
                for (k, v) in kvs {
                    s.feed(next, rejected, &k, &v);
                }
            }
            _ => unreachable!("a reread begins from its own store"),
        }
    }

    /// Replace the content with the complete read; the difference.
    pub fn finish(&mut self, reread: Reread) -> StoreUpdate {
        match (self, reread) {
            (LayoutStore::V1(s), Reread::V1(r)) => s.finish_replace(r).into(),
            (LayoutStore::V3(s), Reread::V3(next, rejected)) => {
                let changes = s.topology.diff(&next.topology);
                *s = next;
                StoreUpdate { changes, rejected }
            }
            _ => unreachable!("a reread begins from its own store"),
        }
    }

    /// The key prefixes to read and watch (each ends with `/`).
    pub fn watch_prefixes(config: &EtcdConfig) -> Vec<String> {
        let base = config.prefix();
        let base = base.trim_end_matches('/');
        match config.layout {
            Layout::CalicoV1 => vec![format!("{base}/")],
            Layout::CalicoV3 => [
                ResourceKind::BgpConfiguration,
                ResourceKind::BgpPeer,
                ResourceKind::Node,
            ]
            .into_iter()
            .map(|k| format!("{base}/{}/", k.etcd_dir()))
            .collect(),
        }
    }

    pub fn into_topology(self) -> Topology {
        match self {
            LayoutStore::V1(s) => s.into_topology(),
            LayoutStore::V3(s) => s.topology,
        }
    }

    pub fn snapshot(&self) -> Topology {
        match self {
            LayoutStore::V1(s) => s.snapshot(),
            LayoutStore::V3(s) => s.topology.clone(),
        }
    }

    /// The store a first complete read makes and the keys it refused
    /// (without a difference from nothing).
    pub fn first(reread: Reread) -> (LayoutStore, Vec<(String, String)>) {
        match reread {
            Reread::V1(r) => {
                let (store, rejected) = r.into_store();
                let update: StoreUpdate = calico_v1::Update {
                    changes: Vec::new(),
                    rejected,
                }
                .into();
                (LayoutStore::V1(store), update.rejected)
            }
            Reread::V3(store, rejected) => (LayoutStore::V3(store), rejected),
        }
    }

    pub fn set(&mut self, key: &[u8], value: &[u8]) -> StoreUpdate {
        match self {
            LayoutStore::V1(s) => s.set(key, value).into(),
            LayoutStore::V3(s) => s.set(key, value),
        }
    }

    pub fn delete(&mut self, key: &[u8]) -> StoreUpdate {
        match self {
            LayoutStore::V1(s) => s.delete(key).into(),
            LayoutStore::V3(s) => s.delete(key),
        }
    }

    pub fn delete_tree(&mut self, key: &[u8]) -> StoreUpdate {
        match self {
            LayoutStore::V1(s) => s.delete_tree(key).into(),
            // The v3 API has no directories.
            LayoutStore::V3(s) => s.delete(key),
        }
    }
}

/// Calico v3 objects by etcd key (`<prefix>/<kind dir>/<name>`), decoded
/// into one topology. The key names the kind and the name, so an object is
/// found again in the topology (for a delete, or a bad value in a re-read
/// that keeps the last good one) without a second copy of it.
#[derive(Debug)]
pub(crate) struct ResourceStore {
    prefix: String,
    /// Present keys whose current value is bad, with the reason.
    bad: BTreeMap<String, String>,
    topology: Topology,
}

fn v3_topology() -> Topology {
    Topology {
        rules: RuleSet::CalicoV3,
        ..Topology::default()
    }
}

impl ResourceStore {
    pub fn new(prefix: &str) -> ResourceStore {
        ResourceStore {
            prefix: prefix.trim_end_matches('/').to_owned(),
            bad: BTreeMap::new(),
            topology: v3_topology(),
        }
    }

    fn empty_like(&self) -> ResourceStore {
        ResourceStore::new(&self.prefix)
    }

    /// Kind and name from the key; `Ok(None)` for other kinds of resource.
    fn locate(&self, key: &str) -> Result<Option<(ResourceKind, String)>, String> {
        let rel = key
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| "key is outside the calico-v3 prefix".to_owned())?;
        let Some((dir, name)) = rel.split_once('/') else {
            return Ok(None);
        };
        let kind = [
            ResourceKind::BgpPeer,
            ResourceKind::BgpConfiguration,
            ResourceKind::Node,
        ]
        .into_iter()
        .find(|k| k.etcd_dir() == dir);
        match kind {
            None => Ok(None),
            Some(_) if name.is_empty() || name.contains('/') => {
                Err("key is not <kind>/<name>".to_owned())
            }
            Some(k) => Ok(Some((k, name.to_owned()))),
        }
    }

    /// Decode one object and check it is the one its key names.
    fn decode(&self, key: &str, value: &[u8]) -> Result<Option<Decoded>, String> {
        let Some((kind, name)) = self.locate(key)? else {
            return Ok(None);
        };
        let json: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| format!("value is not JSON: {e}"))?;
        if let Some(k) = json.get("kind").and_then(|k| k.as_str()) {
            if ResourceKind::from_kind(k) != Some(kind) {
                return Err(format!(
                    "kind {k:?} does not belong under {}/",
                    kind.etcd_dir()
                ));
            }
        }
        let meta_name = json
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str());
        if meta_name.is_some_and(|n| n != name) {
            return Err(format!(
                "metadata.name {:?} disagrees with {name:?} in the key",
                meta_name.unwrap_or_default()
            ));
        }
        calico_v3::decode_object(&json)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// What the topology holds for the object at (`kind`, `name`), as the
    /// change that would put it there.
    fn held(&self, kind: ResourceKind, name: &str) -> Option<TopologyChange> {
        let t = &self.topology;
        match kind {
            ResourceKind::Node => t.nodes.get(name).cloned().map(TopologyChange::UpsertNode),
            ResourceKind::BgpPeer => t.peers.get(name).cloned().map(TopologyChange::UpsertPeer),
            ResourceKind::BgpConfiguration => match calico_v3::removal(kind, name) {
                TopologyChange::Defaults(_) => Some(TopologyChange::Defaults(t.defaults.clone())),
                TopologyChange::RemoveNodeConfig(node) => t
                    .node_configs
                    .get(&node)
                    .cloned()
                    .map(|c| TopologyChange::UpsertNodeConfig(node, c)),
                _ => None,
            },
        }
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> StoreUpdate {
        let key = String::from_utf8_lossy(key).into_owned();
        match self.decode(&key, value) {
            Ok(None) => {
                self.bad.remove(&key);
                StoreUpdate::default()
            }
            Ok(Some(decoded)) => {
                self.bad.remove(&key);
                StoreUpdate {
                    changes: self.apply(decoded.into_change()),
                    rejected: Vec::new(),
                }
            }
            Err(reason) => {
                self.bad.insert(key.clone(), reason.clone());
                StoreUpdate {
                    changes: Vec::new(),
                    rejected: vec![(key, reason)],
                }
            }
        }
    }

    fn delete(&mut self, key: &[u8]) -> StoreUpdate {
        let key = String::from_utf8_lossy(key).into_owned();
        self.bad.remove(&key);
        match self.locate(&key) {
            // Removing what the topology does not hold changes nothing.
            Ok(Some((kind, name))) => StoreUpdate {
                changes: self.apply(calico_v3::removal(kind, &name)),
                rejected: Vec::new(),
            },
            _ => StoreUpdate::default(),
        }
    }

    fn apply(&mut self, change: TopologyChange) -> Vec<TopologyChange> {
        if self.topology.apply(change.clone()) {
            vec![change]
        } else {
            Vec::new()
        }
    }

    /// One key of a complete read into `next`, which will replace this
    /// store: a bad value keeps the object this store holds.
    fn feed(
        &self,
        next: &mut ResourceStore,
        rejected: &mut Vec<(String, String)>,
        key: &[u8],
        value: &[u8],
    ) {
        let key = String::from_utf8_lossy(key).into_owned();
        match self.decode(&key, value) {
            Ok(None) => {}
            Ok(Some(d)) => {
                next.topology.apply(d.into_change());
            }
            Err(reason) => {
                if let Ok(Some((kind, name))) = self.locate(&key) {
                    if let Some(old) = self.held(kind, &name) {
                        next.topology.apply(old);
                    }
                }
                if self.bad.get(&key) != Some(&reason) {
                    rejected.push((key.clone(), reason.clone()));
                }
                next.bad.insert(key, reason);
            }
        }
    }
}

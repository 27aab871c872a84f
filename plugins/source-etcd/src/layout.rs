//! The decoded state of the keys the source reads, whatever the layout:
//! calico-v1 keys through [`rrd_layouts::calico_v1::LegacyStore`], Calico v3
//! objects through [`rrd_layouts::calico_v3`]. Transport code feeds keys in
//! and gets [`TopologyChange`]s and rejections out.

use std::collections::BTreeMap;

use rrd_core::{RuleSet, Topology, TopologyChange};
use rrd_layouts::calico_v1::{self, LegacyStore};
use rrd_layouts::calico_v3::{self, Decoded, ResourceKind};

use crate::config::{EtcdConfig, Layout};

/// What one write, delete or re-read did.
#[derive(Debug, Default)]
pub(crate) struct StoreUpdate {
    pub changes: Vec<TopologyChange>,
    /// (full key, reason)
    pub rejected: Vec<(String, String)>,
    /// Keys rejected before that are gone or decode again.
    pub resolved: Vec<String>,
}

impl StoreUpdate {
    pub fn merge(&mut self, other: StoreUpdate) {
        self.changes.extend(other.changes);
        self.rejected.extend(other.rejected);
        self.resolved.extend(other.resolved);
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
            resolved: u.resolved,
        }
    }
}

#[derive(Debug)]
pub(crate) enum LayoutStore {
    V1(LegacyStore),
    V3(ResourceStore),
}

impl LayoutStore {
    pub fn new(config: &EtcdConfig) -> LayoutStore {
        match config.layout {
            Layout::CalicoV1 => LayoutStore::V1(LegacyStore::new(&config.prefix())),
            Layout::CalicoV3 => LayoutStore::V3(ResourceStore::new(&config.prefix())),
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

    pub fn snapshot(&self) -> Topology {
        match self {
            LayoutStore::V1(s) => s.snapshot(),
            LayoutStore::V3(s) => s.topology.clone(),
        }
    }

    pub fn replace_all(&mut self, kvs: Vec<(Vec<u8>, Vec<u8>)>) -> StoreUpdate {
        match self {
            LayoutStore::V1(s) => s.replace_all(kvs).into(),
            LayoutStore::V3(s) => s.replace_all(kvs),
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

/// Calico v3 objects by etcd key (`<prefix>/<kind dir>/<name>`).
#[derive(Debug)]
pub(crate) struct ResourceStore {
    prefix: String,
    /// Last good decoding of every present key.
    objects: BTreeMap<String, Decoded>,
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
            objects: BTreeMap::new(),
            bad: BTreeMap::new(),
            topology: v3_topology(),
        }
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

    fn set(&mut self, key: &[u8], value: &[u8]) -> StoreUpdate {
        let key = String::from_utf8_lossy(key).into_owned();
        match self.decode(&key, value) {
            Ok(None) => StoreUpdate {
                resolved: self.forget_bad(&key),
                ..StoreUpdate::default()
            },
            Ok(Some(decoded)) => {
                let resolved = self.forget_bad(&key);
                let change = decoded.clone().into_change();
                self.objects.insert(key, decoded);
                StoreUpdate {
                    changes: self.apply(change),
                    rejected: Vec::new(),
                    resolved,
                }
            }
            Err(reason) => {
                self.bad.insert(key.clone(), reason.clone());
                StoreUpdate {
                    changes: Vec::new(),
                    rejected: vec![(key, reason)],
                    resolved: Vec::new(),
                }
            }
        }
    }

    fn delete(&mut self, key: &[u8]) -> StoreUpdate {
        let key = String::from_utf8_lossy(key).into_owned();
        let resolved = self.forget_bad(&key);
        let located = self.locate(&key);
        match (self.objects.remove(&key), located) {
            (Some(_), Ok(Some((kind, name)))) => StoreUpdate {
                changes: self.apply(calico_v3::removal(kind, &name)),
                rejected: Vec::new(),
                resolved,
            },
            _ => StoreUpdate {
                resolved,
                ..StoreUpdate::default()
            },
        }
    }

    /// `key` is no longer bad: named if it was.
    fn forget_bad(&mut self, key: &str) -> Vec<String> {
        rrd_layouts::forget_rejected(&mut self.bad, key)
    }

    fn apply(&mut self, change: TopologyChange) -> Vec<TopologyChange> {
        if self.topology.apply(change.clone()) {
            vec![change]
        } else {
            Vec::new()
        }
    }

    fn replace_all(&mut self, kvs: Vec<(Vec<u8>, Vec<u8>)>) -> StoreUpdate {
        let mut objects = BTreeMap::new();
        let mut bad = BTreeMap::new();
        let mut rejected = Vec::new();
        for (k, v) in kvs {
            let key = String::from_utf8_lossy(&k).into_owned();
            match self.decode(&key, &v) {
                Ok(None) => {}
                Ok(Some(d)) => {
                    objects.insert(key, d);
                }
                Err(reason) => {
                    if let Some(old) = self.objects.get(&key) {
                        objects.insert(key.clone(), old.clone());
                    }
                    if self.bad.get(&key) != Some(&reason) {
                        rejected.push((key.clone(), reason.clone()));
                    }
                    bad.insert(key, reason);
                }
            }
        }
        let mut next = v3_topology();
        for d in objects.values() {
            next.apply(d.clone().into_change());
        }
        let changes = self.topology.diff(&next);
        let resolved = self
            .bad
            .keys()
            .filter(|k| !bad.contains_key(*k))
            .cloned()
            .collect();
        self.objects = objects;
        self.bad = bad;
        self.topology = next;
        StoreUpdate {
            changes,
            rejected,
            resolved,
        }
    }
}

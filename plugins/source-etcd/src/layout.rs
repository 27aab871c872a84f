//! The decoded state of the keys the source reads, whatever the layout:
//! calico-v1 keys through [`rrd_layouts::calico_v1::LegacyStore`], Calico v3
//! objects through [`rrd_layouts::calico_v3`]. Transport code feeds keys in
//! and gets [`TopologyChange`]s and rejections out; a complete read is fed
//! page by page into a [`Reread`], so no page outlives its decoding.
//!
//! What a store keeps is what it needs to turn the next event into changes:
//! a calico-v1 store its decoded keys (only this RR's when scoped, see
//! [`LegacyStore::scoped`]); a Calico v3 store a 64-bit digest of each
//! object's decoding, by key (the key names kind and name, so a delete
//! needs nothing more, and an unchanged object is told by its digest). The
//! topology itself is built once, for the snapshot, and handed over.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::hash::{DefaultHasher, Hasher};
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
    V1(Box<LegacyStore>),
    V3(ResourceStore),
}

/// A complete read being fed into a [`LayoutStore`].
#[derive(Debug)]
pub(crate) enum Reread {
    V1(Box<Replacement>),
    V3(ResourceReread),
}

impl LayoutStore {
    /// An empty store; `scope`: the addresses of the one RR whose data a
    /// calico-v1 store keeps (everything when `None`).
    pub fn new(config: &EtcdConfig, scope: Option<&[IpAddr]>) -> LayoutStore {
        let prefix = config.prefix();
        match (config.layout, scope) {
            (Layout::CalicoV1, None) => LayoutStore::V1(Box::new(LegacyStore::new(&prefix))),
            (Layout::CalicoV1, Some(own)) => {
                LayoutStore::V1(Box::new(LegacyStore::scoped(&prefix, own.iter().copied())))
            }
            (Layout::CalicoV3, _) => LayoutStore::V3(ResourceStore::new(&prefix)),
        }
    }

    /// Start a complete read that will replace this store's content.
    pub fn begin(&self) -> Reread {
        match self {
            LayoutStore::V1(s) => Reread::V1(Box::new(s.begin_replace())),
            LayoutStore::V3(s) => Reread::V3(ResourceReread {
                next: ResourceStore::new(&s.prefix),
                found: if s.digests.is_empty() {
                    Found::Topology(Box::new(v3_topology()))
                } else {
                    Found::Changes(Vec::new())
                },
                rejected: Vec::new(),
            }),
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
            (LayoutStore::V3(s), Reread::V3(r)) => {
                for (k, v) in kvs {
                    s.feed(r, &k, &v);
                }
            }
            _ => unreachable!("a reread begins from its own store"),
        }
    }

    /// Replace the content with the complete read; the difference.
    pub fn finish(&mut self, reread: Reread) -> StoreUpdate {
        match (self, reread) {
            (LayoutStore::V1(s), Reread::V1(r)) => s.finish_replace(*r).into(),
            (LayoutStore::V3(s), Reread::V3(r)) => s.finish(r),
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

    /// The store a first complete read makes, the topology it holds
    /// (for the snapshot) and the keys it refused.
    pub fn first(reread: Reread) -> (LayoutStore, Topology, Vec<(String, String)>) {
        match reread {
            Reread::V1(r) => {
                let (store, rejected) = r.into_store();
                let update: StoreUpdate = calico_v1::Update {
                    changes: Vec::new(),
                    rejected,
                    resolved: Vec::new(),
                }
                .into();
                let topology = store.snapshot();
                (LayoutStore::V1(Box::new(store)), topology, update.rejected)
            }
            Reread::V3(r) => {
                let topology = match r.found {
                    Found::Topology(t) => *t,
                    // Only a store that held nothing begins a first read.
                    Found::Changes(changes) => {
                        let mut t = v3_topology();
                        for c in changes {
                            t.apply(c);
                        }
                        t
                    }
                };
                (LayoutStore::V3(r.next), topology, r.rejected)
            }
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

/// Calico v3 objects by etcd key (`<prefix>/<kind dir>/<name>`): the
/// digest of each one's last good decoding. The key names the kind and the
/// name, so a delete is decoded from the key alone.
#[derive(Debug)]
pub(crate) struct ResourceStore {
    prefix: String,
    /// Digest of the last good decoding of every present key.
    digests: BTreeMap<String, u64>,
    /// Present keys whose current value is bad, with the reason.
    bad: BTreeMap<String, String>,
}

/// A complete read being fed into a [`ResourceStore`]: the store it makes
/// and what it found.
#[derive(Debug)]
pub(crate) struct ResourceReread {
    next: ResourceStore,
    found: Found,
    rejected: Vec<(String, String)>,
}

/// What a complete read found that its store did not hold.
#[derive(Debug)]
enum Found {
    /// The changes from a store that held something.
    Changes(Vec<TopologyChange>),
    /// From an empty store (the first read) every object is a change: they
    /// go straight into the topology, never into a list of 100,000 changes
    /// beside it (at 100,000 nodes that list and its growth were 28 MB of
    /// the read's peak).
    Topology(Box<Topology>),
}

impl Found {
    fn add(&mut self, change: TopologyChange) {
        match self {
            Found::Changes(changes) => changes.push(change),
            Found::Topology(t) => {
                t.apply(change);
            }
        }
    }

    fn into_changes(self) -> Vec<TopologyChange> {
        match self {
            Found::Changes(changes) => changes,
            Found::Topology(t) => v3_topology().diff(&t),
        }
    }
}

fn v3_topology() -> Topology {
    Topology {
        rules: RuleSet::CalicoV3,
        ..Topology::default()
    }
}

/// Feeds formatted text into a hasher.
struct HashWriter<'h>(&'h mut DefaultHasher);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// A digest of what an object means (its decoding, not its text: a change
/// to a field rrd does not read changes nothing).
fn digest(decoded: &Decoded) -> u64 {
    let mut hasher = DefaultHasher::new();
    let _ = write!(HashWriter(&mut hasher), "{decoded:?}");
    hasher.finish()
}

impl ResourceStore {
    pub fn new(prefix: &str) -> ResourceStore {
        ResourceStore {
            prefix: prefix.trim_end_matches('/').to_owned(),
            digests: BTreeMap::new(),
            bad: BTreeMap::new(),
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
                let d = digest(&decoded);
                let changes = if self.digests.insert(key, d) == Some(d) {
                    Vec::new()
                } else {
                    vec![decoded.into_change()]
                };
                StoreUpdate {
                    changes,
                    rejected: Vec::new(),
                    resolved,
                }
            }
            // The key keeps its last good decoding, if it had one.
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
        let changes = match (self.digests.remove(&key), self.locate(&key)) {
            (Some(_), Ok(Some((kind, name)))) => vec![calico_v3::removal(kind, &name)],
            _ => Vec::new(),
        };
        StoreUpdate {
            changes,
            rejected: Vec::new(),
            resolved,
        }
    }

    /// `key` is no longer bad: named if it was.
    fn forget_bad(&mut self, key: &str) -> Vec<String> {
        rrd_layouts::forget_rejected(&mut self.bad, key)
    }

    /// One key of a complete read: a bad value keeps the last good
    /// decoding, a good one is a change when its digest differs.
    fn feed(&self, r: &mut ResourceReread, key: &[u8], value: &[u8]) {
        let key = String::from_utf8_lossy(key).into_owned();
        match self.decode(&key, value) {
            Ok(None) => {}
            Ok(Some(decoded)) => {
                let d = digest(&decoded);
                if self.digests.get(&key) != Some(&d) {
                    r.found.add(decoded.into_change());
                }
                r.next.digests.insert(key, d);
            }
            Err(reason) => {
                if let Some(old) = self.digests.get(&key) {
                    r.next.digests.insert(key.clone(), *old);
                }
                if self.bad.get(&key) != Some(&reason) {
                    r.rejected.push((key.clone(), reason.clone()));
                }
                r.next.bad.insert(key, reason);
            }
        }
    }

    /// Replace this store with a complete read; the changes (objects gone
    /// since are removed).
    fn finish(&mut self, r: ResourceReread) -> StoreUpdate {
        let mut changes = r.found.into_changes();
        for key in self.digests.keys() {
            if r.next.digests.contains_key(key) {
                continue;
            }
            if let Ok(Some((kind, name))) = self.locate(key) {
                changes.push(calico_v3::removal(kind, &name));
            }
        }
        let resolved = self
            .bad
            .keys()
            .filter(|k| !r.next.bad.contains_key(*k))
            .cloned()
            .collect();
        *self = r.next;
        StoreUpdate {
            changes,
            rejected: r.rejected,
            resolved,
        }
    }
}

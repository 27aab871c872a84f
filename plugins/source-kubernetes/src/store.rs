//! The decoded state of every object the source watches, and the topology
//! it makes. Feeds (lists, watch events) go in; [`TopologyChange`]s and
//! rejections come out.
//!
//! Calico objects are decoded by `rrd_layouts::calico_v3` (the same decoder
//! as the etcd calico-v3 layout). A bad object is rejected with its kind
//! and name, and its last good version stays in force. Secret values are
//! kept only for the (name, key) pairs a BGPPeer or the default
//! BGPConfiguration references, as [`Secret`]s, which never print.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use rrd_core::{RuleSet, Secret, SecretRef, Topology, TopologyChange};
use rrd_layouts::calico_v3::{self, Decoded, ResourceKind};
use serde_json::Value;

use crate::api::{CalicoApi, Feed};

/// One object of a feed, decoded.
#[derive(Debug)]
pub(crate) enum Item {
    Calico {
        kind: ResourceKind,
        name: String,
        /// `Err((key, reason))`: the object is unusable.
        decoded: Result<Decoded, (String, String)>,
    },
    Secret {
        name: String,
        data: BTreeMap<String, Secret>,
        /// Keys whose value is not base64 of UTF-8 text, with the reason.
        bad: Vec<(String, String)>,
    },
    /// An object without `metadata.name`: nothing can track it.
    Unnamed { key: String, reason: String },
}

/// Set the feed's `apiVersion`/`kind` (list items of core resources carry
/// neither) and decode.
pub(crate) fn decode_item(feed: &Feed, api: CalicoApi, mut object: Value) -> Item {
    let (api_version, kind) = feed.api_version_and_kind(api);
    if let Some(o) = object.as_object_mut() {
        o.insert("apiVersion".into(), Value::from(api_version));
        o.insert("kind".into(), Value::from(kind));
    }
    let name = object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let Some(name) = name else {
        return Item::Unnamed {
            key: format!("{kind} without a name"),
            reason: "metadata.name: missing or empty".into(),
        };
    };
    match feed {
        Feed::Calico(kind) => Item::Calico {
            kind: *kind,
            decoded: calico_v3::decode_object(&object).map_err(|e| {
                let reason = match &e.field {
                    Some(f) => format!("{f}: {}", e.message),
                    None => e.message.clone(),
                };
                (e.object, reason)
            }),
            name,
        },
        Feed::Secret { .. } => {
            let mut data = BTreeMap::new();
            let mut bad = Vec::new();
            let fields = object.get("data").and_then(Value::as_object);
            for (key, value) in fields.into_iter().flatten() {
                let text = value
                    .as_str()
                    .ok_or_else(|| "not a string".to_owned())
                    .and_then(|b64| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .map_err(|e| format!("not base64: {e}"))
                    })
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
                    });
                match text {
                    Ok(t) => {
                        data.insert(key.clone(), Secret::new(t));
                    }
                    Err(reason) => bad.push((key.clone(), format!("data.{key}: {reason}"))),
                }
            }
            Item::Secret { name, data, bad }
        }
    }
}

/// What one list, event or removal did.
#[derive(Debug, Default)]
pub(crate) struct Update {
    pub changes: Vec<TopologyChange>,
    /// (object, reason)
    pub rejected: Vec<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct Store {
    namespace: String,
    /// Last good decoding of every present Calico object.
    objects: BTreeMap<(ResourceKind, String), Decoded>,
    /// Present Calico objects whose current version is bad, with the reason.
    bad: BTreeMap<(ResourceKind, String), String>,
    /// Data of the watched Secrets that exist, by name.
    secrets: BTreeMap<String, BTreeMap<String, Secret>>,
    /// Bad keys of watched Secrets, to report each problem once.
    bad_secret_keys: BTreeMap<String, Vec<(String, String)>>,
    topology: Topology,
}

impl Store {
    pub fn new(secrets_namespace: &str) -> Store {
        Store {
            namespace: secrets_namespace.to_owned(),
            objects: BTreeMap::new(),
            bad: BTreeMap::new(),
            secrets: BTreeMap::new(),
            bad_secret_keys: BTreeMap::new(),
            topology: Topology {
                rules: RuleSet::CalicoV3,
                ..Topology::default()
            },
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    fn apply(&mut self, change: TopologyChange, out: &mut Update) {
        if self.topology.apply(change.clone()) {
            out.changes.push(change);
        }
    }

    /// A complete list of one feed: replaces everything known of it.
    pub fn replace(&mut self, feed: &Feed, items: Vec<Item>) -> Update {
        let mut out = Update::default();
        match feed {
            Feed::Calico(kind) => {
                let mut seen = BTreeSet::new();
                for item in items {
                    if let Item::Calico { name, .. } = &item {
                        seen.insert(name.clone());
                    }
                    self.upsert_into(item, &mut out);
                }
                let gone: Vec<String> = self
                    .objects
                    .keys()
                    .chain(self.bad.keys())
                    .filter(|(k, n)| k == kind && !seen.contains(n))
                    .map(|(_, n)| n.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                for name in gone {
                    self.remove_into(*kind, &name, &mut out);
                }
            }
            Feed::Secret { name, .. } => {
                let mut found = false;
                for item in items {
                    found |= matches!(&item, Item::Secret { name: n, .. } if n == name);
                    self.upsert_into(item, &mut out);
                }
                if !found {
                    self.remove_secret(name);
                }
            }
        }
        self.sync_secrets(&mut out);
        out
    }

    /// ADDED or MODIFIED.
    pub fn upsert(&mut self, item: Item) -> Update {
        let mut out = Update::default();
        self.upsert_into(item, &mut out);
        self.sync_secrets(&mut out);
        out
    }

    /// DELETED.
    pub fn delete(&mut self, item: Item) -> Update {
        let mut out = Update::default();
        match item {
            Item::Calico { kind, name, .. } => self.remove_into(kind, &name, &mut out),
            Item::Secret { name, .. } => self.remove_secret(&name),
            Item::Unnamed { .. } => {}
        }
        self.sync_secrets(&mut out);
        out
    }

    /// A Secret no longer referenced: its values are dropped.
    pub fn forget_secret(&mut self, name: &str) -> Update {
        let mut out = Update::default();
        self.remove_secret(name);
        self.sync_secrets(&mut out);
        out
    }

    fn upsert_into(&mut self, item: Item, out: &mut Update) {
        match item {
            Item::Calico {
                kind,
                name,
                decoded: Ok(decoded),
            } => {
                let key = (kind, name);
                self.bad.remove(&key);
                let change = decoded.clone().into_change();
                self.objects.insert(key, decoded);
                self.apply(change, out);
            }
            Item::Calico {
                kind,
                name,
                decoded: Err((object, reason)),
            } => {
                // The last good version (if any) stays in force.
                let previous = self.bad.insert((kind, name), reason.clone());
                if previous.as_ref() != Some(&reason) {
                    out.rejected.push((object, reason));
                }
            }
            Item::Secret { name, data, bad } => {
                let before = self.bad_secret_keys.get(&name).cloned().unwrap_or_default();
                for (key, reason) in &bad {
                    if !before.contains(&(key.clone(), reason.clone())) {
                        out.rejected
                            .push((format!("Secret {}/{name}", self.namespace), reason.clone()));
                    }
                }
                if bad.is_empty() {
                    self.bad_secret_keys.remove(&name);
                } else {
                    self.bad_secret_keys.insert(name.clone(), bad);
                }
                self.secrets.insert(name, data);
            }
            Item::Unnamed { key, reason } => out.rejected.push((key, reason)),
        }
    }

    fn remove_into(&mut self, kind: ResourceKind, name: &str, out: &mut Update) {
        let key = (kind, name.to_owned());
        self.bad.remove(&key);
        if self.objects.remove(&key).is_some() {
            self.apply(calico_v3::removal(kind, name), out);
        }
    }

    fn remove_secret(&mut self, name: &str) {
        self.secrets.remove(name);
        self.bad_secret_keys.remove(name);
    }

    /// Every Secret reference the topology holds.
    fn secret_refs(&self) -> BTreeSet<SecretRef> {
        let t = &self.topology;
        t.peers
            .values()
            .filter_map(|p| p.password.clone())
            .chain(t.defaults.node_mesh_password.clone())
            .collect()
    }

    /// Names of the Secrets the topology references.
    pub fn referenced_secrets(&self) -> BTreeSet<String> {
        self.secret_refs().into_iter().map(|r| r.name).collect()
    }

    /// Bring `topology.secrets` in line with the references and the data.
    fn sync_secrets(&mut self, out: &mut Update) {
        let want: BTreeMap<SecretRef, Secret> = self
            .secret_refs()
            .into_iter()
            .filter_map(|r| {
                let value = self.secrets.get(&r.name)?.get(&r.key)?.clone();
                Some((r, value))
            })
            .collect();
        let stale: Vec<SecretRef> = self
            .topology
            .secrets
            .keys()
            .filter(|r| !want.contains_key(*r))
            .cloned()
            .collect();
        for r in stale {
            self.apply(TopologyChange::RemoveSecret(r), out);
        }
        for (r, v) in want {
            self.apply(TopologyChange::UpsertSecret(r, v), out);
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

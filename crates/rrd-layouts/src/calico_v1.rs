//! calico-v1 keys (`/calico/bgp/v1/...`) -> topology. Shared by the etcd
//! (v2 and v3 API) and Consul sources; knows nothing about transport.
//!
//! A source feeds every key/value it reads into a [`LegacyStore`] and every
//! watch event into [`LegacyStore::set`] / [`LegacyStore::delete`]; the
//! store answers with the [`TopologyChange`]s that follow, re-decoding only
//! the entity the key belongs to (a host's keys make one [`Node`]; peer
//! records become [`PeerRule::legacy_global`] / [`PeerRule::legacy_node`]
//! rules, so every source yields identical topologies).
//!
//! A bad value never takes down the rest: it becomes a [`Rejected`] naming
//! the full key, is counted, and the key keeps its last good value (or
//! contributes nothing if it never had one). [`admin`] holds the writes the
//! `rrd rr` / `rrd peer` commands make, in the exact form calicoctl used.

pub mod admin;
pub mod encode;
mod keys;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use rrd_core::{
    model::ParseIdError, Defaults, Family, Node, PeerRule, RouteReflector, RuleSet, Topology,
    TopologyChange,
};

use keys::Entity;
pub use keys::{classify, KeyClass, LegacyKey};
use values::{decode, Value};

/// Where calicoctl and the routereflector image keep BGP data in etcd.
pub const DEFAULT_PREFIX: &str = "/calico/bgp/v1";

/// Why one key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("key is outside the calico-v1 layout")]
    OutsideLayout,
    #[error("address {segment:?} in the key is {detail}")]
    BadKeyAddress { segment: String, detail: String },
    #[error("key or value is not UTF-8")]
    NotUtf8,
    #[error("value is not the expected JSON: {0}")]
    InvalidJson(String),
    #[error("{field}: {value:?} is not an {family} address")]
    BadAddress {
        field: &'static str,
        value: String,
        family: Family,
    },
    #[error("ip {value_ip:?} in the value disagrees with {key_ip} in the key")]
    AddressMismatch { key_ip: IpAddr, value_ip: String },
    #[error("{field}: {source}")]
    BadId {
        field: &'static str,
        #[source]
        source: ParseIdError,
    },
}

/// One refused key, named in full (prefix included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub key: String,
    pub reason: RejectReason,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// What one write, delete or re-read did to the topology.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Changes to apply, in order; empty when nothing differed.
    pub changes: Vec<TopologyChange>,
    /// Keys refused by this operation.
    pub rejected: Vec<Rejected>,
    /// Keys refused before that are gone or decode again.
    pub resolved: Vec<String>,
}

/// The decoded calico-v1 keyspace below one prefix, and the topology it
/// makes.
#[derive(Clone, Debug)]
pub struct LegacyStore {
    /// Without a trailing slash (`/calico/bgp/v1`, Consul `calico/bgp/v1`).
    prefix: String,
    /// Last good value of every present key.
    good: BTreeMap<LegacyKey, Value>,
    /// Present keys whose current value is bad, by full key.
    bad: BTreeMap<String, RejectReason>,
    rejected_total: u64,
    topology: Topology,
}

impl LegacyStore {
    /// An empty store for keys below `prefix` (a trailing `/` is ignored).
    pub fn new(prefix: &str) -> Self {
        LegacyStore {
            prefix: prefix.trim_end_matches('/').to_owned(),
            good: BTreeMap::new(),
            bad: BTreeMap::new(),
            rejected_total: 0,
            topology: legacy_topology(),
        }
    }

    /// A store holding exactly `kvs` (a complete read of the prefix).
    pub fn from_kvs<K, V>(
        prefix: &str,
        kvs: impl IntoIterator<Item = (K, V)>,
    ) -> (Self, Vec<Rejected>)
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut store = LegacyStore::new(prefix);
        let update = store.replace_all(kvs);
        (store, update.rejected)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topology the keys make (rules = [`RuleSet::Legacy`]).
    pub fn snapshot(&self) -> Topology {
        self.topology.clone()
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// How many rejections this store has reported since it was made.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_total
    }

    /// Keys present now whose value is bad, with the reason.
    pub fn bad_keys(&self) -> impl Iterator<Item = (&str, &RejectReason)> {
        self.bad.iter().map(|(k, r)| (k.as_str(), r))
    }

    /// A key was created or changed.
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Update {
        let (key, value) = match utf8_pair(key.as_ref(), value.as_ref()) {
            Ok(kv) => kv,
            Err(rejected) => return self.rejected(rejected),
        };
        match self.classify_full(key) {
            Err(reason) => self.reject(key, reason),
            Ok(KeyClass::Ignored) => Update {
                resolved: self.forget_bad(key),
                ..Update::default()
            },
            Ok(KeyClass::Known(k)) => match decode(&k, value) {
                Ok(v) => {
                    let resolved = self.forget_bad(key);
                    let entity = k.entity();
                    self.good.insert(k, v);
                    Update {
                        changes: self.refresh(&entity).into_iter().collect(),
                        rejected: Vec::new(),
                        resolved,
                    }
                }
                // The key keeps its last good value, if it had one.
                Err(reason) => self.reject(key, reason),
            },
        }
    }

    /// One key was deleted (or expired).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Update {
        let key = String::from_utf8_lossy(key.as_ref()).into_owned();
        let resolved = self.forget_bad(&key);
        match self.classify_full(&key) {
            Ok(KeyClass::Known(k)) => {
                let entity = k.entity();
                self.good.remove(&k);
                Update {
                    changes: self.refresh(&entity).into_iter().collect(),
                    rejected: Vec::new(),
                    resolved,
                }
            }
            _ => Update {
                resolved,
                ..Update::default()
            },
        }
    }

    /// `key` is no longer bad: named if it was.
    fn forget_bad(&mut self, key: &str) -> Vec<String> {
        crate::forget_rejected(&mut self.bad, key)
    }

    /// A directory and everything below it was deleted (etcd v2 recursive
    /// delete or directory expiry, Consul `?recurse` delete). The prefix
    /// itself deletes everything.
    pub fn delete_tree(&mut self, dir: impl AsRef<[u8]>) -> Update {
        let dir = String::from_utf8_lossy(dir.as_ref())
            .trim_end_matches('/')
            .to_owned();
        let below = format!("{dir}/");
        let mut resolved = Vec::new();
        self.bad.retain(|k, _| {
            let keep = *k != dir && !k.starts_with(&below);
            if !keep {
                resolved.push(k.clone());
            }
            keep
        });
        let Some(rel) = self.relative(&dir).map(str::to_owned) else {
            // The directory holds the prefix (or is unrelated): all or nothing.
            if self.prefix.starts_with(&below) || self.prefix == dir {
                let mut update = self.replace_all(std::iter::empty::<(&str, &str)>());
                update.resolved.extend(resolved);
                return update;
            }
            return Update {
                resolved,
                ..Update::default()
            };
        };
        let rel_below = format!("{rel}/");
        let doomed: Vec<LegacyKey> = self
            .good
            .keys()
            .filter(|k| {
                let p = k.path();
                p == rel || p.starts_with(&rel_below)
            })
            .cloned()
            .collect();
        let entities: BTreeSet<Entity> = doomed.iter().map(LegacyKey::entity).collect();
        for k in &doomed {
            self.good.remove(k);
        }
        Update {
            changes: entities.iter().filter_map(|e| self.refresh(e)).collect(),
            rejected: Vec::new(),
            resolved,
        }
    }

    /// Replace everything with a complete re-read (after lost watch history
    /// or a reconnect) and return the difference. A key that is bad in the
    /// re-read but had a good value before keeps that value, exactly as it
    /// would have on a watch event; a key that was already rejected for the
    /// same reason is not reported again.
    pub fn replace_all<K, V>(&mut self, kvs: impl IntoIterator<Item = (K, V)>) -> Update
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut next = LegacyStore::new(&self.prefix);
        next.rejected_total = self.rejected_total;
        let mut rejected = Vec::new();
        for (k, v) in kvs {
            let (key, value) = match utf8_pair(k.as_ref(), v.as_ref()) {
                Ok(kv) => kv,
                Err(r) => {
                    rejected.push(r);
                    continue;
                }
            };
            let reason = match next.classify_full(key) {
                Err(reason) => reason,
                Ok(KeyClass::Ignored) => continue,
                Ok(KeyClass::Known(lk)) => match decode(&lk, value) {
                    Ok(v) => {
                        next.good.insert(lk, v);
                        continue;
                    }
                    Err(reason) => {
                        if let Some(old) = self.good.get(&lk) {
                            next.good.insert(lk, old.clone());
                        }
                        reason
                    }
                },
            };
            next.bad.insert(key.to_owned(), reason.clone());
            // A key already reported for the same reason is not reported
            // (or counted) again on every re-read.
            if self.bad.get(key) != Some(&reason) {
                rejected.push(Rejected {
                    key: key.to_owned(),
                    reason,
                });
            }
        }
        let entities: BTreeSet<Entity> = next.good.keys().map(LegacyKey::entity).collect();
        for e in &entities {
            next.refresh(e);
        }
        next.rejected_total += rejected.len() as u64;
        let changes = self.topology.diff(&next.topology);
        let resolved = self
            .bad
            .keys()
            .filter(|k| !next.bad.contains_key(*k))
            .cloned()
            .collect();
        *self = next;
        Update {
            changes,
            rejected,
            resolved,
        }
    }

    fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.prefix.is_empty() {
            return Some(key.trim_start_matches('/'));
        }
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }

    fn classify_full(&self, key: &str) -> Result<KeyClass, RejectReason> {
        let rel = self.relative(key).ok_or(RejectReason::OutsideLayout)?;
        classify(rel)
    }

    fn reject(&mut self, key: &str, reason: RejectReason) -> Update {
        self.bad.insert(key.to_owned(), reason.clone());
        self.rejected(Rejected {
            key: key.to_owned(),
            reason,
        })
    }

    fn rejected(&mut self, rejected: Rejected) -> Update {
        self.rejected_total += 1;
        Update {
            changes: Vec::new(),
            rejected: vec![rejected],
            resolved: Vec::new(),
        }
    }

    /// Re-derive one entity from the good values and apply it; the change,
    /// if anything differed.
    fn refresh(&mut self, entity: &Entity) -> Option<TopologyChange> {
        let change = match entity {
            Entity::Defaults => {
                let mut d = Defaults::default();
                if let Some(Value::Asn(a)) = self.good.get(&LegacyKey::DefaultAsn) {
                    d.asn = Some(*a);
                }
                if let Some(Value::NodeMesh(on)) = self.good.get(&LegacyKey::NodeMesh) {
                    d.node_mesh = *on;
                }
                TopologyChange::Defaults(d)
            }
            Entity::Host(name) => {
                let v4 = self.good.get(&LegacyKey::HostIpv4(name.clone()));
                let v6 = self.good.get(&LegacyKey::HostIpv6(name.clone()));
                let asn = self.good.get(&LegacyKey::HostAsn(name.clone()));
                if v4.is_none() && v6.is_none() && asn.is_none() {
                    TopologyChange::RemoveNode(name.clone())
                } else {
                    let mut n = Node::new(name.clone());
                    if let Some(Value::Ipv4(a)) = v4 {
                        n.ipv4 = *a;
                    }
                    if let Some(Value::Ipv6(a)) = v6 {
                        n.ipv6 = *a;
                    }
                    if let Some(Value::Asn(a)) = asn {
                        n.asn = Some(*a);
                    }
                    TopologyChange::UpsertNode(n)
                }
            }
            Entity::GlobalPeer(ip) => match self.good.get(&LegacyKey::GlobalPeer(*ip)) {
                Some(Value::Peer(asn)) => {
                    TopologyChange::UpsertPeer(PeerRule::legacy_global(*ip, *asn))
                }
                _ => TopologyChange::RemovePeer(PeerRule::legacy_global(*ip, None).name),
            },
            Entity::HostPeer(node, ip) => {
                match self.good.get(&LegacyKey::HostPeer(node.clone(), *ip)) {
                    Some(Value::Peer(asn)) => {
                        TopologyChange::UpsertPeer(PeerRule::legacy_node(node, *ip, *asn))
                    }
                    _ => TopologyChange::RemovePeer(PeerRule::legacy_node(node, *ip, None).name),
                }
            }
            Entity::RouteReflector(ip) => match self.good.get(&LegacyKey::RouteReflector(*ip)) {
                Some(Value::RouteReflector(cluster_id)) => {
                    TopologyChange::UpsertRouteReflector(RouteReflector {
                        ip: *ip,
                        cluster_id: *cluster_id,
                        asn: None,
                    })
                }
                _ => TopologyChange::RemoveRouteReflector(*ip),
            },
        };
        self.topology.apply(change.clone()).then_some(change)
    }
}

fn legacy_topology() -> Topology {
    Topology {
        rules: RuleSet::Legacy,
        ..Topology::default()
    }
}

fn utf8_pair<'a>(key: &'a [u8], value: &'a [u8]) -> Result<(&'a str, &'a str), Rejected> {
    match (std::str::from_utf8(key), std::str::from_utf8(value)) {
        (Ok(k), Ok(v)) => Ok((k, v)),
        _ => Err(Rejected {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: RejectReason::NotUtf8,
        }),
    }
}

#[cfg(test)]
mod tests;

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
//! A store made with [`LegacyStore::scoped`] keeps only what one route
//! reflector needs: peer records naming one of its addresses, and the
//! address keys of every host (small), but it puts a host into the topology
//! only while the host is that RR's client (a peer record names the host,
//! or a global record exists). Everything the legacy rules compute for that
//! RR is the same as from the whole fabric; at 100,000 nodes in rack pairs
//! it keeps 1% of the peer records and 2% of the nodes.
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
    /// `Some`: the addresses of the one RR this store keeps data for.
    scope: Option<Vec<IpAddr>>,
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
            scope: None,
        }
    }

    /// An empty store for the RR at `own` addresses only: peer records
    /// naming other RRs are checked (a bad one is still rejected) but not
    /// kept, and a host enters the topology only while it is this RR's
    /// client. What [`rrd_core::compute`] makes of the topology for this
    /// RR is what it makes of the whole fabric's.
    pub fn scoped(prefix: &str, own: impl IntoIterator<Item = IpAddr>) -> Self {
        LegacyStore {
            scope: Some(own.into_iter().collect()),
            ..LegacyStore::new(prefix)
        }
    }

    /// An empty store with this one's prefix and scope.
    fn empty_like(&self) -> Self {
        LegacyStore {
            scope: self.scope.clone(),
            ..LegacyStore::new(&self.prefix)
        }
    }

    /// Whether the store keeps `key`'s value (every key, unless scoped).
    fn keeps(&self, key: &LegacyKey) -> bool {
        match (&self.scope, key) {
            (Some(own), LegacyKey::GlobalPeer(ip) | LegacyKey::HostPeer(_, ip)) => own.contains(ip),
            _ => true,
        }
    }

    /// Scoped: whether host `name` is this RR's client (a global record
    /// for this RR, or one of the host's own records, is kept).
    fn is_client(&self, name: &str) -> bool {
        let (low, high) = (
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX)),
        );
        self.any_global_peer()
            || self
                .good
                .range(
                    LegacyKey::HostPeer(name.to_owned(), low)
                        ..=LegacyKey::HostPeer(name.to_owned(), high),
                )
                .next()
                .is_some()
    }

    /// Whether a global peer record is kept (scoped: one for this RR, so
    /// every host is its client).
    fn any_global_peer(&self) -> bool {
        let (low, high) = (
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX)),
        );
        self.good
            .range(LegacyKey::GlobalPeer(low)..=LegacyKey::GlobalPeer(high))
            .next()
            .is_some()
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
        let store = LegacyStore::new(prefix);
        let mut next = store.begin_replace();
        for (k, v) in kvs {
            store.feed(&mut next, k.as_ref(), v.as_ref());
        }
        next.into_store()
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

    pub fn into_topology(self) -> Topology {
        self.topology
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
                Ok(_) if !self.keeps(&k) => Update {
                    resolved: self.forget_bad(key),
                    ..Update::default()
                },
                Ok(v) => {
                    let resolved = self.forget_bad(key);
                    let entity = k.entity();
                    self.good.insert(k, v);
                    Update {
                        changes: self.refresh(&entity),
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
            Ok(KeyClass::Known(k)) if self.good.remove(&k).is_some() => Update {
                changes: self.refresh(&k.entity()),
                rejected: Vec::new(),
                resolved,
            },
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
            changes: entities.iter().flat_map(|e| self.refresh(e)).collect(),
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
        let mut next = self.begin_replace();
        for (k, v) in kvs {
            self.feed(&mut next, k.as_ref(), v.as_ref());
        }
        self.finish_replace(next)
    }

    /// [`LegacyStore::replace_all`] in steps, for a read that comes in
    /// pages: begin, [`LegacyStore::feed`] every key, then
    /// [`LegacyStore::finish_replace`] (or [`Replacement::into_store`] for
    /// a first read, whose difference from nothing nobody needs). No page
    /// has to be kept once fed.
    pub fn begin_replace(&self) -> Replacement {
        let mut next = self.empty_like();
        next.rejected_total = self.rejected_total;
        Replacement {
            next,
            rejected: Vec::new(),
        }
    }

    /// One key of the complete read.
    pub fn feed(&self, replacement: &mut Replacement, key: &[u8], value: &[u8]) {
        let Replacement { next, rejected } = replacement;
        let (key, value) = match utf8_pair(key, value) {
            Ok(kv) => kv,
            Err(r) => {
                rejected.push(r);
                return;
            }
        };
        let reason = match next.classify_full(key) {
            Err(reason) => reason,
            Ok(KeyClass::Ignored) => return,
            Ok(KeyClass::Known(lk)) => match decode(&lk, value) {
                Ok(v) => {
                    if next.keeps(&lk) {
                        next.good.insert(lk, v);
                    }
                    return;
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

    /// Replace this store with the complete read; the difference.
    pub fn finish_replace(&mut self, replacement: Replacement) -> Update {
        let (next, rejected) = replacement.into_store();
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

    /// Re-derive one entity from the good values and apply it, and (scoped)
    /// the hosts whose being a client it may have changed; the changes.
    fn refresh(&mut self, entity: &Entity) -> Vec<TopologyChange> {
        let mut out: Vec<TopologyChange> = self.refresh_one(entity).into_iter().collect();
        if self.scope.is_none() {
            return out;
        }
        match entity {
            Entity::HostPeer(name, _) => out.extend(self.refresh_one(&Entity::Host(name.clone()))),
            Entity::GlobalPeer(_) => {
                let hosts: BTreeSet<String> = self
                    .good
                    .keys()
                    .filter_map(|k| match k {
                        LegacyKey::HostIpv4(n) | LegacyKey::HostIpv6(n) | LegacyKey::HostAsn(n) => {
                            Some(n.clone())
                        }
                        _ => None,
                    })
                    .collect();
                for name in hosts {
                    out.extend(self.refresh_one(&Entity::Host(name)));
                }
            }
            _ => {}
        }
        out
    }

    /// Re-derive one entity from the good values and apply it; the change,
    /// if anything differed.
    fn refresh_one(&mut self, entity: &Entity) -> Option<TopologyChange> {
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
                let absent = v4.is_none() && v6.is_none() && asn.is_none();
                if absent || (self.scope.is_some() && !self.is_client(name)) {
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

/// A complete read being fed into a [`LegacyStore`]: see
/// [`LegacyStore::begin_replace`].
#[derive(Debug)]
pub struct Replacement {
    next: LegacyStore,
    rejected: Vec<Rejected>,
}

impl Replacement {
    /// The store the read makes and the keys it refused, without the
    /// difference from the store it began from.
    pub fn into_store(self) -> (LegacyStore, Vec<Rejected>) {
        let Replacement { mut next, rejected } = self;
        // The topology starts empty, so a host that is not this RR's
        // client (scoped: no global record, and none of its own records
        // kept) would only be removed from where it is not: its entity is
        // not derived at all. At 100,000 nodes that skips 98% of the hosts.
        let every_host = next.scope.is_none() || next.any_global_peer();
        let mut entities = BTreeSet::new();
        for key in next.good.keys() {
            match key {
                LegacyKey::HostIpv4(_) | LegacyKey::HostIpv6(_) | LegacyKey::HostAsn(_)
                    if !every_host => {}
                LegacyKey::HostPeer(name, _) if !every_host => {
                    entities.insert(Entity::Host(name.clone()));
                    entities.insert(key.entity());
                }
                _ => {
                    entities.insert(key.entity());
                }
            }
        }
        for e in &entities {
            next.refresh_one(e);
        }
        next.rejected_total += rejected.len() as u64;
        (next, rejected)
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

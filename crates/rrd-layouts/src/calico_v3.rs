//! Calico v3 resources (BGPPeer, BGPConfiguration, Node) -> topology.
//! Shared by the etcd v3 source (`/calico/resources/v3/projectcalico.org/
//! {bgppeers,bgpconfigurations,nodes}/<name>`), the Kubernetes source
//! (`crd.projectcalico.org/v1` CRDs hold the same spec; core `v1` Nodes carry
//! Calico's `projectcalico.org/*` annotations) and the file source (YAML as
//! `calicoctl` takes it).
//!
//! Sources call [`decode_object`] per object and [`removal`] when one
//! disappears; [`decode_documents`] reads a whole YAML/JSON stream. The
//! result is [`RuleSet::CalicoV3`] data for `rrd_core::compute`.
//!
//! Field mapping (unknown fields are ignored: Calico adds fields over
//! time; a bad value of a known field is a [`DecodeError`] naming object
//! and field, and only that object is lost):
//!
//! * Node: `spec.bgp.ipv4Address` / `ipv6Address` (CIDR or bare address),
//!   `asNumber`, `routeReflectorClusterID`, `metadata.labels`.
//! * BGPPeer: `node` | `nodeSelector` (neither = global), `peerIP` (`ip`,
//!   `ip:port`, `[v6]:port`) | `peerSelector`, `asNumber`,
//!   `localASNumber`, `password.secretKeyRef`, `sourceAddress`,
//!   `maxRestartTime`, `keepaliveTime`, `ttlSecurity`,
//!   `numAllowedLocalASNumbers`, `nextHopMode`, `keepOriginalNextHop`
//!   (kept apart: it only applies to eBGP), `reversePeering`. Selectors are
//!   checked here so that a typo is reported with its position at once.
//!   `reachableBy` and `filters` do not change sessions and are ignored;
//!   `localWorkloadSelector` peers are refused (not an RR concern).
//! * BGPConfiguration `default` -> [`Defaults`] (`asNumber`,
//!   `nodeToNodeMeshEnabled` missing = on, `listenPort`, `nodeMeshPassword`,
//!   `nodeMeshMaxRestartTime`); `node.<name>` -> [`NodeBgpConfig`]
//!   (`listenPort`).
//!
//! Numbers and durations follow Calico: AS 0 / port 0 / empty strings mean
//! "not set"; durations are Go durations (`10s`, `1m30s`).

mod fields;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use rrd_core::{Defaults, Node, NodeBgpConfig, PeerRule, RuleSet, Topology, TopologyChange};
use serde_json::Value;

/// The three resource kinds rrd reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    BgpPeer,
    BgpConfiguration,
    Node,
}

impl ResourceKind {
    /// `BGPPeer`, `BGPConfiguration`, `Node` (any case); `None` for other
    /// kinds (IPPool, ...), which rrd ignores.
    pub fn from_kind(kind: &str) -> Option<Self> {
        [
            ResourceKind::BgpPeer,
            ResourceKind::BgpConfiguration,
            ResourceKind::Node,
        ]
        .into_iter()
        .find(|k| k.kind().eq_ignore_ascii_case(kind.trim()))
    }

    /// The folder under `/calico/resources/v3/projectcalico.org/`.
    pub fn etcd_dir(self) -> &'static str {
        match self {
            ResourceKind::BgpPeer => "bgppeers",
            ResourceKind::BgpConfiguration => "bgpconfigurations",
            ResourceKind::Node => "nodes",
        }
    }

    /// The `kind` as Calico spells it.
    pub fn kind(self) -> &'static str {
        match self {
            ResourceKind::BgpPeer => "BGPPeer",
            ResourceKind::BgpConfiguration => "BGPConfiguration",
            ResourceKind::Node => "Node",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// What one object means for the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Node(Node),
    Peer(PeerRule),
    /// BGPConfiguration `default`.
    Defaults(Defaults),
    /// BGPConfiguration `node.<name>`: the node name and its settings.
    NodeConfig(String, NodeBgpConfig),
}

impl Decoded {
    pub fn into_change(self) -> TopologyChange {
        match self {
            Decoded::Node(n) => TopologyChange::UpsertNode(n),
            Decoded::Peer(p) => TopologyChange::UpsertPeer(p),
            Decoded::Defaults(d) => TopologyChange::Defaults(d),
            Decoded::NodeConfig(name, c) => TopologyChange::UpsertNodeConfig(name, c),
        }
    }
}

/// An object rrd could not use, with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {}{message}", .field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct DecodeError {
    /// `"BGPPeer bgppeer-1"`, or `"document 3 (line 40)"` when the object
    /// has no usable kind or name.
    pub object: String,
    /// `"spec.peerIP"`; `None` when the object as a whole is at fault.
    pub field: Option<String>,
    pub message: String,
}

impl DecodeError {
    pub(crate) fn new(
        object: impl Into<String>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        DecodeError {
            object: object.into(),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// One v3 object (`apiVersion`/`kind`/`metadata`/`spec`) as JSON.
pub fn decode_object(value: &Value) -> Result<Decoded, DecodeError> {
    decode_with_kind(value, "object")
}

/// `decode_object` with a label for errors found before the name is known.
fn decode_with_kind(value: &Value, place: &str) -> Result<Decoded, DecodeError> {
    let Some(obj) = value.as_object() else {
        return Err(DecodeError::new(place, None, "not an object"));
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => ResourceKind::from_kind(k).ok_or_else(|| {
            DecodeError::new(
                place,
                Some("kind"),
                format!("{k:?} is not BGPPeer, BGPConfiguration or Node"),
            )
        })?,
        None | Some(Value::Null) => return Err(DecodeError::new(place, Some("kind"), "missing")),
        Some(other) => {
            return Err(DecodeError::new(
                place,
                Some("kind"),
                format!("expected a string, found {other}"),
            ))
        }
    };
    let name = match obj.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        _ => {
            return Err(DecodeError::new(
                format!("{kind} in {place}"),
                Some("metadata.name"),
                "missing or empty",
            ))
        }
    };
    let label = format!("{kind} {name}");
    match kind {
        ResourceKind::Node => fields::node(obj, &name, &label).map(Decoded::Node),
        ResourceKind::BgpPeer => fields::peer(obj, &name, &label).map(Decoded::Peer),
        ResourceKind::BgpConfiguration => fields::configuration(obj, &name, &label),
    }
}

/// The change that removes a resource that disappeared. Removing
/// BGPConfiguration `default` restores [`Defaults::default()`]; a
/// BGPConfiguration name Calico does not use (neither `default` nor
/// `node.<name>`) was never decoded, and its removal changes nothing.
pub fn removal(kind: ResourceKind, name: &str) -> TopologyChange {
    match kind {
        ResourceKind::BgpPeer => TopologyChange::RemovePeer(name.to_owned()),
        ResourceKind::Node => TopologyChange::RemoveNode(name.to_owned()),
        ResourceKind::BgpConfiguration => match fields::config_target(name) {
            Some(None) => TopologyChange::Defaults(Defaults::default()),
            Some(Some(node)) => TopologyChange::RemoveNodeConfig(node.to_owned()),
            // No node config is ever stored under the empty name.
            None => TopologyChange::RemoveNodeConfig(String::new()),
        },
    }
}

/// The objects of a YAML/JSON stream as JSON, YAML 1.1 scalars resolved as
/// Calico's tools do, `List` / `*List` objects flattened into their items
/// (an item without `kind` gets the list's). Unreadable documents come
/// back as errors. For callers that edit objects before decoding them.
pub fn parse_objects(text: &str) -> (Vec<Value>, Vec<DecodeError>) {
    let (objects, errors) = stream_objects(text);
    (objects.into_iter().map(|(_, v)| v).collect(), errors)
}

/// [`parse_objects`], with the place of each object for messages.
fn stream_objects(text: &str) -> (Vec<(String, Value)>, Vec<DecodeError>) {
    let (docs, syntax) = yaml::load_stream(text);
    let mut errors: Vec<DecodeError> = syntax
        .into_iter()
        .map(|e| {
            DecodeError::new(
                format!("document {} (line {})", e.index, e.line),
                None,
                format!("not valid YAML: {}", e.message),
            )
        })
        .collect();
    let mut objects = Vec::new();
    for doc in docs {
        let place = format!("document {} (line {})", doc.index, doc.line);
        match doc.value {
            Value::Null => {}
            Value::Object(mut obj) if is_list(&obj) => {
                let list_kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
                let implied = list_kind.strip_suffix("List").map(str::to_owned);
                match obj.remove("items") {
                    Some(Value::Array(items)) => {
                        for (i, mut item) in items.into_iter().enumerate() {
                            if let (Some(kind), Some(o)) = (&implied, item.as_object_mut()) {
                                if o.get("kind").is_none_or(Value::is_null) && !kind.is_empty() {
                                    o.insert("kind".into(), Value::String(kind.clone()));
                                }
                            }
                            objects.push((format!("{place}, item {}", i + 1), item));
                        }
                    }
                    Some(Value::Null) | None => {}
                    Some(_) => {
                        errors.push(DecodeError::new(place, Some("items"), "expected a list"))
                    }
                }
            }
            value => objects.push((place, value)),
        }
    }
    (objects, errors)
}

/// A YAML/JSON stream as changes, in document order: multi-document
/// streams, `kind: List` and `*List` objects with `items`. Kinds other
/// than the three rrd reads are skipped silently; bad objects and
/// unreadable documents come back as errors and are skipped.
pub fn decode_changes(text: &str) -> (Vec<TopologyChange>, Vec<DecodeError>) {
    let (objects, errors) = stream_objects(text);
    let mut out = Collector {
        errors,
        ..Collector::default()
    };
    for (place, value) in objects {
        out.one(&value, &place);
    }
    (out.changes, out.errors)
}

#[derive(Default)]
struct Collector {
    changes: Vec<TopologyChange>,
    errors: Vec<DecodeError>,
    seen: BTreeSet<(&'static str, String)>,
}

impl Collector {
    fn one(&mut self, value: &Value, place: &str) {
        if !is_ours(value) {
            return;
        }
        match decode_with_kind(value, place) {
            Ok(decoded) => {
                let key = identity(&decoded);
                if !self.seen.insert(key.clone()) {
                    self.errors.push(DecodeError::new(
                        format!("{} {}", key.0, key.1),
                        None,
                        format!("defined again in {place}; the later definition is used"),
                    ));
                }
                self.changes.push(decoded.into_change());
            }
            Err(e) => self.errors.push(e),
        }
    }
}

/// A whole YAML/JSON stream as a [`RuleSet::CalicoV3`] topology; bad
/// objects are returned as errors next to it and never abort the rest.
pub fn decode_documents(text: &str) -> (Topology, Vec<DecodeError>) {
    let (changes, errors) = decode_changes(text);
    let mut topology = Topology {
        rules: RuleSet::CalicoV3,
        ..Topology::default()
    };
    for change in changes {
        topology.apply(change);
    }
    (topology, errors)
}

fn is_list(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
}

/// Whether a stream object is one of ours (or has no usable kind, which is
/// worth an error); IPPools and the like are skipped.
fn is_ours(value: &Value) -> bool {
    match value.get("kind") {
        Some(Value::String(k)) => ResourceKind::from_kind(k).is_some(),
        _ => true,
    }
}

/// Kind and name of a decoded object, to spot duplicates in one stream.
fn identity(decoded: &Decoded) -> (&'static str, String) {
    match decoded {
        Decoded::Node(n) => ("Node", n.name.clone()),
        Decoded::Peer(p) => ("BGPPeer", p.name.clone()),
        Decoded::Defaults(_) => ("BGPConfiguration", "default".into()),
        Decoded::NodeConfig(n, _) => ("BGPConfiguration", format!("node.{n}")),
    }
}

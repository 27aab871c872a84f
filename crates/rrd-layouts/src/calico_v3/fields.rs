//! Field by field: one v3 object's JSON -> a canonical model value, with a
//! [`DecodeError`] that names the object and the field path at fault.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use rrd_core::model::parse_go_duration;
use rrd_core::semantics::calico_v3::Selector;
use rrd_core::{
    Asn, ClusterId, Defaults, Labels, Node, NodeBgpConfig, NodeSelector, PeerMatch, PeerRule,
    ReversePeering, SecretRef, SourceAddress,
};
use serde_json::{Map, Value};

use super::{DecodeError, Decoded};

type Result<T> = std::result::Result<T, DecodeError>;

/// Annotations a Kubernetes (core `v1`) Node carries for Calico.
const ANNOTATION_IPV4: &str = "projectcalico.org/IPv4Address";
const ANNOTATION_IPV6: &str = "projectcalico.org/IPv6Address";
const ANNOTATION_ASN: &str = "projectcalico.org/ASNumber";
const ANNOTATION_CLUSTER: &str = "projectcalico.org/RouteReflectorClusterID";

/// A JSON object being read, with its place in the resource for messages.
struct Obj<'a> {
    label: &'a str,
    path: String,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Obj<'a> {
    fn root(label: &'a str, map: &'a Map<String, Value>) -> Self {
        Obj {
            label,
            path: String::new(),
            map: Some(map),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn err(&self, key: &str, message: impl Into<String>) -> DecodeError {
        DecodeError::new(self.label, Some(&self.field(key)), message)
    }

    /// A present, non-null value.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// A nested object; missing or null reads as empty.
    fn child(&self, key: &str) -> Result<Obj<'a>> {
        let map = match self.get(key) {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => return Err(self.err(key, format!("expected an object, found {other}"))),
        };
        Ok(Obj {
            label: self.label,
            path: self.field(key),
            map,
        })
    }

    /// A string; empty means unset, as with Go's `omitempty`.
    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(self.err(key, format!("expected a string, found {other}"))),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(key, format!("expected true or false, found {other}"))),
        }
    }

    /// A non-negative integer no greater than `max`; 0 means unset.
    fn count(&self, key: &str, max: u64) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(0) => Ok(None),
                Some(v) if v <= max => Ok(Some(v)),
                _ => Err(self.err(key, format!("{n} is not an integer in 0..={max}"))),
            },
            Some(other) => Err(self.err(key, format!("expected a number, found {other}"))),
        }
    }

    fn port(&self, key: &str) -> Result<Option<u16>> {
        Ok(self
            .count(key, u64::from(u16::MAX))?
            .and_then(|v| u16::try_from(v).ok()))
    }

    fn small(&self, key: &str) -> Result<Option<u8>> {
        Ok(self
            .count(key, u64::from(u8::MAX))?
            .and_then(|v| u8::try_from(v).ok()))
    }

    /// Calico's `numorstring.ASNumber`: a number, or text (`"65000"`,
    /// asdot `"1.10"`); 0 means unset.
    fn asn(&self, key: &str) -> Result<Option<Asn>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(0) => Ok(None),
                Some(v) => u32::try_from(v)
                    .map(|v| Some(Asn(v)))
                    .map_err(|_| self.err(key, format!("{n} is not an AS number"))),
                None => Err(self.err(key, format!("{n} is not an AS number"))),
            },
            Some(Value::String(s)) if s.trim().is_empty() || s.trim() == "0" => Ok(None),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|e| self.err(key, format!("{e}"))),
            Some(other) => Err(self.err(key, format!("expected an AS number, found {other}"))),
        }
    }

    fn cluster_id(&self, key: &str) -> Result<Option<ClusterId>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| self.err(key, format!("{n} is not a 32-bit cluster id")))
                .and_then(|v| {
                    ClusterId::new(v, &n.to_string())
                        .map(Some)
                        .map_err(|e| self.err(key, e.to_string()))
                }),
            Some(Value::String(_)) => match self.string(key)? {
                None => Ok(None),
                Some(s) => s
                    .parse()
                    .map(Some)
                    .map_err(|e| self.err(key, format!("{e}"))),
            },
            Some(other) => Err(self.err(key, format!("expected a cluster id, found {other}"))),
        }
    }

    /// A Go duration (`10s`, `1m30s`).
    fn duration(&self, key: &str) -> Result<Option<Duration>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => parse_go_duration(&s)
                .map(Some)
                .map_err(|e| self.err(key, e)),
        }
    }

    /// A node address as Calico stores it: `10.192.0.2/16` or a bare
    /// address, of the given family.
    fn address(&self, key: &str, want_v6: bool) -> Result<Option<IpAddr>> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.as_str(), None),
        };
        let family = if want_v6 { "IPv6" } else { "IPv4" };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| self.err(key, format!("{text:?} is not an {family} address or CIDR")))?;
        if addr.is_ipv6() != want_v6 {
            return Err(self.err(key, format!("{text:?} is not an {family} address")));
        }
        let max = if want_v6 { 128 } else { 32 };
        if let Some(p) = prefix {
            if p.parse::<u8>().ok().is_none_or(|p| p > max) {
                return Err(self.err(key, format!("{text:?} has a bad prefix length")));
            }
        }
        Ok(Some(addr))
    }

    /// `{secretKeyRef: {name, key}}`.
    fn secret_ref(&self, key: &str) -> Result<Option<SecretRef>> {
        let holder = self.child(key)?;
        let skr = holder.child("secretKeyRef")?;
        if skr.map.is_none() {
            return Ok(None);
        }
        let name = skr
            .string("name")?
            .ok_or_else(|| skr.err("name", "missing"))?;
        let key = skr
            .string("key")?
            .ok_or_else(|| skr.err("key", "missing"))?;
        Ok(Some(SecretRef { name, key }))
    }

    /// One of Calico's enum spellings.
    fn choice(&self, key: &str, allowed: &[&str]) -> Result<Option<String>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(self.err(key, format!("{s:?} is not one of {}", allowed.join(", ")))),
        }
    }

    /// A selector, checked now so the position of a typo is reported.
    fn selector(&self, key: &str) -> Result<Option<String>> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        Selector::parse(&text).map_err(|e| self.err(key, e.to_string()))?;
        Ok(Some(text))
    }

    /// Labels or annotations: text values; YAML 1.1 booleans and numbers
    /// turn into their text (`yes` -> `"true"`), as Calico's tools do.
    fn labels(&self, key: &str) -> Result<Labels> {
        let child = self.child(key)?;
        let mut out = Labels::new();
        for (k, v) in child.map.into_iter().flatten() {
            let text: Cow<str> = match v {
                Value::String(s) => s.as_str().into(),
                Value::Bool(b) => b.to_string().into(),
                Value::Number(n) => n.to_string().into(),
                Value::Null => "".into(),
                other => return Err(child.err(k, format!("expected text, found {other}"))),
            };
            out.insert(k, text);
        }
        Ok(out)
    }
}

/// Node: `projectcalico.org/v3` (spec.bgp) or a core Kubernetes `v1` Node
/// (Calico's annotations).
pub(super) fn node(obj: &Map<String, Value>, name: &str, label: &str) -> Result<Node> {
    let root = Obj::root(label, obj);
    let metadata = root.child("metadata")?;
    let mut node = Node::new(name);
    node.labels = metadata.labels("labels")?;
    let core = obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    let (bgp, [v4, v6, asn, cluster]) = if core {
        let annotations = metadata.child("annotations")?;
        (
            annotations,
            [
                ANNOTATION_IPV4,
                ANNOTATION_IPV6,
                ANNOTATION_ASN,
                ANNOTATION_CLUSTER,
            ],
        )
    } else {
        (
            root.child("spec")?.child("bgp")?,
            [
                "ipv4Address",
                "ipv6Address",
                "asNumber",
                "routeReflectorClusterID",
            ],
        )
    };
    node.ipv4 = match bgp.address(v4, false)? {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    node.ipv6 = match bgp.address(v6, true)? {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    node.asn = bgp.asn(asn)?;
    node.rr_cluster_id = bgp.cluster_id(cluster)?;
    Ok(node)
}

/// BGPPeer.
pub(super) fn peer(obj: &Map<String, Value>, name: &str, label: &str) -> Result<PeerRule> {
    let spec = Obj::root(label, obj).child("spec")?;
    let nodes = match (spec.string("node")?, spec.selector("nodeSelector")?) {
        (Some(_), Some(_)) => {
            return Err(spec.err("nodeSelector", "node and nodeSelector cannot both be set"))
        }
        (Some(n), None) => NodeSelector::Named(n),
        (None, Some(s)) => NodeSelector::Selector(s),
        (None, None) => NodeSelector::All,
    };
    if spec.string("localWorkloadSelector")?.is_some() {
        return Err(spec.err(
            "localWorkloadSelector",
            "local workload peers are not supported by rrd",
        ));
    }
    let asn = spec.asn("asNumber")?;
    let peer = match (spec.string("peerIP")?, spec.selector("peerSelector")?) {
        (Some(_), Some(_)) => {
            return Err(spec.err("peerSelector", "peerIP and peerSelector cannot both be set"))
        }
        (Some(ip), None) => {
            let (addr, port) = parse_peer_ip(&ip).map_err(|m| spec.err("peerIP", m))?;
            PeerMatch::Ip { addr, port }
        }
        (None, Some(_)) if asn.is_some() => {
            return Err(spec.err("asNumber", "must be empty when peerSelector is set"))
        }
        (None, Some(s)) => PeerMatch::Selector(s),
        (None, None) => return Err(spec.err("peerIP", "one of peerIP or peerSelector is required")),
    };
    let source_address = match spec
        .choice("sourceAddress", &["UseNodeIP", "None"])?
        .as_deref()
    {
        Some("None") => SourceAddress::None,
        _ => SourceAddress::UseNodeIP,
    };
    let reverse_peering = match spec
        .choice("reversePeering", &["Auto", "Manual"])?
        .as_deref()
    {
        Some("Manual") => ReversePeering::Manual,
        _ => ReversePeering::Auto,
    };
    let num_allowed_local_as = match spec.get("numAllowedLocalASNumbers") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v < 0) => {
            return Err(spec.err("numAllowedLocalASNumbers", format!("{n} is negative")))
        }
        _ => spec.small("numAllowedLocalASNumbers")?,
    };
    Ok(PeerRule {
        name: name.to_owned(),
        nodes,
        peer,
        asn,
        local_asn: spec.asn("localASNumber")?,
        password: spec.secret_ref("password")?,
        source_address,
        max_restart_time: spec.duration("maxRestartTime")?,
        keepalive_time: spec.duration("keepaliveTime")?,
        ttl_security: spec.small("ttlSecurity")?,
        num_allowed_local_as,
        next_hop_mode: spec.choice("nextHopMode", &["Auto", "Self", "Keep"])?,
        keep_original_next_hop: spec.boolean("keepOriginalNextHop")?.unwrap_or(false),
        reverse_peering,
    })
}

/// `peerIP`: `ip`, `ip:port` (IPv4), `[ip]:port`; port 0 means none.
pub(super) fn parse_peer_ip(text: &str) -> std::result::Result<(IpAddr, Option<u16>), String> {
    let t = text.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let bad = || format!("{t:?} is not an address, address:port or [IPv6]:port");
    let (host, port) = match t.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(bad)?)),
            }
        }
        None => {
            let (host, port) = t.rsplit_once(':').ok_or_else(bad)?;
            if host.contains(':') {
                return Err(format!(
                    "{t:?}: write an IPv6 address with a port as [address]:port"
                ));
            }
            (host, Some(port))
        }
    };
    let addr: IpAddr = host.parse().map_err(|_| bad())?;
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("{t:?}: {p:?} is not a port"))?,
        ),
    };
    Ok((addr, port.filter(|p| *p != 0)))
}

/// What a BGPConfiguration name configures: `Some(None)` the defaults,
/// `Some(Some(node))` one node, `None` nothing Calico uses.
pub(super) fn config_target(name: &str) -> Option<Option<&str>> {
    if name == "default" {
        return Some(None);
    }
    name.strip_prefix("node.")
        .filter(|n| !n.is_empty())
        .map(Some)
}

/// BGPConfiguration `default` or `node.<name>`.
pub(super) fn configuration(obj: &Map<String, Value>, name: &str, label: &str) -> Result<Decoded> {
    let root = Obj::root(label, obj);
    let spec = root.child("spec")?;
    match config_target(name) {
        Some(None) => Ok(Decoded::Defaults(Defaults {
            asn: spec.asn("asNumber")?,
            node_mesh: spec.boolean("nodeToNodeMeshEnabled")?.unwrap_or(true),
            listen_port: spec.port("listenPort")?,
            node_mesh_password: spec.secret_ref("nodeMeshPassword")?,
            node_mesh_max_restart_time: spec.duration("nodeMeshMaxRestartTime")?,
        })),
        Some(Some(node)) => Ok(Decoded::NodeConfig(
            node.to_owned(),
            NodeBgpConfig {
                listen_port: spec.port("listenPort")?,
            },
        )),
        None => Err(root.err(
            "metadata.name",
            "a BGPConfiguration is named \"default\" or \"node.<node name>\"",
        )),
    }
}

//! Decoding one calico-v1 value, given the key it was stored under.
//!
//! Formats are those calicoctl (pycalico) and the routereflector image's
//! README wrote: plain strings for addresses and AS numbers, small JSON
//! objects for peers, RRs and the node mesh. Decoding is lenient where old
//! writers varied (AS as string or number, cluster id as dotted quad or
//! integer, an address with a prefix length) and strict where a mistake
//! would silently change sessions (an address that disagrees with its key).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rrd_core::{Asn, ClusterId, Family};
use serde::Deserialize;

use super::keys::LegacyKey;
use super::RejectReason;

/// A decoded value, before it is folded into its entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Asn(Asn),
    NodeMesh(bool),
    Ipv4(Option<Ipv4Addr>),
    Ipv6(Option<Ipv6Addr>),
    /// A peer record's AS (`None`: the record names none).
    Peer(Option<Asn>),
    /// An RR record's cluster id (`None`: empty).
    RouteReflector(Option<ClusterId>),
}

/// A JSON field that old writers stored either as a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Text(String),
    Number(u64),
}

impl TextOrNumber {
    /// The text form; `None` for an empty string.
    fn text(&self) -> Option<String> {
        match self {
            TextOrNumber::Text(t) if t.trim().is_empty() => None,
            TextOrNumber::Text(t) => Some(t.clone()),
            TextOrNumber::Number(n) => Some(n.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct PeerJson {
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    as_num: Option<TextOrNumber>,
}

#[derive(Deserialize)]
struct RrJson {
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    cluster_id: Option<TextOrNumber>,
}

#[derive(Deserialize)]
struct NodeMeshJson {
    enabled: bool,
}

pub(crate) fn decode(key: &LegacyKey, raw: &str) -> Result<Value, RejectReason> {
    match key {
        LegacyKey::DefaultAsn | LegacyKey::HostAsn(_) => parse_asn("as_num", raw).map(Value::Asn),
        LegacyKey::NodeMesh => {
            let v: NodeMeshJson = json(raw)?;
            Ok(Value::NodeMesh(v.enabled))
        }
        LegacyKey::HostIpv4(_) => match plain_address(raw, Family::Ipv4, "ip_addr_v4")? {
            None => Ok(Value::Ipv4(None)),
            Some(IpAddr::V4(a)) => Ok(Value::Ipv4(Some(a))),
            Some(IpAddr::V6(_)) => unreachable!("plain_address checks the family"),
        },
        LegacyKey::HostIpv6(_) => match plain_address(raw, Family::Ipv6, "ip_addr_v6")? {
            None => Ok(Value::Ipv6(None)),
            Some(IpAddr::V6(a)) => Ok(Value::Ipv6(Some(a))),
            Some(IpAddr::V4(_)) => unreachable!("plain_address checks the family"),
        },
        LegacyKey::GlobalPeer(ip) | LegacyKey::HostPeer(_, ip) => {
            let v: PeerJson = json(raw)?;
            check_ip(*ip, v.ip.as_deref())?;
            let asn = match v.as_num.as_ref().and_then(TextOrNumber::text) {
                Some(t) => Some(parse_asn("as_num", &t)?),
                None => None,
            };
            Ok(Value::Peer(asn))
        }
        LegacyKey::RouteReflector(ip) => {
            let v: RrJson = json(raw)?;
            check_ip(*ip, v.ip.as_deref())?;
            let cluster_id = match v.cluster_id.as_ref().and_then(TextOrNumber::text) {
                Some(t) => Some(t.parse::<ClusterId>().map_err(|e| RejectReason::BadId {
                    field: "cluster_id",
                    source: e,
                })?),
                None => None,
            };
            Ok(Value::RouteReflector(cluster_id))
        }
    }
}

fn json<'a, T: Deserialize<'a>>(raw: &'a str) -> Result<T, RejectReason> {
    serde_json::from_str(raw).map_err(|e| RejectReason::InvalidJson(e.to_string()))
}

fn parse_asn(field: &'static str, raw: &str) -> Result<Asn, RejectReason> {
    raw.parse::<Asn>()
        .map_err(|e| RejectReason::BadId { field, source: e })
}

/// A host address: empty means "none"; `a.b.c.d/len` is accepted (newer
/// writers store CIDRs) and the prefix length dropped.
fn plain_address(
    raw: &str,
    family: Family,
    field: &'static str,
) -> Result<Option<IpAddr>, RejectReason> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || RejectReason::BadAddress {
        field,
        value: raw.to_owned(),
        family,
    };
    let addr_text = match t.split_once('/') {
        Some((addr, len)) => {
            let max = if family == Family::Ipv4 { 32 } else { 128 };
            match len.parse::<u8>() {
                Ok(l) if l <= max => addr,
                _ => return Err(bad()),
            }
        }
        None => t,
    };
    let ip: IpAddr = addr_text.parse().map_err(|_| bad())?;
    if Family::of(&ip) != family {
        return Err(bad());
    }
    Ok(Some(ip))
}

/// The `ip` inside a record must name the same address as its key (a
/// missing `ip` takes the key's).
fn check_ip(key_ip: IpAddr, json_ip: Option<&str>) -> Result<(), RejectReason> {
    let Some(text) = json_ip else {
        return Ok(());
    };
    match text.trim().parse::<IpAddr>() {
        Ok(ip) if ip == key_ip => Ok(()),
        Ok(_) => Err(RejectReason::AddressMismatch {
            key_ip,
            value_ip: text.to_owned(),
        }),
        Err(_) => Err(RejectReason::BadAddress {
            field: "ip",
            value: text.to_owned(),
            family: Family::of(&key_ip),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_and_host_as_numbers_are_decimal_strings() {
        assert_eq!(
            decode(&LegacyKey::DefaultAsn, "64511"),
            Ok(Value::Asn(Asn(64511)))
        );
        assert_eq!(
            decode(&LegacyKey::HostAsn("n".into()), " 65100\n"),
            Ok(Value::Asn(Asn(65100)))
        );
        assert!(matches!(
            decode(&LegacyKey::DefaultAsn, "abc"),
            Err(RejectReason::BadId {
                field: "as_num",
                ..
            })
        ));
        assert!(decode(&LegacyKey::DefaultAsn, "").is_err());
    }

    #[test]
    fn node_mesh_is_an_enabled_flag() {
        assert_eq!(
            decode(&LegacyKey::NodeMesh, r#"{"enabled": false}"#),
            Ok(Value::NodeMesh(false))
        );
        assert_eq!(
            decode(&LegacyKey::NodeMesh, r#"{"enabled":true}"#),
            Ok(Value::NodeMesh(true))
        );
        for bad in ["off", "{}", r#"{"enabled":"no"}"#] {
            assert!(matches!(
                decode(&LegacyKey::NodeMesh, bad),
                Err(RejectReason::InvalidJson(_))
            ));
        }
    }

    #[test]
    fn host_addresses_may_be_empty_or_carry_a_prefix_length() {
        let v4 = LegacyKey::HostIpv4("n".into());
        let v6 = LegacyKey::HostIpv6("n".into());
        assert_eq!(decode(&v4, ""), Ok(Value::Ipv4(None)));
        assert_eq!(
            decode(&v4, "172.17.42.31"),
            Ok(Value::Ipv4(ip4("172.17.42.31")))
        );
        assert_eq!(
            decode(&v4, "172.17.42.31/24"),
            Ok(Value::Ipv4(ip4("172.17.42.31")))
        );
        assert_eq!(
            decode(&v6, "fd00::31"),
            Ok(Value::Ipv6("fd00::31".parse().ok()))
        );
        for bad in ["300.1.1.1", "fd00::1", "10.0.0.1/33", "host"] {
            assert!(
                matches!(decode(&v4, bad), Err(RejectReason::BadAddress { .. })),
                "{bad}"
            );
        }
        assert!(decode(&v6, "10.0.0.1").is_err());
    }

    fn ip4(s: &str) -> Option<Ipv4Addr> {
        s.parse().ok()
    }

    #[test]
    fn peer_records_carry_a_string_as_that_may_also_be_a_number() {
        let k = LegacyKey::GlobalPeer(ip("172.17.42.40"));
        assert_eq!(
            decode(&k, r#"{"ip": "172.17.42.40", "as_num": "65100"}"#),
            Ok(Value::Peer(Some(Asn(65100))))
        );
        assert_eq!(
            decode(&k, r#"{"ip":"172.17.42.40","as_num":65100}"#),
            Ok(Value::Peer(Some(Asn(65100))))
        );
        assert_eq!(decode(&k, r#"{"as_num":""}"#), Ok(Value::Peer(None)));
        assert!(matches!(
            decode(&k, r#"{"ip":"172.17.42.40","as_num":"abc"}"#),
            Err(RejectReason::BadId { .. })
        ));
        assert!(matches!(
            decode(&k, r#"{"ip":"172.17.42.41","as_num":"65100"}"#),
            Err(RejectReason::AddressMismatch { .. })
        ));
        assert!(matches!(
            decode(&k, r#"{"ip":"x","as_num":"65100"}"#),
            Err(RejectReason::BadAddress { field: "ip", .. })
        ));
        assert!(matches!(
            decode(&k, r#"{"ip":"172.17.42.40""#),
            Err(RejectReason::InvalidJson(_))
        ));
    }

    #[test]
    fn rr_records_normalise_integer_cluster_ids() {
        let k = LegacyKey::RouteReflector(ip("172.17.42.40"));
        let one = Some(ClusterId(0x0100_0001));
        assert_eq!(
            decode(&k, r#"{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}"#),
            Ok(Value::RouteReflector(one))
        );
        assert_eq!(
            decode(&k, r#"{"ip":"172.17.42.40","cluster_id":16777217}"#),
            Ok(Value::RouteReflector(one))
        );
        assert_eq!(
            decode(&k, r#"{"ip":"172.17.42.40","cluster_id":"16777217"}"#),
            Ok(Value::RouteReflector(one))
        );
        assert_eq!(
            decode(&k, r#"{"ip":"172.17.42.40","cluster_id":""}"#),
            Ok(Value::RouteReflector(None))
        );
        assert!(matches!(
            decode(&k, r#"{"ip":"172.17.42.40","cluster_id":"1.0.0"}"#),
            Err(RejectReason::BadId {
                field: "cluster_id",
                ..
            })
        ));
    }

    #[test]
    fn rr_records_with_cluster_id_zero_are_rejected_naming_field_and_value() {
        let k = LegacyKey::RouteReflector(ip("172.17.42.40"));
        for raw in [
            r#"{"ip":"172.17.42.40","cluster_id":"0.0.0.0"}"#,
            r#"{"ip":"172.17.42.40","cluster_id":"0"}"#,
            r#"{"ip":"172.17.42.40","cluster_id":0}"#,
        ] {
            let e = decode(&k, raw).unwrap_err();
            assert!(
                matches!(
                    e,
                    RejectReason::BadId {
                        field: "cluster_id",
                        source: rrd_core::model::ParseIdError::ZeroClusterId(_)
                    }
                ),
                "{raw}: {e:?}"
            );
            assert!(e.to_string().contains("cluster_id"), "{e}");
        }
    }
}

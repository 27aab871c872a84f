//! The writes behind `rrd rr add|remove`, `rrd peer add|remove`,
//! `rrd node-mesh` and `rrd default-as`: the same keys and JSON that
//! calicoctl and the routereflector README's `curl` wrote, so that old
//! tools and rrd read each other's data.
//!
//! Arguments are validated into a [`Command`] first (two-phase: nothing is
//! written unless every argument is good); a transport then performs the
//! [`KvWrite`] below its prefix. JSON is written compact
//! (`{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}`), as the README's curl
//! did; calicoctl's spacing differed but every reader ignores whitespace.

use std::net::IpAddr;

use rrd_core::model::ParseIdError;
use rrd_core::{Asn, ClusterId};

use super::LegacyKey;

/// A command-line argument that makes no sense, named.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {argument} {value:?}: {problem}")]
pub struct ArgumentError {
    /// The argument as the CLI names it (`<ip>`, `--cluster-id`, `--as`, `--node`).
    pub argument: &'static str,
    pub value: String,
    pub problem: String,
}

/// A validated write to the calico-v1 keyspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `rr add <ip> [--cluster-id X]`: register a route reflector.
    RrAdd {
        ip: IpAddr,
        cluster_id: Option<ClusterId>,
    },
    /// `rr remove <ip>`.
    RrRemove { ip: IpAddr },
    /// `peer add <ip> --as N [--node NAME]`: a global or node-specific peer.
    PeerAdd {
        ip: IpAddr,
        asn: Asn,
        node: Option<String>,
    },
    /// `peer remove <ip> [--node NAME]`.
    PeerRemove { ip: IpAddr, node: Option<String> },
    /// `node-mesh on|off`.
    NodeMesh { enabled: bool },
    /// `default-as N`.
    DefaultAs { asn: Asn },
}

/// One key operation, relative to the layout prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvWrite {
    Put { key: LegacyKey, value: String },
    Delete { key: LegacyKey },
}

impl KvWrite {
    pub fn key(&self) -> &LegacyKey {
        match self {
            KvWrite::Put { key, .. } | KvWrite::Delete { key } => key,
        }
    }
}

impl Command {
    pub fn rr_add(ip: &str, cluster_id: Option<&str>) -> Result<Command, ArgumentError> {
        Ok(Command::RrAdd {
            ip: parse_ip("<ip>", ip)?,
            cluster_id: cluster_id
                .map(|c| {
                    c.parse::<ClusterId>().map_err(|e| ArgumentError {
                        argument: "--cluster-id",
                        value: c.to_owned(),
                        problem: match e {
                            ParseIdError::ZeroClusterId(_) => {
                                "0.0.0.0 is no cluster id; pick a non-zero one such as 1.0.0.1"
                                    .into()
                            }
                            _ => {
                                "expected a dotted quad such as 1.0.0.1 or a 32-bit integer".into()
                            }
                        },
                    })
                })
                .transpose()?,
        })
    }

    pub fn rr_remove(ip: &str) -> Result<Command, ArgumentError> {
        Ok(Command::RrRemove {
            ip: parse_ip("<ip>", ip)?,
        })
    }

    pub fn peer_add(ip: &str, asn: &str, node: Option<&str>) -> Result<Command, ArgumentError> {
        Ok(Command::PeerAdd {
            ip: parse_ip("<ip>", ip)?,
            asn: parse_asn("--as", asn)?,
            node: node.map(parse_node).transpose()?,
        })
    }

    pub fn peer_remove(ip: &str, node: Option<&str>) -> Result<Command, ArgumentError> {
        Ok(Command::PeerRemove {
            ip: parse_ip("<ip>", ip)?,
            node: node.map(parse_node).transpose()?,
        })
    }

    /// `on` / `off` (also `true`/`false`, `enable`/`disable`).
    pub fn node_mesh(state: &str) -> Result<Command, ArgumentError> {
        let enabled = match state.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "enable" | "enabled" => true,
            "off" | "false" | "disable" | "disabled" => false,
            _ => {
                return Err(ArgumentError {
                    argument: "on|off",
                    value: state.to_owned(),
                    problem: "expected on or off".into(),
                })
            }
        };
        Ok(Command::NodeMesh { enabled })
    }

    pub fn default_as(asn: &str) -> Result<Command, ArgumentError> {
        Ok(Command::DefaultAs {
            asn: parse_asn("<as>", asn)?,
        })
    }

    /// The key operation this command performs.
    pub fn write(&self) -> KvWrite {
        match self {
            Command::RrAdd { ip, cluster_id } => KvWrite::Put {
                key: LegacyKey::RouteReflector(*ip),
                value: format!(
                    r#"{{"ip":"{ip}","cluster_id":"{}"}}"#,
                    cluster_id.map(|c| c.to_string()).unwrap_or_default()
                ),
            },
            Command::RrRemove { ip } => KvWrite::Delete {
                key: LegacyKey::RouteReflector(*ip),
            },
            Command::PeerAdd { ip, asn, node } => KvWrite::Put {
                key: peer_key(*ip, node.as_deref()),
                value: format!(r#"{{"ip":"{ip}","as_num":"{asn}"}}"#),
            },
            Command::PeerRemove { ip, node } => KvWrite::Delete {
                key: peer_key(*ip, node.as_deref()),
            },
            Command::NodeMesh { enabled } => KvWrite::Put {
                key: LegacyKey::NodeMesh,
                value: format!(r#"{{"enabled":{enabled}}}"#),
            },
            Command::DefaultAs { asn } => KvWrite::Put {
                key: LegacyKey::DefaultAsn,
                value: asn.to_string(),
            },
        }
    }
}

fn peer_key(ip: IpAddr, node: Option<&str>) -> LegacyKey {
    match node {
        Some(n) => LegacyKey::HostPeer(n.to_owned(), ip),
        None => LegacyKey::GlobalPeer(ip),
    }
}

fn parse_ip(argument: &'static str, text: &str) -> Result<IpAddr, ArgumentError> {
    text.trim().parse().map_err(|_| ArgumentError {
        argument,
        value: text.to_owned(),
        problem: "not an IPv4 or IPv6 address".into(),
    })
}

fn parse_asn(argument: &'static str, text: &str) -> Result<Asn, ArgumentError> {
    text.parse().map_err(|_| ArgumentError {
        argument,
        value: text.to_owned(),
        problem: "expected an AS number 1..4294967295 (or asdot such as 1.10)".into(),
    })
}

fn parse_node(text: &str) -> Result<String, ArgumentError> {
    let ok = !text.is_empty()
        && !text.contains('/')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(ArgumentError {
            argument: "--node",
            value: text.to_owned(),
            problem: "a node name is one non-empty path segment without '/' or spaces".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calico_v1::LegacyStore;

    fn put(c: &Command) -> (String, String) {
        match c.write() {
            KvWrite::Put { key, value } => (key.path(), value),
            other => panic!("expected a put, got {other:?}"),
        }
    }

    #[test]
    fn rr_add_writes_the_readme_curl_record() {
        let c = Command::rr_add("172.17.42.40", Some("1.0.0.1")).unwrap();
        assert_eq!(
            put(&c),
            (
                "rr_v4/172.17.42.40".into(),
                r#"{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}"#.into()
            )
        );
        let c = Command::rr_add("fd00::40", Some("16777217")).unwrap();
        assert_eq!(
            put(&c),
            (
                "rr_v6/fd00::40".into(),
                r#"{"ip":"fd00::40","cluster_id":"1.0.0.1"}"#.into()
            )
        );
        let c = Command::rr_add("172.17.42.40", None).unwrap();
        assert_eq!(put(&c).1, r#"{"ip":"172.17.42.40","cluster_id":""}"#);
    }

    #[test]
    fn rr_add_refuses_cluster_id_zero_naming_the_argument() {
        for zero in ["0", "0.0.0.0"] {
            let e = Command::rr_add("172.17.42.40", Some(zero)).unwrap_err();
            assert_eq!(e.argument, "--cluster-id");
            assert_eq!(e.value, zero);
            assert!(e.to_string().contains("0.0.0.0 is no cluster id"), "{e}");
        }
    }

    #[test]
    fn peer_add_writes_calicoctl_peer_records() {
        let c = Command::peer_add("172.17.42.40", "65100", None).unwrap();
        assert_eq!(
            put(&c),
            (
                "global/peer_v4/172.17.42.40".into(),
                r#"{"ip":"172.17.42.40","as_num":"65100"}"#.into()
            )
        );
        let c = Command::peer_add("fd00::40", "1.10", Some("kube-node1")).unwrap();
        assert_eq!(
            put(&c),
            (
                "host/kube-node1/peer_v6/fd00::40".into(),
                r#"{"ip":"fd00::40","as_num":"65546"}"#.into()
            )
        );
    }

    #[test]
    fn node_mesh_and_default_as_write_global_keys() {
        assert_eq!(
            put(&Command::node_mesh("off").unwrap()),
            ("global/node_mesh".into(), r#"{"enabled":false}"#.into())
        );
        assert_eq!(
            put(&Command::default_as("65123").unwrap()),
            ("global/as_num".into(), "65123".into())
        );
    }

    #[test]
    fn removals_delete_the_key_that_add_wrote() {
        let add = Command::peer_add("10.0.0.1", "65000", Some("n1")).unwrap();
        let rm = Command::peer_remove("10.0.0.1", Some("n1")).unwrap();
        assert_eq!(add.write().key(), rm.write().key());
        let add = Command::rr_add("10.0.0.1", None).unwrap();
        let rm = Command::rr_remove("10.0.0.1").unwrap();
        assert_eq!(add.write().key(), rm.write().key());
        assert!(matches!(rm.write(), KvWrite::Delete { .. }));
    }

    #[test]
    fn nonsense_arguments_are_refused_by_name() {
        let e = Command::rr_add("172.17.42.400", None).unwrap_err();
        assert_eq!(e.argument, "<ip>");
        let e = Command::rr_add("172.17.42.40", Some("1.0.0")).unwrap_err();
        assert_eq!(e.argument, "--cluster-id");
        assert!(e.to_string().contains("1.0.0"), "{e}");
        let e = Command::peer_add("172.17.42.40", "abc", None).unwrap_err();
        assert_eq!(e.argument, "--as");
        let e = Command::peer_add("172.17.42.40", "0", None).unwrap_err();
        assert_eq!(e.argument, "--as");
        let e = Command::peer_add("172.17.42.40", "65000", Some("a/b")).unwrap_err();
        assert_eq!(e.argument, "--node");
        let e = Command::node_mesh("maybe").unwrap_err();
        assert_eq!(e.argument, "on|off");
        let e = Command::default_as("4294967296").unwrap_err();
        assert_eq!(e.argument, "<as>");
    }

    #[test]
    fn every_write_decodes_back_to_what_the_command_meant() {
        let mut store = LegacyStore::new("/calico/bgp/v1");
        for c in [
            Command::rr_add("172.17.42.40", Some("1.0.0.1")).unwrap(),
            Command::peer_add("172.17.42.40", "65100", None).unwrap(),
            Command::peer_add("172.17.42.41", "65100", Some("n1")).unwrap(),
            Command::node_mesh("off").unwrap(),
            Command::default_as("65123").unwrap(),
        ] {
            let KvWrite::Put { key, value } = c.write() else {
                unreachable!()
            };
            let u = store.set(format!("/calico/bgp/v1/{}", key.path()), value);
            assert!(u.rejected.is_empty(), "{c:?}: {:?}", u.rejected);
            assert_eq!(u.changes.len(), 1, "{c:?}");
        }
        let t = store.snapshot();
        assert_eq!(t.route_reflectors.len(), 1);
        assert_eq!(t.peers.len(), 2);
        assert!(!t.defaults.node_mesh);
        assert_eq!(t.defaults.asn, Some(Asn(65123)));
    }
}

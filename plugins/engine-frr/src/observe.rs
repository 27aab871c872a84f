//! bgpd's JSON -> session states (pure): `show bgp view <v> neighbors json`
//! gives each session's state, route counts, the peer's graceful-restart
//! families and where the session stands in bgpd's own restart;
//! `show bgp view <v> <afi> unicast json` tells which best routes came from
//! which peer.
//!
//! FRR sends a client's own routes back to it (the client drops them by
//! ORIGINATOR_ID); BIRD and GoBGP do not. So that counts compare across
//! daemons (`rrd status`, a migration's route check), a client session's
//! routes sent leave out the best routes learned from that client.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use rrd_core::{since_unix_seconds, Asn, Family, PeerKey, Recovery, SessionState, SessionStatus};
use serde_json::Value;

/// The session name of a neighbor: its description (rrd writes the
/// session name there), else `frr_<address>`.
pub fn key_of(address: IpAddr, neighbor: &Value) -> PeerKey {
    match neighbor["nbrDesc"].as_str() {
        Some(d) if !d.is_empty() => PeerKey(d.to_owned()),
        _ => PeerKey(format!("frr_{address}").replace(['.', ':'], "_")),
    }
}

/// bgpd's state name as an FSM state.
pub(crate) fn state_of(text: &str) -> SessionState {
    match text {
        "Established" => SessionState::Established,
        "Connect" => SessionState::Connect,
        "Active" => SessionState::Active,
        "OpenSent" => SessionState::OpenSent,
        "OpenConfirm" => SessionState::OpenConfirm,
        "Idle" | "Clearing" | "Deleted" => SessionState::Idle,
        _ => SessionState::Down,
    }
}

/// The family of one of bgpd's JSON address-family keys.
pub(crate) fn family_of(af: &str) -> Option<Family> {
    match af {
        "ipv4Unicast" => Some(Family::Ipv4),
        "ipv6Unicast" => Some(Family::Ipv6),
        _ => None,
    }
}

fn json_family(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4Unicast",
        Family::Ipv6 => "ipv6Unicast",
    }
}

/// Families for which the peer announced graceful restart with a tuple
/// (a capability without tuples protects nothing).
fn peer_graceful_restart(n: &Value) -> BTreeSet<Family> {
    let caps = &n["neighborCapabilities"];
    let received = matches!(
        caps["gracefulRestart"].as_str(),
        Some("received" | "advertisedAndReceived")
    );
    if !received {
        return BTreeSet::new();
    }
    caps["addressFamiliesByPeer"]
        .as_object()
        .map(|m| m.keys().filter_map(|k| family_of(k)).collect())
        .unwrap_or_default()
}

/// Where an Established session stands in bgpd's own graceful restart.
fn recovery(n: &Value) -> Recovery {
    let gr = &n["gracefulRestartInfo"];
    let negotiated =
        n["neighborCapabilities"]["gracefulRestart"].as_str() == Some("advertisedAndReceived");
    if !negotiated {
        return Recovery::Done;
    }
    let mut worst = Recovery::Done;
    for af in ["ipv4Unicast", "ipv6Unicast"] {
        let recv = gr["endOfRibRecv"][af].as_bool();
        let sent = gr["endOfRibSend"][af].as_bool();
        let r = match (recv, sent) {
            (Some(false), _) => Recovery::AwaitingEndOfRib,
            (_, Some(false)) => Recovery::RoutesDeferred,
            _ => Recovery::Done,
        };
        worst = worst.max(r);
    }
    worst
}

/// One neighbor of `show bgp view <v> neighbors json`.
pub fn session_of(
    address: IpAddr,
    n: &Value,
    best_from_peer: &BTreeMap<IpAddr, u64>,
) -> SessionStatus {
    let state = state_of(n["bgpState"].as_str().unwrap_or(""));
    let afs = n["addressFamilyInfo"].as_object();
    let count = |field: &str| -> Option<u64> {
        let afs = afs?;
        let values: Vec<u64> = afs
            .iter()
            .filter(|(k, _)| family_of(k).is_some())
            .filter_map(|(_, v)| v[field].as_u64())
            .collect();
        // Saturating: the counts come from the daemon.
        (!values.is_empty()).then(|| values.iter().fold(0, |a: u64, v| a.saturating_add(*v)))
    };
    let rr_client = afs.map(|m| m.values().any(|v| v["routeReflectorClient"] == true));
    let received = count("acceptedPrefixCounter");
    let sent = count("sentPrefixCounter").map(|s| {
        if rr_client == Some(true) {
            s.saturating_sub(best_from_peer.get(&address).copied().unwrap_or(0))
        } else {
            s
        }
    });
    let established = state == SessionState::Established;
    let info = if established {
        String::new()
    } else {
        n["lastResetDueTo"].as_str().unwrap_or_default().to_owned()
    };
    SessionStatus {
        key: key_of(address, n),
        address,
        remote_as: n["remoteAs"]
            .as_u64()
            .and_then(|a| u32::try_from(a).ok())
            .map(Asn),
        state,
        // bgpd's own epoch of the Established transition (`bgpTimerUpString`
        // is an uptime, not a time).
        since: if established {
            n["bgpTimerUpEstablishedEpoch"]
                .as_u64()
                .and_then(since_unix_seconds)
        } else {
            None
        },
        info,
        routes_received: if established {
            received.or(Some(0))
        } else {
            received
        },
        routes_sent: if established { sent.or(Some(0)) } else { sent },
        peer_graceful_restart: peer_graceful_restart(n),
        rr_client,
        recovery: if established {
            recovery(n)
        } else {
            Recovery::Done
        },
        peer_router_id: if established {
            remote_router_id(n)
        } else {
            None
        },
    }
}

/// `remoteRouterId`: the BGP identifier of the peer's OPEN (`0.0.0.0`
/// before there was one).
pub(crate) fn remote_router_id(n: &Value) -> Option<Ipv4Addr> {
    n["remoteRouterId"]
        .as_str()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
        .filter(|id| !id.is_unspecified())
}

/// Every neighbor of `show bgp view <v> neighbors json`, sorted by key.
pub fn sessions(neighbors: &Value, best_from_peer: &BTreeMap<IpAddr, u64>) -> Vec<SessionStatus> {
    let mut out: Vec<SessionStatus> = neighbors
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(a, n)| Some(session_of(a.parse().ok()?, n, best_from_peer)))
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The families with an Established route-reflector client that has sent
/// routes back: the tables worth reading for [`best_paths_by_peer`].
pub fn families_to_count(neighbors: &Value) -> BTreeSet<Family> {
    let mut out = BTreeSet::new();
    for n in neighbors.as_object().into_iter().flat_map(|m| m.values()) {
        for f in [Family::Ipv4, Family::Ipv6] {
            let af = &n["addressFamilyInfo"][json_family(f)];
            if af["routeReflectorClient"] == true
                && af["sentPrefixCounter"].as_u64().unwrap_or(0) > 0
                && af["acceptedPrefixCounter"].as_u64().unwrap_or(0) > 0
            {
                out.insert(f);
            }
        }
    }
    out
}

/// How many best routes of a table (`show bgp view <v> <afi> unicast
/// json`) each peer contributed.
pub fn best_paths_by_peer(table: &Value, into: &mut BTreeMap<IpAddr, u64>) {
    for paths in table["routes"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for p in paths.as_array().into_iter().flatten() {
            let best = p["bestpath"] == true || p["bestpath"]["overall"] == true;
            if !best {
                continue;
            }
            if let Some(peer) = p["peerId"].as_str().and_then(|s| s.parse().ok()) {
                *into.entry(peer).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("observe/neighbors-established.json")).unwrap()
    }

    #[test]
    fn counts_past_u64_saturate_and_an_impossible_epoch_is_no_since() {
        // Shown by the fuzz target `frr` (fuzz/): the families' counts were
        // summed unchecked, and an epoch after 9999-12-31 (or past what
        // `SystemTime` holds) panicked.
        let a: IpAddr = "198.51.100.2".parse().unwrap();
        for epoch in [253_402_300_800, u64::MAX] {
            let n = serde_json::json!({
                "bgpState": "Established",
                "bgpTimerUpEstablishedEpoch": epoch,
                "addressFamilyInfo": {
                    "ipv4Unicast": {"acceptedPrefixCounter": u64::MAX, "sentPrefixCounter": u64::MAX},
                    "ipv6Unicast": {"acceptedPrefixCounter": 1, "sentPrefixCounter": 1}
                }
            });
            let s = session_of(a, &n, &BTreeMap::new());
            assert_eq!(s.routes_received, Some(u64::MAX));
            assert_eq!(s.routes_sent, Some(u64::MAX));
            assert_eq!(s.since, None);
        }
    }

    #[test]
    fn an_established_client_session_reads_back_with_counts_and_graceful_restart() {
        let s = sessions(&fixture(), &BTreeMap::new());
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.key.0, "Node_198_51_100_2");
        assert_eq!(s.state, SessionState::Established);
        assert_eq!(s.remote_as, Some(Asn(64512)));
        assert_eq!(s.routes_received, Some(1));
        assert_eq!(s.routes_sent, Some(1));
        assert_eq!(s.rr_client, Some(true));
        assert_eq!(s.peer_graceful_restart, BTreeSet::from([Family::Ipv4]));
        assert_eq!(s.recovery, Recovery::Done);
        assert_eq!(s.since.as_deref(), Some("2026-12-03T18:37:14Z"));
        assert_eq!(s.peer_router_id, Some(Ipv4Addr::new(198, 51, 100, 2)));
    }

    #[test]
    fn the_peers_router_id_is_its_opens_while_established() {
        let a: IpAddr = "198.51.100.2".parse().unwrap();
        let mut n = fixture()["198.51.100.2"].clone();
        n["remoteRouterId"] = "203.0.113.200".into();
        let id = |n: &Value| session_of(a, n, &BTreeMap::new()).peer_router_id;
        assert_eq!(id(&n), Some(Ipv4Addr::new(203, 0, 113, 200)));
        n["bgpState"] = "Active".into();
        assert_eq!(id(&n), None);
        n["bgpState"] = "Established".into();
        n["remoteRouterId"] = "0.0.0.0".into();
        assert_eq!(id(&n), None);
    }

    #[test]
    fn a_clients_own_best_routes_are_not_counted_as_sent_to_it() {
        let a: IpAddr = "198.51.100.2".parse().unwrap();
        let table = serde_json::json!({"routes": {
            "203.0.113.0/24": [{"valid": true, "bestpath": true, "peerId": "198.51.100.2"}],
            "203.0.113.128/25": [{"valid": true, "peerId": "198.51.100.2"},
                                  {"valid": true, "bestpath": true, "peerId": "198.51.100.3"}]
        }});
        let mut best = BTreeMap::new();
        best_paths_by_peer(&table, &mut best);
        assert_eq!(best[&a], 1);
        assert_eq!(best[&"198.51.100.3".parse::<IpAddr>().unwrap()], 1);
        let s = sessions(&fixture(), &best);
        assert_eq!(s[0].routes_sent, Some(0));
        assert_eq!(
            families_to_count(&fixture()),
            BTreeSet::from([Family::Ipv4])
        );
    }

    #[test]
    fn end_of_rib_flags_say_where_a_session_stands_in_a_restart() {
        let mut n = fixture()["198.51.100.2"].clone();
        assert_eq!(recovery(&n), Recovery::Done);
        n["gracefulRestartInfo"]["endOfRibSend"]["ipv4Unicast"] = false.into();
        assert_eq!(recovery(&n), Recovery::RoutesDeferred);
        n["gracefulRestartInfo"]["endOfRibRecv"]["ipv4Unicast"] = false.into();
        assert_eq!(recovery(&n), Recovery::AwaitingEndOfRib);
        n["neighborCapabilities"]["gracefulRestart"] = "advertised".into();
        assert_eq!(
            recovery(&n),
            Recovery::Done,
            "no graceful restart, no End-of-RIB to wait for"
        );
    }

    #[test]
    fn a_peer_without_graceful_restart_tuples_protects_no_family() {
        let mut n = fixture()["198.51.100.2"].clone();
        n["neighborCapabilities"]["addressFamiliesByPeer"] = "none".into();
        assert!(peer_graceful_restart(&n).is_empty());
        let mut n = fixture()["198.51.100.2"].clone();
        n["neighborCapabilities"]["gracefulRestart"] = "advertised".into();
        assert!(peer_graceful_restart(&n).is_empty());
    }

    #[test]
    fn a_session_that_is_down_says_why() {
        let mut n = fixture()["198.51.100.2"].clone();
        n["bgpState"] = "Active".into();
        let s = session_of("198.51.100.2".parse().unwrap(), &n, &BTreeMap::new());
        assert_eq!(s.state, SessionState::Active);
        assert_eq!(s.info, "No AFI/SAFI activated for peer");
        assert_eq!(s.since, None);
    }
}

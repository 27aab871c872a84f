//! ListPeer -> [`SessionStatus`]: FSM state, since when, route counts, the
//! RR-client flag, the families the peer announced graceful restart for
//! (decoded from the received capabilities), and where the session stands
//! in gobgpd's own restart (`local_restarting`, per-family End-of-RIB).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use prost::Message;
use rrd_core::{since_unix_seconds, Asn, Family, PeerKey, Recovery, SessionState, SessionStatus};

use crate::apipb;
use crate::apipb::peer_state::{AdminState, SessionState as ApiState};

/// The session name of a listed peer: its description (rrd writes the
/// [`PeerKey`] there); peers someone else added get `gobgp_<address>`.
pub fn key_of(peer: &apipb::Peer) -> PeerKey {
    let conf = peer.conf.as_ref();
    match conf.map(|c| c.description.as_str()) {
        Some(d) if !d.is_empty() => PeerKey(d.to_owned()),
        _ => PeerKey(format!(
            "gobgp_{}",
            conf.map(|c| c.neighbor_address.replace(['.', ':'], "_"))
                .unwrap_or_default()
        )),
    }
}

fn state_of(s: &apipb::PeerState) -> SessionState {
    if s.admin_state == AdminState::Down as i32 {
        return SessionState::Down;
    }
    match ApiState::try_from(s.session_state).unwrap_or(ApiState::Unknown) {
        ApiState::Unknown | ApiState::Idle => SessionState::Idle,
        ApiState::Connect => SessionState::Connect,
        ApiState::Active => SessionState::Active,
        ApiState::Opensent => SessionState::OpenSent,
        ApiState::Openconfirm => SessionState::OpenConfirm,
        ApiState::Established => SessionState::Established,
    }
}

fn rfc3339(t: &prost_types::Timestamp) -> Option<String> {
    since_unix_seconds(u64::try_from(t.seconds).ok()?)
}

/// Families in the peer's graceful-restart capability (the tuples: a
/// capability without tuples protects nothing: docs/migration.md).
pub fn graceful_restart_families(caps: &[prost_types::Any]) -> BTreeSet<Family> {
    let mut out = BTreeSet::new();
    for cap in caps {
        if !cap.type_url.ends_with("/apipb.GracefulRestartCapability") {
            continue;
        }
        let Ok(gr) = apipb::GracefulRestartCapability::decode(cap.value.as_slice()) else {
            continue;
        };
        for t in gr.tuples {
            match t.family.map(|f| (f.afi, f.safi)) {
                Some((1, 1)) => out.insert(Family::Ipv4),
                Some((2, 1)) => out.insert(Family::Ipv6),
                _ => false,
            };
        }
    }
    out
}

fn has_gr_capability(state: &apipb::PeerState) -> bool {
    state
        .remote_cap
        .iter()
        .any(|c| c.type_url.ends_with("/apipb.GracefulRestartCapability"))
}

/// gobgpd's own graceful restart on this peer: while `local_restarting`
/// (R/F bits sent, set by AddPeer) it waits for End-of-RIB on every family
/// with MP graceful restart, and clears the flag on every peer at once
/// when all peers sent theirs, sending its routes and End-of-RIB then
/// (3.10 `handleFSMMessage`, "sync finished").
pub fn recovery_of(peer: &apipb::Peer) -> Recovery {
    let restarting = peer
        .graceful_restart
        .as_ref()
        .is_some_and(|g| g.local_restarting);
    if !restarting {
        return Recovery::Done;
    }
    let awaiting = peer.afi_safis.iter().any(|a| {
        a.mp_graceful_restart
            .as_ref()
            .and_then(|m| m.state.as_ref())
            .is_some_and(|s| s.enabled && !s.end_of_rib_received)
    });
    if awaiting {
        Recovery::AwaitingEndOfRib
    } else {
        Recovery::RoutesDeferred
    }
}

/// One session as gobgpd reports it.
pub fn session_of(peer: &apipb::Peer) -> Option<SessionStatus> {
    let conf = peer.conf.as_ref()?;
    let address: IpAddr = conf.neighbor_address.parse().ok()?;
    let state = peer.state.clone().unwrap_or_default();
    let session = state_of(&state);
    let timers = peer.timers.as_ref().and_then(|t| t.state.as_ref());
    let since = timers
        .and_then(|t| {
            if session == SessionState::Established {
                t.uptime.as_ref()
            } else {
                t.downtime.as_ref()
            }
        })
        .and_then(rfc3339);
    // gobgpd's advertised count includes one End-of-RIB marker per family
    // when graceful restart was negotiated (its `getBestFromLocal`); and
    // nothing is sent on a session that is not up.
    let peer_families = graceful_restart_families(&state.remote_cap);
    let gr_negotiated =
        peer.graceful_restart.as_ref().is_some_and(|g| g.enabled) && has_gr_capability(&state);
    let (mut received, mut accepted, mut advertised) = (0u64, 0u64, 0u64);
    let mut counted = false;
    for a in &peer.afi_safis {
        if let Some(s) = &a.state {
            counted = true;
            // Saturating: the counts come from the daemon.
            received = received.saturating_add(s.received);
            accepted = accepted.saturating_add(s.accepted);
            if session == SessionState::Established {
                advertised = advertised
                    .saturating_add(s.advertised.saturating_sub(u64::from(gr_negotiated)));
            }
        }
    }
    let mut info = Vec::new();
    if state.admin_state == AdminState::Down as i32 {
        info.push("admin down".to_owned());
    } else if state.admin_state == AdminState::PfxCt as i32 {
        info.push("prefix limit reached".to_owned());
    }
    if received != accepted {
        info.push(format!("{received} received, {accepted} accepted"));
    }
    if state.flops > 0 {
        info.push(format!("{} flaps", state.flops));
    }
    let gr = peer.graceful_restart.as_ref();
    if gr.is_some_and(|g| g.local_restarting) {
        info.push("restarting (R/F bits sent)".to_owned());
    }
    Some(SessionStatus {
        key: key_of(peer),
        address,
        remote_as: (conf.peer_asn != 0).then_some(Asn(conf.peer_asn)),
        state: session,
        since,
        info: info.join(", "),
        routes_received: counted.then_some(accepted),
        routes_sent: counted.then_some(advertised),
        peer_graceful_restart: peer_families,
        rr_client: peer
            .route_reflector
            .as_ref()
            .map(|r| r.route_reflector_client),
        recovery: recovery_of(peer),
        peer_router_id: router_id_of(&state, session),
    })
}

/// [`session_of`] for a listing that asked for the routes sent
/// (`sent_counted`) or not: without, gobgpd says 0, which is no count.
pub fn session_of_listing(peer: &apipb::Peer, sent_counted: bool) -> Option<SessionStatus> {
    let mut session = session_of(peer)?;
    if !sent_counted {
        session.routes_sent = None;
    }
    Some(session)
}

/// The BGP identifier of the peer's OPEN (`PeerState.router_id`): gobgpd
/// keeps the last one after the session went down, and says `0.0.0.0` (or
/// nothing) before any, so only an Established session's counts.
fn router_id_of(state: &apipb::PeerState, session: SessionState) -> Option<Ipv4Addr> {
    if session != SessionState::Established {
        return None;
    }
    state
        .router_id
        .parse::<Ipv4Addr>()
        .ok()
        .filter(|id| !id.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any<M: Message>(name: &str, m: &M) -> prost_types::Any {
        prost_types::Any {
            type_url: format!("type.googleapis.com/apipb.{name}"),
            value: m.encode_to_vec(),
        }
    }

    fn established(afi_safis: Vec<apipb::AfiSafi>, uptime: i64) -> apipb::Peer {
        apipb::Peer {
            conf: Some(apipb::PeerConf {
                neighbor_address: "198.51.100.2".into(),
                ..Default::default()
            }),
            state: Some(apipb::PeerState {
                session_state: ApiState::Established as i32,
                ..Default::default()
            }),
            timers: Some(apipb::Timers {
                config: None,
                state: Some(apipb::TimersState {
                    uptime: Some(prost_types::Timestamp {
                        seconds: uptime,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
            }),
            afi_safis,
            ..Default::default()
        }
    }

    #[test]
    fn counts_past_u64_saturate_and_a_time_after_year_9999_is_no_since() {
        // Shown by the fuzz target `gobgp` (fuzz/): the families' counts
        // were added unchecked, and formatting a time after 9999-12-31
        // panicked.
        let full = apipb::AfiSafi {
            state: Some(apipb::AfiSafiState {
                received: u64::MAX,
                accepted: u64::MAX,
                advertised: u64::MAX,
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = session_of(&established(vec![full, full], 253_402_300_800)).unwrap();
        assert_eq!(s.routes_received, Some(u64::MAX));
        assert_eq!(s.routes_sent, Some(u64::MAX));
        assert_eq!(s.since, None);
        let s = session_of(&established(vec![], 253_402_300_799)).unwrap();
        assert_eq!(s.since.as_deref(), Some("9999-12-31T23:59:59Z"));
    }

    #[test]
    fn graceful_restart_families_come_from_the_capability_tuples() {
        let gr = apipb::GracefulRestartCapability {
            flags: 0x08,
            time: 120,
            tuples: vec![apipb::GracefulRestartCapabilityTuple {
                family: Some(apipb::Family { afi: 1, safi: 1 }),
                flags: 0x80,
            }],
        };
        let mp = apipb::MultiProtocolCapability {
            family: Some(apipb::Family { afi: 2, safi: 1 }),
        };
        let caps = [
            any("MultiProtocolCapability", &mp),
            any("GracefulRestartCapability", &gr),
        ];
        assert_eq!(
            graceful_restart_families(&caps),
            BTreeSet::from([Family::Ipv4])
        );
        let bare = apipb::GracefulRestartCapability {
            tuples: vec![],
            ..gr
        };
        assert!(graceful_restart_families(&[any("GracefulRestartCapability", &bare)]).is_empty());
    }

    #[test]
    fn an_established_peer_reports_uptime_and_accepted_and_advertised_counts() {
        let counts = apipb::AfiSafi {
            state: Some(apipb::AfiSafiState {
                received: 3,
                accepted: 2,
                advertised: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut peer = established(vec![counts], 1_700_000_000);
        let conf = peer.conf.as_mut().expect("established() sets conf");
        conf.description = "Node_198_51_100_2".into();
        conf.peer_asn = 64512;
        peer.route_reflector = Some(apipb::RouteReflector {
            route_reflector_client: true,
            ..Default::default()
        });
        let s = session_of(&peer).unwrap();
        assert_eq!(s.key.0, "Node_198_51_100_2");
        assert_eq!(s.state, SessionState::Established);
        assert_eq!(s.since.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!((s.routes_received, s.routes_sent), (Some(2), Some(5)));
        assert_eq!(s.info, "3 received, 2 accepted");
        assert_eq!(s.rr_client, Some(true));
    }

    #[test]
    fn the_peers_router_id_counts_while_established_and_never_unspecified() {
        let mut peer = established(vec![], 1_700_000_000);
        let state = peer.state.as_mut().expect("established() sets state");
        assert_eq!(state.router_id, "", "no OPEN yet: gobgpd says nothing");
        assert_eq!(session_of(&peer).unwrap().peer_router_id, None);
        let state = peer.state.as_mut().unwrap();
        state.router_id = "0.0.0.0".into();
        assert_eq!(session_of(&peer).unwrap().peer_router_id, None);
        let state = peer.state.as_mut().unwrap();
        state.router_id = "203.0.113.200".into();
        assert_eq!(
            session_of(&peer).unwrap().peer_router_id,
            Some(Ipv4Addr::new(203, 0, 113, 200))
        );
        // Down again: the id of the last OPEN is no longer the peer's word.
        let state = peer.state.as_mut().unwrap();
        state.session_state = ApiState::Active as i32;
        assert_eq!(session_of(&peer).unwrap().peer_router_id, None);
    }

    #[test]
    fn a_restarting_gobgpd_awaits_end_of_rib_then_defers_its_routes() {
        // As ListPeer showed during a migration (gobgp neighbor -j).
        let peer = |eor: bool, restarting: bool| apipb::Peer {
            graceful_restart: Some(apipb::GracefulRestart {
                enabled: true,
                restart_time: 120,
                deferral_time: 360,
                local_restarting: restarting,
                ..Default::default()
            }),
            afi_safis: vec![apipb::AfiSafi {
                mp_graceful_restart: Some(apipb::MpGracefulRestart {
                    config: Some(apipb::MpGracefulRestartConfig { enabled: true }),
                    state: Some(apipb::MpGracefulRestartState {
                        enabled: true,
                        received: eor,
                        advertised: true,
                        end_of_rib_received: eor,
                        end_of_rib_sent: false,
                    }),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(recovery_of(&peer(false, true)), Recovery::AwaitingEndOfRib);
        assert_eq!(recovery_of(&peer(true, true)), Recovery::RoutesDeferred);
        assert_eq!(recovery_of(&peer(true, false)), Recovery::Done);
        assert_eq!(recovery_of(&peer(false, false)), Recovery::Done);
    }

    #[test]
    fn a_peer_without_description_gets_a_key_from_its_address() {
        let peer = apipb::Peer {
            conf: Some(apipb::PeerConf {
                neighbor_address: "2001:db8::2".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(key_of(&peer).0, "gobgp_2001_db8__2");
        assert_eq!(session_of(&peer).unwrap().state, SessionState::Idle);
    }
}

//! Real BGP sessions: an RR gobgpd and a client gobgpd, both driven by a
//! `GobgpEngine`, in one private namespace (root needed). Shows what only a
//! live session can: which changes GoBGP applies in place, the graceful
//! restart families read from the peer's capabilities, and the R/F bits
//! of a restarting start on the wire.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use prost::Message;
use rrd_core::{
    plan, Asn, BgpEngine, ClusterId, Family, GracefulRestart, Neighbor, NextHop, PeerKey, Role,
    RouterSettings, RrConfig, RuleSet, SessionKind, SessionState, SessionStatus, StartMode,
    StopMode, Ttl,
};
use rrd_engine_gobgp::apipb;
use rrd_engine_gobgp::GobgpEngine;
use support::{managed, require_root_and_gobgpd, Logs, NetNs};
use tokio::time::Instant;

const RR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn neighbor(address: Ipv4Addr, source: Ipv4Addr, role: Role) -> Neighbor {
    Neighbor {
        kind: SessionKind::Node,
        address: IpAddr::V4(address),
        port: None,
        remote_as: Asn(64512),
        local_as: Asn(64512),
        local_as_explicit: false,
        role,
        source_address: Some(IpAddr::V4(source)),
        ttl: Ttl::Multihop(None),
        graceful_restart: GracefulRestart {
            enabled: true,
            restart_time: Some(60),
        },
        password: None,
        passive: false,
        next_hop: NextHop::Auto,
        allow_local_as: None,
        keepalive_time: None,
        families: BTreeSet::from([Family::Ipv4]),
        peer_node: None,
    }
}

fn speaker(me: Ipv4Addr, neighbors: Vec<Neighbor>) -> RrConfig {
    RrConfig {
        router: RouterSettings {
            rules: RuleSet::Legacy,
            router_id: me,
            local_as: Asn(64512),
            cluster_id: None,
            ipv4: Some(me),
            ipv6: None,
            listen_port: None,
        },
        neighbors: neighbors
            .into_iter()
            .map(|n| {
                let key = rrd_core::model::session_name(n.kind, n.address, n.port);
                (key, n)
            })
            .collect::<BTreeMap<PeerKey, Neighbor>>(),
    }
}

fn client_role() -> Role {
    Role::RrClient {
        cluster_id: Some(ClusterId(u32::from(Ipv4Addr::new(1, 0, 0, 1)))),
    }
}

async fn apply(engine: &mut GobgpEngine, desired: &RrConfig) -> Vec<String> {
    let held = engine.held().await.unwrap();
    let report = engine
        .apply(desired, &plan(desired, held.as_ref()))
        .await
        .unwrap();
    assert_eq!(engine.held().await.unwrap().as_ref(), Some(desired));
    report.operations
}

/// The only session of `engine`, once `ready` says so.
async fn wait_session(
    engine: &mut GobgpEngine,
    what: &str,
    ready: impl Fn(&SessionStatus) -> bool,
) -> SessionStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = engine.observe().await.unwrap();
        if let Some(s) = o.sessions.first().filter(|s| ready(s)) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The graceful-restart capability `engine`'s peer sent in its OPEN.
async fn received_gr_capability(engine: &GobgpEngine) -> apipb::GracefulRestartCapability {
    let peers = engine.client().unwrap().list_peer("", false).await.unwrap();
    let caps = &peers[0].state.as_ref().unwrap().remote_cap;
    let any = caps
        .iter()
        .find(|c| c.type_url.ends_with("apipb.GracefulRestartCapability"))
        .expect("a graceful restart capability");
    apipb::GracefulRestartCapability::decode(any.value.as_slice()).unwrap()
}

#[test]
fn keepalive_changes_apply_in_place_a_client_flag_change_resets_that_session_and_a_killed_client_leaves_stale_routes(
) {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("sessions", &["198.51.100.1/32", "198.51.100.2/32"]);
    let rr_config = managed(logs.path(), "rr", 50051);
    let client_config = managed(logs.path(), "client", 50052);
    ns.run(move || async move {
        let mut rr = GobgpEngine::new(rr_config);
        let mut client = GobgpEngine::new(client_config);
        // The RR comes up as a restarting speaker, as in a BIRD -> GoBGP
        // migration.
        rr.start(StartMode::Restarting).await.unwrap();
        client.start(StartMode::Fresh).await.unwrap();
        let mut rr_want = speaker(RR, vec![neighbor(CLIENT, RR, client_role())]);
        let client_want = speaker(CLIENT, vec![neighbor(RR, CLIENT, Role::NonClient)]);
        apply(&mut rr, &rr_want).await;
        apply(&mut client, &client_want).await;

        let up = wait_session(&mut rr, "Established", |s| {
            s.state == SessionState::Established
        })
        .await;
        assert_eq!(up.rr_client, Some(true));
        assert_eq!(up.peer_graceful_restart, BTreeSet::from([Family::Ipv4]));
        assert_eq!((up.routes_received, up.routes_sent), (Some(0), Some(0)));
        assert_eq!(up.peer_router_id, Some(CLIENT), "the client's OPEN");

        // The client saw the Restart-State bit and the F bit for IPv4.
        let gr = received_gr_capability(&client).await;
        assert_eq!(gr.flags & 0x08, 0x08, "R bit: {gr:?}");
        assert_eq!(gr.time, 60);
        assert_eq!(gr.tuples.len(), 1, "{gr:?}");
        assert_eq!(gr.tuples[0].family, Some(apipb::Family { afi: 1, safi: 1 }));
        assert_eq!(gr.tuples[0].flags & 0x80, 0x80, "F bit: {gr:?}");

        // Keepalive only: one UpdatePeer, the session stays up.
        rr_want
            .neighbors
            .values_mut()
            .for_each(|n| n.keepalive_time = Some(10));
        let ops = apply(&mut rr, &rr_want).await;
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert!(ops[0].starts_with("UpdatePeer 198.51.100.2"), "{ops:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = wait_session(&mut rr, "Established", |_| true).await;
        assert_eq!(after.state, SessionState::Established, "{after:?}");
        assert_eq!(after.since, up.since, "the session must not have restarted");
        let seen_by_client = wait_session(&mut client, "client view", |_| true).await;
        assert_eq!(seen_by_client.state, SessionState::Established);
        let client_up_since = seen_by_client.since.clone();
        assert!(client_up_since.is_some());

        // Client flag off: GoBGP's UpdatePeer would keep the old flag, so
        // the engine deletes and re-adds that peer; the client sees a flap.
        rr_want
            .neighbors
            .values_mut()
            .for_each(|n| n.role = Role::NonClient);
        let ops = apply(&mut rr, &rr_want).await;
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(
            ops[0].starts_with("DeletePeer") && ops[1].starts_with("AddPeer"),
            "{ops:?}"
        );
        // The client's session went down (Cease) and came back later.
        let again = wait_session(&mut client, "a new session", |s| {
            s.state == SessionState::Established && s.since != client_up_since
        })
        .await;
        eprintln!(
            "client session up since {client_up_since:?}, after the reset {:?}",
            again.since
        );
        let back = wait_session(&mut rr, "Established again", |s| {
            s.state == SessionState::Established
        })
        .await;
        assert_eq!(back.rr_client, Some(false));

        // A route from the client: counted by observe() and ListPath; kept
        // as stale when the client dies without a NOTIFICATION (SIGKILL).
        let added = std::process::Command::new("gobgp")
            .args(["-p", "50052", "global", "rib", "add", "203.0.113.0/24"])
            .args(["nexthop", "192.0.2.2", "-a", "ipv4"])
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        let with_route = wait_session(&mut rr, "the client's route", |s| {
            s.routes_received == Some(1)
        })
        .await;
        assert_eq!(with_route.state, SessionState::Established);
        let ipv4 = apipb::Family { afi: 1, safi: 1 };
        let api = rr.client().unwrap().clone();
        let rib = api
            .rib_summary(apipb::TableType::Global, "", ipv4)
            .await
            .unwrap();
        assert_eq!(
            (rib.destinations, rib.paths, rib.best, rib.stale),
            (1, 1, 1, 0)
        );
        let adj_in = api
            .rib_summary(apipb::TableType::AdjIn, "198.51.100.2", ipv4)
            .await
            .unwrap();
        assert_eq!(adj_in.paths, 1);

        client.stop(StopMode::PreserveForwarding).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rib = api
                .rib_summary(apipb::TableType::Global, "", ipv4)
                .await
                .unwrap();
            if rib.stale == 1 {
                assert_eq!(rib.paths, 1, "the stale path stays in the Loc-RIB");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no stale path after SIGKILL: {rib:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rr.stop(StopMode::Graceful).await.unwrap();
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

#[test]
fn only_the_peers_that_create_bgp_after_a_restarting_start_carry_local_restarting_and_watch_reports_new_peers(
) {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("restarting", &["198.51.100.1/32"]);
    let config = managed(logs.path(), "rr", 50051);
    ns.run(move || async move {
        let mut rr = GobgpEngine::new(config);
        rr.start(StartMode::Restarting).await.unwrap();
        let first = neighbor(Ipv4Addr::new(198, 51, 100, 2), RR, client_role());
        let mut want = speaker(RR, vec![first]);
        apply(&mut rr, &want).await;
        let mut events = rr.watch_sessions().await.unwrap();
        let later = neighbor(Ipv4Addr::new(198, 51, 100, 3), RR, client_role());
        let later_address = later.address;
        want.neighbors.insert(
            rrd_core::model::session_name(later.kind, later.address, None),
            later,
        );
        let ops = apply(&mut rr, &want).await;
        assert_eq!(ops.len(), 1, "{ops:?}");

        // The WatchEvent stream names the peer that was just added.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline, events.recv())
                .await
                .expect("a peer event for 198.51.100.3 within 10 s")
                .expect("the event stream stays open");
            if event.address == later_address {
                assert_eq!(event.key.0, "Node_198_51_100_3");
                break;
            }
        }

        let peers = rr.client().unwrap().list_peer("", false).await.unwrap();
        let restarting: BTreeMap<String, bool> = peers
            .iter()
            .map(|p| {
                (
                    p.conf.as_ref().unwrap().neighbor_address.clone(),
                    p.graceful_restart.as_ref().unwrap().local_restarting,
                )
            })
            .collect();
        assert_eq!(
            restarting,
            BTreeMap::from([
                ("198.51.100.2".into(), true),
                ("198.51.100.3".into(), false)
            ])
        );
        rr.stop(StopMode::PreserveForwarding).await.unwrap();
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

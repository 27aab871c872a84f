//! The cheap look (`observe_states`) against real gobgpd: one GetBgp and no
//! ListPeer of every peer once the peer-event stream is open, states that
//! follow a session up and down within a look (with a ListPeer of that one
//! peer, for what only an established session shows), peers rrd adds or
//! removes shown at once. An RR gobgpd and a client gobgpd in one private namespace (root
//! needed).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rrd_core::{
    plan, Asn, BgpEngine, ClusterId, Family, GracefulRestart, Neighbor, NextHop, Observation,
    PeerKey, Role, RouterSettings, RrConfig, RuleSet, SessionKind, SessionState, StartMode,
    StopMode, Ttl,
};
use rrd_engine_gobgp::{GobgpEngine, RpcCounts};
use support::{managed, require_root_and_gobgpd, Logs, NetNs};
use tokio::time::Instant;

const RR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// Nobody listens there: the session never comes up.
const ABSENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

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

async fn apply(engine: &mut GobgpEngine, desired: &RrConfig) {
    let held = engine.held().await.unwrap();
    engine
        .apply(desired, &plan(desired, held.as_ref()))
        .await
        .unwrap();
}

/// A states-only look and the RPCs it sent.
async fn look(engine: &mut GobgpEngine) -> (Observation, RpcCounts) {
    let before = engine.client().unwrap().rpc_counts();
    let o = engine.observe_states().await.unwrap();
    (o, engine.client().unwrap().rpc_counts().since(&before))
}

fn state_of(o: &Observation, address: Ipv4Addr) -> Option<SessionState> {
    o.sessions
        .iter()
        .find(|s| s.address == IpAddr::V4(address))
        .map(|s| s.state)
}

/// States-only looks every 100 ms until the state of `address` is
/// `wanted`; how long that took, and the look that saw it. Every look
/// must cost one GetBgp, and one ListPeer of `address` at most (when its
/// session came up or went down).
async fn until_state(
    engine: &mut GobgpEngine,
    address: Ipv4Addr,
    wanted: impl Fn(SessionState) -> bool,
    within: Duration,
) -> (Duration, Observation) {
    let started = Instant::now();
    loop {
        let (o, sent) = look(engine).await;
        assert_eq!(
            RpcCounts {
                list_peer_one: 0,
                ..sent
            },
            RpcCounts {
                get_bgp: 1,
                ..RpcCounts::default()
            },
            "a states-only look sends GetBgp and nothing else but ListPeers of one peer"
        );
        assert!(sent.list_peer_one <= 1, "{sent:?}");
        if state_of(&o, address).is_some_and(&wanted) {
            return (started.elapsed(), o);
        }
        assert!(
            started.elapsed() < within,
            "{address} not as wanted within {within:?}: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn states_only_looks_send_no_listpeer_and_follow_a_session_up_and_down() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("states", &["198.51.100.1/32", "198.51.100.2/32"]);
    let rr_config = managed(logs.path(), "rr", 50051);
    let client_config = managed(logs.path(), "client", 50052);
    ns.run(move || async move {
        let mut rr = GobgpEngine::new(rr_config);
        let mut client = GobgpEngine::new(client_config);
        rr.start(StartMode::Fresh).await.unwrap();
        client.start(StartMode::Fresh).await.unwrap();
        let mut rr_want = speaker(RR, vec![neighbor(CLIENT, RR, client_role())]);
        apply(&mut rr, &rr_want).await;

        // The first look lists every peer (and opens the event stream);
        // the next ones do not.
        let before = rr.client().unwrap().rpc_counts();
        let first = rr.observe().await.unwrap();
        let sent = rr.client().unwrap().rpc_counts().since(&before);
        assert_eq!((sent.get_bgp, sent.list_peer_all), (1, 1), "{sent:?}");
        assert_eq!(first.sessions.len(), 1);

        // The client comes up: seen by states-only looks.
        let client_want = speaker(CLIENT, vec![neighbor(RR, CLIENT, Role::NonClient)]);
        apply(&mut client, &client_want).await;
        let (_, up) = until_state(
            &mut rr,
            CLIENT,
            |s| s == SessionState::Established,
            Duration::from_secs(60),
        )
        .await;
        // What gobgpd knows of an established session only (the client's
        // graceful-restart capability) is in the look that saw it come
        // up, not the first look's, taken before.
        assert_eq!(
            up.sessions[0].peer_graceful_restart,
            BTreeSet::from([Family::Ipv4]),
            "{up:?}"
        );
        let (o, sent) = look(&mut rr).await;
        assert_eq!(o.sessions[0].key.0, "Node_198_51_100_2");
        assert_eq!(sent.list_peer_one, 0, "read once, not at every look");

        // A peer rrd adds is there in the very next look, under its name.
        rr_want
            .neighbors
            .extend(speaker(RR, vec![neighbor(ABSENT, RR, client_role())]).neighbors);
        apply(&mut rr, &rr_want).await;
        let (o, _) = look(&mut rr).await;
        let added = o
            .sessions
            .iter()
            .find(|s| s.address == IpAddr::V4(ABSENT))
            .expect("the added peer in the next look");
        assert_eq!(added.key.0, "Node_198_51_100_9");
        assert_eq!(o.sessions.len(), 2);

        // The client goes away (Cease): the RR's session leaves
        // Established, seen within one observe_interval (1 s).
        client.stop(StopMode::Graceful).await.unwrap();
        let (took, _) = until_state(
            &mut rr,
            CLIENT,
            |s| s != SessionState::Established,
            Duration::from_secs(5),
        )
        .await;
        eprintln!("down seen by a states-only look after {took:?}");
        assert!(took < Duration::from_secs(1), "took {took:?}");

        // And a peer rrd removes is gone from the next look.
        rr_want
            .neighbors
            .retain(|_, n| n.address != IpAddr::V4(ABSENT));
        apply(&mut rr, &rr_want).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (o, _) = look(&mut rr).await;
        assert_eq!(o.sessions.len(), 1, "{o:?}");

        rr.stop(StopMode::Graceful).await.unwrap();
        // Without its daemon, a look finds it down.
        let o = rr.observe_states().await.unwrap();
        assert!(
            matches!(o.daemon, rrd_core::DaemonState::Down { .. }),
            "{o:?}"
        );
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

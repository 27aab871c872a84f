//! Unit tests of the Neighbor <-> Peer mapping (no daemon needed).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rrd_core::testing::conformance::{suite_config, EngineSuiteParams};
use rrd_core::{Asn, Family, Neighbor, NextHop, RrConfig, Ttl};

use super::*;

fn suite() -> RrConfig {
    suite_config(&EngineSuiteParams {
        router_id: "198.51.100.1".parse().unwrap(),
        local_v4: "198.51.100.1".parse().unwrap(),
        local_v6: Some("2001:db8::1".parse().unwrap()),
        neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
        neighbors_v6: vec!["2001:db8::2".parse().unwrap()],
    })
}

fn ctx(c: &RrConfig) -> MapContext {
    MapContext {
        router_id: c.router.router_id,
        global_asn: c.router.local_as.0,
        restart_time: 120,
        deferral_time: 360,
    }
}

/// What gobgpd lists after an AddPeer of `p`: the same message with the
/// defaults it fills in and a state. Only the differences rrd must cope
/// with are modelled (seen in `gobgp neighbor -j` output of gobgpd 3.10).
fn as_listed(mut p: apipb::Peer) -> apipb::Peer {
    if let Some(t) = p.transport.as_mut() {
        if t.remote_port == 179 {
            t.remote_port = 0;
        }
    }
    p.state = Some(apipb::PeerState {
        session_state: apipb::peer_state::SessionState::Active as i32,
        ..Default::default()
    });
    p
}

#[test]
fn every_suite_neighbor_survives_the_round_trip_through_a_listed_peer() {
    let c = suite();
    let ctx = ctx(&c);
    for (key, n) in &c.neighbors {
        let spec = spec_of_neighbor(key, n, &ctx).unwrap();
        let listed = spec_of_peer(&as_listed(peer_of_spec(&spec, false))).unwrap();
        assert_eq!(spec.difference(&listed), Difference::None, "{key}");
        // With the applied config at hand, the neighbor comes back as is.
        assert_eq!(&neighbor_of_spec(key, &listed, &ctx, Some(n)), n, "{key}");
        // Without it (rrd restarted), what comes back maps to the same peer.
        let guessed = neighbor_of_spec(key, &listed, &ctx, None);
        let again = spec_of_neighbor(key, &guessed, &ctx).unwrap();
        assert_eq!(again.difference(&listed), Difference::None, "{key}");
        assert_eq!(guessed.kind, n.kind, "{key}");
    }
}

#[test]
fn the_peer_message_carries_every_mapped_field() {
    let c = suite();
    let (key, n) = c
        .neighbors
        .iter()
        .find(|(_, n)| n.role.is_client() && n.address.is_ipv4())
        .unwrap();
    let mut n: Neighbor = n.clone();
    n.password = Some(Secret::new("s3cret"));
    n.port = Some(1179);
    n.passive = true;
    n.keepalive_time = Some(10);
    n.graceful_restart.restart_time = Some(60);
    let p = peer_of_spec(&spec_of_neighbor(key, &n, &ctx(&c)).unwrap(), true);
    let conf = p.conf.as_ref().unwrap();
    assert_eq!(conf.description, key.0);
    assert_eq!(conf.neighbor_address, n.address.to_string());
    assert_eq!((conf.peer_asn, conf.local_asn), (64512, 64512));
    assert_eq!(conf.auth_password, "s3cret");
    let rr = p.route_reflector.as_ref().unwrap();
    assert!(rr.route_reflector_client);
    assert_eq!(rr.route_reflector_cluster_id, "1.0.0.1");
    let t = p.transport.as_ref().unwrap();
    assert_eq!(t.local_address, "198.51.100.1");
    assert_eq!(t.remote_port, 1179);
    assert!(t.passive_mode);
    let m = p.ebgp_multihop.as_ref().unwrap();
    assert_eq!((m.enabled, m.multihop_ttl), (true, 255));
    let gr = p.graceful_restart.as_ref().unwrap();
    assert_eq!(
        (gr.enabled, gr.restart_time, gr.local_restarting),
        (true, 60, true)
    );
    let timers = p.timers.as_ref().unwrap().config.as_ref().unwrap();
    assert_eq!((timers.keepalive_interval, timers.hold_time), (10, 90));
    assert_eq!(p.afi_safis.len(), 1);
    let af = &p.afi_safis[0];
    assert_eq!(
        af.config.as_ref().unwrap().family,
        Some(apipb::Family { afi: 1, safi: 1 })
    );
    assert!(
        af.mp_graceful_restart
            .as_ref()
            .unwrap()
            .config
            .unwrap()
            .enabled
    );
}

#[test]
fn a_client_without_cluster_id_uses_the_router_id_like_gobgp() {
    let c = suite();
    let (key, n) = c
        .neighbors
        .iter()
        .find(|(_, n)| n.role.is_client())
        .unwrap();
    let mut n = n.clone();
    n.role = Role::RrClient { cluster_id: None };
    let spec = spec_of_neighbor(key, &n, &ctx(&c)).unwrap();
    assert_eq!(spec.cluster_id, Some(c.router.router_id));
    let back = neighbor_of_spec(key, &spec, &ctx(&c), None);
    assert_eq!(back.role, Role::RrClient { cluster_id: None });
}

#[test]
fn ttl_security_hops_become_gobgp_minimum_ttl_and_back() {
    let c = suite();
    let (key, n) = c.neighbors.iter().next().unwrap();
    let mut n = n.clone();
    n.ttl = Ttl::Security(1);
    let spec = spec_of_neighbor(key, &n, &ctx(&c)).unwrap();
    assert_eq!((spec.multihop, spec.ttl_min), (None, Some(255)));
    n.ttl = Ttl::Security(3);
    let spec = spec_of_neighbor(key, &n, &ctx(&c)).unwrap();
    assert_eq!(spec.ttl_min, Some(253));
    assert_eq!(
        neighbor_of_spec(key, &spec, &ctx(&c), None).ttl,
        Ttl::Security(3)
    );
}

#[test]
fn next_hop_self_and_ebgp_next_hop_keep_are_unsupported() {
    let c = suite();
    let (key, n) = c.neighbors.iter().next().unwrap();
    let mut n = n.clone();
    n.next_hop = NextHop::SetSelf;
    assert!(spec_of_neighbor(key, &n, &ctx(&c))
        .unwrap_err()
        .contains("next hop self"));
    n.next_hop = NextHop::Keep;
    assert!(
        spec_of_neighbor(key, &n, &ctx(&c)).is_ok(),
        "iBGP keeps next hops"
    );
    n.remote_as = Asn(65001);
    assert!(spec_of_neighbor(key, &n, &ctx(&c)).is_err());
}

#[test]
fn a_keepalive_change_is_the_only_in_place_difference() {
    let c = suite();
    let (key, n) = c
        .neighbors
        .iter()
        .find(|(_, n)| n.role.is_client())
        .unwrap();
    let before = spec_of_neighbor(key, n, &ctx(&c)).unwrap();
    let mut m = n.clone();
    m.keepalive_time = Some(5);
    let after = spec_of_neighbor(key, &m, &ctx(&c)).unwrap();
    assert_eq!(after.difference(&before), Difference::TimersOnly);
    m.remote_as = Asn(64513);
    let after = spec_of_neighbor(key, &m, &ctx(&c)).unwrap();
    assert_eq!(after.difference(&before), Difference::Reset);
    let mut r = n.clone();
    r.role = Role::NonClient;
    let after = spec_of_neighbor(key, &r, &ctx(&c)).unwrap();
    assert_eq!(after.difference(&before), Difference::Reset);
}

#[test]
fn an_unset_source_address_ignores_the_address_an_established_session_lists() {
    let c = suite();
    let (key, n) = c.neighbors.iter().next().unwrap();
    let mut n = n.clone();
    n.source_address = None;
    let want = spec_of_neighbor(key, &n, &ctx(&c)).unwrap();
    let mut live = want.clone();
    live.local_address = Some("198.51.100.1".parse().unwrap());
    assert_eq!(want.difference(&live), Difference::None);
    assert_eq!(neighbor_of_spec(key, &live, &ctx(&c), Some(&n)), n);
}

#[test]
fn neighbors_without_families_get_the_family_of_their_address() {
    let c = suite();
    let (key, n) = c
        .neighbors
        .iter()
        .find(|(_, n)| n.address.is_ipv6())
        .unwrap();
    let mut n = n.clone();
    n.families = BTreeSet::new();
    let spec = spec_of_neighbor(key, &n, &ctx(&c)).unwrap();
    assert_eq!(spec.families, BTreeSet::from([(2, 1)]));
    assert_eq!(
        neighbor_of_spec(key, &spec, &ctx(&c), None).families,
        BTreeSet::from([Family::Ipv6])
    );
}

#[test]
fn router_settings_map_to_start_bgp_and_back() {
    let c = suite();
    let spec = spec_of_router(&c.router, None);
    assert_eq!(spec.listen_port, 179);
    let g = global_of_spec(&spec);
    assert_eq!(g.asn, 64512);
    assert_eq!(g.router_id, "198.51.100.1");
    assert_eq!(g.listen_addresses, ["198.51.100.1", "2001:db8::1"]);
    let live = spec_of_global(&g).unwrap().unwrap();
    assert_eq!(live, spec);
    assert_eq!(router_of_global(&live, None, Some(&c.router)), c.router);
    let guessed = router_of_global(&live, None, None);
    assert_eq!(spec_of_router(&guessed, None), live);
    // The engine's listen_port override wins.
    assert_eq!(spec_of_router(&c.router, Some(-1)).listen_port, -1);
}

#[test]
fn get_bgp_with_asn_zero_means_no_bgp_running() {
    assert_eq!(spec_of_global(&apipb::Global::default()).unwrap(), None);
}

#[test]
fn no_listen_address_means_gobgp_wildcards() {
    let mut c = suite();
    c.router.ipv4 = None;
    c.router.ipv6 = None;
    let spec = spec_of_router(&c.router, None);
    assert!(global_of_spec(&spec).listen_addresses.is_empty());
    let listed = apipb::Global {
        listen_addresses: vec!["0.0.0.0".into(), "::".into()],
        ..global_of_spec(&spec)
    };
    assert_eq!(spec_of_global(&listed).unwrap().unwrap(), spec);
}

#[test]
fn a_listed_peer_with_a_bad_address_is_a_decode_error() {
    let p = apipb::Peer {
        conf: Some(apipb::PeerConf {
            neighbor_address: "not-an-ip".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(spec_of_peer(&p), Err(GobgpError::Decode { .. })));
}

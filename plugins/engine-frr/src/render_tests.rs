use std::net::Ipv4Addr;

use rrd_core::testing::conformance::{suite_config, EngineSuiteParams};
use rrd_core::{Asn, ClusterId, Role, Secret, Ttl};

use super::*;

/// The conformance suite's parameters the engine's unit tests share.
pub(crate) fn params() -> EngineSuiteParams {
    EngineSuiteParams {
        router_id: "198.51.100.1".parse().unwrap(),
        local_v4: "198.51.100.1".parse().unwrap(),
        local_v6: Some("2001:db8::1".parse().unwrap()),
        neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
        neighbors_v6: vec!["2001:db8::2".parse().unwrap()],
    }
}

#[test]
fn the_suite_config_renders_as_one_view_in_frr_style() {
    let c = suite_config(&params());
    let v = render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap();
    let text = file_text(&v, &c);
    let want = "\
route-map rrd-originator-198.51.100.2 permit 10
 set originator-id 198.51.100.2
exit
!
route-map rrd-originator-198.51.100.3 permit 10
 set originator-id 198.51.100.3
exit
!
router bgp 64512 view rrd
 bgp router-id 198.51.100.1
 no bgp default ipv4-unicast
 bgp cluster-id 1.0.0.1
 bgp graceful-restart
 bgp graceful-restart preserve-fw-state
 neighbor 198.51.100.2 remote-as 64512
 neighbor 198.51.100.2 description Node_198_51_100_2
 neighbor 198.51.100.2 update-source 198.51.100.1
 neighbor 198.51.100.3 remote-as 64512
 neighbor 198.51.100.3 description Node_198_51_100_3
 neighbor 198.51.100.3 update-source 198.51.100.1
 neighbor 198.51.100.4 remote-as 64512
 neighbor 198.51.100.4 description Mesh_198_51_100_4
 neighbor 198.51.100.4 update-source 198.51.100.1
 neighbor 2001:db8::2 remote-as 64512
 neighbor 2001:db8::2 description Node_2001_db8__2
 neighbor 2001:db8::2 update-source 2001:db8::1
 !
 address-family ipv4 unicast
  neighbor 198.51.100.2 activate
  neighbor 198.51.100.2 route-reflector-client
  neighbor 198.51.100.2 route-map rrd-originator-198.51.100.2 in
  neighbor 198.51.100.3 activate
  neighbor 198.51.100.3 route-reflector-client
  neighbor 198.51.100.3 route-map rrd-originator-198.51.100.3 in
  neighbor 198.51.100.4 activate
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 2001:db8::2 activate
  neighbor 2001:db8::2 route-reflector-client
 exit-address-family
exit
";
    assert!(text.contains(want), "{text}");
    assert!(text.contains("frr defaults traditional\n"), "{text}");
}

#[test]
fn rendering_is_deterministic_and_parses_back_to_the_same_view() {
    let c = suite_config(&params());
    let a = file_text(
        &render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap(),
        &c,
    );
    let b = file_text(
        &render_view(&c.clone(), "rrd", Some(&LearnedRouterIds::default())).unwrap(),
        &c,
    );
    assert_eq!(a, b);
    assert_eq!(
        View::parse(&a, "rrd").unwrap(),
        render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap()
    );
}

#[test]
fn session_options_become_frr_neighbor_lines() {
    let mut c = suite_config(&params());
    let n = c.neighbors.values_mut().next().unwrap();
    n.remote_as = Asn(64600);
    n.local_as = Asn(64700);
    n.role = Role::NonClient;
    n.password = Some(Secret::new("s3cret"));
    n.port = Some(11179);
    n.passive = true;
    n.ttl = Ttl::Multihop(None);
    n.keepalive_time = Some(10);
    n.graceful_restart.enabled = false;
    n.next_hop = rrd_core::NextHop::Keep;
    n.allow_local_as = Some(2);
    let a = n.address;
    let v = render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap();
    let lines = &v.neighbors[&a];
    let global: Vec<String> = lines
        .global
        .iter()
        .map(|l| l.replace(&format!("neighbor {a} "), ""))
        .collect();
    assert_eq!(
        global,
        [
            "remote-as 64600",
            "local-as 64700 no-prepend replace-as",
            "description Mesh_198_51_100_4",
            "password s3cret",
            "port 11179",
            "passive",
            "ebgp-multihop 255",
            "update-source 198.51.100.1",
            "timers 10 30",
            "graceful-restart-disable",
        ]
    );
    let af: Vec<String> = lines
        .ipv4
        .iter()
        .map(|l| l.replace(&format!("neighbor {a} "), ""))
        .collect();
    assert_eq!(
        af,
        ["activate", "attribute-unchanged next-hop", "allowas-in 2"]
    );
}

#[test]
fn two_cluster_ids_on_one_rr_are_refused_naming_the_sessions() {
    let mut c = suite_config(&params());
    let key = c
        .neighbors
        .iter()
        .find(|(_, n)| n.role.is_client())
        .map(|(k, _)| k.clone())
        .unwrap();
    c.neighbors.get_mut(&key).unwrap().role = Role::RrClient {
        cluster_id: Some(ClusterId(u32::from(Ipv4Addr::new(2, 0, 0, 2)))),
    };
    let err = render_view(&c, "rrd", Some(&LearnedRouterIds::default()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("one cluster id per BGP instance"), "{err}");
    assert!(err.contains(&format!("2.0.0.2 for {key}")), "{err}");
}

#[test]
fn what_frr_cannot_express_is_refused_not_approximated() {
    let mut c = suite_config(&params());
    let mut keys = c.neighbors.keys().cloned();
    let (k1, k2, k3) = (
        keys.next().unwrap(),
        keys.next().unwrap(),
        keys.next().unwrap(),
    );
    c.neighbors
        .get_mut(&k1)
        .unwrap()
        .graceful_restart
        .restart_time = Some(60);
    c.neighbors.get_mut(&k2).unwrap().password = Some(Secret::new("two words"));
    c.neighbors.get_mut(&k3).unwrap().ttl = Ttl::Multihop(Some(2));
    let err = render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap_err();
    assert_eq!(err.problems.len(), 3, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{k2}: FRR takes a password as one word")),
        "{err}"
    );
    assert!(
        err.to_string().contains("one graceful-restart time"),
        "{err}"
    );
    assert!(
        err.to_string().contains("cannot limit it to 2 hops"),
        "{err}"
    );
}

#[test]
fn one_restart_time_for_every_session_is_the_views() {
    let mut c = suite_config(&params());
    for n in c.neighbors.values_mut() {
        n.graceful_restart.restart_time = Some(90);
    }
    let v = render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap();
    assert!(v
        .router
        .contains(&"bgp graceful-restart restart-time 90".to_owned()));
}

#[test]
fn a_learned_router_id_replaces_the_address_in_the_clients_route_map() {
    let c = suite_config(&params());
    let client: std::net::IpAddr = "198.51.100.2".parse().unwrap();
    let mut learned = LearnedRouterIds::default();
    learned.0.insert(client, Ipv4Addr::new(198, 18, 0, 7));
    let v = render_view(&c, "rrd", Some(&learned)).unwrap();
    assert!(
        v.neighbors[&client]
            .ipv4
            .contains(&"neighbor 198.51.100.2 route-map rrd-originator-198.18.0.7 in".to_owned()),
        "{v:?}"
    );
    assert_eq!(
        v.route_maps
            .get("route-map rrd-originator-198.18.0.7 permit 10"),
        Some(&vec!["set originator-id 198.18.0.7".to_owned()])
    );
    assert!(!v
        .route_maps
        .contains_key("route-map rrd-originator-198.51.100.2 permit 10"));
    // A learned id for a non-client is not rendered.
    learned.0.insert(
        "198.51.100.4".parse().unwrap(),
        Ipv4Addr::new(198, 18, 0, 8),
    );
    let v = render_view(&c, "rrd", Some(&learned)).unwrap();
    assert_eq!(v.route_maps.len(), 2, "{:?}", v.route_maps);
}

#[test]
fn without_originators_no_client_gets_a_route_map() {
    let c = suite_config(&params());
    let v = render_view(&c, "rrd", None).unwrap();
    assert!(v.route_maps.is_empty(), "{:?}", v.route_maps);
    let text = file_text(&v, &c);
    assert!(!text.contains("route-map"), "{text}");
    assert!(
        text.contains("  neighbor 198.51.100.2 route-reflector-client\n"),
        "{text}"
    );
}

#[test]
fn a_render_that_reuses_earlier_lines_is_the_render_from_scratch() {
    let mut cache = RenderCache::default();
    let mut learned = LearnedRouterIds::default();
    let mut c = suite_config(&params());
    let same = |c: &RrConfig, learned: &LearnedRouterIds, cache: &mut RenderCache| {
        let fresh = render_view(c, "rrd", Some(learned));
        let reused = render_view_reusing(c, "rrd", Some(learned), cache);
        match (fresh, reused) {
            (Ok(f), Ok(r)) => assert_eq!(f.text(), r.text()),
            (f, r) => assert_eq!(f.map(|v| v.text()), r.map(|v| v.text())),
        }
    };
    same(&c, &learned, &mut cache);
    assert_eq!(cache.len(), c.neighbors.len());

    // One session changes: its lines, and only its, are rendered again.
    let first = c.neighbors.keys().next().unwrap().clone();
    c.neighbors.get_mut(&first).unwrap().password = Some(Secret::new("s3cret"));
    same(&c, &learned, &mut cache);
    // The view's AS changes what every session is (eBGP or not).
    c.router.local_as = Asn(64999);
    same(&c, &learned, &mut cache);
    c.router.local_as = Asn(64512);
    same(&c, &learned, &mut cache);
    // A client's learned router id changes its route map.
    learned.0.insert(
        "198.51.100.2".parse().unwrap(),
        Ipv4Addr::new(198, 18, 0, 7),
    );
    same(&c, &learned, &mut cache);
    // A session FRR cannot hold is refused every time, never remembered.
    c.neighbors.get_mut(&first).unwrap().password = Some(Secret::new("two words"));
    same(&c, &learned, &mut cache);
    same(&c, &learned, &mut cache);
    c.neighbors.get_mut(&first).unwrap().password = None;
    same(&c, &learned, &mut cache);
    // Sessions gone are forgotten.
    let gone = c.neighbors.keys().last().unwrap().clone();
    c.neighbors.remove(&gone);
    same(&c, &learned, &mut cache);
    assert_eq!(cache.len(), c.neighbors.len());
}

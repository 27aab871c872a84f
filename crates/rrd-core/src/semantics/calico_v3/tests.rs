//! One test per rule of the module header, on small hand-made topologies.

use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::model::{
    Neighbor, NextHop, NodeBgpConfig, NodeSelector, PeerKey, PeerMatch, PeerRule, ReversePeering,
    Role, Secret, SecretRef, SessionKind, SourceAddress, Ttl,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node(name: &str, v4: &str, v6: Option<&str>, labels: &[(&str, &str)]) -> Node {
    let mut n = Node::new(name);
    n.ipv4 = Some(v4.parse().unwrap());
    n.ipv6 = v6.map(|a| a.parse().unwrap());
    n.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    n
}

fn rr(mut n: Node, cluster: &str) -> Node {
    n.rr_cluster_id = Some(cluster.parse().unwrap());
    n
}

fn topo(nodes: Vec<Node>, peers: Vec<PeerRule>) -> Topology {
    let mut t = Topology {
        rules: RuleSet::CalicoV3,
        ..Topology::default()
    };
    t.defaults.node_mesh = false;
    for n in nodes {
        t.nodes.insert(n.name.clone(), n);
    }
    for p in peers {
        t.peers.insert(p.name.clone(), p);
    }
    t
}

fn by_ip(name: &str, nodes: NodeSelector, addr: &str, port: Option<u16>, asn: u32) -> PeerRule {
    PeerRule::new(
        name,
        nodes,
        PeerMatch::Ip {
            addr: ip(addr),
            port,
        },
        Some(Asn(asn)),
    )
}

fn by_selector(name: &str, nodes: NodeSelector, peers: &str) -> PeerRule {
    PeerRule::new(name, nodes, PeerMatch::Selector(peers.into()), None)
}

fn sel(s: &str) -> NodeSelector {
    NodeSelector::Selector(s.into())
}

fn run(t: &Topology, name: &str) -> Computed {
    let me = RrIdentity {
        node_name: Some(name.into()),
        ..RrIdentity::default()
    };
    compute(t, &me).unwrap()
}

fn names(c: &Computed) -> Vec<&str> {
    c.config.neighbors.keys().map(|k| k.0.as_str()).collect()
}

fn session<'c>(c: &'c Computed, name: &str) -> &'c Neighbor {
    c.config
        .neighbors
        .get(&PeerKey(name.into()))
        .unwrap_or_else(|| panic!("no session {name}; have {:?}", names(c)))
}

fn client(cluster: &str) -> Role {
    Role::RrClient {
        cluster_id: Some(cluster.parse().unwrap()),
    }
}

/// kube-master is an RR (cluster 10.0.0.1), two client nodes, AS 64512.
fn rr_cluster(peers: Vec<PeerRule>) -> Topology {
    topo(
        vec![
            rr(
                node("master", "10.0.0.2", Some("fd00::2"), &[("rr", "true")]),
                "10.0.0.1",
            ),
            node("n1", "10.0.0.3", Some("fd00::3"), &[]),
            node("n2", "10.0.0.4", None, &[]),
        ],
        peers,
    )
}

#[test]
fn rr_node_selecting_its_clients_gets_client_sessions_with_its_cluster_id() {
    let t = rr_cluster(vec![by_selector("p", sel("has(rr)"), "!has(rr)")]);
    let c = run(&t, "master");
    assert_eq!(
        names(&c),
        ["Node_10_0_0_3", "Node_10_0_0_4", "Node_fd00__3"]
    );
    for n in c.config.neighbors.values() {
        assert_eq!(n.role, client("10.0.0.1"));
        assert!(!n.passive);
        assert_eq!(n.remote_as, Asn(64512));
    }
    assert_eq!(
        session(&c, "Node_fd00__3").source_address,
        Some(ip("fd00::2"))
    );
}

#[test]
fn rr_learns_its_clients_by_automatic_reverse_peering() {
    let t = rr_cluster(vec![by_selector("p", sel("all()"), "has(rr)")]);
    let c = run(&t, "master");
    assert_eq!(
        names(&c),
        ["Node_10_0_0_3", "Node_10_0_0_4", "Node_fd00__3"]
    );
    assert!(c.config.neighbors.values().all(|n| n.role.is_client()));
    // The client side sees the RR without any rr lines.
    let c = run(&t, "n1");
    assert_eq!(names(&c), ["Node_10_0_0_2", "Node_fd00__2"]);
    assert!(c
        .config
        .neighbors
        .values()
        .all(|n| n.role == Role::NonClient));
}

#[test]
fn reverse_peering_by_peer_ip_stays_in_that_address_family() {
    let mut p = by_ip("p", NodeSelector::All, "fd00::2", None, 64512);
    p.asn = None;
    let c = run(&rr_cluster(vec![p]), "master");
    assert_eq!(names(&c), ["Node_fd00__3"]);
    assert_eq!(session(&c, "Node_fd00__3").role, client("10.0.0.1"));
}

#[test]
fn manual_reverse_peering_gives_nothing_back() {
    let mut p = by_selector("p", sel("all()"), "has(rr)");
    p.reverse_peering = ReversePeering::Manual;
    let t = rr_cluster(vec![p]);
    assert!(run(&t, "master").config.neighbors.is_empty());
    assert_eq!(names(&run(&t, "n2")), ["Node_10_0_0_2"]);
}

#[test]
fn ebgp_peers_of_a_route_reflector_are_not_clients() {
    let t = rr_cluster(vec![by_ip(
        "ext",
        sel("has(rr)"),
        "172.19.4.87",
        None,
        64533,
    )]);
    let c = run(&t, "master");
    let n = session(&c, "Node_172_19_4_87");
    assert_eq!(n.role, Role::NonClient);
    assert_eq!(n.remote_as, Asn(64533));
    assert!(!n.passive);
}

#[test]
fn ibgp_peer_ip_of_a_route_reflector_is_a_client_even_when_not_a_node() {
    let t = rr_cluster(vec![by_ip(
        "ext",
        sel("has(rr)"),
        "172.19.4.87",
        None,
        64512,
    )]);
    let c = run(&t, "master");
    assert_eq!(session(&c, "Node_172_19_4_87").role, client("10.0.0.1"));
}

#[test]
fn route_reflectors_with_the_same_cluster_id_peer_as_plain_ibgp() {
    let t = topo(
        vec![
            rr(node("rr1", "10.0.0.1", None, &[("rr", "")]), "1.0.0.1"),
            rr(node("rr2", "10.0.0.2", None, &[("rr", "")]), "1.0.0.1"),
        ],
        vec![by_selector("mesh", sel("has(rr)"), "has(rr)")],
    );
    let c = run(&t, "rr1");
    assert_eq!(session(&c, "Node_10_0_0_2").role, Role::NonClient);
}

#[test]
fn route_reflectors_with_different_cluster_ids_are_each_others_clients() {
    let t = topo(
        vec![
            rr(node("rr1", "10.0.0.1", None, &[("rr", "")]), "1.0.0.1"),
            rr(node("rr2", "10.0.0.2", None, &[("rr", "")]), "1.0.0.2"),
        ],
        vec![by_selector("mesh", sel("has(rr)"), "has(rr)")],
    );
    assert_eq!(
        session(&run(&t, "rr1"), "Node_10_0_0_2").role,
        client("1.0.0.1")
    );
    assert_eq!(
        session(&run(&t, "rr2"), "Node_10_0_0_1").role,
        client("1.0.0.2")
    );
}

#[test]
fn a_label_alone_never_makes_a_node_a_route_reflector() {
    let mut t = rr_cluster(vec![by_selector("p", sel("all()"), "has(rr)")]);
    t.nodes.get_mut("master").unwrap().rr_cluster_id = None;
    let c = run(&t, "master");
    assert_eq!(c.config.neighbors.len(), 3);
    assert!(c.config.neighbors.values().all(|n| !n.role.is_client()));
    assert_eq!(c.config.router.cluster_id, None);
}

#[test]
fn route_reflectors_leave_the_mesh_and_the_others_leave_them_out() {
    let mut t = topo(
        vec![
            node("a", "10.192.0.2", None, &[]),
            node("b", "10.192.0.3", None, &[]),
            rr(node("r", "10.192.0.4", None, &[]), "10.0.0.1"),
        ],
        vec![],
    );
    t.defaults.node_mesh = true;
    assert_eq!(names(&run(&t, "a")), ["Mesh_10_192_0_3"]);
    assert!(run(&t, "r").config.neighbors.is_empty());
    let m = session(&run(&t, "a"), "Mesh_10_192_0_3").clone();
    assert!(m.passive, "10.192.0.3 > 10.192.0.2");
    assert_eq!(m.role, Role::NonClient);
    assert!(!session(&run(&t, "b"), "Mesh_10_192_0_2").passive);
}

#[test]
fn passive_mode_compares_addresses_as_text_not_as_numbers() {
    let mut t = topo(
        vec![
            node("a", "10.0.0.1", None, &[]),
            node("b", "9.0.0.1", None, &[]),
        ],
        vec![],
    );
    t.defaults.node_mesh = true;
    assert!(session(&run(&t, "a"), "Mesh_9_0_0_1").passive);
    assert!(!session(&run(&t, "b"), "Mesh_10_0_0_1").passive);
}

#[test]
fn mesh_carries_the_mesh_password_restart_time_and_listen_port_without_port_in_the_name() {
    let mut t = topo(
        vec![
            node("a", "10.0.0.1", None, &[]),
            node("b", "10.0.0.2", None, &[]),
        ],
        vec![],
    );
    t.defaults.node_mesh = true;
    t.defaults.node_mesh_max_restart_time = Some(Duration::from_millis(90_400));
    let r = SecretRef {
        name: "s".into(),
        key: "k".into(),
    };
    t.defaults.node_mesh_password = Some(r.clone());
    t.secrets.insert(r, Secret::new("pw"));
    t.node_configs.insert(
        "b".into(),
        NodeBgpConfig {
            listen_port: Some(1790),
        },
    );
    let c = run(&t, "a");
    let m = session(&c, "Mesh_10_0_0_2");
    assert_eq!(m.port, Some(1790));
    assert_eq!(m.graceful_restart.restart_time, Some(90));
    assert_eq!(m.password.as_ref().map(Secret::expose), Some("pw"));
}

#[test]
fn global_peers_that_are_calico_nodes_get_their_listen_port_and_passive_mode() {
    // Calico's explicit_peering/global vector.
    let mut one = by_ip("bgppeer-1", NodeSelector::All, "10.192.0.3", None, 64567);
    one.source_address = SourceAddress::None;
    let two = by_ip(
        "bgppeer-2",
        NodeSelector::All,
        "10.192.0.1",
        Some(166),
        64567,
    );
    let three = by_ip("bgppeer-3", NodeSelector::All, "10.192.0.1", None, 64567);
    let mut t = topo(
        vec![
            node("kube-master", "10.192.0.2", None, &[]),
            node("kube-node-1", "10.192.0.3", None, &[]),
            node("kube-node-2", "10.192.0.1", None, &[]),
        ],
        vec![one, two, three],
    );
    t.defaults.asn = Some(Asn(64567));
    t.defaults.listen_port = Some(150);
    let c = run(&t, "kube-master");
    assert_eq!(
        names(&c),
        [
            "Global_10_192_0_1_port_150",
            "Global_10_192_0_1_port_166",
            "Global_10_192_0_3_port_150"
        ]
    );
    let n3 = session(&c, "Global_10_192_0_3_port_150");
    assert!(n3.passive);
    assert_eq!(n3.source_address, None);
    assert!(!session(&c, "Global_10_192_0_1_port_166").passive);
    assert_eq!(c.config.router.listen_port, Some(150));
}

#[test]
fn a_node_listen_port_overrides_the_default_and_names_the_session() {
    let mut t = topo(
        vec![
            node("a", "10.0.0.2", None, &[("g", "one")]),
            node("b", "10.0.0.3", None, &[("g", "two")]),
        ],
        vec![by_selector("p", sel("g == 'one'"), "g == 'two'")],
    );
    t.defaults.listen_port = Some(150);
    t.node_configs.insert(
        "b".into(),
        NodeBgpConfig {
            listen_port: Some(500),
        },
    );
    assert_eq!(names(&run(&t, "a")), ["Node_10_0_0_3_port_500"]);
    t.node_configs.clear();
    assert_eq!(names(&run(&t, "a")), ["Node_10_0_0_3_port_150"]);
}

#[test]
fn local_as_number_is_explicit_per_session_and_decides_ibgp() {
    let mut p = by_ip(
        "p",
        NodeSelector::Named("a".into()),
        "10.0.0.9",
        None,
        65001,
    );
    p.local_asn = Some(Asn(65001));
    p.num_allowed_local_as = Some(1);
    let t = topo(
        vec![rr(node("a", "10.0.0.2", None, &[]), "1.0.0.1")],
        vec![p],
    );
    let c = run(&t, "a");
    let n = session(&c, "Node_10_0_0_9");
    assert_eq!(n.local_as, Asn(65001));
    assert!(n.local_as_explicit);
    assert_eq!(n.allow_local_as, Some(1));
    assert_eq!(n.role, client("1.0.0.1"), "iBGP under the local AS 65001");
    assert_eq!(c.config.router.local_as, Asn(64512));
}

#[test]
fn local_as_and_allowed_local_as_are_ignored_for_selector_peerings_like_confd() {
    let mut p = by_selector("p", NodeSelector::Named("a".into()), "has(peer)");
    p.local_asn = Some(Asn(65001));
    p.num_allowed_local_as = Some(2);
    let t = topo(
        vec![
            node("a", "10.0.0.2", None, &[]),
            node("b", "10.0.0.3", None, &[("peer", "")]),
        ],
        vec![p],
    );
    let c = run(&t, "a");
    let n = session(&c, "Node_10_0_0_3");
    assert_eq!((n.local_as, n.local_as_explicit), (Asn(64512), false));
    assert_eq!(n.allow_local_as, None);
}

#[test]
fn keep_original_next_hop_applies_only_to_ebgp() {
    let mut e = by_ip("e", NodeSelector::All, "10.9.0.1", None, 65000);
    e.keep_original_next_hop = true;
    let mut i = by_ip("i", NodeSelector::All, "10.9.0.2", None, 64512);
    i.keep_original_next_hop = true;
    let t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![e, i]);
    let c = run(&t, "a");
    assert_eq!(session(&c, "Global_10_9_0_1").next_hop, NextHop::Keep);
    assert_eq!(session(&c, "Global_10_9_0_2").next_hop, NextHop::Auto);
}

#[test]
fn next_hop_mode_applies_to_ibgp_and_ebgp_and_overrides_the_legacy_flag() {
    let mut k = by_ip("k", NodeSelector::All, "10.9.0.1", None, 65000);
    k.next_hop_mode = Some("Keep".into());
    let mut s = by_ip("s", NodeSelector::All, "10.9.0.2", None, 64512);
    s.next_hop_mode = Some("Self".into());
    let mut a = by_ip("a-auto", NodeSelector::All, "10.9.0.3", None, 65000);
    a.next_hop_mode = Some("Auto".into());
    a.keep_original_next_hop = true;
    let t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![k, s, a]);
    let c = run(&t, "a");
    assert_eq!(session(&c, "Global_10_9_0_1").next_hop, NextHop::Keep);
    assert_eq!(session(&c, "Global_10_9_0_2").next_hop, NextHop::SetSelf);
    assert_eq!(session(&c, "Global_10_9_0_3").next_hop, NextHop::Auto);
}

#[test]
fn ttl_security_replaces_plain_multihop_also_on_selector_peerings() {
    let mut p = by_selector("p", NodeSelector::Named("a".into()), "has(t)");
    p.ttl_security = Some(1);
    let t = topo(
        vec![
            node("a", "10.0.0.2", None, &[]),
            node("b", "10.0.0.3", None, &[("t", "")]),
        ],
        vec![
            p,
            by_ip("plain", NodeSelector::All, "10.9.0.1", None, 64512),
        ],
    );
    let c = run(&t, "a");
    assert_eq!(session(&c, "Node_10_0_0_3").ttl, Ttl::Security(1));
    assert_eq!(session(&c, "Global_10_9_0_1").ttl, Ttl::Multihop(None));
}

#[test]
fn restart_and_keepalive_times_round_to_whole_seconds() {
    let mut p = by_ip("p", NodeSelector::All, "10.9.0.1", None, 64512);
    p.max_restart_time = Some(Duration::from_millis(10_500));
    p.keepalive_time = Some(Duration::from_millis(2_400));
    let t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![p]);
    let n = session(&run(&t, "a"), "Global_10_9_0_1").clone();
    assert_eq!(n.graceful_restart.restart_time, Some(11));
    assert!(n.graceful_restart.enabled);
    assert_eq!(n.keepalive_time, Some(2));
}

#[test]
fn passwords_resolve_through_secrets_and_a_missing_secret_means_none() {
    let r = SecretRef {
        name: "my-secrets-1".into(),
        key: "a".into(),
    };
    let mut p = by_ip("p", NodeSelector::All, "10.9.0.1", None, 64512);
    p.password = Some(r.clone());
    let mut t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![p]);
    let c = run(&t, "a");
    assert_eq!(session(&c, "Global_10_9_0_1").password, None);
    assert!(c.diagnostics.iter().any(|d| d.subject == "BGPPeer p"));
    t.secrets.insert(r, Secret::new("password-a"));
    let c = run(&t, "a");
    let pw = session(&c, "Global_10_9_0_1").password.clone();
    assert_eq!(pw.as_ref().map(Secret::expose), Some("password-a"));
    assert!(c.diagnostics.is_empty());
}

#[test]
fn a_global_peering_wins_over_a_node_specific_one_for_the_same_address() {
    let g = by_ip("zz-global", NodeSelector::All, "10.9.0.1", None, 65000);
    let n = by_ip(
        "aa-node",
        NodeSelector::Named("a".into()),
        "10.9.0.1",
        None,
        65111,
    );
    let t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![g, n]);
    let c = run(&t, "a");
    assert_eq!(names(&c), ["Global_10_9_0_1"]);
    assert_eq!(session(&c, "Global_10_9_0_1").remote_as, Asn(65000));
}

#[test]
fn the_lexically_smallest_bgppeer_name_wins_the_same_session() {
    let mut b = by_ip(
        "peer-b",
        NodeSelector::Named("a".into()),
        "10.9.0.1",
        None,
        65002,
    );
    b.ttl_security = Some(3);
    let c_rule = by_ip("peer-c", sel("all()"), "10.9.0.1", None, 65003);
    let a = by_ip("peer-a", sel("has(x)"), "10.9.0.1", None, 65001);
    let t = topo(
        vec![node("a", "10.0.0.2", None, &[("x", "")])],
        vec![c_rule, b, a],
    );
    let c = run(&t, "a");
    assert_eq!(names(&c), ["Node_10_9_0_1"]);
    assert_eq!(session(&c, "Node_10_9_0_1").remote_as, Asn(65001));
}

#[test]
fn an_explicit_peering_wins_over_a_reverse_one() {
    // "back" would give a the reverse peering to b; "aa-explicit" names b
    // itself with other settings and wins although it sorts later in the
    // reverse pass.
    let back = by_selector("back", sel("has(client)"), "has(rr)");
    let mut explicit = by_ip(
        "zz-explicit",
        NodeSelector::Named("a".into()),
        "10.0.0.3",
        None,
        64512,
    );
    explicit.ttl_security = Some(2);
    let t = topo(
        vec![
            node("a", "10.0.0.2", None, &[("rr", "")]),
            node("b", "10.0.0.3", None, &[("client", "")]),
        ],
        vec![back, explicit],
    );
    let c = run(&t, "a");
    assert_eq!(names(&c), ["Node_10_0_0_3"]);
    assert_eq!(session(&c, "Node_10_0_0_3").ttl, Ttl::Security(2));
}

#[test]
fn a_bad_selector_skips_only_that_bgppeer() {
    let bad = by_selector("broken", sel("has(rr) && x = 'y'"), "all()");
    let good = by_ip("good", NodeSelector::All, "10.9.0.1", None, 64512);
    let t = topo(
        vec![node("a", "10.0.0.2", None, &[("rr", "")])],
        vec![bad, good],
    );
    let c = run(&t, "a");
    assert_eq!(names(&c), ["Global_10_9_0_1"]);
    let d = &c.diagnostics[0];
    assert_eq!(d.subject, "BGPPeer broken");
    assert!(d.message.contains("offset 13"), "{d}");
}

#[test]
fn an_unknown_next_hop_mode_skips_that_bgppeer() {
    let mut p = by_ip("p", NodeSelector::All, "10.9.0.1", None, 64512);
    p.next_hop_mode = Some("Sideways".into());
    let t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![p]);
    let c = run(&t, "a");
    assert!(c.config.neighbors.is_empty());
    assert!(c.diagnostics[0].message.contains("Sideways"));
}

#[test]
fn an_unknown_node_name_is_an_error() {
    let t = topo(vec![node("a", "10.0.0.2", None, &[])], vec![]);
    let me = RrIdentity {
        node_name: Some("nope".into()),
        ..RrIdentity::default()
    };
    assert_eq!(
        compute(&t, &me).unwrap_err(),
        SemanticsError::UnknownNode("nope".into())
    );
    assert_eq!(
        compute(&t, &RrIdentity::default()).unwrap_err(),
        SemanticsError::MissingIdentity
    );
}

#[test]
fn an_identity_by_address_finds_its_node() {
    let t = rr_cluster(vec![by_selector("p", sel("has(rr)"), "!has(rr)")]);
    let by_v6 = RrIdentity {
        ipv6: Some("fd00::2".parse().unwrap()),
        router_id: Some("192.0.2.1".parse().unwrap()),
        ..RrIdentity::default()
    };
    let c = compute(&t, &by_v6).unwrap();
    assert_eq!(
        c.config,
        run(&t, "master").config.clone().with_router_id("192.0.2.1")
    );
}

#[test]
fn an_identity_that_is_no_node_gets_only_global_peerings() {
    let mut t = rr_cluster(vec![
        by_ip("g", NodeSelector::All, "10.9.0.1", None, 64512),
        by_selector("s", NodeSelector::All, "all()"),
    ]);
    t.defaults.node_mesh = true;
    let me = RrIdentity::v4("198.51.100.1".parse().unwrap());
    let c = compute(&t, &me).unwrap();
    // The global selector rule peers every node with every node, us too.
    assert_eq!(
        names(&c),
        [
            "Global_10_0_0_2",
            "Global_10_0_0_3",
            "Global_10_0_0_4",
            "Global_10_9_0_1"
        ]
    );
    assert!(c.diagnostics[0].message.contains("not a Calico node"));
    assert_eq!(c.config.router.router_id.to_string(), "198.51.100.1");
}

#[test]
fn a_node_without_ipv6_has_no_ipv6_sessions() {
    let t = rr_cluster(vec![by_selector("p", sel("all()"), "all()")]);
    let c = run(&t, "n2");
    assert!(c.config.neighbors.values().all(|n| n.address.is_ipv4()));
    assert_eq!(names(&c), ["Node_10_0_0_2", "Node_10_0_0_3"]);
}

#[test]
fn router_settings_come_from_the_node() {
    let mut t = rr_cluster(vec![]);
    t.nodes.get_mut("master").unwrap().asn = Some(Asn(65010));
    t.node_configs.insert(
        "master".into(),
        NodeBgpConfig {
            listen_port: Some(1179),
        },
    );
    let r = run(&t, "master").config.router;
    assert_eq!(r.rules, RuleSet::CalicoV3);
    assert_eq!(r.router_id.to_string(), "10.0.0.2");
    assert_eq!(r.local_as, Asn(65010));
    assert_eq!(r.cluster_id, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(r.ipv6, Some("fd00::2".parse().unwrap()));
    assert_eq!(r.listen_port, Some(1179));
}

#[test]
fn sessions_of_a_node_with_its_own_as_use_it_as_local_as() {
    let mut t = rr_cluster(vec![by_selector("p", sel("has(rr)"), "!has(rr)")]);
    t.nodes.get_mut("master").unwrap().asn = Some(Asn(65010));
    let c = run(&t, "master");
    let n = session(&c, "Node_10_0_0_3");
    assert_eq!((n.local_as, n.remote_as), (Asn(65010), Asn(64512)));
    assert_eq!(n.role, Role::NonClient, "eBGP");
    assert_eq!(n.kind, SessionKind::Node);
}

trait WithRouterId {
    fn with_router_id(self, id: &str) -> Self;
}

impl WithRouterId for RrConfig {
    fn with_router_id(mut self, id: &str) -> Self {
        self.router.router_id = id.parse().unwrap();
        self
    }
}

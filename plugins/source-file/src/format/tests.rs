use std::path::Path;

use rrd_core::testing::fixtures;

use super::*;

const SEED: &str = include_str!("../../../../config/examples/seed-topology.toml");

#[test]
fn seed_example_file_decodes_to_the_seed_fixture() {
    let t = parse(Path::new("seed-topology.toml"), SEED).unwrap();
    assert_eq!(t, fixtures::seed());
}

#[test]
fn yaml_and_toml_give_the_same_topology() {
    let yaml = r#"
rules: legacy
route_reflectors:
  - { ip: 172.17.42.40, cluster_id: "1.0.0.1" }
nodes:
  - { name: kube-master, ipv4: 172.17.42.30 }
  - { name: kube-node1, ipv4: 172.17.42.31 }
  - { name: kube-node2, ipv4: 172.17.42.32 }
peers:
  - { ip: 172.17.42.40, asn: 65100 }
"#;
    assert_eq!(parse(Path::new("t.yaml"), yaml).unwrap(), fixtures::seed());
}

#[test]
fn bad_value_is_reported_with_line_and_key() {
    let text = "[[nodes]]\nname = \"a\"\nipv4 = \"300.1.1.1\"\n";
    let err = parse(Path::new("t.toml"), text).unwrap_err().to_string();
    assert!(err.contains("t.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("ipv4"), "{err}");
}

#[test]
fn unknown_key_is_refused_by_name() {
    let err = parse(
        Path::new("t.toml"),
        "[[nodes]]\nname = \"a\"\nipv44 = \"1.2.3.4\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ipv44"), "{err}");
}

#[test]
fn truncated_file_is_a_syntax_error_not_an_empty_topology() {
    let half = &SEED[..SEED.len() / 2];
    let cut = half.rfind('"').map(|i| &half[..i]).unwrap_or(half);
    assert!(parse(Path::new("seed.toml"), cut).is_err());
}

#[test]
fn duplicate_node_names_name_the_entry() {
    let text = "[[nodes]]\nname = \"a\"\n[[nodes]]\nname = \"a\"\n";
    let err = parse(Path::new("t.toml"), text).unwrap_err().to_string();
    assert!(err.contains("nodes[1].name"), "{err}");
}

#[test]
fn v3_peer_with_port_and_selector_needs_a_name() {
    let text = "rules = \"calico-v3\"\n[[peers]]\nnode_selector = \"all()\"\nip = \"[2001:db8::1]:1790\"\n";
    let err = parse(Path::new("t.toml"), text).unwrap_err().to_string();
    assert!(err.contains("peers[0].name"), "{err}");
    let named = format!("{text}name = \"p1\"\n");
    let t = parse(Path::new("t.toml"), &named).unwrap();
    assert_eq!(
        t.peers["p1"].peer,
        PeerMatch::Ip {
            addr: "2001:db8::1".parse().unwrap(),
            port: Some(1790)
        }
    );
}

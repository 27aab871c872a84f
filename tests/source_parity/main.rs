//! Scenario: one topology, every source, the same daemon configuration.
//!
//! The topology is the seed's rack model (nodes N1..N9, RRs
//! 198.51.100.11..16 in pairs sharing cluster ids 1.0.0.1, 1.0.0.2,
//! 1.0.0.3, each node peering with its rack's pair) plus one external
//! peer (198.51.100.200, AS 65100). It is written, from one
//! `rrd_core::Topology`, into:
//!
//! * legacy rules: the file source (rrd's TOML), calico-v1 keys in a real
//!   etcd, calico-v1 keys in the in-test Consul;
//! * Calico v3 rules: Calico v3 resources in a real etcd, a Calico v3
//!   resources file, the in-test Kubernetes API server serving
//!   `crd.projectcalico.org/v1` CRDs, and one serving native
//!   `projectcalico.org/v3` CRDs (each found by discovery).
//!
//! `rrd render` (the real binary) for RR1 (198.51.100.11) must give the
//! same BIRD 2 configuration byte for byte, and the same GoBGP neighbor
//! set, from every source of a rule set. Between the two rule sets the
//! configurations differ exactly where Calico v3's rules differ from the
//! legacy image's, and the test checks that difference session by session
//! (see `check_rule_difference`). The table source x engine is printed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rrd_core::{Asn, PeerRule, Topology};
use rrd_source_consul::testing::FakeConsul;
use rrd_source_etcd::testing::{objects_for as etcd_v3_objects, EtcdServer, RawKv};
use rrd_source_etcd::{EtcdApi, Layout};
use rrd_source_kubernetes::testing::{objects_for, write_kubeconfig, Credentials, FakeApiServer};
use rrd_source_kubernetes::CalicoApi;

const RR1: &str = "198.51.100.11";

/// The rack model and the external peer, as one topology.
fn topology() -> Topology {
    let mut t = rrd_core::testing::fixtures::racks();
    let external = PeerRule::legacy_global("198.51.100.200".parse().unwrap(), Some(Asn(65100)));
    t.peers.insert(external.name.clone(), external);
    t
}

/// The same topology as rrd's own TOML file (legacy rules).
fn rrd_toml(t: &Topology) -> String {
    let mut s = format!(
        "rules = \"legacy\"\n[defaults]\nasn = {}\nnode_mesh = false\n",
        t.defaults.asn.expect("a default AS").0
    );
    for rr in t.route_reflectors.values() {
        s += &format!("\n[[route_reflectors]]\nip = \"{}\"\n", rr.ip);
        if let Some(c) = rr.cluster_id {
            s += &format!("cluster_id = \"{c}\"\n");
        }
    }
    for n in t.nodes.values() {
        let ip = n.ipv4.expect("an IPv4 address");
        s += &format!("\n[[nodes]]\nname = \"{}\"\nipv4 = \"{ip}\"\n", n.name);
    }
    for p in t.peers.values() {
        let rrd_core::PeerMatch::Ip { addr, .. } = &p.peer else {
            panic!("legacy peers are addresses")
        };
        s += "\n[[peers]]\n";
        if let rrd_core::NodeSelector::Named(node) = &p.nodes {
            s += &format!("node = \"{node}\"\n");
        }
        s += &format!("ip = \"{addr}\"\nasn = {}\n", p.asn.expect("an AS").0);
    }
    s
}

const BIRD: &str = "[engine]\nkind = \"bird\"\n[engine.bird]\nversion = \"2\"\n";
const GOBGP: &str = "[engine]\nkind = \"gobgp\"\n[engine.gobgp]\napi = \"127.0.0.1:1\"\n";

/// `rrd render` with `source` (the `[source]` tables) and `engine`.
fn render(dir: &Path, name: &str, source: &str, engine: &str) -> String {
    let engine = if engine == BIRD {
        format!(
            "{BIRD}config_path = \"{d}/bird.conf\"\nsocket = \"{d}/bird.ctl\"\n",
            d = dir.display()
        )
    } else {
        engine.to_owned()
    };
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!("[identity]\nipv4 = \"{RR1}\"\n\n{source}\n{engine}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rrd"))
        .args(["render", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .output()
        .expect("run rrd render");
    assert!(
        out.status.success(),
        "rrd render ({name}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// One source under test: its name, its rule set, its `[source]` tables.
struct Case {
    name: &'static str,
    rules: &'static str,
    source: String,
}

/// BIRD's BGP sessions: protocol name -> its block.
fn bird_sessions(config: &str) -> BTreeMap<String, String> {
    config
        .split("\nprotocol bgp ")
        .skip(1)
        .map(|block| {
            let name = block
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            let body = block.split("\n}").next().unwrap_or_default().to_owned();
            (name, body)
        })
        .collect()
}

/// GoBGP's neighbors: address -> peer AS.
fn gobgp_neighbors(config: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut address = None;
    for line in config.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("neighbor-address = ") {
            address = Some(a.trim_matches('"').to_owned());
        }
        if let (Some(asn), Some(a)) = (line.strip_prefix("peer-as = "), address.as_ref()) {
            out.insert(a.clone(), asn.to_owned());
        }
    }
    out
}

/// Where Calico v3's rules differ from the legacy image's, for RR1 of this
/// topology (docs/semantics.md). Both give RR1 its rack's nodes N1..N3 as
/// route-reflector clients in cluster 1.0.0.1, identically (the legacy
/// template states the local AS per session, Calico v3's in the
/// template). Then:
///
/// * legacy: every registered RR meshes with the others (`Mesh_*`,
///   non-client, iBGP, preference 90); a global peer record makes the
///   *nodes* peer with that address, not the RR;
/// * Calico v3: the registered RRs are nodes carrying a cluster id, and the
///   per-node BGPPeers of the migration make no RR mesh (Calico meshes RRs
///   only through a BGPPeer that selects them); the global BGPPeer (no
///   node selector) applies to every node, the RR included, so RR1 holds
///   an eBGP session with the external peer (`Global_198_51_100_200`, AS
///   65100).
fn check_rule_difference(legacy_bird: &str, v3_bird: &str, legacy_gobgp: &str, v3_gobgp: &str) {
    let (legacy, v3) = (bird_sessions(legacy_bird), bird_sessions(v3_bird));
    let clients: Vec<String> = (101..=103)
        .map(|i| format!("Node_198_51_100_{i}"))
        .collect();
    let mesh: Vec<String> = (12..=16).map(|i| format!("Mesh_198_51_100_{i}")).collect();
    let external = "Global_198_51_100_200".to_owned();
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    let mut want_legacy = [clients.clone(), mesh.clone()].concat();
    want_legacy.sort();
    let mut want_v3 = [clients.clone(), vec![external.clone()]].concat();
    want_v3.sort();
    assert_eq!(
        names(&legacy),
        want_legacy,
        "legacy rules: clients and the RR mesh"
    );
    assert_eq!(
        names(&v3),
        want_v3,
        "Calico v3 rules: clients and the external peer"
    );
    // The legacy template states the local AS per session, Calico v3's in
    // the template: the same sessions.
    let template = |c: &str| {
        let t = c
            .split("template bgp bgp_template {")
            .nth(1)
            .unwrap_or_default();
        t.split("\n}").next().unwrap_or_default().to_owned()
    };
    assert!(template(v3_bird).contains("local as 64511;"));
    assert!(!template(legacy_bird).contains("local as"));
    for c in &clients {
        let per_session = legacy[c].replace("\n  local as 64511;", "");
        assert_ne!(per_session, legacy[c], "{c}: local as per session (legacy)");
        assert_eq!(
            per_session, v3[c],
            "{c} is the same session under both rule sets"
        );
        assert!(v3[c].contains("rr client;") && v3[c].contains("rr cluster id 1.0.0.1;"));
    }
    for m in &mesh {
        assert!(
            !legacy[m].contains("rr client") && legacy[m].contains("as 64511;"),
            "{m}"
        );
    }
    assert!(
        v3[&external].contains("neighbor 198.51.100.200 as 65100;"),
        "{}",
        v3[&external]
    );
    assert!(!v3[&external].contains("rr client"));

    let (legacy, v3) = (gobgp_neighbors(legacy_gobgp), gobgp_neighbors(v3_gobgp));
    let ip = |i: u8| format!("198.51.100.{i}");
    let mut want: BTreeMap<String, String> = (101..=103).map(|i| (ip(i), "64511".into())).collect();
    let common = want.clone();
    want.extend((12..=16).map(|i| (ip(i), "64511".to_owned())));
    assert_eq!(legacy, want, "GoBGP, legacy rules");
    let mut want = common;
    want.insert(ip(200), "65100".into());
    assert_eq!(v3, want, "GoBGP, Calico v3 rules");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_topology_renders_the_same_from_every_source() {
    let t = topology();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // File, legacy rules.
    let file = d.join("topology.toml");
    std::fs::write(&file, rrd_toml(&t)).unwrap();
    assert_eq!(
        rrd_source_file::parse(&file, &rrd_toml(&t)).unwrap(),
        t,
        "the file holds the topology"
    );
    // A real etcd: calico-v1 keys and Calico v3 resources.
    let etcd = EtcdServer::start().await;
    let v1 = etcd.config(EtcdApi::V3, Layout::CalicoV1);
    let v3 = etcd.config(EtcdApi::V3, Layout::CalicoV3);
    let kv = RawKv::connect(&v1).await.unwrap();
    for (key, value) in rrd_layouts::calico_v1::encode::to_kvs(&t).unwrap() {
        kv.put(&format!("{}/{}", v1.prefix(), key.path()), &value)
            .await
            .unwrap();
    }
    let v3_objects = etcd_v3_objects(&t, &v3.prefix());
    for (key, value) in &v3_objects {
        kv.put(key, value).await.unwrap();
    }
    // The same Calico v3 resources as a file.
    let v3_file = d.join("resources.yaml");
    let docs: Vec<&str> = v3_objects.values().map(String::as_str).collect();
    std::fs::write(&v3_file, docs.join("\n---\n")).unwrap();
    // The in-test Consul: calico-v1 keys.
    let consul = FakeConsul::start().await;
    for (key, value) in rrd_layouts::calico_v1::encode::to_kvs(&t).unwrap() {
        consul.put(&format!("calico/bgp/v1/{}", key.path()), &value);
    }
    // The in-test API server, once per Calico group.
    let mut kube = Vec::new();
    for group in [CalicoApi::CrdV1, CalicoApi::V3] {
        let server = FakeApiServer::start().await;
        server.with_state(|s| {
            s.calico_groups = [group].into();
            for (resource, objects) in objects_for(&t, "kube-system") {
                s.set_all(resource, objects);
            }
        });
        let sub = d.join(format!("kube-{}", kube.len()));
        std::fs::create_dir(&sub).unwrap();
        let kubeconfig = write_kubeconfig(&sub, &server.url(), &Credentials::default());
        kube.push((server, kubeconfig));
    }

    let etcd_source = |layout: &str| {
        format!(
            "[source]\nkind = \"etcd\"\n[source.etcd]\nendpoints = [\"{}\"]\napi = \"v3\"\nlayout = \"{layout}\"\n",
            etcd.endpoint()
        )
    };
    let kube_source = |i: usize| {
        format!(
            "[source]\nkind = \"kubernetes\"\n[source.kubernetes]\nkubeconfig = \"{}\"\n",
            kube[i].1.display()
        )
    };
    let cases = [
        Case {
            name: "file (rrd TOML)",
            rules: "legacy",
            source: format!(
                "[source]\nkind = \"file\"\n[source.file]\npath = \"{}\"\n",
                file.display()
            ),
        },
        Case {
            name: "etcd calico-v1 keys",
            rules: "legacy",
            source: etcd_source("calico-v1"),
        },
        Case {
            name: "Consul calico-v1 keys",
            rules: "legacy",
            source: format!(
                "[source]\nkind = \"consul\"\n[source.consul]\naddresses = [\"{}\"]\n",
                consul.url()
            ),
        },
        Case {
            name: "etcd Calico v3 resources",
            rules: "calico-v3",
            source: etcd_source("calico-v3"),
        },
        Case {
            name: "file (Calico v3 resources)",
            rules: "calico-v3",
            source: format!(
                "[source]\nkind = \"file\"\n[source.file]\npath = \"{}\"\nlayout = \"calico-v3\"\n",
                v3_file.display()
            ),
        },
        Case {
            name: "Kubernetes crd.projectcalico.org/v1",
            rules: "calico-v3",
            source: kube_source(0),
        },
        Case {
            name: "Kubernetes projectcalico.org/v3",
            rules: "calico-v3",
            source: kube_source(1),
        },
    ];

    let mut table = String::from("| source | rules | BIRD 2 | GoBGP |\n|---|---|---|---|\n");
    let mut reference: BTreeMap<(&str, &str), (String, &str)> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        let mut cells = Vec::new();
        for (engine, label) in [(BIRD, "bird"), (GOBGP, "gobgp")] {
            let dir = d.to_owned();
            let source = case.source.clone();
            let name = format!("case{i}-{label}");
            let text = tokio::task::spawn_blocking(move || render(&dir, &name, &source, engine))
                .await
                .unwrap();
            let sessions = if label == "bird" {
                bird_sessions(&text).len()
            } else {
                gobgp_neighbors(&text).len()
            };
            match reference.get(&(case.rules, label)) {
                None => {
                    cells.push(format!(
                        "reference ({} bytes, {sessions} sessions)",
                        text.len()
                    ));
                    reference.insert((case.rules, label), (text, case.name));
                }
                Some((want, from)) => {
                    assert_eq!(
                        &text, want,
                        "{} renders {label} differently from {from}",
                        case.name
                    );
                    cells.push(format!("identical to {from}"));
                }
            }
        }
        table += &format!(
            "| {} | {} | {} | {} |\n",
            case.name, case.rules, cells[0], cells[1]
        );
    }
    eprintln!("{table}");
    let text = |rules, engine| reference[&(rules, engine)].0.as_str();
    check_rule_difference(
        text("legacy", "bird"),
        text("calico-v3", "bird"),
        text("legacy", "gobgp"),
        text("calico-v3", "gobgp"),
    );
    eprintln!(
        "Calico v3 vs legacy rules for RR1, checked: the same three client sessions; legacy adds \
         the RR mesh (5 sessions), Calico v3 adds the external peer (AS 65100)"
    );
}

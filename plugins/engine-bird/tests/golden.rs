//! Golden files for rendered BIRD configurations, and the real parsers'
//! verdict on each of them (`bird -p -c FILE`, BIRD 2 and BIRD 1.6).
//!
//! Regenerate with `RRD_BLESS=1 cargo test -p rrd-engine-bird --test golden`
//! and review the diff.

mod support;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use rrd_core::model::session_name;
use rrd_core::testing::fixtures;
use rrd_core::{
    compute, Asn, ClusterId, Neighbor, NextHop, Role, RrConfig, RrIdentity, Secret, SessionKind,
    Ttl,
};
use rrd_engine_bird::{render, BirdVersion, RenderOptions};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn rr(topology: &rrd_core::Topology, ip: &str) -> RrConfig {
    compute(topology, &RrIdentity::v4(ip.parse().unwrap()))
        .unwrap()
        .config
}

fn neighbor(kind: SessionKind, address: &str, source: Option<&str>) -> Neighbor {
    let address: IpAddr = address.parse().unwrap();
    Neighbor {
        peer_node: Some(format!("node-{address}")),
        ..Neighbor::new(
            kind,
            address,
            Asn(64512),
            Role::RrClient {
                cluster_id: Some(ClusterId(0x0100_0001)),
            },
            source.map(|s| s.parse().unwrap()),
        )
    }
}

/// One session per `Neighbor` feature, both families, so that the real
/// parsers see every construct the renderer can write.
fn every_field() -> RrConfig {
    let mut c = rr(&fixtures::seed(), "172.17.42.40");
    c.neighbors.clear();
    c.router.router_id = "198.51.100.1".parse().unwrap();
    c.router.ipv4 = Some("198.51.100.1".parse().unwrap());
    c.router.ipv6 = Some("2001:db8::1".parse().unwrap());
    c.router.local_as = Asn(64512);
    c.router.listen_port = Some(1179);
    let src4 = Some("198.51.100.1");
    let mut all = Vec::new();
    let mut n = neighbor(SessionKind::Node, "198.51.100.2", src4);
    n.port = Some(1179);
    n.passive = true;
    n.ttl = Ttl::Security(2);
    n.password = Some(Secret::new("not a real secret"));
    n.next_hop = NextHop::SetSelf;
    n.allow_local_as = Some(1);
    n.graceful_restart.restart_time = Some(90);
    n.keepalive_time = Some(20);
    all.push(n);
    let mut n = neighbor(SessionKind::Node, "198.51.100.3", None);
    n.ttl = Ttl::Multihop(Some(4));
    n.next_hop = NextHop::Keep;
    n.graceful_restart.enabled = false;
    n.local_as_explicit = false;
    n.peer_node = None;
    all.push(n);
    let mut n = neighbor(SessionKind::Mesh, "198.51.100.4", Some("198.51.100.5"));
    n.role = Role::NonClient;
    n.remote_as = Asn(64513);
    n.peer_node = None;
    all.push(n);
    let mut n = neighbor(SessionKind::Global, "198.51.100.6", src4);
    n.role = Role::RrClient { cluster_id: None };
    all.push(n);
    let mut n = neighbor(SessionKind::Node, "2001:db8::2", Some("2001:db8::1"));
    n.password = Some(Secret::new("v6 secret"));
    n.next_hop = NextHop::SetSelf;
    all.push(n);
    let mut n = neighbor(SessionKind::Mesh, "2001:db8::3", None);
    n.role = Role::NonClient;
    n.peer_node = None;
    all.push(n);
    for n in all {
        c.neighbors
            .insert(session_name(n.kind, n.address, n.port), n);
    }
    c
}

struct Case {
    name: &'static str,
    config: RrConfig,
    strict_bind: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "seed",
            config: rr(&fixtures::seed(), "172.17.42.40"),
            strict_bind: false,
        },
        Case {
            name: "racks-rr3",
            config: rr(&fixtures::racks(), "198.51.100.13"),
            strict_bind: false,
        },
        Case {
            name: "every-field",
            config: every_field(),
            strict_bind: true,
        },
    ]
}

/// `(file name, text, parser binary)` for every golden file.
fn rendered() -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for case in cases() {
        for version in [BirdVersion::V2, BirdVersion::V1_6] {
            let mut o = RenderOptions::new(version);
            o.strict_bind = case.strict_bind;
            let r = render(&case.config, &o).expect("render");
            match version {
                BirdVersion::V2 => {
                    out.push((
                        format!("{}.bird2.conf", case.name),
                        r.ipv4,
                        support::bird2_binary(),
                    ));
                }
                BirdVersion::V1_6 => {
                    out.push((
                        format!("{}.bird16.conf", case.name),
                        r.ipv4,
                        support::bird16_binary("bird"),
                    ));
                    let v6 = r.ipv6.expect("BIRD 1.6 renders a bird6 file");
                    out.push((
                        format!("{}.bird16-v6.conf", case.name),
                        v6,
                        support::bird16_binary("bird6"),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn rendered_configs_match_the_golden_files() {
    let bless = std::env::var_os("RRD_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, text, _) in rendered() {
        let path = golden_dir().join(&name);
        if bless {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with RRD_BLESS=1 to create it)",
                path.display()
            )
        });
        if want != text {
            stale.push(format!(
                "--- {name} (golden)\n{want}\n+++ {name} (rendered)\n{text}"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "rendered configs differ from the golden files (RRD_BLESS=1 regenerates them):\n{}",
        stale.join("\n")
    );
}

#[test]
fn seed_golden_file_holds_the_seeds_three_client_sessions() {
    let text = std::fs::read_to_string(golden_dir().join("seed.bird2.conf")).unwrap();
    for i in 0..3 {
        let want = format!(
            "protocol bgp Global_172_17_42_3{i} from bgp_template {{\n  local as 65100;\n  neighbor 172.17.42.3{i} as 65100;\n  rr client;\n  rr cluster id 1.0.0.1;\n}}\n"
        );
        assert!(text.contains(&want), "missing {want}");
    }
}

#[test]
fn real_bird_parsers_accept_every_golden_file() {
    let mut refused = Vec::new();
    for (name, _, binary) in rendered() {
        let path = golden_dir().join(&name);
        let out = Command::new(&binary)
            .arg("-p")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} (scripts/install-deps.sh installs it): {e}",
                    binary.display()
                )
            });
        if !out.status.success() {
            refused.push(format!(
                "{} -p -c {}: {}{}",
                binary.display(),
                path.display(),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(refused.is_empty(), "BIRD refused:\n{}", refused.join("\n"));
}

//! Conformance with Calico itself: for each of the 15 confd test vectors in
//! `shared/calico-fixtures` (see its README), decode `input.yaml` with
//! [`calico_v3::decode_documents`], replay the harness's later steps, run
//! `rrd_core::compute` for the node confd rendered, and compare every BGP
//! protocol of the expected `bird.cfg` / `bird6.cfg` with rrd's session of
//! the same name, field by field.
//!
//! The fixture folder comes from `RRD_CALICO_FIXTURES`, else
//! `<workspace>/../shared/calico-fixtures`. Without it the test says so and
//! passes, except under `CI=true`, where a missing folder is a failure.

#[path = "support/bird_cfg.rs"]
mod bird_cfg;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bird_cfg::Protocol;
use rrd_core::{
    compute, Family, Neighbor, NextHop, RrConfig, RrIdentity, Secret, SecretRef, Topology, Ttl,
};
use rrd_layouts::calico_v3::{self, decode_changes, decode_documents, decode_object};
use serde_json::Value;

const CASES: [&str; 15] = [
    "explicit_peering__route_reflector",
    "explicit_peering__route_reflector_v6_by_ip",
    "explicit_peering__keepnexthop",
    "mesh__route-reflector-mesh-enabled",
    "next_hop_mode__route_reflectors",
    "reachable_by__route_reflectors",
    "reverse_peering__auto",
    "reverse_peering__manual",
    "ttl_security__peer_selector",
    "explicit_peering__selectors",
    "explicit_peering__specific_node",
    "explicit_peering__global",
    "explicit_peering__local-as",
    "sourceaddr_gracefulrestart",
    "password",
];

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("RRD_CALICO_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/calico-fixtures"),
    }
}

/// One rendering to check: the topology at that point and the folder that
/// holds what confd rendered for it.
struct Step {
    label: String,
    topology: Topology,
    expected: PathBuf,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode_clean(path: &Path) -> Topology {
    let (topology, errors) = decode_documents(&read(path));
    assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    topology
}

/// The secrets `confd/tests/daemon_test.go` creates in `kube-system`
/// before each step of the `password` case.
fn password_secrets(step: usize) -> Vec<(&'static str, &'static str, &'static str)> {
    match step {
        1 => vec![],
        2 => vec![("my-secrets-1", "b", "password-b")],
        3 => vec![
            ("my-secrets-1", "a", "password-a"),
            ("my-secrets-1", "b", "password-b"),
            ("my-secrets-2", "c", "password-c"),
        ],
        4 => vec![
            ("my-secrets-1", "a", "password-a"),
            ("my-secrets-1", "b", "password-b"),
        ],
        5 => vec![
            ("my-secrets-1", "a", "new-password-a"),
            ("my-secrets-1", "b", "new-password-b"),
        ],
        _ => vec![("my-secrets-1", "b", "new-password-b")],
    }
}

/// The edits `daemon_test.go` makes to BGPPeer `bgppeer-1` through the API
/// in the `sourceaddr_gracefulrestart` case, as spec fields.
fn sourceaddr_edits(step: usize) -> Vec<(&'static str, Value)> {
    let mut edits = Vec::new();
    if step >= 2 {
        edits.push(("sourceAddress", Value::from("None")));
    }
    if step >= 3 {
        edits.push(("maxRestartTime", Value::from("10s")));
    }
    edits
}

fn steps(dir: &Path, case: &str) -> Vec<Step> {
    let case_dir = dir.join(case);
    let input = case_dir.join("input.yaml");
    match case {
        "password" => (1..=6)
            .map(|n| {
                let mut topology = decode_clean(&input);
                for (name, key, value) in password_secrets(n) {
                    let r = SecretRef {
                        name: name.into(),
                        key: key.into(),
                    };
                    topology.secrets.insert(r, Secret::new(value));
                }
                Step {
                    label: format!("step{n}"),
                    topology,
                    expected: case_dir.join(format!("step{n}")),
                }
            })
            .collect(),
        "sourceaddr_gracefulrestart" => (1..=3)
            .map(|n| {
                let text = read(&input);
                let mut topology = decode_clean(&input);
                let (objects, errors) = calico_v3::parse_objects(&text);
                assert!(errors.is_empty(), "{errors:?}");
                let mut peer = objects
                    .into_iter()
                    .find(|o| o["kind"] == "BGPPeer" && o["metadata"]["name"] == "bgppeer-1")
                    .expect("bgppeer-1 in input.yaml");
                for (field, value) in sourceaddr_edits(n) {
                    peer["spec"][field] = value;
                }
                let edited = decode_object(&peer).expect("edited bgppeer-1 decodes");
                topology.apply(edited.into_change());
                Step {
                    label: format!("step{n}"),
                    topology,
                    expected: case_dir.join(format!("step{n}")),
                }
            })
            .collect(),
        _ => {
            let base = decode_clean(&input);
            let mut out = vec![Step {
                label: "input".into(),
                topology: base.clone(),
                expected: case_dir.clone(),
            }];
            let step2 = case_dir.join("step2");
            if step2.join("input.yaml").exists() {
                // A step's input is an upsert on top of the base.
                let (changes, errors) = decode_changes(&read(&step2.join("input.yaml")));
                assert!(errors.is_empty(), "{case}/step2: {errors:#?}");
                let mut topology = base;
                for change in changes {
                    topology.apply(change);
                }
                out.push(Step {
                    label: "step2".into(),
                    topology,
                    expected: step2,
                });
            }
            out
        }
    }
}

/// What a session looks like, from either side of the comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    neighbor: IpAddr,
    port: Option<u16>,
    remote_as: u32,
    local_as: u32,
    local_as_in_protocol: bool,
    rr_client: bool,
    rr_cluster_id: Option<String>,
    passive: bool,
    ttl: String,
    next_hop: &'static str,
    password: Option<String>,
    graceful_restart_time: Option<u32>,
    keepalive_time: Option<u32>,
    source_address: Option<IpAddr>,
    allow_local_as: Option<u8>,
}

fn expected_view(p: &Protocol, template_local_as: Option<u32>) -> View {
    View {
        neighbor: p.neighbor.expect("parser checked"),
        port: p.port,
        remote_as: p.remote_as.unwrap_or(0),
        local_as: p.local_as.or(template_local_as).unwrap_or(0),
        local_as_in_protocol: p.local_as.is_some(),
        rr_client: p.rr_client,
        rr_cluster_id: p.rr_cluster_id.clone(),
        passive: p.passive,
        ttl: match (p.ttl_security, p.multihop) {
            (Some(false), Some(None)) => "security off, multihop".into(),
            (Some(true), Some(Some(n))) => format!("security on, multihop {n}"),
            other => format!("{other:?}"),
        },
        next_hop: match (p.next_hop_self, p.next_hop_keep) {
            (false, false) => "-",
            (true, false) => "self",
            (false, true) => "keep",
            (true, true) => "self+keep",
        },
        password: p.password.clone(),
        graceful_restart_time: p.graceful_restart_time,
        keepalive_time: p.keepalive_time,
        source_address: p.source_address,
        allow_local_as: p.allow_local_as,
    }
}

fn actual_view(n: &Neighbor) -> View {
    View {
        neighbor: n.address,
        port: n.port,
        remote_as: n.remote_as.0,
        local_as: n.local_as.0,
        local_as_in_protocol: n.local_as_explicit,
        rr_client: n.role.is_client(),
        rr_cluster_id: n.role.cluster_id().map(|c| c.to_string()),
        passive: n.passive,
        ttl: match n.ttl {
            Ttl::Multihop(None) => "security off, multihop".into(),
            Ttl::Multihop(Some(h)) => format!("security off, multihop {h}"),
            Ttl::Security(h) => format!("security on, multihop {h}"),
        },
        next_hop: match n.next_hop {
            NextHop::Auto => "-",
            NextHop::SetSelf => "self",
            NextHop::Keep => "keep",
        },
        password: n.password.as_ref().map(|s| s.expose().to_owned()),
        graceful_restart_time: n.graceful_restart.restart_time,
        keepalive_time: n.keepalive_time,
        source_address: n.source_address,
        allow_local_as: n.allow_local_as,
    }
}

#[derive(Default)]
struct Tally {
    sessions: usize,
    matched: usize,
    problems: Vec<String>,
}

/// Compare one step, both families.
fn check_step(case: &str, step: &Step, tally: &mut Tally) {
    let v4 = bird_cfg::parse(&read(&step.expected.join("bird.cfg")))
        .unwrap_or_else(|e| panic!("{case}/{}: bird.cfg: {e}", step.label));
    let v6 = bird_cfg::parse(&read(&step.expected.join("bird6.cfg")))
        .unwrap_or_else(|e| panic!("{case}/{}: bird6.cfg: {e}", step.label));
    let where_ = format!("{case}/{}", step.label);
    let Some(router_id) = v4.router_id else {
        tally
            .problems
            .push(format!("{where_}: bird.cfg has no router id"));
        return;
    };
    // The harness's node: the one whose IPv4 address is the router id.
    let Some(node) = step
        .topology
        .nodes
        .values()
        .find(|n| n.ipv4 == Some(router_id))
    else {
        tally
            .problems
            .push(format!("{where_}: no node has address {router_id}"));
        return;
    };
    let me = RrIdentity {
        node_name: Some(node.name.clone()),
        ..RrIdentity::default()
    };
    let computed = match compute(&step.topology, &me) {
        Ok(c) => c,
        Err(e) => {
            tally
                .problems
                .push(format!("{where_}: compute failed: {e}"));
            return;
        }
    };
    let config: &RrConfig = &computed.config;
    if config.router.router_id != router_id || v6.router_id.is_some_and(|id| id != router_id) {
        tally.problems.push(format!(
            "{where_}: router id {} expected {router_id}",
            config.router.router_id
        ));
    }
    for (file, bird, family) in [
        ("bird.cfg", &v4, Family::Ipv4),
        ("bird6.cfg", &v6, Family::Ipv6),
    ] {
        if let Some(asn) = bird.template_local_as {
            if config.router.local_as.0 != asn {
                tally.problems.push(format!(
                    "{where_}/{file}: template local as {asn}, rrd has {}",
                    config.router.local_as
                ));
            }
        }
        let expected: BTreeMap<&str, View> = bird
            .protocols
            .iter()
            .map(|(name, p)| (name.as_str(), expected_view(p, bird.template_local_as)))
            .collect();
        let actual: BTreeMap<&str, View> = config
            .neighbors_of(family)
            .map(|(k, n)| (k.0.as_str(), actual_view(n)))
            .collect();
        let names: BTreeSet<&str> = expected.keys().chain(actual.keys()).copied().collect();
        for name in names {
            tally.sessions += 1;
            match (expected.get(name), actual.get(name)) {
                (Some(e), Some(a)) if e == a => tally.matched += 1,
                (Some(e), Some(a)) => tally.problems.push(format!(
                    "{where_}/{file}: {name} differs\n    confd: {e:?}\n    rrd:   {a:?}"
                )),
                (Some(_), None) => tally.problems.push(format!(
                    "{where_}/{file}: {name} rendered by confd, missing in rrd"
                )),
                (None, Some(a)) => tally
                    .problems
                    .push(format!("{where_}/{file}: {name} only in rrd: {a:?}")),
                (None, None) => unreachable!(),
            }
        }
    }
}

#[test]
fn calico_confd_vectors_match_rrd_session_by_session() {
    let dir = fixtures_dir();
    if !dir.join("README.md").exists() {
        let msg = format!("Calico fixtures absent at {}", dir.display());
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{msg} (required when CI=true)"
        );
        println!("{msg}; skipping the conformance test (set RRD_CALICO_FIXTURES)");
        return;
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "{:<46} {:>5} {:>9}  result",
        "case", "steps", "sessions"
    );
    let (mut cases_ok, mut sessions, mut matched) = (0, 0, 0);
    let mut problems = Vec::new();
    for case in CASES {
        let mut tally = Tally::default();
        let case_steps = steps(&dir, case);
        for step in &case_steps {
            check_step(case, step, &mut tally);
        }
        let ok = tally.problems.is_empty() && tally.matched == tally.sessions;
        cases_ok += usize::from(ok);
        sessions += tally.sessions;
        matched += tally.matched;
        let _ = writeln!(
            report,
            "{case:<46} {:>5} {:>9}  {}",
            case_steps.len(),
            format!("{}/{}", tally.matched, tally.sessions),
            if ok { "match" } else { "DIFFERS" }
        );
        problems.extend(tally.problems);
    }
    let _ = writeln!(
        report,
        "{cases_ok} of {} cases, {matched} of {sessions} sessions match",
        CASES.len()
    );
    println!("{report}");
    for p in &problems {
        println!("{p}");
    }
    assert!(sessions > 0, "no session was compared");
    assert!(
        cases_ok == CASES.len() && matched == sessions && problems.is_empty(),
        "{} problem(s); see the table above",
        problems.len()
    );
}

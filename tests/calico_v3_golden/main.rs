//! Calico v3 golden cases read from a real etcd (issue 3, item 4).
//!
//! Each folder holds Calico v3 resources (`resources.yaml`, as calicoctl
//! prints them) and the BIRD 2 configuration rrd renders for RR node `rr1`
//! (`rr1.bird2.conf`). The resources are stored the way Calico stores them
//! (`/calico/resources/v3/projectcalico.org/<kind>/<name>`, whole objects as
//! JSON), read back through the etcd source (v3 API, calico-v3 layout),
//! turned into sessions by the Calico v3 rules, rendered, compared with the
//! golden file (regenerate with `RRD_BLESS=1`) and checked by `bird -p`.

use std::path::{Path, PathBuf};

use rrd_core::{compute, Asn, Computed, PeerKey, PeerSource, Role, RrIdentity};
use rrd_engine_bird::{render, BirdVersion, RenderOptions};
use rrd_layouts::calico_v3::{parse_objects, ResourceKind};
use rrd_source_etcd::testing::{EtcdServer, RawKv};
use rrd_source_etcd::{EtcdApi, EtcdSource, Layout};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/calico_v3_golden")
        .join(case)
}

/// Store the case's resources in a fresh etcd, read them back through the
/// source, compute rr1's sessions, and check the golden rendering.
async fn run_case(case: &str) -> Computed {
    let text = std::fs::read_to_string(case_dir(case).join("resources.yaml")).unwrap();
    let (objects, errors) = parse_objects(&text);
    assert!(errors.is_empty(), "{case}: {errors:?}");
    let server = EtcdServer::start().await;
    let config = server.config(EtcdApi::V3, Layout::CalicoV3);
    let kv = RawKv::connect(&config).await.unwrap();
    for o in &objects {
        let kind = ResourceKind::from_kind(o["kind"].as_str().unwrap()).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        let key = format!("{}/{}/{name}", config.prefix(), kind.etcd_dir());
        kv.put(&key, &o.to_string()).await.unwrap();
    }
    let topology = EtcdSource::new(config).unwrap().snapshot().await.unwrap();
    let me = RrIdentity {
        node_name: Some("rr1".into()),
        ..RrIdentity::default()
    };
    let computed = compute(&topology, &me).unwrap();
    assert!(
        computed.diagnostics.is_empty(),
        "{case}: {:?}",
        computed.diagnostics
    );

    let rendered = render(&computed.config, &RenderOptions::new(BirdVersion::V2))
        .unwrap()
        .ipv4;
    let golden = case_dir(case).join("rr1.bird2.conf");
    if std::env::var_os("RRD_BLESS").is_some() {
        std::fs::write(&golden, &rendered).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with RRD_BLESS=1)", golden.display()));
    assert_eq!(
        rendered,
        want,
        "{case}: rendering differs from {}",
        golden.display()
    );
    let check = std::process::Command::new(rrd_lab::bins::bird2())
        .arg("-p")
        .arg("-c")
        .arg(&golden)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{case}: bird -p refused it: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    computed
}

fn role(c: &Computed, name: &str) -> Role {
    c.config
        .neighbors
        .get(&PeerKey(name.into()))
        .unwrap_or_else(|| panic!("no {name} in {:?}", c.config.neighbors.keys()))
        .role
}

fn cluster(id: &str) -> Role {
    Role::RrClient {
        cluster_id: Some(id.parse().unwrap()),
    }
}

fn workers_are_clients(c: &Computed) {
    for w in 21..=23 {
        assert_eq!(role(c, &format!("Node_198_51_100_{w}")), cluster("1.0.0.1"));
    }
}

#[tokio::test]
async fn route_reflectors_sharing_a_cluster_id_peer_as_plain_ibgp() {
    let c = run_case("same_cluster").await;
    workers_are_clients(&c);
    assert_eq!(role(&c, "Node_198_51_100_12"), Role::NonClient);
    assert_eq!(c.config.neighbors.len(), 4);
}

#[tokio::test]
async fn route_reflectors_with_different_cluster_ids_are_each_others_clients() {
    let c = run_case("different_clusters").await;
    workers_are_clients(&c);
    assert_eq!(role(&c, "Node_198_51_100_12"), cluster("1.0.0.1"));
}

#[tokio::test]
async fn an_external_peer_in_another_as_is_never_a_client() {
    let c = run_case("external_peer").await;
    workers_are_clients(&c);
    let ext = &c.config.neighbors[&PeerKey("Node_198_51_100_250".into())];
    assert_eq!(ext.role, Role::NonClient);
    assert_eq!(ext.remote_as, Asn(64999));
}

#[tokio::test]
async fn peer_ip_with_a_port_names_and_uses_the_port() {
    let c = run_case("peer_ip_port").await;
    for name in [
        "Node_198_51_100_251_port_1790",
        "Node_2001_db8__251_port_1790",
    ] {
        let n = &c.config.neighbors[&PeerKey(name.into())];
        assert_eq!(n.port, Some(1790), "{name}");
        assert_eq!(n.role, Role::NonClient, "{name}: eBGP");
    }
}

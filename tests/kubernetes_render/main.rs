//! The Calico v3 golden cases of `tests/calico_v3_golden`, stored the way
//! Calico's Kubernetes datastore holds them — core Nodes with
//! `projectcalico.org/*` annotations, `crd.projectcalico.org/v1` BGPPeers
//! and BGPConfigurations — in the in-test Kubernetes API server, read by
//! the real binary (`rrd render`, `[source] kind = "kubernetes"`, a
//! kubeconfig with a bearer token): the BIRD 2 configuration must be the
//! same, byte for byte, as the one rendered from etcd. Kubernetes cannot be
//! installed here; the API server is `rrd_source_kubernetes::testing`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rrd_layouts::calico_v3::parse_objects;
use rrd_source_kubernetes::testing::{
    node_object, write_kubeconfig, Credentials, FakeApiServer, Resource,
};
use serde_json::{json, Value};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/calico_v3_golden")
        .join(case)
}

/// A `projectcalico.org/v3` object as the Kubernetes datastore stores it.
fn as_kubernetes(object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap();
    let name = object["metadata"]["name"].as_str().unwrap();
    if kind != "Node" {
        let mut o = object.clone();
        o["apiVersion"] = json!("crd.projectcalico.org/v1");
        return o;
    }
    let bgp = &object["spec"]["bgp"];
    let mut annotations = BTreeMap::new();
    for (field, annotation) in [
        ("ipv4Address", "projectcalico.org/IPv4Address"),
        ("ipv6Address", "projectcalico.org/IPv6Address"),
        ("asNumber", "projectcalico.org/ASNumber"),
        (
            "routeReflectorClusterID",
            "projectcalico.org/RouteReflectorClusterID",
        ),
    ] {
        match &bgp[field] {
            Value::Null => {}
            Value::String(s) => {
                annotations.insert(annotation, s.clone());
            }
            other => {
                annotations.insert(annotation, other.to_string());
            }
        }
    }
    let labels: BTreeMap<String, String> =
        serde_json::from_value(object["metadata"]["labels"].clone()).unwrap_or_default();
    node_object(name, &labels, annotations)
}

async fn render_case(case: &str) {
    let text = std::fs::read_to_string(case_dir(case).join("resources.yaml")).unwrap();
    let (objects, errors) = parse_objects(&text);
    assert!(errors.is_empty(), "{case}: {errors:?}");
    let server = FakeApiServer::start().await;
    server.require_token("rrd-test-token");
    server.with_state(|s| {
        for o in &objects {
            s.apply(as_kubernetes(o));
        }
        // Not Calico's: ignored.
        s.apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "unrelated", "namespace": "kube-system"}}));
    });
    assert!(server.with_state(|s| s.get(Resource::Nodes, "", "rr1").is_some()));

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(
        dir.path(),
        &server.url(),
        &Credentials {
            token: Some("rrd-test-token".into()),
            ..Credentials::default()
        },
    );
    let config = dir.path().join("rrd.toml");
    std::fs::write(
        &config,
        format!(
            "[identity]\nnode_name = \"rr1\"\nipv4 = \"198.51.100.11\"\n\
             [source]\nkind = \"kubernetes\"\n[source.kubernetes]\nkubeconfig = \"{}\"\npage_size = 2\n\
             [engine]\nkind = \"bird\"\n[engine.bird]\nversion = \"2\"\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    // The server runs on this runtime's other worker meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rrd"))
            .arg("render")
            .arg("--config")
            .arg(&config)
            .env_remove("KUBECONFIG")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{case}: rrd render failed: {stderr}");
    assert!(!stderr.contains("warning"), "{case}: {stderr}");
    // `rrd render` heads each file with `# ---- <path> ----`.
    let rendered = stdout
        .split_once('\n')
        .filter(|(head, _)| head.starts_with("# ---- "))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{case}: no file header in {stdout}"));
    let golden = std::fs::read_to_string(case_dir(case).join("rr1.bird2.conf")).unwrap();
    assert_eq!(
        rendered, golden,
        "{case}: Kubernetes and etcd must render the same configuration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_reflectors_sharing_a_cluster_id_render_as_from_etcd() {
    render_case("same_cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_reflectors_with_different_cluster_ids_render_as_from_etcd() {
    render_case("different_clusters").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_peer_renders_as_from_etcd() {
    render_case("external_peer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_ips_with_ports_render_as_from_etcd() {
    render_case("peer_ip_port").await;
}

//! The Kubernetes manifests, parsed with the API's own types.
//!
//! Core kinds go through k8s-openapi; the ServiceMonitor (Prometheus
//! Operator's CRD, `monitoring.coreos.com/v1`, not a core type) through the
//! fields of that API the manifest uses, with Kubernetes' own metadata and
//! label selector types. Every field a type does not know fails the test
//! (a typo such as `readinessProbes` is silently dropped by `kubectl apply`
//! with client-side defaults, and the pod runs without a probe).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::read;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: ServiceMonitorSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceMonitorSpec {
    selector: LabelSelector,
    namespace_selector: Option<NamespaceSelector>,
    endpoints: Vec<ScrapeEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NamespaceSelector {
    #[serde(default)]
    match_names: Vec<String>,
    any: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScrapeEndpoint {
    port: Option<String>,
    path: Option<String>,
    interval: Option<String>,
    scrape_timeout: Option<String>,
    scheme: Option<String>,
}

/// Deserialize `doc` as `T`, refusing any field `T` does not know.
fn parse<T: DeserializeOwned>(doc: &serde_yaml::Value) -> Result<T, String> {
    let mut unknown = Vec::new();
    let value: T = serde_ignored::deserialize(doc.clone(), |path| unknown.push(path.to_string()))
        .map_err(|e| e.to_string())?;
    if unknown.is_empty() {
        Ok(value)
    } else {
        Err(format!("unknown fields {unknown:?}"))
    }
}

fn strict<T: DeserializeOwned>(doc: &serde_yaml::Value, what: &str) -> T {
    parse(doc).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[derive(Debug, Default)]
struct Manifests {
    config_maps: Vec<ConfigMap>,
    daemon_sets: Vec<DaemonSet>,
    pdbs: Vec<PodDisruptionBudget>,
    services: Vec<Service>,
    service_monitors: Vec<ServiceMonitor>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
}

fn load(files: &[&str]) -> Manifests {
    let mut m = Manifests::default();
    for file in files {
        let text = read(file);
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc = serde_yaml::Value::deserialize(de).unwrap_or_else(|e| panic!("{file}: {e}"));
            if doc.is_null() {
                continue;
            }
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let api = doc["apiVersion"].as_str().unwrap_or_default().to_owned();
            let what = format!("{file} document {i} ({api} {kind})");
            match (api.as_str(), kind.as_str()) {
                ("v1", "ConfigMap") => m.config_maps.push(strict(&doc, &what)),
                ("apps/v1", "DaemonSet") => m.daemon_sets.push(strict(&doc, &what)),
                ("policy/v1", "PodDisruptionBudget") => m.pdbs.push(strict(&doc, &what)),
                ("v1", "Service") => m.services.push(strict(&doc, &what)),
                ("v1", "ServiceAccount") => m.service_accounts.push(strict(&doc, &what)),
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                    m.cluster_roles.push(strict(&doc, &what))
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                    m.cluster_role_bindings.push(strict(&doc, &what))
                }
                ("rbac.authorization.k8s.io/v1", "Role") => m.roles.push(strict(&doc, &what)),
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                    m.role_bindings.push(strict(&doc, &what))
                }
                ("monitoring.coreos.com/v1", "ServiceMonitor") => {
                    m.service_monitors.push(strict(&doc, &what))
                }
                _ => panic!("{what}: not a kind this test knows"),
            }
        }
    }
    m
}

const FILES: [&str; 2] = [
    "packaging/kubernetes/rrd.yaml",
    "config/examples/kubernetes-rbac.yaml",
];

fn labels(selector: &LabelSelector) -> BTreeMap<String, String> {
    assert!(
        selector.match_expressions.is_none(),
        "only matchLabels selectors here"
    );
    selector.match_labels.clone().unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn every_manifest_parses_with_the_kubernetes_types_and_no_unknown_field() {
    let m = load(&FILES);
    assert_eq!(m.daemon_sets.len(), 1);
    assert_eq!(m.pdbs.len(), 1);
    assert_eq!(m.service_monitors.len(), 1);
    assert_eq!(m.config_maps.len(), 1);
    assert_eq!(m.services.len(), 1);
    assert_eq!(m.service_accounts.len(), 1);
    assert_eq!(m.cluster_roles.len(), 1);
    assert_eq!(m.cluster_role_bindings.len(), 1);
    assert_eq!(m.roles.len(), 1);
    assert_eq!(m.role_bindings.len(), 1);
}

#[test]
fn a_misspelt_field_is_refused() {
    let doc: serde_yaml::Value = serde_yaml::from_str(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailable: 1, selectr: {}}\n",
    )
    .unwrap();
    let err = parse::<PodDisruptionBudget>(&doc).expect_err("spec.selectr was accepted");
    assert!(err.contains("selectr"), "{err}");
}

#[test]
fn the_daemonset_runs_host_networked_rrd_with_probes_rbac_pdb_and_service_monitor() {
    let m = load(&FILES);
    let ds = &m.daemon_sets[0];
    let namespace = ds.metadata.namespace.clone().expect("namespace");
    let spec = &ds.spec;
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|x| x.labels.clone())
        .unwrap_or_default();
    assert!(
        selects(&labels(&spec.selector), &pod_labels),
        "the DaemonSet selects its pods"
    );
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        pod.host_network,
        Some(true),
        "BGP speaks from the node's address"
    );
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));

    // The existing RBAC: its ServiceAccount, bound to its roles.
    let account = pod
        .service_account_name
        .clone()
        .expect("serviceAccountName");
    let sa = &m.service_accounts[0];
    assert_eq!(sa.metadata.name.as_deref(), Some(account.as_str()));
    assert_eq!(sa.metadata.namespace.as_deref(), Some(namespace.as_str()));
    for subjects in m
        .cluster_role_bindings
        .iter()
        .map(|b| &b.subjects)
        .chain(m.role_bindings.iter().map(|b| &b.subjects))
    {
        let bound = subjects.iter().flatten().any(|s| {
            s.kind == "ServiceAccount"
                && s.name == account
                && s.namespace.as_deref() == Some(namespace.as_str())
        });
        assert!(bound, "the pod's ServiceAccount is bound");
    }

    // Probes on the port rrd's configuration listens on.
    let config_map = &m.config_maps[0];
    let toml_text = config_map
        .data
        .as_ref()
        .and_then(|d| d.get("rrd.toml"))
        .expect("rrd.toml in the ConfigMap");
    let config: toml::Value = toml::from_str(toml_text).expect("rrd.toml is TOML");
    let listen = config["http"]["listen"].as_str().unwrap();
    let port: i32 = listen.rsplit(':').next().unwrap().parse().unwrap();
    let container = &pod.containers[0];
    let metrics_port = container
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .expect("a port named metrics");
    assert_eq!(metrics_port.container_port, port);
    for (probe, path) in [
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("an HTTP probe on {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::String("metrics".into()));
    }
    let args = container.args.clone().unwrap_or_default();
    let config_file = args
        .iter()
        .skip_while(|a| *a != "--config")
        .nth(1)
        .expect("--config FILE");
    let mounts = container.volume_mounts.clone().unwrap_or_default();
    let mounted = |path: &str| mounts.iter().any(|v| path.starts_with(&v.mount_path));
    assert!(
        mounted(config_file),
        "{config_file} is mounted from the ConfigMap"
    );
    for key in ["config_path", "socket"] {
        let path = config["engine"]["bird"][key].as_str().unwrap();
        assert!(mounted(path), "engine.bird.{key} = {path} is on a volume");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        container.image.as_deref(),
        Some(format!("localhost/rrd:{version}").as_str()),
        "the image packaging/image/build.sh tags"
    );

    // A disruption budget of one, for these pods.
    let pdb = m.pdbs[0].spec.as_ref().unwrap();
    assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
    assert!(pdb.min_available.is_none());
    assert!(selects(
        &labels(pdb.selector.as_ref().unwrap()),
        &pod_labels
    ));

    // Service -> pods; ServiceMonitor -> Service, on the metrics port.
    let service = &m.services[0];
    let service_spec = service.spec.as_ref().unwrap();
    assert!(selects(
        service_spec.selector.as_ref().unwrap(),
        &pod_labels
    ));
    let service_port = service_spec
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .expect("the Service's metrics port");
    assert_eq!(service_port.port, port);
    let monitor = &m.service_monitors[0];
    assert_eq!(monitor.api_version, "monitoring.coreos.com/v1");
    assert_eq!(monitor.kind, "ServiceMonitor");
    let service_labels = service.metadata.labels.clone().unwrap_or_default();
    assert!(selects(&labels(&monitor.spec.selector), &service_labels));
    let ns = monitor.spec.namespace_selector.as_ref().unwrap();
    assert!(ns.match_names.contains(&namespace) || ns.any == Some(true));
    let endpoint = &monitor.spec.endpoints[0];
    assert_eq!(endpoint.port.as_deref(), Some("metrics"));
    assert_eq!(endpoint.path.as_deref(), Some("/metrics"));
    assert!(endpoint.scheme.is_none() || endpoint.scheme.as_deref() == Some("http"));
    assert!(endpoint.interval.is_some() && endpoint.scrape_timeout.is_some());
    assert!(monitor.metadata.name.is_some());
}

//! The rrd-core source conformance fixture for Kubernetes: an in-test API
//! server, a kubeconfig pointing at it, and the topology written as
//! Calico's Kubernetes objects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use rrd_core::testing::conformance::SourceFixture;
use rrd_core::{RuleSet, Topology};
use serde_json::json;
use tempfile::TempDir;

use super::objects::{expected_for, objects_for};
use super::server::FakeApiServer;
use super::state::Resource;
use super::tls::TlsMaterial;
use crate::config::KubernetesConfig;
use crate::source::KubernetesSource;

/// How the kubeconfig authenticates.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub token: Option<String>,
    /// Client certificate and CA from this material.
    pub tls: Option<TlsMaterial>,
    /// The cluster's `tls-server-name`.
    pub tls_server_name: Option<String>,
}

/// Write a kubeconfig for `server_url` into `dir`; returns its path.
pub fn write_kubeconfig(dir: &Path, server_url: &str, credentials: &Credentials) -> PathBuf {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut cluster = json!({ "server": server_url });
    let mut user = json!({});
    if let Some(t) = &credentials.token {
        user["token"] = json!(t);
    }
    if let Some(tls) = &credentials.tls {
        cluster["certificate-authority-data"] = json!(b64(&tls.ca_pem));
        if let Some(name) = &credentials.tls_server_name {
            cluster["tls-server-name"] = json!(name);
        }
        if tls.require_client_cert {
            user["client-certificate-data"] = json!(b64(&tls.client_cert_pem));
            user["client-key-data"] = json!(b64(&tls.client_key_pem));
        }
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "test",
        "clusters": [{ "name": "fake", "cluster": cluster }],
        "users": [{ "name": "rrd", "user": user }],
        "contexts": [{ "name": "test", "context": { "cluster": "fake", "user": "rrd" } }],
    });
    let path = dir.join("kubeconfig");
    // JSON is YAML.
    std::fs::write(&path, doc.to_string()).expect("write kubeconfig");
    path
}

/// A running in-test API server and the configuration sources under test
/// use (short backoff so that tests run fast).
#[derive(Debug)]
pub struct KubernetesFixture {
    pub server: FakeApiServer,
    pub config: KubernetesConfig,
    pub dir: TempDir,
}

impl KubernetesFixture {
    pub async fn start() -> KubernetesFixture {
        KubernetesFixture::around(FakeApiServer::start().await)
    }

    /// A fixture around a server in any state (e.g. not listening yet).
    pub fn around(server: FakeApiServer) -> KubernetesFixture {
        let dir = tempfile::Builder::new()
            .prefix("rrd-kube-")
            .tempdir()
            .expect("tempdir");
        let kubeconfig = write_kubeconfig(dir.path(), &server.url(), &Credentials::default());
        let config = KubernetesConfig {
            kubeconfig: Some(kubeconfig),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            ..KubernetesConfig::default()
        };
        KubernetesFixture {
            server,
            config,
            dir,
        }
    }

    /// Make the server hold exactly `topology`'s objects.
    pub fn write_topology(&self, topology: &Topology) {
        let ns = self.config.secrets_namespace.clone();
        let objects = objects_for(topology, &ns);
        self.server.with_state(|s| {
            for (resource, objs) in objects {
                s.set_all(resource, objs);
            }
        });
    }
}

impl SourceFixture for KubernetesFixture {
    type Source = KubernetesSource;

    fn source(&mut self) -> KubernetesSource {
        KubernetesSource::new(self.config.clone()).expect("valid config")
    }

    async fn write(&mut self, topology: &Topology) {
        self.write_topology(topology);
    }

    async fn write_invalid(&mut self) -> String {
        self.server.with_state(|s| {
            s.apply(json!({
                "apiVersion": "crd.projectcalico.org/v1",
                "kind": "BGPPeer",
                "metadata": { "name": "broken-peer" },
                "spec": { "peerIP": "not-an-ip", "asNumber": 64512 },
            }))
        });
        "BGPPeer broken-peer".into()
    }

    fn expected(&self, written: &Topology) -> Topology {
        expected_for(written)
    }

    fn rules(&self) -> RuleSet {
        RuleSet::CalicoV3
    }
}

/// Every resource the fixture writes, for tests that look at requests.
pub const CALICO_RESOURCES: [Resource; 3] = [
    Resource::BgpConfigurations,
    Resource::BgpPeers,
    Resource::Nodes,
];

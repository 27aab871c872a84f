//! HTTPS as real API servers speak it: the kubeconfig's CA, client
//! certificate and bearer token, `tls-server-name`, and credentials from
//! an `exec` plugin (a token or a client certificate); wrong credentials
//! are errors that say why.

use rrd_core::testing::fixtures;
use rrd_core::{PeerSource, SourceError};
use rrd_source_kubernetes::testing::{
    expected_for, write_kubeconfig, Credentials, FakeApiServer, KubernetesFixture, TlsMaterial,
};
use rrd_source_kubernetes::KubernetesSource;

async fn tls_fixture(
    token: &str,
    kubeconfig_token: &str,
    ca: Option<TlsMaterial>,
) -> KubernetesFixture {
    let tls = TlsMaterial::generate(true);
    let server = FakeApiServer::start_tls(tls.clone()).await;
    server.require_token(token);
    let mut f = KubernetesFixture::around(server);
    let mut creds = Credentials {
        token: Some(kubeconfig_token.into()),
        tls: Some(tls),
        tls_server_name: None,
    };
    if let (Some(other), Some(own)) = (ca, creds.tls.as_mut()) {
        own.ca_pem = other.ca_pem;
    }
    f.config.kubeconfig = Some(write_kubeconfig(f.dir.path(), &f.server.url(), &creds));
    f.write_topology(&fixtures::seed());
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_kubeconfigs_ca_client_certificate_and_token_reads_everything() {
    let f = tls_fixture("t0ken", "t0ken", None).await;
    let mut source = KubernetesSource::new(f.config.clone()).unwrap();
    assert!(source.server().starts_with("https://127.0.0.1:"));
    let t = source.snapshot().await.unwrap();
    assert_eq!(t, expected_for(&fixtures::seed()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_error_naming_the_401() {
    let f = tls_fixture("t0ken", "stale", None).await;
    let mut source = KubernetesSource::new(f.config.clone()).unwrap();
    let e = source.snapshot().await.unwrap_err();
    assert!(matches!(e, SourceError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(
        !e.to_string().contains("stale"),
        "the token must not be printed: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused() {
    let f = tls_fixture("t0ken", "t0ken", Some(TlsMaterial::generate(false))).await;
    let mut source = KubernetesSource::new(f.config.clone()).unwrap();
    let e = source.snapshot().await.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_name_is_the_name_the_certificate_is_checked_against() {
    let tls = TlsMaterial::generate(false);
    let server = FakeApiServer::start_tls(tls.clone()).await;
    let mut f = KubernetesFixture::around(server);
    f.write_topology(&fixtures::seed());
    for (name, ok) in [("localhost", true), ("api.wrong.example", false)] {
        let creds = Credentials {
            token: None,
            tls: Some(tls.clone()),
            tls_server_name: Some(name.into()),
        };
        f.config.kubeconfig = Some(write_kubeconfig(f.dir.path(), &f.server.url(), &creds));
        let result = KubernetesSource::new(f.config.clone())
            .unwrap()
            .snapshot()
            .await;
        match (result, ok) {
            (Ok(t), true) => assert_eq!(t, expected_for(&fixtures::seed())),
            (Err(e), false) => {
                assert!(e.to_string().to_lowercase().contains("certificate"), "{e}")
            }
            (r, _) => panic!("tls-server-name {name}: {:?}", r.map(|_| ())),
        }
    }
}

/// A kubeconfig whose user is an `exec` credential plugin printing
/// `status` (an ExecCredential), against `server`.
fn exec_kubeconfig(
    dir: &std::path::Path,
    server: &str,
    ca_pem: &str,
    status: serde_json::Value,
) -> std::path::PathBuf {
    use base64::Engine as _;
    let credential = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": status,
    });
    let script = dir.join("credential-plugin.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat <<'EOF'\n{credential}\nEOF\n"),
    )
    .unwrap();
    let doc = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "exec",
        "clusters": [{ "name": "fake", "cluster": {
            "server": server,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca_pem),
        }}],
        "users": [{ "name": "plugin", "user": { "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "/bin/sh", "args": [script.display().to_string()],
            "interactiveMode": "Never",
        }}}],
        "contexts": [{ "name": "exec", "context": { "cluster": "fake", "user": "plugin" } }],
    });
    let path = dir.join("exec-kubeconfig");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// The seed read over HTTPS (client certificates required or not, a
/// token required or not) with the credentials an exec plugin prints.
async fn read_with_exec_plugin(
    require_client_cert: bool,
    token: Option<&str>,
    status: impl FnOnce(&TlsMaterial) -> serde_json::Value,
) {
    let tls = TlsMaterial::generate(require_client_cert);
    let server = FakeApiServer::start_tls(tls.clone()).await;
    if let Some(t) = token {
        server.require_token(t);
    }
    let mut f = KubernetesFixture::around(server);
    f.write_topology(&fixtures::seed());
    let status = status(&tls);
    let path = exec_kubeconfig(f.dir.path(), &f.server.url(), &tls.ca_pem, status);
    f.config.kubeconfig = Some(path);
    let mut source = KubernetesSource::new(f.config.clone()).unwrap();
    assert_eq!(
        source.snapshot().await.unwrap(),
        expected_for(&fixtures::seed())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_plugin_gives_the_token() {
    read_with_exec_plugin(
        false,
        Some("from-plugin"),
        |_| serde_json::json!({ "token": "from-plugin" }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_plugin_gives_the_client_certificate() {
    read_with_exec_plugin(true, None, |tls| {
        serde_json::json!({
            "clientCertificateData": tls.client_cert_pem,
            "clientKeyData": tls.client_key_pem,
        })
    })
    .await;
}

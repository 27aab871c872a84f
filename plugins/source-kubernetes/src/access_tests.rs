//! kubeconfig and in-cluster resolution, against files in a tempdir.

use std::collections::BTreeMap;

use super::*;

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: admin@lab
clusters:
- name: lab
  cluster:
    server: https://192.0.2.10:6443
    certificate-authority: pki/ca.crt
- name: other
  cluster:
    server: https://192.0.2.20:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: abc.def
- name: certs
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/echo
      args: ["x"]
      env: null
contexts:
- name: admin@lab
  context:
    cluster: lab
    user: admin
- name: certs@other
  context:
    cluster: other
    user: certs
- name: plugin@other
  context:
    cluster: other
    user: plugin
- name: broken
  context:
    cluster: nowhere
    user: admin
"#;

fn env_of<'a>(vars: &'a BTreeMap<&str, String>, sa: &Path) -> Environment<'a> {
    Environment {
        var: Box::new(move |k: &str| vars.get(k).cloned()),
        service_account_dir: sa.to_owned(),
    }
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pki")).unwrap();
    std::fs::write(dir.path().join("pki/ca.crt"), "CA PEM").unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, KUBECONFIG).unwrap();
    (dir, path)
}

fn with(path: &Path, context: Option<&str>) -> KubernetesConfig {
    KubernetesConfig {
        kubeconfig: Some(path.to_owned()),
        context: context.map(str::to_owned),
        ..KubernetesConfig::default()
    }
}

#[test]
fn the_current_context_gives_server_ca_relative_to_the_file_and_token() {
    let (_dir, path) = setup();
    let vars = BTreeMap::new();
    let a = resolve(&with(&path, None), &env_of(&vars, Path::new("/none"))).unwrap();
    assert_eq!(a.server.as_str(), "https://192.0.2.10:6443/");
    assert_eq!(a.ca_pem.as_deref(), Some(&b"CA PEM"[..]));
    assert!(matches!(&a.auth, Auth::Token(t) if t == "abc.def"));
    assert!(a.origin.contains("admin@lab"), "{}", a.origin);
    assert!(
        !format!("{a:?}").contains("abc.def"),
        "the token must not be printed"
    );
}

#[test]
fn a_named_context_with_inline_client_certificate_and_no_ca_check() {
    let (_dir, path) = setup();
    let vars = BTreeMap::new();
    let a = resolve(
        &with(&path, Some("certs@other")),
        &env_of(&vars, Path::new("/none")),
    )
    .unwrap();
    assert!(a.insecure);
    assert_eq!(a.identity_pem.as_deref(), Some(&b"CERT\nKEY"[..]));
    assert!(matches!(a.auth, Auth::None));
}

#[test]
fn missing_contexts_and_clusters_are_named() {
    let (_dir, path) = setup();
    let vars = BTreeMap::new();
    let env = env_of(&vars, Path::new("/none"));
    let e = resolve(&with(&path, Some("nope")), &env).unwrap_err();
    assert!(e.to_string().contains("no context \"nope\""), "{e}");
    let e = resolve(&with(&path, Some("broken")), &env).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
}

#[tokio::test]
async fn an_exec_plugin_token_is_run_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cred.sh");
    let count = dir.path().join("count");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> {}\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"from-plugin\"}}}}'\n",
            count.display()
        ),
    )
    .unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        format!(
            "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: http://127.0.0.1:1\nusers:\n- name: u\n  user:\n    exec:\n      command: /bin/sh\n      args: [\"{}\"]\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n",
            script.display()
        ),
    )
    .unwrap();
    let vars = BTreeMap::new();
    let a = resolve(&with(&path, None), &env_of(&vars, Path::new("/none"))).unwrap();
    for _ in 0..2 {
        assert_eq!(
            a.auth.header().await.unwrap().as_deref(),
            Some("Bearer from-plugin")
        );
    }
    let runs = std::fs::read_to_string(&count).unwrap();
    assert_eq!(runs.lines().count(), 1, "the token is cached");
    a.auth.invalidate();
    a.auth.header().await.unwrap();
    let runs = std::fs::read_to_string(&count).unwrap();
    assert_eq!(runs.lines().count(), 2, "a 401 runs the plugin again");
}

#[test]
fn in_cluster_uses_the_service_environment_and_account_files() {
    let sa = tempfile::tempdir().unwrap();
    std::fs::write(sa.path().join("ca.crt"), "CLUSTER CA").unwrap();
    std::fs::write(sa.path().join("token"), "sa-token\n").unwrap();
    let vars = BTreeMap::from([
        ("KUBERNETES_SERVICE_HOST", "fd00::1".to_owned()),
        ("KUBERNETES_SERVICE_PORT", "443".to_owned()),
    ]);
    // Picked without being asked: no kubeconfig, no $KUBECONFIG, in a pod.
    let a = resolve(&KubernetesConfig::default(), &env_of(&vars, sa.path())).unwrap();
    assert_eq!(a.server.as_str(), "https://[fd00::1]/");
    assert_eq!(a.ca_pem.as_deref(), Some(&b"CLUSTER CA"[..]));
    assert!(matches!(a.auth, Auth::TokenFile(_)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let header = rt.block_on(a.auth.header()).unwrap();
    assert_eq!(header.as_deref(), Some("Bearer sa-token"));
}

#[test]
fn kubeconfig_lists_merge_with_the_first_definition_winning() {
    let (dir, path) = setup();
    let first = dir.path().join("first");
    std::fs::write(
        &first,
        "current-context: certs@other\nclusters:\n- name: other\n  cluster:\n    server: https://198.51.100.1:6443\n",
    )
    .unwrap();
    let list = std::env::join_paths([first.as_path(), Path::new("/does/not/exist"), &path])
        .unwrap()
        .into_string()
        .unwrap();
    let vars = BTreeMap::from([("KUBECONFIG", list)]);
    let a = resolve(
        &KubernetesConfig::default(),
        &env_of(&vars, Path::new("/none")),
    )
    .unwrap();
    assert_eq!(a.server.as_str(), "https://198.51.100.1:6443/");
    assert!(
        a.identity_pem.is_some(),
        "the user comes from the second file"
    );
}

#[test]
fn unsupported_kubeconfig_features_are_refused_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://192.0.2.1\nusers:\n- name: u\n  user:\n    auth-provider:\n      name: oidc\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n",
    )
    .unwrap();
    let vars = BTreeMap::new();
    let e = resolve(&with(&path, None), &env_of(&vars, Path::new("/none"))).unwrap_err();
    assert!(e.to_string().contains("auth-provider"), "{e}");
}

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
fn the_current_context_gives_the_server_and_never_shows_the_token() {
    let (_dir, path) = setup();
    let vars = BTreeMap::new();
    let a = resolve(&with(&path, None), &env_of(&vars, Path::new("/none"))).unwrap();
    assert_eq!(a.server, "https://192.0.2.10:6443");
    assert!(a.origin.contains("admin@lab"), "{}", a.origin);
    assert!(
        !format!("{a:?}").contains("abc.def"),
        "the token must not be printed"
    );
}

#[tokio::test]
async fn relative_paths_are_relative_to_the_kubeconfigs_folder() {
    let (dir, path) = setup();
    let vars = BTreeMap::new();
    let a = resolve(&with(&path, None), &env_of(&vars, Path::new("/none"))).unwrap();
    let lab = a
        .kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == "lab")
        .unwrap();
    let ca = lab.cluster.as_ref().unwrap().certificate_authority.clone();
    assert_eq!(
        ca,
        Some(dir.path().join("pki/ca.crt").display().to_string())
    );
    std::fs::remove_file(dir.path().join("pki/ca.crt")).unwrap();
    let Err(e) = a.client(&KubernetesConfig::default()).await else {
        panic!("a missing CA file must fail")
    };
    assert!(
        e.to_string().contains("ca.crt") || e.to_string().contains("No such file"),
        "{e}"
    );
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
    assert_eq!(a.server, "https://[fd00::1]:443");
    assert_eq!(a.origin, "in-cluster config");
    let user = a.kubeconfig.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(
        user.token_file.as_deref(),
        Some(sa.path().join("token").to_str().unwrap()),
        "the token file, re-read as it rotates"
    );
    // Without the account's files: an error naming the file.
    std::fs::remove_file(sa.path().join("token")).unwrap();
    let e = resolve(&KubernetesConfig::default(), &env_of(&vars, sa.path())).unwrap_err();
    assert!(e.to_string().contains("service account token"), "{e}");
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
    assert_eq!(a.server, "https://198.51.100.1:6443");
    assert!(a.origin.contains("certs@other"), "{}", a.origin);
    let cluster = a
        .kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == "other")
        .unwrap();
    assert_eq!(
        cluster.cluster.as_ref().unwrap().insecure_skip_tls_verify,
        None,
        "the first file's cluster wins"
    );
    assert!(
        a.kubeconfig.auth_infos.iter().any(|u| u.name == "certs"),
        "the user comes from the third file"
    );
}

#[tokio::test]
async fn auth_providers_impersonation_and_tls_server_name_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://192.0.2.1\n    tls-server-name: api.internal\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    as: rrd-reader\n    auth-provider:\n      name: oidc\n      config:\n        client-id: rrd\n        id-token: eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.\n        idp-issuer-url: https://192.0.2.2\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n",
    )
    .unwrap();
    let vars = BTreeMap::new();
    let a = resolve(&with(&path, None), &env_of(&vars, Path::new("/none"))).unwrap();
    a.client(&KubernetesConfig::default()).await.unwrap();
}

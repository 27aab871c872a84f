//! Where the API server is and who rrd is to it: a kubeconfig (file,
//! `$KUBECONFIG`, `~/.kube/config`) or the in-cluster service account,
//! resolved once into an [`Access`] the HTTP client is built from.
//!
//! kubeconfig support: `server`, `certificate-authority(-data)`,
//! `insecure-skip-tls-verify`, `proxy-url`; users with `token`,
//! `tokenFile`, `client-certificate(-data)` + `client-key(-data)`,
//! `username`/`password`, or an `exec` credential plugin that returns a
//! token. Relative paths are relative to the kubeconfig's folder, as in
//! client-go; `$KUBECONFIG` lists are merged (first definition wins).
//! `auth-provider`, `tls-server-name` and impersonation are refused with a
//! message rather than ignored.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::Deserialize;

use crate::config::KubernetesConfig;
use crate::error::KubeError;

/// The service account folder of a pod.
pub(crate) const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach and authenticate to the API server.
#[derive(Debug)]
pub(crate) struct Access {
    /// `https://host:port` (any path prefix kept).
    pub server: reqwest::Url,
    /// "kubeconfig /root/.kube/config, context admin@lab" or "in-cluster".
    pub origin: String,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
    /// Client certificate and key, PEM, concatenated.
    pub identity_pem: Option<Vec<u8>>,
    pub auth: Auth,
    pub proxy: Option<String>,
}

/// Per-request credentials. `Debug` never shows a token or password.
pub(crate) enum Auth {
    None,
    Token(String),
    /// Re-read for every request: projected service account tokens rotate.
    TokenFile(PathBuf),
    Basic {
        username: String,
        password: String,
    },
    Exec(ExecPlugin),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::TokenFile(p) => write!(f, "TokenFile({})", p.display()),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::Exec(e) => write!(f, "Exec({})", e.command),
        }
    }
}

impl Auth {
    /// The `Authorization` header value for the next request.
    pub async fn header(&self) -> Result<Option<String>, KubeError> {
        match self {
            Auth::None => Ok(None),
            Auth::Token(t) => Ok(Some(format!("Bearer {t}"))),
            Auth::TokenFile(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|source| {
                    KubeError::ReadFile {
                        what: "token file",
                        path: path.clone(),
                        source,
                    }
                })?;
                Ok(Some(format!("Bearer {}", text.trim())))
            }
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{password}");
                Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )))
            }
            Auth::Exec(e) => e.token().await.map(|t| Some(format!("Bearer {t}"))),
        }
    }

    /// The API server said 401: a cached credential is stale.
    pub fn invalidate(&self) {
        if let Auth::Exec(e) = self {
            *e.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

/// A kubeconfig `exec` plugin (client.authentication.k8s.io): run it,
/// keep its token until `expirationTimestamp` or a 401.
pub(crate) struct ExecPlugin {
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    api_version: String,
    cached: Mutex<Option<(String, Option<SystemTime>)>>,
}

#[derive(Deserialize)]
struct ExecCredential {
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    expiration_timestamp: Option<String>,
}

impl ExecPlugin {
    async fn token(&self) -> Result<String, KubeError> {
        let now = SystemTime::now();
        if let Some((t, exp)) = &*self.cached.lock().unwrap_or_else(|p| p.into_inner()) {
            if exp.is_none_or(|e| e > now + Duration::from_secs(10)) {
                return Ok(t.clone());
            }
        }
        let fail = |reason: String| KubeError::Exec {
            command: self.command.clone(),
            reason,
        };
        let info = format!(
            r#"{{"apiVersion":"{}","kind":"ExecCredential","spec":{{"interactive":false}}}}"#,
            self.api_version
        );
        let out = tokio::process::Command::new(&self.command)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("KUBERNETES_EXEC_INFO", info)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| fail(format!("cannot run it: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(fail(format!("{}: {}", out.status, stderr.trim())));
        }
        let cred: ExecCredential = serde_json::from_slice(&out.stdout)
            .map_err(|e| fail(format!("output is not an ExecCredential: {e}")))?;
        let status = cred
            .status
            .ok_or_else(|| fail("the ExecCredential has no status".into()))?;
        let token = status.token.filter(|t| !t.is_empty()).ok_or_else(|| {
            fail("no status.token (client certificates from plugins are not supported)".into())
        })?;
        let expiry = status
            .expiration_timestamp
            .and_then(|s| humantime::parse_rfc3339_weak(&s).ok());
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((token.clone(), expiry));
        Ok(token)
    }
}

// ---- kubeconfig documents -------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct Kubeconfig {
    clusters: Option<Vec<NamedCluster>>,
    users: Option<Vec<NamedUser>>,
    contexts: Option<Vec<NamedContext>>,
    #[serde(rename = "current-context")]
    current_context: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Deserialize)]
struct NamedUser {
    name: String,
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: Option<String>,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: Option<bool>,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<ExecConfig>,
    auth_provider: Option<serde_yaml::Value>,
    #[serde(rename = "as")]
    impersonate: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecConfig {
    command: String,
    args: Option<Vec<String>>,
    env: Option<Vec<ExecEnv>>,
    api_version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExecEnv {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct Context {
    cluster: String,
    user: Option<String>,
}

/// Looks up an environment variable.
pub(crate) type VarLookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// The process environment, injectable for tests.
pub(crate) struct Environment<'a> {
    pub var: VarLookup<'a>,
    pub service_account_dir: PathBuf,
}

impl Environment<'_> {
    pub fn process() -> Environment<'static> {
        Environment {
            var: Box::new(|k| std::env::var(k).ok()),
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }
}

/// Resolve the configuration into an [`Access`], reading every file it
/// names now so that mistakes show at start.
pub(crate) fn resolve(config: &KubernetesConfig, env: &Environment) -> Result<Access, KubeError> {
    if config.in_cluster {
        return in_cluster(env);
    }
    if let Some(path) = &config.kubeconfig {
        return from_kubeconfig(std::slice::from_ref(path), config.context.as_deref());
    }
    if let Some(list) = (env.var)("KUBECONFIG").filter(|v| !v.trim().is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        return from_kubeconfig(&paths, config.context.as_deref());
    }
    if (env.var)("KUBERNETES_SERVICE_HOST").is_some() && config.context.is_none() {
        return in_cluster(env);
    }
    let home = (env.var)("HOME").ok_or_else(|| KubeError::Access {
        origin: "kubeconfig".into(),
        reason: "no kubeconfig configured, $KUBECONFIG and $HOME unset, and not in a cluster \
                 (KUBERNETES_SERVICE_HOST unset)"
            .into(),
    })?;
    from_kubeconfig(
        &[Path::new(&home).join(".kube/config")],
        config.context.as_deref(),
    )
}

fn in_cluster(env: &Environment) -> Result<Access, KubeError> {
    let origin = "in-cluster config".to_owned();
    let missing = |v: &str| KubeError::Access {
        origin: origin.clone(),
        reason: format!("{v} is not set (not running in a pod?)"),
    };
    let host =
        (env.var)("KUBERNETES_SERVICE_HOST").ok_or_else(|| missing("KUBERNETES_SERVICE_HOST"))?;
    let port =
        (env.var)("KUBERNETES_SERVICE_PORT").ok_or_else(|| missing("KUBERNETES_SERVICE_PORT"))?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let server = parse_server(&format!("https://{host}:{port}"), &origin)?;
    let dir = &env.service_account_dir;
    let ca_path = dir.join("ca.crt");
    let ca = read_file("service account CA", &ca_path)?;
    let token_path = dir.join("token");
    read_file("service account token", &token_path)?;
    Ok(Access {
        server,
        origin,
        ca_pem: Some(ca),
        insecure: false,
        identity_pem: None,
        auth: Auth::TokenFile(token_path),
        proxy: None,
    })
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, KubeError> {
    std::fs::read(path).map_err(|source| KubeError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

fn parse_server(text: &str, origin: &str) -> Result<reqwest::Url, KubeError> {
    let url = reqwest::Url::parse(text).map_err(|e| KubeError::Access {
        origin: origin.to_owned(),
        reason: format!("server {text:?} is not a URL: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(KubeError::Access {
            origin: origin.to_owned(),
            reason: format!("server {text:?}: expected https://host:port"),
        });
    }
    Ok(url)
}

/// One loaded kubeconfig file and the folder its relative paths start from.
struct Loaded {
    dir: PathBuf,
    doc: Kubeconfig,
}

fn from_kubeconfig(paths: &[PathBuf], context: Option<&str>) -> Result<Access, KubeError> {
    let mut files = Vec::new();
    for path in paths {
        // In a $KUBECONFIG list, missing files are skipped (client-go).
        if paths.len() > 1 && !path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(path).map_err(|source| KubeError::ReadFile {
            what: "kubeconfig",
            path: path.clone(),
            source,
        })?;
        let doc: Kubeconfig = serde_yaml::from_str(&text).map_err(|e| KubeError::Access {
            origin: format!("kubeconfig {}", path.display()),
            reason: format!("not a kubeconfig: {e}"),
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        files.push(Loaded { dir, doc });
    }
    let names = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let fail = |reason: String| KubeError::Access {
        origin: format!("kubeconfig {names}"),
        reason,
    };
    let context_name = match context {
        Some(c) => c.to_owned(),
        None => files
            .iter()
            .find_map(|f| f.doc.current_context.clone().filter(|c| !c.is_empty()))
            .ok_or_else(|| fail("no current-context; set source.kubernetes.context".into()))?,
    };
    // First definition of a name wins across merged files.
    let find_context = files.iter().find_map(|f| {
        f.doc
            .contexts
            .iter()
            .flatten()
            .find(|c| c.name == context_name)
    });
    let ctx = find_context.ok_or_else(|| fail(format!("no context {context_name:?}")))?;
    let (cluster, cluster_dir) = files
        .iter()
        .find_map(|f| {
            f.doc
                .clusters
                .iter()
                .flatten()
                .find(|c| c.name == ctx.context.cluster)
                .map(|c| (&c.cluster, f.dir.as_path()))
        })
        .ok_or_else(|| {
            fail(format!(
                "context {context_name:?} names cluster {:?}, which is not defined",
                ctx.context.cluster
            ))
        })?;
    let empty = User::default();
    let (user, user_dir) = match ctx.context.user.as_deref().filter(|u| !u.is_empty()) {
        None => (&empty, cluster_dir),
        Some(name) => files
            .iter()
            .find_map(|f| {
                f.doc
                    .users
                    .iter()
                    .flatten()
                    .find(|u| u.name == name)
                    .map(|u| (u.user.as_ref().unwrap_or(&empty), f.dir.as_path()))
            })
            .ok_or_else(|| {
                fail(format!(
                    "context {context_name:?} names user {name:?}, which is not defined"
                ))
            })?,
    };
    let origin = format!("kubeconfig {names}, context {context_name}");
    let fail = |reason: String| KubeError::Access {
        origin: origin.clone(),
        reason,
    };
    let server = cluster
        .server
        .as_deref()
        .ok_or_else(|| fail(format!("cluster {:?} has no server", ctx.context.cluster)))?;
    let server = parse_server(server, &origin)?;
    if cluster.tls_server_name.is_some() {
        return Err(fail("tls-server-name is not supported".into()));
    }
    if user.auth_provider.is_some() {
        return Err(fail(
            "auth-provider plugins are not supported; use a token, a client certificate or exec"
                .into(),
        ));
    }
    if user.impersonate.is_some() {
        return Err(fail("impersonation (as) is not supported".into()));
    }
    let ca_pem = material(
        &fail,
        "certificate-authority",
        cluster.certificate_authority.as_deref(),
        cluster.certificate_authority_data.as_deref(),
        cluster_dir,
    )?;
    let cert = material(
        &fail,
        "client-certificate",
        user.client_certificate.as_deref(),
        user.client_certificate_data.as_deref(),
        user_dir,
    )?;
    let key = material(
        &fail,
        "client-key",
        user.client_key.as_deref(),
        user.client_key_data.as_deref(),
        user_dir,
    )?;
    let identity_pem = match (cert, key) {
        (Some(mut c), Some(k)) => {
            c.push(b'\n');
            c.extend(k);
            Some(c)
        }
        (None, None) => None,
        _ => return Err(fail("client-certificate and client-key go together".into())),
    };
    let auth = if let Some(t) = user.token.as_deref().filter(|t| !t.is_empty()) {
        Auth::Token(t.to_owned())
    } else if let Some(f) = &user.token_file {
        let path = user_dir.join(f);
        read_file("token file", &path)?;
        Auth::TokenFile(path)
    } else if let Some(e) = &user.exec {
        Auth::Exec(ExecPlugin {
            command: e.command.clone(),
            args: e.args.clone().unwrap_or_default(),
            env: e
                .env
                .iter()
                .flatten()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect(),
            api_version: e
                .api_version
                .clone()
                .unwrap_or_else(|| "client.authentication.k8s.io/v1".into()),
            cached: Mutex::new(None),
        })
    } else if let (Some(u), Some(p)) = (&user.username, &user.password) {
        Auth::Basic {
            username: u.clone(),
            password: p.clone(),
        }
    } else {
        Auth::None
    };
    Ok(Access {
        server,
        origin,
        ca_pem,
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
        identity_pem,
        auth,
        proxy: cluster.proxy_url.clone(),
    })
}

/// `<field>-data` (base64 PEM) wins over `<field>` (a file path).
fn material(
    fail: &dyn Fn(String) -> KubeError,
    field: &str,
    path: Option<&str>,
    data: Option<&str>,
    dir: &Path,
) -> Result<Option<Vec<u8>>, KubeError> {
    if let Some(d) = data.filter(|d| !d.trim().is_empty()) {
        let clean: String = d.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| fail(format!("{field}-data is not base64: {e}")));
    }
    match path.filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => read_file("kubeconfig certificate or key", &dir.join(p)).map(Some),
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;

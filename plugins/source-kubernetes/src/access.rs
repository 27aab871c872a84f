//! Where the API server is and who rrd is to it: a kubeconfig (file,
//! `$KUBECONFIG` list, `~/.kube/config`) or the pod's service account,
//! resolved once into an [`Access`]; kube builds the client from it.
//!
//! kube reads every kubeconfig feature client-go does: token, tokenFile,
//! client certificates, basic auth, `exec` plugins (token or client
//! certificate), `auth-provider` (OIDC, GCP), `tls-server-name`,
//! `insecure-skip-tls-verify`, `proxy-url` (else `HTTPS_PROXY` /
//! `NO_PROXY`), impersonation (`as`, `as-groups`). What rrd adds: the files
//! are read when the source is created so that mistakes show at start,
//! missing files of a `$KUBECONFIG` list are skipped (client-go does), and
//! the in-cluster access is a kubeconfig of its own whose token file kube
//! re-reads (bound service account tokens rotate).

use std::path::{Path, PathBuf};

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};

use crate::config::KubernetesConfig;
use crate::error::KubeError;

/// The service account folder of a pod.
pub(crate) const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach and authenticate to the API server. `Debug` shows no
/// credential.
#[derive(Clone)]
pub(crate) struct Access {
    kubeconfig: Kubeconfig,
    context: String,
    /// "kubeconfig /root/.kube/config, context admin@lab" or "in-cluster".
    pub origin: String,
    /// The cluster's `server`.
    pub server: String,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("origin", &self.origin)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// A kube client with the source's timeouts. A watch is quiet for up
    /// to `watch_timeout` (the server then ends it), so a read may take
    /// that long plus `request_timeout` before the connection counts as
    /// dead.
    pub async fn client(&self, config: &KubernetesConfig) -> Result<kube::Client, KubeError> {
        let options = KubeConfigOptions {
            context: Some(self.context.clone()),
            ..KubeConfigOptions::default()
        };
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| KubeError::Client {
            origin: self.origin.clone(),
            detail: rrd_source_kit::chain(e.as_ref()),
            source: e,
        };
        let mut c = kube::Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options)
            .await
            .map_err(|e| fail(Box::new(e)))?;
        c.connect_timeout = Some(config.connect_timeout);
        c.read_timeout = Some(config.watch_timeout + config.request_timeout);
        c.write_timeout = Some(config.request_timeout);
        kube::Client::try_from(c).map_err(|e| fail(Box::new(e)))
    }
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
/// names now.
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

/// The pod's service account as a kubeconfig: the API server from
/// `KUBERNETES_SERVICE_HOST`/`PORT`, its CA and its token file.
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
    let server = format!("https://{host}:{port}");
    let dir = &env.service_account_dir;
    let ca = dir.join("ca.crt");
    let token = dir.join("token");
    rrd_source_kit::read_file("service account CA", &ca)?;
    rrd_source_kit::read_file("service account token", &token)?;
    let name = "in-cluster".to_owned();
    let kubeconfig = Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(Cluster {
                server: Some(server.clone()),
                certificate_authority: Some(ca.display().to_string()),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(AuthInfo {
                token_file: Some(token.display().to_string()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(name.clone()),
        ..Kubeconfig::default()
    };
    Ok(Access {
        kubeconfig,
        context: name,
        origin,
        server,
    })
}

fn from_kubeconfig(paths: &[PathBuf], context: Option<&str>) -> Result<Access, KubeError> {
    let names = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let fail = |reason: String| KubeError::Access {
        origin: format!("kubeconfig {names}"),
        reason,
    };
    let mut merged = Kubeconfig::default();
    for path in paths {
        // In a $KUBECONFIG list, missing files are skipped (client-go).
        if paths.len() > 1 && !path.exists() {
            continue;
        }
        rrd_source_kit::read_file("kubeconfig", path)?;
        // Relative paths inside become relative to the file's folder.
        let doc = Kubeconfig::read_from(path).map_err(|e| KubeError::Access {
            origin: format!("kubeconfig {}", path.display()),
            reason: format!("not a kubeconfig: {e}"),
        })?;
        // First definition of a name wins across merged files.
        merged = merged.merge(doc).map_err(|e| fail(e.to_string()))?;
    }
    let context_name = match context {
        Some(c) => c.to_owned(),
        None => merged
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| fail("no current-context; set source.kubernetes.context".into()))?,
    };
    let ctx = merged
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| fail(format!("no context {context_name:?}")))?;
    let cluster = merged
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            fail(format!(
                "context {context_name:?} names cluster {:?}, which is not defined",
                ctx.cluster
            ))
        })?;
    if let Some(user) = ctx.user.as_deref().filter(|u| !u.is_empty()) {
        if !merged.auth_infos.iter().any(|u| u.name == user) {
            return Err(fail(format!(
                "context {context_name:?} names user {user:?}, which is not defined"
            )));
        }
    }
    let origin = format!("kubeconfig {names}, context {context_name}");
    let server = cluster.server.clone().ok_or_else(|| KubeError::Access {
        origin: origin.clone(),
        reason: format!("cluster {:?} has no server", ctx.cluster),
    })?;
    Ok(Access {
        kubeconfig: merged,
        context: context_name,
        origin,
        server,
    })
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;

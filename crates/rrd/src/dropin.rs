//! Drop-in mode: with no configuration file, the calico/routereflector
//! image's environment and Calico's own datastore variables make `rrd run`
//! do what the image did: read the fabric from the datastore and run BIRD
//! itself as the route reflector.
//!
//! * `DATASTORE_TYPE` (or `CALICO_DATASTORE_TYPE`) = `kubernetes`: the
//!   Kubernetes source, with `KUBECONFIG` (or `CALICO_KUBECONFIG`; unset:
//!   in-cluster) and this RR's node name from `NODENAME` / `CALICO_NODENAME`
//!   / `HOSTNAME`.
//! * anything else is etcd: `rrd_source_etcd`'s drop-in module reads the
//!   etcd variables and [`rrd_source_etcd::discover`] finds which API and
//!   layout hold the fabric; the choice and its reason are logged and shown
//!   by `rrd check` and `rrd status`.
//!
//! rrd-only variables: `RRD_ETCD_API` (`v2`, `v3`), `RRD_ETCD_LAYOUT`
//! (`calico-v1`, `calico-v3`), `RRD_BIRD_VERSION` (`2` default, `1.6`),
//! `RRD_STATE_DIR` (BIRD's files, default `/var/lib/rrd`), `RRD_RUN_DIR`
//! (BIRD's sockets, default `/run/rrd`), `RRD_BIRD_BINARY` /
//! `RRD_BIRD6_BINARY`, `RRD_HTTP_LISTEN`. The admin socket (`rrd status`,
//! `rrd apply`) is `rrd.sock` in `RRD_RUN_DIR`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use rrd_core::RrIdentity;
use rrd_engine_bird::{BirdConfig, BirdVersion};

use crate::config::{
    Config, ConfigError, EngineKind, EngineSection, HttpConfig, LogConfig, Problem, SourceKind,
    SourceSection,
};

/// The first of `names` that is set and not blank.
fn first_set(env: &impl Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

pub async fn config_from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
    let var = |k: &str| first_set(&env, &[k]);
    let datastore = first_set(&env, &["DATASTORE_TYPE", "CALICO_DATASTORE_TYPE"]);
    let version = match var("RRD_BIRD_VERSION").as_deref() {
        None | Some("2") => BirdVersion::V2,
        Some("1.6") => BirdVersion::V1_6,
        Some(other) => bail!("RRD_BIRD_VERSION: {other:?}, expected 2 or 1.6"),
    };
    let state = PathBuf::from(var("RRD_STATE_DIR").unwrap_or_else(|| "/var/lib/rrd".into()));
    let run = PathBuf::from(var("RRD_RUN_DIR").unwrap_or_else(|| "/run/rrd".into()));
    for dir in [&state, &run] {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut bird = BirdConfig {
        version,
        manage_process: true,
        config_path: state.join("bird.conf"),
        config_path_v6: state.join("bird6.conf"),
        socket: run.join("bird.ctl"),
        socket_v6: run.join("bird6.ctl"),
        ..BirdConfig::default()
    };
    if let Some(b) = var("RRD_BIRD_BINARY") {
        bird.binary = b.into();
    }
    if let Some(b) = var("RRD_BIRD6_BINARY") {
        bird.binary_v6 = b.into();
    }
    let mut http = HttpConfig {
        admin_socket: run.join("rrd.sock"),
        ..HttpConfig::default()
    };
    if let Some(listen) = var("RRD_HTTP_LISTEN") {
        http.listen = listen
            .parse()
            .with_context(|| format!("RRD_HTTP_LISTEN: {listen:?} is not ip:port"))?;
    }
    let mut source = SourceSection {
        kind: SourceKind::Etcd,
        #[cfg(feature = "source-file")]
        file: None,
        etcd: None,
        #[cfg(feature = "source-consul")]
        consul: None,
        #[cfg(feature = "source-kubernetes")]
        kubernetes: None,
    };
    let (identity, choice) = if datastore.as_deref() == Some("kubernetes") {
        kubernetes(&env, &mut source)?
    } else {
        let dropin = rrd_source_etcd::EtcdConfig::from_routereflector_env(&env)?;
        let (etcd, why) = rrd_source_etcd::discover(&dropin).await;
        source.etcd = Some(etcd);
        (dropin.identity, why)
    };
    let config = Config {
        identity,
        source,
        engine: EngineSection {
            kind: EngineKind::Bird,
            bird,
            ..EngineSection::default()
        },
        runtime: Default::default(),
        http,
        log: LogConfig::default(),
        source_choice: Some(format!("drop-in mode: {choice}")),
    };
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(ConfigError {
            problems: problems
                .into_iter()
                .map(|(key, message)| Problem {
                    key,
                    origin: "drop-in environment".into(),
                    message,
                })
                .collect(),
        }
        .into());
    }
    Ok(config)
}

/// `DATASTORE_TYPE=kubernetes`: Calico's CRDs through the API server.
#[cfg(feature = "source-kubernetes")]
fn kubernetes(
    env: &impl Fn(&str) -> Option<String>,
    source: &mut SourceSection,
) -> anyhow::Result<(RrIdentity, String)> {
    let ip = first_set(env, &["IP"]);
    let ipv4 = match ip {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| anyhow::anyhow!("IP: {ip:?} is not an IPv4 address"))?,
        ),
        None => None,
    };
    let ipv6 = match first_set(env, &["IP6"]) {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| anyhow::anyhow!("IP6: {ip:?} is not an IPv6 address"))?,
        ),
        None => None,
    };
    let node_name = first_set(env, &["NODENAME", "CALICO_NODENAME", "HOSTNAME"]);
    let kubeconfig = first_set(env, &["KUBECONFIG", "CALICO_KUBECONFIG"]);
    let access = match &kubeconfig {
        Some(path) => format!("kubeconfig {path}"),
        None => "the in-cluster service account".into(),
    };
    source.kind = SourceKind::Kubernetes;
    source.kubernetes = Some(rrd_source_kubernetes::KubernetesConfig {
        kubeconfig: kubeconfig.map(Into::into),
        in_cluster: false,
        ..Default::default()
    });
    let identity = RrIdentity {
        ipv4,
        ipv6,
        router_id: None,
        node_name,
    };
    Ok((
        identity,
        format!("Kubernetes API (DATASTORE_TYPE=kubernetes) through {access}, Calico v3 resources"),
    ))
}

#[cfg(not(feature = "source-kubernetes"))]
fn kubernetes(
    _: &impl Fn(&str) -> Option<String>,
    _: &mut SourceSection,
) -> anyhow::Result<(RrIdentity, String)> {
    bail!("DATASTORE_TYPE=kubernetes: this build has no Kubernetes source (cargo feature `source-kubernetes`)")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[tokio::test]
    async fn the_images_environment_against_no_etcd_gives_v2_calico_v1_and_a_managed_bird() {
        let dir = tempfile::tempdir().unwrap();
        let env: HashMap<&str, String> = HashMap::from([
            ("IP", "172.17.42.40".to_string()),
            // Nothing listens there: discovery falls back to the image's
            // default and says so.
            ("ETCD_AUTHORITY", "127.0.0.1:9".to_string()),
            (
                "RRD_STATE_DIR",
                dir.path().join("state").display().to_string(),
            ),
            ("RRD_RUN_DIR", dir.path().join("run").display().to_string()),
        ]);
        let c = config_from_env(|k| env.get(k).cloned()).await.unwrap();
        assert_eq!(c.identity.ipv4.unwrap().to_string(), "172.17.42.40");
        assert_eq!(c.source.kind, SourceKind::Etcd);
        let etcd = c.source.etcd.unwrap();
        assert_eq!(etcd.endpoints, ["http://127.0.0.1:9"]);
        assert_eq!(etcd.api, rrd_source_etcd::EtcdApi::V2);
        let choice = c.source_choice.unwrap();
        assert!(choice.contains("did not answer"), "{choice}");
        assert!(c.engine.bird.manage_process);
        assert!(c.engine.bird.config_path.starts_with(dir.path()));
    }

    #[tokio::test]
    async fn a_bad_variable_is_named() {
        let env: HashMap<&str, String> = HashMap::from([("IP", "172.17.42.400".to_string())]);
        let err = config_from_env(|k| env.get(k).cloned())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("IP"), "{err}");
    }
}

//! Drop-in mode: with no configuration file, the calico/routereflector
//! image's environment (`IP`, `IP6`, `ETCD_ENDPOINTS` / `ETCD_AUTHORITY` +
//! `ETCD_SCHEME`, `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`)
//! makes `rrd run` do what the image did: read the calico-v1 keys from etcd
//! and run BIRD itself as the route reflector.
//!
//! rrd-only variables: `RRD_ETCD_API` (`v2` default, `v3`), `RRD_BIRD_VERSION`
//! (`2` default, `1.6`), `RRD_STATE_DIR` (BIRD's files, default
//! `/var/lib/rrd`), `RRD_RUN_DIR` (BIRD's sockets, default `/run/rrd`),
//! `RRD_BIRD_BINARY` / `RRD_BIRD6_BINARY`, `RRD_HTTP_LISTEN`. The admin
//! socket (`rrd status`, `rrd apply`) is `rrd.sock` in `RRD_RUN_DIR`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use rrd_engine_bird::{BirdConfig, BirdVersion};

use crate::config::{
    Config, EngineKind, EngineSection, HttpConfig, LogConfig, SourceKind, SourceSection,
};

pub fn config_from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (etcd, identity) = rrd_source_etcd::EtcdConfig::from_routereflector_env(&env)?;
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
    let config = Config {
        identity,
        source: SourceSection {
            kind: SourceKind::Etcd,
            #[cfg(feature = "source-file")]
            file: None,
            etcd: Some(etcd),
            #[cfg(feature = "source-consul")]
            consul: None,
            #[cfg(feature = "source-kubernetes")]
            kubernetes: None,
        },
        engine: EngineSection {
            kind: EngineKind::Bird,
            bird,
            ..EngineSection::default()
        },
        runtime: Default::default(),
        http,
        log: LogConfig::default(),
    };
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_images_environment_gives_etcd_v2_calico_v1_and_a_managed_bird() {
        let dir = tempfile::tempdir().unwrap();
        let env: HashMap<&str, String> = HashMap::from([
            ("IP", "172.17.42.40".to_string()),
            ("ETCD_AUTHORITY", "172.17.42.30:2379".to_string()),
            (
                "RRD_STATE_DIR",
                dir.path().join("state").display().to_string(),
            ),
            ("RRD_RUN_DIR", dir.path().join("run").display().to_string()),
        ]);
        let c = config_from_env(|k| env.get(k).cloned()).unwrap();
        assert_eq!(c.identity.ipv4.unwrap().to_string(), "172.17.42.40");
        assert_eq!(c.source.kind, SourceKind::Etcd);
        let etcd = c.source.etcd.unwrap();
        assert_eq!(etcd.endpoints, ["http://172.17.42.30:2379"]);
        assert_eq!(etcd.api, rrd_source_etcd::EtcdApi::V2);
        assert!(c.engine.bird.manage_process);
        assert!(c.engine.bird.config_path.starts_with(dir.path()));
    }

    #[test]
    fn a_bad_variable_is_named() {
        let env: HashMap<&str, String> = HashMap::from([("IP", "172.17.42.400".to_string())]);
        let err = config_from_env(|k| env.get(k).cloned())
            .unwrap_err()
            .to_string();
        assert!(err.contains("IP"), "{err}");
    }
}

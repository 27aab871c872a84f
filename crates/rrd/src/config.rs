//! rrd's one configuration file (`config/rrd.toml` documents every key).
//!
//! Loaded with figment: the TOML file, then `RRD_<SECTION>__<KEY>`
//! environment overrides. Unknown keys are errors, and every error names
//! the key path and the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use rrd_core::RrIdentity;
use rrd_runtime::RuntimeSettings;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this RR is.
    #[serde(default)]
    pub identity: RrIdentity,
    pub source: SourceSection,
    pub engine: EngineSection,
    #[serde(default)]
    pub runtime: RuntimeSettings,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub log: LogConfig,
}

/// `[source]`: which datastore, plus one table per kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub kind: SourceKind,
    #[cfg(feature = "source-file")]
    pub file: Option<rrd_source_file::FileConfig>,
    #[cfg(feature = "source-etcd")]
    pub etcd: Option<rrd_source_etcd::EtcdConfig>,
    #[cfg(feature = "source-consul")]
    pub consul: Option<rrd_source_consul::ConsulConfig>,
    #[cfg(feature = "source-kubernetes")]
    pub kubernetes: Option<rrd_source_kubernetes::KubernetesConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    File,
    Etcd,
    Kubernetes,
    Consul,
}

/// `[engine]`: which daemon, plus one table per kind (several may be
/// present, as during a migration between daemons).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub kind: EngineKind,
    #[cfg(feature = "engine-bird")]
    #[serde(default)]
    pub bird: rrd_engine_bird::BirdConfig,
    #[cfg(feature = "engine-gobgp")]
    #[serde(default)]
    pub gobgp: rrd_engine_gobgp::GobgpConfig,
    #[cfg(feature = "engine-frr")]
    #[serde(default)]
    pub frr: rrd_engine_frr::FrrConfig,
}

/// Also `rrd migrate --to <kind>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    #[default]
    Bird,
    Gobgp,
    Frr,
}

/// `[http]`: the read-only scrape listener and the admin socket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where `/metrics`, `/healthz`, `/readyz`, `/status` are served
    /// (read-only).
    pub listen: SocketAddr,
    /// Unix socket (mode 0600) serving `/status` and `POST /apply`: what
    /// `rrd status` and `rrd apply` talk to.
    pub admin_socket: PathBuf,
}

/// Default of `http.admin_socket`.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/rrd/rrd.sock";

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9180)),
            admin_socket: PathBuf::from(DEFAULT_ADMIN_SOCKET),
        }
    }
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter
    /// (`rrd_runtime=debug,info`). `RUST_LOG` wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Where the configuration comes from when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/rrd/rrd.toml";

impl Config {
    /// Load `path`; without one, [`DEFAULT_PATH`] if it exists, else the
    /// calico/routereflector image's environment (drop-in mode, `IP` set).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        if path.is_none() && !Path::new(DEFAULT_PATH).exists() && std::env::var_os("IP").is_some() {
            return crate::dropin::config_from_env(|k| std::env::var(k).ok());
        }
        let path: PathBuf = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
        if !path.exists() {
            bail!(
                "configuration file {} not found (give one with --config, or set the calico/routereflector \
                 image's IP and ETCD_* variables for drop-in mode; config/rrd.toml documents every key)",
                path.display()
            );
        }
        let config: Config = Figment::new()
            .merge(Toml::file_exact(&path))
            // Only RRD_<SECTION>__<KEY> are overrides; other RRD_* variables
            // (RRD_CONFIG, drop-in and test variables) are not config keys.
            .merge(
                Env::prefixed("RRD_")
                    .filter(|k| k.as_str().contains("__"))
                    .split("__"),
            )
            .extract()
            .map_err(|e| anyhow::anyhow!(render_figment_error(e)))
            .with_context(|| format!("invalid configuration {}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks serde cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.identity.ipv4.is_none()
            && self.identity.ipv6.is_none()
            && self.identity.node_name.is_none()
        {
            bail!("identity: set identity.ipv4 (the image's IP), identity.ipv6 (IP6) or identity.node_name");
        }
        let r = &self.runtime;
        if !(0.0..=1.0).contains(&r.mass_removal.threshold) {
            bail!(
                "runtime.mass_removal.threshold: must be between 0.0 and 1.0, got {}",
                r.mass_removal.threshold
            );
        }
        if r.debounce > r.debounce_max {
            bail!(
                "runtime.debounce ({:?}) must not exceed runtime.debounce_max ({:?})",
                r.debounce,
                r.debounce_max
            );
        }
        Ok(())
    }
}

/// figment lists every error with its key path ("for key `engine.kind`").
fn render_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let mut msg = e.kind.to_string();
            if !key.is_empty() {
                msg = format!("{key}: {msg}");
            }
            if let Some(src) = &e.metadata.and_then(|m| m.source.map(|s| s.to_string())) {
                msg = format!("{msg} (in {src})");
            }
            msg
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rrd.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path))
    }

    const MINIMAL: &str = "[identity]\nipv4 = \"172.17.42.40\"\n[source]\nkind = \"file\"\n[source.file]\npath = \"/tmp/t.toml\"\n[engine]\nkind = \"bird\"\n";

    #[test]
    fn minimal_config_loads_with_defaults() {
        let c = load_str(MINIMAL).unwrap();
        assert_eq!(c.runtime.debounce, std::time::Duration::from_millis(200));
        assert_eq!(c.http.listen.port(), 9180);
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = format!(
            "{:#}",
            load_str(&format!("{MINIMAL}[runtime]\ndebounse = \"1s\"\n")).unwrap_err()
        );
        assert!(err.contains("debounse"), "{err}");
        assert!(err.contains("runtime"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure signature
    fn only_section_key_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RRD_CALICO_FIXTURES", "/somewhere");
            jail.set_env("RRD_HTTP__LISTEN", "127.0.0.1:9999");
            let c = load_str(MINIMAL).map_err(|e| e.to_string())?;
            assert_eq!(c.http.listen.port(), 9999);
            Ok(())
        });
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = format!(
            "{:#}",
            load_str(&MINIMAL.replace("172.17.42.40", "172.17.42.400")).unwrap_err()
        );
        assert!(err.contains("identity.ipv4"), "{err}");
    }

    #[test]
    fn every_example_config_loads() {
        for text in [
            include_str!("../../../config/examples/etcd-v3.toml"),
            include_str!("../../../config/examples/calico-v3-gobgp.toml"),
            include_str!("../../../config/examples/file-bird2.toml"),
            include_str!("../../../config/examples/consul.toml"),
            include_str!("../../../config/examples/kubernetes.toml"),
        ] {
            load_str(text).unwrap();
        }
    }

    #[test]
    fn the_documented_reference_config_loads() {
        let text = include_str!("../../../config/rrd.toml");
        load_str(text).unwrap();
    }
}

//! rrd's one configuration file (`config/rrd.toml` documents every key).
//!
//! The TOML file, then `RRD_<SECTION>__<KEY>` environment overrides.
//! Unknown keys are errors; every problem of a file is reported at once,
//! each naming its key path and where it came from (the file, or the
//! environment variable that set it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use rrd_core::RrIdentity;
use rrd_runtime::RuntimeSettings;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

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
    /// How drop-in mode chose the datastore's API and layout (logged at
    /// start, shown by `rrd check` and `rrd status`); `None` from a file.
    #[serde(skip)]
    pub source_choice: Option<String>,
}

/// `[source]`: which datastore, plus one table per kind.
#[derive(Debug, PartialEq, Deserialize)]
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
#[derive(Debug, Default, PartialEq, Deserialize)]
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
#[derive(Debug, PartialEq, Deserialize)]
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
#[derive(Debug, PartialEq, Deserialize)]
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

/// One thing wrong with the configuration, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path (`runtime.debounce`), or empty for the whole file.
    pub key: String,
    /// `/etc/rrd/rrd.toml`, or the environment variable that set the key.
    pub origin: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.is_empty() {
            true => write!(f, "{} ({})", self.message, self.origin),
            false => write!(f, "{}: {} ({})", self.key, self.message, self.origin),
        }
    }
}

/// Every problem of a configuration, found at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// The lines `rrd check` prints for a configuration that did not load.
pub fn error_lines(error: &anyhow::Error) -> Vec<String> {
    match error.downcast_ref::<ConfigError>() {
        Some(c) => c.problems.iter().map(ToString::to_string).collect(),
        None => vec![format!("{error:#}")],
    }
}

impl Config {
    /// Load `path`; without one, [`DEFAULT_PATH`] if it exists, else the
    /// calico/routereflector image's environment (drop-in mode, `IP` set),
    /// which may probe the datastore to find where the topology is.
    pub async fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        if path.is_none() && !Path::new(DEFAULT_PATH).exists() && std::env::var_os("IP").is_some() {
            return crate::dropin::config_from_env(|k| std::env::var(k).ok()).await;
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
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read configuration {}", path.display()))?;
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Ok(Config::parse(&text, &path.display().to_string(), &vars)?)
    }

    /// Parse `text` (from `origin`) with `RRD_<SECTION>__<KEY>` overrides
    /// from `vars`, and validate it: every problem is reported, each with
    /// its key and where it came from (the file, or the variable).
    pub fn parse(
        text: &str,
        origin: &str,
        vars: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError { problems };
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            fail(vec![Problem {
                key: String::new(),
                origin: origin.to_owned(),
                message: format!("not valid TOML: {}", e.message().trim()),
            }])
        })?;
        let overrides = env_overrides(vars);
        for (path, (variable, value)) in &overrides {
            insert_at(&mut table, path, value.clone());
            let _ = variable;
        }
        let origin_of = |key: &str| {
            overrides
                .iter()
                .find(|(path, _)| key == path.join(".") || key.starts_with(&(path.join(".") + ".")))
                .map(|(_, (variable, _))| format!("environment variable {variable}"))
                .unwrap_or_else(|| origin.to_owned())
        };
        // Deserialize; on an error, note it, drop the offending key and try
        // again, so that one run names every bad key, not the first only.
        let mut problems = Vec::new();
        let config = loop {
            let de = toml::Value::Table(table.clone());
            match serde_path_to_error::deserialize::<_, Config>(de) {
                Ok(config) => break Some(config),
                Err(e) => {
                    let key = error_key(&e);
                    let message = e.inner().message().trim().to_owned();
                    let removed = remove_at(&mut table, &key);
                    problems.push(Problem {
                        origin: origin_of(&key),
                        key,
                        message,
                    });
                    if !removed || problems.len() > 64 {
                        break None;
                    }
                }
            }
        };
        // Checks beyond types run on what parsed (bad keys dropped), so
        // they are reported together with the type errors.
        if let Some(config) = &config {
            problems.extend(config.validate().into_iter().map(|(key, message)| Problem {
                origin: origin_of(&key),
                key,
                message,
            }));
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(fail(problems)),
        }
    }

    /// The sections of `self` that differ from `running` and that only a
    /// restart applies (everything but `[log]`).
    pub fn sections_needing_restart(&self, running: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.identity != running.identity {
            out.push("identity");
        }
        if self.source != running.source {
            out.push("source");
        }
        if self.engine != running.engine {
            out.push("engine");
        }
        if self.runtime != running.runtime {
            out.push("runtime");
        }
        if self.http != running.http {
            out.push("http");
        }
        out
    }

    /// Checks serde cannot express, all of them: `(key, message)` pairs.
    /// `rrd check` and `rrd run` load through the same path, so they accept
    /// exactly the same configurations.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut bad = |key: &str, message: String| out.push((key.to_owned(), message));
        if self.identity.ipv4.is_none()
            && self.identity.ipv6.is_none()
            && self.identity.node_name.is_none()
        {
            bad(
                "identity",
                "set identity.ipv4 (the image's IP), identity.ipv6 (IP6) or identity.node_name"
                    .into(),
            );
        }
        for (key, message) in self.runtime.problems() {
            bad(&format!("runtime.{key}"), message);
        }
        if let Err(why) = check_log_filter(&self.log.level) {
            bad(
                "log.level",
                format!(
                    "{:?} is not a level or filter ({why}); use error, warn, info, debug, trace, off \
                     or a filter like rrd_runtime=debug,info",
                    self.log.level
                ),
            );
        }
        for (key, message) in crate::plugins::config_problems(self) {
            bad(&key, message);
        }
        out
    }
}

/// A log filter rrd accepts: levels and `target=level` directives. A bare
/// word that is not a level is refused: tracing would read `loud` as "the
/// target `loud` at every level" and silence everything else, errors too.
fn check_log_filter(filter: &str) -> Result<(), String> {
    use tracing_subscriber::filter::LevelFilter;
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            None => directive,
        };
        if level.parse::<LevelFilter>().is_err() {
            return Err(format!("{level:?} is not a level"));
        }
    }
    EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `RRD_<SECTION>__<KEY>=value` -> (`["section", "key"]`, (variable, value)).
/// Other `RRD_*` variables (RRD_CONFIG, drop-in and test variables) are
/// not configuration keys.
fn env_overrides(vars: &[(String, String)]) -> BTreeMap<Vec<String>, (String, toml::Value)> {
    vars.iter()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix("RRD_")?;
            rest.contains("__").then(|| {
                let path = rest.split("__").map(str::to_ascii_lowercase).collect();
                (path, (name.clone(), env_value(value)))
            })
        })
        .collect()
}

/// A variable's value as TOML would read it (`true`, `5`, `["a", "b"]`),
/// else as a string.
fn env_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

fn insert_at(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = table;
    for p in parents {
        let entry = here
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        here = entry.as_table_mut().expect("just made a table");
    }
    here.insert(last.clone(), value);
}

/// Remove the key at dotted `path`; whether there was one.
fn remove_at(table: &mut toml::Table, path: &str) -> bool {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    let mut here = table;
    for p in parents {
        match here.get_mut(*p).and_then(toml::Value::as_table_mut) {
            Some(t) => here = t,
            None => return false,
        }
    }
    here.remove(*last).is_some()
}

/// The dotted key of a deserialization error. For an unknown field, serde
/// reports the table that holds it: the field's name is in the message.
fn error_key(e: &serde_path_to_error::Error<toml::de::Error>) -> String {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = e.inner().message();
    match unknown_field_name(message) {
        Some(field) if !path.ends_with(&format!(".{field}")) && path != field => {
            if path.is_empty() {
                field
            } else {
                format!("{path}.{field}")
            }
        }
        _ => path,
    }
}

/// `unknown field `debounse`, expected one of ...` -> `debounse`.
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::parse(text, "rrd.toml", &vars)
    }

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        load_with(text, &[])
    }

    fn problems(text: &str) -> Vec<String> {
        load_str(text)
            .unwrap_err()
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
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
        let p = problems(&format!("{MINIMAL}[runtime]\ndebounse = \"1s\"\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("runtime.debounse: unknown field"), "{p:?}");
        assert!(p[0].ends_with("(rrd.toml)"), "{p:?}");
    }

    #[test]
    fn only_section_key_variables_override_the_file() {
        let c = load_with(
            MINIMAL,
            &[
                ("RRD_CALICO_FIXTURES", "/somewhere"),
                ("RRD_HTTP__LISTEN", "127.0.0.1:9999"),
            ],
        )
        .unwrap();
        assert_eq!(c.http.listen.port(), 9999);
    }

    #[test]
    fn a_bad_override_names_the_variable_not_the_file() {
        let e = load_with(MINIMAL, &[("RRD_HTTP__LISTEN", "nowhere")]).unwrap_err();
        let p = e.problems[0].to_string();
        assert!(p.starts_with("http.listen: "), "{p}");
        assert!(p.contains("environment variable RRD_HTTP__LISTEN"), "{p}");
        assert!(!p.contains("rrd.toml"), "{p}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let p = problems(&MINIMAL.replace("172.17.42.40", "172.17.42.400"));
        assert!(p[0].starts_with("identity.ipv4"), "{p:?}");
    }

    #[test]
    fn every_problem_of_a_file_is_reported_at_once() {
        let text = format!(
            "{}[runtime]\ndebounse = \"1s\"\nobserve_interval = \"often\"\n[http]\nlisten = \"nowhere\"\n[log]\nlevel = \"loud\"\n",
            MINIMAL.replace("172.17.42.40", "172.17.42.400")
        );
        let p = problems(&text);
        for key in [
            "identity.ipv4",
            "runtime.debounse",
            "runtime.observe_interval",
            "http.listen",
        ] {
            assert!(
                p.iter().any(|l| l.starts_with(key)),
                "{key} missing in {p:?}"
            );
        }
    }

    #[test]
    fn an_unknown_log_level_is_refused_by_name() {
        let p = problems(&format!("{MINIMAL}[log]\nlevel = \"loud\"\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("log.level: \"loud\""), "{p:?}");
    }

    #[test]
    fn zero_intervals_are_refused_by_name() {
        for key in [
            "observe_interval",
            "counts_interval",
            "resync_interval",
            "debounce_max",
            "backoff_initial",
            "backoff_max",
        ] {
            let p = problems(&format!("{MINIMAL}[runtime]\n{key} = \"0s\"\n"));
            assert!(
                p.iter().any(|l| l.starts_with(&format!("runtime.{key}: "))),
                "{key}: {p:?}"
            );
        }
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

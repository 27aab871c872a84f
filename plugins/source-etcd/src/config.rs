//! `[source.etcd]` in `rrd.toml`: which API, where, which layout, TLS,
//! timeouts and paging. Every key has a documented default; unknown keys
//! are refused.

use std::path::PathBuf;
use std::time::Duration;

use rrd_source_kit::{read_text, TlsFiles, TlsPaths};
use serde::{Deserialize, Serialize};

use crate::error::EtcdError;

/// Which etcd API to speak. The two APIs are separate keyspaces: data
/// written with one is invisible to the other (unless migrated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EtcdApi {
    /// HTTP/JSON `/v2/keys` (what the routereflector image and calicoctl
    /// v0.x / v1.x used; etcd 3.4 serves it with `--enable-v2=true`).
    V2,
    /// gRPC (etcd 3.x native; Calico v2.x+ with an etcdv3 datastore).
    #[default]
    V3,
}

/// How data is laid out below the prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `/calico/bgp/v1/...` keys, legacy semantics (docs/layouts.md, docs/semantics.md).
    #[default]
    CalicoV1,
    /// `/calico/resources/v3/projectcalico.org/{bgppeers,bgpconfigurations,nodes}/<name>`,
    /// Calico v3 semantics. etcd v3 API only.
    CalicoV3,
}

impl Layout {
    pub fn default_prefix(self) -> &'static str {
        match self {
            Layout::CalicoV1 => rrd_layouts::calico_v1::DEFAULT_PREFIX,
            Layout::CalicoV3 => "/calico/resources/v3/projectcalico.org",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Layout::CalicoV1 => "calico-v1",
            Layout::CalicoV3 => "calico-v3",
        }
    }
}

/// The etcd source's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdConfig {
    /// `"v3"` (default) or `"v2"`.
    pub api: EtcdApi,
    /// Client URLs, `http://` or `https://`, tried in order: the first
    /// that answers is used until it fails. Default `["http://127.0.0.1:2379"]`.
    pub endpoints: Vec<String>,
    /// `"calico-v1"` (default) or `"calico-v3"`.
    pub layout: Layout,
    /// Key prefix; default `/calico/bgp/v1` for calico-v1,
    /// `/calico/resources/v3/projectcalico.org` for calico-v3.
    pub prefix: Option<String>,
    /// PEM CA bundle that signed etcd's certificate (default: system roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// etcd user (role-based auth); the password comes from `password_file`
    /// or `password_env`.
    pub username: Option<String>,
    /// File holding the password (trailing newline ignored); never logged.
    pub password_file: Option<PathBuf>,
    /// Name of an environment variable holding the password (Calico's
    /// `ETCD_PASSWORD`); never logged.
    pub password_env: Option<String>,
    /// TCP + TLS connect timeout. Default 5s.
    #[serde(with = "humantime_serde")]
    pub dial_timeout: Duration,
    /// Timeout of one read, write or page. Default 30s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// v2: a long-poll watch with no event for this long is re-issued at
    /// the same index (not an error). Default 5m.
    #[serde(with = "humantime_serde")]
    pub watch_timeout: Duration,
    /// v3: HTTP/2 keep-alive ping interval (also while idle). Default 10s.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// v3: a ping unanswered for this long drops the connection. Default 5s.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// First retry delay after a failure; doubles, with jitter. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Cap of the retry delay. Default 30s.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// v3: keys per range request of the initial read (all pages at one
    /// revision; the next page is requested while this one is decoded).
    /// 0 reads the prefix in one response. Default 50000 (about 3 MB of
    /// calico-v1 keys per page; 100,000 nodes read in 8 pages). etcd 3.4
    /// walks the whole rest of the range for every page (to count it), so
    /// small pages cost etcd far more: at 400,102 keys, its CPU time for
    /// the read was ~2 s with pages of 20,000 and ~1 s with 50,000.
    pub page_size: u32,
    /// v3: largest gRPC response accepted (tonic's default is 4 MiB; one
    /// page or a big watch batch may exceed it). Default 64 MiB.
    pub max_message_bytes: usize,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            api: EtcdApi::V3,
            endpoints: vec!["http://127.0.0.1:2379".into()],
            layout: Layout::CalicoV1,
            prefix: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            username: None,
            password_file: None,
            password_env: None,
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            watch_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            page_size: 50_000,
            max_message_bytes: 64 << 20,
        }
    }
}

impl EtcdConfig {
    /// The effective prefix, without a trailing slash.
    pub fn prefix(&self) -> String {
        let p = self
            .prefix
            .as_deref()
            .unwrap_or_else(|| self.layout.default_prefix());
        let trimmed = p.trim_end_matches('/');
        if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        }
    }

    /// `etcdv2` / `etcdv3`, for logs and status.
    pub fn kind(&self) -> &'static str {
        match self.api {
            EtcdApi::V2 => "etcdv2",
            EtcdApi::V3 => "etcdv3",
        }
    }

    /// Whether client TLS material is configured.
    pub fn uses_tls_files(&self) -> bool {
        self.tls_paths().any()
    }

    /// Check everything that can be checked without talking to etcd.
    pub fn validate(&self) -> Result<(), EtcdError> {
        let bad = |field, reason: String| Err(EtcdError::Config { field, reason });
        if self.endpoints.is_empty() {
            return bad("endpoints", "at least one endpoint URL is needed".into());
        }
        for e in &self.endpoints {
            let url = reqwest::Url::parse(e).map_err(|err| EtcdError::Config {
                field: "endpoints",
                reason: format!("{e:?} is not a URL ({err}); write e.g. http://127.0.0.1:2379"),
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return bad(
                    "endpoints",
                    format!("{e:?}: expected http://host:port or https://host:port"),
                );
            }
            if url.scheme() == "http" && self.uses_tls_files() {
                return bad(
                    "endpoints",
                    format!(
                        "{e:?} is plain http but ca_file/cert_file/key_file are set; use https://"
                    ),
                );
            }
        }
        let https = self
            .endpoints
            .iter()
            .filter(|e| e.starts_with("https://"))
            .count();
        if https != 0 && https != self.endpoints.len() {
            return bad("endpoints", "mix of http:// and https:// endpoints".into());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return bad(
                if self.cert_file.is_some() {
                    "key_file"
                } else {
                    "cert_file"
                },
                "cert_file and key_file go together".into(),
            );
        }
        let passwords =
            usize::from(self.password_file.is_some()) + usize::from(self.password_env.is_some());
        if passwords > 1 {
            return bad(
                "password_env",
                "set password_file or password_env, not both".into(),
            );
        }
        if (passwords == 1) != self.username.is_some() {
            return bad(
                "username",
                "username and a password (password_file or password_env) go together".into(),
            );
        }
        if let Some(p) = &self.prefix {
            if !p.starts_with('/') {
                return bad("prefix", format!("{p:?} must start with '/'"));
            }
        }
        if self.layout == Layout::CalicoV3 && self.api == EtcdApi::V2 {
            return bad(
                "layout",
                "calico-v3 resources live in the etcd v3 API; set api = \"v3\"".into(),
            );
        }
        for (field, d) in [
            ("dial_timeout", self.dial_timeout),
            ("request_timeout", self.request_timeout),
            ("watch_timeout", self.watch_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("keepalive_timeout", self.keepalive_timeout),
            ("backoff_initial", self.backoff_initial),
            ("backoff_max", self.backoff_max),
        ] {
            if d.is_zero() {
                return bad(field, "must be more than zero".into());
            }
        }
        if self.backoff_max < self.backoff_initial {
            return bad("backoff_max", "must not be below backoff_initial".into());
        }
        if self.max_message_bytes < 4 << 20 {
            return bad("max_message_bytes", "must be at least 4 MiB".into());
        }
        Ok(())
    }

    /// The password from `password_file`, if any.
    pub(crate) fn credentials(&self) -> Result<Option<(String, String)>, EtcdError> {
        let Some(user) = &self.username else {
            return Ok(None);
        };
        if let Some(variable) = &self.password_env {
            return match std::env::var(variable) {
                Ok(password) => Ok(Some((user.clone(), password))),
                Err(_) => Err(EtcdError::Config {
                    field: "password_env",
                    reason: format!("environment variable {variable} is not set (or not UTF-8)"),
                }),
            };
        }
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = read_text("password_file", path)?;
        Ok(Some((
            user.clone(),
            text.trim_end_matches(['\n', '\r']).to_owned(),
        )))
    }
}

impl EtcdConfig {
    /// The configured TLS files' paths.
    pub(crate) fn tls_paths(&self) -> TlsPaths<'_> {
        TlsPaths {
            ca_file: self.ca_file.as_deref(),
            cert_file: self.cert_file.as_deref(),
            key_file: self.key_file.as_deref(),
        }
    }

    /// Read the TLS files now (on every connect, so rotated files are
    /// picked up).
    pub(crate) fn tls_files(&self) -> Result<Option<TlsFiles>, EtcdError> {
        Ok(TlsFiles::load(self.tls_paths())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_means_v3_calico_v1_on_localhost() {
        let c: EtcdConfig = toml::from_str("").unwrap();
        assert_eq!(c, EtcdConfig::default());
        assert_eq!(c.prefix(), "/calico/bgp/v1");
        c.validate().unwrap();
        let c: EtcdConfig = toml::from_str(r#"layout = "calico-v3""#).unwrap();
        assert_eq!(c.prefix(), "/calico/resources/v3/projectcalico.org");
    }

    #[test]
    fn every_documented_key_parses() {
        let c: EtcdConfig = toml::from_str(
            r#"
            api = "v2"
            endpoints = ["https://127.0.0.1:2379", "https://127.0.0.2:2379"]
            layout = "calico-v1"
            prefix = "/calico/bgp/v1/"
            ca_file = "/etc/etcd/ca.pem"
            cert_file = "/etc/etcd/client.pem"
            key_file = "/etc/etcd/client-key.pem"
            username = "rrd"
            password_file = "/run/secrets/etcd"
            dial_timeout = "2s"
            request_timeout = "10s"
            watch_timeout = "1m"
            keepalive_interval = "5s"
            keepalive_timeout = "3s"
            backoff_initial = "100ms"
            backoff_max = "10s"
            page_size = 1000
            max_message_bytes = 134217728
            "#,
        )
        .unwrap();
        assert_eq!(c.api, EtcdApi::V2);
        assert_eq!(c.prefix(), "/calico/bgp/v1");
        assert_eq!(c.backoff_initial, Duration::from_millis(100));
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<EtcdConfig>("endpoint = \"http://x:1\"").unwrap_err();
        assert!(e.to_string().contains("endpoint"), "{e}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        let field = |c: EtcdConfig| match c.validate() {
            Err(EtcdError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let base = EtcdConfig::default;
        assert_eq!(
            field(EtcdConfig {
                endpoints: vec![],
                ..base()
            }),
            "endpoints"
        );
        assert_eq!(
            field(EtcdConfig {
                endpoints: vec!["127.0.0.1:2379".into()],
                ..base()
            }),
            "endpoints"
        );
        assert_eq!(
            field(EtcdConfig {
                ca_file: Some("/ca".into()),
                ..base()
            }),
            "endpoints"
        );
        assert_eq!(
            field(EtcdConfig {
                endpoints: vec!["https://h:1".into()],
                cert_file: Some("/c".into()),
                ..base()
            }),
            "key_file"
        );
        assert_eq!(
            field(EtcdConfig {
                api: EtcdApi::V2,
                layout: Layout::CalicoV3,
                ..base()
            }),
            "layout"
        );
        assert_eq!(
            field(EtcdConfig {
                prefix: Some("calico".into()),
                ..base()
            }),
            "prefix"
        );
        assert_eq!(
            field(EtcdConfig {
                username: Some("u".into()),
                ..base()
            }),
            "username"
        );
        assert_eq!(
            field(EtcdConfig {
                dial_timeout: Duration::ZERO,
                ..base()
            }),
            "dial_timeout"
        );
    }
}

//! `[source.consul]` in `rrd.toml`: which agents, which prefix, datacenter,
//! read mode, ACL token, TLS, blocking-query and retry timing. Every key has
//! a documented default; unknown keys are refused. The ACL token itself is
//! never part of the configuration: it is read from a file or an
//! environment variable when a connection is made, and never printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rrd_source_kit::{read_text, TlsFiles, TlsPaths};
use serde::{Deserialize, Serialize};

use crate::error::ConsulError;

/// Consul's default KV prefix for calico-v1 keys (Consul keys have no
/// leading slash).
pub const DEFAULT_PREFIX: &str = "calico/bgp/v1";

/// Consul refuses (caps) blocking waits longer than this.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Which read mode Consul serves a query in
/// (<https://developer.hashicorp.com/consul/api-docs/features/consistency>).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Consul's default: the leader answers without an extra round trip to
    /// the quorum (stale only in a short window after a leader change).
    #[default]
    Default,
    /// `?consistent`: the leader confirms its leadership first (one more
    /// round trip per query).
    Consistent,
    /// `?stale`: any server answers, also without a leader. Bound it with
    /// `max_stale`.
    Stale,
}

impl Consistency {
    /// The query parameter that selects the mode, if any.
    pub fn query_param(self) -> Option<&'static str> {
        match self {
            Consistency::Default => None,
            Consistency::Consistent => Some("consistent"),
            Consistency::Stale => Some("stale"),
        }
    }
}

/// The Consul source's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsulConfig {
    /// HTTP API addresses of Consul agents (`http://` or `https://`), tried
    /// in order: the first that answers is used until it fails. Default
    /// `["http://127.0.0.1:8500"]` (the local agent).
    pub addresses: Vec<String>,
    /// KV prefix holding the calico-v1 keys, without a leading slash.
    /// Default `calico/bgp/v1`.
    pub prefix: String,
    /// Datacenter to read (`?dc=`); default: the agent's own.
    pub datacenter: Option<String>,
    /// `"default"` (default), `"consistent"` or `"stale"`.
    pub consistency: Consistency,
    /// `stale` only: refuse an answer from a server that has not heard from
    /// the leader for longer than this (`X-Consul-LastContact`); the last
    /// topology stays in force. Default: no bound.
    #[serde(with = "humantime_serde")]
    pub max_stale: Option<Duration>,
    /// File holding the ACL token (trailing newline ignored), re-read on
    /// every reconnect so a rotated token is picked up. Never logged.
    pub token_file: Option<PathBuf>,
    /// Name of an environment variable holding the ACL token (for example
    /// `CONSUL_HTTP_TOKEN`). Never logged.
    pub token_env: Option<String>,
    /// PEM CA bundle that signed the agents' certificates (default: system
    /// roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for `verify_incoming`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// TCP + TLS connect timeout. Default 5s.
    #[serde(with = "humantime_serde")]
    pub dial_timeout: Duration,
    /// Timeout of a non-blocking read or a write, and the margin a blocking
    /// query gets on top of `wait` (plus Consul's `wait / 16` jitter).
    /// Default 30s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long one blocking query may wait for a change (`?wait=`; at
    /// most 10m). A query that times out returns the unchanged prefix,
    /// which costs one full read: longer is cheaper. Default 5m (Consul's
    /// own default).
    #[serde(with = "humantime_serde")]
    pub wait: Duration,
    /// The blocking loop's rate limit: a token bucket with a burst of two
    /// that refills one query per interval. Quiet prefixes are never
    /// delayed; a prefix that changes faster than this is polled once per
    /// interval (Consul's documentation asks clients to rate-limit, since
    /// every answer is the whole prefix). Default 5s.
    #[serde(with = "humantime_serde")]
    pub rate_limit: Duration,
    /// First retry delay after a failure; doubles, with jitter. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Cap of the retry delay. Default 30s.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl Default for ConsulConfig {
    fn default() -> Self {
        ConsulConfig {
            addresses: vec!["http://127.0.0.1:8500".into()],
            prefix: DEFAULT_PREFIX.into(),
            datacenter: None,
            consistency: Consistency::Default,
            max_stale: None,
            token_file: None,
            token_env: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            wait: Duration::from_secs(300),
            rate_limit: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// An ACL token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The token, for the `X-Consul-Token` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl ConsulConfig {
    /// The prefix without a trailing slash.
    pub fn prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// Whether client TLS material is configured.
    pub fn uses_tls_files(&self) -> bool {
        self.tls_paths().any()
    }

    /// Check everything that can be checked without talking to Consul.
    pub fn validate(&self) -> Result<(), ConsulError> {
        let bad = |field, reason: String| Err(ConsulError::Config { field, reason });
        if self.addresses.is_empty() {
            return bad("addresses", "at least one agent address is needed".into());
        }
        for a in &self.addresses {
            let url = reqwest::Url::parse(a).map_err(|err| ConsulError::Config {
                field: "addresses",
                reason: format!("{a:?} is not a URL ({err}); write e.g. http://127.0.0.1:8500"),
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return bad(
                    "addresses",
                    format!("{a:?}: expected http://host:port or https://host:port"),
                );
            }
            if url.query().is_some() || url.fragment().is_some() {
                return bad("addresses", format!("{a:?}: no query or fragment"));
            }
            if url.scheme() == "http" && self.uses_tls_files() {
                return bad(
                    "addresses",
                    format!(
                        "{a:?} is plain http but ca_file/cert_file/key_file are set; use https://"
                    ),
                );
            }
        }
        let https = self
            .addresses
            .iter()
            .filter(|a| a.starts_with("https://"))
            .count();
        if https != 0 && https != self.addresses.len() {
            return bad("addresses", "mix of http:// and https:// addresses".into());
        }
        let prefix = self.prefix();
        if prefix.is_empty() {
            return bad(
                "prefix",
                "must name a KV folder (default calico/bgp/v1), not the whole KV store".into(),
            );
        }
        if prefix.starts_with('/') {
            return bad(
                "prefix",
                format!(
                    "{:?}: Consul keys have no leading slash; write {:?}",
                    self.prefix,
                    prefix.trim_start_matches('/')
                ),
            );
        }
        if let Some(dc) = &self.datacenter {
            if dc.is_empty() || dc.contains(['/', '?', '&', '#', ' ']) {
                return bad("datacenter", format!("{dc:?} is not a datacenter name"));
            }
        }
        if self.max_stale.is_some() && self.consistency != Consistency::Stale {
            return bad(
                "max_stale",
                "only applies to consistency = \"stale\"".into(),
            );
        }
        if self.token_file.is_some() && self.token_env.is_some() {
            return bad("token_env", "set token_file or token_env, not both".into());
        }
        if let Some(env) = &self.token_env {
            if env.is_empty() || env.contains('=') {
                return bad("token_env", format!("{env:?} is not a variable name"));
            }
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
        for (field, d) in [
            ("dial_timeout", self.dial_timeout),
            ("request_timeout", self.request_timeout),
            ("wait", self.wait),
            ("rate_limit", self.rate_limit),
            ("backoff_initial", self.backoff_initial),
            ("backoff_max", self.backoff_max),
        ] {
            if d.is_zero() {
                return bad(field, "must be more than zero".into());
            }
        }
        if self.wait < Duration::from_secs(1) {
            return bad(
                "wait",
                "Consul counts waits in whole seconds: at least 1s".into(),
            );
        }
        if self.wait > MAX_WAIT {
            return bad("wait", "Consul caps blocking queries at 10m".into());
        }
        if self.backoff_max < self.backoff_initial {
            return bad("backoff_max", "must not be below backoff_initial".into());
        }
        Ok(())
    }

    /// The ACL token from `token_file` or `token_env`, if one is configured.
    /// A configured but missing or empty token is an error, never "no
    /// token" (that would silently read as the anonymous token).
    pub fn token(&self) -> Result<Option<Token>, ConsulError> {
        if let Some(path) = &self.token_file {
            let text = read_text("token_file", path)?;
            let token = text.trim();
            if token.is_empty() {
                return Err(ConsulError::Token {
                    reason: format!("token_file {} is empty", path.display()),
                });
            }
            return Ok(Some(Token::new(token)));
        }
        if let Some(var) = &self.token_env {
            let token = std::env::var(var).map_err(|e| ConsulError::Token {
                reason: format!("token_env: environment variable {var}: {e}"),
            })?;
            let token = token.trim();
            if token.is_empty() {
                return Err(ConsulError::Token {
                    reason: format!("token_env: environment variable {var} is empty"),
                });
            }
            return Ok(Some(Token::new(token)));
        }
        Ok(None)
    }
}

impl ConsulConfig {
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
    pub(crate) fn tls_files(&self) -> Result<Option<TlsFiles>, ConsulError> {
        Ok(TlsFiles::load(self.tls_paths())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_means_the_local_agent_and_the_calico_prefix() {
        let c: ConsulConfig = toml::from_str("").unwrap();
        assert_eq!(c, ConsulConfig::default());
        assert_eq!(c.prefix(), "calico/bgp/v1");
        assert_eq!(c.wait, Duration::from_secs(300));
        c.validate().unwrap();
    }

    #[test]
    fn every_documented_key_parses() {
        let c: ConsulConfig = toml::from_str(
            r#"
            addresses = ["https://198.51.100.2:8501", "https://198.51.100.3:8501"]
            prefix = "calico/bgp/v1/"
            datacenter = "dc2"
            consistency = "stale"
            max_stale = "10s"
            token_file = "/run/secrets/consul-token"
            ca_file = "/etc/rrd/consul-ca.pem"
            cert_file = "/etc/rrd/consul-client.pem"
            key_file = "/etc/rrd/consul-client-key.pem"
            dial_timeout = "2s"
            request_timeout = "10s"
            wait = "1m"
            rate_limit = "2s"
            backoff_initial = "100ms"
            backoff_max = "10s"
            "#,
        )
        .unwrap();
        assert_eq!(c.prefix(), "calico/bgp/v1");
        assert_eq!(c.consistency, Consistency::Stale);
        assert_eq!(c.max_stale, Some(Duration::from_secs(10)));
        c.validate().unwrap();
        let c: ConsulConfig =
            toml::from_str("token_env = \"CONSUL_HTTP_TOKEN\"\nconsistency = \"consistent\"")
                .unwrap();
        assert_eq!(c.consistency.query_param(), Some("consistent"));
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<ConsulConfig>("address = \"http://x:1\"").unwrap_err();
        assert!(e.to_string().contains("address"), "{e}");
        let e = toml::from_str::<ConsulConfig>("token = \"s3cr3t\"").unwrap_err();
        assert!(e.to_string().contains("token"), "{e}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        let field = |c: ConsulConfig| match c.validate() {
            Err(ConsulError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let base = ConsulConfig::default;
        let cases: Vec<(ConsulConfig, &str)> = vec![
            (
                ConsulConfig {
                    addresses: vec![],
                    ..base()
                },
                "addresses",
            ),
            (
                ConsulConfig {
                    addresses: vec!["127.0.0.1:8500".into()],
                    ..base()
                },
                "addresses",
            ),
            (
                ConsulConfig {
                    ca_file: Some("/ca".into()),
                    ..base()
                },
                "addresses",
            ),
            (
                ConsulConfig {
                    prefix: "/calico/bgp/v1".into(),
                    ..base()
                },
                "prefix",
            ),
            (
                ConsulConfig {
                    prefix: "/".into(),
                    ..base()
                },
                "prefix",
            ),
            (
                ConsulConfig {
                    max_stale: Some(Duration::from_secs(1)),
                    ..base()
                },
                "max_stale",
            ),
            (
                ConsulConfig {
                    token_file: Some("/t".into()),
                    token_env: Some("T".into()),
                    ..base()
                },
                "token_env",
            ),
            (
                ConsulConfig {
                    addresses: vec!["https://h:1".into()],
                    cert_file: Some("/c".into()),
                    ..base()
                },
                "key_file",
            ),
            (
                ConsulConfig {
                    wait: Duration::from_secs(601),
                    ..base()
                },
                "wait",
            ),
            (
                ConsulConfig {
                    rate_limit: Duration::ZERO,
                    ..base()
                },
                "rate_limit",
            ),
            (
                ConsulConfig {
                    datacenter: Some("dc1&stale".into()),
                    ..base()
                },
                "datacenter",
            ),
        ];
        for (c, want) in cases {
            assert_eq!(field(c.clone()), want, "{c:?}");
        }
    }

    #[test]
    fn a_token_is_read_from_its_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "b1gs3cr3t\n").unwrap();
        let c = ConsulConfig {
            token_file: Some(path.clone()),
            ..ConsulConfig::default()
        };
        let token = c.token().unwrap().unwrap();
        assert_eq!(token.expose(), "b1gs3cr3t");
        assert!(!format!("{token:?} {c:?}").contains("b1gs3cr3t"));

        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(c.token(), Err(ConsulError::Token { .. })));
        let missing = ConsulConfig {
            token_env: Some("RRD_TEST_CONSUL_TOKEN_THAT_IS_NOT_SET".into()),
            ..ConsulConfig::default()
        };
        let e = missing.token().unwrap_err();
        assert!(
            e.to_string()
                .contains("RRD_TEST_CONSUL_TOKEN_THAT_IS_NOT_SET"),
            "{e}"
        );
    }
}

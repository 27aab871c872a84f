//! A small Consul KV HTTP client (`/v1/kv/`): recursive list (plain or
//! blocking), and (feature `testing`) put and delete. rrd needs three calls and the exact handling
//! of Consul's headers, so it speaks HTTP itself with reqwest + rustls.
//!
//! Agents are tried in order, starting with the last one that answered;
//! transport errors and 5xx answers move on to the next. The ACL token goes
//! in the `X-Consul-Token` header, marked sensitive so that it is never
//! logged; TLS (CA, client certificate) comes from [`ConsulConfig`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use rrd_source_kit::{http_client, HttpOptions};

use crate::config::{Consistency, ConsulConfig, Token};
use crate::error::ConsulError;

/// One key of a listing, value decoded from base64 (a key without data has
/// an empty value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
}

/// A complete read of a prefix.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    /// `X-Consul-Index`.
    pub index: u64,
    /// Every key below the prefix (empty when Consul answered 404).
    pub entries: Vec<KvEntry>,
    /// `X-Consul-KnownLeader`.
    pub known_leader: bool,
    /// `X-Consul-LastContact`.
    pub last_contact: Duration,
    /// Which agent answered.
    pub address: String,
}

/// Consul's JSON form of one KV entry.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntryDoc {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    address: String,
}

#[derive(Debug)]
pub(crate) struct KvClient {
    http: reqwest::Client,
    addresses: Vec<Url>,
    preferred: AtomicUsize,
    token: Option<Token>,
    datacenter: Option<String>,
    consistency: Consistency,
    max_stale: Option<Duration>,
    request_timeout: Duration,
    wait: Duration,
}

impl KvClient {
    /// A client with the token the configuration names (read now).
    pub fn new(config: &ConsulConfig) -> Result<KvClient, ConsulError> {
        let token = config.token()?;
        KvClient::with_token(config, token)
    }

    /// A client with an explicit token (test fixtures, admin tools).
    pub fn with_token(
        config: &ConsulConfig,
        token: Option<Token>,
    ) -> Result<KvClient, ConsulError> {
        // A blocking query is an idle connection for minutes: keep-alive
        // probes notice an agent that vanished without a FIN.
        let options = HttpOptions {
            keepalive: Duration::from_secs(15),
            keepalive_probes: Some((Duration::from_secs(5), 3)),
            ..HttpOptions::new(config.dial_timeout)
        };
        let http = http_client(&options, config.tls_files()?.as_ref())?;
        let addresses = config
            .addresses
            .iter()
            .map(|a| {
                Url::parse(a).map_err(|err| ConsulError::Config {
                    field: "addresses",
                    reason: format!("{a:?}: {err}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if addresses.is_empty() {
            return Err(ConsulError::Config {
                field: "addresses",
                reason: "at least one agent address is needed".into(),
            });
        }
        Ok(KvClient {
            http,
            addresses,
            preferred: AtomicUsize::new(0),
            token,
            datacenter: config.datacenter.clone(),
            consistency: config.consistency,
            max_stale: config.max_stale,
            request_timeout: config.request_timeout,
            wait: config.wait,
        })
    }

    /// `<base>/v1/kv/<key>`; `key` may end with `/` (a folder).
    fn url(base: &Url, key: &str, query: &[(&str, String)]) -> Url {
        let mut url = base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().push("v1").push("kv");
            segs.extend(key.split('/'));
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                if v.is_empty() {
                    q.append_key_only(k);
                } else {
                    q.append_pair(k, v);
                }
            }
        }
        url
    }

    /// `?dc=` and the read mode.
    fn read_params(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(dc) = &self.datacenter {
            q.push(("dc", dc.clone()));
        }
        if let Some(mode) = self.consistency.query_param() {
            q.push((mode, String::new()));
        }
        q
    }

    /// Send to the preferred agent, then the others on transport errors
    /// and 5xx answers.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        key: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Answer, ConsulError> {
        let n = self.addresses.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut last_error = None;
        for i in 0..n {
            let idx = (first + i) % n;
            let base = &self.addresses[idx];
            let address = base.as_str().trim_end_matches('/').to_owned();
            let mut req = self
                .http
                .request(method.clone(), Self::url(base, key, query))
                .timeout(timeout);
            if let Some(token) = &self.token {
                let mut v =
                    HeaderValue::from_str(token.expose()).map_err(|_| ConsulError::Token {
                        reason: "the token contains characters an HTTP header cannot carry".into(),
                    })?;
                v.set_sensitive(true);
                req = req.header("X-Consul-Token", v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let result = async {
                let resp = req.send().await?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .await;
            match result {
                Ok((status, _, body)) if status.is_server_error() => {
                    last_error = Some(ConsulError::Api {
                        operation,
                        address,
                        status: status.as_u16(),
                        detail: text(&body),
                    });
                }
                Ok((status, headers, body)) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                        address,
                    });
                }
                Err(source) if source.is_timeout() => {
                    last_error = Some(ConsulError::Timeout {
                        operation,
                        address,
                        after: timeout,
                    })
                }
                Err(source) => {
                    last_error = Some(ConsulError::Http {
                        operation,
                        address,
                        source,
                    })
                }
            }
        }
        Err(last_error.expect("at least one address"))
    }

    /// Every key below `prefix/`. With `index > 0` this is a blocking query:
    /// Consul answers when the prefix's index passes `index` or after
    /// `wait` (plus up to `wait / 16`). A 404 is an empty prefix; a listing
    /// Consul filtered by ACLs is an error, never a smaller topology.
    pub async fn list(&self, prefix: &str, index: u64) -> Result<Listing, ConsulError> {
        const OP: &str = "KV list";
        let folder = format!("{}/", prefix.trim_end_matches('/'));
        let mut query = vec![("recurse", "true".to_owned())];
        let mut timeout = self.request_timeout;
        if index > 0 {
            query.push(("index", index.to_string()));
            query.push(("wait", format!("{}s", self.wait.as_secs().max(1))));
            timeout += self.wait + self.wait / 16;
        }
        query.extend(self.read_params());
        let a = self
            .send(OP, Method::GET, &folder, &query, None, timeout)
            .await?;
        let protocol = |detail: String| ConsulError::Protocol {
            operation: OP,
            address: a.address.clone(),
            detail,
        };
        match a.status {
            StatusCode::OK | StatusCode::NOT_FOUND => {}
            StatusCode::FORBIDDEN => {
                return Err(ConsulError::Forbidden {
                    operation: OP,
                    address: a.address.clone(),
                    prefix: prefix.to_owned(),
                    detail: text(&a.body),
                })
            }
            s => {
                return Err(ConsulError::Api {
                    operation: OP,
                    address: a.address.clone(),
                    status: s.as_u16(),
                    detail: text(&a.body),
                })
            }
        }
        let header = |name: &str| a.headers.get(name).and_then(|v| v.to_str().ok());
        let index = header("X-Consul-Index")
            .ok_or_else(|| protocol("no X-Consul-Index header".into()))?
            .parse::<u64>()
            .map_err(|e| protocol(format!("X-Consul-Index: {e}")))?;
        if header("X-Consul-Results-Filtered-By-ACLs")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(ConsulError::FilteredByAcls {
                operation: OP,
                address: a.address.clone(),
                prefix: prefix.to_owned(),
            });
        }
        let known_leader = header("X-Consul-KnownLeader") != Some("false");
        let last_contact = Duration::from_millis(
            header("X-Consul-LastContact")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        );
        if let Some(max) = self.max_stale {
            if last_contact > max {
                return Err(ConsulError::TooStale {
                    operation: OP,
                    address: a.address.clone(),
                    last_contact,
                    max_stale: max,
                    known_leader,
                });
            }
        }
        let entries = if a.status == StatusCode::NOT_FOUND {
            Vec::new()
        } else {
            let docs: Vec<EntryDoc> = serde_json::from_slice(&a.body)
                .map_err(|e| protocol(format!("listing is not Consul's JSON: {e}")))?;
            let b64 = base64::engine::general_purpose::STANDARD;
            docs.into_iter()
                .map(|d| {
                    let value = match d.value {
                        None => Vec::new(),
                        Some(v) => b64.decode(v.as_bytes()).map_err(|e| {
                            protocol(format!("{}: value is not base64: {e}", d.key))
                        })?,
                    };
                    Ok(KvEntry { key: d.key, value })
                })
                .collect::<Result<Vec<_>, ConsulError>>()?
        };
        Ok(Listing {
            index,
            entries,
            known_leader,
            last_contact,
            address: a.address,
        })
    }

    /// Write one key (the test fixture's writes; rrd itself only reads).
    #[cfg(feature = "testing")]
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), ConsulError> {
        const OP: &str = "KV put";
        let query: Vec<_> = self
            .datacenter
            .iter()
            .map(|dc| ("dc", dc.clone()))
            .collect();
        let a = self
            .send(
                OP,
                Method::PUT,
                key,
                &query,
                Some(value.to_vec()),
                self.request_timeout,
            )
            .await?;
        self.expect_true(OP, key, a)
    }

    /// Delete one key, or (`recurse`) everything below it.
    #[cfg(feature = "testing")]
    pub async fn delete(&self, key: &str, recurse: bool) -> Result<(), ConsulError> {
        const OP: &str = "KV delete";
        let mut query: Vec<_> = self
            .datacenter
            .iter()
            .map(|dc| ("dc", dc.clone()))
            .collect();
        if recurse {
            query.push(("recurse", "true".into()));
        }
        let a = self
            .send(OP, Method::DELETE, key, &query, None, self.request_timeout)
            .await?;
        self.expect_true(OP, key, a)
    }

    #[cfg(feature = "testing")]
    fn expect_true(
        &self,
        operation: &'static str,
        key: &str,
        a: Answer,
    ) -> Result<(), ConsulError> {
        match a.status {
            StatusCode::OK if text(&a.body) == "true" => Ok(()),
            StatusCode::OK => Err(ConsulError::Protocol {
                operation,
                address: a.address,
                detail: format!("{key}: Consul answered {:?}", text(&a.body)),
            }),
            StatusCode::FORBIDDEN => Err(ConsulError::Forbidden {
                operation,
                address: a.address,
                prefix: key.to_owned(),
                detail: text(&a.body),
            }),
            s => Err(ConsulError::Api {
                operation,
                address: a.address,
                status: s.as_u16(),
                detail: text(&a.body),
            }),
        }
    }
}

/// A short, printable form of an answer's body.
fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_folders_become_kv_paths() {
        let base = Url::parse("http://127.0.0.1:8500").unwrap();
        let u = KvClient::url(&base, "calico/bgp/v1/", &[("recurse", "true".into())]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8500/v1/kv/calico/bgp/v1/?recurse=true"
        );
        let u = KvClient::url(
            &base,
            "calico/bgp/v1/rr_v6/fd00::2",
            &[("stale", String::new()), ("dc", "dc2".into())],
        );
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8500/v1/kv/calico/bgp/v1/rr_v6/fd00::2?stale&dc=dc2"
        );
        let behind_proxy = Url::parse("https://gw.example/consul/").unwrap();
        let u = KvClient::url(&behind_proxy, "a b/c", &[]);
        assert_eq!(u.as_str(), "https://gw.example/consul/v1/kv/a%20b/c");
    }
}

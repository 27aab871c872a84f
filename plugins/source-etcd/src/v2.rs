//! A small etcd v2 API client (`/v2/keys`, HTTP/JSON): recursive read,
//! long-poll watch, put and delete. There is no maintained Rust crate for
//! the v2 API, and rrd needs only these four calls.
//!
//! Endpoints are tried in order, starting with the last one that answered;
//! TLS (CA, client certificate) and basic auth come from [`EtcdConfig`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use rrd_source_kit::{http_client, HttpOptions};
use serde::Deserialize;

use crate::config::EtcdConfig;
use crate::error::EtcdError;

/// One event of a v2 watch, already reduced to what a store needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum V2Event {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    /// A directory went away with everything below it.
    DeleteTree {
        key: String,
    },
    /// A directory was created: nothing to decode.
    Nothing,
}

/// What one long poll brought.
#[derive(Debug)]
pub(crate) enum WatchOutcome {
    Event {
        event: V2Event,
        next_index: u64,
    },
    /// No event within the watch timeout: poll again at the same index.
    Idle,
    /// etcd 401 "EventIndexCleared": the index is older than the 1000
    /// events etcd keeps. Only a full re-read helps.
    Cleared {
        detail: String,
    },
}

#[derive(Debug)]
pub(crate) struct V2Client {
    http: reqwest::Client,
    endpoints: Vec<Url>,
    preferred: AtomicUsize,
    auth: Option<(String, String)>,
    request_timeout: Duration,
    watch_timeout: Duration,
}

#[derive(Deserialize)]
struct ErrorDoc {
    #[serde(rename = "errorCode")]
    error_code: u64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    cause: String,
    #[serde(default)]
    index: u64,
}

#[derive(Deserialize)]
struct NodeDoc {
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    dir: bool,
    #[serde(default)]
    nodes: Vec<NodeDoc>,
    #[serde(rename = "modifiedIndex", default)]
    modified_index: u64,
}

#[derive(Deserialize)]
struct ActionDoc {
    action: String,
    node: NodeDoc,
}

struct Answer {
    status: StatusCode,
    index: Option<u64>,
    body: Vec<u8>,
    endpoint: String,
}

impl V2Client {
    pub fn new(config: &EtcdConfig) -> Result<V2Client, EtcdError> {
        let tls = config.tls_files()?;
        let http = http_client(&HttpOptions::new(config.dial_timeout), tls.as_ref())?;
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| {
                Url::parse(e).map_err(|err| EtcdError::Config {
                    field: "endpoints",
                    reason: format!("{e:?}: {err}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(V2Client {
            http,
            endpoints,
            preferred: AtomicUsize::new(0),
            auth: config.credentials()?,
            request_timeout: config.request_timeout,
            watch_timeout: config.watch_timeout,
        })
    }

    fn url(base: &Url, key: &str, query: &[(&str, String)]) -> Url {
        let mut url = base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().push("v2").push("keys");
            segs.extend(key.split('/').filter(|s| !s.is_empty()));
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Send to the preferred endpoint, then the others on transport errors.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        key: &str,
        query: &[(&str, String)],
        form: Option<&[(&str, &str)]>,
        timeout: Option<Duration>,
    ) -> Result<Answer, EtcdError> {
        let n = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut last_error = None;
        for i in 0..n {
            let idx = (first + i) % n;
            let base = &self.endpoints[idx];
            let endpoint = base.as_str().trim_end_matches('/').to_owned();
            let mut req = self
                .http
                .request(method.clone(), Self::url(base, key, query));
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            if let Some((u, p)) = &self.auth {
                req = req.basic_auth(u, Some(p));
            }
            if let Some(f) = form {
                req = req.form(f);
            }
            let result = async {
                let resp = req.send().await?;
                let status = resp.status();
                let index = resp
                    .headers()
                    .get("X-Etcd-Index")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                let body = resp.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>((status, index, body))
            }
            .await;
            match result {
                Ok((status, index, body)) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok(Answer {
                        status,
                        index,
                        body,
                        endpoint,
                    });
                }
                Err(source) if source.is_timeout() => {
                    return Err(EtcdError::Timeout {
                        operation,
                        after: timeout.unwrap_or_default(),
                    })
                }
                Err(source) => {
                    last_error = Some(EtcdError::Http {
                        operation,
                        endpoint,
                        source,
                    })
                }
            }
        }
        Err(last_error.expect("at least one endpoint"))
    }

    fn api_error(operation: &'static str, a: &Answer) -> EtcdError {
        match serde_json::from_slice::<ErrorDoc>(&a.body) {
            Ok(doc) => EtcdError::V2Api {
                operation,
                endpoint: a.endpoint.clone(),
                code: doc.error_code,
                message: doc.message,
                cause: doc.cause,
            },
            Err(_) => EtcdError::V2Protocol {
                operation,
                endpoint: a.endpoint.clone(),
                status: a.status.as_u16(),
                detail: String::from_utf8_lossy(&a.body).chars().take(200).collect(),
            },
        }
    }

    /// Every key/value below `dir`, and the etcd index the read saw
    /// (`X-Etcd-Index`): watch from `index + 1`. A missing directory is an
    /// empty, successful read.
    pub async fn read_tree(&self, dir: &str) -> Result<(Vec<(String, String)>, u64), EtcdError> {
        const OP: &str = "v2 recursive read";
        let query = [
            ("recursive", "true".to_owned()),
            ("quorum", "true".to_owned()),
        ];
        let a = self
            .send(
                OP,
                Method::GET,
                dir,
                &query,
                None,
                Some(self.request_timeout),
            )
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            if let Ok(doc) = serde_json::from_slice::<ErrorDoc>(&a.body) {
                if doc.error_code == 100 {
                    return Ok((Vec::new(), a.index.unwrap_or(doc.index)));
                }
            }
        }
        if a.status != StatusCode::OK {
            return Err(Self::api_error(OP, &a));
        }
        let Some(index) = a.index else {
            return Err(EtcdError::V2Protocol {
                operation: OP,
                endpoint: a.endpoint,
                status: 200,
                detail: "no X-Etcd-Index header".into(),
            });
        };
        let doc: ActionDoc =
            serde_json::from_slice(&a.body).map_err(|e| EtcdError::V2Protocol {
                operation: OP,
                endpoint: a.endpoint.clone(),
                status: 200,
                detail: e.to_string(),
            })?;
        let mut out = Vec::new();
        let mut stack = vec![doc.node];
        while let Some(n) = stack.pop() {
            if n.dir {
                stack.extend(n.nodes);
            } else if let (Some(k), Some(v)) = (n.key, n.value) {
                out.push((k, v));
            }
        }
        Ok((out, index))
    }

    /// One long poll below `dir` for the first event at or after
    /// `wait_index`.
    pub async fn watch(&self, dir: &str, wait_index: u64) -> Result<WatchOutcome, EtcdError> {
        const OP: &str = "v2 watch";
        let query = [
            ("wait", "true".to_owned()),
            ("recursive", "true".to_owned()),
            ("waitIndex", wait_index.to_string()),
        ];
        let poll = self.send(OP, Method::GET, dir, &query, None, None);
        let a = match tokio::time::timeout(self.watch_timeout, poll).await {
            Err(_) => return Ok(WatchOutcome::Idle),
            Ok(r) => r?,
        };
        if a.status == StatusCode::OK && a.body.iter().all(u8::is_ascii_whitespace) {
            // etcd closed the poll without an event.
            return Ok(WatchOutcome::Idle);
        }
        if a.status != StatusCode::OK {
            if let Ok(doc) = serde_json::from_slice::<ErrorDoc>(&a.body) {
                if doc.error_code == 401 {
                    return Ok(WatchOutcome::Cleared {
                        detail: format!("{} ({})", doc.message, doc.cause),
                    });
                }
            }
            return Err(Self::api_error(OP, &a));
        }
        let doc: ActionDoc =
            serde_json::from_slice(&a.body).map_err(|e| EtcdError::V2Protocol {
                operation: OP,
                endpoint: a.endpoint.clone(),
                status: 200,
                detail: e.to_string(),
            })?;
        let next_index = doc.node.modified_index.max(wait_index) + 1;
        let key = doc.node.key.unwrap_or_default();
        let event = match doc.action.as_str() {
            "delete" | "expire" | "compareAndDelete" if doc.node.dir => V2Event::DeleteTree { key },
            "delete" | "expire" | "compareAndDelete" => V2Event::Delete { key },
            _ if doc.node.dir => V2Event::Nothing,
            _ => match doc.node.value {
                Some(value) => V2Event::Put { key, value },
                None => V2Event::Nothing,
            },
        };
        Ok(WatchOutcome::Event { event, next_index })
    }

    /// Whether a key or directory exists.
    pub async fn exists(&self, key: &str) -> Result<bool, EtcdError> {
        const OP: &str = "v2 get";
        let a = self
            .send(OP, Method::GET, key, &[], None, Some(self.request_timeout))
            .await?;
        match a.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::api_error(OP, &a)),
        }
    }

    /// The value of one key, `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<String>, EtcdError> {
        const OP: &str = "v2 get";
        let query = [("quorum", "true".to_owned())];
        let a = self
            .send(
                OP,
                Method::GET,
                key,
                &query,
                None,
                Some(self.request_timeout),
            )
            .await?;
        match a.status {
            StatusCode::OK => {
                let doc: ActionDoc =
                    serde_json::from_slice(&a.body).map_err(|e| EtcdError::V2Protocol {
                        operation: OP,
                        endpoint: a.endpoint.clone(),
                        status: 200,
                        detail: e.to_string(),
                    })?;
                Ok(doc.node.value)
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::api_error(OP, &a)),
        }
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        const OP: &str = "v2 put";
        let a = self
            .send(
                OP,
                Method::PUT,
                key,
                &[],
                Some(&[("value", value)]),
                Some(self.request_timeout),
            )
            .await?;
        match a.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            _ => Err(Self::api_error(OP, &a)),
        }
    }

    /// Delete one key; `false` if it did not exist.
    pub async fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        const OP: &str = "v2 delete";
        let a = self
            .send(
                OP,
                Method::DELETE,
                key,
                &[],
                None,
                Some(self.request_timeout),
            )
            .await?;
        match a.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::api_error(OP, &a)),
        }
    }
}

//! A small Kubernetes API client over reqwest + rustls: one list page, one
//! watch stream, JSON only. That is all rrd needs from the API, so it
//! costs no extra dependency (the etcd source already builds reqwest) and
//! keeps every 410 and every bad object visible to the watch loop.
//!
//! Wire format, as the API server speaks it: a list is a `*List` object
//! with `metadata.resourceVersion` and `metadata.continue`; a watch
//! (`?watch=true&resourceVersion=R&allowWatchBookmarks=true`) is a chunked
//! stream of `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object":
//! ...}` documents; failures are `Status` objects (`code`, `reason`,
//! `message`), and an expired resourceVersion is HTTP 410 or an `ERROR`
//! event with code 410.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use rrd_layouts::calico_v3::ResourceKind;
use serde::Deserialize;
use serde_json::Value;

use crate::access::{Access, Auth};
use crate::config::KubernetesConfig;
use crate::error::KubeError;

/// One collection rrd lists and watches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Feed {
    /// `Node` (core v1) or the `crd.projectcalico.org/v1` CRDs.
    Calico(ResourceKind),
    /// One Secret, selected by `metadata.name` (as Calico watches them).
    Secret { namespace: String, name: String },
}

/// The three Calico feeds, in the order they are listed.
pub(crate) const CALICO_KINDS: [ResourceKind; 3] = [
    ResourceKind::BgpConfiguration,
    ResourceKind::BgpPeer,
    ResourceKind::Node,
];

impl Feed {
    /// The collection's path below the server URL.
    pub fn path(&self) -> String {
        match self {
            Feed::Calico(ResourceKind::Node) => "/api/v1/nodes".into(),
            Feed::Calico(ResourceKind::BgpPeer) => "/apis/crd.projectcalico.org/v1/bgppeers".into(),
            Feed::Calico(ResourceKind::BgpConfiguration) => {
                "/apis/crd.projectcalico.org/v1/bgpconfigurations".into()
            }
            Feed::Secret { namespace, .. } => format!("/api/v1/namespaces/{namespace}/secrets"),
        }
    }

    fn field_selector(&self) -> Option<String> {
        match self {
            Feed::Secret { name, .. } => Some(format!("metadata.name={name}")),
            Feed::Calico(_) => None,
        }
    }

    /// Only metadata is needed (Nodes: Calico's annotations and the
    /// labels), so the server is asked for `PartialObjectMetadata`: a
    /// Node's status (images, conditions) is most of its size. A server
    /// that does not know the projection answers with whole objects, which
    /// decode the same.
    fn accept(&self, watch: bool) -> &'static str {
        match (self, watch) {
            (Feed::Calico(ResourceKind::Node), false) => {
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            }
            (Feed::Calico(ResourceKind::Node), true) => {
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
            }
            _ => "application/json",
        }
    }

    /// A 404 for a Calico CRD means Calico's Kubernetes datastore is not
    /// there: say so.
    fn explain(&self, e: KubeError) -> KubeError {
        match (self, e) {
            (
                Feed::Calico(kind @ (ResourceKind::BgpPeer | ResourceKind::BgpConfiguration)),
                KubeError::Api {
                    operation,
                    url,
                    status: 404,
                    reason,
                    message,
                },
            ) => KubeError::Api {
                operation,
                url,
                status: 404,
                reason,
                message: format!(
                    "{message} (no CRD {}s.crd.projectcalico.org: is Calico installed with the \
                     Kubernetes datastore?)",
                    kind.kind().to_lowercase()
                ),
            },
            (_, e) => e,
        }
    }

    /// `apiVersion` and `kind` of the feed's objects: list items of core
    /// resources carry neither, and the Calico decoder needs both.
    pub fn api_version_and_kind(&self) -> (&'static str, &'static str) {
        match self {
            Feed::Calico(ResourceKind::Node) => ("v1", "Node"),
            Feed::Calico(k) => ("crd.projectcalico.org/v1", k.kind()),
            Feed::Secret { .. } => ("v1", "Secret"),
        }
    }
}

impl std::fmt::Display for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feed::Calico(k) => write!(f, "{k}s"),
            Feed::Secret { namespace, name } => write!(f, "Secret {namespace}/{name}"),
        }
    }
}

/// One page of a list.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: String,
    /// Token for the next page; `None` on the last.
    pub continue_token: Option<String>,
}

/// One event of a watch.
#[derive(Debug)]
pub(crate) enum WatchEvent {
    Added(Value),
    Modified(Value),
    Deleted(Value),
    /// Nothing changed for this watch up to the given resourceVersion.
    Bookmark(String),
}

#[derive(Deserialize)]
struct ListDoc {
    metadata: Option<ListMeta>,
    items: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(rename = "continue")]
    continue_token: Option<String>,
}

/// The API's error object.
#[derive(Deserialize, Default)]
struct StatusDoc {
    code: Option<u16>,
    reason: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    object: Value,
}

/// The client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct ApiClient {
    http: reqwest::Client,
    server: Url,
    auth: Auth,
    request_timeout: Duration,
    watch_timeout: Duration,
}

impl ApiClient {
    pub fn new(access: Access, config: &KubernetesConfig) -> Result<ApiClient, KubeError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .http1_only()
            .user_agent(concat!("rrd/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &access.ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(ca).map_err(|source| KubeError::Tls {
                    what: "certificate authority",
                    source,
                })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if access.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &access.identity_pem {
            let id = reqwest::Identity::from_pem(pem).map_err(|source| KubeError::Tls {
                what: "client certificate and key",
                source,
            })?;
            builder = builder.identity(id);
        }
        builder = match &access.proxy {
            Some(p) => builder.proxy(reqwest::Proxy::all(p).map_err(|e| KubeError::Access {
                origin: access.origin.clone(),
                reason: format!("proxy-url {p:?}: {e}"),
            })?),
            // Only the kubeconfig's proxy: an HTTP(S)_PROXY meant for the
            // outside world must not capture the API server.
            None => builder.no_proxy(),
        };
        let http = builder.build().map_err(|source| KubeError::Tls {
            what: "HTTP client",
            source,
        })?;
        Ok(ApiClient {
            http,
            server: access.server,
            auth: access.auth,
            request_timeout: config.request_timeout,
            watch_timeout: config.watch_timeout,
        })
    }

    pub fn server(&self) -> &Url {
        &self.server
    }

    fn url(&self, feed: &Feed, query: &[(&str, &str)]) -> Url {
        let mut url = self.server.clone();
        let base = self.server.path().trim_end_matches('/');
        url.set_path(&format!("{base}{}", feed.path()));
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            if let Some(fs) = feed.field_selector() {
                q.append_pair("fieldSelector", &fs);
            }
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    async fn get(
        &self,
        operation: &'static str,
        url: Url,
        accept: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, KubeError> {
        let mut req = self
            .http
            .get(url.clone())
            .header(ACCEPT, accept)
            .timeout(timeout);
        if let Some(h) = self.auth.header().await? {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport(operation, &url, timeout, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        let doc: StatusDoc = serde_json::from_slice(&body).unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED {
            self.auth.invalidate();
        }
        let message = doc
            .message
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        if status == StatusCode::GONE {
            return Err(KubeError::Gone { operation, message });
        }
        Err(KubeError::Api {
            operation,
            url: url.to_string(),
            status: status.as_u16(),
            reason: doc
                .reason
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned()),
            message,
        })
    }

    /// One page: the first (`continue_token` None) or a continuation. A
    /// list without `resourceVersion` is a consistent read of the latest
    /// state; its continuations stay at the first page's version.
    pub async fn list_page(
        &self,
        feed: &Feed,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<ListPage, KubeError> {
        let limit_text = limit.to_string();
        let mut query = Vec::new();
        if limit > 0 {
            query.push(("limit", limit_text.as_str()));
        }
        if let Some(c) = continue_token {
            query.push(("continue", c));
        }
        let url = self.url(feed, &query);
        let operation = "list";
        let resp = self
            .get(
                operation,
                url.clone(),
                feed.accept(false),
                self.request_timeout,
            )
            .await
            .map_err(|e| feed.explain(e))?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport(operation, &url, self.request_timeout, e))?;
        let doc: ListDoc = serde_json::from_slice(&body).map_err(|e| KubeError::Protocol {
            operation,
            url: url.to_string(),
            detail: format!("not a list: {e}"),
        })?;
        let meta = doc.metadata.ok_or_else(|| KubeError::Protocol {
            operation,
            url: url.to_string(),
            detail: "the list has no metadata".into(),
        })?;
        let resource_version =
            meta.resource_version
                .filter(|v| !v.is_empty())
                .ok_or_else(|| KubeError::Protocol {
                    operation,
                    url: url.to_string(),
                    detail: "the list has no metadata.resourceVersion".into(),
                })?;
        Ok(ListPage {
            items: doc.items.unwrap_or_default(),
            resource_version,
            continue_token: meta.continue_token.filter(|c| !c.is_empty()),
        })
    }

    /// Start watching `feed` from exactly `resource_version`.
    pub async fn watch(
        &self,
        feed: &Feed,
        resource_version: &str,
    ) -> Result<WatchStream, KubeError> {
        let seconds = self.watch_timeout.as_secs().max(1).to_string();
        let url = self.url(
            feed,
            &[
                ("watch", "true"),
                ("resourceVersion", resource_version),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", &seconds),
            ],
        );
        // The server ends the watch after timeoutSeconds; a stream still
        // open well after that is a dead connection.
        let deadline = self.watch_timeout + self.request_timeout;
        let response = self
            .get("watch", url.clone(), feed.accept(true), deadline)
            .await
            .map_err(|e| feed.explain(e))?;
        Ok(WatchStream {
            response,
            buf: Vec::new(),
            url,
            deadline,
        })
    }
}

fn transport(operation: &'static str, url: &Url, after: Duration, e: reqwest::Error) -> KubeError {
    if e.is_timeout() {
        KubeError::Timeout {
            operation,
            url: url.to_string(),
            after,
        }
    } else {
        KubeError::Http {
            operation,
            url: url.to_string(),
            detail: rrd_source_kit::chain(&e),
            source: e,
        }
    }
}

/// An open watch.
#[derive(Debug)]
pub(crate) struct WatchStream {
    response: reqwest::Response,
    buf: Vec<u8>,
    url: Url,
    deadline: Duration,
}

impl WatchStream {
    /// The next event; `Ok(None)` when the server ended the watch cleanly
    /// (its `timeoutSeconds`, or a restart). An `ERROR` event is an error:
    /// [`KubeError::Gone`] for code 410.
    pub async fn next(&mut self) -> Result<Option<WatchEvent>, KubeError> {
        loop {
            if let Some(raw) = self.take_document()? {
                return self.event(raw).map(Some);
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) if self.buf.iter().all(u8::is_ascii_whitespace) => return Ok(None),
                Ok(None) => {
                    return Err(self.protocol("the stream ended inside an event".into()));
                }
                Err(e) => return Err(transport("watch", &self.url, self.deadline, e)),
            }
        }
    }

    /// One complete JSON document from the front of the buffer, if there is
    /// one (events are newline-separated, but a framing of concatenated
    /// documents is read just as well).
    fn take_document(&mut self) -> Result<Option<RawEvent>, KubeError> {
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<RawEvent>();
        match stream.next() {
            None => {
                self.buf.clear();
                Ok(None)
            }
            Some(Ok(raw)) => {
                let used = stream.byte_offset();
                self.buf.drain(..used);
                Ok(Some(raw))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(self.protocol(format!("not a watch event: {e}"))),
        }
    }

    fn event(&self, raw: RawEvent) -> Result<WatchEvent, KubeError> {
        match raw.kind.as_str() {
            "ADDED" => Ok(WatchEvent::Added(raw.object)),
            "MODIFIED" => Ok(WatchEvent::Modified(raw.object)),
            "DELETED" => Ok(WatchEvent::Deleted(raw.object)),
            "BOOKMARK" => resource_version(&raw.object)
                .map(WatchEvent::Bookmark)
                .ok_or_else(|| self.protocol("a bookmark without resourceVersion".into())),
            "ERROR" => {
                let doc: StatusDoc = serde_json::from_value(raw.object).unwrap_or_default();
                let message = doc.message.unwrap_or_default();
                match doc.code {
                    Some(410) => Err(KubeError::Gone {
                        operation: "watch",
                        message,
                    }),
                    code => Err(KubeError::Api {
                        operation: "watch",
                        url: self.url.to_string(),
                        status: code.unwrap_or(500),
                        reason: doc.reason.unwrap_or_default(),
                        message,
                    }),
                }
            }
            other => Err(self.protocol(format!("unknown event type {other:?}"))),
        }
    }

    fn protocol(&self, detail: String) -> KubeError {
        KubeError::Protocol {
            operation: "watch",
            url: self.url.to_string(),
            detail,
        }
    }
}

/// `metadata.resourceVersion` of an object.
pub(crate) fn resource_version(object: &Value) -> Option<String> {
    object
        .get("metadata")?
        .get("resourceVersion")?
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

//! The in-test API server: HTTP/1.1 on 127.0.0.1 (plain or TLS, with
//! optional bearer-token and client-certificate checks) in front of an
//! [`ApiState`]. It serves list and watch of Nodes, BGPPeers,
//! BGPConfigurations and Secrets the way the real API server does; tests
//! change its data, compact its history, send bookmarks, end or break
//! watches, and stop and restart it on the same port.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::state::{ApiState, Failure, RecordedRequest, Resource, Selection};
use super::tls::TlsMaterial;

type ResponseBody = BoxBody<Bytes, Infallible>;

struct Shared {
    state: Mutex<ApiState>,
    /// Bumped on every change of the state; open watches wake up.
    changed: watch::Sender<u64>,
    connections: Mutex<BTreeMap<u64, AbortHandle>>,
    next_connection: AtomicU64,
    /// `Authorization: Bearer <token>` required when set.
    token: Mutex<Option<String>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    fn break_connections(&self) {
        let conns =
            std::mem::take(&mut *self.connections.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, c) in conns {
            c.abort();
        }
    }
}

/// A running (or stopped) in-test API server. Everything it started is
/// aborted when it is dropped.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<Arc<TlsMaterial>>,
    acceptor: Mutex<Option<AbortHandle>>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl FakeApiServer {
    /// A plain-HTTP server, listening.
    pub async fn start() -> FakeApiServer {
        let s = FakeApiServer::prepare(None).await;
        s.resume().await;
        s
    }

    /// An HTTPS server with a throw-away CA (and, when the material asks
    /// for it, client-certificate checks), listening.
    pub async fn start_tls(tls: TlsMaterial) -> FakeApiServer {
        let s = FakeApiServer::prepare(Some(tls)).await;
        s.resume().await;
        s
    }

    /// A plain-HTTP server on a socket the caller made, e.g. one listening
    /// inside a lab host's network namespace. (`stop` works; `resume`
    /// binds in the test's own namespace, so such a server is not
    /// resumed.)
    pub async fn serve(listener: std::net::TcpListener) -> FakeApiServer {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let listener = TcpListener::from_std(listener).expect("a tokio listener");
        let mut s = FakeApiServer::prepare(None).await;
        s.addr = addr;
        let task = tokio::spawn(accept_loop(listener, s.shared.clone(), None));
        *s.acceptor.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
        s
    }

    /// A server with a port but not listening yet (connections are
    /// refused until [`resume`](Self::resume)): for "API server down at
    /// start".
    pub async fn prepare(tls: Option<TlsMaterial>) -> FakeApiServer {
        let probe = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = probe.local_addr().expect("local address");
        drop(probe);
        let (changed, _) = watch::channel(0);
        FakeApiServer {
            shared: Arc::new(Shared {
                state: Mutex::new(ApiState::default()),
                changed,
                connections: Mutex::new(BTreeMap::new()),
                next_connection: AtomicU64::new(0),
                token: Mutex::new(None),
            }),
            addr,
            tls: tls.map(Arc::new),
            acceptor: Mutex::new(None),
        }
    }

    /// `http://127.0.0.1:port` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Require `Authorization: Bearer <token>` from now on.
    pub fn require_token(&self, token: &str) {
        *self.shared.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.to_owned());
    }

    /// Start (again) accepting connections on the same port.
    pub async fn resume(&self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(self.addr)
            .expect("bind the server's port again");
        let listener = socket.listen(128).expect("listen");
        let shared = self.shared.clone();
        let tls = self
            .tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config()));
        let task = tokio::spawn(accept_loop(listener, shared, tls));
        let old = self
            .acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Stop listening and cut every connection: clients see refused
    /// connections until [`resume`](Self::resume).
    pub fn stop(&self) {
        if let Some(a) = self
            .acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            a.abort();
        }
        self.shared.break_connections();
    }

    /// Cut every open connection (watches included) mid-stream, as a
    /// crashed API server or a dropped load balancer would.
    pub fn break_connections(&self) {
        self.shared.break_connections();
    }

    /// Read or change the data. Open watches see the changes.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut ApiState) -> R) -> R {
        let r = f(&mut self.shared.lock());
        self.shared.notify();
        r
    }

    /// Cut every connection, then change the data with no client able to
    /// watch it happen (they reconnect only after `f` returned).
    pub fn break_connections_and<R>(&self, f: impl FnOnce(&mut ApiState) -> R) -> R {
        let mut state = self.shared.lock();
        self.shared.break_connections();
        let r = f(&mut state);
        drop(state);
        self.shared.notify();
        r
    }

    /// Every open watch (that asked for bookmarks) gets a BOOKMARK at the
    /// current resourceVersion, after the events it has not seen yet.
    pub fn send_bookmarks(&self) {
        self.with_state(|s| s.bookmark_epoch += 1);
    }

    /// What the real API server does when a watch reaches its
    /// `timeoutSeconds`: a bookmark, then the end of the stream. With
    /// `compact` the history is compacted first, so only a client that
    /// took the bookmark's resourceVersion can resume without a 410.
    pub fn end_watches_with_bookmark(&self, compact: bool) {
        self.with_state(|s| {
            if compact {
                s.compact();
            }
            s.bookmark_epoch += 1;
            s.end_epoch += 1;
        });
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        let conn_shared = shared.clone();
        let tls = tls.clone();
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn({
                let shared = conn_shared.clone();
                move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(shared, req)) }
                }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
                Some(acceptor) => {
                    if let Ok(s) = acceptor.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(s), service).await;
                    }
                }
            }
            conn_shared
                .connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
        shared
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, task.abort_handle());
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .expect("response")
}

fn failure(f: &Failure) -> Response<ResponseBody> {
    json_response(
        StatusCode::from_u16(f.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &f.status_object(),
    )
}

fn not_found(path: &str) -> Response<ResponseBody> {
    failure(&Failure {
        code: 404,
        reason: "NotFound",
        message: format!("the server could not find the requested resource ({path})"),
    })
}

fn bad_request(message: String) -> Response<ResponseBody> {
    failure(&Failure {
        code: 400,
        reason: "BadRequest",
        message,
    })
}

fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let token = shared
        .token
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(token) = token {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(&format!("Bearer {token}")) {
            return failure(&Failure {
                code: 401,
                reason: "Unauthorized",
                message: "Unauthorized".into(),
            });
        }
    }
    let accept = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    shared.lock().requests.push(RecordedRequest {
        path: path.clone(),
        query: query.clone(),
        accept: accept.clone(),
    });
    if req.method() != hyper::Method::GET {
        return failure(&Failure {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the in-test API server only serves GET".into(),
        });
    }
    match path.trim_end_matches('/') {
        "/api" => {
            let doc = serde_json::json!({ "kind": "APIVersions", "versions": ["v1"] });
            return json_response(StatusCode::OK, &doc);
        }
        "/apis" => return json_response(StatusCode::OK, &shared.lock().api_groups()),
        "/version" => {
            let doc = serde_json::json!({ "major": "1", "minor": "33", "gitVersion": "v1.33.0" });
            return json_response(StatusCode::OK, &doc);
        }
        p => {
            if let Some(group) = Resource::calico_group(p)
                .filter(|g| p.trim_start_matches('/') == format!("apis/{}", g.api_version()))
            {
                return match shared.lock().calico_resources(group) {
                    Some(doc) => json_response(StatusCode::OK, &doc),
                    None => not_found(p),
                };
            }
        }
    }
    let group = Resource::calico_group(&path);
    if group.is_some_and(|g| !shared.lock().calico_groups.contains(&g)) {
        return not_found(&path);
    }
    let Some((resource, namespace)) = Resource::from_path(&path) else {
        return failure(&Failure {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
        });
    };
    if shared.lock().not_installed.contains(&resource) {
        return failure(&Failure {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
        });
    }
    if shared.lock().forbidden.contains(&resource) {
        return failure(&Failure {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} is forbidden: User \"system:serviceaccount:rrd:rrd\" cannot list resource \"{}\"",
                resource.plural(),
                resource.plural()
            ),
        });
    }
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    // The first media type decides (no q-values here).
    let wanted = if watching {
        "as=PartialObjectMetadata;"
    } else {
        "as=PartialObjectMetadataList;"
    };
    let first_type = accept.split(',').next().unwrap_or_default();
    let mut sel = Selection {
        resource,
        namespace,
        name: None,
        metadata_only: first_type.contains(wanted) && shared.lock().metadata_projection,
        group,
    };
    if let Some(fs) = query.get("fieldSelector").filter(|f| !f.is_empty()) {
        let Some(name) = fs
            .strip_prefix("metadata.name==")
            .or_else(|| fs.strip_prefix("metadata.name="))
        else {
            return bad_request(format!("field label not supported: {fs}"));
        };
        sel.name = Some(name.to_owned());
    }
    if !watching {
        let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
            None => 0,
            Some(Ok(l)) => l,
            Some(Err(_)) => return bad_request("limit is not a number".into()),
        };
        let result = shared
            .lock()
            .list(&sel, limit, query.get("continue").map(String::as_str));
        shared.notify(); // a list hook may have changed the data
        return match result {
            Ok(list) => json_response(StatusCode::OK, &list),
            Err(f) => failure(&f),
        };
    }
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return bad_request(format!("invalid resource version {v:?}")),
        },
    };
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let state = shared.lock();
    let (first, from) = match from {
        None => (state.current_as_added(&sel), state.resource_version()),
        Some(v) => {
            if let Err(f) = state.check_watch_from(v) {
                if state.gone_as_http_status {
                    return failure(&f);
                }
                // The watch cache's way: 200, then one ERROR event.
                let doc = serde_json::json!({ "type": "ERROR", "object": f.status_object() });
                return json_response(StatusCode::OK, &doc);
            }
            (Vec::new(), v)
        }
    };
    let epochs = (state.bookmark_epoch, state.end_epoch);
    drop(state);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(stream_watch(WatchTask {
        shared,
        sel,
        from,
        first,
        bookmarks,
        timeout,
        epochs,
        tx,
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed(ChannelBody(rx)))
        .expect("response")
}

struct WatchTask {
    shared: Arc<Shared>,
    sel: Selection,
    from: u64,
    first: Vec<Value>,
    bookmarks: bool,
    timeout: Option<Duration>,
    /// (bookmark, end) epochs when the watch started.
    epochs: (u64, u64),
    tx: mpsc::Sender<Bytes>,
}

/// Feed one watch: pending events, bookmarks when asked, the end when
/// asked or at `timeoutSeconds`.
async fn stream_watch(task: WatchTask) {
    let WatchTask {
        shared,
        sel,
        mut from,
        first,
        bookmarks,
        timeout,
        epochs: (mut bookmark_seen, end_seen),
        tx,
    } = task;
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut changed = shared.changed.subscribe();
    let line = |v: &Value| Bytes::from(format!("{v}\n"));
    for e in first {
        if tx.send(line(&e)).await.is_err() {
            return;
        }
    }
    loop {
        let (events, end) = {
            let state = shared.lock();
            let (mut out, at) = state.events_after(from, &sel);
            from = at;
            if bookmarks && state.bookmark_epoch > bookmark_seen {
                out.push(state.bookmark(&sel));
            }
            bookmark_seen = state.bookmark_epoch;
            (out, state.end_epoch > end_seen)
        };
        for e in &events {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        if end {
            return;
        }
        let expired = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = tx.closed() => return,
            _ = expired => return,
        }
    }
}

/// A response body fed from a channel: the stream ends when the sender
/// is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

//! The fake Consul's HTTP API: `/v1/kv/<key>` GET (single key or
//! `?recurse`, plain or blocking with `?index` + `?wait`), PUT and DELETE,
//! answered the way Consul's agent answers them:
//!
//! * headers `X-Consul-Index`, `X-Consul-KnownLeader`,
//!   `X-Consul-LastContact`, `X-Consul-Effective-Consistency`, with ACLs
//!   `X-Consul-Default-Acl-Policy` and `X-Consul-Results-Filtered-By-Acls`;
//! * 404 with the index headers for an empty listing or a missing key;
//! * a blocking query returns once the listing's index passes `?index`, or
//!   after `?wait` (default 5m, capped at 10m) plus up to `wait / 16`, with
//!   the unchanged index; an abandoned state store (snapshot restore)
//!   returns it at once;
//! * ACLs (default deny): an unknown token is 403 "ACL not found"; a token
//!   that may not read is 403 "Permission denied" when the key-list policy
//!   is on, else its listing is filtered and says so;
//! * `?dc=` other than the agent's is 500 "No path to datacenter"; without
//!   a leader, default and consistent reads are 500 "No cluster leader"
//!   while `?stale` reads are served with `X-Consul-KnownLeader: false`;
//! * `?stale` with `?consistent` is 400.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::kv::KvState;

/// ACLs with a default-deny policy.
#[derive(Clone, Debug)]
pub struct Acl {
    /// May read and write everything.
    pub management: String,
    /// Other tokens and the key prefix each may read and write.
    pub tokens: BTreeMap<String, String>,
    /// Consul's `acl.enable_key_list_policy`: a recursive read needs list
    /// permission on the prefix (403 without) instead of being filtered.
    pub key_list_policy: bool,
}

impl Acl {
    /// A management token and nothing else; key-list policy on.
    pub fn management(token: &str) -> Acl {
        Acl {
            management: token.to_owned(),
            tokens: BTreeMap::new(),
            key_list_policy: true,
        }
    }

    /// Another token that may read and write below `prefix`.
    pub fn with_token(mut self, token: &str, prefix: &str) -> Acl {
        self.tokens.insert(token.to_owned(), prefix.to_owned());
        self
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// The key (decoded), `/` kept: `calico/bgp/v1/` for a listing.
    pub key: String,
    pub query: Vec<(String, String)>,
    /// Whether an `X-Consul-Token` header came with it.
    pub had_token: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl RequestRecord {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// `?index=` as a number (0 when absent).
    pub fn index(&self) -> u64 {
        self.param("index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// Whether the cluster has a leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leader {
    Known,
    Lost { last_contact: Duration },
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub kv: KvState,
    pub acl: Option<Acl>,
    pub datacenter: String,
    pub leader: Leader,
    /// Report `X-Consul-Index: 0` (a bug old Consul versions had).
    pub zero_index: bool,
    /// Bumped to end every blocking query at once (abandoned state store,
    /// spurious wake-up).
    pub wake_generation: u64,
    pub requests: Vec<RequestRecord>,
}

/// State shared by every connection of one fake.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Bumped on every change; blocking queries wait on it.
    changed: watch::Sender<u64>,
}

impl Shared {
    pub fn new(datacenter: &str) -> Shared {
        Shared {
            inner: Mutex::new(Inner {
                kv: KvState::default(),
                acl: None,
                datacenter: datacenter.to_owned(),
                leader: Leader::Known,
                zero_index: false,
                wake_generation: 0,
                requests: Vec::new(),
            }),
            changed: watch::Sender::new(0),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the state and wake every blocking query to look again.
    pub fn modify<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
        out
    }
}

/// What a token may do.
enum Rights {
    All,
    Below(String),
    Nothing,
}

impl Rights {
    fn covers(&self, key: &str) -> bool {
        match self {
            Rights::All => true,
            Rights::Below(p) => key.starts_with(p.as_str()),
            Rights::Nothing => false,
        }
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn json(body: impl Into<Bytes>) -> Reply {
    let mut r = reply(StatusCode::OK, body);
    r.headers_mut()
        .insert("Content-Type", "application/json".parse().expect("header"));
    r
}

/// Go's `time.ParseDuration` for what clients send (`10s`, `5m`, `1m30s`,
/// `250ms`).
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let d = match &rest[..unit_len] {
            "ns" => Duration::from_nanos(n),
            "us" | "µs" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return None,
        };
        total += d;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Serve one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let token = req
        .headers()
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(raw_key) = path.strip_prefix("/v1/kv/") else {
        return Ok(reply(StatusCode::NOT_FOUND, ""));
    };
    let key = percent_encoding::percent_decode_str(raw_key)
        .decode_utf8_lossy()
        .into_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, "cannot read body")),
    };
    let record = RequestRecord {
        method: method.to_string(),
        key: key.clone(),
        query,
        had_token: token.is_some(),
        at: std::time::Instant::now(),
    };
    // A blocking query returns early on any wake-up after it arrived.
    let generation = {
        let mut inner = shared.lock();
        inner.requests.push(record.clone());
        inner.wake_generation
    };
    let q = &record;
    if q.has("stale") && q.has("consistent") {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        ));
    }
    let rights = {
        let inner = shared.lock();
        if let Some(dc) = q.param("dc") {
            if dc != inner.datacenter {
                return Ok(reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "No path to datacenter",
                ));
            }
        }
        match &inner.acl {
            None => Rights::All,
            Some(acl) => match token.as_deref() {
                None | Some("") => Rights::Nothing,
                Some(t) if t == acl.management => Rights::All,
                Some(t) => match acl.tokens.get(t) {
                    Some(p) => Rights::Below(p.clone()),
                    None => return Ok(reply(StatusCode::FORBIDDEN, "ACL not found")),
                },
            },
        }
    };
    Ok(match method {
        Method::GET => get(&shared, &key, q, rights, generation).await,
        Method::PUT => {
            if !rights.covers(&key) {
                return Ok(reply(StatusCode::FORBIDDEN, "Permission denied"));
            }
            let Ok(flags) = q.param("flags").unwrap_or("0").parse::<u64>() else {
                return Ok(reply(StatusCode::BAD_REQUEST, "Invalid flags"));
            };
            // Consul stores an empty body as a key without data.
            let value = (!body.is_empty()).then(|| body.to_vec());
            shared.modify(|i| i.kv.put(&key, value, flags));
            json("true")
        }
        Method::DELETE => {
            if !rights.covers(&key) {
                return Ok(reply(StatusCode::FORBIDDEN, "Permission denied"));
            }
            shared.modify(|i| i.kv.delete(&key, q.has("recurse")));
            json("true")
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    })
}

async fn get(
    shared: &Shared,
    key: &str,
    q: &RequestRecord,
    rights: Rights,
    start_generation: u64,
) -> Reply {
    let recurse = q.has("recurse");
    if recurse && !rights.covers(key) {
        let list_policy = shared
            .lock()
            .acl
            .as_ref()
            .is_some_and(|a| a.key_list_policy);
        if list_policy {
            return reply(StatusCode::FORBIDDEN, "Permission denied");
        }
    }
    if !recurse && !rights.covers(key) {
        return reply(StatusCode::FORBIDDEN, "Permission denied");
    }
    let min_index = match q.param("index").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(i)) => i,
        Some(Err(_)) => return reply(StatusCode::BAD_REQUEST, "Invalid index"),
    };
    let wait = match q.param("wait").map(parse_go_duration) {
        None => Duration::from_secs(300),
        Some(Some(d)) => d,
        Some(None) => return reply(StatusCode::BAD_REQUEST, "Invalid wait time"),
    }
    .min(Duration::from_secs(600));
    let jitter = rand::thread_rng().gen_range(Duration::ZERO..=wait / 16);
    let deadline = Instant::now() + wait + jitter;
    let mut rx = shared.changed.subscribe();
    loop {
        rx.borrow_and_update();
        {
            let inner = shared.lock();
            if matches!(inner.leader, Leader::Lost { .. }) && !q.has("stale") {
                return reply(StatusCode::INTERNAL_SERVER_ERROR, "No cluster leader");
            }
            let index = if recurse {
                inner.kv.list(key).0
            } else {
                inner.kv.get(key).0
            };
            if min_index == 0
                || index > min_index
                || inner.wake_generation != start_generation
                || Instant::now() >= deadline
            {
                return answer(&inner, key, q, &rights);
            }
        }
        tokio::select! {
            _ = rx.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// The answer to a read, as the state is now.
fn answer(inner: &Inner, key: &str, q: &RequestRecord, rights: &Rights) -> Reply {
    let stale = q.has("stale");
    let (known_leader, last_contact) = match inner.leader {
        Leader::Known => (true, Duration::ZERO),
        Leader::Lost { .. } if !stale => {
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "No cluster leader")
        }
        Leader::Lost { last_contact } => (false, last_contact),
    };
    let (index, entries) = if q.has("recurse") {
        inner.kv.list(key)
    } else {
        let (i, e) = inner.kv.get(key);
        (i, e.map(|e| (key, e)).into_iter().collect())
    };
    let total = entries.len();
    let visible: Vec<_> = entries
        .into_iter()
        .filter(|(k, _)| rights.covers(k))
        .collect();
    let filtered = visible.len() != total;
    let b64 = base64::engine::general_purpose::STANDARD;
    let docs: Vec<serde_json::Value> = visible
        .iter()
        .map(|(k, e)| {
            serde_json::json!({
                "LockIndex": 0,
                "Key": k,
                "Flags": e.flags,
                "Value": e.value.as_ref().map(|v| b64.encode(v)),
                "CreateIndex": e.create_index,
                "ModifyIndex": e.modify_index,
            })
        })
        .collect();
    let mut r = if docs.is_empty() {
        reply(StatusCode::NOT_FOUND, "")
    } else {
        json(serde_json::to_vec(&docs).expect("JSON"))
    };
    let index = if inner.zero_index { 0 } else { index };
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        h.insert(name, value.parse().expect("header value"));
    };
    set("X-Consul-Index", index.to_string());
    set("X-Consul-KnownLeader", known_leader.to_string());
    set("X-Consul-LastContact", last_contact.as_millis().to_string());
    set(
        "X-Consul-Effective-Consistency",
        if stale {
            "stale"
        } else if q.has("consistent") {
            "consistent"
        } else {
            "leader"
        }
        .into(),
    );
    if inner.acl.is_some() {
        set("X-Consul-Default-Acl-Policy", "deny".into());
    }
    if filtered {
        set("X-Consul-Results-Filtered-By-Acls", "true".into());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_consul_parses_them() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}

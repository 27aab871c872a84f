//! [`FakeConsul`]: a real HTTP(S) server on 127.0.0.1 that answers
//! `/v1/kv/` the way a Consul agent does (see [`super::api`]), with knobs
//! for what a test needs to provoke: index resets (snapshot restore,
//! reaped tombstones), an `X-Consul-Index` of 0, spurious wake-ups, a lost
//! leader, ACLs, dropped connections, and stopping and restarting on the
//! same port.
//!
//! Connections are served by tasks the accept task owns: stopping the
//! server (or dropping connections) aborts them, so a client blocked in a
//! long poll sees its connection close, as it would if the agent died.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::api::{handle, Acl, Leader, RequestRecord, Shared};
use super::kv::KvSnapshot;
use super::tls::TlsMaterial;
use crate::config::ConsulConfig;

/// The datacenter the fake belongs to.
pub const DATACENTER: &str = "dc1";

/// A fake Consul agent (and its cluster), stopped when dropped.
pub struct FakeConsul {
    shared: Arc<Shared>,
    port: u16,
    dir: TempDir,
    tls: Option<(TlsMaterial, TlsAcceptor)>,
    accept: Option<JoinHandle<()>>,
    drop_connections: Arc<Notify>,
}

impl FakeConsul {
    /// A port and (with `tls`) certificates, not serving yet: for tests
    /// where the source comes first.
    pub fn prepare(tls: bool) -> FakeConsul {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let dir = tempfile::Builder::new()
            .prefix("rrd-consul-")
            .tempdir()
            .expect("tempdir");
        let tls = tls.then(|| {
            let m = TlsMaterial::generate(dir.path());
            let acceptor = acceptor(&m);
            (m, acceptor)
        });
        FakeConsul {
            shared: Arc::new(Shared::new(DATACENTER)),
            port,
            dir,
            tls,
            accept: None,
            drop_connections: Arc::new(Notify::new()),
        }
    }

    /// A plain-HTTP fake, serving.
    pub async fn start() -> FakeConsul {
        let mut s = FakeConsul::prepare(false);
        s.launch().await;
        s
    }

    /// A fake that requires TLS with a client certificate
    /// (`verify_incoming`), serving.
    pub async fn start_tls() -> FakeConsul {
        let mut s = FakeConsul::prepare(true);
        s.launch().await;
        s
    }

    /// A plain-HTTP fake on a socket the caller made, e.g. one listening
    /// inside a lab host's network namespace (`url()` is then that
    /// namespace's 127.0.0.1; `stop` works, `launch` binds in the test's
    /// own namespace).
    pub fn serve(listener: std::net::TcpListener) -> FakeConsul {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let listener = TcpListener::from_std(listener).expect("a tokio listener");
        let mut s = FakeConsul::prepare(false);
        s.port = port;
        s.accept = Some(tokio::spawn(accept_loop(
            listener,
            None,
            s.shared.clone(),
            s.drop_connections.clone(),
        )));
        s
    }

    /// Start serving (again) on the same port, with the same data.
    pub async fn launch(&mut self) {
        assert!(self.accept.is_none(), "the fake Consul is already serving");
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        self.accept = Some(tokio::spawn(accept_loop(
            listener,
            self.tls.as_ref().map(|(_, a)| a.clone()),
            self.shared.clone(),
            self.drop_connections.clone(),
        )));
    }

    /// Stop serving: the listener closes and every open connection (a
    /// blocking query included) is cut. The data stays.
    pub async fn stop(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn is_serving(&self) -> bool {
        self.accept.is_some()
    }

    /// Cut every open connection but keep listening.
    pub fn drop_connections(&self) {
        self.drop_connections.notify_one();
    }

    /// `http://127.0.0.1:<port>` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The TLS material a TLS fake was made with.
    pub fn tls(&self) -> Option<&TlsMaterial> {
        self.tls.as_ref().map(|(m, _)| m)
    }

    /// A directory that lives as long as the fake (token files, ...).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A source configuration for this fake: its address, its TLS files,
    /// and timings short enough for tests.
    pub fn config(&self) -> ConsulConfig {
        let tls = self.tls();
        ConsulConfig {
            addresses: vec![self.url()],
            ca_file: tls.map(|m| m.ca.clone()),
            cert_file: tls.map(|m| m.client_cert.clone()),
            key_file: tls.map(|m| m.client_key.clone()),
            dial_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            rate_limit: Duration::from_millis(20),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(500),
            ..ConsulConfig::default()
        }
    }

    // ---- data, without going through HTTP ----

    /// Write one key (as `consul kv put` would); wakes blocking queries.
    pub fn put(&self, key: &str, value: &str) {
        self.put_with_flags(key, value, 0);
    }

    pub fn put_with_flags(&self, key: &str, value: &str, flags: u64) {
        let value = (!value.is_empty()).then(|| value.as_bytes().to_vec());
        self.shared.modify(|i| i.kv.put(key, value, flags));
    }

    /// Delete one key, or everything below it.
    pub fn delete(&self, key: &str, recurse: bool) {
        self.shared.modify(|i| i.kv.delete(key, recurse));
    }

    /// The index a recursive read of `prefix` reports now.
    pub fn list_index(&self, prefix: &str) -> u64 {
        self.shared.lock().kv.list(prefix).0
    }

    /// `consul snapshot save`.
    pub fn snapshot(&self) -> KvSnapshot {
        self.shared.lock().kv.snapshot()
    }

    /// `consul snapshot restore`: old content at old indexes; the state
    /// store is abandoned, so every blocking query returns at once.
    pub fn restore(&self, snapshot: &KvSnapshot) {
        self.shared.modify(|i| {
            i.kv.restore(snapshot);
            i.wake_generation += 1;
        });
    }

    /// Reap every tombstone, as Consul's tombstone GC does after a while.
    /// Blocking queries see a *lower* index but keep waiting for a higher
    /// one, so they return it when their wait runs out.
    pub fn reap_tombstones(&self) {
        self.shared.modify(|i| i.kv.reap_tombstones());
    }

    /// End every blocking query now with whatever index it would report
    /// (a wake-up without a change).
    pub fn wake_blocking_queries(&self) {
        self.shared.modify(|i| i.wake_generation += 1);
    }

    /// Report `X-Consul-Index: 0` (a bug of some Consul versions).
    pub fn set_zero_index(&self, on: bool) {
        self.shared.modify(|i| i.zero_index = on);
    }

    /// The servers lost their leader `last_contact` ago: default and
    /// consistent reads fail with 500, stale reads still answer.
    pub fn lose_leader(&self, last_contact: Duration) {
        self.shared
            .modify(|i| i.leader = Leader::Lost { last_contact });
    }

    pub fn elect_leader(&self) {
        self.shared.modify(|i| i.leader = Leader::Known);
    }

    /// Turn ACLs on (default deny) or off.
    pub fn set_acl(&self, acl: Option<Acl>) {
        self.shared.modify(|i| i.acl = acl);
    }

    // ---- what happened ----

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// The recursive reads received so far.
    pub fn list_requests(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.has("recurse"))
            .collect()
    }
}

impl std::fmt::Debug for FakeConsul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeConsul")
            .field("url", &self.url())
            .field("serving", &self.is_serving())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeConsul {
    fn drop(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
        }
    }
}

fn acceptor(m: &TlsMaterial) -> TlsAcceptor {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(m.ca_der.clone()))
        .expect("CA certificate");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client certificate verifier");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.server_key_der.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(m.server_cert_der.clone())], key)
        .expect("server certificate");
    TlsAcceptor::from(Arc::new(config))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    drop_connections: Arc<Notify>,
) {
    // Dropping this set (when the task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream, tls.clone(), shared.clone()));
                }
            }
            _ = drop_connections.notified() => connections.abort_all(),
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let service = service_fn(move |req| handle(shared.clone(), req));
    let builder = http1::Builder::new();
    match tls {
        None => {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
        Some(acceptor) => {
            // A client without a certificate fails the handshake here.
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

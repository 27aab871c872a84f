//! One etcd 3.4 process per test, serving the v2 and v3 APIs on loopback.

use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use super::tls::TlsMaterial;
use crate::config::{EtcdApi, EtcdConfig, Layout};
use crate::v2::V2Client;

static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static SERIAL: AtomicU32 = AtomicU32::new(0);

/// A loopback port nobody listens on now and that this process has not
/// handed out before.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let mut guard = PORTS.lock().unwrap_or_else(|p| p.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// A real etcd, stopped by PID on drop.
#[derive(Debug)]
pub struct EtcdServer {
    child: Option<Child>,
    dir: TempDir,
    name: String,
    client_port: u16,
    peer_port: u16,
    tls: Option<TlsMaterial>,
    /// Serve the v2 API too (etcd 3.4's `--enable-v2`; 3.6 has none).
    v2_api: bool,
}

impl EtcdServer {
    /// Ports, data directory and (with `tls`) certificates, not started:
    /// for tests where the source comes first.
    pub fn prepare(tls: bool) -> EtcdServer {
        let dir = tempfile::Builder::new()
            .prefix("rrd-etcd-")
            .tempdir()
            .expect("tempdir");
        let tls = tls.then(|| TlsMaterial::generate(dir.path()));
        EtcdServer {
            child: None,
            name: format!(
                "rrd-{}-{}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::Relaxed)
            ),
            client_port: free_port(),
            peer_port: free_port(),
            dir,
            tls,
            v2_api: true,
        }
    }

    /// A plain-HTTP etcd, started and ready.
    pub async fn start() -> EtcdServer {
        let mut s = EtcdServer::prepare(false);
        s.launch().await;
        s
    }

    /// A plain-HTTP etcd without the v2 API (as etcd 3.6 is), started and
    /// ready.
    pub async fn start_without_v2() -> EtcdServer {
        let mut s = EtcdServer::prepare(false);
        s.v2_api = false;
        s.launch().await;
        s
    }

    /// An etcd that requires TLS client certificates, started and ready.
    pub async fn start_tls() -> EtcdServer {
        let mut s = EtcdServer::prepare(true);
        s.launch().await;
        s
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.client_port)
    }

    pub fn tls(&self) -> Option<&TlsMaterial> {
        self.tls.as_ref()
    }

    /// A source/admin configuration for this server, with short retry
    /// delays so that tests converge quickly.
    pub fn config(&self, api: EtcdApi, layout: Layout) -> EtcdConfig {
        let mut c = EtcdConfig {
            api,
            layout,
            endpoints: vec![self.endpoint()],
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            dial_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            ..EtcdConfig::default()
        };
        if let Some(t) = &self.tls {
            c.ca_file = Some(t.ca.clone());
            c.cert_file = Some(t.client_cert.clone());
            c.key_file = Some(t.client_key.clone());
        }
        c
    }

    /// Start the process (same ports and data as before) and wait until it
    /// answers.
    pub async fn launch(&mut self) {
        assert!(self.child.is_none(), "etcd {} already running", self.name);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd log file");
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new("etcd");
        cmd.arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(&client)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("{}={peer}", self.name))
            .arg(format!("--enable-v2={}", self.v2_api))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&t.server_cert)
                .arg("--key-file")
                .arg(&t.server_key)
                .arg("--trusted-ca-file")
                .arg(&t.ca)
                .arg("--client-cert-auth");
        }
        self.child = Some(cmd.spawn().expect("spawn etcd (package etcd-server)"));
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let client =
            V2Client::new(&self.config(EtcdApi::V2, Layout::CalicoV1)).expect("probe client");
        let v3 = self.config(EtcdApi::V3, Layout::CalicoV1);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match self.v2_api {
                true => client.read_tree("/rrd-readiness-probe").await.is_ok(),
                false => crate::v3::V3Client::connect(&v3).await.is_ok(),
            };
            if ready {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("etcd exited with {status}:\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "etcd not ready after 30s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop the process by PID (SIGTERM, SIGKILL after 10 s). The data
    /// directory stays for [`EtcdServer::launch`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = child.wait();
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The last lines etcd logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A v3 client for test set-up (compaction, bulk writes).
    pub async fn v3_client(&self) -> etcd_client::Client {
        let mut opts = etcd_client::ConnectOptions::new();
        if let Some(t) = &self.tls {
            let read = |p: &std::path::Path| std::fs::read(p).expect("read TLS file");
            opts = opts.with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(read(&t.ca)))
                    .identity(etcd_client::Identity::from_pem(
                        read(&t.client_cert),
                        read(&t.client_key),
                    )),
            );
        }
        etcd_client::Client::connect([self.endpoint()], Some(opts))
            .await
            .expect("v3 test client")
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

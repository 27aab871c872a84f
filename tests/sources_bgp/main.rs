//! Scenario: `rrd run` reading the Kubernetes source and the Consul source
//! end to end over BGP, on BIRD 2 and on GoBGP.
//!
//! Kubernetes and Consul cannot be installed here: the in-test API server
//! (`rrd_source_kubernetes::testing`) and the in-test Consul
//! (`rrd_source_consul::testing`) run in the test process, listening on
//! 127.0.0.1 *inside the RR's network namespace* (a socket made there), so
//! rrd reaches them as a local API server or agent. The RR is
//! 198.51.100.10; Calico-like BIRD 1.6 clients .21, .22, .23 each advertise
//! a 203.0.113.x/30 block. Per source and engine:
//!
//! * the clients learn each other's blocks through the RR;
//! * a client added in the datastore (.24, its BIRD already running)
//!   reaches the daemon: the time from the write to the session in the
//!   daemon, and to Established, is printed;
//! * the watch history is lost — Kubernetes: connections cut and the
//!   history compacted, so every watch gets 410 Gone and re-lists;
//!   Consul: a snapshot restored, so the index goes backwards — and rrd
//!   re-reads (its log says so) without a single session flap on any
//!   client.
//!
//! Kubernetes holds the topology as Calico's Kubernetes datastore does
//! (Calico v3 rules: an RR node with a cluster id and a
//! `route-reflector` label, a BGPPeer from the other nodes to it); Consul
//! holds calico-v1 keys (legacy rules: registered RR, nodes, a global peer).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use rrd_lab::calico_client::CalicoClient;
use rrd_lab::route_reflector::{RouteReflectorHost, RrDaemon};
use rrd_lab::topology::LegacyTopology;
use rrd_lab::{poll, since, Host, Lab};
use rrd_source_consul::testing::FakeConsul;
use rrd_source_kubernetes::testing::{
    node_object, write_kubeconfig, Credentials, FakeApiServer, Resource,
};
use serde_json::json;

const ASN: u32 = 64512;
const RR: u8 = 10;
const CLIENTS: [u8; 3] = [21, 22, 23];
const NEW: u8 = 24;
const CLUSTER_ID: &str = "1.0.0.1";
const SETTLE: Duration = Duration::from_secs(60);
/// How long the sessions are watched for a flap after the history loss.
const QUIET: Duration = Duration::from_secs(3);

fn ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, i)
}

/// What a scenario needs from a datastore.
trait Datastore {
    /// Lines for rrd's `[identity]` table.
    fn identity(&self) -> String;
    /// rrd's `[source]` table and its subtable.
    fn source(&self) -> String;
    /// The RR and the first clients.
    fn write_initial(&self);
    /// One more client.
    fn add_client(&self, index: u8);
    /// Make rrd lose its watch history.
    fn lose_history(&self);
}

struct Kubernetes {
    server: FakeApiServer,
    kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubernetes {
    fn node(index: u8) -> serde_json::Value {
        let annotations = [("projectcalico.org/IPv4Address", format!("{}/24", ip(index)))].into();
        node_object(&format!("w{index}"), &Default::default(), annotations)
    }
}

impl Datastore for Kubernetes {
    fn identity(&self) -> String {
        "node_name = \"rr\"\n".into()
    }

    fn source(&self) -> String {
        format!(
            "[source]\nkind = \"kubernetes\"\n[source.kubernetes]\nkubeconfig = \"{}\"\n\
             backoff_initial = \"100ms\"\nbackoff_max = \"1s\"\n",
            self.kubeconfig.display()
        )
    }

    fn write_initial(&self) {
        self.server.with_state(|s| {
            s.apply(json!({
                "apiVersion": "crd.projectcalico.org/v1", "kind": "BGPConfiguration",
                "metadata": { "name": "default" },
                "spec": { "nodeToNodeMeshEnabled": false, "asNumber": ASN },
            }));
            s.apply(json!({
                "apiVersion": "crd.projectcalico.org/v1", "kind": "BGPPeer",
                "metadata": { "name": "peer-with-route-reflectors" },
                "spec": {
                    "nodeSelector": "!has(route-reflector)",
                    "peerSelector": "route-reflector == 'true'",
                },
            }));
            let labels = [("route-reflector".to_owned(), "true".to_owned())].into();
            let annotations = [
                ("projectcalico.org/IPv4Address", format!("{}/24", ip(RR))),
                (
                    "projectcalico.org/RouteReflectorClusterID",
                    CLUSTER_ID.to_owned(),
                ),
            ]
            .into();
            s.apply(node_object("rr", &labels, annotations));
            for i in CLIENTS {
                s.apply(Kubernetes::node(i));
            }
        });
    }

    fn add_client(&self, index: u8) {
        self.server.with_state(|s| s.apply(Kubernetes::node(index)));
    }

    fn lose_history(&self) {
        self.server.break_connections_and(|s| {
            s.gone_as_http_status = false;
            s.compact()
        });
        assert!(self
            .server
            .with_state(|s| s.get(Resource::Nodes, "", "rr").is_some()));
    }
}

struct Consul {
    server: FakeConsul,
}

const PREFIX: &str = "calico/bgp/v1";

impl Consul {
    fn legacy(clients: &[u8]) -> LegacyTopology {
        let mut t = LegacyTopology::new(ASN);
        t.route_reflectors.push((ip(RR), Some(CLUSTER_ID.into())));
        t.global_peers.push(ip(RR));
        for &i in clients {
            t.nodes.push((format!("w{i}"), ip(i)));
        }
        t
    }

    fn write(&self, clients: &[u8]) {
        let toml = Consul::legacy(clients).to_toml();
        let topology = rrd_source_file::parse(Path::new("lab.toml"), &toml).expect("topology");
        for (key, value) in
            rrd_layouts::calico_v1::encode::to_kvs(&topology).expect("calico-v1 keys")
        {
            self.server.put(&format!("{PREFIX}/{}", key.path()), &value);
        }
    }
}

impl Datastore for Consul {
    fn identity(&self) -> String {
        String::new()
    }

    fn source(&self) -> String {
        format!(
            "[source]\nkind = \"consul\"\n[source.consul]\naddresses = [\"{}\"]\n\
             rate_limit = \"200ms\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"1s\"\n",
            self.server.url()
        )
    }

    fn write_initial(&self) {
        self.write(&CLIENTS);
    }

    fn add_client(&self, index: u8) {
        let mut all = CLIENTS.to_vec();
        all.push(index);
        self.write(&all);
    }

    fn lose_history(&self) {
        // A snapshot, a write that changes no topology (new flags), then
        // the restore: the index goes backwards.
        let snapshot = self.server.snapshot();
        let key = format!("{PREFIX}/global/as_num");
        self.server.put_with_flags(&key, &ASN.to_string(), 7);
        let before = self.server.list_index(PREFIX);
        // rrd blocks at the new index before the restore takes it back.
        let at = before.to_string();
        poll::until("rrd blocking at the new index", SETTLE, || {
            let blocking = self
                .server
                .list_requests()
                .iter()
                .any(|r| r.param("index") == Some(&at));
            blocking
                .then_some(())
                .ok_or_else(|| format!("no blocking query at index {at}"))
        });
        self.server.restore(&snapshot);
        assert!(
            self.server.list_index(PREFIX) < before,
            "the index went back"
        );
    }
}

/// The figures one run measured.
struct Figures {
    settle: Duration,
    to_daemon: Duration,
    to_established: Duration,
}

fn session_of(status: &serde_json::Value, index: u8) -> Option<serde_json::Value> {
    let suffix = format!("198_51_100_{index}");
    status["sessions"]
        .as_array()?
        .iter()
        .find(|s| s["key"].as_str().is_some_and(|k| k.ends_with(&suffix)))
        .cloned()
}

fn run(daemon: RrDaemon, tag: &str, make: impl FnOnce(&Host) -> Box<dyn Datastore>) -> Figures {
    let started = Instant::now();
    let mut lab = Lab::new(tag);
    let host = lab.add_host("rr", RR);
    let store = make(&host);
    store.write_initial();
    let mut rr = RouteReflectorHost::with_source(
        &lab,
        &host,
        daemon,
        &store.identity(),
        &store.source(),
        Path::new(env!("CARGO_BIN_EXE_rrd")),
        "[runtime]\nobserve_interval = \"500ms\"\n",
    );
    rr.start_rrd();
    rr.wait_ready(Duration::from_secs(30));
    let mut clients: Vec<CalicoClient> = CLIENTS
        .iter()
        .chain([NEW].iter())
        .map(|&i| {
            let h = lab.add_host(&format!("w{i}"), i);
            CalicoClient::start(&lab, &h, ASN, &[ip(RR)])
        })
        .collect();
    let newcomer = clients.pop().expect("the new client");
    let blocks_but = |c: &CalicoClient, all: &[&CalicoClient]| -> Vec<String> {
        all.iter()
            .filter(|o| o.host.index != c.host.index)
            .map(|o| o.block.clone())
            .collect()
    };
    let first: Vec<&CalicoClient> = clients.iter().collect();
    for c in &first {
        c.wait_for_routes(&blocks_but(c, &first), SETTLE);
    }
    rr.wait_established(SETTLE);
    let settle = started.elapsed();

    // A new client in the datastore reaches the daemon.
    let t0 = Instant::now();
    store.add_client(NEW);
    poll::until_fast("the new client's session in the daemon", SETTLE, || {
        session_of(&rr.status_json(), NEW)
            .map(|_| ())
            .ok_or_else(|| rr.status_table())
    });
    let to_daemon = t0.elapsed();
    poll::until_fast("the new client's session Established", SETTLE, || {
        session_of(&rr.status_json(), NEW)
            .filter(|s| s["state"] == "Established")
            .map(|_| ())
            .ok_or_else(|| rr.status_table())
    });
    let to_established = t0.elapsed();
    let all: Vec<&CalicoClient> = clients.iter().chain([&newcomer]).collect();
    for c in &all {
        c.wait_for_routes(&blocks_but(c, &all), SETTLE);
    }
    rr.wait_established(SETTLE);

    // The watch history is lost: a re-read, no flap.
    let before: Vec<String> = all.iter().map(|c| c.birdc("show protocols")).collect();
    let log_before = rr.rrd_log().len();
    store.lose_history();
    poll::until("rrd re-reading the datastore", SETTLE, || {
        let log = rr.rrd_log();
        if log[log_before.min(log.len())..].contains("re-reading the datastore") {
            Ok(())
        } else {
            Err(rrd_lab::route_reflector::tail(&log, 60))
        }
    });
    let quiet_until = Instant::now() + QUIET;
    while Instant::now() < quiet_until {
        for (c, b) in all.iter().zip(&before) {
            since::assert_same_sessions(b, &c.birdc("show protocols"), "after the history loss");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    rr.wait_ready(Duration::from_secs(10));
    for c in &all {
        c.wait_for_routes(&blocks_but(c, &all), SETTLE);
    }
    Figures {
        settle,
        to_daemon,
        to_established,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the in-test servers")
}

fn local(host: &Host) -> std::net::TcpListener {
    host.listen_tcp(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn report(source: &str, daemon: RrDaemon, f: &Figures) {
    eprintln!(
        "{source} x {daemon:?}: up and reflecting after {} ms; new client in the daemon {} ms \
         after the write, Established after {} ms; history lost: re-read, no session flap",
        f.settle.as_millis(),
        f.to_daemon.as_millis(),
        f.to_established.as_millis()
    );
}

#[test]
fn kubernetes_source_drives_bird2_and_gobgp_end_to_end() {
    for (daemon, tag) in [(RrDaemon::Bird2, "kb"), (RrDaemon::Gobgp, "kg")] {
        let rt = runtime();
        let figures = run(daemon, tag, |host| {
            let listener = local(host);
            let server = rt.block_on(FakeApiServer::serve(listener));
            let dir = tempfile::tempdir().expect("tempdir");
            let kubeconfig = write_kubeconfig(dir.path(), &server.url(), &Credentials::default());
            Box::new(Kubernetes {
                server,
                kubeconfig,
                _dir: dir,
            })
        });
        report("Kubernetes", daemon, &figures);
    }
}

#[test]
fn consul_source_drives_bird2_and_gobgp_end_to_end() {
    for (daemon, tag) in [(RrDaemon::Bird2, "cb"), (RrDaemon::Gobgp, "cg")] {
        let rt = runtime();
        let figures = run(daemon, tag, |host| {
            let listener = local(host);
            let _guard = rt.enter();
            Box::new(Consul {
                server: FakeConsul::serve(listener),
            })
        });
        report("Consul", daemon, &figures);
    }
}

//! The conformance suites. Every source and every engine crate runs the
//! matching suite against a real datastore or daemon; failures panic with
//! the state that was expected and the state that was found.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use crate::engine::{BgpEngine, DaemonState, StartMode, StopMode};
use crate::model::{
    Asn, ClusterId, Neighbor, Node, PeerKey, Role, RouterSettings, RrConfig, RuleSet, SessionKind,
    Topology,
};
use crate::plan::plan;
use crate::source::{EventSink, PeerSource, SourceEvent};

use super::fixtures;

/// Addresses an engine under test may use. Use addresses inside the test's
/// own network namespace (or a documentation range nobody answers on).
#[derive(Clone, Debug)]
pub struct EngineSuiteParams {
    pub router_id: Ipv4Addr,
    pub local_v4: Ipv4Addr,
    pub local_v6: Option<Ipv6Addr>,
    /// At least four neighbor addresses.
    pub neighbors_v4: Vec<Ipv4Addr>,
    /// At least one, when `local_v6` is set.
    pub neighbors_v6: Vec<Ipv6Addr>,
}

fn neighbor(kind: SessionKind, address: IpAddr, local: IpAddr, asn: Asn, role: Role) -> Neighbor {
    Neighbor::new(kind, address, asn, role, Some(local))
}

fn insert(config: &mut RrConfig, n: Neighbor) {
    config
        .neighbors
        .insert(crate::model::session_name(n.kind, n.address, n.port), n);
}

/// The first config of the suite: two clients with a cluster id, one mesh
/// peer, and an IPv6 client when the engine has an IPv6 address.
pub fn suite_config(p: &EngineSuiteParams) -> RrConfig {
    assert!(
        p.neighbors_v4.len() >= 4,
        "the engine suite needs four IPv4 neighbors"
    );
    let asn = Asn(64512);
    let cluster = Role::RrClient {
        cluster_id: Some(ClusterId(u32::from(Ipv4Addr::new(1, 0, 0, 1)))),
    };
    let local = IpAddr::V4(p.local_v4);
    let mut c = RrConfig {
        router: RouterSettings {
            rules: RuleSet::Legacy,
            router_id: p.router_id,
            local_as: asn,
            cluster_id: cluster.cluster_id(),
            ipv4: Some(p.local_v4),
            ipv6: p.local_v6,
            listen_port: None,
        },
        neighbors: Default::default(),
    };
    insert(
        &mut c,
        neighbor(
            SessionKind::Node,
            p.neighbors_v4[0].into(),
            local,
            asn,
            cluster,
        ),
    );
    insert(
        &mut c,
        neighbor(
            SessionKind::Node,
            p.neighbors_v4[1].into(),
            local,
            asn,
            cluster,
        ),
    );
    insert(
        &mut c,
        neighbor(
            SessionKind::Mesh,
            p.neighbors_v4[2].into(),
            local,
            asn,
            Role::NonClient,
        ),
    );
    if let (Some(v6), Some(n6)) = (p.local_v6, p.neighbors_v6.first()) {
        insert(
            &mut c,
            neighbor(SessionKind::Node, (*n6).into(), v6.into(), asn, cluster),
        );
    }
    c
}

async fn apply_and_check<E: BgpEngine>(engine: &mut E, desired: &RrConfig, step: &str) {
    let held = engine
        .held()
        .await
        .unwrap_or_else(|e| panic!("{step}: held() failed: {e}"));
    let p = plan(desired, held.as_ref());
    engine
        .apply(desired, &p)
        .await
        .unwrap_or_else(|e| panic!("{step}: apply({}) failed: {e}", p.summary()));
    let now = engine
        .held()
        .await
        .unwrap_or_else(|e| panic!("{step}: held() failed: {e}"));
    assert_eq!(
        now.as_ref(),
        Some(desired),
        "{step}: the engine does not hold what was applied"
    );
}

/// Run the engine suite. The engine must not be started yet.
pub async fn engine_suite<E: BgpEngine>(engine: &mut E, p: &EngineSuiteParams) {
    engine.start(StartMode::Fresh).await.expect("start(Fresh)");

    // 1. From whatever the daemon holds to the suite's config.
    let a = suite_config(p);
    apply_and_check(engine, &a, "initial apply").await;

    // 2. Applying the same config again is a no-op.
    let held = engine.held().await.expect("held");
    let empty = plan(&a, held.as_ref());
    assert!(
        empty.is_empty(),
        "plan against held config should be empty: {empty:?}"
    );
    let report = engine.apply(&a, &empty).await.expect("empty apply");
    assert!(
        !report.changed,
        "an empty plan must not touch the daemon: {report:?}"
    );

    // 3. Add one, remove one, change one.
    let mut b = a.clone();
    // Remove a client session; the mesh session is the one updated below
    // (its key sorts first, so "the first key" would remove it).
    let first = b
        .neighbors
        .iter()
        .find(|(_, n)| n.kind != SessionKind::Mesh)
        .map(|(k, _)| k.clone())
        .expect("a client neighbor");
    b.neighbors.remove(&first);
    let local = IpAddr::V4(p.local_v4);
    let cluster = a.router.cluster_id;
    insert(
        &mut b,
        neighbor(
            SessionKind::Node,
            p.neighbors_v4[3].into(),
            local,
            Asn(64512),
            Role::RrClient {
                cluster_id: cluster,
            },
        ),
    );
    let mesh_key = b
        .neighbors
        .iter()
        .find(|(_, n)| n.kind == SessionKind::Mesh)
        .map(|(k, _)| k.clone())
        .expect("a mesh neighbor");
    if let Some(n) = b.neighbors.get_mut(&mesh_key) {
        n.remote_as = Asn(64513);
        n.local_as = Asn(64512);
    }
    apply_and_check(engine, &b, "add/remove/update").await;

    // 4. The daemon reports exactly the desired sessions.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = engine.observe().await.expect("observe");
        let keys: BTreeSet<PeerKey> = seen.sessions.iter().map(|s| s.key.clone()).collect();
        let want: BTreeSet<PeerKey> = b.neighbors.keys().cloned().collect();
        if keys == want && seen.daemon == DaemonState::Running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "observe() shows {keys:?} ({:?}), expected {want:?}",
            seen.daemon
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 4b. The states-only look shows the same sessions as the full one
    // (states may move between the two looks; names, addresses and roles
    // may not).
    let full = engine.observe().await.expect("observe");
    let states = engine.observe_states().await.expect("observe_states");
    let shown = |o: &crate::Observation| {
        o.sessions
            .iter()
            .map(|s| (s.key.clone(), s.address, s.rr_client))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shown(&states),
        shown(&full),
        "observe_states() vs observe()"
    );
    assert_eq!(states.daemon, DaemonState::Running);

    // 5. Down to no neighbors at all.
    let mut c = b.clone();
    c.neighbors.clear();
    apply_and_check(engine, &c, "remove all").await;

    engine
        .stop(StopMode::Graceful)
        .await
        .expect("stop(Graceful)");
}

/// A datastore under test, wrapped so the suite can write to it.
pub trait SourceFixture: Send {
    type Source: PeerSource;

    /// A new source reading the fixture's datastore.
    fn source(&mut self) -> Self::Source;

    /// Make the datastore hold exactly `topology` (in the fixture's layout).
    fn write(&mut self, topology: &Topology) -> impl Future<Output = ()> + Send;

    /// Write one undecodable entry; return the key the source must name.
    fn write_invalid(&mut self) -> impl Future<Output = String> + Send;

    /// Which rule set the layout under test carries.
    fn rules(&self) -> RuleSet {
        RuleSet::Legacy
    }

    /// The topology the source must report once `written` was written.
    /// Layouts that hold every topology exactly (calico-v1 keys, files)
    /// keep the default; a layout that stores the suite's legacy fixtures
    /// in another shape (Calico v3 objects: RRs become nodes, peer records
    /// BGPPeers) returns what its decoder makes of what [`write`] stored.
    ///
    /// [`write`]: SourceFixture::write
    fn expected(&self, written: &Topology) -> Topology {
        written.clone()
    }
}

/// The seed topology plus a fourth node and a changed peer AS: the second
/// state of the source suite.
pub fn seed_grown() -> Topology {
    let mut t = fixtures::seed();
    let mut n = Node::new("kube-node3");
    n.ipv4 = "172.17.42.33".parse().ok();
    t.nodes.insert(n.name.clone(), n);
    t.nodes.remove("kube-master");
    for p in t.peers.values_mut() {
        p.asn = Some(Asn(65101));
    }
    t
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::Receiver<SourceEvent>,
    deadline: Instant,
    what: &str,
) -> SourceEvent {
    match timeout_at(deadline, rx.recv()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("source stopped while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Run the source suite against a fixture.
pub async fn source_suite<F: SourceFixture>(fixture: &mut F) {
    let written = fixtures::seed();
    fixture.write(&written).await;
    let seed = fixture.expected(&written);
    let got = fixture
        .source()
        .snapshot()
        .await
        .expect("snapshot of the seed");
    assert_eq!(got, seed, "snapshot() must return the seed topology");

    let (sink, mut rx) = EventSink::channel(64);
    let task = tokio::spawn(fixture.source().watch(sink));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut store = loop {
        match next_event(&mut rx, deadline, "the first snapshot").await {
            SourceEvent::Snapshot(t) => break t,
            SourceEvent::Status(_) => continue,
            other => panic!("the first data event must be a snapshot, got {other:?}"),
        }
    };
    assert_eq!(store, seed, "watch() must start with the seed topology");

    // Changes arrive and converge on the new content.
    for (label, written) in [
        ("grown seed", seed_grown()),
        ("rack model", fixtures::racks()),
    ] {
        fixture.write(&written).await;
        let target = fixture.expected(&written);
        let deadline = Instant::now() + Duration::from_secs(15);
        while store != target {
            match next_event(&mut rx, deadline, label).await {
                SourceEvent::Snapshot(t) => store = t,
                SourceEvent::Changes(cs) => {
                    for c in cs {
                        store.apply(c);
                    }
                }
                SourceEvent::Rejected { key, reason } => {
                    panic!("{label}: unexpected rejection of {key}: {reason}")
                }
                SourceEvent::Resolved { .. } | SourceEvent::Status(_) => {}
            }
        }
    }

    // A bad entry is named and skipped; nothing else changes.
    let key = fixture.write_invalid().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match next_event(&mut rx, deadline, "the rejection of the invalid entry").await {
            SourceEvent::Rejected { key: k, .. } if k.contains(&key) => break,
            SourceEvent::Changes(cs) => {
                for c in cs {
                    store.apply(c);
                }
            }
            SourceEvent::Snapshot(t) => store = t,
            _ => {}
        }
    }
    assert_eq!(
        store,
        fixture.expected(&fixtures::racks()),
        "an invalid entry must not change the rest of the topology"
    );
    task.abort();
}

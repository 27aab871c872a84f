//! Scenario: GoBGP and FRR as the RR engine hold the same sessions and
//! reflect the same routes as BIRD 2, for one topology.
//!
//! Topology (legacy rules): RR 198.51.100.10 registered with
//! cluster id 1.0.0.1 and a global peer in AS 64512; Calico-like BIRD 1.6
//! clients 198.51.100.21..23, each advertising its 203.0.113.x/30 block.
//! The same topology file runs in three labs, one after the other: the RR
//! host runs BIRD 2 (rrd `[engine] kind = "bird"`) in the first, an
//! unmanaged gobgpd (`kind = "gobgp"`) in the second and an unmanaged FRR
//! bgpd, alone in its own pathspace (`kind = "frr"`), in the third. Checked:
//! * `rrd status --json` gives the same sessions: from `desired` (name,
//!   neighbor address, remote and local AS, client flag, cluster id) and
//!   from what the daemon reports in `sessions` (Established, address, AS,
//!   RR-client flag, route counts, graceful-restart families);
//! * every client holds every other client's block with the same
//!   attributes: NEXT_HOP and ORIGINATOR_ID = the originating client,
//!   CLUSTER_LIST = 1.0.0.1, empty AS path, no MED (FRR would add MED 0
//!   without the engine's ORIGINATOR_ID route maps);
//! * the three `rrd status` tables are printed (`--nocapture` shows them).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use rrd_lab::calico_client::{CalicoClient, RouteAttributes};
use rrd_lab::route_reflector::{RouteReflectorHost, RrDaemon};
use rrd_lab::topology::LegacyTopology;
use rrd_lab::{poll, Lab};
use serde_json::Value;

const ASN: u32 = 64512;
const RR: u8 = 10;
const CLIENTS: [u8; 3] = [21, 22, 23];
const CLUSTER_ID: &str = "1.0.0.1";
const SETTLE: Duration = Duration::from_secs(60);

/// One session as rrd sees it: what it wants and what the daemon reports.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SessionView {
    address: String,
    remote_as: u64,
    local_as: u64,
    rr_client: bool,
    cluster_id: Value,
    state: String,
    observed_address: String,
    observed_remote_as: Option<u64>,
    observed_rr_client: Option<bool>,
    routes_received: Option<u64>,
    routes_sent: Option<u64>,
    peer_graceful_restart: Value,
}

/// What one run showed.
struct Run {
    sessions: BTreeMap<String, SessionView>,
    /// (client, prefix) -> attributes of the route the client holds.
    routes: BTreeMap<(String, String), RouteAttributes>,
    router: (Value, Value, Value, Value),
    table: String,
    settle: Duration,
}

fn topology() -> LegacyTopology {
    let rr = Ipv4Addr::new(198, 51, 100, RR);
    let mut t = LegacyTopology::new(ASN);
    t.route_reflectors.push((rr, Some(CLUSTER_ID.into())));
    t.global_peers.push(rr);
    for i in CLIENTS {
        t.nodes
            .push((format!("c{i}"), Ipv4Addr::new(198, 51, 100, i)));
    }
    t
}

fn session_views(status: &Value) -> BTreeMap<String, SessionView> {
    let observed: BTreeMap<&str, &Value> = status["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["key"].as_str()?, s)))
        .collect();
    let mut out = BTreeMap::new();
    for (key, d) in status["desired"].as_object().into_iter().flatten() {
        let o = observed.get(key.as_str()).copied().unwrap_or(&Value::Null);
        out.insert(
            key.clone(),
            SessionView {
                address: d["address"].as_str().unwrap_or_default().into(),
                remote_as: d["remote_as"].as_u64().unwrap_or_default(),
                local_as: d["local_as"].as_u64().unwrap_or_default(),
                rr_client: d["rr_client"] == true,
                cluster_id: d["cluster_id"].clone(),
                state: o["state"].as_str().unwrap_or("absent").into(),
                observed_address: o["address"].as_str().unwrap_or_default().into(),
                observed_remote_as: o["remote_as"].as_u64(),
                observed_rr_client: o["rr_client"].as_bool(),
                routes_received: o["routes_received"].as_u64(),
                routes_sent: o["routes_sent"].as_u64(),
                peer_graceful_restart: o["peer_graceful_restart"].clone(),
            },
        );
    }
    out
}

/// The sessions this topology must give the RR, whatever the engine: one
/// RR-client session per client, all up, one route in, two out.
fn check_sessions(views: &BTreeMap<String, SessionView>) -> Result<(), String> {
    let want: Vec<String> = CLIENTS
        .iter()
        .map(|i| format!("Global_198_51_100_{i}"))
        .collect();
    let have: Vec<String> = views.keys().cloned().collect();
    if have != want {
        return Err(format!("sessions {have:?}, want {want:?}"));
    }
    for (key, v) in views {
        let ok = v.state == "Established"
            && v.address == v.observed_address
            && v.remote_as == u64::from(ASN)
            && v.local_as == u64::from(ASN)
            && v.observed_remote_as == Some(u64::from(ASN))
            && v.rr_client
            && v.observed_rr_client == Some(true)
            && v.cluster_id == CLUSTER_ID
            && v.routes_received == Some(1)
            && v.routes_sent == Some(2);
        if !ok {
            return Err(format!("{key}: {v:#?}"));
        }
    }
    Ok(())
}

fn run(daemon: RrDaemon, tag: &str) -> Run {
    let started = Instant::now();
    let mut lab = Lab::new(tag);
    let topology_path = lab.path("topology.toml");
    topology().write(&topology_path);
    let host = lab.add_host("rr", RR);
    let mut rr = RouteReflectorHost::new(
        &lab,
        &host,
        daemon,
        &topology_path,
        Path::new(env!("CARGO_BIN_EXE_rrd")),
        "[runtime]\nobserve_interval = \"500ms\"\n",
    );
    rr.start_rrd();
    rr.wait_ready(Duration::from_secs(30));
    let clients: Vec<CalicoClient> = CLIENTS
        .iter()
        .map(|&i| {
            let h = lab.add_host(&format!("c{i}"), i);
            CalicoClient::start(&lab, &h, ASN, &[rr.host.ipv4])
        })
        .collect();

    for c in &clients {
        let others: Vec<String> = clients
            .iter()
            .filter(|o| o.host.index != c.host.index)
            .map(|o| o.block.clone())
            .collect();
        c.wait_for_routes(&others, SETTLE);
    }
    rr.wait_established(SETTLE);
    // Route counts lag the routes by up to one observe interval.
    let status = poll::until(
        &format!("{daemon:?} RR sessions as expected"),
        SETTLE,
        || {
            let s = rr.status_json();
            check_sessions(&session_views(&s))
                .map(|()| s.clone())
                .map_err(|e| format!("{e}\n{}", rr.status_table()))
        },
    );
    let settle = started.elapsed();

    let mut routes = BTreeMap::new();
    for c in &clients {
        for o in clients.iter().filter(|o| o.host.index != c.host.index) {
            let a = c.route_attributes(&o.block);
            let origin = o.host.ipv4.to_string();
            assert_eq!(
                a.originator_id.as_deref(),
                Some(origin.as_str()),
                "{daemon:?}: {} at {}: {a:?}",
                o.block,
                c.host.name
            );
            assert_eq!(
                a.next_hop.as_deref(),
                Some(origin.as_str()),
                "{daemon:?}: {a:?}"
            );
            assert_eq!(
                a.cluster_list.as_deref(),
                Some(CLUSTER_ID),
                "{daemon:?}: {a:?}"
            );
            assert_eq!(a.med, None, "{daemon:?}: {a:?}");
            routes.insert((c.host.name.clone(), o.block.clone()), a);
        }
    }
    Run {
        sessions: session_views(&status),
        routes,
        router: (
            status["router_id"].clone(),
            status["local_as"].clone(),
            status["cluster_id"].clone(),
            status["rules"].clone(),
        ),
        table: rr.status_table(),
        settle,
    }
}

#[test]
fn gobgp_and_frr_rrs_hold_the_same_sessions_and_reflect_the_same_routes_as_bird2() {
    let bird = run(RrDaemon::Bird2, "pb2");
    eprintln!(
        "rrd status, engine BIRD 2 (up and reflecting after {} ms):\n{}",
        bird.settle.as_millis(),
        bird.table
    );
    for (daemon, tag) in [(RrDaemon::Gobgp, "pgo"), (RrDaemon::Frr, "pfr")] {
        let other = run(daemon, tag);
        eprintln!(
            "rrd status, engine {daemon:?} (up and reflecting after {} ms):\n{}",
            other.settle.as_millis(),
            other.table
        );
        assert_eq!(
            bird.router, other.router,
            "router id / AS / cluster id / rules differ: BIRD 2 vs {daemon:?}"
        );
        for (key, b) in &bird.sessions {
            assert_eq!(
                Some(b),
                other.sessions.get(key),
                "session {key}: BIRD 2 vs {daemon:?}"
            );
        }
        assert_eq!(
            bird.sessions.keys().collect::<Vec<_>>(),
            other.sessions.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            bird.routes, other.routes,
            "clients' routes differ between BIRD 2 and {daemon:?}"
        );
    }
    assert_eq!(bird.routes.len(), CLIENTS.len() * (CLIENTS.len() - 1));
}

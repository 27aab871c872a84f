//! What one full look (ListPeer of every peer, as `observe()` sends every
//! `runtime.counts_interval`) costs gobgpd when its Loc-RIB holds routes.
//!
//! gobgpd 3.10's ListPeer runs inside its single main loop; with
//! `enable_advertised` it walks the Loc-RIB's best paths through the export
//! filter once per peer and family (`getBestFromLocal`). For each R routes
//! (`RRD_BENCH_ROUTES`, default `0,10000,100000`) the bench starts a fresh
//! gobgpd the way rrd runs it (the engine, `manage_process`, GOGC=400),
//! adds P RR clients that never come up (`RRD_BENCH_PEERS`, default 2,099:
//! one RR of 100 meshed RRs), injects R /32 routes into the Loc-RIB with
//! `gobgp mrt inject global` (a TABLE_DUMP_V2 file written here), and
//! prints for ListPeer(all) without and with advertised counts, and for
//! ListPeer(one address) with them: gobgpd's CPU seconds
//! (`/proc/<pid>/stat`), wall time, and how long a GetBgp and a
//! ListPeer(one address) sent while the listing runs wait for their
//! answer. Then what the engine's `observe()` does at that size. Asserts
//! nothing about the figures.
//!
//! Run (root, gobgpd and the gobgp CLI installed):
//!   cargo bench -p rrd-engine-gobgp --bench full_look
//!   RRD_BENCH_ROUTES=0,20000 RRD_BENCH_PEERS=500 cargo bench -p rrd-engine-gobgp --bench full_look
//!
//! Own network namespace `rrd-gobgp-<pid>-...` (only `lo` up, no route
//! out); neighbors from 198.18.0.1 on, routes 198.18.16.0/32 on, next hop
//! 198.51.100.1. Daemons are stopped by PID; the namespace is deleted at
//! the end, also on failure.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use rrd_core::{plan, BgpEngine, StartMode, StopMode};
use rrd_engine_gobgp::{apipb, Client, GobgpConfig, GobgpEngine};
use support::{
    benchmarking, cpu_seconds, env_number, gobgpd_version, managed, require_root_and_gobgpd,
    rr_clients, Logs, NetNs, LOCAL,
};

/// The first injected route; 198.18.0.1.. are the neighbors.
const FIRST_ROUTE: Ipv4Addr = Ipv4Addr::new(198, 18, 16, 0);
/// The injected routes' next hop.
const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const API_PORT: u16 = 50061;

/// Records repeated after the last route of the MRT file: `gobgp mrt
/// inject` (3.10) exits without closing its AddPathStream, so the records
/// still in its send buffer then are lost (about 1,300 of 20,000 here).
/// Repeating the first routes after the last one pushes every route
/// through; a repeated route replaces itself.
const PADDING: usize = 20_000;

/// An MRT file (RFC 6396, TABLE_DUMP_V2) holding `routes` /32 routes from
/// [`FIRST_ROUTE`] on, each with one entry (ORIGIN IGP, empty AS_PATH,
/// NEXT_HOP [`NEXT_HOP`]) from one peer, then the first [`PADDING`]
/// again (cycling when there are fewer).
fn mrt_table_dump(routes: usize) -> Vec<u8> {
    const TABLE_DUMP_V2: u16 = 13;
    const PEER_INDEX_TABLE: u16 = 1;
    const RIB_IPV4_UNICAST: u16 = 2;
    fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes()); // timestamp
        out.extend_from_slice(&TABLE_DUMP_V2.to_be_bytes());
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
        out.extend_from_slice(body);
    }
    let mut out = Vec::with_capacity(routes * 40 + 64);
    let mut peers = Vec::new();
    peers.extend_from_slice(&LOCAL.octets()); // collector id
    peers.extend_from_slice(&0u16.to_be_bytes()); // no view name
    peers.extend_from_slice(&1u16.to_be_bytes()); // one peer
    peers.push(0x02); // IPv4 address, 4-byte AS
    peers.extend_from_slice(&NEXT_HOP.octets()); // its BGP id
    peers.extend_from_slice(&NEXT_HOP.octets()); // its address
    peers.extend_from_slice(&support::ASN.to_be_bytes());
    record(&mut out, PEER_INDEX_TABLE, &peers);
    let attributes: Vec<u8> = [
        &[0x40, 1, 1, 0][..], // ORIGIN IGP
        &[0x40, 2, 0],        // AS_PATH, empty (iBGP)
        &[0x40, 3, 4],        // NEXT_HOP
        &NEXT_HOP.octets(),
    ]
    .concat();
    let first = u32::from(FIRST_ROUTE);
    let padding = if routes == 0 { 0 } else { PADDING };
    for n in 0..routes + padding {
        let i = u32::try_from(n % routes.max(1)).expect("fits");
        let mut rib = Vec::with_capacity(32);
        rib.extend_from_slice(&i.to_be_bytes()); // sequence
        rib.push(32);
        rib.extend_from_slice(&Ipv4Addr::from(first + i).octets());
        rib.extend_from_slice(&1u16.to_be_bytes()); // one entry
        rib.extend_from_slice(&0u16.to_be_bytes()); // peer index
        rib.extend_from_slice(&0u32.to_be_bytes()); // originated
        rib.extend_from_slice(
            &u16::try_from(attributes.len())
                .expect("small")
                .to_be_bytes(),
        );
        rib.extend_from_slice(&attributes);
        record(&mut out, RIB_IPV4_UNICAST, &rib);
    }
    out
}

/// `gobgp -p <port> mrt inject global <file>`.
fn inject(file: &Path) {
    let args = [
        std::ffi::OsStr::new("mrt"),
        "inject".as_ref(),
        "global".as_ref(),
        file.as_os_str(),
    ];
    support::gobgp_cli(&API_PORT.to_string(), &args);
}

/// Wall time and gobgpd CPU of one call.
struct Cost {
    wall: Duration,
    cpu: f64,
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gobgpd CPU {:>8.3} s, wall {:>8.3} s",
            self.cpu,
            self.wall.as_secs_f64()
        )
    }
}

/// One ListPeer (every peer when `address` is empty), timed; with
/// `probe`, a GetBgp and a ListPeer(`probe`) are sent 20 ms after it and
/// their latencies returned too.
async fn listing(
    client: &Client,
    pid: u32,
    address: &str,
    advertised: bool,
    probe: Option<&str>,
) -> (Cost, Option<(Duration, Duration)>) {
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    let list = async {
        let peers = client
            .list_peer(address, advertised)
            .await
            .expect("ListPeer");
        (t.elapsed(), cpu_seconds(pid) - cpu, peers.len())
    };
    let waits = async {
        let one = probe?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let timed = |t: Instant| t.elapsed();
        let get = async {
            let t = Instant::now();
            client.get_bgp().await.expect("GetBgp");
            timed(t)
        };
        let single = async {
            let t = Instant::now();
            client.list_peer(one, false).await.expect("ListPeer(one)");
            timed(t)
        };
        Some(tokio::join!(get, single))
    };
    let ((wall, cpu, _), waits) = tokio::join!(list, waits);
    (Cost { wall, cpu }, waits)
}

/// The Loc-RIB's path count.
async fn loc_rib_paths(client: &Client) -> u64 {
    client
        .rib_summary(
            apipb::TableType::Global,
            "",
            apipb::Family { afi: 1, safi: 1 },
        )
        .await
        .expect("ListPath")
        .paths
}

async fn one_size(peers: usize, routes: usize, dir: std::path::PathBuf) {
    let mut config = managed(&dir, &format!("gobgpd-{routes}"), API_PORT);
    config.request_timeout = Duration::from_secs(900);
    let mut engine = GobgpEngine::new(config);
    engine.start(StartMode::Fresh).await.expect("start");
    let rr = rr_clients(peers);
    engine.apply(&rr, &plan(&rr, None)).await.expect("apply");
    let pid = engine.daemon_pid().expect("managed gobgpd");
    let client = engine.client().expect("started").clone();

    let file = dir.join(format!("routes-{routes}.mrt"));
    std::fs::write(&file, mrt_table_dump(routes)).expect("write MRT");
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    inject(&file);
    let deadline = Instant::now() + Duration::from_secs(60);
    while loc_rib_paths(&client).await < routes as u64 {
        assert!(
            Instant::now() < deadline,
            "routes not in the Loc-RIB: {} of {routes}",
            loc_rib_paths(&client).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "R = {routes}, P = {peers}: injected in {:.1} s (gobgpd CPU {:.2} s); Loc-RIB {} paths",
        t.elapsed().as_secs_f64(),
        cpu_seconds(pid) - cpu,
        loc_rib_paths(&client).await
    );
    // gobgpd's background with P peers retrying their connections.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "  idle: {:.1} ms gobgpd CPU per second (in every figure below)",
        (cpu_seconds(pid) - cpu) / 3.0 * 1000.0
    );
    let t = Instant::now();
    client.get_bgp().await.expect("GetBgp");
    println!(
        "  alone: GetBgp answered after {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let one = support::neighbor_address(peers / 2).to_string();
    for advertised in [false, true] {
        let (cost, waits) = listing(&client, pid, "", advertised, Some(&one)).await;
        let (get, single) = waits.expect("probed");
        println!(
            "  ListPeer(all, advertised={advertised:<5}): {cost}; sent meanwhile: GetBgp answered after {:.3} s, ListPeer(one) after {:.3} s",
            get.as_secs_f64(),
            single.as_secs_f64()
        );
    }
    let (cost, _) = listing(&client, pid, &one, true, None).await;
    println!("  ListPeer(one, advertised=true ): {cost}");

    // The routes are gobgpd's own, not accepted from a peer: the engine's
    // Loc-RIB estimate stays 0 and it counts with the default limit; a
    // second engine attached with `count_routes_sent_up_to = 0` shows what
    // a look costs when the engine does not count.
    let mut not_counting = GobgpEngine::new(GobgpConfig {
        api: format!("127.0.0.1:{API_PORT}"),
        request_timeout: Duration::from_secs(900),
        count_routes_sent_up_to: 0,
        ..GobgpConfig::default()
    });
    not_counting.start(StartMode::Fresh).await.expect("attach");
    for (label, engine) in [
        ("default limit", &mut engine),
        ("limit 0      ", &mut not_counting),
    ] {
        let (t, cpu) = (Instant::now(), cpu_seconds(pid));
        let seen = engine.observe().await.expect("observe");
        let counted = seen
            .sessions
            .iter()
            .filter(|s| s.routes_sent.is_some())
            .count();
        println!(
            "  engine observe(), {label}: {}; {counted} of {} sessions with routes sent counted",
            Cost {
                wall: t.elapsed(),
                cpu: cpu_seconds(pid) - cpu
            },
            seen.sessions.len()
        );
    }
    drop(not_counting);
    engine.stop(StopMode::Graceful).await.expect("stop");
}

fn main() {
    if !benchmarking() {
        return;
    }
    require_root_and_gobgpd();
    let peers = env_number("RRD_BENCH_PEERS", 2099);
    let sizes: Vec<usize> = std::env::var("RRD_BENCH_ROUTES")
        .unwrap_or_else(|_| "0,10000,100000".into())
        .split(',')
        .map(|r| {
            r.trim()
                .parse()
                .expect("RRD_BENCH_ROUTES: numbers, comma-separated")
        })
        .collect();
    assert!(peers <= 4096, "neighbors end before the first route");
    assert!(
        sizes.iter().all(|&r| r <= 100_000),
        "routes stay inside 198.18.0.0/15"
    );
    let version = gobgpd_version();
    let logs = Logs::new();
    let ns = NetNs::new("look", &[&format!("{LOCAL}/32")]);
    println!(
        "{version}; {peers} RR clients that never come up; namespace {}",
        ns.name
    );
    for routes in sizes {
        let dir = logs.path().to_path_buf();
        ns.run(move || one_size(peers, routes, dir));
    }
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

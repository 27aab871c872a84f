//! Benchmark (a binary, not a test): the change -> held latency of each
//! engine at N neighbors, BIRD 2, GoBGP and FRR side by side.
//!
//! For each engine, in a lab host's network namespace with no route to
//! 198.18.0.0/15 (the neighbors' addresses: nobody answers, no packet
//! leaves the machine): the engine runs its daemon itself
//! (`manage_process`), applies N route-reflector-client sessions from
//! empty (cold start, timed), then makes K isolated changes, alternately
//! adding one session and removing it again. Each change is timed as the
//! reconciler does it, without its debounce: `held()` (what the daemon
//! holds) + `plan` + `apply` until `apply` returns — by then the daemon
//! holds the change (BIRD answered `configure`, gobgpd the RPCs, FRR's
//! running view was read back and matches). `apply` alone is reported too.
//!
//! FRR gets its ORIGINATOR_ID route maps (one per client) as long as
//! `--frr-route-maps-up-to M` allows N of them (default: the engine's
//! `originator_route_maps_up_to`, 200), and runs without them
//! (`set_originator_id = false`) beyond.
//!
//! ```text
//! cargo run --release -p rrd --example engine_latency -- --neighbors 2000 --changes 40
//! ```
//!
//! Needs root and the daemons of `scripts/install-deps.sh`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rrd_core::{
    plan, Asn, BgpEngine, ClusterId, Neighbor, PeerKey, Role, RouterSettings, RrConfig, RuleSet,
    SessionKind, StartMode, StopMode,
};
use rrd_engine_bird::{BirdConfig, BirdEngine, BirdVersion};
use rrd_engine_frr::{FrrConfig, FrrEngine};
use rrd_engine_gobgp::{GobgpConfig, GobgpEngine};
use rrd_lab::{bins, Host, Lab};

const ASN: Asn = Asn(64512);

fn neighbor_address(i: usize) -> Ipv4Addr {
    // 198.18.0.0/15 from .1, skipping .0 and .255 of each /24.
    let n = (i / 254) as u32;
    let host = (i % 254) as u32 + 1;
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n * 256 + host)
}

fn session(rr: &Host, i: usize) -> (PeerKey, Neighbor) {
    let address = IpAddr::V4(neighbor_address(i));
    let role = Role::RrClient {
        cluster_id: Some(ClusterId(u32::from(Ipv4Addr::new(1, 0, 0, 1)))),
    };
    let n = Neighbor::new(SessionKind::Node, address, ASN, role, Some(rr.ipv4.into()));
    (rrd_core::model::session_name(n.kind, n.address, n.port), n)
}

fn config(rr: &Host, neighbors: usize) -> RrConfig {
    RrConfig {
        router: RouterSettings {
            rules: RuleSet::Legacy,
            router_id: rr.ipv4,
            local_as: ASN,
            cluster_id: Some(ClusterId(u32::from(Ipv4Addr::new(1, 0, 0, 1)))),
            ipv4: Some(rr.ipv4),
            ipv6: None,
            listen_port: None,
        },
        neighbors: (0..neighbors).map(|i| session(rr, i)).collect(),
    }
}

/// What one engine measured.
#[derive(Debug)]
struct Measured {
    engine: &'static str,
    version: String,
    cold: Duration,
    held_plan_apply: Vec<Duration>,
    apply: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn measure<E: BgpEngine>(
    engine: &mut E,
    rr: &Host,
    neighbors: usize,
    changes: usize,
) -> Measured {
    engine.start(StartMode::Fresh).await.expect("start");
    let base = config(rr, neighbors);
    let t = Instant::now();
    engine
        .apply(&base, &plan(&base, None))
        .await
        .expect("cold apply");
    let cold = t.elapsed();
    let mut held_plan_apply = Vec::new();
    let mut apply = Vec::new();
    let mut current = base.clone();
    for k in 0..changes {
        let mut next = base.clone();
        if k % 2 == 0 {
            let (key, n) = session(rr, neighbors + k / 2);
            next.neighbors.insert(key, n);
        }
        let t = Instant::now();
        let held = engine.held().await.expect("held");
        let p = plan(&next, held.as_ref());
        let t_apply = Instant::now();
        let report = engine.apply(&next, &p).await.expect("apply");
        apply.push(t_apply.elapsed());
        held_plan_apply.push(t.elapsed());
        assert!(report.changed, "change {k} changed nothing: {p:?}");
        current = next;
    }
    let held = engine.held().await.expect("held");
    assert_eq!(
        held.as_ref(),
        Some(&current),
        "the daemon holds the last change"
    );
    let version = engine.info().version.unwrap_or_default();
    engine.stop(StopMode::Graceful).await.expect("stop");
    held_plan_apply.sort();
    apply.sort();
    Measured {
        engine: engine.info().kind,
        version,
        cold,
        held_plan_apply,
        apply,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn main() {
    let mut neighbors = 2000;
    let mut changes = 40;
    let mut engines = vec!["bird".to_owned(), "gobgp".to_owned(), "frr".to_owned()];
    let mut frr_route_maps_up_to = FrrConfig::default().originator_route_maps_up_to;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--neighbors" => neighbors = v.parse().expect("--neighbors N"),
            "--changes" => changes = v.parse().expect("--changes K"),
            "--engines" => engines = v.split(',').map(str::to_owned).collect(),
            "--frr-route-maps-up-to" => {
                frr_route_maps_up_to = v.parse().expect("--frr-route-maps-up-to M")
            }
            other => panic!(
                "unknown argument {other} (--neighbors N --changes K --engines bird,gobgp,frr \
                 --frr-route-maps-up-to M)"
            ),
        }
    }
    let mut lab = Lab::new("lat");
    let mut results = Vec::new();
    for (i, name) in engines.iter().enumerate() {
        let host = lab.add_host(name, 1 + i as u8);
        let dir = lab.path(name);
        std::fs::create_dir_all(&dir).expect("engine folder");
        eprintln!("== {name}: {neighbors} neighbors, {changes} changes");
        let rr = host.clone();
        let name = name.clone();
        let pathspace = format!("{}{name}", lab.id);
        let ps = pathspace.clone();
        let m = host.run_inside(move || {
            runtime().block_on(async move {
                match name.as_str() {
                    "bird" => {
                        let c = BirdConfig {
                            manage_process: true,
                            stop_daemon_on_exit: true,
                            binary: bins::bird2(),
                            strict_bind: true,
                            ..BirdConfig::in_dir(BirdVersion::V2, &dir)
                        };
                        measure(&mut BirdEngine::new(c), &rr, neighbors, changes).await
                    }
                    "gobgp" => {
                        let c = GobgpConfig {
                            api: "127.0.0.1:50051".into(),
                            manage_process: true,
                            stop_daemon_on_exit: true,
                            state_dir: dir.join("state"),
                            binary: bins::gobgpd(),
                            log_file: Some(dir.join("gobgpd.log")),
                            ..GobgpConfig::default()
                        };
                        measure(&mut GobgpEngine::new(c), &rr, neighbors, changes).await
                    }
                    "frr" => {
                        let c = FrrConfig {
                            manage_process: true,
                            stop_daemon_on_exit: true,
                            binary: bins::bgpd(),
                            log_file: Some(dir.join("bgpd.log")),
                            // One more for the changes' added client.
                            set_originator_id: neighbors < frr_route_maps_up_to,
                            originator_route_maps_up_to: frr_route_maps_up_to,
                            ..FrrConfig::in_dir(&dir, &ps)
                        };
                        eprintln!(
                            "   FRR set_originator_id = {} (route maps up to {})",
                            c.set_originator_id, c.originator_route_maps_up_to
                        );
                        measure(&mut FrrEngine::new(c), &rr, neighbors, changes).await
                    }
                    other => panic!("unknown engine {other}"),
                }
            })
        });
        let _ = std::fs::remove_dir(bins::frr_pathspace_dir(&pathspace));
        results.push(m);
    }
    println!(
        "\nchange -> held at {neighbors} neighbors ({changes} isolated changes, one session added or removed each; held + plan + apply, ms)\n"
    );
    println!("| engine | daemon | cold start: {neighbors} sessions (ms) | held+plan+apply median | p95 | max | apply alone median | p95 |");
    println!("|---|---|---|---|---|---|---|---|");
    for m in &results {
        let (h, a) = (&m.held_plan_apply, &m.apply);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            m.engine,
            m.version,
            ms(m.cold),
            ms(percentile(h, 0.5)),
            ms(percentile(h, 0.95)),
            ms(percentile(h, 1.0)),
            ms(percentile(a, 0.5)),
            ms(percentile(a, 0.95)),
        );
    }
}

//! Adding (and deleting) N RR-client neighbors to a running gobgpd, each
//! time against a fresh gobgpd of the same kind: gobgpd's own floor (N
//! AddPeer RPCs straight over one gRPC channel with 1, 16 and 64 in
//! flight, and 16 while a probe lists every peer every 20 ms as rrd-bench
//! does), rrd's engine (one apply = N AddPeer RPCs), and N `gobgp neighbor
//! add ... route-reflector-client <id>` CLI calls. Prints wall times, gobgpd's
//! CPU seconds (`/proc/<pid>/stat`: a count that a busy machine does not
//! inflate), RPC latencies, gobgpd's idle CPU with N neighbors and the cost
//! of each query rrd sends; asserts nothing about them.
//!
//! Run (root, gobgpd installed):
//!   cargo bench -p rrd-engine-gobgp --bench add_peers            # N = 1000
//!   RRD_BENCH_PEERS=5000 cargo bench -p rrd-engine-gobgp --bench add_peers
//!   RRD_BENCH_ONLY_RRD=1 RRD_BENCH_PEERS=2099 cargo bench ...     # rrd only
//!
//! rrd's part also prints what its idle observation costs gobgpd per second
//! (`RRD_BENCH_IDLE_SECONDS`, 30 by default, for each of: no look, a full
//! look every second, the runtime's two tiers).
//!
//! The benchmark creates its own network namespace `rrd-gobgp-<pid>-...`
//! (only `lo` up, 198.19.255.254/32 on it, no route out), enters it on a
//! dedicated thread, and runs both daemons, the gRPC API (127.0.0.1 of that
//! namespace) and the CLI calls there. Neighbors come from 198.18.0.0/15:
//! gobgpd's connection attempts to them fail with "network unreachable"
//! inside the namespace. Daemons are stopped by PID; the namespace is
//! deleted at the end, also on failure.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rrd_core::{plan, BgpEngine, StartMode, StopMode};
use rrd_engine_gobgp::mapping::{
    global_of_spec, peer_of_spec, spec_of_neighbor, spec_of_router, MapContext,
};
use rrd_engine_gobgp::{Client, GobgpConfig, GobgpEngine};
use support::{
    benchmarking, cpu_seconds, env_number, gobgp_cli, gobgpd_version, neighbor_address,
    require_root_and_gobgpd, rr_clients, Logs, NetNs, ASN, CLUSTER, LOCAL,
};

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn per_peer(d: Duration, n: usize) -> String {
    format!("{:.2} ms/peer", d.as_secs_f64() * 1000.0 / n as f64)
}

/// rrd: apply(N adds), held(), observe(), apply(N removes).
async fn via_rrd(n: usize, logs: std::path::PathBuf) {
    let mut engine = GobgpEngine::new(GobgpConfig {
        api: "127.0.0.1:50051".into(),
        manage_process: true,
        stop_daemon_on_exit: true,
        state_dir: logs.join("state"),
        log_file: Some(logs.join("gobgpd-rrd.log")),
        ..GobgpConfig::default()
    });
    engine.start(StartMode::Fresh).await.expect("start");
    let empty = rr_clients(0);
    engine
        .apply(&empty, &plan(&empty, None))
        .await
        .expect("StartBgp");
    let full = rr_clients(n);
    let pid = engine.daemon_pid().expect("managed gobgpd");

    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    let held = engine.held().await.expect("held");
    let p = plan(&full, held.as_ref());
    let report = engine.apply(&full, &p).await.expect("apply adds");
    let (add, add_cpu) = (t.elapsed(), cpu_seconds(pid) - cpu);
    assert_eq!(report.operations.len(), n, "one AddPeer per neighbor");

    let t = Instant::now();
    let held = engine.held().await.expect("held");
    let held_time = t.elapsed();
    assert_eq!(held.as_ref(), Some(&full), "gobgpd holds every neighbor");
    let t = Instant::now();
    let seen = engine.observe().await.expect("observe");
    let observe_time = t.elapsed();
    assert_eq!(seen.sessions.len(), n);
    idle_observation(&mut engine, pid, n).await;

    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    let p = plan(&empty, held.as_ref());
    let report = engine.apply(&empty, &p).await.expect("apply removes");
    let (del, del_cpu) = (t.elapsed(), cpu_seconds(pid) - cpu);
    assert_eq!(report.operations.len(), n, "one DeletePeer per neighbor");

    println!(
        "rrd  add {n:>5} neighbors (held + plan + apply = {n} AddPeer, one gRPC channel): {} ({}), gobgpd CPU {add_cpu:.2} s",
        secs(add),
        per_peer(add, n)
    );
    println!(
        "rrd  del {n:>5} neighbors (held + plan + apply = {n} DeletePeer):               {} ({}), gobgpd CPU {del_cpu:.2} s",
        secs(del),
        per_peer(del, n)
    );
    println!(
        "rrd  held() with {n} peers: {}; observe() with {n} peers: {}",
        secs(held_time),
        secs(observe_time)
    );
    engine.stop(StopMode::Graceful).await.expect("stop");
}

/// What rrd's idle observation costs gobgpd per second of wall time: no
/// look at all, a full look (`observe()`, ListPeer of every peer with
/// counts) every second as the runtime did before two tiers, and the
/// runtime's cadence now (`observe_states()` every second, a full look
/// every 30th: `runtime.counts_interval` = 30 s).
async fn idle_observation(engine: &mut GobgpEngine, pid: u32, n: usize) {
    let seconds = |env: &str, default: u32| {
        std::env::var(env)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let span = seconds("RRD_BENCH_IDLE_SECONDS", 30);
    let per_second = |cpu: f64| {
        format!(
            "{:.1} ms gobgpd CPU per second",
            cpu * 1000.0 / f64::from(span)
        )
    };
    // No look before and after the two others: gobgpd's own background
    // (connection retries) decays after the peers were added.
    for (label, full_every) in [
        ("no observation", 0),
        ("observe() every second (one tier)", 1),
        ("observe_states() every second, observe() every 30th", 30),
        ("no observation", 0),
    ] {
        let start = tokio::time::Instant::now();
        let cpu = cpu_seconds(pid);
        let mut took = Vec::new();
        for i in 0..span {
            if full_every > 0 {
                let t = Instant::now();
                let seen = if i % full_every == 0 {
                    engine.observe().await
                } else {
                    engine.observe_states().await
                };
                took.push(t.elapsed());
                assert_eq!(seen.expect("observe").sessions.len(), n);
            }
            tokio::time::sleep_until(start + Duration::from_secs(u64::from(i + 1))).await;
        }
        println!(
            "rrd  idle, {n} peers, {label:<52} {}; rrd's look p50/p99/max {}",
            per_second(cpu_seconds(pid) - cpu),
            spread(took)
        );
    }
}

/// Start a bare gobgpd on `127.0.0.1:<port>`, logging to `log`.
fn spawn_gobgpd(port: u16, log: &std::path::Path) -> std::process::Child {
    let log = std::fs::File::create(log).expect("log");
    Command::new("gobgpd")
        .args([
            "--api-hosts",
            &format!("127.0.0.1:{port}"),
            "--pprof-disable",
            "--log-plain",
        ])
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start gobgpd")
}

/// p50 / p99 / max of durations, in ms.
fn spread(mut d: Vec<Duration>) -> String {
    if d.is_empty() {
        return "-".into();
    }
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    format!("{:.2} / {:.2} / {:.2} ms", at(0.5), at(0.99), at(1.0))
}

/// Send `peers` as AddPeer (or, with `delete`, DeletePeer) RPCs over one
/// channel, `in_flight` at a time; each RPC's own latency, in order of
/// sending.
async fn send_all(
    client: &Client,
    peers: &[rrd_engine_gobgp::apipb::Peer],
    in_flight: usize,
    delete: bool,
) -> Vec<Duration> {
    let mut latencies = vec![Duration::ZERO; peers.len()];
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while running.len() < in_flight && next < peers.len() {
            let (client, peer, i) = (client.clone(), peers[next].clone(), next);
            running.spawn(async move {
                let t = Instant::now();
                let address = peer.conf.as_ref().map(|c| c.neighbor_address.clone());
                let r = if delete {
                    client.delete_peer(&address.unwrap_or_default(), "").await
                } else {
                    client.add_peer(peer).await
                };
                r.expect("RPC");
                (i, t.elapsed())
            });
            next += 1;
        }
        match running.join_next().await {
            Some(r) => {
                let (i, d) = r.expect("task");
                latencies[i] = d;
            }
            None => return latencies,
        }
    }
}

/// Mean wall time and gobgpd CPU of `times` calls of `query`.
async fn cost_of<F, Fut>(pid: u32, times: u32, mut query: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    for _ in 0..times {
        query().await;
    }
    format!(
        "{:.2} ms wall, {:.2} ms gobgpd CPU",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(times),
        (cpu_seconds(pid) - cpu) * 1000.0 / f64::from(times)
    )
}

/// gobgpd's own floor, without rrd: N AddPeer RPCs straight over one gRPC
/// channel `in_flight` at a time (wall time, gobgpd CPU seconds, RPC
/// latency of the first and last tenth), gobgpd's idle CPU with N
/// neighbors, the cost of each query rrd and a probe send, then N
/// DeletePeer RPCs the same way.
///
/// With `probe`, a second client lists every peer every 20 ms meanwhile,
/// as rrd-bench's cold-start probe does.
async fn floor(n: usize, in_flight: usize, probe: bool, logs: std::path::PathBuf) {
    let port = 50053;
    let mut daemon = spawn_gobgpd(port, &logs.join(format!("gobgpd-floor-{in_flight}.log")));
    let pid = daemon.id();
    let client = Client::new(
        &format!("127.0.0.1:{port}"),
        Duration::from_secs(10),
        Duration::from_secs(120),
    )
    .expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get_bgp().await.is_err() {
        assert!(Instant::now() < deadline, "gobgpd did not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let full = rr_clients(n);
    let global = spec_of_router(&full.router, None);
    client
        .start_bgp(global_of_spec(&global))
        .await
        .expect("StartBgp");
    let ctx = MapContext {
        router_id: LOCAL,
        global_asn: ASN,
        restart_time: 120,
        deferral_time: 360,
    };
    let peers: Vec<_> = full
        .neighbors
        .iter()
        .map(|(k, nb)| peer_of_spec(&spec_of_neighbor(k, nb, &ctx).expect("spec"), false))
        .collect();

    let tenth = (n / 10).max(1);
    let listings = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let prober = probe.then(|| {
        let (client, listings) = (client.clone(), listings.clone());
        tokio::spawn(async move {
            loop {
                drop(client.list_peer("", false).await);
                listings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    let lat = send_all(&client, &peers, in_flight, false).await;
    let (add, add_cpu) = (t.elapsed(), cpu_seconds(pid) - cpu);
    if let Some(p) = prober {
        p.abort();
        println!(
            "  (meanwhile {} ListPeer(all) of a probe every 20 ms)",
            listings.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    println!(
        "grpc add {n:>5} AddPeer, {in_flight:>2} in flight: {} ({}), gobgpd CPU {add_cpu:.2} s; \
         RPC p50/p99/max first tenth {}, last tenth {}",
        secs(add),
        per_peer(add, n),
        spread(lat[..tenth].to_vec()),
        spread(lat[n - tenth..].to_vec()),
    );
    if in_flight == 1 && !probe {
        let cpu = cpu_seconds(pid);
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!(
            "gobgpd idle with {n} neighbors that never come up: {:.1} % of a core",
            (cpu_seconds(pid) - cpu) / 5.0 * 100.0
        );
        let one = peers[n / 2]
            .conf
            .as_ref()
            .map(|c| c.neighbor_address.clone())
            .unwrap_or_default();
        let c = &client;
        println!(
            "  GetBgp:                          {}",
            cost_of(pid, 50, || async { drop(c.get_bgp().await) }).await
        );
        println!(
            "  ListPeer(one address):           {}",
            cost_of(pid, 50, || async { drop(c.list_peer(&one, false).await) }).await
        );
        println!(
            "  ListPeer(all):                   {}",
            cost_of(pid, 5, || async { drop(c.list_peer("", false).await) }).await
        );
        println!(
            "  ListPeer(all, advertised):       {}",
            cost_of(pid, 5, || async { drop(c.list_peer("", true).await) }).await
        );
    }
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    let lat = send_all(&client, &peers, in_flight, true).await;
    let (del, del_cpu) = (t.elapsed(), cpu_seconds(pid) - cpu);
    println!(
        "grpc del {n:>5} DeletePeer, {in_flight:>2} in flight: {} ({}), gobgpd CPU {del_cpu:.2} s; \
         RPC p50/p99/max first tenth {}, last tenth {}",
        secs(del),
        per_peer(del, n),
        spread(lat[..tenth].to_vec()),
        spread(lat[n - tenth..].to_vec()),
    );
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    let _ = daemon.wait();
}

/// The CLI: one `gobgp` process per neighbor, as operators script it.
fn via_cli(n: usize, logs: std::path::PathBuf) {
    let port = "50052";
    let log = std::fs::File::create(logs.join("gobgpd-cli.log")).expect("log");
    let mut daemon = Command::new("gobgpd")
        .args([
            "--api-hosts",
            "127.0.0.1:50052",
            "--pprof-disable",
            "--log-plain",
        ])
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start gobgpd");
    let pid = Pid::from_raw(daemon.id() as i32);
    let run = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Command::new("gobgp")
            .args(["-p", port, "global"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "gobgpd did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = |v: &str| v.to_owned();
        gobgp_cli(
            port,
            &[
                s("global"),
                s("as"),
                ASN.to_string(),
                s("router-id"),
                LOCAL.to_string(),
                s("listen-port"),
                s("179"),
                s("listen-addresses"),
                LOCAL.to_string(),
            ],
        );
        let t = Instant::now();
        for i in 0..n {
            gobgp_cli(
                port,
                &[
                    s("neighbor"),
                    s("add"),
                    neighbor_address(i).to_string(),
                    s("as"),
                    ASN.to_string(),
                    s("route-reflector-client"),
                    CLUSTER.to_string(),
                ],
            );
        }
        let add = t.elapsed();
        let t = Instant::now();
        for i in 0..n {
            gobgp_cli(
                port,
                &[s("neighbor"), s("del"), neighbor_address(i).to_string()],
            );
        }
        let del = t.elapsed();
        println!(
            "cli  add {n:>5} neighbors ({n} x `gobgp neighbor add <ip> as {ASN} route-reflector-client {CLUSTER}`): {} ({})",
            secs(add),
            per_peer(add, n)
        );
        println!(
            "cli  del {n:>5} neighbors ({n} x `gobgp neighbor del <ip>`):                                  {} ({})",
            secs(del),
            per_peer(del, n)
        );
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let _ = kill(pid, Signal::SIGTERM);
    let _ = daemon.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn main() {
    if !benchmarking() {
        return;
    }
    require_root_and_gobgpd();
    let n = env_number("RRD_BENCH_PEERS", 1000);
    assert!(n <= 131_070, "198.18.0.0/15 holds 131,070 neighbors");
    let version = gobgpd_version();
    let logs = Logs::new();
    let ns = NetNs::new("bench", &[&format!("{LOCAL}/32")]);
    println!(
        "{version}; {n} RR-client neighbors from 198.18.0.1 on; namespace {} (no route out)",
        ns.name
    );
    // RRD_BENCH_ONLY_RRD=1: rrd's engine alone (its apply and what its
    // observation costs gobgpd), without the floor and CLI runs.
    let only_rrd = std::env::var_os("RRD_BENCH_ONLY_RRD").is_some();
    if !only_rrd {
        for (in_flight, probe) in [(1, false), (16, false), (64, false), (16, true)] {
            let dir = logs.path().to_path_buf();
            ns.run(move || floor(n, in_flight, probe, dir));
        }
    }
    let dir = logs.path().to_path_buf();
    ns.run(move || via_rrd(n, dir));
    if !only_rrd {
        let dir = logs.path().to_path_buf();
        ns.run(move || async move { via_cli(n, dir) });
    }
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

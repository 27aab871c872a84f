//! rrd-bench: the seed's scale, measured. 100 route reflectors in rack
//! pairs, N Calico nodes; one RR's `rrd run` (release build) against a real
//! etcd (v3 API) and a real BIRD 2, gobgpd or FRR bgpd, all inside one
//! network namespace with no route out (addresses from 198.18.0.0/15).
//!
//! ```text
//! cargo run --release -p rrd-bench -- --nodes 1000,10000,100000
//! ```
//!
//! Needs root (network namespaces) and the daemons `scripts/install-deps.sh`
//! installs. Prints progress on stderr and the Markdown tables of
//! `BENCHMARKS.md` on stdout (and to `--markdown FILE`).

mod daemon;
mod etcd;
mod fabric;
mod profile;
mod report;
mod rrd;
mod scenario;
mod seed;
mod stats;

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use rrd_core::{compute, RrIdentity, Topology};
use rrd_lab::{bins, Lab};

use crate::daemon::Engine;
use crate::fabric::{Fabric, Layout};
use crate::report::FabricResult;
use crate::scenario::{Plan, Run};

#[derive(Debug, Parser)]
#[command(
    about = "Scale benchmark: one RR of a 100-RR fabric against real etcd, BIRD 2, gobgpd and FRR's bgpd"
)]
struct Args {
    /// Fabric sizes (Calico nodes), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    nodes: Vec<usize>,
    /// calico-v1 and/or calico-v3.
    #[arg(long, value_delimiter = ',', default_value = "calico-v1,calico-v3")]
    layouts: Vec<String>,
    /// bird, gobgp and/or frr.
    #[arg(long, value_delimiter = ',', default_value = "bird,gobgp")]
    engines: Vec<String>,
    /// Isolated changes per run (half node additions, half removals).
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Quiet time before each isolated change, milliseconds.
    #[arg(long, default_value_t = 300)]
    gap_ms: u64,
    /// Changes that do not concern the benchmarked RR.
    #[arg(long, default_value_t = 1000)]
    unrelated: usize,
    /// Changes for the benchmarked RR written within one second.
    #[arg(long, default_value_t = 1000)]
    burst: usize,
    /// Samples of each floor; default: as many as `--changes`, so that a
    /// floor's p99 and the changes' p99 are the same quantile (over 40
    /// samples the "p99" is the largest of 40, about the 97.5th
    /// percentile, against the second largest of 200).
    #[arg(long)]
    floor_samples: Option<usize>,
    /// Isolated changes through the seed's confd-style loop (calico-v1,
    /// BIRD); 0 skips it.
    #[arg(long, default_value_t = 50)]
    seed_changes: usize,
    /// FRR only: give each client the ORIGINATOR_ID route map
    /// (`engine.frr.set_originator_id`); bgpd 8.4 cannot load them by the
    /// thousand and rrd refuses more than
    /// `engine.frr.originator_route_maps_up_to` (200), so `false` for the
    /// 100k fabric and for the default burst (MED 0 on reflected routes
    /// then); the bench says so before it starts.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    frr_set_originator_id: bool,
    /// GoBGP only: `GOGC` for gobgpd, the one the bench starts and the one
    /// rrd starts (`engine.gobgp.gogc`); the default is rrd's. 0 leaves Go's
    /// default (100).
    #[arg(long, default_value_t = 400)]
    gobgp_gogc: u32,
    /// GoBGP only: how an isolated addition is seen. `event`: gobgpd's
    /// peer event, sent from inside its `AddPeer` (no request to gobgpd);
    /// `poll`: `ListPeer` of the address every millisecond, as removals
    /// always are (gobgpd 3.10 sends no event for a deleted peer). Each
    /// `ListPeer` costs gobgpd's main loop ~2.6 ms at 2,099 peers, so
    /// polling delays the `AddPeer` it is waiting for.
    #[arg(long, default_value = "event", value_parser = ["event", "poll"])]
    gobgp_probe: String,
    /// Append each isolated change (run, add/remove, address, write time
    /// in Unix microseconds, latency) to this CSV file, to join with rrd's
    /// log by time.
    #[arg(long)]
    samples_out: Option<PathBuf>,
    /// Keep each run's whole rrd log in this folder (`<run>-rrd.log`);
    /// the lab's copy goes with the lab.
    #[arg(long)]
    rrd_logs_to: Option<PathBuf>,
    /// rrd's `log.level`, e.g. `info,rrd_runtime=debug` for its apply and
    /// look timestamps.
    #[arg(long, default_value = "info")]
    rrd_log: String,
    /// rrd's `source.etcd.page_size` (keys per range request of its
    /// initial read); rrd's default when not given.
    #[arg(long)]
    etcd_page_size: Option<u32>,
    /// rrd's `runtime.observe_interval` (how often it looks at the
    /// daemon's session states), e.g. `5s`; rrd's default when not given.
    #[arg(long)]
    rrd_observe_interval: Option<String>,
    /// The rrd binary (default: the release build, built first).
    #[arg(long)]
    rrd: Option<PathBuf>,
    /// Also write the tables to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rrd = rrd::binary(args.rrd.clone())?;
    let layouts = args
        .layouts
        .iter()
        .map(|l| match l.as_str() {
            "calico-v1" | "v1" => Ok(Layout::CalicoV1),
            "calico-v3" | "v3" => Ok(Layout::CalicoV3),
            other => anyhow::bail!("unknown layout {other:?}"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let engines = args
        .engines
        .iter()
        .map(|e| Engine::of_name(e))
        .collect::<anyhow::Result<Vec<_>>>()?;

    if engines.contains(&Engine::Frr) && args.frr_set_originator_id {
        // One route map per client, the burst's included: past the
        // engine's limit rrd refuses the topology (bgpd 8.4 would take
        // minutes to load them), so say so now rather than time out later.
        let limit = rrd_engine_frr::FrrConfig::default().originator_route_maps_up_to;
        for &nodes in &args.nodes {
            let fabric = Fabric::new(nodes);
            let clients = fabric.expected_peers().len() - (fabric.rrs - 1);
            let needed = clients + args.burst.max(1);
            if needed > limit {
                anyhow::bail!(
                    "FRR with ORIGINATOR_ID route maps at {nodes} nodes needs up to {needed} route maps \
                     ({clients} clients + the burst's {}), more than engine.frr.originator_route_maps_up_to = \
                     {limit}, and rrd would refuse the topology: pass --frr-set-originator-id false \
                     (or a smaller --nodes / --burst)",
                    args.burst
                );
            }
        }
    }
    let mut lab = Lab::new("bench");
    let host = lab.add_isolated_host("rr", Fabric::me(), "2001:db8::1".parse()?);
    // Everything from here on (etcd, the daemons, rrd, this process's own
    // clients) lives in the RR's namespace: nothing is routed out of it.
    let ns = File::open(format!("/var/run/netns/{}", host.ns)).context("open the namespace")?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).context("enter the namespace")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let machine = report::machine();
    eprintln!(
        "machine: {machine}\nload average at start: {}",
        report::uptime()
    );
    let plan = Plan {
        changes: args.changes,
        gap: Duration::from_millis(args.gap_ms),
        unrelated: args.unrelated,
        burst: args.burst,
        floor_samples: args.floor_samples.unwrap_or(args.changes).max(1),
        frr_set_originator_id: args.frr_set_originator_id,
        gobgp_gogc: args.gobgp_gogc,
        gobgp_probe_polls: args.gobgp_probe == "poll",
        samples_out: args.samples_out.clone(),
        rrd_logs_to: args.rrd_logs_to.clone(),
        rrd_log: args.rrd_log.clone(),
        etcd_page_size: args.etcd_page_size,
        observe_interval: args.rrd_observe_interval.clone(),
    };
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for &nodes in &args.nodes {
            for &layout in &layouts {
                let r = fabric_runs(
                    &lab,
                    &host,
                    &rrd,
                    Fabric::new(nodes),
                    layout,
                    &engines,
                    &plan,
                    &args,
                )
                .await
                .with_context(|| format!("{nodes} nodes, {}", layout.label()))?;
                results.push(r);
            }
        }
        anyhow::Ok(results)
    });
    drop(runtime);
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("benchmark failed: {e:#}");
            drop(lab);
            std::process::exit(1);
        }
    };
    let frr_note = if engines.contains(&Engine::Frr) && !plan.frr_set_originator_id {
        "\nFRR ran with `engine.frr.set_originator_id = false`: no ORIGINATOR_ID route maps (bgpd then reflects MED 0).\n"
    } else {
        ""
    };
    let text = format!(
        "Machine: {machine}\n\nCommand: `cargo run --release -p rrd-bench -- {}`\n{frr_note}{}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        report::tables(&results)
    );
    println!("{text}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &text)?;
    }
    drop(lab);
    Ok(())
}

/// One fabric in a fresh etcd: the in-process compute, then every engine.
#[allow(clippy::too_many_arguments)]
async fn fabric_runs(
    lab: &Lab,
    host: &rrd_lab::Host,
    rrd: &std::path::Path,
    fabric: Fabric,
    layout: Layout,
    engines: &[Engine],
    plan: &Plan,
    args: &Args,
) -> anyhow::Result<FabricResult> {
    eprintln!("== {} nodes, {} ==", fabric.nodes, layout.label());
    let kvs = fabric.kvs(layout);
    let keys = kvs.len();
    let compute_time = compute_time(&fabric, layout, &kvs)?;
    eprintln!("  compute (full topology, in-process): {compute_time:?}");
    let etcd = etcd::Etcd::start_empty(lab, host).await?;
    let load = etcd.load(kvs).await?;
    let stored = etcd.count(layout.prefix()).await?;
    anyhow::ensure!(
        stored as usize == keys,
        "etcd holds {stored} keys, {keys} written"
    );
    eprintln!("  etcd: {keys} keys loaded in {load:?}");
    let run = Run {
        lab,
        host,
        rrd_binary: rrd,
        etcd: &etcd,
        fabric,
        layout,
        plan,
    };
    let mut runs = Vec::new();
    let mut seed = None;
    for &engine in engines {
        let (result, daemon) = run.run(engine).await?;
        runs.push(result);
        if engine == Engine::Bird && layout == Layout::CalicoV1 && args.seed_changes > 0 {
            seed = Some(seed_way(&run, &daemon, args.seed_changes).await?);
        }
        drop(daemon);
    }
    etcd.stop();
    Ok(FabricResult {
        nodes: fabric.nodes,
        layout,
        keys,
        load,
        compute: compute_time,
        runs,
        seed,
        load_average: report::uptime(),
    })
}

/// `rrd_core::compute` of RR 0 from the whole decoded topology (median of 3).
fn compute_time(
    fabric: &Fabric,
    layout: Layout,
    kvs: &[(String, String)],
) -> anyhow::Result<Duration> {
    let topology = match layout {
        Layout::CalicoV1 => rrd_layouts::calico_v1::LegacyStore::from_kvs(
            layout.prefix(),
            kvs.iter().map(|(k, v)| (k, v)),
        )
        .0
        .snapshot(),
        Layout::CalicoV3 => {
            let mut t = Topology {
                rules: rrd_core::RuleSet::CalicoV3,
                ..Topology::default()
            };
            for (_, v) in kvs {
                let json: serde_json::Value = serde_json::from_str(v)?;
                t.apply(rrd_layouts::calico_v3::decode_object(&json)?.into_change());
            }
            t
        }
    };
    let me = RrIdentity::v4(Fabric::me());
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let c = compute(&topology, &me)?;
        times.push(t.elapsed());
        anyhow::ensure!(
            c.config.neighbors.len() == fabric.expected_peers().len(),
            "compute gave {} sessions",
            c.config.neighbors.len()
        );
    }
    times.sort();
    Ok(times[1])
}

/// The seed's confd-style loop against the same BIRD and fabric.
async fn seed_way(
    run: &Run<'_>,
    daemon: &daemon::Daemon,
    changes: usize,
) -> anyhow::Result<(stats::Summary, u64)> {
    eprintln!("  [seed] confd-style loop: {changes} isolated changes");
    let seed = seed::SeedLoop::start(
        run.etcd.client(),
        Layout::CalicoV1.prefix(),
        Fabric::me(),
        daemon.bird_conf.clone(),
        daemon.bird_ctl.clone(),
        bins::birdc2(),
    )
    .await?;
    let mut probe = daemon.probe().await?;
    let expected = run.fabric.expected_peers();
    scenario::wait_for_peers(
        &mut probe,
        &expected,
        Duration::from_secs(120),
        Duration::from_millis(20),
    )
    .await?;
    let summary = run.seed_isolated(&mut probe, changes).await?;
    let reloads = seed.reloads();
    seed.stop();
    eprintln!("  [seed] {summary}, {reloads} reloads");
    Ok((summary, reloads))
}

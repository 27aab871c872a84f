//! The figures as Markdown tables: one per layout (every engine, every
//! size), the seed's way beside rrd, memory growth, and the machine.

use std::fmt::Write as _;
use std::time::Duration;

use crate::daemon::Engine;
use crate::fabric::Layout;
use crate::scenario::RunResult;
use crate::stats::{ms, Summary};

/// Everything measured for one fabric size and layout.
#[derive(Clone, Debug)]
pub struct FabricResult {
    pub nodes: usize,
    pub layout: Layout,
    pub keys: usize,
    pub load: Duration,
    /// `rrd_core::compute` of RR 0's config from the whole topology.
    pub compute: Duration,
    pub runs: Vec<RunResult>,
    /// The seed's way (calico-v1, BIRD): change -> held, and reloads.
    pub seed: Option<(Summary, u64)>,
    /// `uptime` when this fabric's runs ended.
    pub load_average: String,
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// The p99 the issue sets for isolated changes, from this run's floors.
pub fn target(run: &RunResult) -> Duration {
    let harness = run.floors.harness.p99;
    match run.engine {
        Engine::Bird => {
            harness
                + run.floors.bird_configure.map(|s| s.p99).unwrap_or_default()
                + Duration::from_millis(25)
        }
        Engine::Gobgp => harness + Duration::from_millis(10),
        // As GoBGP's: a change is one session's commands, each about as
        // cheap as the vty command floor.
        Engine::Frr => harness + Duration::from_millis(10),
    }
}

/// The daemon floor column: BIRD's `configure`, GoBGP's `AddPeer`, FRR's
/// vty command and `bgpd -C` check.
fn daemon_floor(run: &RunResult) -> String {
    let f = &run.floors;
    let one = |name: &str, s: Option<Summary>| {
        let s = s.unwrap_or_default();
        format!("{name} {} / {} ms", ms(s.p50), ms(s.p99))
    };
    match run.engine {
        Engine::Bird => one("configure", f.bird_configure),
        Engine::Gobgp => one("AddPeer", f.gobgp_add_peer),
        Engine::Frr => format!(
            "{}; {}",
            one("`neighbor … remote-as`", f.frr_neighbor),
            one("`bgpd -C`", f.frr_check)
        ),
    }
}

pub fn tables(results: &[FabricResult]) -> String {
    let mut out = String::new();
    for layout in [Layout::CalicoV1, Layout::CalicoV3] {
        let rows: Vec<&FabricResult> = results.iter().filter(|r| r.layout == layout).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {} in etcd (v3 API)\n", layout.label());
        out += "| nodes | engine | sessions | compute (full) | cold start: daemon already running / rrd starts it | change → held p50 / p99 / max | of it after etcd answered the write, p50 / p99 | harness floor p50 / p99 | daemon floor p50 / p99 | p99 target | met | 1,000 unrelated → applies | burst: 1,000 in | → applies | converged after last | rrd RSS after start (per node) | rrd peak RSS | daemon RSS |\n";
        out +=
            "|---:|---|---:|---:|---:|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
        for f in &rows {
            for r in &f.runs {
                let t = target(r);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} ms | {} ms / {} | {} ms | {} / {} ms | {} / {} ms | {} | {} ms | {} | {}{} | {} ms | {} | {} ms | {} ({:.2} KiB) | {} | {} |",
                    f.nodes,
                    r.engine.label(),
                    r.sessions,
                    ms(f.compute),
                    ms(r.cold_start),
                    r.managed_cold_start
                        .map_or_else(|| "—".to_owned(), |d| format!("{} ms", ms(d))),
                    r.isolated,
                    ms(r.isolated_after_ack.p50),
                    ms(r.isolated_after_ack.p99),
                    ms(r.floors.harness.p50),
                    ms(r.floors.harness.p99),
                    daemon_floor(r),
                    ms(t),
                    if r.isolated.p99 <= t { "yes" } else { "no" },
                    r.unrelated.applies,
                    match r.unrelated.bird_reconfigured {
                        Some(true) => " (BIRD reconfigured)",
                        _ => "",
                    },
                    ms(r.burst.written_in),
                    r.burst.applies,
                    ms(r.burst.converged_after_last),
                    mib(r.rss_after_start.rss_kib),
                    r.rss_after_start.rss_kib as f64 / f.nodes as f64,
                    mib(r.peak.peak_kib),
                    mib(r.daemon.rss_kib),
                );
            }
        }
    }
    let seeds: Vec<&FabricResult> = results.iter().filter(|r| r.seed.is_some()).collect();
    if !seeds.is_empty() {
        out += "\n### The seed's way beside rrd (calico-v1, BIRD 2)\n\n";
        out += "| nodes | seed's way: full re-read + re-render + `birdc configure`, change → held p50 / p99 / max (changes) | rrd, change → held p50 / p99 / max |\n|---:|---|---|\n";
        for f in seeds {
            let (seed, _) = f.seed.unwrap_or_default();
            let rrd = f
                .runs
                .iter()
                .find(|r| r.engine == Engine::Bird)
                .map_or_else(String::new, |r| format!("{} ms", r.isolated));
            let _ = writeln!(out, "| {} | {seed} ms ({}) | {rrd} |", f.nodes, seed.count);
        }
    }
    out += "\n### Fabric loads\n\n| nodes | layout | keys | etcd load | load average after the runs |\n|---:|---|---:|---:|---|\n";
    for f in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} s | {} |",
            f.nodes,
            f.layout.label(),
            f.keys,
            f.load.as_secs_f64(),
            f.load_average
        );
    }
    out
}

/// CPU, memory, kernel and daemon versions.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|m| m.trim().to_owned()))
        .unwrap_or_default();
    let run = |p: &str, a: &[&str]| {
        std::process::Command::new(p)
            .args(a)
            .output()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    format!(
        "{cores} × {cpu}, {mem} RAM, {}; Linux {}; {}; BIRD {}; {}; {}",
        first_touch(FIRST_TOUCH_MIB),
        run("uname", &["-r"]),
        run("etcd", &["--version"]),
        run("bird", &["--version"]).trim_start_matches("BIRD version "),
        run("gobgpd", &["--version"]),
        run("/usr/lib/frr/bgpd", &["--version"]),
    )
}

/// Memory touched for the first time by [`first_touch`].
const FIRST_TOUCH_MIB: usize = 2048;

/// How fast the kernel hands this process fresh pages: `mib` MiB written
/// one byte per page, every page a page fault. On the test VMs this varied
/// from 3 GiB/s to 0.25 GiB/s within an hour (the host backs guest memory
/// lazily and takes freed memory back), and bgpd, which zeroes a fresh
/// buffer of ~0.75 MB for each new neighbor, slowed with it: a burst of
/// 505 new neighbors took bgpd 1.55 s at one time and 6.3 s at another.
/// So every run states it beside the machine.
fn first_touch(mib: usize) -> String {
    const PAGE: usize = 4096;
    let started = std::time::Instant::now();
    let mut memory: Vec<u8> = Vec::with_capacity(mib << 20);
    // Never read: the writes only fault the pages in.
    let spare = memory.spare_capacity_mut();
    for page in spare.chunks_mut(PAGE) {
        page[0].write(1);
    }
    std::hint::black_box(&mut memory);
    let took = started.elapsed();
    let gib = mib as f64 / 1024.0;
    format!(
        "first touch of {gib:.0} GiB {:.2} s ({:.2} GiB/s)",
        took.as_secs_f64(),
        gib / took.as_secs_f64()
    )
}

pub fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

//! The cold start's datastore side, alone: what `rrd run` does from start
//! until the runtime holds this RR's desired configuration, without a BGP
//! daemon. For profiling (`valgrind --tool=callgrind`, `perf`, `heaptrack`)
//! and for timing the read against an etcd already loaded with a fabric
//! (for instance by `rrd-bench`).
//!
//! ```text
//! cargo run --release -p rrd-source-etcd --example cold_read -- \
//!     http://127.0.0.1:2379 calico-v1 198.18.0.1 [page_size]
//! ```
//!
//! Prints, on one line each: the source's snapshot (connect + complete
//! read + store, as the watch loop delivers it), the runtime's
//! `DesiredState` built from it, the neighbor count, and the process's peak
//! RSS (`VmHWM`). Then what one change costs the runtime: 100 clients of
//! this RR added one at a time (copies of one of its clients at new
//! addresses, 198.19.200.0 and up) and removed again, each through
//! `DesiredState::apply` and the warnings the runtime re-checks, beside
//! the full recomputation the periodic resync makes (`verify`).

use std::net::Ipv4Addr;
use std::time::Instant;

use rrd_core::{
    DesiredState, EventSink, NodeSelector, PeerRule, PeerSource, RrIdentity, RuleSet, SourceEvent,
    Topology, TopologyChange, Touched,
};
use rrd_source_etcd::{EtcdConfig, EtcdSource, Layout};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, layout, me, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: cold_read ENDPOINT calico-v1|calico-v3 OWN_IPV4 [PAGE_SIZE]");
    };
    let layout = match layout.as_str() {
        "calico-v1" => Layout::CalicoV1,
        "calico-v3" => Layout::CalicoV3,
        other => anyhow::bail!("unknown layout {other:?}"),
    };
    let me: Ipv4Addr = me.parse()?;
    let mut config = EtcdConfig {
        endpoints: vec![endpoint.clone()],
        layout,
        ..EtcdConfig::default()
    };
    if let Some(size) = rest.first() {
        config.page_size = size.parse()?;
    }
    // As `rrd run` builds its runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let started = Instant::now();
        let source = EtcdSource::new(config)?.scoped_to([me.into()]);
        let (sink, mut events) = EventSink::channel(64);
        let watch = tokio::spawn(source.watch(sink));
        let topology = loop {
            match events.recv().await {
                Some(SourceEvent::Snapshot(t)) => break t,
                Some(_) => {}
                None => anyhow::bail!("the source stopped before its snapshot"),
            }
        };
        let read = started.elapsed();
        let identity = RrIdentity {
            ipv4: Some(me),
            ipv6: None,
            router_id: None,
            node_name: None,
        };
        let desired = DesiredState::new(identity, topology);
        let built = started.elapsed();
        let neighbors = desired.config().map(|c| c.neighbors.len()).unwrap_or(0);
        watch.abort();
        println!("snapshot received after {:.1} ms", read.as_secs_f64() * 1e3);
        println!(
            "desired state built after {:.1} ms ({:.1} ms for the build)",
            built.as_secs_f64() * 1e3,
            (built - read).as_secs_f64() * 1e3
        );
        println!("neighbors {neighbors}");
        println!("peak RSS {} KiB", peak_rss_kib());
        per_change(desired);
        Ok(())
    })
}

/// 100 additions and 100 removals of a client, one change each.
fn per_change(mut desired: DesiredState) {
    let Some(changes) = client_changes(desired.topology(), desired.identity()) else {
        println!("per change: this RR has no client to copy");
        return;
    };
    let mut took = Vec::new();
    let mut touched_sessions = 0;
    for batch in changes {
        let started = Instant::now();
        let touched = desired.apply(batch);
        desired.this_rr_warnings();
        took.push(started.elapsed());
        if let Touched::Sessions(keys) = touched {
            touched_sessions += keys.len();
        }
    }
    took.sort();
    let ms = |i: usize| took[i].as_secs_f64() * 1e3;
    println!(
        "per change ({} changes, {touched_sessions} sessions touched): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        took.len(),
        ms(took.len() / 2),
        ms(took.len() * 99 / 100),
        ms(took.len() - 1)
    );
    let started = Instant::now();
    let agreed = desired.verify().is_ok();
    println!(
        "full recomputation (resync check): {:.1} ms, agreed: {agreed}",
        started.elapsed().as_secs_f64() * 1e3
    );
}

/// Copies of one of this RR's clients, added then removed: one batch each.
fn client_changes(topology: &Topology, me: &RrIdentity) -> Option<Vec<Vec<TopologyChange>>> {
    let own = me.ipv4?;
    let template = topology.nodes.values().find(|n| {
        n.rr_cluster_id.is_none()
            && n.ipv4.is_some_and(|a| a != own)
            && match topology.rules {
                RuleSet::CalicoV3 => true,
                RuleSet::Legacy => topology
                    .peers
                    .values()
                    .any(|r| r.nodes == NodeSelector::Named(n.name.clone())),
            }
    })?;
    let base = u32::from(std::net::Ipv4Addr::new(198, 19, 200, 0));
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for i in 0..100 {
        let mut n = template.clone();
        n.name = format!("cold-read-{i}");
        n.ipv4 = Some((base + i).into());
        let mut batch = Vec::new();
        if topology.rules == RuleSet::Legacy {
            let rule = PeerRule::legacy_node(&n.name, own.into(), None);
            remove.push(vec![
                TopologyChange::RemovePeer(rule.name.clone()),
                TopologyChange::RemoveNode(n.name.clone()),
            ]);
            batch.push(TopologyChange::UpsertPeer(rule));
        } else {
            remove.push(vec![TopologyChange::RemoveNode(n.name.clone())]);
        }
        batch.push(TopologyChange::UpsertNode(n));
        add.push(batch);
    }
    add.extend(remove);
    Some(add)
}

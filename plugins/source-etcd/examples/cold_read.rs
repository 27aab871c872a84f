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
//! RSS (`VmHWM`).

use std::net::Ipv4Addr;
use std::time::Instant;

use rrd_core::{DesiredState, EventSink, PeerSource, RrIdentity, SourceEvent};
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
        Ok(())
    })
}

//! How long a key written to etcd takes to come out of the source as a
//! change: the source's share of rrd's end-to-end reaction time.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rrd_core::{EventSink, PeerSource, SourceEvent, TopologyChange};

use super::kv::RawKv;
use crate::config::{EtcdConfig, Layout};
use crate::source::EtcdSource;

/// Write-to-change latencies, sorted.
#[derive(Debug, Clone)]
pub struct LatencyStats {
    pub samples: Vec<Duration>,
}

impl LatencyStats {
    fn at(&self, q: f64) -> Duration {
        let i = ((self.samples.len() - 1) as f64 * q).round() as usize;
        self.samples[i]
    }
    pub fn min(&self) -> Duration {
        self.samples[0]
    }
    pub fn median(&self) -> Duration {
        self.at(0.5)
    }
    pub fn p90(&self) -> Duration {
        self.at(0.9)
    }
    pub fn max(&self) -> Duration {
        self.samples[self.samples.len() - 1]
    }
}

impl std::fmt::Display for LatencyStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} min={:?} median={:?} p90={:?} max={:?}",
            self.samples.len(),
            self.min(),
            self.median(),
            self.p90(),
            self.max()
        )
    }
}

/// Wait for the snapshot (`name: None`) or for a change upserting node `name`.
async fn wait_for(rx: &mut tokio::sync::mpsc::Receiver<SourceEvent>, name: Option<&str>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the source answers within 30 s")
            .expect("the source keeps running");
        match (name, e) {
            (None, SourceEvent::Snapshot(_)) => return,
            (Some(n), SourceEvent::Changes(cs))
                if cs
                    .iter()
                    .any(|c| matches!(c, TopologyChange::UpsertNode(x) if x.name == n)) =>
            {
                return
            }
            _ => {}
        }
    }
}

/// Write `samples` probe nodes (`host/latency-probe-N/ip_addr_v4`, addresses
/// from 198.18.0.0/15) one at a time and time each until the watching
/// source emits it; the probe keys are deleted afterwards. calico-v1 only.
pub async fn measure_change_latency(config: &EtcdConfig, samples: usize) -> LatencyStats {
    assert_eq!(
        config.layout,
        Layout::CalicoV1,
        "the probe writes calico-v1 keys"
    );
    assert!(samples > 0);
    let source = EtcdSource::new(config.clone()).expect("valid config");
    let (sink, mut rx) = EventSink::channel(1024);
    let task = tokio::spawn(source.watch(sink));
    wait_for(&mut rx, None).await;
    let kv = RawKv::connect(config).await.expect("raw client");
    let prefix = config.prefix();
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let name = format!("latency-probe-{i}");
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 1)) + i as u32);
        let key = format!("{prefix}/host/{name}/ip_addr_v4");
        let start = Instant::now();
        kv.put(&key, &addr.to_string()).await.expect("put probe");
        wait_for(&mut rx, Some(&name)).await;
        out.push(start.elapsed());
    }
    for i in 0..samples {
        let _ = kv
            .delete(&format!("{prefix}/host/latency-probe-{i}/ip_addr_v4"))
            .await;
    }
    task.abort();
    out.sort();
    LatencyStats { samples: out }
}

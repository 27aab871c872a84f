//! Scale measurements (ignored by default; run with `--ignored --nocapture`,
//! preferably `--release`): the calico-v1 prefix of N nodes (default
//! 100,000; `RRD_SCALE_NODES`), four keys per node as calicoctl left them
//! (`ip_addr_v4`, `ip_addr_v6`, `as_num`, one node-specific peer), read by
//! the source over each API. Prints key count, bytes, read time and the
//! process's peak RSS.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use etcd_client::{Txn, TxnOp};
use rrd_source_etcd::testing::{EtcdFixture, RawKv};
use rrd_source_etcd::{EtcdApi, EtcdSource, Layout};

fn nodes() -> u32 {
    std::env::var("RRD_SCALE_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn node_kvs(prefix: &str, i: u32) -> [(String, String); 4] {
    let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i + 1);
    let rr = Ipv4Addr::new(198, 51, 100, 11 + (i % 6) as u8);
    let host = format!("{prefix}/host/node-{i:06}");
    [
        (format!("{host}/ip_addr_v4"), addr.to_string()),
        (format!("{host}/ip_addr_v6"), String::new()),
        (format!("{host}/as_num"), "64511".into()),
        (
            format!("{host}/peer_v4/{rr}"),
            format!(r#"{{"ip":"{rr}","as_num":"64511"}}"#),
        ),
    ]
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

async fn measure_read(f: &EtcdFixture, label: &str, page_size: u32) -> Duration {
    let mut config = f.config.clone();
    config.page_size = page_size;
    config.request_timeout = Duration::from_secs(120);
    let source = EtcdSource::new(config).unwrap();
    let start = Instant::now();
    let (t, rejected) = source.read().await.unwrap();
    let took = start.elapsed();
    assert!(rejected.is_empty());
    assert_eq!(t.nodes.len() as u32, nodes());
    println!(
        "{label}: {} nodes, {} peers read in {took:?} (page_size {page_size}); peak RSS {} MiB",
        t.nodes.len(),
        t.peers.len(),
        peak_rss_mib()
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale measurement: minutes and ~1 GB of etcd"]
async fn measure_reading_the_calico_v1_prefix_at_scale_over_v3() {
    let f = EtcdFixture::start(EtcdApi::V3, Layout::CalicoV1).await;
    let prefix = f.config.prefix();
    let client = f.server.v3_client().await;
    let start = Instant::now();
    let mut bytes = 0usize;
    let n = nodes();
    let mut ops = Vec::new();
    let mut handles = Vec::new();
    for i in 0..n {
        for (k, v) in node_kvs(&prefix, i) {
            bytes += k.len() + v.len();
            ops.push(TxnOp::put(k, v, None));
        }
        if ops.len() >= 124 || i + 1 == n {
            let mut c = client.clone();
            let batch = std::mem::take(&mut ops);
            handles.push(tokio::spawn(async move {
                c.txn(Txn::new().and_then(batch)).await.unwrap();
            }));
            if handles.len() >= 8 {
                for h in handles.drain(..) {
                    h.await.unwrap();
                }
            }
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    println!(
        "v3: wrote {} keys, {:.1} MB of keys+values in {:?}",
        n * 4,
        bytes as f64 / 1e6,
        start.elapsed()
    );
    // Warm etcd's caches first, then compare page sizes.
    measure_read(&f, "v3 one response (warm-up)", 0).await;
    for page_size in [0, 5_000, 20_000, 50_000] {
        measure_read(&f, "v3", page_size).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale measurement: minutes and ~1 GB of etcd"]
async fn measure_reading_the_calico_v1_prefix_at_scale_over_v2() {
    let f = EtcdFixture::start(EtcdApi::V2, Layout::CalicoV1).await;
    let prefix = f.config.prefix();
    let n = nodes();
    let start = Instant::now();
    let workers = 16u32;
    let mut handles = Vec::new();
    for w in 0..workers {
        let config = f.config.clone();
        let prefix = prefix.clone();
        handles.push(tokio::spawn(async move {
            let kv = RawKv::connect(&config).await.unwrap();
            let mut i = w;
            while i < n {
                for (k, v) in node_kvs(&prefix, i) {
                    kv.put(&k, &v).await.unwrap();
                }
                i += workers;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    println!("v2: wrote {} keys in {:?}", n * 4, start.elapsed());
    let t0 = Instant::now();
    let body = reqwest_len(&f).await;
    println!(
        "v2: recursive GET body {:.1} MB in {:?}",
        body as f64 / 1e6,
        t0.elapsed()
    );
    measure_read(&f, "v2", 0).await;
}

/// Size of the recursive GET the v2 source makes.
async fn reqwest_len(f: &EtcdFixture) -> usize {
    let url = format!(
        "{}/v2/keys{}?recursive=true&quorum=true",
        f.server.endpoint(),
        f.config.prefix()
    );
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{size_download}", &url])
        .output()
        .await
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

//! The source's share of rrd's reaction time: from a key written to etcd
//! to the change leaving the source, on both APIs (printed with
//! `--nocapture`; the bound only catches a watch that polls or stalls).

use std::time::Duration;

use rrd_source_etcd::testing::{measure_change_latency, EtcdFixture};
use rrd_source_etcd::{EtcdApi, Layout};

async fn latency(api: EtcdApi) {
    let f = EtcdFixture::start(api, Layout::CalicoV1).await;
    let stats = measure_change_latency(&f.config, 50).await;
    println!("{api:?} write-to-change latency: {stats}");
    assert!(
        stats.median() < Duration::from_millis(500),
        "a watch delivers changes as they happen: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_write_reaches_the_source_within_half_a_second() {
    latency(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_write_reaches_the_source_within_half_a_second() {
    latency(EtcdApi::V3).await;
}

//! Scale (ignored by default; run with `--release -- --ignored
//! --nocapture`): 100,000 calico-v1 nodes (400,000 keys) in the
//! fake Consul. Every blocking-query answer is the whole prefix, so this
//! measures what one change costs: transfer, base64 + JSON decode, and
//! `LegacyStore::replace_all` over every key.

mod common;

use std::time::{Duration, Instant};

use common::watch;
use rrd_core::{PeerSource, SourceEvent, TopologyChange};
use rrd_source_consul::testing::FakeConsul;
use rrd_source_consul::ConsulSource;

const NODES: u32 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale: 400,000 keys; run in release"]
async fn a_hundred_thousand_nodes_are_read_and_one_change_is_seen_quickly() {
    let server = FakeConsul::start().await;
    let p = "calico/bgp/v1";
    server.put(
        &format!("{p}/rr_v4/198.18.255.1"),
        r#"{"ip":"198.18.255.1","cluster_id":"1.0.0.1"}"#,
    );
    server.put(
        &format!("{p}/rr_v4/198.18.255.2"),
        r#"{"ip":"198.18.255.2","cluster_id":"1.0.0.1"}"#,
    );
    for i in 0..NODES {
        let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 1)) + i);
        let n = format!("{p}/host/node{i}");
        server.put(&format!("{n}/ip_addr_v4"), &ip.to_string());
        server.put(&format!("{n}/as_num"), "64512");
        for rr in ["198.18.255.1", "198.18.255.2"] {
            server.put(
                &format!("{n}/peer_v4/{rr}"),
                &format!(r#"{{"ip":"{rr}","as_num":"64512"}}"#),
            );
        }
    }
    let config = server.config();

    let t0 = Instant::now();
    let body = reqwest::get(format!("{}/v1/kv/{p}/?recurse", server.url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    eprintln!(
        "MEASURED consul: the fake's answer ({} MB) served and received: {:?}",
        body.len() >> 20,
        t0.elapsed()
    );

    let kvs: Vec<(String, String)> = (0..NODES)
        .flat_map(|i| {
            let n = format!("{p}/host/node{i}");
            vec![
                (format!("{n}/ip_addr_v4"), "198.18.0.1".to_owned()),
                (format!("{n}/as_num"), "64512".to_owned()),
                (
                    format!("{n}/peer_v4/198.18.255.1"),
                    r#"{"ip":"198.18.255.1","as_num":"64512"}"#.to_owned(),
                ),
                (
                    format!("{n}/peer_v4/198.18.255.2"),
                    r#"{"ip":"198.18.255.2","as_num":"64512"}"#.to_owned(),
                ),
            ]
        })
        .collect();
    let t0 = Instant::now();
    let (mut store, _) = rrd_layouts::calico_v1::LegacyStore::from_kvs(p, kvs.iter().cloned());
    eprintln!(
        "MEASURED consul: LegacyStore::from_kvs of the same keys: {:?}",
        t0.elapsed()
    );
    let t0 = Instant::now();
    store.replace_all(kvs.iter().cloned());
    eprintln!(
        "MEASURED consul: LegacyStore::replace_all, nothing changed: {:?}",
        t0.elapsed()
    );
    drop(kvs);

    let t0 = Instant::now();
    let topology = ConsulSource::new(config.clone())
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    assert_eq!(topology.nodes.len(), NODES as usize);
    eprintln!(
        "MEASURED consul: plain read of {} keys + decode: {:?}",
        NODES * 4 + 2,
        t0.elapsed()
    );

    let mut w = watch(config, 64);
    let t0 = Instant::now();
    w.wait_for("the snapshot", Duration::from_secs(120), |e| {
        matches!(e, SourceEvent::Snapshot(_))
    })
    .await;
    eprintln!(
        "MEASURED consul: watch start to snapshot: {:?}",
        t0.elapsed()
    );

    let mut samples = Vec::new();
    for i in 0..10u32 {
        let name = format!("node{i}");
        let t0 = Instant::now();
        server.put(
            &format!("{p}/host/{name}/ip_addr_v4"),
            &format!("198.19.0.{}", i + 1),
        );
        w.wait_for("the change", Duration::from_secs(60), |e| {
            matches!(e, SourceEvent::Changes(cs) if cs.iter().any(
                |c| matches!(c, TopologyChange::UpsertNode(n) if n.name == name)))
        })
        .await;
        samples.push(t0.elapsed());
    }
    samples.sort();
    eprintln!(
        "MEASURED consul: one key changed -> Changes event, 10 tries: p50 {:?}, max {:?}",
        samples[5], samples[9]
    );
}

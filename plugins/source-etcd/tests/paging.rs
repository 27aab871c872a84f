//! The v3 API's complete read in pages: however small the pages, the read
//! is the one a single response gives, for both layouts (the next page is
//! requested while the last one is decoded, so a page handed over out of
//! order or twice, or one left out, would show here).

use rrd_core::testing::conformance::SourceFixture;
use rrd_core::testing::fixtures;
use rrd_core::{EventSink, PeerSource, SourceEvent, Topology};
use rrd_source_etcd::testing::EtcdFixture;
use rrd_source_etcd::{EtcdApi, EtcdSource, Layout};

/// The snapshot the watch loop delivers with pages of `page_size` keys.
async fn watched_snapshot(f: &EtcdFixture, page_size: u32) -> Topology {
    let mut config = f.config.clone();
    config.page_size = page_size;
    let (sink, mut rx) = EventSink::channel(16);
    let task = tokio::spawn(EtcdSource::new(config).unwrap().watch(sink));
    let snapshot = loop {
        match rx.recv().await.expect("the source stopped") {
            SourceEvent::Snapshot(t) => break t,
            SourceEvent::Rejected { key, reason } => panic!("{key} rejected: {reason}"),
            _ => {}
        }
    };
    task.abort();
    snapshot
}

async fn pages_read_what_one_response_reads(layout: Layout) {
    let mut f = EtcdFixture::start(EtcdApi::V3, layout).await;
    let written = fixtures::racks();
    f.write(&written).await;
    let whole = watched_snapshot(&f, 0).await;
    assert_eq!(whole, f.expected(&written));
    for page_size in [1, 2, 3, 7] {
        assert_eq!(
            watched_snapshot(&f, page_size).await,
            whole,
            "pages of {page_size}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v1_pages_read_what_one_response_reads() {
    pages_read_what_one_response_reads(Layout::CalicoV1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_v3_pages_read_what_one_response_reads() {
    pages_read_what_one_response_reads(Layout::CalicoV3).await;
}

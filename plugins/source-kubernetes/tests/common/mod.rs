//! Shared by the integration tests: the source watching, its events
//! recorded and folded by rrd-core's recorder, and views of the in-test
//! server's log.

#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub use rrd_core::testing::recorder::{
    is_connected, is_data, is_resyncing, is_snapshot, is_unreachable, short, Recorder as Watch,
};
use rrd_source_kubernetes::testing::{FakeApiServer, RecordedRequest, Resource};
use rrd_source_kubernetes::{KubernetesConfig, KubernetesSource};
use tokio::time::Instant;

pub const WITHIN: Duration = Duration::from_secs(15);

/// A KubernetesSource watching, its events recorded.
pub fn watch(config: KubernetesConfig) -> Watch {
    Watch::start(KubernetesSource::new(config).expect("valid config"), 256)
}

/// The server's requests for one resource.
pub fn requests_for(server: &FakeApiServer, resource: Resource) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.resource() == Some(resource))
        .collect()
}

pub fn lists_of(server: &FakeApiServer, resource: Resource) -> usize {
    requests_for(server, resource)
        .iter()
        .filter(|r| !r.is_watch())
        .count()
}

pub fn watches_of(server: &FakeApiServer, resource: Resource) -> Vec<RecordedRequest> {
    requests_for(server, resource)
        .into_iter()
        .filter(RecordedRequest::is_watch)
        .collect()
}

/// Poll the server's request log until `pred` holds.
pub async fn wait_for_requests(
    server: &FakeApiServer,
    what: &str,
    pred: impl Fn(&[RecordedRequest]) -> bool,
) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let requests = server.requests();
        if pred(&requests) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {WITHIN:?}; requests: {requests:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

//! What every read asks for: the datacenter (`?dc=`), the read mode
//! (`?consistent`, `?stale`) and its staleness bound, as Consul's agent
//! answers them — a datacenter it cannot reach, a cluster without a leader.

use std::time::Duration;

use rrd_core::testing::fixtures;
use rrd_core::PeerSource;
use rrd_source_consul::testing::{ConsulFixture, DATACENTER};
use rrd_source_consul::{Consistency, ConsulSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_datacenter_and_the_read_mode_go_with_every_read() {
    let f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    for (mode, param) in [
        (Consistency::Consistent, Some("consistent")),
        (Consistency::Stale, Some("stale")),
        (Consistency::Default, None),
    ] {
        let mut config = f.config.clone();
        config.datacenter = Some(DATACENTER.into());
        config.consistency = mode;
        let n = f.server.list_requests().len();
        let mut source = ConsulSource::new(config).unwrap();
        assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());
        let r = &f.server.list_requests()[n];
        assert_eq!(r.param("dc"), Some(DATACENTER), "{r:?}");
        for p in ["consistent", "stale"] {
            assert_eq!(r.has(p), Some(p) == param, "{mode:?}: {r:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datacenter_the_agent_cannot_reach_is_an_error_worth_retrying() {
    let f = ConsulFixture::start().await;
    let mut config = f.config.clone();
    config.datacenter = Some("dc9".into());
    let err = ConsulSource::new(config)
        .unwrap()
        .snapshot()
        .await
        .expect_err("no path to dc9");
    assert!(err.to_string().contains("No path to datacenter"), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_leader_only_stale_reads_answer_and_max_stale_bounds_them() {
    let f = ConsulFixture::start().await;
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    f.server.lose_leader(Duration::from_secs(3));

    let err = ConsulSource::new(f.config.clone())
        .unwrap()
        .snapshot()
        .await
        .expect_err("a default read needs a leader");
    assert!(err.to_string().contains("No cluster leader"), "{err}");
    assert!(err.is_retryable());

    let mut stale = f.config.clone();
    stale.consistency = Consistency::Stale;
    let mut source = ConsulSource::new(stale.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());

    stale.max_stale = Some(Duration::from_secs(1));
    let err = ConsulSource::new(stale.clone())
        .unwrap()
        .snapshot()
        .await
        .expect_err("3 s without a leader is more than max_stale");
    assert!(err.to_string().contains("stale"), "{err}");
    assert!(err.is_retryable());

    f.server.elect_leader();
    let mut source = ConsulSource::new(stale).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());
}

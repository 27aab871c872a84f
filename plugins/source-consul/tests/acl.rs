//! Consul ACLs (default deny): the token comes from a file or an
//! environment variable and is sent as `X-Consul-Token`; a refused token
//! (403) is reported clearly, retried, and never empties the topology; a
//! token fixed while rrd runs is picked up on the next attempt; a listing
//! Consul filtered because the token may not read every key is refused,
//! so a narrowed policy never removes sessions.

mod common;

use std::time::Duration;

use common::{is_unreachable, short, watch};
use rrd_core::testing::fixtures;
use rrd_core::{PeerSource, SourceError, SourceEvent, SourceStatus};
use rrd_source_consul::testing::{Acl, ConsulFixture};
use rrd_source_consul::{ConsulSource, Token};

const WITHIN: Duration = Duration::from_secs(15);
const MANAGEMENT: &str = "6f1e0e3a-management";
const READER: &str = "9b2c41d7-calico-reader";

/// A fake with ACLs on, the seed written with the management token.
async fn with_acls(acl: Acl) -> ConsulFixture {
    let mut f = ConsulFixture::start().await;
    f.server.set_acl(Some(acl));
    f.write_token = Some(Token::new(MANAGEMENT));
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    f
}

fn unreachable_error(e: &SourceEvent) -> Option<&str> {
    match e {
        SourceEvent::Status(SourceStatus::Unreachable { error, .. }) => Some(error),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_reported_retried_and_replaced_without_a_restart() {
    let f = with_acls(Acl::management(MANAGEMENT).with_token(READER, "calico/bgp/v1/")).await;
    let token_file = f.server.dir().join("consul-token");
    std::fs::write(&token_file, "0000-not-a-token\n").unwrap();
    let mut config = f.config.clone();
    config.token_file = Some(token_file.clone());

    let err = ConsulSource::new(config.clone())
        .unwrap()
        .snapshot()
        .await
        .expect_err("an unknown token is refused");
    assert!(
        !err.is_retryable(),
        "a refused token is not a passing outage: {err}"
    );
    let SourceError::Invalid { detail, .. } = &err else {
        panic!("expected an Invalid error, got {err:?}");
    };
    assert!(
        detail.contains("403") && detail.contains("ACL not found"),
        "{detail}"
    );
    assert!(
        detail.contains("token_file/token_env"),
        "says what to check: {detail}"
    );
    assert!(
        !detail.contains("0000-not-a-token"),
        "the token is never shown: {detail}"
    );

    let mut w = watch(config, 256);
    for _ in 0..2 {
        let e = w
            .wait_for("Unreachable naming the 403", WITHIN, is_unreachable)
            .await;
        let error = unreachable_error(&e).unwrap();
        assert!(error.contains("ACL not found"), "{error}");
        assert!(!error.contains("0000-not-a-token"), "{error}");
    }
    assert!(w.store.is_none(), "no topology without a successful read");

    // The operator fixes the token file; the next attempt reads it.
    std::fs::write(&token_file, format!("{READER}\n")).unwrap();
    w.converge(&fixtures::seed(), WITHIN).await;
    assert!(
        f.server.list_requests().iter().all(|r| r.had_token),
        "every read carried X-Consul-Token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_without_a_token_is_refused_with_a_clear_error() {
    let f = with_acls(Acl::management(MANAGEMENT)).await;
    let err = ConsulSource::new(f.config.clone())
        .unwrap()
        .snapshot()
        .await
        .expect_err("the anonymous token may not list");
    assert!(err.to_string().contains("Permission denied"), "{err}");
    assert!(
        err.to_string().contains("calico/bgp/v1"),
        "names the prefix: {err}"
    );

    let mut w = watch(f.config.clone(), 64);
    let e = w.wait_for("Unreachable", WITHIN, is_unreachable).await;
    assert!(unreachable_error(&e).unwrap().contains("Permission denied"));
    assert!(w.store.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_the_environment_is_sent() {
    let f = with_acls(Acl::management(MANAGEMENT).with_token(READER, "calico/bgp/v1/")).await;
    let var = format!("RRD_TEST_CONSUL_TOKEN_{}", std::process::id());
    // Only this test reads this variable.
    std::env::set_var(&var, READER);
    let mut config = f.config.clone();
    config.token_env = Some(var);
    let mut source = ConsulSource::new(config).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), fixtures::seed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_filtered_by_acls_never_shrinks_the_topology() {
    let mut acl = Acl::management(MANAGEMENT).with_token(READER, "calico/bgp/v1/");
    // Without the key-list policy Consul filters instead of refusing.
    acl.key_list_policy = false;
    let mut f = with_acls(acl.clone()).await;
    f.config.wait = Duration::from_secs(1);
    let token_file = f.server.dir().join("consul-token");
    std::fs::write(&token_file, READER).unwrap();
    f.config.token_file = Some(token_file);

    let mut w = watch(f.config.clone(), 256);
    w.converge(&fixtures::seed(), WITHIN).await;

    // The token's policy narrows to host/: Consul would now leave the RR
    // and the global peer out of every listing.
    f.server
        .set_acl(Some(acl.with_token(READER, "calico/bgp/v1/host/")));
    let e = w
        .wait_for("Unreachable for the filtered read", WITHIN, is_unreachable)
        .await;
    let error = unreachable_error(&e).unwrap();
    assert!(error.contains("Filtered-By-ACLs"), "{error}");
    let events = w.collect_for(Duration::from_secs(2)).await;
    assert!(
        events
            .iter()
            .all(|e| matches!(e, SourceEvent::Status(SourceStatus::Unreachable { .. }))),
        "a filtered read emits nothing but Unreachable: {:?}",
        events.iter().map(short).collect::<Vec<_>>()
    );
    assert_eq!(w.store.as_ref(), Some(&fixtures::seed()));
}

//! Watch history and connections: a 410 (as an ERROR event or an HTTP
//! status) leads to a re-list whose diff arrives as changes; a dropped
//! connection resumes from the last resourceVersion without a re-list;
//! bookmarks keep that version current so that a compaction costs no
//! re-list; an expired `continue` token leads to a fresh list.

mod common;

use common::{is_resyncing, is_snapshot, lists_of, wait_for_requests, watch, watches_of, WITHIN};
use rrd_core::testing::conformance::seed_grown;
use rrd_core::testing::fixtures;
use rrd_core::{Node, SourceEvent, SourceStatus};
use rrd_source_kubernetes::testing::{
    expected_for, objects_for, secret_object, KubernetesFixture, Resource, CALICO_RESOURCES,
};

async fn history_loss_leads_to_a_relist_whose_diff_converges(gone_as_http_status: bool) {
    let f = KubernetesFixture::start().await;
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
    let lists_before = CALICO_RESOURCES.map(|r| lists_of(&f.server, r));

    // While no watch is open: change everything, then forget the history.
    let target = seed_grown();
    let objects = objects_for(&target, "kube-system");
    f.server.break_connections_and(|s| {
        s.gone_as_http_status = gone_as_http_status;
        for (resource, objs) in objects {
            s.set_all(resource, objs);
        }
        s.compact();
    });

    w.converge(&expected_for(&target), WITHIN).await;
    let resync = w.log.iter().find(|e| is_resyncing(e));
    assert!(
        matches!(resync, Some(SourceEvent::Status(SourceStatus::Resyncing { reason })) if reason.contains("history")),
        "expected a Resyncing status naming the lost history: {:#?}",
        w.short_log()
    );
    assert_eq!(
        w.count(is_snapshot),
        1,
        "the re-list arrives as the diff, not as a new snapshot"
    );
    // Unchanged kinds (BGPConfigurations) bring no change, so convergence
    // does not wait for their re-list: the server's log does.
    wait_for_requests(&f.server, "a re-list of every kind", |_| {
        CALICO_RESOURCES
            .iter()
            .zip(lists_before)
            .all(|(r, before)| lists_of(&f.server, *r) > before)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_error_event_leads_to_a_relist_whose_diff_converges() {
    history_loss_leads_to_a_relist_whose_diff_converges(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_410_on_the_watch_request_leads_to_a_relist_whose_diff_converges() {
    history_loss_leads_to_a_relist_whose_diff_converges(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_from_the_last_version_without_a_relist() {
    let f = KubernetesFixture::start().await;
    f.write_topology(&fixtures::seed());
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
    let lists_before = CALICO_RESOURCES.map(|r| lists_of(&f.server, r));

    let target = seed_grown();
    let objects = objects_for(&target, "kube-system");
    f.server.break_connections_and(|s| {
        for (resource, objs) in objects {
            s.set_all(resource, objs);
        }
    });
    w.converge(&expected_for(&target), WITHIN).await;
    assert_eq!(w.count(is_resyncing), 0, "{:#?}", w.short_log());
    assert_eq!(w.count(is_snapshot), 1);
    for (r, before) in CALICO_RESOURCES.into_iter().zip(lists_before) {
        assert_eq!(lists_of(&f.server, r), before, "{r:?} was listed again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_advance_the_version_so_that_a_compaction_costs_no_relist() {
    let f = KubernetesFixture::start().await;
    let mut t = fixtures::seed();
    f.write_topology(&t);
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&t), WITHIN).await;

    // Move the global version on through Nodes only: the BGPPeer and
    // BGPConfiguration watches see no event.
    for i in 0..5 {
        let mut n = Node::new(format!("extra-{i}"));
        n.ipv4 = format!("198.51.100.{}", 200 + i).parse().ok();
        t.nodes.insert(n.name.clone(), n);
        f.write_topology(&t);
    }
    w.converge(&expected_for(&t), WITHIN).await;
    wait_for_requests(&f.server, "a watch per resource", |_| {
        CALICO_RESOURCES
            .iter()
            .all(|r| !watches_of(&f.server, *r).is_empty())
    })
    .await;
    let now = f.server.with_state(|s| s.resource_version());
    let peer_watch: u64 = watches_of(&f.server, Resource::BgpPeers)[0]
        .param("resourceVersion")
        .and_then(|v| v.parse().ok())
        .expect("a resourceVersion on the BGPPeer watch");
    assert!(
        peer_watch < now,
        "the BGPPeer watch started at {peer_watch}, before the node changes up to {now}"
    );
    let lists_before = CALICO_RESOURCES.map(|r| lists_of(&f.server, r));
    let watches_before = CALICO_RESOURCES.map(|r| watches_of(&f.server, r).len());

    // What the API server does at a watch's timeoutSeconds, after which
    // the history from before `now` is compacted away.
    f.server.end_watches_with_bookmark(true);
    wait_for_requests(&f.server, "a new watch per resource", |_| {
        CALICO_RESOURCES
            .iter()
            .zip(watches_before)
            .all(|(r, before)| watches_of(&f.server, *r).len() > before)
    })
    .await;
    for (r, before) in CALICO_RESOURCES.into_iter().zip(lists_before) {
        let watches = watches_of(&f.server, r);
        let last = watches.last().expect("a watch");
        assert_eq!(
            last.param("resourceVersion"),
            Some(now.to_string().as_str()),
            "{r:?} resumed from the bookmark's version"
        );
        assert_eq!(lists_of(&f.server, r), before, "{r:?} was listed again");
    }
    assert_eq!(w.count(is_resyncing), 0, "{:#?}", w.short_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continue_token_expired_between_pages_leads_to_a_fresh_list_from_the_first_page() {
    let mut f = KubernetesFixture::start().await;
    f.config.page_size = 1;
    f.write_topology(&fixtures::seed());
    // Only Nodes (four of them) need a second page. Between the pages,
    // one more write, then the history up to it is compacted away.
    f.server.with_state(|s| {
        s.after_first_page(|s| {
            s.apply(secret_object("kube-system", "unrelated", &[("k", "v")]));
            s.compact();
        })
    });
    let mut w = watch(f.config.clone());
    w.converge(&expected_for(&fixtures::seed()), WITHIN).await;
    // (The other feeds' watches, older than the compaction, resync too.)
    let continuation =
        |e: &SourceEvent| is_resyncing(e) && format!("{e:?}").contains("continuation");
    if !w.log.iter().any(continuation) {
        w.wait_for(
            "a Resyncing status naming the expired continuation",
            WITHIN,
            continuation,
        )
        .await;
    }
    let node_lists: Vec<_> = common::requests_for(&f.server, Resource::Nodes)
        .into_iter()
        .filter(|r| !r.is_watch())
        .collect();
    // Page 1, the expired continuation, then the four pages of a fresh
    // list (kube's watcher lists again from the start, as client-go does).
    assert_eq!(node_lists.len(), 6, "{node_lists:#?}");
    assert!(node_lists[1].param("continue").is_some());
    assert_eq!(node_lists[2].param("continue"), None, "a fresh list");
    assert_eq!(
        node_lists[2].param("limit"),
        Some("1"),
        "paged as configured"
    );
    assert_eq!(w.count(is_snapshot), 1);
}

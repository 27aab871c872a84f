//! Paged lists: `limit` + `continue`, all pages one snapshot at the first
//! page's resourceVersion, and the watch starting from exactly that
//! version so that a change made between two pages still arrives.

mod common;

use std::collections::BTreeMap;

use common::{is_snapshot, requests_for, watch, WITHIN};
use rrd_core::testing::fixtures;
use rrd_core::{Node, SourceEvent};
use rrd_source_kubernetes::testing::{expected_for, objects_for, KubernetesFixture, Resource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paged_and_a_change_between_pages_arrives_through_the_watch() {
    let mut f = KubernetesFixture::start().await;
    f.config.page_size = 2;
    let seed = fixtures::seed();
    f.write_topology(&seed);

    // Between the first and the second page of Nodes: delete one that was
    // on page one, relabel one of page two, add one.
    let mut later = seed.clone();
    later.nodes.remove("kube-master");
    later
        .nodes
        .get_mut("kube-node2")
        .unwrap()
        .labels
        .insert("rack", "r1");
    let mut n = Node::new("kube-node9");
    n.ipv4 = "172.17.42.39".parse().ok();
    later.nodes.insert(n.name.clone(), n);
    let mut objects = objects_for(&later, "kube-system");
    let nodes = objects.remove(&Resource::Nodes).unwrap();
    f.server.with_state(|s| {
        s.after_first_page(move |s| s.set_all(Resource::Nodes, nodes));
    });

    let mut w = watch(f.config.clone());
    let first = w.wait_for("the snapshot", WITHIN, is_snapshot).await;
    let SourceEvent::Snapshot(snapshot) = first else {
        unreachable!()
    };
    assert_eq!(
        snapshot,
        expected_for(&seed),
        "every page belongs to the first page's snapshot"
    );
    w.converge(&expected_for(&later), WITHIN).await;

    let lists: Vec<BTreeMap<String, String>> = requests_for(&f.server, Resource::Nodes)
        .into_iter()
        .filter(|r| !r.is_watch())
        .map(|r| r.query)
        .collect();
    assert_eq!(lists.len(), 2, "four nodes in pages of two: {lists:#?}");
    assert_eq!(lists[0].get("limit").map(String::as_str), Some("2"));
    assert!(!lists[0].contains_key("continue"));
    assert!(lists[1].contains_key("continue"));
}

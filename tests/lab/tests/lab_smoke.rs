//! The lab itself works: two Calico-like clients peering directly learn
//! each other's block into their kernel tables, and everything is cleaned
//! up when the lab is dropped.

use std::process::Command;
use std::time::Duration;

use rrd_lab::calico_client::CalicoClient;
use rrd_lab::Lab;

#[test]
fn two_clients_on_the_lab_bridge_exchange_their_blocks() {
    let mut lab = Lab::new("smk");
    let a = lab.add_host("a", 21);
    let b = lab.add_host("b", 22);
    let ca = CalicoClient::start(&lab, &a, 64512, &[b.ipv4]);
    let cb = CalicoClient::start(&lab, &b, 64512, &[a.ipv4]);
    ca.wait_for_routes(std::slice::from_ref(&cb.block), Duration::from_secs(30));
    cb.wait_for_routes(std::slice::from_ref(&ca.block), Duration::from_secs(30));
    let attrs = ca.route_attributes(&cb.block);
    assert_eq!(
        attrs.next_hop.as_deref(),
        Some("198.51.100.22"),
        "{attrs:?}"
    );
    let id = lab.id.clone();
    drop(ca);
    drop(cb);
    drop(lab);
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&id),
        "namespaces of {id} left behind"
    );
}

//! The core engine conformance suite against a gobgpd that the engine
//! starts itself, inside a private network namespace (root needed).

mod support;

use std::net::Ipv4Addr;

use rrd_core::testing::conformance::{engine_suite, EngineSuiteParams};
use rrd_engine_gobgp::GobgpEngine;
use support::{managed, require_root_and_gobgpd, Logs, NetNs};

#[test]
fn gobgp_engine_passes_the_core_engine_suite() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("suite", &["198.51.100.1/32", "2001:db8::1/128"]);
    let config = managed(logs.path(), "gobgpd", 50051);
    ns.run(move || async move {
        let params = EngineSuiteParams {
            router_id: "198.51.100.1".parse().unwrap(),
            local_v4: "198.51.100.1".parse().unwrap(),
            local_v6: Some("2001:db8::1".parse().unwrap()),
            // Nobody answers there: the namespace has no route to them.
            neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
            neighbors_v6: vec!["2001:db8::2".parse().unwrap()],
        };
        let mut engine = GobgpEngine::new(config);
        engine_suite(&mut engine, &params).await;
        assert_eq!(engine.daemon_pid(), None, "stop(Graceful) must end gobgpd");
    });
    assert!(ns.pids().is_empty(), "processes left in {}", ns.name);
}

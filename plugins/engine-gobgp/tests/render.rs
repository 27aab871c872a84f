//! `rrd render` for GoBGP is gobgpd's own TOML configuration: gobgpd
//! accepts the file (`gobgpd -d -f`), and a gobgpd started with it holds
//! exactly the peers the engine would add over gRPC (ListPeer compared with
//! the engine's specs). Runs gobgpd in a private network namespace.

mod support;

use std::net::Ipv4Addr;
use std::process::Command;

use rrd_core::testing::conformance::{suite_config, EngineSuiteParams};
use rrd_core::{BgpEngine, Secret};
use rrd_engine_gobgp::mapping::{spec_of_peer, Difference};
use rrd_engine_gobgp::{ops, Client, GobgpConfig, GobgpEngine};
use support::{require_root_and_gobgpd, tail, Logs, NetNs};

#[test]
fn rendered_toml_is_accepted_by_gobgpd_and_holds_the_same_peers() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("render", &["198.51.100.1/32", "2001:db8::1/128"]);
    let params = EngineSuiteParams {
        router_id: "198.51.100.1".parse().unwrap(),
        local_v4: "198.51.100.1".parse().unwrap(),
        local_v6: Some("2001:db8::1".parse().unwrap()),
        neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
        neighbors_v6: vec!["2001:db8::2".parse().unwrap()],
    };
    let mut desired = suite_config(&params);
    // A session with settings beyond the defaults: a password, passive, a
    // keepalive, a restart time, allow-own-AS.
    let n = desired.neighbors.values_mut().next().unwrap();
    n.password = Some(Secret::new("s3cret"));
    n.keepalive_time = Some(20);
    n.graceful_restart.restart_time = Some(90);
    n.passive = true;
    n.allow_local_as = Some(2);
    let config = GobgpConfig {
        api: "127.0.0.1:50051".into(),
        ..GobgpConfig::default()
    };
    let engine = GobgpEngine::new(config.clone());
    let text = engine.render(&desired).expect("render");
    let file = logs.path().join("gobgpd.toml");
    std::fs::write(&file, &text).unwrap();

    let dry = Command::new("gobgpd")
        .args(["-d", "-f"])
        .arg(&file)
        .output()
        .expect("gobgpd -d");
    assert!(
        dry.status.success(),
        "gobgpd -d refused the rendered file:\n{}\n{}{text}",
        String::from_utf8_lossy(&dry.stdout),
        String::from_utf8_lossy(&dry.stderr)
    );

    // The engine's own specs, the rendered passwords being redacted.
    let mut want = ops::validate(&desired, &config).expect("validate");
    for spec in want.peers.values_mut() {
        if !spec.password.is_empty() {
            spec.password = rrd_engine_gobgp::render::REDACTED.into();
        }
    }
    let log = logs.path().join("gobgpd.log");
    ns.run(move || async move {
        let out = std::fs::File::create(&log).unwrap();
        let mut child = tokio::process::Command::new("gobgpd")
            .args(["-f"])
            .arg(&file)
            .args(["--api-hosts", "127.0.0.1:50051", "--pprof-disable", "-p"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("start gobgpd");
        let client = Client::new(
            "127.0.0.1:50051",
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        let peers = loop {
            let listed = client.list_peer("", false).await;
            if let Ok(p) = &listed {
                if p.len() == want.peers.len() {
                    break listed.unwrap();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gobgpd started with the rendered file lists {listed:?}\n{}",
                tail(&log, 40)
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let global = client.get_bgp().await.expect("GetBgp");
        assert_eq!(global.asn, want.global.asn);
        assert_eq!(global.router_id, want.global.router_id.to_string());
        for p in &peers {
            let live = spec_of_peer(p).expect("a listed peer");
            let (key, spec) = want
                .peers
                .iter()
                .find(|(_, s)| s.address == live.address)
                .unwrap_or_else(|| panic!("gobgpd holds an unexpected peer {}", live.address));
            assert_eq!(
                spec.difference(&live),
                Difference::None,
                "{key}: the file gives gobgpd\n{live:#?}\nthe engine would add\n{spec:#?}"
            );
        }
        child.kill().await.unwrap();
    });
}

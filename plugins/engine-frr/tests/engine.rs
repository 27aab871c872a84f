//! The FRR engine against a real bgpd (FRR 8.4, `/usr/lib/frr/bgpd`) that
//! the engine runs itself, inside a lab host's network namespace (root
//! needed): the core conformance suite, adoption by a new engine, and a
//! configuration bgpd refuses. Neighbors are addresses of the lab's
//! segment that nobody holds. Each test has its own pathspace and folder;
//! the lab kills whatever is left in the namespace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rrd_core::testing::conformance::{engine_suite, suite_config, EngineSuiteParams};
use rrd_core::{plan, BgpEngine, EngineError, StartMode, StopMode, Ttl};
use rrd_engine_frr::{FrrConfig, FrrEngine};
use rrd_lab::{Host, Lab};

fn require_bgpd() {
    assert!(
        Path::new("/usr/lib/frr/bgpd").exists(),
        "FRR's bgpd not found (apt-get install frr; see scripts/install-deps.sh)"
    );
}

fn params(host: &Host) -> EngineSuiteParams {
    EngineSuiteParams {
        router_id: host.ipv4,
        local_v4: host.ipv4,
        local_v6: Some(host.ipv6),
        neighbors_v4: (10..14).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
        neighbors_v6: vec!["2001:db8::10".parse().unwrap()],
    }
}

/// A managed bgpd in `dir`, pathspace unique to this run and test.
fn managed(dir: &Path, test: &str) -> FrrConfig {
    FrrConfig {
        manage_process: true,
        stop_daemon_on_exit: true,
        log_file: Some(dir.join("bgpd.log")),
        ..FrrConfig::in_dir(dir, &format!("rrd{}{test}", std::process::id()))
    }
}

/// bgpd creates `/run/frr/<pathspace>` for itself: removed after the
/// test, when empty. On a failure, bgpd's log is printed.
struct Pathspace(PathBuf, FrrConfig);

impl Drop for Pathspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
        if std::thread::panicking() {
            eprintln!("--- bgpd log (tail)\n{}", log_tail(&self.1));
        }
    }
}

fn pathspace(config: &FrrConfig) -> Pathspace {
    Pathspace(
        PathBuf::from("/run/frr").join(&config.pathspace),
        config.clone(),
    )
}

fn lab_host(tag: &str) -> (Lab, Host) {
    let mut lab = Lab::new(tag);
    let host = lab.add_host("rr", 1);
    (lab, host)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn log_tail(config: &FrrConfig) -> String {
    let text = config
        .log_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn frr_passes_the_engine_conformance_suite() {
    require_bgpd();
    let (lab, host) = lab_host("frrs");
    let config = managed(lab.dir(), "suite");
    let _ps = pathspace(&config);
    let p = params(&host);
    let c = config.clone();
    host.run_inside(move || {
        runtime().block_on(async move {
            let mut engine = FrrEngine::new(c.clone());
            engine_suite(&mut engine, &p).await;
            assert_eq!(
                engine.daemon_pid(),
                None,
                "stop(Graceful) must end bgpd\n{}",
                log_tail(&c)
            );
        })
    });
}

#[test]
fn a_new_engine_adopts_the_running_bgpd_and_changes_nothing() {
    require_bgpd();
    let (lab, host) = lab_host("frra");
    let mut config = managed(lab.dir(), "adopt");
    config.stop_daemon_on_exit = false;
    let _ps = pathspace(&config);
    let desired = suite_config(&params(&host));
    host.run_inside(move || {
        runtime().block_on(async move {
            let mut first = FrrEngine::new(config.clone());
            first.start(StartMode::Fresh).await.unwrap();
            first
                .apply(&desired, &plan(&desired, None))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&config)));
            let pid = first.daemon_pid().expect("bgpd runs");
            drop(first); // leaves bgpd running

            let mut second = FrrEngine::new(config.clone());
            second.start(StartMode::Fresh).await.unwrap();
            assert_eq!(second.daemon_pid(), Some(pid), "adopted, not restarted");
            let held = second.held().await.unwrap();
            assert_eq!(held.as_ref(), Some(&desired));
            let p = plan(&desired, held.as_ref());
            assert!(p.is_empty(), "{p:?}");
            let report = second.apply(&desired, &p).await.unwrap();
            assert!(!report.changed);
            // A third engine may not manage it while the second does.
            let mut third = FrrEngine::new(config.clone());
            let err = third.start(StartMode::Fresh).await.unwrap_err();
            assert!(err.to_string().contains("locked"), "{err}");
            second.stop(StopMode::Graceful).await.unwrap();
            assert!(second.daemon_pid().is_none());
        })
    });
}

/// A stand-in for bgpd in `dir`: `before` (shell), then the real bgpd
/// with the same arguments and PID.
fn bgpd_after(dir: &Path, name: &str, before: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\n{before}\nexec /usr/lib/frr/bgpd \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_started_bgpd_that_works_past_the_connect_timeout_is_waited_for_and_an_idle_one_is_not() {
    require_bgpd();
    let (lab, host) = lab_host("frrw");
    let desired = suite_config(&params(&host));
    // bgpd opens its vty socket only after reading its whole file: at
    // 2,099 neighbors that took longer than the connect timeout. Here it
    // is a busy loop of 3 s against a timeout of 1 s.
    let mut busy = managed(lab.dir(), "busy");
    busy.connect_timeout = std::time::Duration::from_secs(1);
    busy.binary = bgpd_after(
        lab.dir(),
        "busy-bgpd",
        "end=$(($(date +%s) + 3)); while [ \"$(date +%s)\" -lt \"$end\" ]; do :; done",
    );
    let _busy_ps = pathspace(&busy);
    // The same wait spent asleep: a bgpd that neither answers nor works.
    let mut idle = managed(&lab.dir().join("idle"), "idle");
    idle.connect_timeout = std::time::Duration::from_secs(1);
    idle.binary = bgpd_after(lab.dir(), "idle-bgpd", "sleep 3");
    let _idle_ps = pathspace(&idle);
    host.run_inside(move || {
        runtime().block_on(async move {
            let mut engine = FrrEngine::new(busy.clone());
            engine.start(StartMode::Fresh).await.unwrap();
            let started = std::time::Instant::now();
            engine
                .apply(&desired, &plan(&desired, None))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&busy)));
            assert!(started.elapsed() >= std::time::Duration::from_secs(3));
            assert_eq!(engine.held().await.unwrap().as_ref(), Some(&desired));
            engine.stop(StopMode::Graceful).await.unwrap();

            let mut engine = FrrEngine::new(idle.clone());
            engine.start(StartMode::Fresh).await.unwrap();
            let err = engine
                .apply(&desired, &plan(&desired, None))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("without bgpd using CPU"), "{err}");
            assert!(engine.daemon_pid().is_none(), "the idle bgpd is killed");
        })
    });
}

#[test]
fn a_configuration_bgpd_refuses_is_reported_and_the_old_one_keeps_running() {
    require_bgpd();
    let (lab, host) = lab_host("frrr");
    let config = managed(lab.dir(), "reject");
    let _ps = pathspace(&config);
    let good = suite_config(&params(&host));
    host.run_inside(move || {
        runtime().block_on(async move {
            let mut engine = FrrEngine::new(config.clone());
            engine.start(StartMode::Fresh).await.unwrap();
            let mut bad = good.clone();
            // FRR's TTL security takes 1..254 hops.
            let n = bad.neighbors.values_mut().next().unwrap();
            n.ttl = Ttl::Security(255);
            n.passive = true;
            // The first apply, which would start bgpd, checks its file's
            // shapes: the refused neighbor is one of them.
            let err = engine.apply(&bad, &plan(&bad, None)).await.unwrap_err();
            assert!(matches!(err, EngineError::Rejected { .. }), "{err}");
            assert!(err.to_string().contains("ttl-security hops 255"), "{err}");
            assert!(
                engine.daemon_pid().is_none(),
                "bgpd started with a refused file"
            );
            engine.apply(&good, &plan(&good, None)).await.unwrap();
            let err = engine
                .apply(&bad, &plan(&bad, Some(&good)))
                .await
                .unwrap_err();
            assert!(matches!(err, EngineError::Rejected { .. }), "{err}");
            assert!(err.to_string().contains("ttl-security hops 255"), "{err}");
            assert_eq!(engine.held().await.unwrap().as_ref(), Some(&good));
            // What rrd cannot ask FRR for at all is refused before bgpd.
            let mut two = good.clone();
            let n = two
                .neighbors
                .values_mut()
                .find(|n| n.role.is_client())
                .unwrap();
            n.role = rrd_core::Role::RrClient {
                cluster_id: Some(rrd_core::ClusterId(42)),
            };
            let err = engine
                .apply(&two, &plan(&two, Some(&good)))
                .await
                .unwrap_err();
            assert!(matches!(err, EngineError::Unsupported { .. }), "{err}");
            assert_eq!(engine.held().await.unwrap().as_ref(), Some(&good));
            engine.stop(StopMode::Graceful).await.unwrap();
        })
    });
}

/// `vtysh --vty_socket <socket_dir> -c <command>` inside `host`.
fn vtysh(host: &Host, config: &FrrConfig, command: &str) -> String {
    let out = host
        .command(rrd_lab::bins::vtysh())
        .arg("--vty_socket")
        .arg(&config.socket_dir)
        .args(["-c", command])
        .output()
        .expect("vtysh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Since when the client's BIRD has its session Established (its own
/// clock), if it has.
fn client_since(ctl: &Path) -> Option<String> {
    let protocols = rrd_lab::calico_client::birdc(&rrd_lab::bins::birdc16(), ctl, "show protocols");
    protocols
        .lines()
        .any(|l| l.starts_with("Rr ") && l.contains("Established"))
        .then(|| rrd_lab::calico_client::protocol_since(&protocols, "Rr"))
        .flatten()
}

/// bgpd's JSON about the client 198.51.100.10.
fn client_neighbor(host: &Host, config: &FrrConfig) -> serde_json::Value {
    let text = vtysh(
        host,
        config,
        "show bgp view rrd neighbors 198.51.100.10 json",
    );
    serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()["198.51.100.10"].clone()
}

#[test]
fn a_client_whose_router_id_is_not_its_address_gets_its_own_originator_id_without_a_reset() {
    // The client (BIRD 1.6, router id 198.18.0.10) is the suite's first
    // route-reflector client, 198.51.100.10. rrd renders its ORIGINATOR_ID
    // route map with the address; once bgpd has the client's OPEN, observe
    // must switch the route map to the observed id in place (the session
    // stays up), keep it in router-ids.json, and a new engine must render
    // it again and change nothing.
    require_bgpd();
    let (mut lab, host) = lab_host("frro");
    let client = lab.add_host("c10", 10);
    let mut config = managed(lab.dir(), "origin");
    config.stop_daemon_on_exit = false;
    let _ps = pathspace(&config);
    let desired = suite_config(&params(&host));
    let bird_conf = lab.path("c10.conf");
    std::fs::write(
        &bird_conf,
        format!(
            "router id 198.18.0.10;\n\
             protocol device {{ scan time 2; }}\n\
             protocol bgp Rr {{ local as 64512; neighbor {rr} as 64512; source address {me}; multihop; \
             import all; export none; graceful restart; connect delay time 1; connect retry time 2; }}\n",
            rr = host.ipv4,
            me = client.ipv4,
        ),
    )
    .unwrap();
    let _bird = client.spawn(
        "bird16 c10",
        rrd_lab::bins::bird16(),
        &[
            "-f",
            "-c",
            bird_conf.to_str().unwrap(),
            "-s",
            lab.path("c10.ctl").to_str().unwrap(),
        ],
        lab.path("c10.log"),
    );
    let c = config.clone();
    let d = desired.clone();
    let h = host.clone();
    let ctl = lab.path("c10.ctl");
    let (pid, up_since) = host.run_inside(move || {
        runtime().block_on(async move {
            let mut engine = FrrEngine::new(c.clone());
            engine.start(StartMode::Fresh).await.unwrap();
            engine.apply(&d, &plan(&d, None)).await.unwrap();
            let rendered = engine.render(&d).unwrap();
            assert!(
                rendered.contains("route-map rrd-originator-198.51.100.10 in"),
                "{rendered}"
            );
            // A full look before the session is up: the states-only look
            // below has to read the client again when it comes up.
            let client_of = |o: &rrd_core::Observation| {
                o.sessions
                    .iter()
                    .find(|s| s.address.to_string() == "198.51.100.10")
                    .cloned()
                    .expect("the client's session")
            };
            let first = engine.observe().await.unwrap();
            assert_ne!(
                client_of(&first).state,
                rrd_core::SessionState::Established,
                "up before the first look (BIRD's connect delay is 1 s)"
            );
            // Established with the address as ORIGINATOR_ID (bgpd asked
            // directly: the engine's observe would correct it at once).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let up_since = loop {
                let n = client_neighbor(&h, &c);
                let since = client_since(&ctl);
                if n["bgpState"] == "Established" && since.is_some() {
                    break since;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "not Established: {n:#}\n{}",
                    log_tail(&c)
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            };
            assert!(vtysh(&h, &c, "show running-config")
                .contains("neighbor 198.51.100.10 route-map rrd-originator-198.51.100.10 in"));
            // The states-only look (the summary) sees it come up, reads it
            // in full (its graceful-restart capability) and corrects its
            // ORIGINATOR_ID.
            let o = engine.observe_states().await.unwrap();
            let up = client_of(&o);
            assert_eq!(up.state, rrd_core::SessionState::Established, "{o:?}");
            assert!(
                up.peer_graceful_restart.contains(&rrd_core::Family::Ipv4),
                "{o:?}"
            );
            assert_eq!(
                up.peer_router_id,
                Some(std::net::Ipv4Addr::new(198, 18, 0, 10)),
                "{o:?}"
            );
            assert!(
                engine
                    .render(&d)
                    .unwrap()
                    .contains("route-map rrd-originator-198.18.0.10 in"),
                "observe_states did not learn the client's router id\n{}",
                log_tail(&c)
            );
            (engine.daemon_pid().expect("bgpd runs"), up_since)
        })
    });
    let running = vtysh(&host, &config, "show running-config");
    assert!(
        running.contains("neighbor 198.51.100.10 route-map rrd-originator-198.18.0.10 in")
            && running.contains(" set originator-id 198.18.0.10")
            && !running.contains("rrd-originator-198.51.100.10"),
        "{running}"
    );
    let learned = std::fs::read_to_string(config.router_ids_path()).unwrap();
    assert!(learned.contains("198.18.0.10"), "{learned}");
    let n = client_neighbor(&host, &config);
    assert_eq!(n["bgpState"], "Established", "the session was reset: {n:#}");
    assert_eq!(
        client_since(&lab.path("c10.ctl")),
        up_since,
        "the client's session was reset: {n:#}"
    );
    assert_eq!(n["connectionsDropped"], 0, "the session was reset: {n:#}");

    // A new engine (an rrd restart) keeps the learned id.
    let c = config.clone();
    host.run_inside(move || {
        runtime().block_on(async move {
            let mut second = FrrEngine::new(c.clone());
            second.start(StartMode::Fresh).await.unwrap();
            assert_eq!(second.daemon_pid(), Some(pid), "adopted");
            let held = second.held().await.unwrap();
            assert_eq!(held.as_ref(), Some(&desired));
            assert!(plan(&desired, held.as_ref()).is_empty());
            assert!(second
                .render(&desired)
                .unwrap()
                .contains("route-map rrd-originator-198.18.0.10 in"));
            second.stop(StopMode::Graceful).await.unwrap();
        })
    });
}

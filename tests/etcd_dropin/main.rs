//! Scenario: rrd as a drop-in for the calico/routereflector image, against
//! a real etcd (issue 3).
//!
//! The seed's keys are written the way the seed wrote them (calicoctl's
//! keys, then the README's `curl -XPUT .../rr_v4/<ip>`), through the v2 API
//! and through the v3 API; rrd runs with the image's environment variables
//! only (`IP`, `ETCD_AUTHORITY`), starts BIRD 2 itself, and three Calico-like
//! clients in network namespaces learn each other's blocks through it.
//! Measured: how long after a node's keys are written its RR session is
//! configured (20 tries, p50 and max). Also: etcd stopped for 30 s changes
//! nothing; rrd started before etcd waits and applies nothing.

mod discovery;
mod seed;

use std::time::{Duration, Instant};

use seed::{Api, SeedLab};

fn replayed_seed_drives_bird_and_survives_an_etcd_outage(api: Api) {
    let mut s = SeedLab::new(api);
    s.write_seed();
    s.start_rrd();
    s.wait_ready(Duration::from_secs(30));
    s.start_clients();
    s.check_reflection();

    // A node registered afterwards gets its RR session: measured.
    let mut latencies = Vec::new();
    for i in 0..20u8 {
        let node = format!("late{i}");
        let ip = format!("198.51.100.{}", 101 + i);
        let session = format!("Global_198_51_100_{}", 101 + i);
        let t0 = Instant::now();
        s.put(&format!("/calico/bgp/v1/host/{node}/ip_addr_v4"), &ip);
        rrd_lab::poll::until_fast(
            &format!("session {session} configured"),
            Duration::from_secs(10),
            || {
                if s.rr_protocols().contains_key(&session) {
                    Ok(())
                } else {
                    Err(format!("{:?}", s.rr_protocols()))
                }
            },
        );
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    eprintln!(
        "MEASURED etcd {api:?}: node keys written -> RR session configured in BIRD, 20 tries: p50 {} ms, max {} ms (all: {:?} ms)",
        latencies[latencies.len() / 2].as_millis(),
        latencies[latencies.len() - 1].as_millis(),
        latencies.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );

    // rrd's one loop task counts the apply before it observes the result:
    // once its status lists the last session, the count is final (BIRD
    // shows the protocol a little before rrd's apply returns).
    rrd_lab::poll::until_fast(
        "rrd observed the last session",
        Duration::from_secs(10),
        || {
            let st = s.status();
            let listed = st["sessions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["key"] == "Global_198_51_100_120"));
            if listed {
                Ok(())
            } else {
                Err(format!("{:#}", st["sessions"]))
            }
        },
    );

    // etcd stopped for 30 s: sessions stay up, rrd changes nothing.
    let since = s.rr_protocols();
    let conf = s.bird_conf();
    let changed = s.status()["applies"]["changed"].as_u64();
    s.etcd.stop();
    let outage = Instant::now();
    rrd_lab::poll::until(
        "rrd to notice etcd is gone",
        Duration::from_secs(20),
        || {
            let st = s.status();
            if st["source"]["connected"] == false {
                Ok(())
            } else {
                Err(format!("{:#}", st["source"]))
            }
        },
    );
    while outage.elapsed() < Duration::from_secs(30) {
        assert_eq!(
            s.bird_conf(),
            conf,
            "BIRD's config changed while etcd was down"
        );
        assert_eq!(s.rr_protocols().len(), since.len());
        s.assert_clients_hold_all_routes();
        std::thread::sleep(Duration::from_secs(1));
    }
    let st = s.status();
    assert_eq!(
        st["applies"]["changed"].as_u64(),
        changed,
        "rrd changed the engine during the outage"
    );
    assert!(st["source"]["last_error"].is_string());
    s.etcd.resume();
    s.wait_ready(Duration::from_secs(60));
    assert_eq!(s.bird_conf(), conf);
    assert_eq!(s.status()["applies"]["changed"].as_u64(), changed);
    rrd_lab::since::assert_not_restarted(&since, &s.rr_protocols(), "after the outage");
    s.assert_clients_hold_all_routes();
}

#[test]
fn seed_replayed_through_etcd_v2_drives_bird_and_survives_an_etcd_outage() {
    replayed_seed_drives_bird_and_survives_an_etcd_outage(Api::V2);
}

#[test]
fn seed_replayed_through_etcd_v3_drives_bird_and_survives_an_etcd_outage() {
    replayed_seed_drives_bird_and_survives_an_etcd_outage(Api::V3);
}

#[test]
fn rrd_started_before_etcd_waits_and_applies_nothing() {
    let mut s = SeedLab::new(Api::V3);
    s.write_seed();
    s.etcd.stop();
    s.start_rrd();
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(5) {
        let st = s.status();
        assert_ne!(
            st["source"]["synced"], true,
            "rrd claims a read while etcd is down"
        );
        assert!(
            !s.bird_conf_path().exists(),
            "rrd wrote a BIRD config before reading etcd"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    s.etcd.resume();
    s.wait_ready(Duration::from_secs(60));
    assert_eq!(s.rr_protocols().len(), 3, "{:?}", s.rr_protocols());
}

#[test]
fn drop_in_render_of_the_seeds_keys_gives_the_seeds_rr_protocols() {
    for api in [Api::V2, Api::V3] {
        let s = SeedLab::new(api);
        // The seed's own addresses: only rendered, never contacted.
        for (name, ip) in [
            ("kube-master", "172.17.42.30"),
            ("kube-node1", "172.17.42.31"),
            ("kube-node2", "172.17.42.32"),
        ] {
            s.put(&format!("/calico/bgp/v1/host/{name}/ip_addr_v4"), ip);
        }
        s.put("/calico/bgp/v1/global/node_mesh", r#"{"enabled":false}"#);
        s.put(
            "/calico/bgp/v1/global/peer_v4/172.17.42.40",
            r#"{"ip":"172.17.42.40","as_num":"65100"}"#,
        );
        s.put(
            "/calico/bgp/v1/rr_v4/172.17.42.40",
            r#"{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}"#,
        );
        let rendered = s.render_as("172.17.42.40");
        for n in 30..=32 {
            let block = format!(
                "protocol bgp Global_172_17_42_{n} from bgp_template {{\n  local as 65100;\n  neighbor 172.17.42.{n} as 65100;\n  rr client;\n  rr cluster id 1.0.0.1;\n}}\n"
            );
            assert!(
                rendered.contains(&block),
                "{api:?}: missing\n{block}\nin\n{rendered}"
            );
        }
        assert!(rendered.contains("router id 172.17.42.40;"), "{rendered}");
        assert!(
            rendered.contains("source address 172.17.42.40;"),
            "{rendered}"
        );
    }
}

#[test]
fn admin_commands_write_the_keys_the_seed_wrote_and_refuse_nonsense() {
    for api in [Api::V2, Api::V3] {
        let s = SeedLab::new(api);
        let ok = |args: &[&str]| {
            let out = s.dropin(args, "198.51.100.10");
            assert!(
                out.status.success(),
                "rrd {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        ok(&["rr", "add", "198.51.100.10", "--cluster-id", "1.0.0.1"]);
        ok(&["peer", "add", "198.51.100.10", "--as", "65100"]);
        ok(&["node-mesh", "off"]);
        assert_eq!(
            s.get("/calico/bgp/v1/rr_v4/198.51.100.10").as_deref(),
            Some(r#"{"ip":"198.51.100.10","cluster_id":"1.0.0.1"}"#)
        );
        assert_eq!(
            s.get("/calico/bgp/v1/global/peer_v4/198.51.100.10")
                .as_deref(),
            Some(r#"{"ip":"198.51.100.10","as_num":"65100"}"#)
        );
        assert_eq!(
            s.get("/calico/bgp/v1/global/node_mesh").as_deref(),
            Some(r#"{"enabled":false}"#)
        );
        assert!(ok(&["rr", "list"]).contains("1.0.0.1"));
        for (args, named) in [
            (&["rr", "add", "198.51.100.300"][..], "198.51.100.300"),
            (
                &["rr", "add", "198.51.100.11", "--cluster-id", "1.0.0"][..],
                "1.0.0",
            ),
            (&["peer", "add", "198.51.100.10", "--as", "abc"][..], "abc"),
        ] {
            let out = s.dropin(args, "198.51.100.10");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains(named),
                "rrd {args:?} should fail naming {named}: {err}"
            );
        }
        assert_eq!(
            s.get("/calico/bgp/v1/rr_v4/198.51.100.11"),
            None,
            "a refused command wrote a key"
        );
    }
}

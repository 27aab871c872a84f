//! Bad input on the real binary: each test backs one row of
//! docs/bad-input.md (what rrd says and does for each kind of bad input).

use super::*;

impl Setup {
    fn write_topology(&self, text: &str) {
        std::fs::write(self.dir.path().join("topology.toml"), text).expect("write topology");
    }
}

#[test]
fn cluster_id_zero_in_the_topology_file_is_refused_naming_value_and_key() {
    let s = Setup::new("");
    for zero in ["\"0.0.0.0\"", "\"0\"", "0"] {
        s.write_topology(&format!(
            "rules = \"legacy\"\n[[route_reflectors]]\nip = \"198.51.100.10\"\ncluster_id = {zero}\n"
        ));
        let out = s.run(&["check"]);
        let all = stdout(&out) + &stderr(&out);
        assert_eq!(out.status.code(), Some(1), "cluster_id = {zero}: {all}");
        assert!(all.contains("not a usable cluster id"), "{all}");
        assert!(all.contains("cluster_id"), "{all}");
        assert!(all.contains(zero.trim_matches('"')), "{all}");
    }
}

#[test]
fn rr_add_refuses_cluster_id_zero_before_touching_the_datastore() {
    // No datastore answers at this endpoint: a refusal that names the
    // argument comes from the validation, not from a failed write.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rrd.toml");
    std::fs::write(
        &config,
        "[identity]\nipv4 = \"198.51.100.10\"\n[source]\nkind = \"etcd\"\n\
         [source.etcd]\nendpoints = [\"http://127.0.0.1:9\"]\ndial_timeout = \"1s\"\n[engine]\nkind = \"bird\"\n",
    )
    .expect("write rrd.toml");
    let out = rrd()
        .arg("--config")
        .arg(&config)
        .args(["rr", "add", "198.51.100.10", "--cluster-id", "0"])
        .output()
        .expect("run rrd");
    let all = stdout(&out) + &stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("--cluster-id \"0\""), "{all}");
    assert!(all.contains("0.0.0.0 is no cluster id"), "{all}");
}

#[test]
fn check_refuses_an_empty_or_deeply_nested_topology_file_naming_file_and_limit() {
    let s = Setup::new("");
    let depth = 100_000;
    for (text, says) in [
        (String::new(), "empty topology (0 bytes"),
        (
            format!("nodes = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
            "nested more than 64 levels deep at line 1",
        ),
    ] {
        s.write_topology(&text);
        let out = s.run(&["check"]);
        let all = stdout(&out) + &stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(all.contains(says), "{all}");
        assert!(all.contains("topology.toml"), "{all}");
    }
}

#[test]
fn a_second_rrd_run_on_a_managed_daemon_exits_naming_the_locked_pid_file() {
    let s = Setup::new("");
    // A first rrd manages BIRD: it holds the lock on the PID file. (The
    // lock alone says so; no BIRD needs to run for the second to refuse.)
    s.write_config("manage_process = true\n");
    let text = std::fs::read_to_string(s.config()).expect("read rrd.toml");
    // manage_process belongs to [engine.bird]: move it there.
    let text = text
        .replace("manage_process = true\n", "")
        .replace("[engine.bird]\n", "[engine.bird]\nmanage_process = true\n");
    std::fs::write(s.config(), text).expect("write rrd.toml");
    let pid_file = s.dir.path().join("bird.conf.rrd.pid");
    let file = std::fs::File::create(&pid_file).expect("create pid file");
    let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .expect("lock the pid file");

    let mut run = s.spawn_run();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = run.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "a second rrd still runs after 20 s:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = run.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("another rrd already manages this"), "{log}");
    assert!(log.contains(&pid_file.display().to_string()), "{log}");
}

//! The systemd unit.

use std::process::Command;

use super::read;

#[test]
fn the_unit_passes_systemd_analyze_verify_with_the_built_binary() {
    let unit = read("packaging/systemd/rrd.service");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rrd.service");
    // The unit as shipped, with the binary this build made at /usr/bin/rrd's place.
    std::fs::write(
        &path,
        unit.replace("/usr/bin/rrd", env!("CARGO_BIN_EXE_rrd")),
    )
    .unwrap();
    let out = Command::new(rrd_lab::bins::systemd_analyze())
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warns: {said}"
    );
}

fn setting<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_unit_leaves_the_bgp_daemon_running_and_restarts_rrd() {
    let unit = read("packaging/systemd/rrd.service");
    assert_eq!(
        setting(&unit, "KillMode"),
        ["process"],
        "BIRD must outlive rrd"
    );
    assert_eq!(setting(&unit, "Restart"), ["on-failure"]);
    assert_eq!(
        setting(&unit, "RuntimeDirectoryPreserve"),
        ["yes"],
        "BIRD's socket lives in /run/rrd"
    );
    let exec = setting(&unit, "ExecStart");
    assert_eq!(exec, ["/usr/bin/rrd run --config /etc/rrd/rrd.toml"]);
    // BIRD binds port 179 and sets socket options on its BGP sockets.
    let caps = setting(&unit, "CapabilityBoundingSet").join(" ");
    for cap in ["CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"] {
        assert!(caps.contains(cap), "{cap} missing: {caps}");
    }
    // Where rrd and BIRD write under ProtectSystem=strict.
    let writable = setting(&unit, "ReadWritePaths").join(" ");
    let debian = read("packaging/debian/rrd.toml");
    let config: toml::Value = toml::from_str(&debian).unwrap();
    for key in ["config_path", "socket"] {
        let path = config["engine"]["bird"][key].as_str().unwrap();
        assert!(
            writable.split_whitespace().any(|w| path.starts_with(w)),
            "engine.bird.{key} = {path} is not writable under the unit ({writable})"
        );
    }
    let admin = config["http"]["admin_socket"].as_str().unwrap();
    assert!(writable.split_whitespace().any(|w| admin.starts_with(w)));
}

//! Paths of the real daemons the labs run. `scripts/install-deps.sh`
//! installs them; a missing binary fails the test with that hint.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-deps.sh (as root) first",
        path.display()
    );
    path
}

/// BIRD 2 (`bird2` package).
pub fn bird2() -> PathBuf {
    require(PathBuf::from("/usr/sbin/bird"))
}

pub fn birdc2() -> PathBuf {
    require(PathBuf::from("/usr/sbin/birdc"))
}

/// The folder holding BIRD 1.6's `bird`, `bird6`, `birdc`, `birdc6`:
/// `$RRD_BIRD16_SBIN`, or `.deps/bird16/usr/sbin` in the workspace.
pub fn bird16_sbin() -> PathBuf {
    std::env::var_os("RRD_BIRD16_SBIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".deps/bird16/usr/sbin"))
}

pub fn bird16() -> PathBuf {
    require(bird16_sbin().join("bird"))
}

pub fn bird16_v6() -> PathBuf {
    require(bird16_sbin().join("bird6"))
}

pub fn birdc16() -> PathBuf {
    require(bird16_sbin().join("birdc"))
}

pub fn gobgpd() -> PathBuf {
    require(PathBuf::from("/usr/bin/gobgpd"))
}

pub fn gobgp() -> PathBuf {
    require(PathBuf::from("/usr/bin/gobgp"))
}

pub fn etcd() -> PathBuf {
    require(PathBuf::from("/usr/bin/etcd"))
}

/// FRR's bgpd (`frr` package), run alone: `-Z` (no zebra).
pub fn bgpd() -> PathBuf {
    require(PathBuf::from("/usr/lib/frr/bgpd"))
}

pub fn vtysh() -> PathBuf {
    require(PathBuf::from("/usr/bin/vtysh"))
}

/// The folder bgpd makes for pathspace `name` (`-N name`); labs remove it.
pub fn frr_pathspace_dir(name: &str) -> PathBuf {
    PathBuf::from("/run/frr").join(name)
}

/// Prometheus' `promtool` (`check metrics`, `test rules`): `promtool` on
/// the PATH, else unpacked from the `prometheus` package into
/// `.deps/prometheus` (without installing, and so starting, a Prometheus
/// server).
pub fn promtool() -> PathBuf {
    let unpacked = workspace_root().join(".deps/prometheus/usr/bin/promtool");
    if unpacked.exists() {
        return unpacked;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("promtool"))
        .find(|p| p.exists());
    require(on_path.unwrap_or(unpacked))
}

/// `systemd-analyze` (`systemd` package).
pub fn systemd_analyze() -> PathBuf {
    require(PathBuf::from("/usr/bin/systemd-analyze"))
}

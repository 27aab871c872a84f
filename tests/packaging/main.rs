//! Packaging checks (packaging/): cheap, no daemons, run with the suite.
//!
//! * the systemd unit passes `systemd-analyze verify` (with the built
//!   binary standing in for /usr/bin/rrd) and keeps what rrd needs;
//! * every Kubernetes manifest parses with the API's own types
//!   (k8s-openapi), unknown fields refused, and the pieces fit together;
//! * the alert rules pass `promtool test rules`;
//! * every query of the alert rules and the Grafana dashboard names only
//!   series rrd exports.

mod dashboard;
mod kubernetes;
mod systemd;

use std::path::{Path, PathBuf};

/// A file of the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

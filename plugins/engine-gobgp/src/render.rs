//! `rrd render` for GoBGP: the desired config as gobgpd's own TOML
//! configuration file (`gobgpd -f FILE`), the form a GoBGP user reads.
//!
//! rrd itself never writes this file: it drives gobgpd over gRPC. The file
//! is rendered from the same validated specs ([`crate::ops::validate`]) that
//! the AddPeer messages are built from, with GoBGP's defaults written out as
//! the engine sends them, so that a gobgpd started with it holds the same
//! peers (`gobgpd -d -f FILE` accepts it; the crate's tests start gobgpd
//! with it and compare ListPeer with the specs). Passwords are redacted.
//! Keys are gobgpd's (`internal/pkg/config/bgp_configs.go` in 3.x).

use std::fmt::Write as _;

use crate::mapping::{GlobalSpec, PeerSpec, DEFAULT_CONNECT_RETRY, DEFAULT_IDLE_HOLD};
use crate::ops::Validated;

/// What stands in for a password in the rendered file.
pub const REDACTED: &str = "<redacted>";

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn afi_safi_name(pair: (i32, i32)) -> &'static str {
    match pair {
        (2, 1) => "ipv6-unicast",
        _ => "ipv4-unicast",
    }
}

fn global(out: &mut String, g: &GlobalSpec) {
    let _ = writeln!(out, "[global.config]");
    let _ = writeln!(out, "  as = {}", g.asn);
    let _ = writeln!(out, "  router-id = {}", quoted(&g.router_id.to_string()));
    let _ = writeln!(out, "  port = {}", g.listen_port);
    let specific: Vec<String> = g
        .listen_addresses
        .iter()
        .filter(|a| !a.is_unspecified())
        .map(|a| quoted(&a.to_string()))
        .collect();
    if !specific.is_empty() {
        let _ = writeln!(out, "  local-address-list = [{}]", specific.join(", "));
    }
}

fn neighbor(out: &mut String, key: &str, s: &PeerSpec) {
    let _ = writeln!(out, "\n# {key}\n[[neighbors]]");
    let _ = writeln!(out, "  [neighbors.config]");
    let _ = writeln!(
        out,
        "    neighbor-address = {}",
        quoted(&s.address.to_string())
    );
    let _ = writeln!(out, "    peer-as = {}", s.peer_asn);
    let _ = writeln!(out, "    local-as = {}", s.local_asn);
    let _ = writeln!(out, "    description = {}", quoted(&s.description));
    if !s.password.is_empty() {
        let _ = writeln!(out, "    auth-password = {}", quoted(REDACTED));
    }
    let _ = writeln!(out, "  [neighbors.transport.config]");
    if let Some(local) = s.local_address {
        let _ = writeln!(out, "    local-address = {}", quoted(&local.to_string()));
    }
    let _ = writeln!(out, "    remote-port = {}", s.remote_port);
    let _ = writeln!(out, "    passive-mode = {}", s.passive);
    let _ = writeln!(out, "  [neighbors.timers.config]");
    let _ = writeln!(out, "    hold-time = {}", s.hold_time());
    let _ = writeln!(out, "    keepalive-interval = {}", s.keepalive);
    let _ = writeln!(out, "    connect-retry = {DEFAULT_CONNECT_RETRY}");
    let _ = writeln!(out, "    idle-hold-time-after-reset = {DEFAULT_IDLE_HOLD}");
    if s.rr_client {
        let _ = writeln!(out, "  [neighbors.route-reflector.config]");
        let _ = writeln!(out, "    route-reflector-client = true");
        if let Some(c) = s.cluster_id {
            let _ = writeln!(
                out,
                "    route-reflector-cluster-id = {}",
                quoted(&c.to_string())
            );
        }
    }
    if let Some(ttl) = s.multihop {
        let _ = writeln!(out, "  [neighbors.ebgp-multihop.config]");
        let _ = writeln!(out, "    enabled = true");
        let _ = writeln!(out, "    multihop-ttl = {ttl}");
    }
    if let Some(min) = s.ttl_min {
        let _ = writeln!(out, "  [neighbors.ttl-security.config]");
        let _ = writeln!(out, "    enabled = true");
        let _ = writeln!(out, "    ttl-min = {min}");
    }
    if s.allow_own_asn > 0 {
        let _ = writeln!(out, "  [neighbors.as-path-options.config]");
        let _ = writeln!(out, "    allow-own-as = {}", s.allow_own_asn);
    }
    if s.gr_enabled {
        let _ = writeln!(out, "  [neighbors.graceful-restart.config]");
        let _ = writeln!(out, "    enabled = true");
        let _ = writeln!(out, "    restart-time = {}", s.restart_time);
        let _ = writeln!(out, "    deferral-time = {}", s.deferral_time);
    }
    for pair in &s.families {
        let _ = writeln!(out, "  [[neighbors.afi-safis]]");
        let _ = writeln!(out, "    [neighbors.afi-safis.config]");
        let _ = writeln!(
            out,
            "      afi-safi-name = {}",
            quoted(afi_safi_name(*pair))
        );
        if s.mp_graceful_restart.contains(pair) {
            let _ = writeln!(out, "    [neighbors.afi-safis.mp-graceful-restart.config]");
            let _ = writeln!(out, "      enabled = true");
        }
    }
}

/// The gobgpd TOML file for a validated config; `api` names where rrd
/// reaches gobgpd (a comment).
pub fn gobgpd_toml(v: &Validated, api: &str) -> String {
    let mut out = format!(
        "# gobgpd configuration (gobgpd -f FILE) holding the peers rrd gives gobgpd at {api} over gRPC.\n# {} peers; passwords are shown as {REDACTED}.\n",
        v.peers.len()
    );
    global(&mut out, &v.global);
    for (key, spec) in &v.peers {
        neighbor(&mut out, &key.0, spec);
    }
    out
}

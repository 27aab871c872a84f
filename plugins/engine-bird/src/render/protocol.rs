//! The blocks of a BIRD configuration that depend on the sessions: the
//! `bgp_template`s and one `protocol bgp` per neighbor, in the two dialects.
//!
//! BIRD 2 puts import/export and next-hop handling in an `ipv4 { }` or
//! `ipv6 { }` channel; BIRD 1.6 has them directly in the protocol.

use std::fmt::Write as _;
use std::net::IpAddr;

use rrd_core::{Family, Neighbor, NextHop, PeerKey, RrConfig, RuleSet, SessionKind, Ttl};

use super::RenderOptions;
use crate::config::BirdVersion;

/// The RR's own address on `family`: the templates' source address.
pub(super) fn router_address(config: &RrConfig, family: Family) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => config.router.ipv4.map(IpAddr::V4),
        Family::Ipv6 => config.router.ipv6.map(IpAddr::V6),
    }
}

fn template_name(version: BirdVersion, family: Family, no_source: bool) -> &'static str {
    match (version, family, no_source) {
        (BirdVersion::V2, Family::Ipv6, false) => "bgp_template_v6",
        (BirdVersion::V2, Family::Ipv6, true) => "bgp_template_v6_nosrc",
        (_, _, false) => "bgp_template",
        (_, _, true) => "bgp_template_nosrc",
    }
}

/// A session without a source address cannot inherit the RR's address
/// from the main template (BIRD has no "unset"): it uses a second template.
fn uses_nosrc_template(config: &RrConfig, n: &Neighbor) -> bool {
    n.source_address.is_none() && router_address(config, n.family()).is_some()
}

/// Whether the protocol spells out `local as`; otherwise it inherits the
/// router's AS from its template.
fn protocol_has_local_as(config: &RrConfig, n: &Neighbor) -> bool {
    n.local_as_explicit || n.local_as != config.router.local_as
}

/// The template(s) for `family`: the main one always, the source-less one
/// only when a session needs it.
pub(super) fn templates(config: &RrConfig, options: &RenderOptions, family: Family) -> Vec<String> {
    let sessions: Vec<&Neighbor> = config.neighbors_of(family).map(|(_, n)| n).collect();
    let mut out = Vec::new();
    for no_source in [false, true] {
        let members: Vec<&&Neighbor> = sessions
            .iter()
            .filter(|n| uses_nosrc_template(config, n) == no_source)
            .collect();
        if no_source && members.is_empty() {
            continue;
        }
        let local_as = members
            .iter()
            .any(|n| !protocol_has_local_as(config, n))
            .then_some(config.router.local_as);
        let source = if no_source {
            None
        } else {
            router_address(config, family)
        };
        out.push(template(
            config, options, family, no_source, source, local_as,
        ));
    }
    out
}

fn template(
    config: &RrConfig,
    options: &RenderOptions,
    family: Family,
    no_source: bool,
    source: Option<IpAddr>,
    local_as: Option<rrd_core::Asn>,
) -> String {
    let v2 = options.version == BirdVersion::V2;
    let mut t = String::new();
    let title = match (no_source, v2 && family == Family::Ipv6) {
        (false, false) => "Template for all BGP clients",
        (false, true) => "Template for all BGP clients over IPv6",
        (true, _) => "Template for sessions without a fixed source address",
    };
    let name = template_name(options.version, family, no_source);
    let _ = writeln!(t, "# {title}\ntemplate bgp {name} {{");
    let _ = writeln!(t, "  debug {};", options.debug.trim());
    t.push_str("  description \"Connection to BGP peer\";\n");
    if let Some(asn) = local_as {
        let _ = writeln!(t, "  local as {asn};");
    }
    t.push_str("  multihop;\n");
    let (indent, channel_open) = if v2 {
        ("  ", format!("  {family} {{\n"))
    } else {
        ("", String::new())
    };
    t.push_str(&channel_open);
    let _ = writeln!(
        t,
        "{indent}  import all;        # Import all routes, since we don't know what the upstream\n\
         {indent}                     # topology is and therefore have to trust the ToR/RR.\n\
         {indent}  export all;        # Export all."
    );
    if v2 {
        t.push_str("  };\n");
    }
    if let Some(src) = source {
        let _ = writeln!(
            t,
            "  source address {src};  # The local address we use for the TCP connection"
        );
        if v2 && options.strict_bind {
            t.push_str("  strict bind on;   # Listen on the source address only\n");
        }
    }
    if v2 {
        if let Some(port) = config.router.listen_port {
            let _ = writeln!(t, "  local port {port};   # Listen on this port");
        }
    }
    t.push_str("  graceful restart;  # Advertise graceful restart; help peers that restart.\n}\n");
    t
}

/// BIRD route preference of RR-to-RR mesh sessions (legacy rules), below
/// the default 100 of client sessions: an RR prefers the copy of a route
/// that its own client sent over a copy that came back through the mesh.
///
/// BIRD alone would not need it (a reflected copy carries a longer
/// CLUSTER_LIST, or this RR's own cluster id and is dropped), but GoBGP 3.x
/// adds ORIGINATOR_ID and CLUSTER_LIST only toward its RR clients: its mesh
/// copy of a client route looks like a fresh route, can win on router id,
/// and the BIRD RR would then stop advertising its client's route into the
/// mesh. Seen in mixed BIRD/GoBGP racks (tests/mixed_racks).
pub(super) const MESH_PREFERENCE: u32 = 90;

fn mesh_preference(config: &RrConfig, n: &Neighbor) -> Option<u32> {
    let rr_mesh = config.router.rules == RuleSet::Legacy
        && n.kind == SessionKind::Mesh
        && !n.role.is_client();
    rr_mesh.then_some(MESH_PREFERENCE)
}

/// `protocol bgp <key> from <template> { ... }` with the lines where this
/// session differs from its template, in the seed's order.
pub(super) fn protocol(
    config: &RrConfig,
    options: &RenderOptions,
    key: &PeerKey,
    n: &Neighbor,
) -> String {
    let v2 = options.version == BirdVersion::V2;
    let family = n.family();
    let mut p = String::new();
    match (&n.peer_node, n.kind) {
        (Some(node), _) => {
            let printable: String = node
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            let _ = writeln!(p, "# Peering with Calico node {printable}");
        }
        (None, SessionKind::Mesh) => {
            let _ = writeln!(p, "# For RR {}", n.address);
        }
        (None, _) => {}
    }
    let template = template_name(options.version, family, uses_nosrc_template(config, n));
    let _ = writeln!(p, "protocol bgp {key} from {template} {{");
    if protocol_has_local_as(config, n) {
        let _ = writeln!(p, "  local as {};", n.local_as);
    }
    match n.port {
        Some(port) => {
            let _ = writeln!(
                p,
                "  neighbor {} port {port} as {};",
                n.address, n.remote_as
            );
        }
        None => {
            let _ = writeln!(p, "  neighbor {} as {};", n.address, n.remote_as);
        }
    }
    if let Some(src) = n.source_address {
        if Some(src) != router_address(config, family) {
            let _ = writeln!(p, "  source address {src};");
        }
    }
    match n.ttl {
        // The template's plain `multihop;`.
        Ttl::Multihop(None) => {}
        Ttl::Multihop(Some(hops)) => {
            let _ = writeln!(p, "  multihop {hops};");
        }
        Ttl::Security(hops) => {
            let _ = writeln!(p, "  ttl security on;\n  multihop {hops};");
        }
    }
    if n.passive {
        p.push_str("  passive on;\n");
    }
    if let Some(password) = &n.password {
        let _ = writeln!(p, "  password \"{}\";", password.expose());
    }
    if !n.graceful_restart.enabled {
        p.push_str("  graceful restart off;\n");
    } else if let Some(secs) = n.graceful_restart.restart_time {
        let _ = writeln!(p, "  graceful restart time {secs};");
    }
    if let Some(secs) = n.keepalive_time {
        let _ = writeln!(p, "  keepalive time {secs};");
    }
    if let Some(count) = n.allow_local_as {
        let _ = writeln!(p, "  allow local as {count};");
    }
    let next_hop = match n.next_hop {
        NextHop::Auto => None,
        NextHop::SetSelf => Some("next hop self;"),
        NextHop::Keep => Some("next hop keep;"),
    };
    let preference = mesh_preference(config, n).map(|pref| format!("preference {pref};"));
    if v2 {
        let channel: Vec<&str> = next_hop.into_iter().chain(preference.as_deref()).collect();
        if !channel.is_empty() {
            let _ = writeln!(p, "  {family} {{ {} }};", channel.join(" "));
        }
        for extra in n.families.iter().filter(|f| **f != family) {
            let nh = next_hop.map(|s| format!(" {s}")).unwrap_or_default();
            let _ = writeln!(p, "  {extra} {{ import all; export all;{nh} }};");
        }
    } else {
        for option in next_hop.into_iter().chain(preference.as_deref()) {
            let _ = writeln!(p, "  {option}");
        }
    }
    if n.role.is_client() {
        p.push_str("  rr client;\n");
        if let Some(id) = n.role.cluster_id() {
            let _ = writeln!(p, "  rr cluster id {id};");
        }
    }
    p.push_str("}\n");
    p
}

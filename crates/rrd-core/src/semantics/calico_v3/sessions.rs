//! From peerings (and the node-to-node mesh) to [`Neighbor`]s of one
//! address family: rules 3 and 4 of the module header. This is where
//! confd's template decisions live: AS numbers, the RR client flag,
//! passive mode, TTL security, next hop, password, timers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::peerings::{NextHopPolicy, Peering, Peerings};
use super::{About, Ctx, Diagnostic, Tagged};
use crate::model::{
    session_name, Family, GracefulRestart, Neighbor, NextHop, PeerKey, Role, Secret, SecretRef,
    SessionKind, SourceAddress, Ttl,
};

/// Add this family's sessions to `out`: mesh, then global, then
/// node-specific peerings.
pub(super) fn build(
    ctx: &Ctx<'_>,
    peerings: &Peerings<'_>,
    family: Family,
    out: &mut BTreeMap<PeerKey, Neighbor>,
    diagnostics: &mut Tagged,
) {
    let Some(me) = ctx.local.address(family) else {
        return;
    };
    mesh(ctx, family, me, out, diagnostics);
    for (kind, map) in [
        (SessionKind::Global, &peerings.global),
        (SessionKind::Node, &peerings.node),
    ] {
        for p in map.values() {
            if Family::of(&p.addr) != family || p.addr == me {
                continue; // other family, or ourselves
            }
            let neighbor = from_peering(ctx, kind, me, p, diagnostics);
            let key = session_name(kind, p.addr, p.port);
            insert(out, key, neighbor, diagnostics);
        }
    }
}

/// Rule 3: the node-to-node mesh. Route reflectors leave it; everyone else
/// leaves route reflectors out.
fn mesh(
    ctx: &Ctx<'_>,
    family: Family,
    me: IpAddr,
    out: &mut BTreeMap<PeerKey, Neighbor>,
    diagnostics: &mut Tagged,
) {
    let defaults = &ctx.topology.defaults;
    if !defaults.node_mesh || ctx.local.node.is_none() || ctx.local.cluster_id.is_some() {
        return;
    }
    let password = resolve_password(
        ctx,
        defaults.node_mesh_password.as_ref(),
        "BGPConfiguration default (nodeMeshPassword)",
        About::Topology,
        diagnostics,
    );
    let restart_time = defaults.node_mesh_max_restart_time.map(whole_seconds);
    for node in ctx.topology.nodes.values() {
        let Some(addr) = node.address(family) else {
            continue;
        };
        if addr == me || node.rr_cluster_id.is_some() {
            continue;
        }
        let neighbor = Neighbor {
            kind: SessionKind::Mesh,
            address: addr,
            port: ctx.listen_port(&node.name),
            // confd falls back to *this* node's AS for a peer without one.
            remote_as: node.asn.unwrap_or(ctx.local.asn),
            local_as: ctx.local.asn,
            local_as_explicit: false,
            role: Role::NonClient,
            source_address: Some(me),
            ttl: Ttl::Multihop(None),
            graceful_restart: GracefulRestart {
                enabled: true,
                restart_time,
            },
            password: password.clone(),
            passive: greater_as_text(addr, me),
            next_hop: NextHop::Auto,
            allow_local_as: None,
            keepalive_time: None,
            families: BTreeSet::from([family]),
            peer_node: Some(node.name.clone()),
        };
        // Mesh names carry no port, whatever port the peer listens on.
        insert(
            out,
            session_name(SessionKind::Mesh, addr, None),
            neighbor,
            diagnostics,
        );
    }
}

/// Rule 4: one peering as a session.
fn from_peering(
    ctx: &Ctx<'_>,
    kind: SessionKind,
    me: IpAddr,
    p: &Peering<'_>,
    diagnostics: &mut Tagged,
) -> Neighbor {
    let rule = p.rule;
    let local_as = p.local_as.unwrap_or(ctx.local.asn);
    let ibgp = p.remote_as == local_as;
    let role = match ctx.local.cluster_id {
        Some(own) if ibgp && p.peer_cluster_id != Some(own) => Role::RrClient {
            cluster_id: Some(own),
        },
        _ => Role::NonClient,
    };
    let next_hop = match p.next_hop {
        NextHopPolicy::Mode(mode) => mode,
        NextHopPolicy::LegacyKeep(true) if !ibgp => NextHop::Keep,
        NextHopPolicy::LegacyKeep(_) => NextHop::Auto,
    };
    let ttl = match p.ttl_security {
        Some(hops) if hops > 0 => Ttl::Security(hops),
        _ => Ttl::Multihop(None),
    };
    let subject = format!("BGPPeer {}", rule.name);
    Neighbor {
        kind,
        address: p.addr,
        port: p.port,
        remote_as: p.remote_as,
        local_as,
        local_as_explicit: p.local_as.is_some(),
        role,
        source_address: match rule.source_address {
            SourceAddress::UseNodeIP => Some(me),
            SourceAddress::None => None,
        },
        ttl,
        graceful_restart: GracefulRestart {
            enabled: true,
            restart_time: rule.max_restart_time.map(whole_seconds),
        },
        password: resolve_password(
            ctx,
            rule.password.as_ref(),
            &subject,
            About::Address(p.addr),
            diagnostics,
        ),
        passive: kind == SessionKind::Global && p.calico_node && greater_as_text(p.addr, me),
        next_hop,
        allow_local_as: p.allow_local_as.filter(|n| *n > 0),
        keepalive_time: rule.keepalive_time.map(whole_seconds),
        families: BTreeSet::from([Family::of(&p.addr)]),
        peer_node: p.peer_node.map(str::to_owned),
    }
}

/// confd makes the side with the greater address passive, comparing the
/// addresses as text ("10.192.0.3" > "10.192.0.2", but also
/// "9.0.0.1" > "10.0.0.1").
fn greater_as_text(peer: IpAddr, me: IpAddr) -> bool {
    peer.to_string() > me.to_string()
}

/// Calico rounds durations to whole seconds.
fn whole_seconds(d: Duration) -> u32 {
    let secs = d.as_secs_f64().round();
    if secs >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        secs as u32
    }
}

fn resolve_password(
    ctx: &Ctx<'_>,
    reference: Option<&SecretRef>,
    subject: &str,
    about: About,
    diagnostics: &mut Tagged,
) -> Option<Secret> {
    let reference = reference?;
    let secret = ctx.topology.secrets.get(reference).cloned();
    if secret.is_none() {
        diagnostics.push((
            about,
            Diagnostic::new(
                subject,
                format!(
                    "password secret {}/{} is not available; the session has no password",
                    reference.name, reference.key
                ),
            ),
        ));
    }
    secret
}

/// Add a session unless its name is taken (only possible when two nodes
/// share an address); the first, by node name, stays.
fn insert(
    out: &mut BTreeMap<PeerKey, Neighbor>,
    key: PeerKey,
    neighbor: Neighbor,
    diags: &mut Tagged,
) {
    if out.contains_key(&key) {
        diags.push((
            About::Address(neighbor.address),
            Diagnostic::new(
                key.0.clone(),
                format!(
                    "a second session to {} (node {}) has the same name; it is skipped",
                    neighbor.address,
                    neighbor.peer_node.as_deref().unwrap_or("-")
                ),
            ),
        ));
        return;
    }
    out.insert(key, neighbor);
}

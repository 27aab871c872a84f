//! Apply, first half: validate a desired [`RrConfig`] for GoBGP and turn a
//! [`Plan`] plus what gobgpd runs into an ordered list of RPCs. Pure, so
//! every decision is unit-tested; [`crate::engine`] only executes the list.
//!
//! Which change is applied how:
//! * router id, AS, listen port or listen addresses differ from the running
//!   BGP instance: StopBgp + StartBgp + AddPeer for every neighbor (GoBGP
//!   cannot change its global config in place);
//! * no BGP instance runs (fresh or restarted gobgpd): StartBgp + AddPeer for
//!   every neighbor, whatever the plan says;
//! * a neighbor whose keepalive alone changed: UpdatePeer (GoBGP stores the
//!   timers without resetting the session; they apply at the next OPEN);
//! * any other neighbor change (AS, local AS, description, password, RR
//!   client / cluster id, local address, port, passive, multihop, TTL
//!   security, graceful restart, families, allow-own-AS): DeletePeer +
//!   AddPeer of that one peer. GoBGP's UpdatePeer would reset the session for
//!   most of these anyway and silently keeps the old route-reflector,
//!   multihop and TTL-security settings (3.10 `updateNeighbor`);
//! * a change GoBGP does not see (the session kind, `peer_node`,
//!   `local_as_explicit`): no RPC.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rrd_core::{PeerKey, Plan, RrConfig};

use crate::config::GobgpConfig;
use crate::error::GobgpError;
use crate::mapping::{
    spec_of_neighbor, spec_of_router, Difference, GlobalSpec, MapContext, PeerSpec,
};

/// A desired config that GoBGP can hold, as specs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validated {
    pub global: GlobalSpec,
    pub peers: BTreeMap<PeerKey, PeerSpec>,
}

/// What gobgpd runs right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Live {
    /// GetBgp says AS 0: no BGP instance, no peers.
    NotRunning,
    Running {
        global: GlobalSpec,
        peers: BTreeMap<IpAddr, PeerSpec>,
    },
}

/// One RPC to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    StopBgp,
    StartBgp(GlobalSpec),
    DeletePeer { key: PeerKey, address: IpAddr },
    UpdatePeer { key: PeerKey, spec: PeerSpec },
    AddPeer { key: PeerKey, spec: PeerSpec },
}

impl Op {
    /// For [`rrd_core::ApplyReport::operations`].
    pub fn describe(&self) -> String {
        match self {
            Op::StopBgp => "StopBgp".to_owned(),
            Op::StartBgp(g) => format!(
                "StartBgp AS {} router id {} port {}",
                g.asn, g.router_id, g.listen_port
            ),
            Op::DeletePeer { key, address } => format!("DeletePeer {address} ({key})"),
            Op::UpdatePeer { key, spec } => format!("UpdatePeer {} ({key})", spec.address),
            Op::AddPeer { key, spec } => format!("AddPeer {} ({key})", spec.address),
        }
    }
}

/// Check that GoBGP can hold `desired`; every problem is listed at once.
pub fn validate(desired: &RrConfig, config: &GobgpConfig) -> Result<Validated, GobgpError> {
    validate_sessions(desired, desired.neighbors.keys(), config)
}

/// The sessions a plan adds or changes: what [`validate_sessions`] must
/// check when the rest of `desired` is known to be held already.
pub fn planned_keys(plan: &Plan) -> impl Iterator<Item = &PeerKey> {
    plan.add.keys().chain(plan.update.keys())
}

/// [`validate`] for the sessions named by `keys` only (a plan that touches
/// a few sessions of a config gobgpd already holds): each must map to a
/// GoBGP peer, and none may share its address with another desired session.
pub fn validate_sessions<'k>(
    desired: &RrConfig,
    keys: impl IntoIterator<Item = &'k PeerKey>,
    config: &GobgpConfig,
) -> Result<Validated, GobgpError> {
    let ctx = MapContext {
        router_id: desired.router.router_id,
        global_asn: desired.router.local_as.0,
        restart_time: config.restart_time,
        deferral_time: config.deferral_time,
    };
    let mut problems = Vec::new();
    let mut peers = BTreeMap::new();
    let mut addresses = std::collections::BTreeSet::new();
    for key in keys {
        let Some(n) = desired.neighbors.get(key) else {
            continue;
        };
        addresses.insert(n.address);
        match spec_of_neighbor(key, n, &ctx) {
            Ok(spec) => {
                peers.insert(key.clone(), spec);
            }
            Err(problem) => problems.push(problem),
        }
    }
    // Other desired sessions to the same addresses (one pass, no RPC).
    let mut by_address: BTreeMap<IpAddr, Vec<(&PeerKey, Option<u16>)>> = BTreeMap::new();
    for (key, n) in &desired.neighbors {
        if addresses.contains(&n.address) {
            by_address.entry(n.address).or_default().push((key, n.port));
        }
    }
    for (address, sessions) in &by_address {
        if sessions.len() > 1 {
            let names: Vec<String> = sessions
                .iter()
                .map(|(k, port)| format!("{k} (port {})", port.unwrap_or(179)))
                .collect();
            problems.push(format!(
                "GoBGP keys peers by address, so these sessions to {address} cannot coexist: {}",
                names.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(GobgpError::Unsupported(problems.join("; ")));
    }
    Ok(Validated {
        global: spec_of_router(&desired.router, config.listen_port),
        peers,
    })
}

fn add_all(v: &Validated, ops: &mut Vec<Op>) {
    ops.extend(v.peers.iter().map(|(key, spec)| Op::AddPeer {
        key: key.clone(),
        spec: spec.clone(),
    }));
}

/// The RPCs that take gobgpd from `live` to `v`, following `plan`.
pub fn operations(v: &Validated, plan: &Plan, live: &Live) -> Vec<Op> {
    let mut ops = Vec::new();
    let (global, live_peers) = match live {
        Live::NotRunning => {
            ops.push(Op::StartBgp(v.global.clone()));
            add_all(v, &mut ops);
            return ops;
        }
        Live::Running { global, peers } => (global, peers),
    };
    if *global != v.global {
        ops.push(Op::StopBgp);
        ops.push(Op::StartBgp(v.global.clone()));
        add_all(v, &mut ops);
        return ops;
    }

    let desired_at: BTreeMap<IpAddr, &PeerSpec> =
        v.peers.values().map(|s| (s.address, s)).collect();
    // A live peer that is already exactly what is desired at its address
    // stays, whatever a stale plan says.
    let keep = |address: &IpAddr| match (live_peers.get(address), desired_at.get(address)) {
        (Some(l), Some(d)) => d.difference(l) == Difference::None,
        _ => false,
    };
    let mut deletes: BTreeMap<IpAddr, PeerKey> = BTreeMap::new();
    for (key, n) in &plan.remove {
        if live_peers.contains_key(&n.address) && !keep(&n.address) {
            deletes.insert(n.address, key.clone());
        }
    }
    for (key, (held, _)) in &plan.update {
        let moved = v.peers.get(key).is_some_and(|s| s.address != held.address);
        if moved && live_peers.contains_key(&held.address) && !keep(&held.address) {
            deletes.insert(held.address, key.clone());
        }
    }
    let mut updates = Vec::new();
    let mut adds = Vec::new();
    let targets = plan.update.keys().chain(plan.add.keys());
    for key in targets {
        let Some(spec) = v.peers.get(key) else {
            continue;
        };
        let live = live_peers
            .get(&spec.address)
            .filter(|_| !deletes.contains_key(&spec.address));
        let add = Op::AddPeer {
            key: key.clone(),
            spec: spec.clone(),
        };
        match live.map(|l| spec.difference(l)) {
            None => adds.push(add),
            Some(Difference::None) => {}
            Some(Difference::TimersOnly) => updates.push(Op::UpdatePeer {
                key: key.clone(),
                spec: spec.clone(),
            }),
            Some(Difference::Reset) => {
                deletes.insert(spec.address, key.clone());
                adds.push(add);
            }
        }
    }
    ops.extend(
        deletes
            .into_iter()
            .map(|(address, key)| Op::DeletePeer { key, address }),
    );
    ops.extend(updates);
    ops.extend(adds);
    ops
}

/// The RPCs of a plan of additions and removals alone, presuming that
/// gobgpd holds what was applied before it: a DeletePeer per removed
/// session, then an AddPeer per added one. `None` for a plan that changes
/// the router or a session, or whose added session takes the address of a
/// removed one: what gobgpd holds at that address decides
/// ([`operations`]).
pub fn presumed_operations(v: &Validated, plan: &Plan) -> Option<Vec<Op>> {
    if plan.router.is_some() || !plan.update.is_empty() {
        return None;
    }
    let removed: BTreeMap<IpAddr, &PeerKey> =
        plan.remove.iter().map(|(k, n)| (n.address, k)).collect();
    let mut adds = Vec::with_capacity(plan.add.len());
    for key in plan.add.keys() {
        let spec = v.peers.get(key)?;
        if removed.contains_key(&spec.address) {
            return None;
        }
        adds.push(Op::AddPeer {
            key: key.clone(),
            spec: spec.clone(),
        });
    }
    let mut ops: Vec<Op> = removed
        .into_iter()
        .map(|(address, key)| Op::DeletePeer {
            key: key.clone(),
            address,
        })
        .collect();
    ops.extend(adds);
    Some(ops)
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
